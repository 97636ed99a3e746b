#!/usr/bin/env bash
# Sets everything up, then runs the whole test suite (extra arguments go to pytest).
# The live dataplane tests need root and nftables: scripts/system-packages.sh installs nftables when
# it is missing; with CI=true a missing tool or privilege fails those tests instead of skipping them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/system-packages.sh
exec .venv/bin/python -m pytest "$@"
