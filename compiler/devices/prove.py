"""Translation validation: what a device, as the real target holds its config, accepts, compared
with its share of the intent.

A backend reads its config back from the target (the kernel, the switch, a config parser) and
interprets it into a `DeviceSpace`, independently of the code that wrote it; `compare` then proves
the two packet sets equal, or gives a concrete counterexample packet with the rule the target
used and the zone-file line the intent has for it.

The space is the packet space (exact addresses) with three more fields: the interface a packet
arrives on (`i`), the one it leaves by (`o`), and its connection-tracking state (`c`). Interface
0 is any interface the device and its config do not name; the others are numbered in name order.
What the device must accept:

* new connections (state `new`, or `untracked`) exactly when a rule of the compiled intent has
  them, on the ingress and egress the rule names;
* every `established` or `related` packet (the replies and ICMP errors of connections it
  admitted: conntrack vouches for them);
* no `invalid` packet, except ICMP messages of the types conntrack cannot admit as new
  (`TRACKED_ICMP`: all but the requests), judged as new ones: the policy alone decides them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, NamedTuple

from ..packets.addresses import AddressSet
from ..packets.space import Packet, PacketSpace
from .intent import DeviceIntent, Rule

STATES = ("new", "established", "related", "invalid", "untracked")
# The ICMP types conntrack can admit as a new connection (requests). Every other ICMP message that
# is not about a connection it tracks (an error about nothing it knows, a reply to nothing, other
# types) it calls invalid: those the device judges by the policy alone, as if they were new.
TRACKED_ICMP = {"icmp": (8, 13, 15, 17), "icmpv6": (128, 139)}
# Each entry is a type (every code) or (type, code). A target whose tracker admits other ICMP
# (Open vSwitch's: requests with code 0 only) proves against its own set (`tracked=`).
OTHER = ""  # the name of interface 0: any interface not named otherwise


class DevicePacket(NamedTuple):
    ingress: str  # interface name, or OTHER
    egress: str
    state: str
    packet: Packet

    def describe(self) -> str:
        p = self.packet
        import ipaddress

        make = ipaddress.IPv4Address if p.family == 4 else ipaddress.IPv6Address
        if p.protocol in ("tcp", "udp"):
            what = f"{p.protocol} port {p.port}"
        else:
            what = f"{p.protocol} type {p.icmp_type} code {p.icmp_code}"
        side = lambda name: name or "(another interface)"  # noqa: E731
        return (f"{make(p.source)} -> {make(p.destination)} {what}, in by {side(self.ingress)}, "
                f"out by {side(self.egress)}, {self.state}")


class DeviceSpace:
    """Packet sets over (ingress, egress, connection state, packet) for one device."""

    def __init__(self, interfaces: Iterable[str]) -> None:
        self.names = [OTHER] + sorted(set(interfaces) - {OTHER})
        self.index = {name: i for i, name in enumerate(self.names)}
        bits = max(1, (len(self.names) - 1).bit_length())
        self.space = space = PacketSpace(None, (("i", bits), ("o", bits), ("c", 3)))
        self.false = space.false
        valid = space.field_range("i", 0, len(self.names) - 1) & space.field_range("o", 0, len(self.names) - 1)
        self.true = space.true & valid & space.field_range("c", 0, len(STATES) - 1)

    def interface(self, side: str, name: str):
        """Packets arriving on (`side` "i") or leaving by ("o") the named interface."""
        index = self.index.get(name, 0)
        return self.space.field_range(side, index, index)

    def state(self, name: str):
        index = STATES.index(name)
        return self.space.field_range("c", index, index)

    def addresses(self, side: str, addresses: AddressSet):
        return self.space.addresses(side, addresses)

    def contains(self, a, packet: DevicePacket) -> bool:
        return self.space.contains(a, packet.packet, {"i": self.index.get(packet.ingress, 0),
                                                     "o": self.index.get(packet.egress, 0),
                                                     "c": STATES.index(packet.state)})

    def pick(self, a) -> DevicePacket | None:
        found = self.space.pick_with_fields(a & self.true)
        if found is None:
            return None
        packet, fields = found
        return DevicePacket(self.names[fields["i"]], self.names[fields["o"]], STATES[fields["c"]], packet)


def services_set(space: PacketSpace, services) -> object:
    node = space.false
    for s in services:
        if s.protocol in ("tcp", "udp"):
            node = node | (space.protocol[s.protocol] & space.l4_range(s.low, s.high))
        else:
            node = node | space.match(s.protocol) & space.l4_range(s.low, s.high)
    return node


class _Sets:
    """The BDDs of a device's address sets and service lists, made once each."""

    def __init__(self, ds: DeviceSpace) -> None:
        self.ds = ds
        self._addresses: dict[tuple[str, int], object] = {}
        self._services: dict[tuple, object] = {}

    def addresses(self, side: str, addresses: AddressSet):
        key = (side, id(addresses))
        found = self._addresses.get(key)
        if found is None:
            found = self._addresses[key] = (self.ds.addresses(side, addresses), addresses)
        return found[0]

    def services(self, services: tuple) -> object:
        found = self._services.get(services)
        if found is None:
            found = self._services[services] = services_set(self.ds.space, services)
        return found


