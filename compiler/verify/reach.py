"""Zone-level views of the intent for verification: who can connect to whom, where data moves.

Endpoints (zones, hosts, raw addresses) map to zones: a host to its zone, an address to every
zone whose networks overlap it, or to `internet` if none does. Traffic inside a zone is not
filtered, so a foothold on one host of a zone is a foothold in the zone: reachability and
data movement are computed between zones, and every step keeps the flow (and its line) that
allows it.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass, field

import netaddr

from ..diagnostics import Hop
from ..model import Flow
from ..resolve import Members, Policy


@dataclass
class Step:
    """A zone-level edge: the first flow (in source order) that connects the two zones."""

    hop: Hop
    flow: Flow
    datatypes: frozenset[str]
    encrypted_services: frozenset[str]


@dataclass
class Intent:
    policy: Policy
    zone_of_host: dict[str, str] = field(default_factory=dict)
    # (source zone, destination zone) -> steps, in source order, one per flow and endpoint pair
    steps: dict[tuple[str, str], list[Step]] = field(default_factory=dict)
    out: dict[str, set[str]] = field(default_factory=dict)
    flow_pairs: list[list[tuple[str, str, str, str]]] = field(default_factory=list)  # per flow: (s, d, zs, zd)
    _networks: list = field(default_factory=list)
    _widest: dict = field(default_factory=dict)
    _address_zones: dict[str, tuple[str, ...]] = field(default_factory=dict)

    # ---- endpoints -> zones ---------------------------------------------------------

    def zones_of(self, endpoint: str) -> tuple[str, ...]:
        policy = self.policy
        if endpoint in policy.zones:
            return (endpoint,)
        if endpoint in self.zone_of_host:
            return (self.zone_of_host[endpoint],)
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

    # ---- search -----------------------------------------------------------------------

    def shortest_path(self, sources: set[str], targets: set[str], within: int | None = None,
                      through=lambda zone: True, edge=None) -> list[Step] | None:
        """Breadth-first over zone edges: the shortest chain of steps from a source zone to a
        target zone, entering only zones `through` allows as intermediates, using only edges
        `edge(step)` accepts (all if None)."""
        if sources & targets:
            return []
        previous: dict[str, tuple[str, Step] | None] = {zone: None for zone in sources}
        queue = deque((zone, 0) for zone in sorted(sources))
        while queue:
            zone, depth = queue.popleft()
            if within is not None and depth >= within:
                continue
            for nxt in sorted(self.out.get(zone, ())):
                if nxt in previous:
                    continue
                step = self._first_step(zone, nxt, edge)
                if step is None:
                    continue
                previous[nxt] = (zone, step)
                if nxt in targets:
                    return self._unwind(previous, nxt)
                if through(nxt):
                    queue.append((nxt, depth + 1))
        return None

    def _first_step(self, source: str, destination: str, edge) -> Step | None:
        for step in self.steps.get((source, destination), ()):
            if edge is None or edge(step):
                return step
        return None

    @staticmethod
    def _unwind(previous: dict, zone: str) -> list[Step]:
        chain: list[Step] = []
        while previous[zone] is not None:
            zone, step = previous[zone]
            chain.append(step)
        return list(reversed(chain))


def build_intent(policy: Policy) -> Intent:
    intent = Intent(policy=policy)
    intent.zone_of_host = {name: host.zone.name for name, host in policy.hosts.items()}
    for flow in policy.flows:
        services = tuple(r.name for r in flow.services)
        datatypes = frozenset(policy.service_datatypes(services) | {r.name for r in flow.carrying})
        encrypted = frozenset(s for s in services if s in policy.services and policy.services[s].encrypted)
        sources = policy.expand(flow.source)
        destinations = policy.expand(flow.destination)
        pairs = []
        targets = [(d, intent.zones_of(d)) for d in destinations.endpoints() if not policy.carved(flow.except_to, d)]
        for source in sources.endpoints():
            if policy.carved(flow.except_from, source):
                continue
            source_zones = intent.zones_of(source)
            for destination, destination_zones in targets:
                hop = None
                for zs in source_zones:
                    for zd in destination_zones:
                        pairs.append((source, destination, zs, zd))
                        if zs == zd:
                            continue
                        if hop is None:
                            hop = Hop(source, destination, services, flow.span)
                        intent.steps.setdefault((zs, zd), []).append(Step(hop, flow, datatypes, encrypted))
                        intent.out.setdefault(zs, set()).add(zd)
        intent.flow_pairs.append(pairs)
    for steps in intent.steps.values():  # witnesses must not depend on statement order
        steps.sort(key=lambda step: (step.hop.source, step.hop.destination, step.hop.services, step.hop.span))
    return intent
