"""A device's compiled intent as an nftables ruleset (templates/ruleset.nft.j2).

One `table inet` that Septum owns, hooked at forward, default drop:

* `ct state` first: established and related packets accepted (return traffic and ICMP errors of
  permitted connections); invalid packets dropped, except ICMP messages conntrack cannot track
  (anything but the request types), which the policy alone judges, as it does new packets;
* the source zone classified once, together with the interface the packet arrived on: a verdict
  map from `iifname . ip saddr` (`ip6 saddr`) to a chain per (source zone, ingress). A zone's
  addresses are known only on the interfaces it arrives through, so a spoofed source finds no
  chain and meets the policy (anti-spoofing);
* in that chain, the logged flows' rules first (each logs with a prefix naming its zone-file
  line), then one lookup per kind of packet in interval sets of disjoint elements
  `oifname . ip daddr . meta l4proto . th dport` (icmp: `icmp type . icmp code`), with `ip saddr`
  in front where a flow allows only part of the zone.

The ruleset grows with the zones and the rules, not with their products, and every set element
cites the flows it comes from.
"""

from __future__ import annotations

from collections import defaultdict
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
    for zone in device.zones:
        for ingress in device.arrivals:
            name = chain_name(zone, ingress) + ".h4"
            if len(name) > NAME_BYTES:
                found.append(Diagnostic("E602", f"zone name '{zone[:40]}…' makes nftables names of {len(name)} bytes, "
                                        f"over their limit of {NAME_BYTES}", device.span, "give the zone a shorter name"))
                break
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


def _addresses(family: int, intervals) -> str:
    items = [interval(family, first, last) for first, last in intervals]
    return items[0] if len(items) == 1 else "{ " + ", ".join(items) + " }"


def _logged_rules(device: DeviceIntent, rule: Rule, zone: AddressSet) -> list[str]:
    """One rule per family and kind of packet for a logged flow's rule, logging with its prefix."""
    info = device.flows[rule.flow]
    location = escape(info.location)
    tail = f'log prefix "{_log_prefix(location)}" accept comment "{location}"'
    out = []
    for family in (4, 6):
        sources, destinations = rule.source.family(family), rule.destination.family(family)
        if not sources or not destinations:
            continue
        word = _ADDRESS[family][0]
        head = "" if sources == zone.family(family) else f"{word} saddr {_addresses(family, sources)} "
        head += f'oifname "{rule.egress}" {word} daddr {_addresses(family, destinations)}'
        ports = [f"{s.protocol} . {number_range(s.low, s.high)}" for s in rule.services if s.protocol in ("tcp", "udp")]
        if ports:
            out.append(f"{head} meta l4proto . th dport {{ {', '.join(ports)} }} {tail}")
        icmp = _ICMP[family]
        codes = [f"{t} . {c}" for s in rule.services if s.protocol == icmp for t, c in icmp_runs(s.low, s.high)]
        if codes:
            out.append(f"{head} {icmp} type . {icmp} code {{ {', '.join(codes)} }} {tail}")
    return out


def render(device: DeviceIntent, options: Options) -> Output:
    problems = limits(device)
    if problems:
        return Output(diagnostics=problems)
    groups: dict[tuple[str, str], list[Rule]] = defaultdict(list)
    for rule in device.rules:
        groups[(rule.ingress, rule.source_zone)].append(rule)
    maps = {family: _Map(f"zones{family}", f"iifname . {_ADDRESS[family][0]} saddr",
                         f"ifname . {_ADDRESS[family][1]} : verdict") for family in (4, 6)}
    sets: list[_Set] = []
    chains: list[_Chain] = []
    elements = 0
    for (ingress, zone), rules in sorted(groups.items()):
        name = chain_name(zone, ingress)
        chain = _Chain(name, f"zone {zone} arriving on {ingress}")
        addresses = device.zones[zone]
        for rule in rules:
            if rule.log:
                chain.rules.extend(_logged_rules(device, rule, addresses))
        kinds: dict[tuple[str, int, bool], _Set] = {}
        families = set()
        for box in disjoint_boxes([r for r in rules if not r.log], addresses):
            families.add(box.family)
            comment = f' comment "{_provenance(device, box.flows)}"'
            word, kind = _ADDRESS[box.family]
            prefix_sources = [""] if box.wide else [f"{interval(box.family, a, b)} . " for a, b in box.source]
            for family_kind, services in (("p", [s for s in box.services if s.protocol in ("tcp", "udp")]),
                                          ("i", [s for s in box.services if s.protocol == _ICMP[box.family]])):
                if not services:
                    continue
                key = (family_kind, box.family, box.wide)
                target = kinds.get(key)
                if target is None:
                    target = kinds[key] = _Set(f"{name}.{'' if box.wide else 'h'}{family_kind}{box.family}",
                                               _set_type(family_kind, box.family, box.wide))
                if family_kind == "p":
                    values = [f"{s.protocol} . {number_range(s.low, s.high)}" for s in services]
                else:
                    values = [f"{t} . {c}" for s in services for t, c in icmp_runs(s.low, s.high)]
                for first, last in box.destination:
                    destination = f'"{box.egress}" . {interval(box.family, first, last)} . '
                    for source in prefix_sources:
                        for value in values:
                            target.elements.append(f"{source}{destination}{value}{comment}")
        for family_kind, family, is_wide in sorted(kinds, key=lambda k: (k[1], k[0], not k[2])):
            target = kinds[(family_kind, family, is_wide)]
            sets.append(target)
            elements += len(target.elements)
            word = _ADDRESS[family][0]
            key = "meta l4proto . th dport" if family_kind == "p" else f"{_ICMP[family]} type . {_ICMP[family]} code"
            source = "" if is_wide else f"{word} saddr . "
            chain.rules.append(f"{source}oifname . {word} daddr . {key} @{target.name} accept")
        families |= {f for r in rules if r.log for f in (4, 6) if r.source.family(f) and r.destination.family(f)}
        for family in sorted(families):
            for first, last in addresses.family(family):
                maps[family].elements.append(f'"{ingress}" . {interval(family, first, last)} : jump {name}')
        chains.append(chain)
    used_maps = [m for m in maps.values() if m.elements]
    elements += sum(len(m.elements) for m in used_maps)
    text = _template().render(
        role=device.role, device=device.name, revision=device.revision.describe(), version=device.revision.septum,
        table=options.table, table_comment=f"septum: {device.role} {device.name}, policy sha256:"
                                           f"{device.revision.digest[:16]}",
        maps=used_maps, sets=sets, chains=chains, tracked_icmp=", ".join(map(str, TRACKED_ICMP["icmp"])),
        tracked_icmpv6=", ".join(map(str, TRACKED_ICMP["icmpv6"])))
    data = text.encode("utf-8")
    summary = {"chains": len(chains) + 2, "rules": sum(len(c.rules) for c in chains) + 5 + len(used_maps),
               "sets": len(sets) + len(used_maps), "elements": elements, "bytes": len(data)}
    return Output([Artifact(f"{device.name}.nft", data)], summary, [])


def _set_type(kind: str, family: int, wide: bool) -> str:
    address = _ADDRESS[family][1]
    tail = "inet_proto . inet_service" if kind == "p" else (
        "icmp_type . icmp_code" if family == 4 else "icmpv6_type . icmpv6_code")
    return ("" if wide else f"{address} . ") + f"ifname . {address} . {tail}"
