"""What a Cisco IOS / IOS-XE zone-based policy firewall (ZBF) config accepts, read from its text.

The input is the text of a config; ciscoconfparse2 (a real Cisco configuration parser) gives its
parent/child structure, and this module reads each line's words itself. The output is either the
set of packets the device forwards (a BDD of a `DeviceSpace`: ingress, egress, connection state,
family, addresses, protocol, L4 value), or, for one concrete packet, the verdict and what decided
it. It is written from Cisco's documented semantics (the subset is in the Cisco backend's spec),
not from the code that writes configs (render.py), so that a mistake there is not mirrored here.
The two evaluations, `accepted` (packet sets, by BDD) and `decide` (one packet, by integer and mask
arithmetic over the parsed entries), are written separately so that each checks the other.

Semantics implemented:

* `object-group network`: `host A`, `A M` (address and SUBNET mask, contiguous), `range A B`
  (inclusive), `group-object N`, `description`; IPv4 only. `object-group service`: `tcp`, `udp`
  (every port), `tcp|udp eq|neq|gt|lt N`, `tcp|udp range N M`, `icmp`, `icmp TYPE`,
  `group-object N`, `description`. A group must be defined (its block complete) before a line
  refers to it; so a group cannot contain itself, and group-objects cannot form a loop.
* `ip access-list extended`: `[SEQ] permit|deny PROTO SRC DST [PORTOP | ICMP] [log]`, PROTO `ip`
  (every protocol over IPv4), `tcp`, `udp`, `icmp` (ICMP over IPv4) or `object-group SVC`; SRC and
  DST `any`, `host A`, `A W` (address and WILDCARD mask, contiguous or not) or `object-group NET`.
  `ipv6 access-list`: `permit|deny PROTO SRC DST [PORTOP | ICMP] [log] [sequence N]`, PROTO `ipv6`,
  `tcp`, `udp`, `icmp` (ICMPv6); SRC and DST `any`, `host X::X`, `X::X/LEN`. PORTOP (destination
  port) `eq|neq|gt|lt N`, `range N M`; ICMP `TYPE [CODE]`. Entries run by sequence number (one
  without a number gets 10 more than the highest so far); the first that matches decides (permit:
  the ACL matches the packet); none: implicit deny. An ACL matches packets of its family only.
  Host bits under a mask are ignored (`10.0.0.1 0.0.0.255` is 10.0.0.0/24, as IOS normalises it).
* `class-map type inspect [match-any|match-all] NAME` (match-all when neither is written, as in
  IOS): `match access-group name ACL` lines; match-any matches when one of its ACLs permits the
  packet, match-all when all do.
* `policy-map type inspect`: `class type inspect C` blocks, then `class class-default` (always
  last, wherever it is written), each with one action: `inspect [PARAMETER-MAP]` or `pass` (admit),
  `drop [log]` (drop). The first class that matches decides; if none, class-default does (drop
  when it is absent or has no action). `parameter-map type inspect`: `audit-trail on` only (logging).
* `zone security Z`, `zone-pair security N source Z1 destination Z2` with `service-policy type
  inspect P`, `interface I` with `zone-member security Z`. For a packet from IN to OUT: neither a
  zone member: passes (ZBF does not see it); one only: dropped; the same zone: an intra-zone pair's
  policy decides, and with no such pair it passes (not inspected); different zones: the pair's
  policy decides, and with no pair it is dropped. A pair without a service-policy drops (intra-zone
  too). An interface in no zone, one the config lacks, and `OTHER` are all non-members.
* States: `established` and `related` packets (of sessions the firewall inspected) pass. Where a
  policy decides, `new` and `untracked` packets are judged by it; an `invalid` one is judged by it
  if it is an ICMP or ICMPv6 message of a type that cannot start a session (`untrackable_icmp`),
  and dropped otherwise (a TCP segment that is not a SYN, a UDP or ICMP request with no session),
  whatever the class's action (`pass` too). Where no policy decides (no zones, or one zone and no
  intra-zone pair), every state passes; where the zones drop, only `established` and `related` pass.

Refused (`Unsupported`, naming the line): inside the objects read, any line or word outside the
subset (named ports such as `www`, named ICMP messages, source-port tests, `established`, `dscp`,
`fragments`, `log-input`, other protocols, IPv6 members of network groups, object-groups in IPv6
ACLs, class-map lines other than `match access-group name`, empty class-maps, actions other than
the above, parameter-map settings other than `audit-trail on`); a reference to an object-group
not defined before it, to an ACL, class-map, policy-map, parameter-map or zone that does not
exist, or to a group of the other kind; a second definition of a name (object-groups share one
name space, so do IPv4 and IPv6 ACLs), a duplicate sequence number, a second zone-pair for the
same source and destination, an interface given two zones; a non-contiguous subnet mask in a
network group; `zone security default` and `self` (they change which traffic the zones cover),
`parameter-map type inspect-global`, object-groups of other kinds; and on an interface, a filter
outside this model: `ip access-group`, `ipv6 traffic-filter`, `service-policy`. Every other
top-level command (hostname, banners, routing, QoS class-maps, standard ACLs nothing refers to)
is ignored: it does not change the firewall's verdicts.

Interface names are compared exactly as written (IOS abbreviations such as `Gi0/1` are not
expanded). An interface the `DeviceSpace` has but the config does not is in no zone, like
interface 0 (`OTHER`); a zone member the space lacks is refused (build it with `interface_names`).

Public API: `Unsupported`, `IosConfig`, `Decision`, `read`, `interface_names`, `accepted`,
`decide`, `trace`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Iterable, NamedTuple

from septum.compiler.devices.prove import OTHER, STATES, TRACKED_ICMP, DevicePacket, DeviceSpace, untrackable_icmp
from septum.compiler.packets.addresses import WIDTH, AddressSet
from septum.compiler.packets.space import Packet


class Unsupported(Exception):
    """The config holds something outside the subset this evaluator reads exactly."""


# ---- the parsed config -------------------------------------------------------------------------

@dataclass(frozen=True)
class Masked:
    """The addresses whose bits under `care` are those of `value` (`value` has no other bits set):
    `any` (care 0), a host (every bit), a subnet, a wildcard."""

    family: int
    value: int
    care: int


@dataclass(frozen=True)
class Span:
    """`range A B` of a network object-group: IPv4 addresses from `first` to `last` inclusive."""

    first: int
    last: int


@dataclass(frozen=True)
class NetworkGroup:
    name: str
    members: tuple[Masked | Span | NetworkGroup, ...]
    description: str = ""


Address = Masked | Span | NetworkGroup


@dataclass(frozen=True)
class PortTest:
    """A destination-port test: `operator` eq, neq, gt, lt (one number) or range (two)."""

    operator: str
    numbers: tuple[int, ...]


@dataclass(frozen=True)
class IcmpTest:
    type: int
    code: int | None = None  # None: every code


@dataclass(frozen=True)
class Service:
    """One protocol clause. `protocol` is the packet space's name (tcp, udp, icmp, icmpv6), or None
    for every protocol of the ACL's family (`ip`, `ipv6`)."""

    protocol: str | None
    ports: PortTest | None = None
    icmp: IcmpTest | None = None


