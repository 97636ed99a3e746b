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

import ipaddress

from ..model import Span
from .records import FlowFacts, ReachEntry


def endpoint_kinds(policy) -> dict[str, str]:
    kinds = {name: "zone" for name in policy.zones}
    kinds.update((name, "host") for name in policy.hosts)
    return kinds


class _Space:
    """Address space of endpoints, to tell which carve-outs cut into which endpoint."""

    def __init__(self, policy) -> None:
        self.policy = policy
        self.found: dict[str, list[tuple[int, int, int]]] = {}

    def blocks(self, name: str) -> list[tuple[int, int, int]]:
        """(IP version, first, last address) of each network of a zone, host or raw address."""
        found = self.found.get(name)
        if found is None:
            policy = self.policy
            if name in policy.zones:
                cidrs = [n.cidr for n in policy.zones[name].networks]
            elif name in policy.hosts:
                cidrs = [n.cidr for n in policy.hosts[name].addresses]
            else:
                cidrs = [name]
            found = self.found[name] = [b for b in map(_block, cidrs) if b is not None]
        return found

    def cutters(self, excluded: frozenset[str]) -> list[tuple[str, str | None, list]]:
        """Each carve-out with the zone it is a host of (if it is one) and its address blocks."""
        hosts = self.policy.hosts
        return [(x, hosts[x].zone.name if x in hosts else None, self.blocks(x)) for x in sorted(excluded)]


def _block(cidr: str) -> tuple[int, int, int] | None:
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except (ValueError, TypeError):  # not an address: a name that denotes nothing
        return None
    return network.version, int(network.network_address), int(network.broadcast_address)


def _excluded(carved) -> frozenset[str]:
    """Every endpoint the carve-outs' `Members` name."""
    excluded: set[str] = set()
    for members in carved:
        excluded |= members.zones | members.hosts | members.addresses
    return frozenset(excluded)


_NOTHING: frozenset[str] = frozenset()


def _endpoints(members, excluded: frozenset[str], space: _Space) -> frozenset[tuple[str, frozenset[str]]]:
    """(endpoint, the carve-outs that cut into it) for every endpoint not carved out whole.

    A carve-out cuts into an endpoint when it is a host of that zone, or when their addresses meet.
    """
    if not excluded:
        return frozenset((e, _NOTHING) for e in members.endpoints())
    cutters = space.cutters(excluded)
    out = []
    for endpoint in members.endpoints():
        if endpoint in excluded:
            continue
        cut = []
        blocks = None
        for carved, zone, carved_blocks in cutters:
            if zone == endpoint:
                cut.append(carved)
            elif carved_blocks:
                if blocks is None:
                    blocks = space.blocks(endpoint)
                if any(a[0] == b[0] and a[1] <= b[2] and b[1] <= a[2] for a in carved_blocks for b in blocks):
                    cut.append(carved)
        out.append((endpoint, frozenset(cut) if cut else _NOTHING))
    return frozenset(out)


# A contribution is what one `allow` adds to its side, as plain hashable data:
#   (sources, destinations, services, log, datatypes, places)
# sources / destinations: frozensets of (endpoint, the carve-outs that cut into it);
# services: sorted ((service, the data types it carries here), ...); datatypes: everything the
# `allow` carries; places: the zones (a host counts for its zone) and addresses it touches.
# Two `allow`s with equal contributions add exactly the same triples and reach (but their spans).


def contributions(policy, sets: dict | None = None) -> dict[tuple, list[Span]]:
    """Every distinct contribution of the side's `allow`s, with the spans of the `allow`s that make it.

    An `allow` with no source or no destination left contributes nothing and is left out.
    `sets`: a table of the sets already made (for the other side), so that equal parts of the
    two sides' contributions are the same objects and compare at once.
    """
    return grouped(Parts(policy, {} if sets is None else sets), policy.flows)


def grouped(parts: Parts, flows) -> dict[tuple, list[Span]]:
    """The contributions of these `allow`s (worked out by `parts`), each with the spans that make it."""
    groups: dict[tuple, list[Span]] = {}
    contribution = parts.contribution
    for flow in flows:
        made = contribution(flow)
        if made is not None:
            spans = groups.get(made)
            if spans is None:
                groups[made] = [flow.span]
            else:
                spans.append(flow.span)
    return groups


