"""What can differ between two sides' flows: only what the `allow`s that differ touch.

Each side is reduced to its contributions (`flows.contributions`): what each `allow` adds, after
its selectors are expanded with that side's definitions. An `allow` that makes the same
contribution on both sides (the same endpoints and carve-outs, services and data types, `log`,
places) adds the same triples and reach to both, whatever its text or position; one whose
meaning changed, directly or through a zone, host, group or service it names, makes a different
contribution. So only the triples and reach entries of the contributions that differ can differ,
and only those are computed, on each side from every contribution that touches them.

When both sides are in this process and define exactly the same things (`local_flow_tables`),
an `allow` object both have (a file equal on both sides is parsed once) contributes the same to
both, spans included: only the other `allow`s are worked out in full, and of the shared ones
only those whose endpoints can touch what differs.
"""

from __future__ import annotations

from .flows import Parts, fold, grouped

Tables = tuple[tuple[dict, dict], tuple[dict, dict]]  # (triples, reach) of OLD, of NEW


def flow_tables(old: dict, new: dict, old_zone_of: dict, new_zone_of: dict, incremental: bool = True) -> Tables:
    """(triples, reach) of each side, for every triple and reach entry that can differ.

    `old` and `new` map contributions to the spans of the `allow`s that make them; the zone maps
    (host -> its zone) add each host triple's zone-level triples, to tell whether the other side
    covers it. `incremental=False`: every triple and reach entry (the same comparison).
    """
    if not incremental:
        tables: Tables = (({}, {}), ({}, {}))
        fold(old.items(), *tables[0])
        fold(new.items(), *tables[1])
        return tables
    return _focused(old, new, old_zone_of, new_zone_of, [])


def local_flow_tables(old_policy, new_policy, both: frozenset[int], zone_of: dict, sets: dict,
                      canonical: dict) -> Tables:
    """`flow_tables` of two sides loaded in this process that define exactly the same things.

    `both`: ids of the `allow` objects the two sides have in common; `zone_of`: host -> its zone
    (the same on both sides); `canonical`: id of an `allow` -> (the `allow`, its canonical form),
    for the others (`canonical.model_of`). With the same definitions, `allow`s with the same
    canonical form make the same contribution (the assumption that lets equal model keys skip
    verification), so an `allow` the other side also has, moved or reformatted, is worked out once.
    """
    parts = Parts(new_policy, sets)  # the same definitions: the same expansions on both sides
    made: dict[tuple, tuple | None] = {}

    def contributions(policy) -> dict:
        groups: dict[tuple, list] = {}
        for flow in policy.flows:
            if id(flow) in both:
                continue
            form = canonical[id(flow)][1]
            contribution = made.get(form, made)
            if contribution is made:
                contribution = made[form] = parts.contribution(flow)
            if contribution is not None:
                groups.setdefault(contribution, []).append(flow.span)
        return groups

    old = contributions(old_policy)
    new = contributions(new_policy)
    common = [flow for flow in new_policy.flows if id(flow) in both]
    return _focused(old, new, zone_of, zone_of, common, parts, zone_of)


def _focused(old: dict, new: dict, old_zone_of: dict, new_zone_of: dict, common: list,
             parts: Parts | None = None, zone_of: dict | None = None) -> Tables:
    """The tables of the triples and reach entries that the contributions that differ touch.

    `common`: `allow`s both sides have, beside `old` and `new` (worked out by `parts`, only if
    they can touch those).
    """
    old_changed = [(c, spans) for c, spans in old.items() if len(new.get(c, ())) != len(spans)]
    new_changed = [(c, spans) for c, spans in new.items() if len(old.get(c, ())) != len(spans)]
    tables: Tables = (({}, {}), ({}, {}))
    if not old_changed and not new_changed:
        return tables
    fold(old_changed, *tables[0])
    fold(new_changed, *tables[1])
    keys = _with_zones(tables[0][0], old_zone_of) | _with_zones(tables[1][0], new_zone_of)
    reach_keys = tables[0][1].keys() | tables[1][1].keys()
    changed = {c for c, _ in new_changed}
    touching = _touching((c for c in new if c not in changed), keys, reach_keys)
    shared = []
    if common:
        shared = _touching(grouped(parts, _near(common, parts, keys, reach_keys, zone_of)), keys, reach_keys)
    tables = (({}, {}), ({}, {}))
    fold([*((c, old[c]) for c in touching), *old_changed, *shared], *tables[0], keys, reach_keys)
    fold([*((c, new[c]) for c in touching), *new_changed, *shared], *tables[1], keys, reach_keys)
    return tables


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
    """The contributions that add to one of `keys` (triples) or `reach_keys` (place, data type).

    `contributions`: contributions, or a dict of them (the result keeps the dict's items).
    """
    pairs_of: dict[str, list[tuple[str, str]]] = {}
    for source, destination, service in keys:
        pairs_of.setdefault(service, []).append((source, destination))
    places_of: dict[str, set[str]] = {}
    for place, datatype in reach_keys:
        places_of.setdefault(datatype, set()).add(place)
    names: dict[int, tuple] = {}

    def endpoint_names(endpoints: frozenset) -> frozenset:
        found = names.get(id(endpoints))
        if found is None:
            found = names[id(endpoints)] = (endpoints, frozenset(e for e, _ in endpoints))
        return found[1]

    items = isinstance(contributions, dict)
    out = []
    for entry in (contributions.items() if items else contributions):
        sources, destinations, services, _, datatypes, places = entry[0] if items else entry
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
            out.append(entry)
    return out


def _near(flows: list, parts: Parts, keys: set, reach_keys: set, zone_of: dict) -> list:
    """The `allow`s whose selectors name an endpoint of `keys` at both ends (with one of their
    services), or one in a place of `reach_keys`: all that can touch them (carve-outs only take
    endpoints away), found without working out their contributions."""
    services = {service for _, _, service in keys}
    places = {place for place, _ in reach_keys}
    wanted = ({source for source, _, _ in keys}, {destination for _, destination, _ in keys},
              places | {host for host, zone in zone_of.items() if zone in places})
    expand = parts.expand
    seen: dict[int, tuple] = {}  # id of a `Members` -> (it, names a source, a destination, a place)

    def names(members) -> tuple:
        found = seen.get(id(members))
        if found is None:
            found = seen[id(members)] = (members, *(
                not (names.isdisjoint(members.zones) and names.isdisjoint(members.hosts)
                     and names.isdisjoint(members.addresses)) for names in wanted))
        return found

    out = []
    for flow in flows:
        source, destination = names(expand(flow.source)), names(expand(flow.destination))
        if source[3] or destination[3] or (source[1] and destination[2]
                                           and any(ref.name in services for ref in flow.services)):
            out.append(flow)
    return out