@dataclass(frozen=True)
class ServiceGroup:
    name: str
    members: tuple[Service | ServiceGroup, ...]
    description: str = ""


@dataclass(frozen=True)
class Entry:
    sequence: int
    permit: bool
    service: Service | ServiceGroup
    source: Address
    destination: Address
    text: str  # the line as written
    remark: str = ""  # the last remark before it in the file


@dataclass(frozen=True)
class AccessList:
    name: str
    family: int  # 4: ip access-list extended, 6: ipv6 access-list
    entries: tuple[Entry, ...]  # in sequence-number order

    @property
    def kind(self) -> str:
        return "ip access-list extended" if self.family == 4 else "ipv6 access-list"


@dataclass(frozen=True)
class ClassMap:
    name: str
    match_all: bool
    access_lists: tuple[str, ...]


@dataclass(frozen=True)
class Action:
    verb: str  # inspect, pass, drop
    text: str  # as written: "inspect SEPTUM-LOG", "drop log"
    parameter_map: str | None = None

    @property
    def admits(self) -> bool:
        return self.verb != "drop"


@dataclass(frozen=True)
class PolicyClass:
    class_map: str
    action: Action


@dataclass(frozen=True)
class PolicyMap:
    name: str
    classes: tuple[PolicyClass, ...]
    default: Action | None  # class class-default's action; None: absent or empty (drop)


@dataclass(frozen=True)
class ZonePair:
    name: str
    source: str
    destination: str
    policy: str | None


@dataclass
class IosConfig:
    network_groups: dict[str, NetworkGroup] = field(default_factory=dict)
    service_groups: dict[str, ServiceGroup] = field(default_factory=dict)
    access_lists: dict[str, AccessList] = field(default_factory=dict)
    class_maps: dict[str, ClassMap] = field(default_factory=dict)
    policy_maps: dict[str, PolicyMap] = field(default_factory=dict)
    parameter_maps: set[str] = field(default_factory=set)
    zones: dict[str, str] = field(default_factory=dict)  # name -> description
    zone_pairs: dict[str, ZonePair] = field(default_factory=dict)
    interfaces: dict[str, str | None] = field(default_factory=dict)  # name -> its zone, if any

    def zone_of(self, interface: str) -> str | None:
        return self.interfaces.get(interface) if interface != OTHER else None

    def pair(self, source: str, destination: str) -> ZonePair | None:
        for pair in self.zone_pairs.values():
            if (pair.source, pair.destination) == (source, destination):
                return pair
        return None


# ---- reading: lines and words --------------------------------------------------------------------

PORT_OPERATORS = ("eq", "neq", "gt", "lt", "range")
ALL_BITS = {family: (1 << width) - 1 for family, width in WIDTH.items()}
INTERFACE_FILTERS = (("ip", "access-group"), ("ipv6", "traffic-filter"), ("service-policy",))
ACTIONS = {("inspect",), ("pass",), ("drop",), ("drop", "log")}


