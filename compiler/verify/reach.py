"""Zone-level views of the intent for verification: who can connect to whom, where data moves.

Endpoints (zones, hosts, raw addresses) map to zones: a host to its zone, an address to every
zone whose networks overlap it, or to `internet` if none does. Traffic inside a zone is not
filtered, so a foothold on one host of a zone is a foothold in the zone: reachability and
data movement are computed between zones, and every step keeps the flow (and its line) that
allows it.

The intent is kept compact: each flow is two `Side`s (its endpoints after carve-outs, with
their zones), shared by every flow that says the same thing. A flow connects every zone of its
source side to every zone of its destination side (less a zone to itself); the zone-level
`Step` of a zone pair — the flow and endpoint pair a witness shows — is made only when a
witness or finding needs it: the least by (source endpoint, destination endpoint, services,
location), so witnesses do not depend on statement order.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass
from typing import Iterator

import netaddr

from ..diagnostics import Hop
from ..model import Flow
from ..resolve import Members, Policy, selector_key


@dataclass
class Step:
    """A zone-level edge: one flow and one of its endpoint pairs that connects the two zones."""

    hop: Hop
    flow: Flow
    datatypes: frozenset[str]
    encrypted_services: frozenset[str]


class Side:
    """One side of a flow less its carve-outs: the endpoints in `Members.endpoints()` order,
    each with the zones it lies in; the union of those zones; and, per zone, the endpoint that
    comes first by name (the one a witness names)."""

    __slots__ = ("endpoints", "zones", "_first")

    def __init__(self, endpoints: tuple[tuple[str, tuple[str, ...]], ...]) -> None:
        self.endpoints = endpoints
        self.zones: frozenset[str] = frozenset(z for _, zones in endpoints for z in zones)
        self._first: dict[str, str] | None = None

    def first(self, zone: str) -> str:
        if len(self.endpoints) == 1:
            return self.endpoints[0][0]
        first = self._first
        if first is None:
            first = self._first = {}
            for endpoint, zones in self.endpoints:
                for z in zones:
                    if z not in first or endpoint < first[z]:
                        first[z] = endpoint
        return first[zone]


class Intent:
    """Per flow (in `policy.flows` order): its source and destination `Side`s and its service
    names; zone-level adjacency and indexes built on first use."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.zone_of_host: dict[str, str] = {name: host.zone.name for name, host in policy.hosts.items()}
        self._zone_tuple = {name: (name,) for name in policy.zones}
        self._networks: list = []
        self._widest: dict = {}
        self._address_zones: dict[str, tuple[str, ...]] = {}
        self._memo: dict = {}  # interned sides, service tuples, data-type sets
        self.sides: list[tuple[Side, Side]] = []
        self.services: list[tuple[str, ...]] = []
        self._datatypes: list[frozenset[str]] | None = None
        self._out: dict[str, set[str]] | None = None
        self._by_source: dict[str, list[int]] | None = None
        self._by_service: dict[str, list[int]] | None = None
        self._carrying: dict[str, object] = {}
        memo = self._memo
        for flow in policy.flows:
            services = tuple([r.name for r in flow.services])
            self.services.append(memo.setdefault(services, services))
            self.sides.append((self._side(flow.source, flow.except_from), self._side(flow.destination, flow.except_to)))

    # ---- endpoints -> zones ---------------------------------------------------------

    def zones_of(self, endpoint: str) -> tuple[str, ...]:
        zones = self._zone_tuple.get(endpoint)
        if zones is not None:
            return zones
        zone = self.zone_of_host.get(endpoint)
        if zone is not None:
            return self._zone_tuple.get(zone) or (zone,)
        return self._zones_of_address(endpoint)

    def _zones_of_address(self, cidr: str) -> tuple[str, ...]:
        cached = self._address_zones.get(cidr)
        if cached is None:
            if not self._networks:
                self._networks = sorted(
                    (net.version, int(net.first), int(net.last), zone.name)
                    for zone in self.policy.zones.values()
                    for net in (netaddr.IPNetwork(n.cidr) for n in zone.networks)
                )
                for version, f, l, _ in self._networks:
                    self._widest[version] = max(self._widest.get(version, 0), l - f)
            try:
                net = netaddr.IPNetwork(cidr)
            except (netaddr.AddrFormatError, ValueError):
                return ("internet",)
            first, last = int(net.first), int(net.last)
            # networks sorted by start: only those starting in [first - widest, last] can overlap
            low = bisect.bisect_left(self._networks, (net.version, first - self._widest.get(net.version, 0)))
            high = bisect.bisect_right(self._networks, (net.version, last, float("inf")))
            overlapping = [(f, l, z) for v, f, l, z in self._networks[low:high] if f <= last and first <= l]
            zones = sorted({z for _, _, z in overlapping})
            inside = sum(min(l, last) - max(f, first) + 1 for f, l, _ in overlapping)
            if inside < last - first + 1:
                zones.append("internet")
            cached = tuple(zones)
            self._address_zones[cidr] = cached
        return cached

    def zones_of_members(self, members: Members) -> set[str]:
        zones: set[str] = set()
        for endpoint in members.zones | members.hosts | members.addresses:
            zones.update(self.zones_of(endpoint))
        return zones

    def covers(self, members: Members, endpoint: str) -> bool:
        """Whether a selector's members include this endpoint: itself, or the zone it is in."""
        return self.policy.covers(members, endpoint)

    # ---- flows ------------------------------------------------------------------------

    def _side(self, selector, carve_outs) -> Side:
        key = (selector_key(selector), tuple([selector_key(s) for s in carve_outs]) if carve_outs else ())
        side = self._memo.get(key)
        if side is None:
            policy = self.policy
            endpoints = policy.expand(selector).sorted_endpoints
            if carve_outs:
                endpoints = [e for e in endpoints if not policy.carved(carve_outs, e)]
            side = self._memo[key] = Side(tuple((e, self.zones_of(e)) for e in endpoints))
        return side

    def pairs(self, index: int) -> Iterator[tuple[str, str, str, str]]:
        """The endpoint pairs of a flow with their zones, (source, destination, source zone,
        destination zone): sources and destinations in `Members.endpoints()` order, less
        carve-outs; an address in several zones gives one pair per zone."""
        source, destination = self.sides[index]
        for s, source_zones in source.endpoints:
            for d, destination_zones in destination.endpoints:
                for zs in source_zones:
                    for zd in destination_zones:
                        yield s, d, zs, zd

    def crossing(self, index: int) -> tuple[str, str, str, str] | None:
        """The first pair of a flow (in `pairs` order) that crosses a zone boundary."""
        source, destination = self.sides[index]
        zones = source.zones | destination.zones
        if not source.zones or not destination.zones or len(zones) < 2:
            return None
        return next((p for p in self.pairs(index) if p[2] != p[3]), None)

    def datatypes(self, index: int) -> frozenset[str]:
        """Data types a flow moves: those its services carry and those it names with `carrying`."""
        if self._datatypes is None:
            policy = self.policy
            memo = self._memo
            found = []
            for flow, services in zip(policy.flows, self.services):
                key = ("datatypes", services, tuple([r.name for r in flow.carrying]))
                datatypes = memo.get(key)
                if datatypes is None:
                    datatypes = memo[key] = frozenset(policy.service_datatypes(services) | set(key[2]))
                found.append(datatypes)
            self._datatypes = found
        return self._datatypes[index]

    def flows_with_service(self, names) -> list[int]:
        """Indexes (ascending) of the flows that name any of these services."""
        if self._by_service is None:
            index: dict[str, list[int]] = {}
            for i, services in enumerate(self.services):
                for name in (services if len(services) == 1 else dict.fromkeys(services)):
                    index.setdefault(name, []).append(i)
            self._by_service = index
        names = list(dict.fromkeys(names))
        if len(names) == 1:
            return self._by_service.get(names[0], [])
        return sorted({i for name in names for i in self._by_service.get(name, ())})

    def flows_carrying(self, datatype: str) -> list[int]:
        """Indexes (ascending) of the flows that name this data type with `carrying`."""
        key = ("carrying-clause",)
        index = self._memo.get(key)
        if index is None:
            index = self._memo[key] = {}
            for i, flow in enumerate(self.policy.flows):
                for r in flow.carrying:
                    found = index.setdefault(r.name, [])
                    if not found or found[-1] != i:
                        found.append(i)
        return index.get(datatype, [])

    def step(self, index: int, source_zone: str, destination_zone: str) -> Step:
        """The step of one flow between two zones: its first endpoint pair by name."""
        source, destination = self.sides[index]
        return self._make_step(index, source.first(source_zone), destination.first(destination_zone))

    def _make_step(self, index: int, source: str, destination: str) -> Step:
        flow = self.policy.flows[index]
        services = self.services[index]
        key = ("encrypted", services)
        encrypted = self._memo.get(key)
        if encrypted is None:
            known = self.policy.services
            encrypted = self._memo[key] = frozenset(s for s in services if s in known and known[s].encrypted)
        return Step(Hop(source, destination, services, flow.span), flow, self.datatypes(index), encrypted)

    def step_key(self, index: int, source_zone: str, destination_zone: str) -> tuple:
        """What orders the steps of a zone pair: endpoints, services, location."""
        source, destination = self.sides[index]
        return (source.first(source_zone), destination.first(destination_zone), self.services[index],
                self.policy.flows[index].span)

    # ---- zone-level adjacency ------------------------------------------------------------

    def out(self) -> dict[str, set[str]]:
        """Source zone -> the other zones some flow lets it open connections to."""
        if self._out is None:
            out: dict[str, set[str]] = {}
            seen: set[tuple[int, int]] = set()
            for source, destination in self.sides:
                key = (id(source), id(destination))
                if key in seen or not destination.zones:
                    continue
                seen.add(key)
                for zs in source.zones:
                    zones = out.get(zs)
                    if zones is None:
                        out[zs] = set(destination.zones)
                    else:
                        zones |= destination.zones
            for zs, zones in out.items():
                zones.discard(zs)
            self._out = out
        return self._out

    def _flows_from(self, zone: str) -> list[int]:
        if self._by_source is None:
            index: dict[str, list[int]] = {}
            for i, (source, _) in enumerate(self.sides):
                for z in source.zones:
                    index.setdefault(z, []).append(i)
            self._by_source = index
        return self._by_source.get(zone, [])

    def first_step(self, source_zone: str, destination_zone: str) -> Step | None:
        """The least step (by `step_key`) of any flow from one zone to another."""
        best = None
        for i in self._flows_from(source_zone):
            if destination_zone in self.sides[i][1].zones:
                key = self.step_key(i, source_zone, destination_zone)
                if best is None or key < best[0]:
                    best = (key, i)
        return None if best is None else self._make_step(best[1], best[0][0], best[0][1])

    def steps(self, source_zone: str, destination_zone: str) -> list[Step]:
        """Every step from one zone to another, one per flow and endpoint pair, least first."""
        found = []
        for i in self._flows_from(source_zone):
            source, destination = self.sides[i]
            if destination_zone not in destination.zones:
                continue
            for s, source_zones in source.endpoints:
                if source_zone in source_zones:
                    for d, destination_zones in destination.endpoints:
                        if destination_zone in destination_zones:
                            found.append(((s, d, self.services[i], self.policy.flows[i].span), i))
        found.sort()
        return [self._make_step(i, key[0], key[1]) for key, i in found]

    # ---- search -----------------------------------------------------------------------

    def shortest_path(self, sources: set[str], targets: set[str], within: int | None = None,
                      through=lambda zone: True, edge=None) -> list[Step] | None:
        """Breadth-first over zone edges: the shortest chain of steps from a source zone to a
        target zone, entering only zones `through` allows as intermediates, using only edges
        `edge(step)` accepts (all if None). Zones are visited in name order, so the chain does
        not depend on statement order; its steps are made only for the chain found."""
        if sources & targets:
            return []
        if not targets:
            return None
        out = self.out()
        previous: dict[str, tuple[str, Step | None] | None] = {zone: None for zone in sources}
        queue = deque((zone, 0) for zone in sorted(sources))
        while queue:
            zone, depth = queue.popleft()
            if within is not None and depth >= within:
                continue
            following = out.get(zone)
            if not following:
                continue
            fresh = following.difference(previous)
            for nxt in sorted(fresh):
                step = None
                if edge is not None:
                    step = next((s for s in self.steps(zone, nxt) if edge(s)), None)
                    if step is None:
                        continue
                previous[nxt] = (zone, step)
                if nxt in targets:
                    return self._unwind(previous, nxt)
                if through(nxt):
                    queue.append((nxt, depth + 1))
        return None

    def _unwind(self, previous: dict, zone: str) -> list[Step]:
        chain: list[Step] = []
        while previous[zone] is not None:
            before, step = previous[zone]
            chain.append(step if step is not None else self.first_step(before, zone))
            zone = before
        return list(reversed(chain))

    # ---- data movement ----------------------------------------------------------------

    def carrying(self, datatype: str) -> "Carriers":
        carriers = self._carrying.get(datatype)
        if carriers is None:
            carriers = self._carrying[datatype] = Carriers(self, datatype)
        return carriers


