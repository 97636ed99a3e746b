"""A live lab for one nftables device: its compiled ruleset loaded into a real kernel, probed
with real packets, and every verdict compared with the compiled intent.

The proof (`septum compile --prove`) shows that the ruleset the kernel holds, as read back and
interpreted, equals the intent. This lab checks the rest of the chain a proof cannot see: that
the kernel's forwarding path, connection tracking and nftables' evaluation do to packets what
the ruleset text says, with the interfaces, routes and anti-spoofing of a real deployment.

Layout (two network namespaces, both created and removed by the lab):

* the *firewall* namespace holds one veth per interface of the device, named exactly as the
  interface, with a /31 link address from `LINK_NETWORK`, a permanent neighbour entry for the
  other end (so no ARP is ever needed), and a route for every zone's IPv4 networks via the
  interface the device reaches that zone through (`device.reach`); `internet` is the default
  route, and a device that does not reach the internet gets a blackhole default (dropped
  silently, with no ICMP error). IP forwarding is on; rp_filter is off, so that spoofed sources
  reach nftables and the lab tests nftables' anti-spoofing, not the kernel's; ICMP redirects and
  IPv6 are off. The ruleset is loaded with `nft -f`.
* the *world* namespace holds the other end of every veth, with no addresses and no routes: the
  lab injects Ethernet frames there and captures what the firewall forwards, with AF_PACKET raw
  sockets.

Only addresses in 198.18.0.0/15 (`LAB_NETWORK`, RFC 2544) are configured or sent, only IPv4, and
nothing leaves the two namespaces. Policies are first moved into that block by tests/renumber.py.

Probes are built from the compiled intent alone (`generate_probes`): packets inside each rule,
on the edges of its address intervals and port ranges and one past them, in the carved-out parts
of its zones, with its sources spoofed on other interfaces, with other protocols and ports, and
random packets anywhere in the lab block from every interface. A probe's expected verdict is the
intent's for a new connection arriving on its ingress and leaving by the interface its destination
routes to; it passed if it was captured on exactly that interface. Return traffic is probed in a
second phase (`reply_probes`): the SYN-ACK, UDP answer or echo reply of a sample of originals,
sent from the far side, must come back exactly when the original passed (connection tracking).
Each probe has a source port (ICMP identifier) of its own, so no probe meets another's
conntrack entry.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import random
import select
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from bisect import bisect_right
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

from septum.compiler.devices.intent import DeviceIntent, Rule
from septum.compiler.devices.prove import TRACKED_ICMP, DevicePacket, DeviceSpace, intended
from septum.compiler.packets.addresses import AddressSet
from septum.compiler.packets.space import Packet

LAB_NETWORK = ipaddress.IPv4Network("198.18.0.0/15")
LINK_NETWORK = ipaddress.IPv4Network("198.19.255.0/24")
# Every address a probe may carry: the lab block less the link addresses (the firewall's own).
LAB = AddressSet(v4=((int(LAB_NETWORK.network_address), int(LAB_NETWORK.broadcast_address)),))
PROBE_SPACE = AddressSet(v4=((int(LAB_NETWORK.network_address), int(LINK_NETWORK.network_address) - 1),))
NAMESPACE_PREFIX = "septum-t-"
INTERFACE_NAME_BYTES = 15

ETH_P_IP = 0x0800
PACKET_OUTGOING = 4
PROTOCOL_NUMBERS = {"icmp": 1, "tcp": 6, "udp": 17, "esp": 50, "sctp": 132}
PROTOCOL_NAMES = {v: k for k, v in PROTOCOL_NUMBERS.items()}
# The ICMP types connection tracking can start a connection with (nf_conntrack_proto_icmp.c,
# valid_new: echo, timestamp, information and address-mask requests), and their answers. Any
# other ICMP packet without a connection is invalid to conntrack: it never passes as new.
ICMP_REPLY_TYPE = {8: 0, 13: 14, 15: 16, 17: 18}


# ---- requirements and commands ------------------------------------------------------------


def missing_requirements() -> list[str]:
    """What the lab needs and this machine lacks: root, `ip`, `nft`, network namespaces."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root (network namespaces, nftables and raw sockets need CAP_SYS_ADMIN and CAP_NET_ADMIN)")
    for tool, package in (("ip", "iproute2"), ("nft", "nftables")):
        if _tool(tool) is None:
            missing.append(f"`{tool}` ({package})")
    if not missing and not os.path.exists("/proc/self/ns/net"):
        missing.append("network namespaces (/proc/self/ns/net)")
    return missing


def _tool(name: str) -> str | None:
    return shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/sbin/{name}") if os.path.exists(p)), None)


