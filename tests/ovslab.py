"""A live lab for one OpenFlow switch: its flow table loaded into a private Open vSwitch, probed
with real packets, and every verdict compared with the compiled intent (as tests/netlab.py does
for nftables, with the same probes, frames and capture).

Layout (two network namespaces, both created and removed by the lab):

* the *switch* namespace runs a private OVS: ovsdb-server and ovs-vswitchd started inside it
  (`ip netns exec`), with their run, database, log and sysconf directories in a temporary
  directory of their own (OVS_RUNDIR, OVS_DBDIR, OVS_LOGDIR, OVS_SYSCONFDIR), so that they
  never meet a system OVS, and the datapath and its ports never touch the host's namespace.
  One bridge, `datapath_type=netdev` (the userspace datapath: no kernel module),
  `protocols=OpenFlow13`, `fail_mode=secure` (an empty table forwards nothing). For every port
  number N of the device a veth `pN` is added with `ofport_request=N`.
* the *world* namespace holds the peers `wN`, with no addresses and no routes: frames injected
  on `wN` (AF_PACKET raw sockets, netlab's) enter the switch at OpenFlow port N, and a probe
  passed if it was captured on exactly the `wM` of the port the intent says.

A switch device's interfaces are its port numbers as text ("1", "48"); `device.reach` maps them
to zones, and netlab's Routes / Expectation / ProbeMaker work on those names unchanged. Only
addresses in 198.18.0.0/15 are sent, IPv4 only, and nothing leaves the two namespaces.
"""

from __future__ import annotations

import ipaddress
import os
import random
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import netlab
from netlab import (ETH_P_IP, PACKET_OUTGOING, Budget, Expectation, Lab, LiveReport, Port, Ports, Probe, ProbeMaker,
                    Routes, RunFigures, Wire, entered, frame_bytes, frame_key, generate_probes, rule_route_conflicts,
                    run, wire_key)

from septum.compiler.devices.intent import DeviceIntent
from septum.compiler.packets.addresses import AddressSet

NAMESPACE_PREFIX = "septum-o-"  # netlab's naming scheme (PREFIX<pid>-<serial>-<role>), another prefix
TEMP_PREFIX = "septum-ovs-"  # temporary directories: TEMP_PREFIX<pid>-...
BRIDGE = "br0"
OVS_TOOLS = (("ovsdb-tool", "openvswitch-common"), ("ovsdb-server", "openvswitch-switch"),
             ("ovs-vswitchd", "openvswitch-switch"), ("ovs-vsctl", "openvswitch-switch"),
             ("ovs-ofctl", "openvswitch-common"), ("ovs-appctl", "openvswitch-common"))
SCHEMA_PLACES = ("/usr/share/openvswitch/vswitch.ovsschema", "/usr/local/share/openvswitch/vswitch.ovsschema")
# A frame the lab sends to see the datapath forward (198.19.255.0/24: netlab's link block, never a probe's).
READY_SOURCE = int(ipaddress.IPv4Address("198.19.255.254"))
READY_DESTINATION = int(ipaddress.IPv4Address("198.19.255.253"))


def missing_ovs_requirements() -> list[str]:
    """What the OVS lab needs and this machine lacks: netlab's (root, `ip`, namespaces; not `nft`),
    the OVS binaries and schema, /dev/net/tun (the bridge's internal port is a tap)."""
    missing = [m for m in netlab.missing_requirements() if "nft" not in m]
    for tool, package in OVS_TOOLS:
        if netlab._tool(tool) is None:
            missing.append(f"`{tool}` ({package})")
    if not any(os.path.exists(p) for p in SCHEMA_PLACES):
        missing.append("the OVS database schema (vswitch.ovsschema)")
    if not os.path.exists("/dev/net/tun"):
        missing.append("/dev/net/tun")
    if netlab._tool("unshare") is None and netlab._tool("ip") is None:
        missing.append("`ip` (iproute2)")
    return missing