class _Words:
    """The words of one line, taken left to right; `where` names the line for error messages."""

    def __init__(self, words: list[str], where: str) -> None:
        self.words, self.at, self.where = words, 0, where

    def peek(self) -> str | None:
        return self.words[self.at] if self.at < len(self.words) else None

    def take(self, what: str) -> str:
        word = self.peek()
        if word is None:
            raise self.refuse(f"{what} expected")
        self.at += 1
        return word

    def accept(self, *choices: str) -> str | None:
        if self.peek() in choices:
            return self.take("")
        return None

    def number(self, what: str, high: int) -> int:
        word = self.take(what)
        if not (word.isascii() and word.isdecimal()):
            raise self.refuse(f"{what} '{word}' (only decimal numbers are read)")
        value = int(word)
        if value > high:
            raise self.refuse(f"{what} {value} out of range (0-{high})")
        return value

    def refuse(self, problem: str) -> Unsupported:
        return Unsupported(f"{self.where}: {problem}")

    def end(self) -> None:
        if self.peek() is not None:
            raise self.refuse(f"'{' '.join(self.words[self.at:])}' is not read")


class _Line(NamedTuple):
    number: int  # 1-based
    text: str  # without indentation
    children: tuple[_Line, ...]

    @property
    def words(self) -> list[str]:
        return self.text.split()

    @property
    def where(self) -> str:
        return f"line {self.number} '{self.text}'"

    def tokens(self) -> _Words:
        return _Words(self.words, self.where)

    def leaf(self) -> _Line:
        """The line itself, refused if it has lines under it."""
        if self.children:
            raise Unsupported(f"{self.where}: has lines under it ('{self.children[0].text}')")
        return self


def _structure(text: str) -> list[_Line]:
    """The top-level lines of the config, each with its children (comments left out), as
    ciscoconfparse2 reads the hierarchy."""
    from ciscoconfparse2 import CiscoConfParse

    lines = text.splitlines()
    if not lines:
        return []
    parsed = CiscoConfParse(lines, syntax="ios", loguru=False)

    def convert(obj) -> _Line:
        children = tuple(convert(child) for child in obj.children if not child.is_comment)
        return _Line(obj.linenum + 1, obj.text.strip(), children)

    return [convert(obj) for obj in parsed.objs if obj.parent is obj and not obj.is_comment]


def _ipv4(words: _Words, what: str) -> int:
    word = words.take(what)
    try:
        return int(ipaddress.IPv4Address(word))
    except ValueError:
        raise words.refuse(f"'{word}' is not an IPv4 address") from None


def _ipv6(words: _Words, word: str) -> ipaddress.IPv6Network:
    try:
        return ipaddress.IPv6Network(word, strict=False)
    except ValueError:
        raise words.refuse(f"'{word}' is not an IPv6 address or prefix") from None


def _masked(family: int, value: int, care: int) -> Masked:
    return Masked(family, value & care, care)


def _prefix_length(care: int, family: int) -> int | None:
    """The prefix length of a mask of contiguous leading ones, else None."""
    free = ALL_BITS[family] & ~care
    if free & (free + 1):
        return None
    return WIDTH[family] - free.bit_length()


def _description(line: _Line) -> str:
    return line.text.split(None, 1)[1] if " " in line.text else ""


