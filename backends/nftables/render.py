"""A device's compiled intent as an nftables ruleset (templates/ruleset.nft.j2).

One `table inet` that Septum owns, hooked at forward, default drop:

* `ct state` first: established and related packets accepted (return traffic and ICMP errors of
  permitted connections); invalid packets dropped, except ICMP messages conntrack cannot track
  (anything but the request types), which the policy alone judges, as it does new packets;
* the source zone classified once, together with the interface the packet arrived on: a verdict
  map from `iifname . ip saddr` (`ip6 saddr`) to a chain per (source zone, ingress). A zone's
  addresses are known only on the interfaces it arrives through, so a spoofed source finds no
  chain and meets the policy (anti-spoofing);
* in that chain, one lookup per kind of packet in interval sets of disjoint elements
  `oifname . ip daddr . meta l4proto . th dport` (icmp: `icmp type . icmp code`), with `ip saddr`
  in front where a flow allows only part of the zone: the rules of the chain as disjoint boxes;
* except for logged flows and wide flows (a tag, group or `zones holding` selector that gives
  the flow many zone pairs here; `WIDE`): each has a rule of its own in each chain it concerns,
  over named sets of its destinations (`oifname . ip daddr`) and services that every chain
  shares, so a flow between many zones costs a rule per source zone, not an element per zone pair.
  Logged flows log with a prefix naming their zone-file line.

The ruleset grows with the zones and the rules, not with their products, and every rule and
set element cites the flows it comes from.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import lru_cache

from septum.compiler.devices.backend import Artifact, Options, Output
from septum.compiler.devices.boxes import disjoint_boxes
from septum.compiler.devices.intent import DeviceIntent, Rule
from septum.compiler.devices.prove import TRACKED_ICMP
from septum.compiler.diagnostics import Diagnostic
from septum.compiler.packets.addresses import AddressSet

from .text import (COMMENT_BYTES, LOG_PREFIX_BYTES, NAME_BYTES, escape, icmp_runs, interface_problem, interval,
                   number_range)

_ADDRESS = {4: ("ip", "ipv4_addr"), 6: ("ip6", "ipv6_addr")}
_ICMP = {4: "icmp", 6: "icmpv6"}
_MORE = " +99999"  # room a comment keeps for the count of other flows
WIDE = 2  # a flow gets rules of its own when set elements would cost this many times more


@dataclass
class _Set:
    name: str
    type: str
    elements: list[str] = field(default_factory=list)


@dataclass
class _Map:
    name: str
    key: str
    type: str
    elements: list[str] = field(default_factory=list)


@dataclass
class _Chain:
    name: str
    comment: str
    rules: list[str] = field(default_factory=list)


@lru_cache(maxsize=1)
def _template():
    import jinja2

    environment = jinja2.Environment(loader=jinja2.PackageLoader("septum.backends.nftables", "templates"),
                                     autoescape=False, keep_trailing_newline=True, trim_blocks=True,
                                     lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    return environment.get_template("ruleset.nft.j2")


def chain_name(zone: str, ingress: str) -> str:
    return f"from-{zone}.{ingress}"


def limits(device: DeviceIntent) -> list[Diagnostic]:
    """E602: what of this device nftables or Linux cannot hold (names, comments, log prefixes);
    E603: what it has no such thing for (switch ports)."""
    found = []
    for interface in device.interfaces:
        if interface.port is not None:
            found.append(Diagnostic(
                "E603", f"device '{device.name}' is an nftables device, which has interfaces, not switch ports",
                interface.span, "bind an interface (`interface eth1 zone NAME`), or make the device an openflow switch"))
            continue
        problem = interface_problem(interface.name)
        if problem:
            found.append(Diagnostic("E602", f"interface name '{interface.name}' {problem}", interface.span,
                                    "use the name Linux gives the interface (`ip link` lists them)"))
    longest = max((len(i) for i in device.arrivals), default=0)
    for zone in device.zones:
        size = len(chain_name(zone, "")) + longest + len(".hp4")
        if size > NAME_BYTES:
            found.append(Diagnostic("E602", f"zone name '{zone[:40]}…' ({len(zone)} bytes) makes nftables names of "
                                    f"{size} bytes, over their limit of {NAME_BYTES}", device.span,
                                    "give the zone a shorter name"))
    used = sorted({rule.flow for rule in device.rules})
    for index in used:
        flow = device.flows[index]
        comment = escape(flow.location)
        if len(comment) + len(_MORE) > COMMENT_BYTES:
            found.append(Diagnostic(
                "E602", f"this flow's location '{comment}' is {len(comment)} bytes; an nftables comment citing it "
                f"holds at most {COMMENT_BYTES - len(_MORE)}", flow.span,
                "move the zone file to a shorter path (relative to the policy directory)"))
        elif flow.log and len(_log_prefix(comment)) > LOG_PREFIX_BYTES:
            found.append(Diagnostic(
                "E602", f"this flow's log prefix would be {len(_log_prefix(comment))} bytes; nftables log prefixes "
                f"hold at most {LOG_PREFIX_BYTES}", flow.span, "move the zone file to a shorter path"))
    return found


def _log_prefix(location: str) -> str:
    return f"septum {location}: "


def _set_type(kind: str, family: int, wide: bool) -> str:
    address = _ADDRESS[family][1]
    tail = "inet_proto . inet_service" if kind == "p" else (
        "icmp_type . icmp_code" if family == 4 else "icmpv6_type . icmpv6_code")
    return ("" if wide else f"{address} . ") + f"ifname . {address} . {tail}"


def _provenance(device: DeviceIntent, flows: tuple[int, ...]) -> str:
    text = escape(device.flows[flows[0]].location)
    return text if len(flows) == 1 else f"{text} +{len(flows) - 1}"


def _split_services(family: int, services) -> tuple[list[str], list[str]]:
    """A family's service runs as `proto . ports` and `type . code` values."""
    icmp = _ICMP[family]
    ports = [f"{s.protocol} . {number_range(s.low, s.high)}" for s in services if s.protocol in ("tcp", "udp")]
    codes = [f"{t} . {c}" for s in services if s.protocol == icmp for t, c in icmp_runs(s.low, s.high)]
    return ports, codes