_serial = 0


def namespace_name(role: str) -> str:
    global _serial
    _serial += 1
    return f"{NAMESPACE_PREFIX}{os.getpid()}-{_serial}-{role}"


def _ip() -> str:
    return netlab._tool("ip") or "ip"


def _pid_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return True


def _stop(pids: Iterable[int], patience: float = 5.0) -> None:
    """SIGTERM the processes, wait for them, SIGKILL those still there."""
    pids = [p for p in pids if p > 1]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline and not all(_pid_gone(p) for p in pids):
            time.sleep(0.02)
        pids = [p for p in pids if not _pid_gone(p)]
        if not pids:
            return


def _namespace_pids(namespace: str) -> list[int]:
    out = run([_ip(), "netns", "pids", namespace], check=False).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def remove_leftovers() -> list[str]:
    """What a crashed run left: our namespaces whose creating process is gone (the processes still
    in them, its daemons, are stopped first) and its temporary directories."""
    removed = []
    listing = run([_ip(), "netns", "list"], check=False).stdout
    for line in listing.splitlines():
        name = line.split()[0] if line.split() else ""
        if not name.startswith(NAMESPACE_PREFIX):
            continue
        pid = name[len(NAMESPACE_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not netlab._alive(int(pid)):
            _stop(_namespace_pids(name))
            run([_ip(), "netns", "delete", name], check=False)
            removed.append(name)
    for path in Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*"):
        pid = path.name[len(TEMP_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not netlab._alive(int(pid)):
            for pidfile in path.glob("run/*.pid"):
                try:
                    _stop([int(pidfile.read_text().split()[0])])
                except (ValueError, IndexError, OSError):
                    pass
            shutil.rmtree(path, ignore_errors=True)
            removed.append(str(path))
    return removed


# ---- the switch ---------------------------------------------------------------------------


class OvsSwitch:
    """A private Open vSwitch in a namespace of its own, with one bridge and a veth per port
    (`pN` on the switch, `wN` in the world namespace). Use as a context manager: its daemons are
    stopped and its namespaces and directories removed on exit, also when the body fails."""

    def __init__(self, ports: Iterable[int], bridge: str = BRIDGE) -> None:
        self.port_numbers = sorted(set(int(p) for p in ports))
        if not self.port_numbers or any(not 1 <= p <= 0xFEFF for p in self.port_numbers):
            raise ValueError(f"OpenFlow port numbers must be 1..65279: {self.port_numbers}")
        self.bridge = bridge
        self.namespace = namespace_name("sw")
        self.world = namespace_name("w")
        self.directory: Path | None = None
        self._namespaces: list[str] = []
        self._pidfiles: list[Path] = []
        self.timings: dict[str, float] = {}

    # -- paths and commands

    @property
    def rundir(self) -> Path:
        assert self.directory is not None
        return self.directory / "run"

    @property
    def db_socket(self) -> str:
        return f"unix:{self.rundir / 'db.sock'}"

    @property
    def vswitchd_control(self) -> str:
        return str(self.rundir / "ovs-vswitchd.ctl")

    def env(self) -> dict[str, str]:
        assert self.directory is not None
        env = dict(os.environ)
        env.update(OVS_RUNDIR=str(self.rundir), OVS_DBDIR=str(self.directory / "db"),
                   OVS_LOGDIR=str(self.directory / "log"), OVS_SYSCONFDIR=str(self.directory / "etc"))
        return env

    def _run(self, command: Sequence[str], check: bool = True, inside: bool = False,
             stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        command = list(command)
        if inside:
            command = [_ip(), "netns", "exec", self.namespace, *command]
        result = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=timeout, env=self.env())
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}): "
                               f"{result.stderr.strip() or result.stdout}")
        return result

    def vsctl(self, *args: str) -> subprocess.CompletedProcess:
        return self._run(["ovs-vsctl", f"--db={self.db_socket}", "--timeout=30", *args])

    def ofctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self._run(["ovs-ofctl", "-O", "OpenFlow13", *args], check=check)

    def appctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self._run(["ovs-appctl", "-t", self.vswitchd_control, *args], check=check)

    # -- life

    def __enter__(self) -> "OvsSwitch":
        remove_leftovers()
        try:
            self._create()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _create(self) -> None:
        started = time.perf_counter()
        self.directory = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-"))
        for sub in ("run", "db", "log", "etc"):
            (self.directory / sub).mkdir()
        for namespace in (self.namespace, self.world):
            run([_ip(), "netns", "add", namespace])
            self._namespaces.append(namespace)
        netlab.ip_batch((f"link add p{n} netns {self.namespace} type veth peer name w{n} netns {self.world}"
                         for n in self.port_numbers))
        for namespace, side in ((self.namespace, "p"), (self.world, "w")):
            # No IPv6 (no router solicitations or DAD on the ports), then every link up.
            run(netlab.in_namespace(namespace, "sh", "-c",
                                    "for f in /proc/sys/net/ipv6/conf/*/disable_ipv6; do echo 1 > $f; done"))
            netlab.ip_batch(["link set lo up"] + [f"link set {side}{n} up" for n in self.port_numbers], namespace)
        self.timings["namespaces"] = time.perf_counter() - started

        started = time.perf_counter()
        db = self.directory / "db" / "conf.db"
        schema = next(p for p in SCHEMA_PLACES if os.path.exists(p))
        self._run(["ovsdb-tool", "create", str(db), schema])
        log = self.directory / "log"
        self._daemon("ovsdb-server", [str(db), f"--remote=punix:{self.rundir / 'db.sock'}",
                                      f"--unixctl={self.rundir / 'ovsdb-server.ctl'}",
                                      f"--log-file={log / 'ovsdb-server.log'}"])
        self._run(["ovs-vsctl", f"--db={self.db_socket}", "--no-wait", "init"])
        self._daemon("ovs-vswitchd", [self.db_socket, "--disable-system", f"--unixctl={self.vswitchd_control}",
                                      f"--log-file={log / 'ovs-vswitchd.log'}"])
        self.timings["daemons"] = time.perf_counter() - started

        started = time.perf_counter()
        command = ["add-br", self.bridge, "--", "set", "bridge", self.bridge, "datapath_type=netdev",
                   "protocols=OpenFlow13", "fail_mode=secure", "other_config:disable-in-band=true"]
        for n in self.port_numbers:
            command += ["--", "add-port", self.bridge, f"p{n}", "--", "set", "interface", f"p{n}",
                        f"ofport_request={n}"]
        self.vsctl(*command)
        self._wait_ports()
        self.timings["bridge"] = time.perf_counter() - started
        started = time.perf_counter()
        self.wait_forwarding()
        self.timings["forwarding"] = time.perf_counter() - started

    def _daemon(self, program: str, args: Sequence[str]) -> None:
        pidfile = self.rundir / f"{program}.pid"
        self._pidfiles.append(pidfile)
        self._run([program, *args, f"--pidfile={pidfile}", "--detach", "--no-chdir", "-vconsole:off",
                   "-vfile:info"], inside=True)

    def _wait_ports(self, timeout: float = 20.0) -> None:
        """Until `ovs-ofctl show` lists every port with its requested number."""
        deadline = time.monotonic() + timeout
        while True:
            shown = self.ofctl("show", self.bridge, check=False).stdout
            if all(f" {n}(p{n}):" in shown for n in self.port_numbers):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the switch's ports did not come up: {shown}\n{self.log_tail()}")
            time.sleep(0.05)

    def wait_forwarding(self, timeout: float = 20.0) -> float:
        """Until a frame sent on every `wN` comes back to it through the datapath (a table of one
        `actions=in_port` flow, emptied afterwards); the seconds it took."""
        started = time.perf_counter()
        self.replace_flows("priority=0 actions=in_port\n", check=True)
        sockets: dict[int, socket.socket] = {}
        try:
            with entered(self.world):
                for n in self.port_numbers:
                    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
                    s.bind((f"w{n}", ETH_P_IP))
                    s.setblocking(False)
                    sockets[n] = s
            waiting = set(self.port_numbers)
            deadline = time.monotonic() + timeout
            serial = 0
            while waiting:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the switch forwards nothing on ports {sorted(waiting)} after {timeout} s\n"
                                       f"{self.log_tail()}")
                for n in waiting:
                    serial += 1
                    wire = Wire(READY_SOURCE, READY_DESTINATION, "udp", 7, n)
                    sockets[n].send(frame_bytes(wire, bytes.fromhex("025e02000000"), bytes.fromhex("025e03000000"),
                                                serial))
                until = time.monotonic() + 0.05
                while time.monotonic() < until:
                    readable, _, _ = select.select([sockets[n] for n in waiting], [], [], 0.01)
                    for s in readable:
                        n = next(k for k, v in sockets.items() if v is s)
                        while True:
                            try:
                                frame, address = s.recvfrom(65535)
                            except BlockingIOError:
                                break
                            key = frame_key(frame)
                            if address[2] != PACKET_OUTGOING and key and key[:2] == (READY_SOURCE, READY_DESTINATION):
                                waiting.discard(n)
        finally:
            for s in sockets.values():
                s.close()
        self.replace_flows("", check=True)
        self.settle()
        return time.perf_counter() - started

    def replace_flows(self, text: str, check: bool = False) -> subprocess.CompletedProcess:
        """`ovs-ofctl --bundle replace-flows`: the table becomes `text` atomically, or (a bad flow,
        a failed bundle) stays as it was."""
        assert self.directory is not None
        with tempfile.NamedTemporaryFile("w", dir=self.directory, prefix="flows-", suffix=".txt", delete=False) as h:
            h.write(text)
        try:
            return self.ofctl("--bundle", "replace-flows", self.bridge, h.name, check=check)
        finally:
            os.unlink(h.name)

    def settle(self) -> None:
        """Forget the datapath's cached flows and every conntrack entry: what is probed next meets
        only the table as it is now."""
        self.appctl("revalidator/purge")
        self.appctl("dpctl/flush-conntrack")

    def dump_flows(self) -> str:
        return self.ofctl("dump-flows", "--no-stats", self.bridge).stdout

    def trace(self, flow_spec: str, *options: str) -> str:
        """`ovs-appctl ofproto/trace BRIDGE FLOW` (options such as --ct-next +trk+new before it)."""
        return self.appctl("ofproto/trace", self.bridge, flow_spec, *options).stdout

    def conntrack(self) -> str:
        return self.appctl("dpctl/dump-conntrack").stdout

    def log_tail(self, lines: int = 30) -> str:
        if self.directory is None:
            return ""
        out = []
        for path in sorted((self.directory / "log").glob("*.log")):
            out.append(f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(out)

    def close(self) -> None:
        pids = []
        for pidfile in self._pidfiles:
            try:
                pids.append(int(pidfile.read_text().split()[0]))
            except (OSError, ValueError, IndexError):
                pass
        _stop(reversed(pids))  # vswitchd first, then the database
        self._pidfiles.clear()
        for namespace in reversed(self._namespaces):
            _stop(_namespace_pids(namespace))  # anything else still in our namespace
            run([_ip(), "netns", "delete", namespace], check=False)
        self._namespaces.clear()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None


# ---- the lab: netlab's sending and capture, on the switch's world side --------------------


class OvsLab(Lab):
    """netlab's Lab with an OvsSwitch in place of the firewall namespace: the same Port records
    (name: the port number as text, peer: `wN`), sockets, send / capture and figures."""

    def __init__(self, device: DeviceIntent, networks: Mapping[str, AddressSet] | None = None) -> None:
        names = sorted((i.name for i in device.interfaces), key=lambda n: (len(n), n))
        bad = [n for n in names if not n.isdigit()]
        if bad:
            raise ValueError(f"a switch's interfaces are OpenFlow port numbers, not {bad}")
        self.device = device
        self.routes = Routes(device, networks or {})
        self.switch = OvsSwitch(int(n) for n in names)
        self.world = self.switch.world
        self.ports = {name: Port(name, f"w{name}", "", "", bytes.fromhex(netlab._mac(0, k).replace(":", "")),
                                 bytes.fromhex(netlab._mac(1, k).replace(":", "")))
                      for k, name in enumerate(names)}
        self.by_peer = {port.peer: port.name for port in self.ports.values()}
        self.sockets: dict[str, socket.socket] = {}
        self.expected_keys: dict[tuple, Probe] = {}
        self.figures = RunFigures()
        self._made: list[str] = []

    def __enter__(self) -> "OvsLab":
        try:
            self.switch.__enter__()
            self._open_sockets()
        except BaseException:
            self.close()
            raise
        return self

    def load(self, flows: str | bytes) -> None:  # type: ignore[override]
        text = flows.decode() if isinstance(flows, bytes) else flows
        result = self.switch.replace_flows(text)
        if result.returncode != 0:
            raise RuntimeError(f"replace-flows failed: {result.stderr.strip()}")
        self.switch.settle()

    def exchange(self, ingress: str, frame: bytes, wait: float = 0.3) -> list[str]:
        """Send one hand-made Ethernet frame on the world side of `ingress` and return the ports
        its IP packet came out of (any frame whose IP bytes equal the sent ones), within `wait`."""
        self.sockets[ingress].send(frame)
        out = []
        deadline = time.perf_counter() + wait
        by_fd = {s.fileno(): name for name, s in self.sockets.items()}
        while time.perf_counter() < deadline:
            readable, _, _ = select.select(list(self.sockets.values()), [], [], 0.01)
            for s in readable:
                while True:
                    try:
                        got, address = s.recvfrom(65535)
                    except BlockingIOError:
                        break
                    if address[2] != PACKET_OUTGOING and got[14:] == frame[14:]:
                        out.append(by_fd[s.fileno()])
        return out

    def close(self) -> None:
        for s in self.sockets.values():
            s.close()
        self.sockets.clear()
        self.switch.close()


SEND_BATCH = 64  # frames per batch before waiting for the expected ones (see live_check_ovs)


def live_check_ovs(device: DeviceIntent, flows_text: str | bytes, networks: Mapping[str, AddressSet] | None = None,
                   budget: Budget | None = None, seed: int = 0, batch: int = SEND_BATCH,
                   tracked=None) -> LiveReport:
    """Load a flow table into a lab switch and probe it as netlab.live_check probes a firewall:
    new packets first, then the answers to a sample of them."""
    started = time.perf_counter()
    budget = budget or Budget()
    rng = random.Random(seed)
    with OvsLab(device, networks) as lab:
        lab.timings = dict(lab.switch.timings)
        loading = time.perf_counter()
        lab.load(flows_text)
        lab.timings["load"] = time.perf_counter() - loading
        if tracked is None:
            from septum.backends.openflow.render import OVS_TRACKED_ICMP as tracked
        maker = ProbeMaker(device, Expectation(device, lab.routes, tracked), rng, Ports())
        originals = generate_probes(maker, budget)
        lab.send(originals, batch=batch)
        replies = maker.reply_probes(originals, budget)
        lab.send(replies, batch=batch)
        figures = lab.figures
    report = LiveReport(device.name, originals + replies, figures, lab.routes.ambiguous,
                        rule_route_conflicts(device, lab.routes), time.perf_counter() - started)
    report.timings = lab.timings  # type: ignore[attr-defined]
    return report


__all__ = ["OvsSwitch", "OvsLab", "live_check_ovs", "missing_ovs_requirements", "remove_leftovers", "Budget",
           "LiveReport", "Probe", "Wire", "wire_key"]
