"""A device's compiled intent as an nftables ruleset (templates/ruleset.nft.j2).

One `table inet` that Septum owns, hooked at forward, default drop. In the forward chain:

* `ct state` first: established and related packets accepted (return traffic and ICMP errors of
  permitted connections); invalid packets dropped, except ICMP messages conntrack cannot track
  (anything but the request types), which the policy alone judges, as it does new packets;
* anti-spoofing: a packet whose source is not a zone arriving by the interface it came in on
  (`iifname . ip saddr` not in `arrivals4`) is dropped;
* the egress: where every destination zone leaves by one interface (`egress_by_zone`; so on a
  tree of devices with every zone bound once), a packet leaving by another interface than its
  destination's (`oifname . ip daddr` not in `routes4`) is dropped, and the sets below need not
  name interfaces (a set keyed on a 16-byte interface name costs the kernel several times as
  much to load); otherwise they key on `oifname` themselves;
* the rules as disjoint boxes, in interval sets `ip saddr . ip daddr . meta l4proto . th dport`
  (icmp: `icmp type . icmp code`), the boxes from whole source zones and those from part of a
  zone (a host, a carve-out) in sets of their own (`zone-…`, `part-…`). The sets come in shards
  of about `SHARD` elements, each a chain that a verdict map on the source address enters: the
  kernel's time to load one interval set grows faster than its size. Every element cites the
  flows it comes from;
* logged and wide flows (a tag, group or `zones holding` selector that gives the flow many zone
  pairs here; `WIDE`), and all rules of a zone arriving by two interfaces (which may each be
  allowed something else), as rules of their own, in a chain per source zone and ingress that a
  verdict map on `iifname . ip saddr` enters: plain rules (one value per match) where a flow has
  few (`PLAIN`), else rules over named sets of its destinations and services that its chains
  share. Named sets are kept few: the kernel finds each by walking the table's list of them.
  Logged flows log with a prefix naming their zone-file line.

The ruleset grows with the zones and the rules, not with their products.
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
PLAIN = 16  # a flow's rules in one chain written as plain rules up to this many, else over shared sets
SHARD = 8_000  # box elements per shard (a chain and its sets, entered by a verdict map on the source)


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


def _provenance(device: DeviceIntent, flows: tuple[int, ...]) -> str:
    text = escape(device.flows[flows[0]].location)
    return text if len(flows) == 1 else f"{text} +{len(flows) - 1}"


def _split_services(family: int, services) -> tuple[list[str], list[str]]:
    """A family's service runs as `proto . ports` and `type . code` values."""
    icmp = _ICMP[family]
    ports = [f"{s.protocol} . {number_range(s.low, s.high)}" for s in services if s.protocol in ("tcp", "udp")]
    codes = [f"{t} . {c}" for s in services if s.protocol == icmp for t, c in icmp_runs(s.low, s.high)]
    return ports, codes


def _service_matches(family: int, services) -> list[str]:
    """Service runs as plain matches (no sets): `meta l4proto tcp th dport 443`, `icmp type 8 icmp code 0`."""
    out = []
    for s in services:
        if s.protocol in ("tcp", "udp"):
            ports = "" if (s.low, s.high) == (0, 65535) else f" th dport {number_range(s.low, s.high)}"
            out.append(f"meta l4proto {s.protocol}{ports}")
        else:
            for kind, code in icmp_runs(s.low, s.high):
                out.append(f"{s.protocol} type {kind}" + ("" if code == "0-255" else f" {s.protocol} code {code}"))
    return out


def egress_by_zone(device: DeviceIntent) -> dict[str, str] | None:
    """The interface each destination zone leaves by, if that is one per zone for every rule of
    the device (always so when the devices form a tree and each zone is bound once); else None."""
    found: dict[str, str] = {}
    for rule in device.rules:
        for zone in rule.destination_zones:
            if found.setdefault(zone, rule.egress) != rule.egress:
                return None
    return found


