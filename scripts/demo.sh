#!/usr/bin/env bash
# Sets everything up, then runs Septum's main job on the reference hospital in zones/:
# check the policy, then show the size of its intent graph.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/septum check zones
.venv/bin/septum graph zones --format json | .venv/bin/python -c \
  'import json,sys; g=json.load(sys.stdin); print(f"intent graph: {len(g[\"nodes\"])} nodes, {len(g[\"edges\"])} edges (septum graph zones --format dot draws it)")'
