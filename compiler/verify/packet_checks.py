"""Packet-level checks over the packet-set algebra (`septum.compiler.packets`).

PACKET_CHECKS maps a check name (see `names.CHECKS`) to a function `(policy) -> list[Diagnostic]`:

* `unassigned-address` (E520): a raw address in a flow's source or destination includes private
  address space (RFC 1918, RFC 6598, IPv6 ULA) that no zone owns.
* `redundant-rule` (W521): everything a flow allows is already allowed by other flows.
* `empty-flow` (E522): a flow allows no packet at all (carve-outs remove a whole side, services
  match nothing, or the sides and services share no address family).

Every flow's packet set is a product (source × destination × services, see
`packets.flows`), and the checks work on its parts: emptiness is a property of the parts; two
flows overlap when their parts meet pairwise; one flow inside another is a part-wise test; only a
flow that several others might cover together has its full product compared with the union of
theirs. The redundancy check is not quadratic: two flows can share a packet only if some zone (or
the internet) owns part of both sources and some zone owns part of both destinations, so flows
are filed under their (source owner, destination owner) pairs and compared only within a pair.
See docs/packets.md.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Callable

from ..diagnostics import Diagnostic, Related
from ..model import Flow, SelAddress, SelName, Span
from ..packets.addresses import PRIVATE, PRIVATE_RANGES, AddressSet
from ..packets.flows import V4, V6, FlowPackets, no_gc, policy_packets
from ..resolve import Policy
from .names import CHECKS

WIDE = 4096  # a flow touching more (source owner, destination owner) pairs is indexed by side instead
COVER_MINIMISE_LIMIT = 48  # beyond this many overlapping flows, name them all rather than minimise


def _loc(span: Span) -> str:
    return f"{span.file}:{span.line}"


def _head(flow: Flow) -> Span:
    """`allow SRC -> DST : SERVICES`, without options and justification."""
    if not flow.services:
        return flow.span
    last = flow.services[-1].span
    return Span(flow.span.file, flow.span.line, flow.span.column, last.end_line, last.end_column)


def _join(spans: list[Span]) -> Span:
    first, last = spans[0], spans[-1]
    return Span(first.file, first.line, first.column, last.end_line, last.end_column)


def _and_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _cidr_list(cidrs: list[str], limit: int = 4) -> str:
    if len(cidrs) <= limit:
        return ", ".join(cidrs)
    return ", ".join(cidrs[:limit]) + f" and {len(cidrs) - limit} more"


# ---- E520: private address space no zone owns ---------------------------------------------------


def _group_addresses(policy: Policy, name: str, memo: dict, seen: frozenset[str] = frozenset()) -> list:
    """The raw addresses a group contains, directly or through other groups: (SelAddress, the
    group whose definition names it)."""
    found = memo.get(name)
    if found is None:
        found = []
        for item in policy.groups[name].selector.items:
            if isinstance(item, SelAddress):
                found.append((item, name))
            elif isinstance(item, SelName) and item.name in policy.groups and item.name not in seen | {name}:
                found.extend(_group_addresses(policy, item.name, memo, seen | {name}))
        memo[name] = found
    return found


def unassigned_address(policy: Policy) -> list[Diagnostic]:
    """Raw addresses in flows, and in groups that flows use, that include private address space
    no zone owns. An address written in a flow is reported there; one written in a group once, at
    the group, with the flows that use it."""
    with no_gc():
        owned = policy_packets(policy).index.owned
        cache: dict[str, AddressSet] = {}

        def unowned(cidr: str) -> AddressSet:
            found = cache.get(cidr)
            if found is None:
                found = cache[cidr] = (AddressSet.of_cidrs([cidr]) & PRIVATE) - owned
            return found

        findings = []
        memo: dict[str, list] = {}
        in_groups: dict[Span, tuple[SelAddress, str, list]] = {}
        for flow in policy.flows:
            for side, selector in (("source", flow.source), ("destination", flow.destination)):
                for item in selector.items:
                    if item.kind == "address":
                        rest = unowned(item.cidr)
                        if rest:
                            findings.append(_unassigned(f"{side} {item.cidr}", item, rest, ()))
                    elif item.kind == "name" and item.name in policy.groups:
                        for address, group in _group_addresses(policy, item.name, memo):
                            in_groups.setdefault(address.span, (address, group, []))[2].append((flow, side))
        for address, group, uses in in_groups.values():
            rest = unowned(address.cidr)
            if not rest:
                continue
            related = tuple(Related(_head(flow), f"used as the {side} of this flow") for flow, side in uses[:3])
            more = f"; {len(uses)} flows use it" if len(uses) > 3 else ""
            findings.append(_unassigned(f"group '{group}' includes {address.cidr}, which", address, rest, related,
                                        more))
    return findings


def _unassigned(what: str, address: SelAddress, unowned: AddressSet, related: tuple, more: str = "") -> Diagnostic:
    cidr = address.cidr
    parts = unowned.cidrs()
    kinds = sorted({label for range_cidr, label in PRIVATE_RANGES if unowned & AddressSet.of_cidrs([range_cidr])})
    if AddressSet.of_cidrs([cidr]) == unowned:
        message = f"{what} is private address space ({', '.join(kinds)}) that no zone owns{more}"
        help = (f"add {cidr} to the networks of the zone it belongs to, define a zone for it, or correct the "
                f"address: a flow may name private addresses only where a zone owns them")
    else:
        message = (f"{what} includes private address space ({', '.join(kinds)}) that no zone owns: "
                   f"{_cidr_list(parts)}{more}")
        help = (f"narrow the address to what your zones own, or give {_cidr_list(parts, 2)} to a zone; "
                f"naming the zones instead of an address keeps the flow in step with them")
        whole_ranges = [c for c, _ in PRIVATE_RANGES if not AddressSet.of_cidrs([c]) - AddressSet.of_cidrs([cidr])]
        if whole_ranges:
            help = (f"to mean everything outside your own zones, name the built-in zone `internet` instead of "
                    f"{cidr}; otherwise narrow the address to what your zones own")
    return Diagnostic(CHECKS["unassigned-address"].code, message, address.span, help, related,
                      check="unassigned-address")


# ---- E522: flows that allow nothing -----------------------------------------------------------------


def empty_flow(policy: Policy) -> list[Diagnostic]:
    findings = []
    with no_gc():
        packets = policy_packets(policy)
        for flow, sets in zip(policy.flows, packets.flows()):
            if sets.empty:
                findings.append(_empty(policy, flow, sets))
    return findings


def _family_list(bits: int) -> list[int]:
    return [family for family, bit in ((4, V4), (6, V6)) if bits & bit]


def _family_text(bits: int, only: bool = True) -> str:
    text = {V4: "IPv4", V6: "IPv6", 0: "no"}.get(bits, "IPv4 and IPv6")
    return text + " only" if only and bits in (V4, V6) else text


def _empty(policy: Policy, flow: Flow, sets) -> Diagnostic:
    code = CHECKS["empty-flow"].code
    names = [r.name for r in flow.services]
    if not sets.services.families:
        silent = [policy.services[n] for n in names if n in policy.services and not policy.services[n].matches]
        related = tuple(Related(s.name_span, f"service '{s.name}' names no protocol") for s in silent)
        return Diagnostic(
            code, f"flow allows nothing: {'its service matches no' if len(names) == 1 else 'none of its services match any'}"
                  f" traffic ({', '.join(names)})",
            _join([r.span for r in flow.services]),
            "give the service its protocol and ports (`tcp 443`, `udp 53`, `icmp type 8`), or use a service that has "
            "them", related, check="empty-flow")
    for side, every, left, selector, carve in (
        ("source", sets.source_all, sets.source, flow.source, flow.except_from),
        ("destination", sets.destination_all, sets.destination, flow.destination, flow.except_to),
    ):
        if not every.families:
            return Diagnostic(
                code, f"flow allows nothing: its {side} has no addresses", selector.span,
                f"give the zones and hosts of the {side} their networks and addresses, or remove the flow",
                check="empty-flow")
        if not left.families:
            keyword = "except from" if side == "source" else "except to"
            return Diagnostic(
                code, f"flow allows nothing: `{keyword}` removes its whole {side}",
                _join([s.span for s in carve]),
                f"remove the flow, or carve out less: the `{keyword}` selector covers everything the {side} selects",
                check="empty-flow")
    source, destination = sets.source.families, sets.destination.families
    common = source & destination
    if not common:
        return Diagnostic(
            code, f"flow allows nothing: its source ({_family_text(source)}) and destination "
                  f"({_family_text(destination)}) share no address family",
            _head(flow),
            "a connection stays within one address family: give both sides addresses of the same family",
            check="empty-flow")
    return Diagnostic(
        code, f"flow allows nothing: its services ({', '.join(names)}) match only "
              f"{_family_text(sets.services.families, False)} packets, but source and destination share "
              f"{_family_text(common, False)} addresses only",
        _join([r.span for r in flow.services]),
        "use the service of the right family (icmp is IPv4, icmpv6 is IPv6), or give both sides addresses "
        "of the family the service needs",
        check="empty-flow")


# ---- W521: redundant flows ----------------------------------------------------------------------------


def _candidates(flows: list[FlowPackets], live: list[int]):
    """For each live flow, the flows that may share a packet with it.

    Two flows can share a packet only if some zone (or the internet) owns part of both sources,
    some zone owns part of both destinations, and their services share a service atom (a protocol
    and a piece of the port range that no service boundary cuts). Each flow is filed under its
    (source owner, destination owner) pairs; pairs that only one flow has are dropped (counted in
    C), and the flows sharing a pair are candidates when they also share a service atom: a
    superset of the real overlaps, found without comparing flows that touch different zones. A
    flow with more than WIDE pairs (a selector spanning hundreds of zones on both sides) is filed
    by its sides instead and scanned.
    """
    ids: dict[str, int] = {}  # owner names -> small integers

    def numbers(part) -> list[int]:
        return [ids.setdefault(x, len(ids)) for x in part.owners]

    numbered: dict[int, list[int]] = {}
    keys: list[int] = []  # every (source owner, destination owner) pair of every flow, as one int
    owners: list[int] = []  # ... and the flow it belongs to
    wide: list[int] = []
    for i in live:
        f = flows[i]
        so = numbered.get(f.source_all.id)
        if so is None:
            so = numbered[f.source_all.id] = numbers(f.source_all)
        do = numbered.get(f.destination_all.id)
        if do is None:
            do = numbered[f.destination_all.id] = numbers(f.destination_all)
        n = len(so) * len(do)
        if n > WIDE:
            wide.append(i)
        elif n == 1:
            keys.append((so[0] << 32) | do[0])
            owners.append(i)
        else:
            keys.extend([(s << 32) | d for s in so for d in do])
            owners.extend([i] * n)
    counts = Counter(keys)  # counted in C: most pairs belong to one flow only
    buckets: dict[int, list[int]] = defaultdict(list)
    for key, i in zip(keys, owners):
        if counts[key] > 1:
            buckets[key].append(i)
    del keys, owners, counts
    # flows between the same zones share many pairs: look at each distinct group of flows once
    groups = {tuple(bucket) for bucket in buckets.values()}
    del buckets
    shared: dict[int, set[int]] = defaultdict(set)
    for group in groups:
        if len(group) == 2:
            i, j = group
            if not flows[i].services.owners.isdisjoint(flows[j].services.owners):
                shared[i].add(j)
                shared[j].add(i)
            continue
        by_atom: dict = defaultdict(list)
        for i in group:
            for atom in flows[i].services.owners:
                by_atom[atom].append(i)
        for same in by_atom.values():
            if len(same) > 1:
                for i in same:
                    shared[i].update(same)
    by_source: dict[str, list[int]] = defaultdict(list)
    by_destination: dict[str, list[int]] = defaultdict(list)
    wide_by_source: dict[str, list[int]] = defaultdict(list)
    wide_by_destination: dict[str, list[int]] = defaultdict(list)
    if wide:
        for i in live:
            for s in flows[i].source_all.owners:
                by_source[s].append(i)
            for d in flows[i].destination_all.owners:
                by_destination[d].append(i)
        for i in wide:
            for s in flows[i].source_all.owners:
                wide_by_source[s].append(i)
            for d in flows[i].destination_all.owners:
                wide_by_destination[d].append(i)
    wide_set = set(wide)

    nothing: frozenset[int] = frozenset()

    def candidates(i: int):
        if not wide:
            return shared.get(i, nothing)  # includes i itself when not empty
        found = set(shared.get(i, ()))
        if wide:
            # flows not found through the index: scan those touching the smaller side
            f = flows[i]
            so, do, atoms = f.source_all.owners, f.destination_all.owners, f.services.owners
            by_s, by_d = (by_source, by_destination) if i in wide_set else (wide_by_source, wide_by_destination)
            if len(so) <= len(do):
                lists, other, mine = [by_s[s] for s in so if s in by_s], "destination_all", do
            else:
                lists, other, mine = [by_d[d] for d in do if d in by_d], "source_all", so
            for js in lists:
                for j in js:
                    if j not in found and not mine.isdisjoint(getattr(flows[j], other).owners) and \
                            not atoms.isdisjoint(flows[j].services.owners):
                        found.add(j)
        found.discard(i)
        return found

    return candidates


def _projections_cover(space, mine: FlowPackets, others: list[FlowPackets]) -> bool:
    """A necessary condition for `others` to cover `mine`, on the small parts: per family, each
    of mine's sides is inside the union of the others' sides (BDDs), and its service atoms are
    among theirs."""
    for bit, family, foreign in ((V4, 4, "icmpv6"), (V6, 6, "icmp")):
        if not mine.families & bit:
            continue
        pick = [o for o in others if o.families & bit]
        if not pick:
            return False
        atoms = set().union(*(o.services.owners for o in pick))
        if not {x for x in mine.services.owners if x[0] != foreign} <= atoms:
            return False
        only = space.family[family]
        for part in ("source", "destination"):
            union = space.false
            for o in pick:
                union = union | getattr(o, part).node
            if not space.is_empty(space.diff(getattr(mine, part).node & only, union)):
                return False
    return True


def _covered(packets, mine: FlowPackets, flows: list[FlowPackets], overlapping: list[int]) -> list[int] | None:
    """A few of the overlapping flows that together allow every packet of `mine`, or None: one flow
    if one suffices (the first by file and line), else all of them less those the rest make
    unneeded."""
    if not overlapping:
        return None
    single = next((j for j in overlapping if packets.within(mine, flows[j])), None)
    if single is not None:
        return [single]
    if len(overlapping) == 1 or not _projections_cover(packets.space, mine, [flows[j] for j in overlapping]):
        return None
    space = packets.space
    union = space.false
    for j in overlapping:
        union = union | flows[j].packets
    if not space.is_empty(space.diff(mine.packets, union)):
        return None
    return _cover(space, mine.packets, [(j, flows[j].packets) for j in overlapping])


def redundant_rule(policy: Policy) -> list[Diagnostic]:
    """Flows whose every packet other flows allow.

    First the flows are examined from the last (by file and line) to the first, and a flow found
    redundant stops counting as a cover for the others: what is left allows exactly what the
    whole policy allows, and of two identical flows the later is the one reported. Then each
    reported flow is explained by the flows that are left, so no finding names a flow that is
    itself reported.
    """
    findings = []
    with no_gc():
        packets = policy_packets(policy)
        flows = packets.flows()
        live = [i for i in range(len(flows)) if not flows[i].empty]
        candidates = _candidates(flows, live)
        removed: list[int] = []
        gone: set[int] = set()
        neighbours: dict[int, list[int]] = {}
        for i in reversed(live):  # flows are in (file, line) order: the last is examined first
            mine = flows[i]
            near = candidates(i)
            if not near:
                continue
            overlapping = sorted(j for j in near if j != i and packets.overlap(mine, flows[j]))
            if _covered(packets, mine, flows, [j for j in overlapping if j not in gone]) is not None:
                gone.add(i)
                removed.append(i)
                neighbours[i] = overlapping
        for i in reversed(removed):
            kept = [j for j in neighbours[i] if j not in gone]
            cover = _covered(packets, flows[i], flows, kept)
            if cover is None:  # cannot happen: the kept flows allow all that the removed ones did
                cover = kept
            findings.append(_redundant(policy, packets, policy.flows[i], flows[i], [(j, flows[j]) for j in cover]))
    return findings


def _cover(space, mine, overlapping: list[tuple[int, object]]) -> list[int]:
    """The overlapping flows with every flow the others make unneeded dropped (from the last)."""
    if len(overlapping) > COVER_MINIMISE_LIMIT:
        return [j for j, _ in overlapping]
    keep = list(overlapping)
    for entry in reversed(overlapping):
        rest = [e for e in keep if e is not entry]
        union = space.false
        for _, s in rest:
            union = union | s
        if space.is_empty(space.diff(mine, union)):
            keep = rest
    return [j for j, _ in keep]


def _datatypes(policy: Policy, flow: Flow) -> set[str]:
    return policy.service_datatypes(r.name for r in flow.services) | {r.name for r in flow.carrying}


def _redundant(policy: Policy, packets, flow: Flow, mine: FlowPackets,
               cover: list[tuple[int, FlowPackets]]) -> Diagnostic:
    covering = [policy.flows[j] for j, _ in cover]
    locations = [_loc(_head(g)) for g in covering]
    if len(cover) == 1 and packets.within(cover[0][1], mine):
        message = f"duplicate flow: the flow at {locations[0]} allows exactly the same packets"
        note = "allows the same packets"
    elif len(cover) == 1:
        message = f"redundant flow: the flow at {locations[0]} already allows everything this one does"
        note = "already allows everything the redundant flow does"
    else:
        message = (f"redundant flow: the flows at {_and_list(locations)} together already allow everything "
                   f"this one does")
        note = "allows part of it"
    extras = []
    if flow.log and not all(g.log for g in covering):
        extras.append("`log`")
    lost = sorted(_datatypes(policy, flow) - set().union(*(_datatypes(policy, g) for g in covering)))
    if lost:
        extras.append(f"`carrying {', '.join(lost)}`")
    help = "remove this flow (the allow-list has no order: broader flows already permit its traffic)"
    if extras:
        help = (f"this flow adds only {' and '.join(extras)}: move that to the covering "
                f"flow{'s' * (len(covering) != 1)}, then remove this one")
    related = tuple(Related(_head(g), note) for g in covering)
    return Diagnostic(CHECKS["redundant-rule"].code, message, _head(flow), help, related, check="redundant-rule")


PACKET_CHECKS: dict[str, Callable[[Policy], list[Diagnostic]]] = {
    "unassigned-address": unassigned_address,
    "redundant-rule": redundant_rule,
    "empty-flow": empty_flow,
}
