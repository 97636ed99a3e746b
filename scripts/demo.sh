#!/usr/bin/env bash
# Sets everything up, then runs Septum's main job on the reference hospital in zones/: check and
# verify the policy, size its intent graph, then compile every device into build/septum/: the
# firewall's nftables ruleset, the router's Cisco IOS config and the switch's OpenFlow flows,
# each proven equal to the intent (the ruleset in a kernel and the flows in Open vSwitch, both of
# their own, when run as root; the router's config by a Cisco config parser always).
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
if [ "$(id -u)" = 0 ] && command -v nft >/dev/null && command -v unshare >/dev/null \
   && command -v ovs-vswitchd >/dev/null; then
  prove=(--prove)
fi
# Every device: the nftables firewall, the Cisco router, the OpenFlow switch. The router's config
# is proven without root (a Cisco config parser and evaluator); the others need a kernel and a
# private Open vSwitch of their own, so as root.
.venv/bin/septum compile zones --out build/septum "${prove[@]}"
if [ ${#prove[@]} -eq 0 ]; then
  .venv/bin/septum compile zones --device dist-rtr --out build/septum --prove
fi