class _Reader:
    """Reads the top-level blocks into an `IosConfig`, in file order."""

    def __init__(self) -> None:
        self.config = IosConfig()
        self.acl_names: set[str] = set()

    def block(self, line: _Line) -> None:
        words = line.words
        match words:
            case ["object-group", "network", name]:
                self.network_group(line, name)
            case ["object-group", "service", name]:
                self.service_group(line, name)
            case ["object-group", *_]:
                raise Unsupported(f"{line.where}: only network and service object-groups are read")
            case ["ip", "access-list", "extended", name]:
                self.access_list(line, name, 4)
            case ["ipv6", "access-list", name]:
                self.access_list(line, name, 6)
            case ["class-map", "type", "inspect", *rest]:
                self.class_map(line, rest)
            case ["policy-map", "type", "inspect", name]:
                self.policy_map(line, name)
            case ["parameter-map", "type", "inspect", name]:
                self.parameter_map(line, name)
            case ["zone", "security", name]:
                self.zone(line, name)
            case ["zone-pair", "security", name, "source", source, "destination", destination]:
                self.zone_pair(line, name, source, destination)
            case ["zone" | "zone-pair", *_] | ["policy-map" | "parameter-map", "type", "inspect", *_] \
                    | ["parameter-map", "type", "inspect-global", *_]:
                raise Unsupported(f"{line.where}: not read by this evaluator")
            case ["interface", name]:
                self.interface(line, name)
            case _:
                pass  # hostname, banners, routing...: no effect on the firewall's verdicts

    # ---- object-groups ----

    def _group_names(self) -> set[str]:
        return set(self.config.network_groups) | set(self.config.service_groups)

    def network_group(self, line: _Line, name: str) -> None:
        _refuse_taken(line, name, self._group_names(), "object-group")
        members, description = [], ""
        for child in line.children:
            words = child.leaf().tokens()
            if words.peek() == "description":
                description = _description(child)
                continue
            members.append(self._network_member(words))
            words.end()
        self.config.network_groups[name] = NetworkGroup(name, tuple(members), description)

    def _network_member(self, words: _Words) -> Masked | Span | NetworkGroup:
        if words.accept("host"):
            return Masked(4, _ipv4(words, "an address"), ALL_BITS[4])
        if words.accept("range"):
            low, high = _ipv4(words, "an address"), _ipv4(words, "an address")
            if low > high:
                raise words.refuse("range from a higher address to a lower one")
            return Span(low, high)
        if words.accept("group-object"):
            return self.network_reference(words)
        address = _ipv4(words, "an address")
        mask = _ipv4(words, "a subnet mask")
        if _prefix_length(mask, 4) is None:
            raise words.refuse("a subnet mask must be contiguous (a network group takes subnet masks, not wildcards)")
        return _masked(4, address, mask)

    def network_reference(self, words: _Words) -> NetworkGroup:
        name = words.take("an object-group name")
        group = self.config.network_groups.get(name)
        if group is None:
            other = " (it is a service group)" if name in self.config.service_groups else ""
            raise words.refuse(f"network object-group {name} is not defined before this line{other}")
        return group

    def service_group(self, line: _Line, name: str) -> None:
        _refuse_taken(line, name, self._group_names(), "object-group")
        members, description = [], ""
        for child in line.children:
            words = child.leaf().tokens()
            first = words.take("a service")
            if first == "description":
                description = _description(child)
                continue
            if first == "group-object":
                members.append(self.service_reference(words))
            elif first in ("tcp", "udp"):
                members.append(Service(first, ports=_port_test(words)))
            elif first == "icmp":
                kind = words.number("an ICMP type", 255) if words.peek() is not None else None
                members.append(Service("icmp", icmp=None if kind is None else IcmpTest(kind)))
            else:
                raise words.refuse(f"service '{first}' is not read")
            words.end()
        self.config.service_groups[name] = ServiceGroup(name, tuple(members), description)

    def service_reference(self, words: _Words) -> ServiceGroup:
        name = words.take("an object-group name")
        group = self.config.service_groups.get(name)
        if group is None:
            other = " (it is a network group)" if name in self.config.network_groups else ""
            raise words.refuse(f"service object-group {name} is not defined before this line{other}")
        return group

    # ---- access lists ----

    def access_list(self, line: _Line, name: str, family: int) -> None:
        _refuse_taken(line, name, self.acl_names, "access-list")
        self.acl_names.add(name)
        entries: dict[int, Entry] = {}
        remark = ""
        for child in line.children:
            child.leaf()
            if child.words[0] == "remark":
                remark = _description(child)
                continue
            read = self._ipv4_entry if family == 4 else self._ipv6_entry
            entry = read(child, remark, max(entries, default=0) + 10)
            if entry.sequence in entries:
                raise Unsupported(f"{child.where}: sequence number {entry.sequence} is used twice")
            entries[entry.sequence] = entry
        ordered = tuple(entries[sequence] for sequence in sorted(entries))
        self.config.access_lists[name] = AccessList(name, family, ordered)

    def _ipv4_entry(self, line: _Line, remark: str, next_sequence: int) -> Entry:
        words = line.tokens()
        sequence = words.number("a sequence number", 2147483647) if words.peek().isdecimal() else next_sequence
        permit = _permit(words)
        kind = words.take("a protocol")
        if kind == "object-group":
            service: Service | ServiceGroup = self.service_reference(words)
        elif kind in ("ip", "tcp", "udp", "icmp"):
            service = Service(None if kind == "ip" else kind)
        else:
            raise words.refuse(f"protocol '{kind}' is not read (ip, tcp, udp, icmp, object-group)")
        source = self._ipv4_address(words)
        destination = self._ipv4_address(words, after_source=kind in ("tcp", "udp"))
        if isinstance(service, Service):
            service = _operators(words, service)
        words.accept("log")
        words.end()
        return Entry(sequence, permit, service, source, destination, line.text, remark)

    def _ipv4_address(self, words: _Words, after_source: bool = False) -> Address:
        if after_source and words.peek() in PORT_OPERATORS:
            raise words.refuse("source-port tests are not read")
        if words.accept("any"):
            return Masked(4, 0, 0)
        if words.accept("host"):
            return Masked(4, _ipv4(words, "an address"), ALL_BITS[4])
        if words.accept("object-group"):
            return self.network_reference(words)
        address = _ipv4(words, "an address")
        wildcard = _ipv4(words, "a wildcard mask")
        return _masked(4, address, ALL_BITS[4] & ~wildcard)

    def _ipv6_entry(self, line: _Line, remark: str, next_sequence: int) -> Entry:
        all_words = line.words
        sequence = next_sequence
        if len(all_words) >= 2 and all_words[-2] == "sequence":
            sequence = _Words(all_words[-1:], line.where).number("a sequence number", 4294967295)
            all_words = all_words[:-2]
        words = _Words(all_words, line.where)
        permit = _permit(words)
        kind = words.take("a protocol")
        if kind not in ("ipv6", "tcp", "udp", "icmp"):
            raise words.refuse(f"protocol '{kind}' is not read (ipv6, tcp, udp, icmp)")
        service = Service({"ipv6": None, "icmp": "icmpv6"}.get(kind, kind))
        source = _ipv6_address(words)
        if kind in ("tcp", "udp") and words.peek() in PORT_OPERATORS:
            raise words.refuse("source-port tests are not read")
        destination = _ipv6_address(words)
        service = _operators(words, service)
        words.accept("log")
        words.end()
        return Entry(sequence, permit, service, source, destination, line.text, remark)

    # ---- classes, policies, zones, interfaces ----

    def class_map(self, line: _Line, rest: list[str]) -> None:
        if len(rest) == 2 and rest[0] in ("match-any", "match-all"):
            match_all, name = rest[0] == "match-all", rest[1]
        elif len(rest) == 1:
            match_all, name = True, rest[0]  # IOS's default
        else:
            raise Unsupported(f"{line.where}: not read by this evaluator")
        _refuse_taken(line, name, self.config.class_maps, "class-map")
        names = []
        for child in line.children:
            words = child.leaf().words
            if words[0] == "description":
                continue
            if len(words) != 4 or words[:3] != ["match", "access-group", "name"]:
                raise Unsupported(f"{child.where}: only 'match access-group name ACL' is read")
            names.append(words[3])
        if not names:
            raise Unsupported(f"{line.where}: a class-map with no match line")
        self.config.class_maps[name] = ClassMap(name, match_all, tuple(names))

    def policy_map(self, line: _Line, name: str) -> None:
        _refuse_taken(line, name, self.config.policy_maps, "policy-map")
        classes: list[PolicyClass] = []
        default: Action | None = None
        seen_default = False
        for child in line.children:
            words = child.words
            if words[0] == "description":
                child.leaf()
            elif words == ["class", "class-default"]:
                if seen_default:
                    raise Unsupported(f"{child.where}: class-default given twice")
                seen_default = True
                default = _action(child, optional=True)
            elif len(words) == 4 and words[:3] == ["class", "type", "inspect"]:
                if any(c.class_map == words[3] for c in classes):
                    raise Unsupported(f"{child.where}: class {words[3]} given twice")
                classes.append(PolicyClass(words[3], _action(child, optional=False)))
            else:
                raise Unsupported(f"{child.where}: not read in a policy-map")
        self.config.policy_maps[name] = PolicyMap(name, tuple(classes), default)

    def parameter_map(self, line: _Line, name: str) -> None:
        _refuse_taken(line, name, self.config.parameter_maps, "parameter-map")
        for child in line.children:
            if child.leaf().words != ["audit-trail", "on"]:
                raise Unsupported(f"{child.where}: only 'audit-trail on' is read in a parameter-map")
        self.config.parameter_maps.add(name)

    def zone(self, line: _Line, name: str) -> None:
        if name in ("default", "self"):
            raise Unsupported(f"{line.where}: the {name} zone is outside this model")
        _refuse_taken(line, name, self.config.zones, "zone")
        description = ""
        for child in line.children:
            if child.leaf().words[0] != "description":
                raise Unsupported(f"{child.where}: only a description is read in a zone")
            description = _description(child)
        self.config.zones[name] = description

    def zone_pair(self, line: _Line, name: str, source: str, destination: str) -> None:
        _refuse_taken(line, name, self.config.zone_pairs, "zone-pair")
        policy = None
        for child in line.children:
            words = child.leaf().words
            if words[0] == "description":
                continue
            if len(words) != 4 or words[:3] != ["service-policy", "type", "inspect"] or policy is not None:
                raise Unsupported(f"{child.where}: only one 'service-policy type inspect POLICY' is read")
            policy = words[3]
        self.config.zone_pairs[name] = ZonePair(name, source, destination, policy)

    def interface(self, line: _Line, name: str) -> None:
        _refuse_taken(line, name, self.config.interfaces, "interface")
        zone = None
        for child in line.children:
            words = child.words
            if any(tuple(words[:len(f)]) == f for f in INTERFACE_FILTERS):
                raise Unsupported(f"{child.where}: an interface filter outside the zone-based firewall model")
            if words[0] == "zone-member":
                if len(child.leaf().words) != 3 or words[1] != "security" or zone is not None:
                    raise Unsupported(f"{child.where}: one 'zone-member security ZONE' is read")
                zone = words[2]
        self.config.interfaces[name] = zone

    # ---- after the last line ----

    def check_references(self) -> None:
        """Every name a class-map, policy-map, zone-pair or interface uses is defined."""
        config = self.config
        for class_map in config.class_maps.values():
            for name in class_map.access_lists:
                _require(name, config.access_lists, f"class-map {class_map.name}: access-list")
        for policy in config.policy_maps.values():
            for block in policy.classes:
                _require(block.class_map, config.class_maps, f"policy-map {policy.name}: class-map")
            for action in [block.action for block in policy.classes] + [policy.default]:
                if action is not None and action.parameter_map is not None:
                    _require(action.parameter_map, config.parameter_maps, f"policy-map {policy.name}: parameter-map")
        directions: set[tuple[str, str]] = set()
        for pair in config.zone_pairs.values():
            for zone in (pair.source, pair.destination):
                _require(zone, config.zones, f"zone-pair {pair.name}: zone")
            if pair.policy is not None:
                _require(pair.policy, config.policy_maps, f"zone-pair {pair.name}: policy-map")
            if (pair.source, pair.destination) in directions:
                raise Unsupported(f"zone-pair {pair.name}: a second zone-pair from {pair.source} to {pair.destination}")
            directions.add((pair.source, pair.destination))
        for interface, zone in config.interfaces.items():
            if zone is not None:
                _require(zone, config.zones, f"interface {interface}: zone")