def run(command: Sequence[str], stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command; on failure raise with its output (the lab is useless if a step fails)."""
    result = subprocess.run(list(command), input=stdin, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        output = result.stderr.strip() or result.stdout
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}): {output}")
    return result


def in_namespace(namespace: str, *command: str) -> list[str]:
    return [_tool("ip") or "ip", "netns", "exec", namespace, *command]


def ip_batch(lines: Iterable[str], namespace: str | None = None) -> None:
    """Many `ip` commands in one process (`ip -batch`), in a namespace or the current one."""
    text = "".join(line + "\n" for line in lines)
    if text:
        run([_tool("ip") or "ip", *(["-n", namespace] if namespace else []), "-batch", "-"], stdin=text)


def remove_leftovers(prefix: str = NAMESPACE_PREFIX) -> list[str]:
    """Delete the namespaces a crashed run left behind: ours are named PREFIX<pid>-..., and only
    those whose process is gone are removed (another run may be using its own right now)."""
    removed = []
    listing = run([_tool("ip") or "ip", "netns", "list"], check=False).stdout
    for line in listing.splitlines():
        name = line.split()[0] if line.split() else ""
        if not name.startswith(prefix):
            continue
        pid = name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            run([_tool("ip") or "ip", "netns", "delete", name], check=False)
            removed.append(name)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_serial = 0


def namespace_name(role: str) -> str:
    """A namespace name unique to this process and call: PREFIX<pid>-<serial>-<role>."""
    global _serial
    _serial += 1
    return f"{NAMESPACE_PREFIX}{os.getpid()}-{_serial}-{role}"


_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


@contextmanager
def entered(namespace: str):
    """Run the body with this thread in a named network namespace (sockets made here stay in it);
    Python 3.11 has no os.setns, so it is libc's."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
    try:
        if _libc.setns(target, _CLONE_NEWNET) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"setns into {namespace}: {os.strerror(error)}")
        try:
            yield
        finally:
            if _libc.setns(own, _CLONE_NEWNET) != 0:
                error = ctypes.get_errno()
                raise OSError(error, f"setns back: {os.strerror(error)}")
    finally:
        os.close(target)
        os.close(own)


# ---- packets on the wire ------------------------------------------------------------------


@dataclass(frozen=True)
class Wire:
    """An IPv4 packet as the lab sends it. tcp/udp/sctp: ports; icmp: type, code, identifier
    (in `sport`) and sequence (in `dport`); esp: SPI in `sport`, sequence in `dport`."""

    source: int
    destination: int
    protocol: str  # tcp, udp, icmp, sctp, esp
    sport: int = 0
    dport: int = 0
    icmp_type: int = 0
    icmp_code: int = 0
    tcp_flags: str = "S"  # S (a SYN) or SA (a SYN-ACK)
    seq: int = 0
    ack: int = 0

    def intent_packet(self) -> Packet | None:
        """The packet in the intent's terms, or None for protocols the intent never permits."""
        if self.protocol in ("tcp", "udp"):
            return Packet(4, self.source, self.destination, self.protocol, port=self.dport)
        if self.protocol == "icmp":
            return Packet(4, self.source, self.destination, "icmp", icmp_type=self.icmp_type, icmp_code=self.icmp_code)
        return None

    def describe(self) -> str:
        src, dst = ipaddress.IPv4Address(self.source), ipaddress.IPv4Address(self.destination)
        if self.protocol == "icmp":
            return f"icmp {src} -> {dst} type {self.icmp_type} code {self.icmp_code} id {self.sport}"
        if self.protocol == "esp":
            return f"esp {src} -> {dst} spi {self.sport}"
        flags = f" [{self.tcp_flags}]" if self.protocol == "tcp" else ""
        return f"{self.protocol}{flags} {src}:{self.sport} -> {dst}:{self.dport}"


def internet_checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC32C = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), SCTP's checksum (RFC 9260 appendix A)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def transport_bytes(wire: Wire) -> bytes:
    """The L4 header (and a little payload), with a correct checksum: conntrack drops packets
    with bad ones as invalid, and a probe must be dropped for its policy, nothing else."""
    pseudo = lambda length: struct.pack("!IIBBH", wire.source, wire.destination, 0,  # noqa: E731
                                        PROTOCOL_NUMBERS[wire.protocol], length)
    if wire.protocol == "tcp":
        flags = {"S": 0x02, "SA": 0x12}[wire.tcp_flags]
        header = struct.pack("!HHIIBBHHH", wire.sport, wire.dport, wire.seq, wire.ack, 5 << 4, flags, 64240, 0, 0)
        return header[:16] + struct.pack("!H", internet_checksum(pseudo(len(header)) + header)) + header[18:]
    if wire.protocol == "udp":
        payload = b"septum-probe"
        length = 8 + len(payload)
        body = struct.pack("!HHHH", wire.sport, wire.dport, length, 0) + payload
        check = internet_checksum(pseudo(length) + body) or 0xFFFF
        return body[:6] + struct.pack("!H", check) + body[8:]
    if wire.protocol == "icmp":
        body = struct.pack("!BBHHH", wire.icmp_type, wire.icmp_code, 0, wire.sport, wire.dport) + b"septum-p"
        return body[:2] + struct.pack("!H", internet_checksum(body)) + body[4:]
    if wire.protocol == "sctp":
        init = struct.pack("!BBHIIHHI", 1, 0, 20, wire.seq or 1, 65535, 1, 1, wire.seq or 1)
        body = struct.pack("!HHII", wire.sport, wire.dport, 0, 0) + init
        return body[:8] + struct.pack("<I", crc32c(body)) + body[12:]
    if wire.protocol == "esp":
        return struct.pack("!II", wire.sport, wire.dport) + bytes(16)
    raise ValueError(f"cannot build a {wire.protocol} packet")