def _own_rule_flows(device: DeviceIntent) -> set[int]:
    """The flows written as rules of their own: logged ones, and wide ones, whose destinations
    would be repeated in the sets of many source zones' chains (`WIDE` times more elements than
    a rule per chain over one shared set of destinations)."""
    as_elements: Counter = Counter()
    as_rules: Counter = Counter()
    destinations: dict[int, set] = {}
    own = set()
    zones = device.zones
    for rule in device.rules:
        if rule.log:
            own.add(rule.flow)
            continue
        pieces = len(rule.destination.v4) + len(rule.destination.v6)
        zone = zones[rule.source_zone]
        source = rule.source
        sources = 1 if source is zone or (source.v4 == zone.v4 and source.v6 == zone.v6) else \
            len(source.v4) + len(source.v6)
        flow = rule.flow
        as_elements[flow] += pieces * sources * len(rule.services)
        seen = destinations.get(flow)
        if seen is None:
            seen = destinations[flow] = set()
        # a rule per chain; each destination once, in a set the chains share (one flow's rules to
        # the same zones have the same destination addresses)
        key = (rule.ingress, rule.source_zone)
        if key not in seen:
            seen.add(key)
            as_rules[flow] += 2 + sources
        key = (rule.egress, rule.destination_zones)
        if key not in seen:
            seen.add(key)
            as_rules[flow] += pieces
    own.update(flow for flow, cost in as_elements.items() if cost > WIDE * as_rules[flow])
    return own