def _require(name: str, defined: Iterable[str], what: str) -> None:
    if name not in defined:
        raise Unsupported(f"{what} {name} is not defined")


def _refuse_taken(line: _Line, name: str, taken: Iterable[str], what: str) -> None:
    if name in taken:
        raise Unsupported(f"{line.where}: {what} {name} is defined twice")


def _permit(words: _Words) -> bool:
    verb = words.take("permit or deny")
    if verb not in ("permit", "deny"):
        raise words.refuse(f"'{verb}' is not read (permit, deny, remark)")
    return verb == "permit"


def _port_test(words: _Words) -> PortTest | None:
    operator = words.accept(*PORT_OPERATORS)
    if operator is None:
        return None
    numbers = tuple(_port(words) for _ in range(2 if operator == "range" else 1))
    if operator == "range" and numbers[0] > numbers[1]:
        raise words.refuse("a port range from a higher port to a lower one")
    return PortTest(operator, numbers)


def _port(words: _Words) -> int:
    word = words.peek()
    if word is not None and not word.isdecimal():
        raise words.refuse(f"named port '{word}' (only numbers are read)")
    return words.number("a port", 65535)


def _operators(words: _Words, service: Service) -> Service:
    """The destination-port test of tcp and udp, the ICMP type and code of icmp and icmpv6."""
    if service.protocol in ("tcp", "udp"):
        return Service(service.protocol, ports=_port_test(words))
    if service.protocol in ("icmp", "icmpv6") and (words.peek() or "").isdecimal():
        kind = words.number("an ICMP type", 255)
        code = words.number("an ICMP code", 255) if (words.peek() or "").isdecimal() else None
        return Service(service.protocol, icmp=IcmpTest(kind, code))
    return service


