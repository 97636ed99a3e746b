"""Open vSwitch as a tool: install flows on a bridge in one bundle, read them back, and a private
switch to prove against (its own database and daemons, in a network namespace of its own, the
userspace datapath: no kernel module, nothing of the host's touched)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from septum.compiler.devices.backend import BackendFailure, ProofUnavailable

OPENFLOW = "OpenFlow13"
BINARIES = ("ovsdb-tool", "ovsdb-server", "ovs-vsctl", "ovs-vswitchd", "ovs-ofctl")
SCHEMA = ("/usr/share/openvswitch/vswitch.ovsschema", "/usr/local/share/openvswitch/vswitch.ovsschema")
HEADER = "# Septum: Open vSwitch flows (OpenFlow 1.3) for "


def _require() -> str:
    missing = [name for name in BINARIES + ("unshare",) if shutil.which(name) is None]
    if missing:
        raise ProofUnavailable(f"{', '.join(missing)} not installed (Debian: apt-get install openvswitch-switch)")
    if os.geteuid() != 0:
        raise ProofUnavailable("a private Open vSwitch in a network namespace of its own needs root")
    schema = next((s for s in SCHEMA if Path(s).exists()), None)
    if schema is None:
        raise ProofUnavailable("the Open vSwitch database schema (vswitch.ovsschema) is not installed")
    return schema


# One shell script in a fresh network namespace: the daemons it starts die with it (trap), and
# with them the namespace and the bridge's own port.
_SANDBOX = r"""
set -u
D=$1; FLOWS=$2
export OVS_RUNDIR=$D OVS_LOGDIR=$D OVS_DBDIR=$D OVS_SYSCONFDIR=$D OVS_PKGDATADIR=$(dirname $3)
stop() { for p in "$D"/*.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done; }
trap stop EXIT
ovsdb-tool create "$D/conf.db" "$3" >/dev/null || exit 10
ovsdb-server "$D/conf.db" --remote=punix:"$D/db.sock" --pidfile="$D/ovsdb-server.pid" --detach \
  --log-file="$D/ovsdb-server.log" || exit 11
ovs-vsctl --db=unix:"$D/db.sock" --no-wait init || exit 12
ovs-vswitchd unix:"$D/db.sock" --pidfile="$D/ovs-vswitchd.pid" --detach --log-file="$D/ovs-vswitchd.log" || exit 13
ovs-vsctl --db=unix:"$D/db.sock" --timeout=30 add-br septum -- set bridge septum datapath_type=netdev \
  fail_mode=secure protocols=OpenFlow13 || exit 14
ovs-ofctl -O OpenFlow13 --bundle replace-flows unix:"$D/septum.mgmt" "$FLOWS" 2>"$D/load.err" || { cat "$D/load.err" >&2; exit 15; }
ovs-ofctl -O OpenFlow13 dump-flows --no-stats --no-names unix:"$D/septum.mgmt" || exit 16
"""


def load_in_sandbox(flows: bytes) -> str:
    """Install the flows on a bridge of a private Open vSwitch and return `dump-flows` as OVS
    holds them."""
    schema = _require()
    with tempfile.TemporaryDirectory(prefix="septum-ovs-") as directory:
        path = Path(directory) / "flows"
        path.write_bytes(flows)
        done = subprocess.run(["unshare", "--net", "--", "sh", "-c", _SANDBOX, "sh", directory, str(path), schema],
                              capture_output=True, text=True, timeout=300)
    if done.returncode == 15:
        raise BackendFailure(f"Open vSwitch refused the flows: {done.stderr.strip()}")
    if done.returncode != 0:
        raise ProofUnavailable(f"a private Open vSwitch did not start (step {done.returncode}): {done.stderr.strip()[:300]}")
    return done.stdout


def apply(device_name: str, config: bytes, bridge: str) -> str:
    """Install a device's flows on a local bridge in one bundle (`--bundle replace-flows`): a
    flow OVS refuses leaves the bridge's table exactly as it was."""
    text = config.decode("utf-8", "replace")
    if not text.startswith(HEADER) or text.splitlines()[0].split()[-1] != device_name:
        raise BackendFailure(f"this file is not Septum's flow table for device '{device_name}'")
    if shutil.which("ovs-ofctl") is None:
        raise BackendFailure("ovs-ofctl is not installed (Debian: apt-get install openvswitch-switch)")
    with tempfile.NamedTemporaryFile("wb", suffix=".flows") as file:
        file.write(config)
        file.flush()
        done = subprocess.run(["ovs-ofctl", "-O", OPENFLOW, "--bundle", "replace-flows", bridge, file.name],
                              capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise BackendFailure(f"ovs-ofctl refused the flows; bridge {bridge} is unchanged: {done.stderr.strip()}")
    flows = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    return f"installed {flows} flows on bridge {bridge} in one bundle"
