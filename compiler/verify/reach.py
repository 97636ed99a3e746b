"""Zone-level views of the intent for verification: who can connect to whom, where data moves.

Endpoints (zones, hosts, raw addresses) map to zones: a host to its zone, an address to every
zone whose networks overlap it, and to `internet` if some of it is owned by no zone and is not
private address space (private space no zone owns belongs to nobody: E520). Traffic inside a zone is not
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

from ..checks.addresses import address_range as _address_range
from ..diagnostics import Hop
from ..model import Flow, SelName
from ..packets.addresses import PRIVATE, AddressSet, _merge
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

    __slots__ = ("endpoints", "zones", "mask", "_first")

    def __init__(self, endpoints: tuple[tuple[str, tuple[str, ...]], ...]) -> None:
        self.endpoints = endpoints
        self.zones: frozenset[str] = frozenset(z for _, zones in endpoints for z in zones)
        self.mask = 0  # the zones as bits of `Intent.zone_bit`, set once every side is known
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
        self._encrypted: dict[tuple[str, ...], frozenset[str]] = {}
        self._sides: dict = {}  # (selector key, carve-out keys) or a bare name -> Side
        # per flow, in `policy.flows` order: its sides, its service names (as written), the data
        # types it moves
        self.source_sides: list[Side] = []
        self.destination_sides: list[Side] = []
        self.services: list[tuple[str, ...]] = []
        self.datatypes_of: list[frozenset[str]] = []
        self._out: dict[str, int] | None = None
        self._by_source: dict[str, list[int]] | None = None
        self._by_service: dict[str, list[int]] | None = None
        self._carrying: dict[str, object] = {}
        # One pass over the flows (a large policy's model is spread over memory: touching each
        # flow once is what costs), keeping only what the checks ask about.
        sides, side_of = self._sides, self._side
        service_tuples, datatypes_of = self.services, self.datatypes_of
        source_sides, destination_sides = self.source_sides, self.destination_sides
        # service name, or tuple of names -> (the names as a tuple, the data types they carry)
        interned: dict = {}
        moved: dict[tuple, frozenset[str]] = {}  # (services, carrying) -> data types
        carrying_names: dict[str, list[int]] = {}
        no_carve = ()
        for index, flow in enumerate(policy.flows):
            refs = flow.services
            key = refs[0].name if len(refs) == 1 else tuple([r.name for r in refs])
            found = interned.get(key)
            if found is None:
                services = key if type(key) is tuple else (key,)
                found = interned[key] = (services, frozenset(policy.service_datatypes(services)))
            services, datatypes = found
            service_tuples.append(services)
            carrying = flow.carrying
            if carrying:
                names = tuple([r.name for r in carrying])
                datatypes = moved.get((services, names))
                if datatypes is None:
                    datatypes = moved[services, names] = frozenset(found[1].union(names))
                for name in names:
                    indexes = carrying_names.setdefault(name, [])
                    if not indexes or indexes[-1] != index:
                        indexes.append(index)
            datatypes_of.append(datatypes)
            # a single name without carve-outs (most flows): the side is keyed by the name
            selector = flow.source
            item = selector.items[0] if len(selector.items) == 1 else None
            if type(item) is SelName and not flow.except_from:
                source_sides.append(sides.get(item.name) or side_of(selector, no_carve, item.name))
            else:
                source_sides.append(side_of(selector, flow.except_from))
            selector = flow.destination
            item = selector.items[0] if len(selector.items) == 1 else None
            if type(item) is SelName and not flow.except_to:
                destination_sides.append(sides.get(item.name) or side_of(selector, no_carve, item.name))
            else:
                destination_sides.append(side_of(selector, flow.except_to))
        self._carrying_clause = carrying_names
        # Zone sets as bits, in name order: unions are integer ORs, and the set bits of a mask
        # come out lowest first, which is name order.
        names = set(policy.zones)
        for side in sides.values():
            names.update(side.zones)
        self.zone_names: list[str] = sorted(names)
        self.zone_bit: dict[str, int] = {name: 1 << i for i, name in enumerate(self.zone_names)}
        for side in sides.values():
            mask = 0
            for zone in side.zones:
                mask |= self.zone_bit[zone]
            side.mask = mask

    def names_of(self, mask: int) -> Iterator[str]:
        """The zones of a mask, in name order."""
        names = self.zone_names
        while mask:
            low = mask & -mask
            yield names[low.bit_length() - 1]
            mask ^= low

    def mask_of(self, zones) -> int:
        bit = self.zone_bit
        mask = 0
        for zone in zones:
            mask |= bit.get(zone, 0)
        return mask

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
                    (*_address_range(n.cidr), zone.name) for zone in self.policy.zones.values() for n in zone.networks
                )
                for version, f, l, _ in self._networks:
                    self._widest[version] = max(self._widest.get(version, 0), l - f)
            try:
                version, first, last = _address_range(cidr)
            except (netaddr.AddrFormatError, ValueError):
                return ("internet",)
            # networks sorted by start: only those starting in [first - widest, last] can overlap
            low = bisect.bisect_left(self._networks, (version, first - self._widest.get(version, 0)))
            high = bisect.bisect_right(self._networks, (version, last, float("inf")))
            overlapping = [(f, l, z) for v, f, l, z in self._networks[low:high] if f <= last and first <= l]
            zones = sorted({z for _, _, z in overlapping})
            if _reaches_internet(version, first, last, [(f, l) for f, l, _ in overlapping]):
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

    def _side(self, selector, carve_outs, key=None) -> Side:
        if key is None:
            what = selector_key(selector)
            if carve_outs:
                key = (what, tuple([selector_key(s) for s in carve_outs]))
            else:  # a bare name is keyed by itself, as the flows' fast path does
                key = what[0] if len(what) == 1 and type(what[0]) is str else (what, ())
        side = self._sides.get(key)
        if side is None:
            if carve_outs:
                # the side without carve-outs, less the endpoints they remove whole (`policy.carved`:
                # the endpoint itself, or the zone a host is in)
                whole = self._side(selector, ())
                removed = [self.policy.expand(s) for s in carve_outs]
                names = set().union(*[m.zones | m.hosts | m.addresses for m in removed])
                zones = set().union(*[m.zones for m in removed])
                host_zone = self.zone_of_host
                side = Side(tuple(pair for pair in whole.endpoints
                                  if pair[0] not in names and host_zone.get(pair[0]) not in zones))
            else:
                zones_of = self.zones_of
                side = Side(tuple([(e, zones_of(e)) for e in self.policy.expand(selector).sorted_endpoints]))
            self._sides[key] = side
        return side

    def pairs(self, index: int) -> Iterator[tuple[str, str, str, str]]:
        """The endpoint pairs of a flow with their zones, (source, destination, source zone,
        destination zone): sources and destinations in `Members.endpoints()` order, less
        carve-outs; an address in several zones gives one pair per zone."""
        source, destination = self.source_sides[index], self.destination_sides[index]
        for s, source_zones in source.endpoints:
            for d, destination_zones in destination.endpoints:
                for zs in source_zones:
                    for zd in destination_zones:
                        yield s, d, zs, zd

    def crossing(self, index: int) -> tuple[str, str, str, str] | None:
        """The first pair of a flow (in `pairs` order) that crosses a zone boundary."""
        source, destination = self.source_sides[index].mask, self.destination_sides[index].mask
        both = source | destination
        if not source or not destination or not both & (both - 1):  # fewer than two zones
            return None
        return next((p for p in self.pairs(index) if p[2] != p[3]), None)

    def datatypes(self, index: int) -> frozenset[str]:
        """Data types a flow moves: those its services carry and those it names with `carrying`."""
        return self.datatypes_of[index]

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
        return self._carrying_clause.get(datatype, [])

    def step(self, index: int, source_zone: str, destination_zone: str) -> Step:
        """The step of one flow between two zones: its first endpoint pair by name."""
        return self._make_step(index, self.source_sides[index].first(source_zone),
                               self.destination_sides[index].first(destination_zone))

    def _make_step(self, index: int, source: str, destination: str) -> Step:
        flow = self.policy.flows[index]
        services = self.services[index]
        encrypted = self._encrypted.get(services)
        if encrypted is None:
            known = self.policy.services
            encrypted = self._encrypted[services] = frozenset(s for s in services if s in known and known[s].encrypted)
        return Step(Hop(source, destination, services, flow.span), flow, self.datatypes(index), encrypted)

    def step_key(self, index: int, source_zone: str, destination_zone: str) -> tuple:
        """What orders the steps of a zone pair: endpoints, services, location."""
        return (self.source_sides[index].first(source_zone), self.destination_sides[index].first(destination_zone),
                self.services[index], self.policy.flows[index].span)

    # ---- zone-level adjacency ------------------------------------------------------------

    def out(self) -> dict[str, int]:
        """Source zone -> the mask of the other zones some flow lets it open connections to."""
        if self._out is None:
            reached: dict[Side, int] = {}  # source side -> destination zones
            get = reached.get
            for source, destination in zip(self.source_sides, self.destination_sides):
                reached[source] = get(source, 0) | destination.mask
            out: dict[str, int] = {}
            for source, mask in reached.items():
                for zs in source.zones:
                    out[zs] = out.get(zs, 0) | mask
            bit = self.zone_bit
            self._out = {zs: mask & ~bit[zs] for zs, mask in out.items()}
        return self._out

    def _flows_from(self, zone: str) -> list[int]:
        if self._by_source is None:
            index: dict[str, list[int]] = {}
            for i, source in enumerate(self.source_sides):
                for z in source.zones:
                    index.setdefault(z, []).append(i)
            self._by_source = index
        return self._by_source.get(zone, [])

    def first_step(self, source_zone: str, destination_zone: str) -> Step | None:
        """The least step (by `step_key`) of any flow from one zone to another."""
        best = None
        destinations = self.destination_sides
        for i in self._flows_from(source_zone):
            if destination_zone in destinations[i].zones:
                key = self.step_key(i, source_zone, destination_zone)
                if best is None or key < best[0]:
                    best = (key, i)
        return None if best is None else self._make_step(best[1], best[0][0], best[0][1])

    def steps(self, source_zone: str, destination_zone: str) -> list[Step]:
        """Every step from one zone to another, one per flow and endpoint pair, least first."""
        found = []
        for i in self._flows_from(source_zone):
            source, destination = self.source_sides[i], self.destination_sides[i]
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
        names = self.zone_names
        previous: dict[str, tuple[str, Step | None] | None] = {zone: None for zone in sources}
        visited = self.mask_of(sources)
        queue = deque((zone, 0) for zone in sorted(sources))
        while queue:
            zone, depth = queue.popleft()
            if within is not None and depth >= within:
                continue
            fresh = out.get(zone, 0) & ~visited
            while fresh:  # in name order
                low = fresh & -fresh
                fresh ^= low
                nxt = names[low.bit_length() - 1]
                step = None
                if edge is not None:
                    step = next((s for s in self.steps(zone, nxt) if edge(s)), None)
                    if step is None:
                        continue
                previous[nxt] = (zone, step)
                visited |= low
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
        sources, destinations = intent.source_sides, intent.destination_sides
        for i, datatypes in enumerate(intent.datatypes_of):
            if datatype in datatypes:
                source, destination = sources[i], destinations[i]
                if not source.mask or not destination.mask:
                    continue
                for z in source.zones:
                    self.from_zone.setdefault(z, []).append(i)
                for z in destination.zones:
                    self.to_zone.setdefault(z, []).append(i)

    def neighbours(self, zone: str) -> tuple[int, int]:
        """The masks of the zones a carrying flow connects this zone to, and of those it
        connects from."""
        intent = self.intent
        outs = ins = 0
        for i in self.from_zone.get(zone, ()):
            outs |= intent.destination_sides[i].mask
        for i in self.to_zone.get(zone, ()):
            ins |= intent.source_sides[i].mask
        other = ~intent.zone_bit[zone]
        return outs & other, ins & other

    def first_steps(self, zone: str, outs: set[str], ins: set[str]) -> dict[tuple[str, str], tuple]:
        """For each zone pair (zone, n) with n in `outs` and (n, zone) with n in `ins`: the least
        step key of the carrying flows between them, and the flow's index."""
        intent = self.intent
        best: dict[tuple[str, str], tuple] = {}
        for wanted, flows, outgoing in ((outs, self.from_zone, True), (ins, self.to_zone, False)):
            if not wanted:
                continue
            sides = intent.destination_sides if outgoing else intent.source_sides
            for i in flows.get(zone, ()):
                for n in sides[i].zones & wanted:
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
        flows = intent.policy.flows
        entries = []
        for i in self.from_zone.get(zone, ()):
            source, destination = intent.source_sides[i], intent.destination_sides[i]
            first, services, span = source.first(zone), intent.services[i], flows[i].span
            for n in destination.zones:
                if n != zone:
                    entries.append((rank(n), n, (zone, n), first, destination.first(n), services, span, i))
        for i in self.to_zone.get(zone, ()):
            source, destination = intent.source_sides[i], intent.destination_sides[i]
            first, services, span = destination.first(zone), intent.services[i], flows[i].span
            for n in source.zones:
                if n != zone:
                    entries.append((rank(n), n, (n, zone), source.first(n), first, services, span, i))
        entries.sort()
        return entries


def _reaches_internet(family: int, first: int, last: int, owned: list[tuple[int, int]]) -> bool:
    """Whether some of [first, last] is the internet: owned by no zone (`owned`: the zone networks
    overlapping it) and not private address space, which no zone owning it leaves unassigned."""
    inside = sum(min(l, last) - max(f, first) + 1 for f, l in _merge(list(owned)))
    if inside == last - first + 1:
        return False
    rest = AddressSet.of([(family, first, last)]) - AddressSet.of([(family, f, l) for f, l in owned]) - PRIVATE
    return bool(rest)


def build_intent(policy: Policy) -> Intent:
    return Intent(policy)