def _ipv6_address(words: _Words) -> Masked:
    first = words.take("an address")
    if first == "any":
        return Masked(6, 0, 0)
    if first == "host":
        word = words.take("an address")
        if "/" in word:
            raise words.refuse(f"'{word}' is not a host address")
        return Masked(6, int(_ipv6(words, word).network_address), ALL_BITS[6])
    if "/" not in first:
        raise words.refuse(f"'{first}' is not read (any, host X::X, X::X/LEN)")
    network = _ipv6(words, first)
    return Masked(6, int(network.network_address), int(network.netmask))


def _action(line: _Line, optional: bool) -> Action | None:
    """The one action of a policy-map class block."""
    if not line.children:
        if optional:
            return None
        raise Unsupported(f"{line.where}: a class with no action")
    if len(line.children) > 1:
        raise Unsupported(f"{line.where}: more than one action ('{line.children[1].text}')")
    action = line.children[0].leaf()
    words = action.words
    if len(words) == 2 and words[0] == "inspect":
        return Action("inspect", action.text, words[1])
    if tuple(words) not in ACTIONS:
        raise Unsupported(f"{action.where}: action not read (inspect, pass, drop)")
    return Action(words[0], action.text)


def read(text: str) -> IosConfig:
    """The config, parsed (structure by ciscoconfparse2, words here) and its references checked."""
    reader = _Reader()
    for line in _structure(text):
        reader.block(line)
    reader.check_references()
    return reader.config


def interface_names(config: IosConfig) -> set[str]:
    """Every interface the config has a block for (zone member or not)."""
    return set(config.interfaces)


# ---- the zone-based firewall's rules (shared by both evaluations) ---------------------------------

class _Route(NamedTuple):
    verdict: str  # "pass" (not filtered), "drop", or "policy" (the pair's policy decides)
    reason: str
    pair: ZonePair | None = None


def _side(name: str) -> str:
    return name or "another interface"