def ip_bytes(wire: Wire, ident: int) -> bytes:
    l4 = transport_bytes(wire)
    header = struct.pack("!BBHHHBBHII", 0x45, 0, 20 + len(l4), ident & 0xFFFF, 0x4000, 64,
                         PROTOCOL_NUMBERS[wire.protocol], 0, wire.source, wire.destination)
    header = header[:10] + struct.pack("!H", internet_checksum(header)) + header[12:]
    return header + l4


def frame_bytes(wire: Wire, source_mac: bytes, destination_mac: bytes, ident: int) -> bytes:
    return destination_mac + source_mac + struct.pack("!H", ETH_P_IP) + ip_bytes(wire, ident)


def wire_key(wire: Wire) -> tuple:
    """What identifies a probe in a captured frame: addresses, protocol and its first 8 bytes
    of L4 header (ports and sequence, or ICMP type, code, checksum, identifier and sequence),
    none of which forwarding changes."""
    return wire.source, wire.destination, PROTOCOL_NUMBERS[wire.protocol], transport_bytes(wire)[:8]


def frame_key(frame: bytes) -> tuple | None:
    """`wire_key` of a captured Ethernet frame, or None if it is no IPv4 packet."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00" or frame[14] >> 4 != 4:
        return None
    ihl = (frame[14] & 0x0F) * 4
    protocol = frame[23]
    source, destination = struct.unpack("!II", frame[26:34])
    return source, destination, protocol, bytes(frame[14 + ihl:14 + ihl + 8])


# ---- probes -------------------------------------------------------------------------------


@dataclass
class Probe:
    """One packet sent on `ingress`, which must come out by `expected` (None: nowhere)."""

    kind: str  # inside, edge, outside, carved, spoofed, other, random, unsolicited, reply
    ingress: str
    wire: Wire
    expected: str | None
    origin: str = ""  # the rule (zone-file line) or the original it was built from
    original: "Probe | None" = None  # for a reply: the probe it answers
    seen: str | None = None  # where it came out
    seen_twice: bool = False  # it came out twice (by different interfaces, or once more than sent)
    sent: int = 0  # copies sent (a probe expected to pass and not seen is sent once more)
    copies: int = 0  # copies captured

    @property
    def mismatch(self) -> bool:
        return self.seen != self.expected or self.seen_twice

    def describe(self) -> str:
        expected = f"out by {self.expected}" if self.expected else "dropped"
        seen = f"out by {self.seen}" if self.seen else "dropped"
        text = (f"[{self.kind}] {self.wire.describe()}, in by {self.ingress}: expected {expected}, seen {seen}"
                + (" (twice)" if self.seen_twice else ""))
        if self.origin:
            text += f"; {self.origin}"
        return text


class Ports:
    """Source ports (ICMP identifiers, ESP SPIs) handed out once each per lab, from 1024 up."""

    def __init__(self) -> None:
        self.next = 1024

    def take(self) -> int:
        if self.next > 65535:
            raise RuntimeError("a lab ran out of unique source ports: probe in more labs, or fewer probes")
        self.next += 1
        return self.next - 1


class Routes:
    """The firewall namespace's IPv4 routing table, as the lab installs it, with longest-prefix
    lookup: which interface a destination leaves by (None: the blackhole default)."""

    def __init__(self, device: DeviceIntent, networks: Mapping[str, AddressSet]) -> None:
        self.entries: list[tuple[ipaddress.IPv4Network, str]] = []
        self.default: str | None = None
        self.ambiguous: list[str] = []  # zones reached through more than one interface
        owner: dict[str, str] = {}
        for interface in sorted(device.reach):
            for zone in device.reach[interface]:
                if zone in owner:
                    self.ambiguous.append(f"{zone}: {owner[zone]} and {interface} (routed by {owner[zone]})")
                    continue
                owner[zone] = interface
                if zone == "internet":
                    self.default = interface
                    continue
                addresses = device.zones.get(zone) or networks.get(zone) or AddressSet()
                for cidr in AddressSet(v4=addresses.v4).cidrs():
                    network = ipaddress.IPv4Network(cidr)
                    if not network.subnet_of(LAB_NETWORK) or network.overlaps(LINK_NETWORK):
                        raise ValueError(f"zone {zone}: {cidr} is outside the lab's addresses "
                                         f"(renumber the policy first: tests/renumber.py)")
                    self.entries.append((network, interface))
        self.entries.sort(key=lambda e: -e[0].prefixlen)
        self._lookup = [(int(n.network_address), int(n.broadcast_address), i) for n, i in self.entries]

    def egress(self, destination: int) -> str | None:
        for first, last, interface in self._lookup:
            if first <= destination <= last:
                return interface
        return self.default


class Expectation:
    """The intent's verdict for a packet in the lab: where a new connection must come out."""

    def __init__(self, device: DeviceIntent, routes: Routes, tracked=TRACKED_ICMP) -> None:
        self.device = device
        self.routes = routes
        self.tracked = tracked  # the ICMP the target's connection tracker admits as new
        self.space = DeviceSpace([i.name for i in device.interfaces])
        self.allowed = intended(self.space, device, tracked)

    def tracks(self, wire: Wire) -> bool:
        """Whether the target's tracker opens a session for this packet, when admitted."""
        if wire.protocol != "icmp":
            return True
        return any(entry == wire.icmp_type or entry == (wire.icmp_type, wire.icmp_code)
                   for entry in self.tracked.get("icmp", ()))

    def new(self, ingress: str, wire: Wire) -> str | None:
        egress = self.routes.egress(wire.destination)
        packet = wire.intent_packet()
        if egress is None or packet is None:
            return None
        # An ICMP type conntrack cannot start a connection with (no key of ICMP_REPLY_TYPE) is invalid
        # on a Linux firewall, whatever the ruleset says; it is still expected as the intent says,
        # so that a rule allowing such a type shows up as a mismatch to look at.
        if wire.protocol == "tcp" and wire.tcp_flags != "S":
            return None  # a SYN-ACK with no connection is invalid to conntrack
        state = DevicePacket(ingress, egress, "new", packet)
        return egress if self.space.contains(self.allowed, state) else None


