#!/usr/bin/env bash
# Sets everything up, then runs Septum's main job on the reference hospital in zones/: check and
# verify the policy, size its intent graph, then compile its firewall's nftables ruleset and its
# router's Cisco IOS config into build/septum/ (the ruleset proven equal to the intent in a
# kernel of its own when run as root; the router's config proven by a Cisco config parser and
# evaluator always).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/system-packages.sh
.venv/bin/septum check zones
.venv/bin/python - <<'PY'
import json, subprocess
graph = json.loads(subprocess.run([".venv/bin/septum", "graph", "zones", "--format", "json"],
                                  check=True, capture_output=True, text=True).stdout)
nodes, edges = len(graph["nodes"]), len(graph["edges"])
print(f"intent graph: {nodes} nodes, {edges} edges (septum graph zones --format dot draws it)")
PY
prove=()
if [ "$(id -u)" = 0 ] && command -v nft >/dev/null && command -v unshare >/dev/null; then
  prove=(--prove)
fi
# The OpenFlow backend is not available yet: compile the nftables firewall and the Cisco router.
.venv/bin/septum compile zones --device core-fw --out build/septum "${prove[@]}"
.venv/bin/septum compile zones --device dist-rtr --out build/septum --prove