class Parts:
    """The parts of contributions, each worked out once per side and made once (`sets`) per diff."""

    def __init__(self, policy, sets: dict) -> None:
        self.space = _Space(policy)
        self.expand = policy.expand
        self.carries = {name: frozenset(r.name for r in s.carries) for name, s in policy.services.items()}
        self.zone_of = {name: host.zone.name for name, host in policy.hosts.items()}
        self.intern = sets.setdefault
        # `expand` gives equal selectors one `Members`: endpoints by the ids of the selector's and
        # carve-outs' `Members` (kept in the value, so that the ids stay theirs)
        self.plain: dict[int, tuple] = {}
        self.carved: dict[tuple, tuple] = {}
        self.services: dict[tuple, tuple] = {}
        self.places: dict[tuple[int, int], frozenset] = {}
        self.zones: dict[int, tuple] = {}

    def contribution(self, flow) -> tuple | None:
        values = flow.__dict__
        sources = self.endpoints(values["source"], values["except_from"])
        if not sources:
            return None
        destinations = self.endpoints(values["destination"], values["except_to"])
        if not destinations:
            return None
        refs, carrying = values["services"], values["carrying"]
        key = refs[0].name if len(refs) == 1 and not carrying else (
            tuple(r.name for r in refs), tuple(r.name for r in carrying))
        found = self.services.get(key)
        if found is None:
            found = self.services[key] = self._services(*((key,), ()) if isinstance(key, str) else key)
        services, datatypes = found
        places = _NOTHING
        if datatypes:
            pair = (id(sources), id(destinations))
            places = self.places.get(pair)
            if places is None:
                places = self.places[pair] = self._zones(sources) | self._zones(destinations)
        return (sources, destinations, services, values["log"], datatypes, places)

    def endpoints(self, selector, carve_outs) -> frozenset:
        members = self.expand(selector)
        if not carve_outs:
            found = self.plain.get(id(members))
            if found is None:
                endpoints = _endpoints(members, _NOTHING, self.space)
                found = self.plain[id(members)] = (members, self.intern(endpoints, endpoints))
            return found[1]
        carved = [self.expand(s) for s in carve_outs]
        key = (id(members), *map(id, carved))
        found = self.carved.get(key)
        if found is None:
            endpoints = _endpoints(members, _excluded(carved), self.space)
            found = self.carved[key] = (members, carved, self.intern(endpoints, endpoints))
        return found[2]

    def _services(self, names: tuple[str, ...], carrying_names: tuple[str, ...]) -> tuple:
        carrying = frozenset(carrying_names)
        intern = self.intern
        by_name = {name: self.carries.get(name, _NOTHING) | carrying for name in names}
        services = tuple(sorted((name, intern(carried, carried)) for name, carried in by_name.items()))
        datatypes = carrying.union(*by_name.values())
        return intern(services, services), intern(datatypes, datatypes)

    def _zones(self, endpoints: frozenset) -> frozenset:
        """The places of endpoints: a host counts for its zone, a zone or address for itself."""
        found = self.zones.get(id(endpoints))
        if found is None:
            zone_of = self.zone_of
            found = self.zones[id(endpoints)] = (endpoints, frozenset([zone_of.get(e, e) for e, _ in endpoints]))
        return found[1]


def fold(items, triples: dict, reach: dict, keys=None, reach_keys=None) -> None:
    """Add contributions, each with its spans, to `triples` and `reach` (only `keys` / `reach_keys` if given).

    triples: (source, destination, service) -> raw facts (datatypes, cuts of the source, cuts of the
    destination, log, spans), frozensets all but `log` and `spans`; several `allow`s add up: data
    types by union, cuts by intersection, `log` by or. reach: (place, data type) -> spans.
    """
    for (sources, destinations, services, log, datatypes, places), spans in items:
        spans = tuple(spans)
        for name, carried in services:
            for source, cut_source in sources:
                for destination, cut_destination in destinations:
                    key = (source, destination, name)
                    if keys is not None and key not in keys:
                        continue
                    found = triples.get(key)
                    if found is None:
                        triples[key] = (carried, cut_source, cut_destination, log, spans)
                    else:
                        triples[key] = (found[0] | carried, found[1] & cut_source, found[2] & cut_destination,
                                        found[3] or log, found[4] + spans)
        for place in places:
            for datatype in datatypes:
                if reach_keys is None or (place, datatype) in reach_keys:
                    found = reach.get((place, datatype))
                    if found is None:
                        reach[(place, datatype)] = list(spans)
                    else:
                        found.extend(spans)


def reach_entries(reach: dict, zones, holds: dict) -> dict[tuple[str, str], ReachEntry]:
    """(place, data type) -> spans, as `ReachEntry`s (`zones`: the side's zone names, `holds`: zone -> data types)."""
    return {
        (place, datatype): ReachEntry(place, "zone" if place in zones else "address", datatype,
                                      datatype in holds.get(place, ()), spans_of(spans))
        for (place, datatype), spans in reach.items()
    }


def facts(raw: tuple) -> FlowFacts:
    return FlowFacts(tuple(sorted(raw[0])), tuple(sorted(raw[1])), tuple(sorted(raw[2])), raw[3], spans_of(raw[4]))


def spans_of(spans) -> tuple[Span, ...]:
    return tuple(sorted(set(spans)))