def _route(config: IosConfig, ingress: str, egress: str) -> _Route:
    """What the zones say of a packet from `ingress` to `egress`, before any policy."""
    source, destination = config.zone_of(ingress), config.zone_of(egress)
    if source is None and destination is None:
        return _Route("pass", f"in by {_side(ingress)}, out by {_side(egress)}, neither in a zone: pass (not filtered)")
    if source is None or destination is None:
        member, zone, other = (ingress, source, egress) if source else (egress, destination, ingress)
        return _Route("drop", f"{member} is in zone {zone}, {_side(other)} in no zone: drop")
    pair = config.pair(source, destination)
    if pair is None:
        if source == destination:
            return _Route("pass", f"{ingress} and {egress} are both in zone {source}, no intra-zone zone-pair: pass")
        return _Route("drop", f"no zone-pair from {source} to {destination}: drop")
    if pair.policy is None:
        return _Route("drop", f"zone-pair {pair.name} has no service-policy: drop")
    return _Route("policy", f"zone-pair {pair.name} policy {pair.policy}", pair)


# ---- the packet sets (BDD) --------------------------------------------------------------------

def _port_ranges(test: PortTest) -> list[tuple[int, int]]:
    n = test.numbers[0]
    below, above = [(0, n - 1)] if n > 0 else [], [(n + 1, 65535)] if n < 65535 else []
    return {"eq": [(n, n)], "range": [test.numbers], "gt": above, "lt": below, "neq": below + above}[test.operator]


class _Sets:
    """The BDDs of a config's groups, ACLs, classes and policies, made once each."""

    def __init__(self, config: IosConfig, ds: DeviceSpace) -> None:
        self.config, self.space = config, ds.space
        self.cache: dict[tuple, object] = {}

    def _cached(self, key: tuple, build):
        found = self.cache.get(key)
        if found is None:
            found = self.cache[key] = build()
        return found

    def address(self, side: str, address: Address):
        space = self.space
        if isinstance(address, NetworkGroup):
            return self._cached(("group", side, address.name),
                                lambda: space.union(self.address(side, m) for m in address.members))
        if isinstance(address, Span):
            return space.addresses(side, AddressSet.of([(4, address.first, address.last)]))
        length = _prefix_length(address.care, address.family)
        if length is not None:
            return space.prefix(side, address.family, address.value, length)
        return self._cached(("wildcard", side, address), lambda: self._wildcard(side, address))

    def _wildcard(self, side: str, address: Masked):
        """A non-contiguous mask: one literal per bit that must match (exact addresses only)."""
        if self.space.atoms is not None:
            raise Unsupported("a non-contiguous wildcard mask needs a space of exact addresses")
        width = WIDTH[address.family]
        node = self.space.family[address.family]
        for i, (zero, one) in enumerate(self.space.addr_bits[side][:width]):
            bit = width - 1 - i
            if address.care >> bit & 1:
                node = node & (one if address.value >> bit & 1 else zero)
        return node

    def service(self, family: int, service: Service | ServiceGroup):
        space = self.space
        if isinstance(service, ServiceGroup):
            return self._cached(("services", family, service.name),
                                lambda: space.union(self.service(family, m) for m in service.members))
        if service.protocol is None:
            return space.family[family]
        if service.protocol in ("tcp", "udp"):
            node = space.family[family] & space.protocol[service.protocol]
            if service.ports is not None:
                node = node & space.union(space.l4_range(low, high) for low, high in _port_ranges(service.ports))
            return node
        if service.icmp is None:
            return space.family[family] & space.match(service.protocol)
        return space.family[family] & space.match(service.protocol, icmp_type=service.icmp.type,
                                                  icmp_code=service.icmp.code)

    def entry(self, family: int, entry: Entry):
        return self.service(family, entry.service) & self.address("s", entry.source) \
            & self.address("d", entry.destination)

    def access_list(self, name: str):
        """The packets the ACL permits: each entry takes what no entry before it matched."""
        def build():
            acl = self.config.access_lists[name]
            permitted = decided = self.space.false
            for entry in acl.entries:
                matched = self.entry(acl.family, entry)
                if entry.permit:
                    permitted = permitted | (matched & ~decided)
                decided = decided | matched
            return permitted
        return self._cached(("acl", name), build)

    def class_map(self, name: str):
        def build():
            class_map = self.config.class_maps[name]
            sets = [self.access_list(acl) for acl in class_map.access_lists]
            node = sets[0]
            for other in sets[1:]:
                node = (node & other) if class_map.match_all else (node | other)
            return node
        return self._cached(("class", name), build)

    def policy(self, name: str):
        """The packets the policy admits: the first class that matches decides, else class-default."""
        def build():
            policy = self.config.policy_maps[name]
            admitted = decided = self.space.false
            for block in policy.classes:
                matched = self.class_map(block.class_map)
                if block.action.admits:
                    admitted = admitted | (matched & ~decided)
                decided = decided | matched
            if policy.default is not None and policy.default.admits:
                admitted = admitted | (self.space.true & ~decided)
            return admitted
        return self._cached(("policy", name), build)