@dataclass
class Budget:
    """How many probes of each kind to make for a device."""

    rules: int | None = None  # rules to probe (a seeded sample), None: all
    inside: int = 8  # random packets inside each rule
    intervals: int = 2  # address intervals per side and rule whose edges are probed
    services: int = 3  # service runs per rule whose edges are probed
    carved: int = 3
    spoofed: int = 3
    other: int = 5
    random_per_interface: int = 150
    unsolicited: int = 200  # SYN-ACKs with no connection
    replies_allowed: int = 1000  # answers to passed originals
    replies_denied: int = 300  # answers to dropped originals


class _Picker:
    """Random addresses and services, drawn with the lab's rng."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def address(self, intervals: Sequence[tuple[int, int]]) -> int | None:
        """A random address of a union of intervals, uniform over addresses."""
        if not intervals:
            return None
        ends = []  # ends[i]: how many addresses intervals[0..i] hold
        total = 0
        for first, last in intervals:
            total += last - first + 1
            ends.append(total)
        k = self.rng.randrange(total)
        i = bisect_right(ends, k)
        return intervals[i][0] + k - (ends[i - 1] if i else 0)

    def value(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)


def _lab_part(addresses: AddressSet) -> tuple[tuple[int, int], ...]:
    """The IPv4 intervals of a set that a probe may use."""
    return (AddressSet(v4=addresses.v4) & PROBE_SPACE).v4


def _in_probe_space(address: int) -> bool:
    return (4, address) in PROBE_SPACE


class ProbeMaker:
    """Builds probes for one device from its compiled intent (see the module's docstring)."""

    def __init__(self, device: DeviceIntent, expectation: Expectation, rng: random.Random, ports: Ports) -> None:
        self.device = device
        self.expect = expectation
        self.rng = rng
        self.pick = _Picker(rng)
        self.ports = ports
        self.interfaces = sorted(i.name for i in device.interfaces)
        self.all_ports = sorted({v for r in device.rules for s in r.services if s.protocol in ("tcp", "udp")
                                 for v in (s.low, s.high)})

    def probe(self, kind: str, ingress: str, wire: Wire, origin: str = "") -> Probe:
        return Probe(kind, ingress, wire, self.expect.new(ingress, wire), origin)

    def wire(self, source: int, destination: int, protocol: str, value: int) -> Wire:
        """A fresh packet: `value` is the destination port, or for icmp type * 256 + code."""
        port = self.ports.take()
        if protocol == "icmp":
            return Wire(source, destination, "icmp", port, self.rng.randrange(65536), value >> 8, value & 0xFF)
        return Wire(source, destination, protocol, port, value, seq=self.rng.randrange(1, 1 << 32))

    # -- per rule

    def rule_probes(self, rule: Rule, budget: Budget) -> list[Probe]:
        sources, destinations = _lab_part(rule.source), _lab_part(rule.destination)
        services = [s for s in rule.services if s.protocol in ("tcp", "udp", "icmp")]
        if not sources or not destinations or not services:
            return []
        info = self.device.flows[rule.flow]
        origin = f"{info.location} ({rule.source_zone} -> {', '.join(rule.destination_zones)}, {rule.ingress} -> {rule.egress})"
        out: list[Probe] = []

        def add(kind: str, source: int | None, destination: int | None, protocol: str, value: int,
                ingress: str = rule.ingress) -> None:
            if source is None or destination is None or not (_in_probe_space(source) and _in_probe_space(destination)):
                return
            if not 0 <= value <= 65535:
                return
            out.append(self.probe(kind, ingress, self.wire(source, destination, protocol, value), origin))

        def any_source() -> int | None:
            return self.pick.address(sources)

        def any_destination() -> int | None:
            return self.pick.address(destinations)

        def any_service() -> tuple[str, int]:
            s = self.rng.choice(services)
            return s.protocol, self.pick.value(s.low, s.high)

        for _ in range(budget.inside):
            add("inside", any_source(), any_destination(), *any_service())
        for first, last in self._some(sources, budget.intervals):
            add("edge", first, any_destination(), *any_service())
            add("edge", last, any_destination(), *any_service())
            add("outside", first - 1, any_destination(), *any_service())
            add("outside", last + 1, any_destination(), *any_service())
        for first, last in self._some(destinations, budget.intervals):
            add("edge", any_source(), first, *any_service())
            add("edge", any_source(), last, *any_service())
            add("outside", any_source(), first - 1, *any_service())
            add("outside", any_source(), last + 1, *any_service())
        for s in self._some(services, budget.services):
            add("edge", any_source(), any_destination(), s.protocol, s.low)
            add("edge", any_source(), any_destination(), s.protocol, s.high)
            add("outside", any_source(), any_destination(), s.protocol, s.low - 1)
            add("outside", any_source(), any_destination(), s.protocol, s.high + 1)
        carved_sources = _lab_part(self.device.zones.get(rule.source_zone, AddressSet()) - rule.source)
        zones = AddressSet()
        for zone in rule.destination_zones:
            zones = zones | self.device.zones.get(zone, AddressSet())
        carved_destinations = _lab_part(zones - rule.destination)
        for _ in range(budget.carved):
            add("carved", self.pick.address(carved_sources), any_destination(), *any_service())
            add("carved", any_source(), self.pick.address(carved_destinations), *any_service())
        others = [i for i in self.interfaces if i != rule.ingress]
        for _ in range(budget.spoofed if others else 0):
            add("spoofed", any_source(), any_destination(), *any_service(), ingress=self.rng.choice(others))
        for _ in range(budget.other):
            protocol, value = any_service()
            add("other", any_source(), any_destination(), *self._other_service(protocol, value))
        return out

    def _some(self, items: Sequence, count: int) -> list:
        return list(items) if len(items) <= count else self.rng.sample(list(items), count)

    def _other_service(self, protocol: str, value: int) -> tuple[str, int]:
        """Another protocol with the same port, another port, an ICMP type, SCTP or ESP."""
        choice = self.rng.randrange(5)
        if choice == 0 and protocol in ("tcp", "udp"):
            return ("udp" if protocol == "tcp" else "tcp"), value
        if choice == 1 and protocol in ("tcp", "udp"):
            return protocol, self.rng.randrange(65536)
        if choice == 2:
            return "icmp", self.rng.choice((0, 3, 8, 11, 13, 17, 30)) * 256 + self.rng.choice((0, 0, 1))
        if choice == 3:
            return "sctp", value if protocol in ("tcp", "udp") else self.rng.randrange(65536)
        return "esp", 0

    # -- anywhere

    def random_probes(self, per_interface: int) -> list[Probe]:
        """Random packets in the lab block from every interface. A third of the addresses are
        drawn from anywhere, a third from the device's zones and a third from its rules' sources
        and destinations, so that random packets meet the rules often enough to matter."""
        pools = [PROBE_SPACE.v4]
        zones = [part for part in (_lab_part(a) for a in self.device.zones.values()) if part]
        endpoints = [part for r in self.device.rules
                     for part in (_lab_part(r.source), _lab_part(r.destination)) if part]
        out = []

        def address() -> int:
            pool = self.rng.choice([pools, zones or pools, endpoints or pools])
            return self.pick.address(self.rng.choice(pool))

        for interface in self.interfaces:
            for _ in range(per_interface):
                protocol = self.rng.choice(("tcp", "tcp", "udp", "udp", "icmp", "sctp", "esp"))
                if protocol == "icmp":
                    value = self.rng.choice((8, 8, 0, 3, 13)) * 256 + self.rng.choice((0, 0, 7))
                elif self.all_ports and self.rng.random() < 0.5:
                    value = self.rng.choice(self.all_ports)
                else:
                    value = self.rng.randrange(65536)
                out.append(self.probe("random", interface, self.wire(address(), address(), protocol, value)))
        return out

    def unsolicited(self, count: int) -> list[Probe]:
        """SYN-ACKs answering no SYN, from the destination side of the rules: never let through."""
        rules = [r for r in self.device.rules if _lab_part(r.source) and _lab_part(r.destination)
                 and any(s.protocol == "tcp" for s in r.services)]
        out = []
        for _ in range(count if rules else 0):
            rule = self.rng.choice(rules)
            s = self.rng.choice([s for s in rule.services if s.protocol == "tcp"])
            wire = Wire(self.pick.address(_lab_part(rule.destination)), self.pick.address(_lab_part(rule.source)),
                        "tcp", self.pick.value(s.low, s.high), self.ports.take(), tcp_flags="SA",
                        seq=self.rng.randrange(1, 1 << 32), ack=self.rng.randrange(1, 1 << 32))
            out.append(self.probe("unsolicited", rule.egress, wire, "no connection"))
        return out

    # -- return traffic

    def reply(self, original: Probe) -> Probe | None:
        """The answer to an original (after it was sent), from the side it went to: expected back
        at its source exactly when the original passed; if it did not, the answer is a packet of
        its own: a UDP datagram then meets the policy as a new one, a SYN-ACK or echo reply with
        no connection is invalid to conntrack."""
        w = original.wire
        ingress = original.seen or self.expect.routes.egress(w.destination)
        if ingress is None:
            return None
        if w.protocol == "tcp" and w.tcp_flags == "S":
            wire = Wire(w.destination, w.source, "tcp", w.dport, w.sport, tcp_flags="SA",
                        seq=self.rng.randrange(1, 1 << 32), ack=(w.seq + 1) & 0xFFFFFFFF)
        elif w.protocol == "udp":
            wire = Wire(w.destination, w.source, "udp", w.dport, w.sport)
        elif w.protocol == "icmp" and w.icmp_type in ICMP_REPLY_TYPE:
            wire = Wire(w.destination, w.source, "icmp", w.sport, w.dport, ICMP_REPLY_TYPE[w.icmp_type], w.icmp_code)
        else:
            return None
        if original.seen and self.expect.tracks(w):
            expected = self.expect.routes.egress(wire.destination)
        elif wire.protocol == "udp" or original.seen:  # no session: the policy judges the answer
            expected = self.expect.new(ingress, wire)
        else:
            expected = None
        return Probe("reply", ingress, wire, expected, f"answer to: {original.wire.describe()} in by "
                     f"{original.ingress} ({'passed' if original.seen else 'dropped'})", original)

    def reply_probes(self, originals: Sequence[Probe], budget: Budget) -> list[Probe]:
        answerable = [p for p in originals if p.kind != "unsolicited" and (
            p.wire.protocol in ("tcp", "udp") or (p.wire.protocol == "icmp" and p.wire.icmp_type in ICMP_REPLY_TYPE))]
        passed = [p for p in answerable if p.seen]
        dropped = [p for p in answerable if not p.seen]
        chosen = self._some(passed, budget.replies_allowed) + self._some(dropped, budget.replies_denied)
        return [r for r in (self.reply(p) for p in chosen) if r is not None]


def generate_probes(maker: ProbeMaker, budget: Budget) -> list[Probe]:
    """The first phase's probes: per rule, random, and unsolicited SYN-ACKs."""
    rules = list(maker.device.rules)
    if budget.rules is not None and len(rules) > budget.rules:
        rules = maker.rng.sample(rules, budget.rules)
    probes = [p for rule in rules for p in maker.rule_probes(rule, budget)]
    probes += maker.random_probes(budget.random_per_interface)
    probes += maker.unsolicited(budget.unsolicited)
    return probes


# ---- the lab ------------------------------------------------------------------------------


def _mac(side: int, index: int) -> str:
    return f"02:5e:{side:02x}:00:{index >> 8:02x}:{index & 0xFF:02x}"


@dataclass
class Port:
    """A device interface in the lab: its veth in the firewall namespace and the peer in the world."""

    name: str
    peer: str
    address: str  # the firewall's link address
    neighbour: str  # the peer's (next hop of the routes through it)
    mac: bytes
    peer_mac: bytes


@dataclass
class RunFigures:
    sent: int = 0
    resent: int = 0
    captured: int = 0
    stray: int = 0  # frames that are no probe of ours
    stray_examples: list[str] = field(default_factory=list)
    seconds: float = 0.0


class Lab:
    """The two namespaces for one device (see the module's docstring). Use as a context manager:
    everything it made is removed on exit, also when the body fails."""

    def __init__(self, device: DeviceIntent, networks: Mapping[str, AddressSet] | None = None) -> None:
        names = sorted(i.name for i in device.interfaces)
        too_long = [n for n in names if len(n.encode()) > INTERFACE_NAME_BYTES]
        if too_long:
            raise ValueError(f"interface names over {INTERFACE_NAME_BYTES} bytes: {too_long}")
        if 2 * len(names) > LINK_NETWORK.num_addresses:
            raise ValueError(f"{len(names)} interfaces do not fit into {LINK_NETWORK} as /31 links")
        self.device = device
        self.routes = Routes(device, networks or {})
        self.firewall = namespace_name("fw")
        self.world = namespace_name("w")
        base = int(LINK_NETWORK.network_address)
        self.ports = {name: Port(name, f"p{k}", str(ipaddress.IPv4Address(base + 2 * k)),
                                 str(ipaddress.IPv4Address(base + 2 * k + 1)),
                                 bytes.fromhex(_mac(0, k).replace(":", "")), bytes.fromhex(_mac(1, k).replace(":", "")))
                      for k, name in enumerate(names)}
        self.by_peer = {port.peer: port.name for port in self.ports.values()}
        self.sockets: dict[str, socket.socket] = {}
        self.expected_keys: dict[tuple, Probe] = {}
        self.figures = RunFigures()
        self._made: list[str] = []

    # -- setting up

    def __enter__(self) -> "Lab":
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
        ip = _tool("ip") or "ip"
        for namespace in (self.firewall, self.world):
            run([ip, "netns", "add", namespace])
            self._made.append(namespace)
            self._sysctl(namespace, {"net/ipv6/conf/all/disable_ipv6": 1, "net/ipv6/conf/default/disable_ipv6": 1,
                                     "net/ipv4/conf/all/rp_filter": 0, "net/ipv4/conf/default/rp_filter": 0,
                                     "net/ipv4/conf/all/send_redirects": 0,
                                     "net/ipv4/conf/default/send_redirects": 0,
                                     "net/ipv4/ip_forward": int(namespace == self.firewall)})
        ip_batch(f"link add {p.name} address {p.mac.hex(':')} netns {self.firewall} type veth "
                 f"peer name {p.peer} address {p.peer_mac.hex(':')} netns {self.world}" for p in self.ports.values())
        for namespace in (self.firewall, self.world):  # the new interfaces' own settings too
            run(in_namespace(namespace, "sh", "-c",
                             "for f in /proc/sys/net/ipv6/conf/*/disable_ipv6; do echo 1 > $f; done; "
                             "for f in /proc/sys/net/ipv4/conf/*/rp_filter /proc/sys/net/ipv4/conf/*/send_redirects; "
                             "do echo 0 > $f; done"))
        ip_batch([f"link set {p.peer} up" for p in self.ports.values()], self.world)
        lines = ["link set lo up"]
        for p in self.ports.values():
            lines += [f"link set {p.name} up", f"address add {p.address}/31 dev {p.name}",
                      f"neigh replace {p.neighbour} lladdr {p.peer_mac.hex(':')} dev {p.name} nud permanent"]
        for network, interface in self.routes.entries:
            lines.append(f"route replace {network} via {self.ports[interface].neighbour} dev {interface}")
        if self.routes.default is not None:
            port = self.ports[self.routes.default]
            lines.append(f"route replace default via {port.neighbour} dev {port.name}")
        else:
            lines.append("route replace blackhole default")
        ip_batch(lines, self.firewall)
        self._open_sockets()

    @staticmethod
    def _sysctl(namespace: str, values: Mapping[str, int]) -> None:
        script = "; ".join(f"echo {v} > /proc/sys/{k}" for k, v in values.items())
        run(in_namespace(namespace, "sh", "-c", script))

    def _open_sockets(self) -> None:
        with entered(self.world):
            for port in self.ports.values():
                s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
                s.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE: room for a whole batch
                s.bind((port.peer, ETH_P_IP))
                s.setblocking(False)
                self.sockets[port.name] = s

    def load(self, config: bytes) -> None:
        """`nft -f` the ruleset inside the firewall namespace."""
        with tempfile.NamedTemporaryFile(prefix="septum-lab-", suffix=".nft") as handle:
            handle.write(config)
            handle.flush()
            run(in_namespace(self.firewall, _tool("nft") or "nft", "-f", handle.name))

    def close(self) -> None:
        for s in self.sockets.values():
            s.close()
        self.sockets.clear()
        for namespace in reversed(self._made):
            run([_tool("ip") or "ip", "netns", "delete", namespace], check=False)
        self._made.clear()

    # -- probing

    def send(self, probes: Sequence[Probe], batch: int = 256, patience: float = 0.5) -> RunFigures:
        """Send every probe on the world-side peer of its ingress, in batches, and record where
        each came out. After each batch, wait until the probes expected to pass have arrived
        (at most `patience` seconds); stragglers are still matched while later batches run, and
        a last quiet wait ends the run. Probes expected to pass that did not are sent once more
        (a frame lost in the harness is not the firewall's verdict; a dropped one stays dropped)."""
        started = time.perf_counter()
        for probe in probes:
            if (4, probe.wire.source) not in LAB or (4, probe.wire.destination) not in LAB:
                raise ValueError(f"a probe outside {LAB_NETWORK}: {probe.describe()}")
            key = wire_key(probe.wire)
            if key in self.expected_keys:
                raise ValueError(f"two probes look alike on the wire: {probe.describe()}")
            self.expected_keys[key] = probe
        for start in range(0, len(probes), batch):
            self._send_batch(probes[start:start + batch], patience)
        self._collect(lambda: False, time.perf_counter() + 0.2)
        missing = [p for p in probes if p.expected and not p.seen]
        if missing:
            self.figures.resent += len(missing)
            self._send_batch(missing, patience)
            self._collect(lambda: False, time.perf_counter() + 0.2)
        self.figures.seconds += time.perf_counter() - started
        return self.figures

    def _send_batch(self, probes: Sequence[Probe], patience: float) -> None:
        for probe in probes:
            port = self.ports[probe.ingress]
            frame = frame_bytes(probe.wire, port.peer_mac, port.mac, self.figures.sent)
            while True:
                try:
                    self.sockets[probe.ingress].send(frame)
                    break
                except BlockingIOError:
                    self._collect(lambda: False, time.perf_counter() + 0.001)
            self.figures.sent += 1
            probe.sent += 1
        awaited = [p for p in probes if p.expected]
        deadline = time.perf_counter() + patience
        self._collect(lambda: all(p.seen for p in awaited), deadline)
        self._collect(lambda: False, time.perf_counter() + 0.003)

    def _collect(self, done: Callable[[], bool], deadline: float) -> None:
        """Read captured frames until `done()` or the deadline."""
        sockets = list(self.sockets.items())
        by_fd = {s.fileno(): name for name, s in sockets}
        while True:
            now = time.perf_counter()
            if done() or now >= deadline:
                self._drain(sockets)
                return
            readable, _, _ = select.select([s for _, s in sockets], [], [], min(0.01, deadline - now))
            for s in readable:
                self._read(by_fd[s.fileno()], s)

    def _drain(self, sockets) -> None:
        for name, s in sockets:
            self._read(name, s)

    def _read(self, interface: str, s: socket.socket) -> None:
        while True:
            try:
                frame, address = s.recvfrom(65535)
            except BlockingIOError:
                return
            if address[2] == PACKET_OUTGOING:
                continue
            self.figures.captured += 1
            key = frame_key(frame)
            probe = self.expected_keys.get(key) if key else None
            if probe is None:
                self.figures.stray += 1
                if len(self.figures.stray_examples) < 5:
                    self.figures.stray_examples.append(f"on {interface}: {frame[:64].hex()}")
                continue
            probe.copies += 1
            if probe.seen is None:
                probe.seen = interface
            elif probe.seen != interface or probe.copies > probe.sent:
                probe.seen_twice = True


# ---- a whole check ------------------------------------------------------------------------


@dataclass
class LiveReport:
    """The outcome of probing one device."""

    device: str
    probes: list[Probe]
    figures: RunFigures
    ambiguous_routes: list[str]
    rule_route_conflicts: list[str]  # rules whose egress is not where the lab routes their destination
    seconds: float

    @property
    def mismatches(self) -> list[Probe]:
        return [p for p in self.probes if p.mismatch]

    def summary(self) -> str:
        kinds = Counter(p.kind for p in self.probes)
        passed = Counter(p.kind for p in self.probes if p.seen)
        by_kind = ", ".join(f"{k} {kinds[k]} ({passed[k]} passed)" for k in sorted(kinds))
        f = self.figures
        lines = [f"device {self.device}: {len(self.probes)} probes, {len(self.mismatches)} mismatches, "
                 f"{sum(1 for p in self.probes if p.seen)} passed; {f.sent} frames sent ({f.resent} resent), "
                 f"{f.captured} captured, {f.stray} stray; {f.seconds:.1f} s on the wire, {self.seconds:.1f} s in all",
                 f"  by kind: {by_kind}"]
        if self.ambiguous_routes:
            lines.append(f"  zones reached through several interfaces: {self.ambiguous_routes[:5]}")
        if self.rule_route_conflicts:
            lines.append(f"  rules whose egress is not the route of their destination "
                         f"({len(self.rule_route_conflicts)}): " + "; ".join(self.rule_route_conflicts[:3]))
        if f.stray_examples:
            lines.append(f"  stray frames: {f.stray_examples}")
        return "\n".join(lines)

    def describe_mismatches(self, limit: int = 10) -> str:
        found = self.mismatches
        lines = [p.describe() for p in found[:limit]]
        if len(found) > limit:
            lines.append(f"... and {len(found) - limit} more")
        return "\n".join(lines)


def rule_route_conflicts(device: DeviceIntent, routes: Routes) -> list[str]:
    """Rules whose destination (in the lab block) the lab routes elsewhere than the rule's egress."""
    out = []
    for rule in device.rules:
        for first, last in _lab_part(rule.destination)[:4]:
            for address in (first, last):
                egress = routes.egress(address)
                if egress != rule.egress:
                    out.append(f"{device.flows[rule.flow].location} {rule.source_zone} -> {', '.join(rule.destination_zones)}: "
                               f"egress {rule.egress}, but {ipaddress.IPv4Address(address)} routes to {egress}")
                    break
    return out


def live_check(device: DeviceIntent, config: bytes, networks: Mapping[str, AddressSet] | None = None,
               budget: Budget | None = None, seed: int = 0) -> LiveReport:
    """Load `config` (the device's ruleset) into a lab and probe it: new packets first, then the
    answers to a sample of them."""
    started = time.perf_counter()
    budget = budget or Budget()
    rng = random.Random(seed)
    with Lab(device, networks) as lab:
        lab.load(config)
        maker = ProbeMaker(device, Expectation(device, lab.routes), rng, Ports())
        originals = generate_probes(maker, budget)
        lab.send(originals)
        replies = maker.reply_probes(originals, budget)
        lab.send(replies)
        figures = lab.figures
    return LiveReport(device.name, originals + replies, figures, lab.routes.ambiguous,
                      rule_route_conflicts(device, lab.routes), time.perf_counter() - started)


def zone_networks(policy) -> dict[str, AddressSet]:
    """Every zone's networks as the zone files write them (for routes to zones a device reaches
    but whose addresses its intent does not carry)."""
    return {name: AddressSet.of_cidrs(n.cidr for n in zone.networks)
            for name, zone in policy.zones.items() if zone.networks}
