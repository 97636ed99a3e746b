"""Flows and data reach of one side: (source, destination, service) triples and (place, data type).

Endpoints are zones, hosts and raw addresses after selectors are expanded and whole-endpoint
carve-outs removed (the rule of `septum.compiler.graph`). A carve-out of part of an endpoint
(a host out of its zone) is kept as a qualifier of the triple (``except from`` / ``except to``).
A triple allowed by several `allow` statements takes the union: its data types are the union,
its qualifiers the intersection (a carve-out holds only if every statement makes it). Each
triple cites the `allow` statements that allow it. A zone is reached by data type D if a flow
touching it (either end) carries D; a host counts for its zone, a raw address for itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model import Span
from .records import FlowFacts, ReachEntry, SideInfo, Summary


def endpoint_kinds(policy) -> dict[str, str]:
    kinds = {name: "zone" for name in policy.zones}
    kinds.update((name, "host") for name in policy.hosts)
    return kinds


class _Space:
    """Address space of endpoints, to tell which carve-outs cut into which endpoint."""

    def __init__(self, policy) -> None:
        self.policy = policy
        self.networks: dict[str, list] = {}
        self.inside: dict[tuple[str, str], bool] = {}

    def _networks(self, name: str) -> list:
        found = self.networks.get(name)
        if found is None:
            import netaddr

            policy = self.policy
            if name in policy.zones:
                cidrs = [n.cidr for n in policy.zones[name].networks]
            elif name in policy.hosts:
                cidrs = [n.cidr for n in policy.hosts[name].addresses]
            else:
                cidrs = [name]
            found = []
            for cidr in cidrs:
                try:
                    found.append(netaddr.IPNetwork(cidr))
                except (netaddr.AddrFormatError, ValueError, TypeError):
                    continue
            self.networks[name] = found
        return found

    def cuts(self, carved: str, endpoint: str) -> bool:
        """Does carving `carved` out remove part of `endpoint` (without removing it whole)?"""
        key = (carved, endpoint)
        found = self.inside.get(key)
        if found is None:
            host = self.policy.hosts.get(carved)
            if host is not None and host.zone.name == endpoint:
                found = True
            else:
                found = any(a.version == b.version and a.first <= b.last and b.first <= a.last
                            for a in self._networks(carved) for b in self._networks(endpoint))
            self.inside[key] = found
        return found


def _excluded(policy, selectors) -> frozenset[str]:
    excluded: set[str] = set()
    for selector in selectors:
        members = policy.expand(selector)
        excluded |= members.zones | members.hosts | members.addresses
    return frozenset(excluded)


def _endpoints(members, excluded: frozenset[str], space: _Space) -> list[tuple[str, frozenset[str]]]:
    """(endpoint, the carve-outs that cut into it) for every endpoint not carved out whole."""
    if not excluded:
        return [(e, frozenset()) for e in members.endpoints()]
    out = []
    for endpoint in members.endpoints():
        if endpoint in excluded:
            continue
        out.append((endpoint, frozenset(x for x in excluded if space.cuts(x, endpoint))))
    return out


@dataclass(frozen=True)
class Focus:
    """The triples and reach entries a diff can differ in, when only some `allow`s changed.

    With the same definitions on both sides, an `allow` written identically on both expands
    identically: only the triples (and reach) of the `allow`s that differ can change, though
    every `allow` that also covers them counts towards their facts.
    """

    keys: frozenset
    services: frozenset
    sources: frozenset
    destinations: frozenset
    reach: frozenset
    places: frozenset
    datatypes: frozenset


def focus_of(sides: list[tuple[object, list]]) -> Focus:
    keys: set = set()
    reach: set = set()
    for policy, flows in sides:
        partial = Summary(info=SideInfo(""))
        flows_and_reach(policy, partial, flows=flows)
        zone_of = {name: host.zone.name for name, host in policy.hosts.items()}
        for source, destination, service in partial.flows:
            for s in {source, zone_of.get(source, source)}:
                for d in {destination, zone_of.get(destination, destination)}:
                    keys.add((s, d, service))
        reach |= partial.reach.keys()
    return Focus(frozenset(keys), frozenset(k[2] for k in keys), frozenset(k[0] for k in keys),
                  frozenset(k[1] for k in keys), frozenset(reach), frozenset(k[0] for k in reach),
                  frozenset(k[1] for k in reach))


def flows_and_reach(policy, summary: Summary, flows=None, focus: Focus | None = None) -> None:
    """Fill `summary.flows` with (source, destination, service) -> raw facts, and `summary.reach`.

    Raw facts are tuples (datatypes, cuts of the source, cuts of the destination, log, spans),
    frozensets all but `log` and `spans`; `FlowFacts` are made only for what the diff reports.
    `flows`: only these `allow`s; `focus`: only these triples and reach entries.
    """
    space = _Space(policy)
    service_carries = {name: frozenset(r.name for r in s.carries) for name, s in policy.services.items()}
    hosts = policy.hosts
    holds = {name: frozenset(r.name for r in z.holds) for name, z in policy.zones.items()}
    endpoint_lists: dict[int, list] = {}
    triples: dict[tuple[str, str, str], tuple] = {}
    reach: dict[tuple[str, str], list] = {}
    setdefault = triples.setdefault
    nothing: frozenset[str] = frozenset()
    for flow in policy.flows if flows is None else flows:
        if focus is not None and not (any(r.name in focus.services for r in flow.services)
                                      or focus.datatypes and _carries(flow, service_carries) & focus.datatypes):
            continue
        spans = (flow.span,)
        log = flow.log
        carrying = frozenset(r.name for r in flow.carrying)
        sides = []
        for selector, carve_outs in ((flow.source, flow.except_from), (flow.destination, flow.except_to)):
            members = policy.expand(selector)
            if carve_outs:
                sides.append(_endpoints(members, _excluded(policy, carve_outs), space))
            else:
                cached = endpoint_lists.get(id(members))
                if cached is None:
                    cached = endpoint_lists[id(members)] = [(e, nothing) for e in members.endpoints()]
                sides.append(cached)
        sources, destinations = sides
        if not sources or not destinations:
            continue
        whole = len(flow.except_from) + len(flow.except_to) == 0
        flow_datatypes = set(carrying)
        triple_sources, triple_destinations = sources, destinations
        if focus is not None:
            triple_sources = [e for e in sources if e[0] in focus.sources]
            triple_destinations = [e for e in destinations if e[0] in focus.destinations]
        for ref in flow.services:
            name = ref.name
            datatypes = service_carries.get(name, nothing) | carrying
            flow_datatypes |= datatypes
            if focus is not None and name not in focus.services:
                continue
            plain = (datatypes, nothing, nothing, log, spans)
            for source, cut_source in triple_sources:
                for destination, cut_destination in triple_destinations:
                    key = (source, destination, name)
                    if focus is not None and key not in focus.keys:
                        continue
                    value = plain if whole else (datatypes, cut_source, cut_destination, log, spans)
                    found = setdefault(key, value)
                    if found is not value:
                        triples[key] = (found[0] | datatypes, found[1] & cut_source, found[2] & cut_destination,
                                        found[3] or log, found[4] + spans)
        if flow_datatypes:
            places = set()
            for endpoint, _ in sources + destinations:
                host = hosts.get(endpoint)
                places.add(host.zone.name if host is not None else endpoint)
            for place in places:
                for datatype in flow_datatypes:
                    if focus is None or (place, datatype) in focus.reach:
                        reach.setdefault((place, datatype), []).append(flow.span)
    summary.flows = triples
    summary.reach = {
        (place, datatype): ReachEntry(place, "zone" if place in policy.zones else "address", datatype,
                                      datatype in holds.get(place, ()), spans_of(spans))
        for (place, datatype), spans in reach.items()
    }


def _carries(flow, service_carries: dict) -> frozenset:
    carried = frozenset(r.name for r in flow.carrying)
    for ref in flow.services:
        carried |= service_carries.get(ref.name, frozenset())
    return carried


def facts(raw: tuple) -> FlowFacts:
    return FlowFacts(tuple(sorted(raw[0])), tuple(sorted(raw[1])), tuple(sorted(raw[2])), raw[3], spans_of(raw[4]))


def spans_of(spans) -> tuple[Span, ...]:
    return tuple(sorted(set(spans)))
