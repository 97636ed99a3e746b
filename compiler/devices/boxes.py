"""A device's rules as disjoint boxes: for targets that need their permits not to overlap
(nftables interval sets refuse overlapping elements), or that match best on whole boxes.

The rules of one (ingress, source zone) are cut along the source addresses into stretches where
the same rules apply, then along the destination addresses per egress; on each piece the rules'
services are merged per protocol. Rules from the whole zone are cut apart from rules from part of
it: their boxes are `wide`, and no two wide boxes (and no two other boxes) of one group share a
packet; a wide box may overlap another box (a target keeps the two kinds apart). Every box is
source × egress × destination × services, and their union is exactly the union of the rules.
Each box names the flows whose rules cover it (for comments).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, NamedTuple

from ..packets.addresses import AddressSet, _merge
from .intent import L4, Rule

PROTOCOLS = {4: ("tcp", "udp", "icmp"), 6: ("tcp", "udp", "icmpv6")}


class Box(NamedTuple):
    family: int
    source: tuple[tuple[int, int], ...]  # sorted, disjoint intervals
    wide: bool  # the source is every address of the source zone in this family
    egress: str
    destination: tuple[tuple[int, int], ...]
    services: tuple[L4, ...]  # merged runs, per protocol
    flows: tuple[int, ...]  # the flows whose rules cover the box


def _stretches(items: list[tuple[tuple[tuple[int, int], ...], int]]) -> dict[frozenset[int], list[tuple[int, int]]]:
    """Sweep: the address line cut where the set of items covering it changes; for each set,
    the intervals it covers. `items` is (intervals, item number)."""
    events: list[tuple[int, int, int]] = []
    for intervals, k in items:
        for first, last in intervals:
            events.append((first, 1, k))
            events.append((last + 1, -1, k))
    events.sort()
    out: dict[frozenset[int], list[tuple[int, int]]] = defaultdict(list)
    active: dict[int, int] = {}
    n = len(events)
    e = 0
    while e < n:
        position = events[e][0]
        while e < n and events[e][0] == position:
            _, delta, k = events[e]
            count = active.get(k, 0) + delta
            if count:
                active[k] = count
            else:
                del active[k]
            e += 1
        if active and e < n:
            out[frozenset(active)].append((position, events[e][0] - 1))
    return {key: _merge(value) for key, value in out.items()}


def _cuts(destinations: dict[int, tuple], members: list[int]) -> list[tuple[frozenset[int], tuple]]:
    """The destinations of some rules cut into pieces covered by the same rules: rules with
    equal destinations go together, and when the distinct destinations are disjoint (zones and
    their hosts seldom overlap across rules of one egress) that is all; else a sweep."""
    same: dict[tuple, list[int]] = {}
    for k in members:
        same.setdefault(destinations[k], []).append(k)
    if len(same) > 1:
        ordered = sorted((interval, key) for key in same for interval in key)
        for ((_, last), _), ((following, _), _) in zip(ordered, ordered[1:]):
            if following <= last:
                return sorted(((covering, tuple(pieces)) for covering, pieces in
                               _stretches([(destinations[k], k) for k in members]).items()), key=lambda c: c[1][0])
    return sorted(((frozenset(ks), key) for key, ks in same.items()), key=lambda c: c[1][0])


def disjoint_boxes(rules: Iterable[Rule], zone: AddressSet) -> list[Box]:
    """The rules of one (ingress, source zone) as disjoint boxes; `zone` is the source zone's
    addresses (a box whose source is all of them is `wide`)."""
    rules = list(rules)
    boxes: list[Box] = []
    for family in (4, 6):
        protocols = PROTOCOLS[family]
        whole = tuple(zone.family(family))
        sources: dict[int, tuple] = {}
        destinations: dict[int, tuple] = {}
        runs_of: dict[int, list[L4]] = {}
        for k, r in enumerate(rules):
            source, destination = r.source.family(family), r.destination.family(family)
            if source and destination:
                runs = [s for s in r.services if s.protocol in protocols]
                if runs:
                    sources[k], destinations[k], runs_of[k] = source, destination, runs
        # rules from the whole zone and rules from part of it are cut apart: a host's rule must
        # not split every zone-wide rule of the chain into pieces of the zone
        wide = [k for k, source in sources.items() if source == whole]
        stretches = _stretches([(source, k) for k, source in sources.items() if source != whole])
        if wide:
            stretches[frozenset(wide)] = list(whole)
        for active, stretch in sorted(stretches.items(), key=lambda item: (tuple(item[1]) != whole, item[1][0])):
            stretch = tuple(stretch)
            by_egress: dict[str, list[int]] = defaultdict(list)
            for k in sorted(active):
                by_egress[rules[k].egress].append(k)
            for egress in sorted(by_egress):
                for covering, pieces in _cuts(destinations, by_egress[egress]):
                    if len(covering) == 1:
                        [k] = covering
                        services = tuple(runs_of[k])
                        flows = (rules[k].flow,)
                    else:
                        runs: dict[str, list[tuple[int, int]]] = defaultdict(list)
                        for k in covering:
                            for s in runs_of[k]:
                                runs[s.protocol].append((s.low, s.high))
                        services = tuple(L4(p, low, high) for p in protocols if p in runs
                                         for low, high in _merge(runs[p]))
                        flows = tuple(sorted({rules[k].flow for k in covering}))
                    boxes.append(Box(family, stretch, stretch == whole, egress, pieces, services, flows))
    return boxes