def rule_set(ds: DeviceSpace, rule: Rule, sets: _Sets | None = None):
    """The new connections one rule permits."""
    sets = sets or _Sets(ds)
    return (ds.interface("i", rule.ingress) & ds.interface("o", rule.egress) & sets.addresses("s", rule.source)
            & sets.addresses("d", rule.destination) & sets.services(rule.services))


def intended(ds: DeviceSpace, device: DeviceIntent, tracked=TRACKED_ICMP):
    """Every packet the device must accept (the states included); `tracked`: the ICMP the
    target's connection tracker admits as new."""
    sets = _Sets(ds)
    new = ds.false
    by_pair: dict[tuple[str, str], object] = {}
    for rule in device.rules:  # per interface pair first: the unions stay small
        key = (rule.ingress, rule.egress)
        body = (sets.addresses("s", rule.source) & sets.addresses("d", rule.destination)
                & sets.services(rule.services))
        by_pair[key] = by_pair.get(key, ds.false) | body
    for (ingress, egress), body in by_pair.items():
        new = new | (ds.interface("i", ingress) & ds.interface("o", egress) & body)
    fresh = ds.state("new") | ds.state("untracked")
    replies = ds.state("established") | ds.state("related")
    return ds.true & ((fresh & new) | replies | (ds.state("invalid") & untrackable_icmp(ds.space, tracked) & new))


def untrackable_icmp(space: PacketSpace, tracked=TRACKED_ICMP):
    """ICMP and ICMPv6 messages a connection tracker cannot admit as new (all but `tracked`)."""
    node = space.false
    for protocol, admitted in tracked.items():
        requests = space.false
        for kind in admitted:
            kind, code = kind if isinstance(kind, tuple) else (kind, None)
            requests = requests | space.match(protocol, icmp_type=kind, icmp_code=code)
        node = node | (space.match(protocol) & ~requests)
    return node


@dataclass
class Proof:
    device: str
    equal: bool
    counterexample: DevicePacket | None = None
    problem: str = ""  # "allowed but not intended" or "intended but blocked"
    target_rule: str = ""  # what the target says decided the counterexample
    intent_rule: str = ""  # the zone-file line the intent has for it, if any
    detail: dict | None = None  # figures: time, BDD sizes
    method: str = ""  # how the target's account was read: "in a kernel", "by a Cisco config parser ..."

    def describe(self) -> str:
        if self.equal:
            return f"device '{self.device}': the config the target holds is proven equal to the intent"
        lines = [f"device '{self.device}': the config differs from the intent: {self.problem}"]
        if self.counterexample is None:
            return lines[0]
        lines.append(f"  packet: {self.counterexample.describe()}")
        if self.target_rule:
            lines.append(f"  target: {self.target_rule}")
        lines.append(f"  intent: {self.intent_rule or 'no rule of the zone files allows it'}")
        return "\n".join(lines)


def intent_rule_for(device: DeviceIntent, ds: DeviceSpace, packet: DevicePacket) -> str:
    """The zone-file line of a rule that permits the packet, if any."""
    if packet.state in ("established", "related"):
        return "replies and related packets of admitted connections are accepted (stateful)"
    sets = _Sets(ds)
    for rule in device.rules:
        if ds.contains(rule_set(ds, rule, sets), packet._replace(state="new")):
            info = device.flows[rule.flow]
            return f"{info.location} ({rule.source_zone} -> {', '.join(rule.destination_zones)}, in by {rule.ingress}, " \
                   f"out by {rule.egress})"
    return ""


def compare(device: DeviceIntent, ds: DeviceSpace, accepted, trace: Callable[[DevicePacket], str],
            scope=None, tracked=TRACKED_ICMP, feasible=None) -> Proof:
    """Prove `accepted` (what the target accepts, in `ds`) equal to the device's intent.
    `trace(packet)` says which of the target's rules decided a packet (for the counterexample).
    `scope`, if given, is the part of the space the target's config speaks for (a Cisco zone-based
    firewall does not filter between two interfaces it has no zone for): the proof is of that part.
    `feasible`, if given, is what the target can do at all (a switch sends a packet only to the port
    of its destination): the intent is held to it, what the target accepts is not (so a packet it
    sends elsewhere is still a counterexample)."""
    import time

    started = time.perf_counter()
    scope = ds.true if scope is None else ds.true & scope
    expected = intended(ds, device, tracked) & scope & (ds.true if feasible is None else feasible)
    accepted = accepted & scope
    extra = accepted & ~expected
    missing = expected & ~accepted
    detail = {"seconds": round(time.perf_counter() - started, 3), "intent_nodes": expected.dag_size,
              "target_nodes": accepted.dag_size}
    for wrong, problem in ((extra, "allowed but not intended"), (missing, "intended but blocked")):
        packet = ds.pick(wrong)
        if packet is not None:
            return Proof(device.name, False, packet, problem, trace(packet), intent_rule_for(device, ds, packet), detail)
    return Proof(device.name, True, detail=detail)
