"""What can differ between two sides' flows: only what the `allow`s that differ touch.

Each side is reduced to its contributions (`flows.contributions`): what each `allow` adds, after
its selectors are expanded with that side's definitions. An `allow` that makes the same
contribution on both sides (the same endpoints and carve-outs, services and data types, `log`,
places) adds the same triples and reach to both, whatever its text or position; one whose
meaning changed, directly or through a zone, host, group or service it names, makes a different
contribution. So only the triples and reach entries of the contributions that differ can differ,
and only those are computed, on each side from every contribution that touches them.
"""

from __future__ import annotations

from .flows import fold


def flow_tables(old: dict, new: dict, old_zone_of: dict, new_zone_of: dict,
                incremental: bool = True) -> tuple[tuple[dict, dict], tuple[dict, dict]]:
    """(triples, reach) of each side, for every triple and reach entry that can differ.

    `old` and `new` map contributions to the spans of the `allow`s that make them; the zone maps
    (host -> its zone) add each host triple's zone-level triples, to tell whether the other side
    covers it. `incremental=False`: every triple and reach entry (the same comparison).
    """
    old_triples: dict = {}
    old_reach: dict = {}
    new_triples: dict = {}
    new_reach: dict = {}
    if not incremental:
        fold(old.items(), old_triples, old_reach)
        fold(new.items(), new_triples, new_reach)
        return (old_triples, old_reach), (new_triples, new_reach)
    old_changed = [(c, spans) for c, spans in old.items() if len(new.get(c, ())) != len(spans)]
    new_changed = [(c, spans) for c, spans in new.items() if len(old.get(c, ())) != len(spans)]
    if not old_changed and not new_changed:
        return (old_triples, old_reach), (new_triples, new_reach)
    fold(old_changed, old_triples, old_reach)
    fold(new_changed, new_triples, new_reach)
    keys = _with_zones(old_triples, old_zone_of) | _with_zones(new_triples, new_zone_of)
    reach_keys = old_reach.keys() | new_reach.keys()
    changed = {c for c, _ in new_changed}
    touching = _touching((c for c in new if c not in changed), keys, reach_keys)
    old_triples, old_reach, new_triples, new_reach = {}, {}, {}, {}
    fold([*((c, old[c]) for c in touching), *old_changed], old_triples, old_reach, keys, reach_keys)
    fold([*((c, new[c]) for c in touching), *new_changed], new_triples, new_reach, keys, reach_keys)
    return (old_triples, old_reach), (new_triples, new_reach)


def _with_zones(triples: dict, zone_of: dict) -> set:
    """The triples, and for a host at either end the same triple with its zone in its place."""
    keys = set(triples)
    for source, destination, service in triples:
        source_zone = zone_of.get(source)
        destination_zone = zone_of.get(destination)
        if source_zone is not None:
            keys.add((source_zone, destination, service))
        if destination_zone is not None:
            keys.add((source, destination_zone, service))
            if source_zone is not None:
                keys.add((source_zone, destination_zone, service))
    return keys


def _touching(contributions, keys: set, reach_keys: set) -> list:
    """The contributions that add to one of `keys` (triples) or `reach_keys` (place, data type)."""
    pairs_of: dict[str, list[tuple[str, str]]] = {}
    for source, destination, service in keys:
        pairs_of.setdefault(service, []).append((source, destination))
    places_of: dict[str, set[str]] = {}
    for place, datatype in reach_keys:
        places_of.setdefault(datatype, set()).add(place)
    names: dict[int, frozenset] = {}

    def endpoint_names(endpoints: frozenset) -> frozenset:
        found = names.get(id(endpoints))
        if found is None:
            found = names[id(endpoints)] = frozenset(e for e, _ in endpoints)
        return found

    out = []
    for contribution in contributions:
        sources, destinations, services, _, datatypes, places = contribution
        hit = False
        for service, _ in services:
            pairs = pairs_of.get(service)
            if pairs:
                source_names, destination_names = endpoint_names(sources), endpoint_names(destinations)
                if any(s in source_names and d in destination_names for s, d in pairs):
                    hit = True
                    break
        if not hit and places:
            for datatype in datatypes:
                wanted = places_of.get(datatype)
                if wanted and not wanted.isdisjoint(places):
                    hit = True
                    break
        if hit:
            out.append(contribution)
    return out