class Carriers:
    """The flows that carry one data type, indexed by the zones on each side. Data moves both
    ways over a flow, so a zone's neighbours are the zones it connects to and from."""

    def __init__(self, intent: Intent, datatype: str) -> None:
        self.intent = intent
        self.from_zone: dict[str, list[int]] = {}  # zone -> carrying flows whose source side has it
        self.to_zone: dict[str, list[int]] = {}
        sides = intent.sides
        for i in range(len(sides)):
            if datatype in intent.datatypes(i):
                source, destination = sides[i]
                if not source.zones or not destination.zones:
                    continue
                for z in source.zones:
                    self.from_zone.setdefault(z, []).append(i)
                for z in destination.zones:
                    self.to_zone.setdefault(z, []).append(i)

    def neighbours(self, zone: str) -> tuple[set[str], set[str]]:
        """The zones a carrying flow connects this zone to, and those it connects from."""
        sides = self.intent.sides
        outs = set().union(*(sides[i][1].zones for i in self.from_zone.get(zone, ())))
        ins = set().union(*(sides[i][0].zones for i in self.to_zone.get(zone, ())))
        outs.discard(zone)
        ins.discard(zone)
        return outs, ins

    def first_steps(self, zone: str, outs: set[str], ins: set[str]) -> dict[tuple[str, str], tuple]:
        """For each zone pair (zone, n) with n in `outs` and (n, zone) with n in `ins`: the least
        step key of the carrying flows between them, and the flow's index."""
        intent = self.intent
        best: dict[tuple[str, str], tuple] = {}
        for wanted, flows, outgoing in ((outs, self.from_zone, True), (ins, self.to_zone, False)):
            if not wanted:
                continue
            for i in flows.get(zone, ()):
                source, destination = intent.sides[i]
                for n in (destination.zones if outgoing else source.zones) & wanted:
                    pair = (zone, n) if outgoing else (n, zone)
                    key = intent.step_key(i, *pair)
                    known = best.get(pair)
                    if known is None or key < known[0]:
                        best[pair] = (key, i)
        return best

    def entering(self, zone: str, rank) -> list[tuple]:
        """Every (carrying flow, zone pair) that touches this zone, as (rank(neighbour),
        neighbour, pair, step key..., flow index), sorted."""
        intent = self.intent
        entries = []
        for i in self.from_zone.get(zone, ()):
            source, destination = intent.sides[i]
            first, services, span = source.first(zone), intent.services[i], intent.policy.flows[i].span
            for n in destination.zones:
                if n != zone:
                    entries.append((rank(n), n, (zone, n), first, destination.first(n), services, span, i))
        for i in self.to_zone.get(zone, ()):
            source, destination = intent.sides[i]
            first, services, span = destination.first(zone), intent.services[i], intent.policy.flows[i].span
            for n in source.zones:
                if n != zone:
                    entries.append((rank(n), n, (n, zone), source.first(n), first, services, span, i))
        entries.sort()
        return entries


def build_intent(policy: Policy) -> Intent:
    return Intent(policy)