def _zones_arriving_twice(device: DeviceIntent) -> set[str]:
    """Source zones that arrive by more than one interface of the device."""
    seen: dict[str, str] = {}
    twice = set()
    for ingress, zones in device.arrivals.items():
        for zone in zones:
            if seen.setdefault(zone, ingress) != ingress:
                twice.add(zone)
    return twice


def _own_rule_flows(device: DeviceIntent) -> set[int]:
    """The flows written as rules of their own: logged ones, and wide ones, whose destinations
    would be repeated in the boxes once per source zone (`WIDE` times more elements than a rule
    per source zone over one shared set of destinations)."""
    as_elements: Counter = Counter()
    as_rules: Counter = Counter()
    destinations: dict[int, set] = {}
    own = set()
    for rule in device.rules:
        if rule.log:
            own.add(rule.flow)
            continue
        pieces = len(rule.destination.v4) + len(rule.destination.v6)
        sources = len(rule.source.v4) + len(rule.source.v6)
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
    """Builds one device's sets, maps and chains."""

    def __init__(self, device: DeviceIntent) -> None:
        self.device = device
        self.routes = egress_by_zone(device)
        self.keyed = self.routes is None  # the sets name the egress themselves
        # a zone arriving by two interfaces may be allowed different things by each: its rules go
        # to its chains, which the verdict map on `iifname . ip saddr` enters
        self.twice = _zones_arriving_twice(device)
        # the boxes, in shards of about SHARD elements: the kernel's time to load an interval set
        # grows faster than its size (measured: docs/performance.md)
        self.shards: list[dict[tuple[str, int, bool], _Set]] = [{}]  # (kind, family, whole zone) -> set
        self.dispatch = {family: _Map(f"shards{family}", f"{_ADDRESS[family][0]} saddr",
                                      f"{_ADDRESS[family][1]} : verdict") for family in (4, 6)}
        self.shared: dict[tuple, _Set] = {}  # (type, elements) -> a named set flow rules share
        self.maps = {family: _Map(f"zones{family}", f"iifname . {_ADDRESS[family][0]} saddr",
                                  f"ifname . {_ADDRESS[family][1]} : verdict") for family in (4, 6)}
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

    def group(self, ingress: str, zone: str, rules: list[Rule]) -> None:
        """The rules from one source zone arriving by one interface."""
        addresses = self.device.zones[zone]
        own = self.own_rules
        if zone in self.twice:
            flows = rules
        else:
            if sum(len(target.elements) for target in self.shards[-1].values()) >= SHARD:
                self.shards.append({})
            for family in sorted(self.box_rules([r for r in rules if r.flow not in own], addresses)):
                for first, last in addresses.family(family):
                    self.dispatch[family].elements.append(
                        f"{self.interval(family, first, last)} : jump shard-{len(self.shards) - 1}")
            flows = [r for r in rules if r.flow in own]
        if not flows:
            return
        name = chain_name(zone, ingress)
        chain = _Chain(name, f"zone {zone} arriving on {ingress}: its logged and wide flows")
        for family in sorted(self.flow_rules(chain, flows, addresses)):
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
        return found.name

    def flow_rules(self, chain: _Chain, rules: list[Rule], zone: AddressSet) -> set[int]:
        """A flow's rules of one chain as nftables rules: plain ones (one value per match) where
        there are few, else over named sets that every chain of the flow shares. Both avoid many
        sets: the kernel finds a set by walking the table's list of them."""
        families = set()
        by_flow: dict[int, list[Rule]] = defaultdict(list)
        for rule in rules:
            by_flow[rule.flow].append(rule)
        for flow, members in sorted(by_flow.items()):
            info = self.device.flows[flow]
            location = escape(info.location)
            tail = (f'log prefix "{_log_prefix(location)}" ' if info.log else "") + f'accept comment "{location}"'
            for family in (4, 6):
                by_source: dict[tuple, list[Rule]] = defaultdict(list)
                for rule in members:
                    if rule.source.family(family) and rule.destination.family(family):
                        by_source[rule.source.family(family)].append(rule)
                for sources, group in sorted(by_source.items()):
                    # one flow's services, less at most the icmp the other family carries: the same
                    # in this family for every rule of the group
                    services = [s for s in group[0].services if s.protocol in ("tcp", "udp", _ICMP[family])]
                    if not services:
                        continue
                    families.add(family)
                    destinations = sorted({(r.egress, a, b) for r in group for a, b in r.destination.family(family)})
                    whole = sources == zone.family(family)
                    if (1 if whole else len(sources)) * len(destinations) * len(services) <= PLAIN:
                        chain.rules.extend(self._plain(family, () if whole else sources, destinations, services, tail))
                    else:
                        chain.rules.extend(self._over_sets(family, () if whole else sources, destinations, services,
                                                           tail))
        return families

    def _plain(self, family: int, sources, destinations, services, tail: str) -> list[str]:
        word = _ADDRESS[family][0]
        out = []
        for source in [f"{word} saddr {self.interval(family, a, b)} " for a, b in sources] or [""]:
            for egress, a, b in destinations:
                destination = (f'oifname "{egress}" ' if self.keyed else "") + f"{word} daddr {self.interval(family, a, b)} "
                for match in _service_matches(family, services):
                    out.append(f"{source}{destination}{match} {tail}")
        return out

    def _over_sets(self, family: int, sources, destinations, services, tail: str) -> list[str]:
        word, address = _ADDRESS[family]
        egress = "oifname . " if self.keyed else ""
        source = ""
        if sources:
            named = self.shared_set(f"from{family}", address, [self.interval(family, a, b) for a, b in sources])
            source = f"{word} saddr @{named} "
        to = self.shared_set(f"to{family}", ("ifname . " if self.keyed else "") + address,
                             [(f'"{e}" . ' if self.keyed else "") + self.interval(family, a, b) for e, a, b in destinations])
        ports, codes = _split_services(family, services)
        out = []
        if ports:
            on = self.shared_set("ports", "inet_proto . inet_service", sorted(set(ports)))
            out.append(f"{source}{egress}{word} daddr @{to} meta l4proto . th dport @{on} {tail}")
        if codes:
            icmp = _ICMP[family]
            on = self.shared_set(icmp, f"{icmp}_type . {icmp}_code", sorted(set(codes)))
            out.append(f"{source}{egress}{word} daddr @{to} {icmp} type . {icmp} code @{on} {tail}")
        return out

    # ---- everything else: disjoint boxes in the device's sets --------------------------------

    def box_set(self, kind: str, family: int, whole: bool) -> _Set:
        shard = self.shards[-1]
        found = shard.get((kind, family, whole))
        if found is None:
            address = _ADDRESS[family][1]
            tail = "inet_proto . inet_service" if kind == "ports" else (
                "icmp_type . icmp_code" if family == 4 else "icmpv6_type . icmpv6_code")
            egress = "ifname . " if self.keyed else ""
            found = shard[(kind, family, whole)] = _Set(
                f"shard-{len(self.shards) - 1}.{'zone' if whole else 'part'}-{kind}{'' if kind == 'icmpv6' else family}",
                f"{address} . {egress}{address} . {tail}")
        return found

    def box_rules(self, rules: list[Rule], zone: AddressSet) -> set[int]:
        """Add the rules' boxes to the current shard; the families they have."""
        families = set()
        for box in disjoint_boxes(rules, zone):
            families.add(box.family)
            comment = f' comment "{self.provenance(box.flows)}"'
            leaving = f'"{box.egress}" . ' if self.keyed else ""
            sources = [f"{self.interval(box.family, a, b)} . {leaving}" for a, b in box.source]
            ports, codes = _split_services(box.family, box.services)
            for kind, values in (("ports", ports), (_ICMP[box.family], codes)):
                if not values:
                    continue
                append = self.box_set(kind, box.family, box.wide).elements.append
                for first, last in box.destination:
                    destination = f"{self.interval(box.family, first, last)} . "
                    for source in sources:
                        for value in values:
                            append(f"{source}{destination}{value}{comment}")
        return families

    # ---- the forward chain ----------------------------------------------------------------

    def forward_rules(self) -> tuple[list[str], list[_Set]]:
        """The forward chain's rules after `ct state`, and the device-wide sets they use."""
        rules: list[str] = []
        sets: list[_Set] = []
        for family in (4, 6):
            word, address = _ADDRESS[family]
            arrivals = sorted(f'"{ingress}" . {self.interval(family, a, b)}'
                              for ingress, zones in self.device.arrivals.items() for zone in zones
                              for a, b in self.device.zones[zone].family(family))
            if arrivals:
                sets.append(_Set(f"arrivals{family}", f"ifname . {address}", arrivals))
                rules.append(f"iifname . {word} saddr != @arrivals{family} drop")
            if self.routes is not None:
                routes = sorted(f'"{egress}" . {self.interval(family, a, b)}' for zone, egress in self.routes.items()
                                for a, b in self.device.zones[zone].family(family))
                if routes:
                    sets.append(_Set(f"routes{family}", f"ifname . {address}", routes))
                    rules.append(f"oifname . {word} daddr != @routes{family} drop")
        leaving = "oifname . " if self.keyed else ""
        for number, shard in enumerate(self.shards):
            if not shard:
                continue
            chain = _Chain(f"shard-{number}", "boxes of the rules from some zones (the verdict maps shards4, shards6)")
            for (kind, family, whole), target in sorted(shard.items(), key=lambda item: (item[0][1], item[0][0],
                                                                                         not item[0][2])):
                word = _ADDRESS[family][0]
                key = "meta l4proto . th dport" if kind == "ports" else f"{kind} type . {kind} code"
                chain.rules.append(f"{word} saddr . {leaving}{word} daddr . {key} @{target.name} accept")
                sets.append(target)
            self.chains.insert(number, chain)
        for family in (4, 6):
            if self.dispatch[family].elements:
                rules.append(f"{self.dispatch[family].key} vmap @{self.dispatch[family].name}")
        for family in (4, 6):
            if self.maps[family].elements:
                rules.append(f"{self.maps[family].key} vmap @{self.maps[family].name}")
        return rules, sets