class _Writer:
    """Builds one device's maps, sets and chains."""

    def __init__(self, device: DeviceIntent) -> None:
        self.device = device
        self.maps = {family: _Map(f"zones{family}", f"iifname . {_ADDRESS[family][0]} saddr",
                                  f"ifname . {_ADDRESS[family][1]} : verdict") for family in (4, 6)}
        self.sets: list[_Set] = []
        self.shared: dict[tuple, _Set] = {}  # (type, elements) -> a named set flow rules share
        self.chains: list[_Chain] = []
        self._intervals: dict[tuple[int, int, int], str] = {}
        self._provenance: dict[tuple[int, ...], str] = {}
        self.own_rules = _own_rule_flows(device)

    def interval(self, family: int, first: int, last: int) -> str:
        key = (family, first, last)
        found = self._intervals.get(key)
        if found is None:
            found = self._intervals[key] = interval(family, first, last)
        return found

    def provenance(self, flows: tuple[int, ...]) -> str:
        found = self._provenance.get(flows)
        if found is None:
            found = self._provenance[flows] = _provenance(self.device, flows)
        return found

    def chain(self, ingress: str, zone: str, rules: list[Rule]) -> None:
        name = chain_name(zone, ingress)
        chain = _Chain(name, f"zone {zone} arriving on {ingress}")
        addresses = self.device.zones[zone]
        own = self.own_rules
        families = self.flow_rules(chain, [r for r in rules if r.flow in own], addresses)
        families |= self.box_rules(chain, [r for r in rules if r.flow not in own], addresses)
        for family in sorted(families):
            for first, last in addresses.family(family):
                self.maps[family].elements.append(f'"{ingress}" . {self.interval(family, first, last)} : jump {name}')
        self.chains.append(chain)

    # ---- logged and wide flows: a rule each, over shared sets ------------------------------

    def shared_set(self, prefix: str, kind: str, elements: list[str]) -> str:
        key = (kind, tuple(elements))
        found = self.shared.get(key)
        if found is None:
            digest = hashlib.sha256("\n".join((kind, *elements)).encode()).hexdigest()[:16]
            found = self.shared[key] = _Set(f"{prefix}-{digest}", kind, elements)
            self.sets.append(found)
        return found.name

    def flow_rules(self, chain: _Chain, rules: list[Rule], zone: AddressSet) -> set[int]:
        families = set()
        by_flow: dict[int, list[Rule]] = defaultdict(list)
        for rule in rules:
            by_flow[rule.flow].append(rule)
        for flow, members in sorted(by_flow.items()):
            info = self.device.flows[flow]
            location = escape(info.location)
            tail = (f'log prefix "{_log_prefix(location)}" ' if info.log else "") + f'accept comment "{location}"'
            for family in (4, 6):
                word, address = _ADDRESS[family]
                here = [r for r in members if r.source.family(family) and r.destination.family(family)]
                by_source: dict[tuple, list[Rule]] = defaultdict(list)
                for rule in here:
                    by_source[rule.source.family(family)].append(rule)
                for sources, group in sorted(by_source.items()):
                    destinations = sorted({f'"{r.egress}" . {self.interval(family, a, b)}'
                                           for r in group for a, b in r.destination.family(family)})
                    # one flow's services, less at most the icmp the other family carries: the same
                    # in this family for every rule of the group
                    ports, codes = _split_services(family, group[0].services)
                    if not (ports or codes):
                        continue
                    families.add(family)
                    source = "" if sources == zone.family(family) else \
                        f"{word} saddr {{ {', '.join(self.interval(family, a, b) for a, b in sources)} }} "
                    to = self.shared_set(f"to{family}", f"ifname . {address}", destinations)
                    if ports:
                        on = self.shared_set("ports", "inet_proto . inet_service", sorted(set(ports)))
                        chain.rules.append(f"{source}oifname . {word} daddr @{to} meta l4proto . th dport @{on} {tail}")
                    if codes:
                        icmp = _ICMP[family]
                        on = self.shared_set(icmp, f"{icmp}_type . {icmp}_code", sorted(set(codes)))
                        chain.rules.append(f"{source}oifname . {word} daddr @{to} {icmp} type . {icmp} code @{on} {tail}")
        return families

    # ---- everything else: disjoint boxes in the chain's own sets ----------------------------

    def box_rules(self, chain: _Chain, rules: list[Rule], zone: AddressSet) -> set[int]:
        kinds: dict[tuple[str, int, bool], _Set] = {}
        families = set()
        for box in disjoint_boxes(rules, zone):
            families.add(box.family)
            comment = f' comment "{self.provenance(box.flows)}"'
            prefixes = [""] if box.wide else [f"{self.interval(box.family, a, b)} . " for a, b in box.source]
            ports, codes = _split_services(box.family, box.services)
            for kind, values in (("p", ports), ("i", codes)):
                if not values:
                    continue
                target = kinds.get((kind, box.family, box.wide))
                if target is None:
                    target = kinds[(kind, box.family, box.wide)] = _Set(
                        f"{chain.name}.{'' if box.wide else 'h'}{kind}{box.family}", _set_type(kind, box.family, box.wide))
                append = target.elements.append
                for first, last in box.destination:
                    destination = f'"{box.egress}" . {self.interval(box.family, first, last)} . '
                    for prefix in prefixes:
                        for value in values:
                            append(f"{prefix}{destination}{value}{comment}")
        for kind, family, wide in sorted(kinds, key=lambda k: (k[1], k[0], not k[2])):
            target = kinds[(kind, family, wide)]
            self.sets.append(target)
            word = _ADDRESS[family][0]
            key = "meta l4proto . th dport" if kind == "p" else f"{_ICMP[family]} type . {_ICMP[family]} code"
            source = "" if wide else f"{word} saddr . "
            chain.rules.append(f"{source}oifname . {word} daddr . {key} @{target.name} accept")
        return families


def render(device: DeviceIntent, options: Options) -> Output:
    problems = limits(device)
    if problems:
        return Output(diagnostics=problems)
    groups: dict[tuple[str, str], list[Rule]] = defaultdict(list)
    for rule in device.rules:
        groups[(rule.ingress, rule.source_zone)].append(rule)
    writer = _Writer(device)
    for (ingress, zone), rules in sorted(groups.items()):
        writer.chain(ingress, zone, rules)
    maps = [m for m in writer.maps.values() if m.elements]
    sets = sorted(writer.sets, key=lambda s: s.name)
    text = _template().render(
        role=device.role, device=device.name, revision=device.revision.describe(), version=device.revision.septum,
        table=options.table, table_comment=f"septum: {device.role} {device.name}, policy sha256:"
                                           f"{device.revision.digest[:16]}",
        maps=maps, sets=sets, chains=writer.chains, tracked_icmp=", ".join(map(str, TRACKED_ICMP["icmp"])),
        tracked_icmpv6=", ".join(map(str, TRACKED_ICMP["icmpv6"])))
    data = text.encode("utf-8")
    summary = {"chains": len(writer.chains) + 2, "rules": sum(len(c.rules) for c in writer.chains) + 5 + len(maps),
               "sets": len(sets) + len(maps),
               "elements": sum(len(s.elements) for s in sets) + sum(len(m.elements) for m in maps),
               "bytes": len(data)}
    return Output([Artifact(f"{device.name}.nft", data)], summary, [])