def accepted(config: IosConfig, ds: DeviceSpace):
    """Every (ingress, egress, state, packet) of the space the device forwards."""
    missing = sorted(name for name, zone in config.interfaces.items() if zone is not None and name not in ds.index)
    if missing:
        raise Unsupported(f"zone member {missing[0]} is not an interface of the DeviceSpace (build it with "
                          "interface_names)")
    sets = _Sets(config, ds)
    judged = ds.state("new") | ds.state("untracked") | (ds.state("invalid") & untrackable_icmp(ds.space))
    node = ds.state("established") | ds.state("related")
    for ingress in ds.names:
        for egress in ds.names:
            route = _route(config, ingress, egress)
            if route.verdict == "drop":
                continue
            body = ds.true if route.verdict == "pass" else judged & sets.policy(route.pair.policy)
            node = node | (ds.interface("i", ingress) & ds.interface("o", egress) & body)
    return ds.true & node


# ---- one packet (integer arithmetic) ----------------------------------------------------------

class Decision(NamedTuple):
    accepted: bool
    reason: str


def _address_matches(address: Address, value: int) -> bool:
    if isinstance(address, NetworkGroup):
        return any(_address_matches(member, value) for member in address.members)
    if isinstance(address, Span):
        return address.first <= value <= address.last
    return value & address.care == address.value


def _port_passes(test: PortTest, port: int) -> bool:
    n = test.numbers[0]
    if test.operator == "eq":
        return port == n
    if test.operator == "neq":
        return port != n
    if test.operator == "gt":
        return port > n
    if test.operator == "lt":
        return port < n
    return n <= port <= test.numbers[1]


def _service_matches(service: Service | ServiceGroup, packet: Packet) -> bool:
    if isinstance(service, ServiceGroup):
        return any(_service_matches(member, packet) for member in service.members)
    if service.protocol is None:
        return True
    if packet.protocol != service.protocol:
        return False
    if service.ports is not None:
        return _port_passes(service.ports, packet.port)
    if service.icmp is not None:
        return packet.icmp_type == service.icmp.type and service.icmp.code in (None, packet.icmp_code)
    return True


def _first_match(acl: AccessList, packet: Packet) -> Entry | None:
    if packet.family != acl.family:
        return None
    for entry in acl.entries:
        if _service_matches(entry.service, packet) and _address_matches(entry.source, packet.source) \
                and _address_matches(entry.destination, packet.destination):
            return entry
    return None


def _describe_entry(acl: AccessList, entry: Entry) -> str:
    remark = f" (remark {entry.remark})" if entry.remark else ""
    return f'{acl.kind} {acl.name} entry {entry.sequence} "{entry.text}"{remark}'


def _class_permits(config: IosConfig, class_map: ClassMap, packet: Packet) -> list[str] | None:
    """The ACL entries by which the class matches the packet, or None if it does not."""
    permits = []
    for name in class_map.access_lists:
        acl = config.access_lists[name]
        entry = _first_match(acl, packet)
        if entry is not None and entry.permit:
            if not class_map.match_all:
                return [_describe_entry(acl, entry)]
            permits.append(_describe_entry(acl, entry))
        elif class_map.match_all:
            return None
    return permits or None


def _untrackable(packet: Packet) -> bool:
    return packet.protocol in TRACKED_ICMP and packet.icmp_type not in TRACKED_ICMP[packet.protocol]


def _judge(config: IosConfig, route: _Route, packet: Packet) -> Decision:
    """The zone-pair's policy, for a packet judged as a new one."""
    policy = config.policy_maps[route.pair.policy]
    for block in policy.classes:
        permits = _class_permits(config, config.class_maps[block.class_map], packet)
        if permits is not None:
            return Decision(block.action.admits,
                            f"{route.reason} class {block.class_map} ({block.action.text}): " + "; ".join(permits))
    if policy.default is None:
        return Decision(False, f"{route.reason}: no class matches, class-default drop")
    return Decision(policy.default.admits, f"{route.reason}: no class matches, class-default {policy.default.text}")


def decide(config: IosConfig, ingress: str, egress: str, state: str, packet: Packet) -> Decision:
    """The verdict for one packet from `ingress` to `egress` (OTHER: an interface not named) in a
    connection state of `STATES`, and what decided it."""
    if state not in STATES:
        raise ValueError(f"state {state!r} is not one of {STATES}")
    if state in ("established", "related"):
        return Decision(True, f"{state} packet of an inspected session: pass")
    route = _route(config, ingress, egress)
    if route.verdict != "policy":
        return Decision(route.verdict == "pass", route.reason)
    if state == "invalid" and not _untrackable(packet):
        return Decision(False, f"{route.reason}: invalid {packet.protocol} packet outside any session "
                               "(not one that starts a session): drop")
    return _judge(config, route, packet)


def trace(config: IosConfig, ds: DeviceSpace, packet: DevicePacket) -> str:
    """What decided a packet of the space (for a proof's counterexample)."""
    return decide(config, packet.ingress, packet.egress, packet.state, packet.packet).reason