def render(device: DeviceIntent, options: Options) -> Output:
    problems = limits(device)
    if problems:
        return Output(diagnostics=problems)
    groups: dict[tuple[str, str], list[Rule]] = defaultdict(list)
    for rule in device.rules:
        groups[(rule.ingress, rule.source_zone)].append(rule)
    writer = _Writer(device)
    for (ingress, zone), rules in sorted(groups.items()):
        writer.group(ingress, zone, rules)
    forward, sets = writer.forward_rules()
    sets += sorted(writer.shared.values(), key=lambda s: s.name)
    maps = [m for m in (*writer.dispatch.values(), *writer.maps.values()) if m.elements]
    text = _template().render(
        role=device.role, device=device.name, revision=device.revision.describe(), version=device.revision.septum,
        table=options.table, table_comment=f"septum: {device.role} {device.name}, policy sha256:"
                                           f"{device.revision.digest[:16]}",
        maps=maps, sets=sets, forward=forward, chains=writer.chains,
        tracked_icmp=", ".join(map(str, TRACKED_ICMP["icmp"])), tracked_icmpv6=", ".join(map(str, TRACKED_ICMP["icmpv6"])))
    data = text.encode("utf-8")
    summary = {"chains": len(writer.chains) + 2,
               "rules": sum(len(c.rules) for c in writer.chains) + len(forward) + 5,
               "sets": len(sets) + len(maps),
               "elements": sum(len(s.elements) for s in sets) + sum(len(m.elements) for m in maps),
               "bytes": len(data)}
    return Output([Artifact(f"{device.name}.nft", data)], summary, [])
