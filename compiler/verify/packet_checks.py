"""Packet-level checks over the packet-set algebra (`septum.compiler.packets`).

PACKET_CHECKS maps a check name (see `names.CHECKS`) to a function `(policy) -> list[Diagnostic]`:

* `unassigned-address` (E520): a raw address in a flow's source or destination includes private
  address space (RFC 1918, RFC 6598, IPv6 ULA) that no zone owns.
* `redundant-rule` (W521): everything a flow allows is already allowed by other flows.
* `empty-flow` (E522): a flow allows no packet at all (carve-outs remove a whole side, services
  match nothing, or the sides and services share no address family).
* `idle-carve-out` (W523): a carve-out (`except from X` / `except to X`, each item of X) shares
  no address with the side it is carved from, so it removes nothing.

Every flow's packet set is a product (source × destination × services, see
`packets.flows`), and the checks work on its parts, as address intervals and service atoms:
emptiness is a property of the parts; two flows overlap when their parts meet pairwise; one flow
inside another is a part-wise test; a flow that several others might cover together is swept
against theirs (`PolicyPackets.union_covers`). No BDD is built unless such a union is too
fragmented for the sweep. The redundancy check is not quadratic: two flows can share a packet
only if some zone (or the internet) owns part of both sources and some zone owns part of both
destinations, so only flows that meet that way are compared (`_overlaps`). The three checks
share one pass over the flows (`PolicyPackets.flows`), which W523 reuses for the few flows with
carve-outs. See docs/packets.md.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Callable

from ..diagnostics import Diagnostic, Related
from ..model import Flow, SelAddress, Selector, SelName, Span
from ..packets.addresses import PRIVATE, PRIVATE_RANGES, AddressSet
from ..collector import paused
from ..packets.flows import V4, V6, FlowPackets, policy_packets
from ..printer import item_text, selector_text
from ..resolve import Policy
from .names import CHECKS

COVER_MINIMISE_LIMIT = 48  # beyond this many overlapping flows, name them all rather than minimise
BY_PAIR = True  # file flows with one owner per side by that pair (False: all in the bit index; tests)


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
    with paused():
        packets = policy_packets(policy)
        owned = packets.index.owned
        cache: dict[str, AddressSet] = {}

        def unowned(cidr: str) -> AddressSet:
            found = cache.get(cidr)
            if found is None:
                found = cache[cidr] = (AddressSet.of_cidrs([cidr]) & PRIVATE) - owned
            return found

        # The flows' parts (made once, for all three checks) know every raw address the flows
        # name, directly or through groups: look at the statements only if one is unowned.
        packets.flows()
        if not any(unowned(cidr) for cidr in packets.raw_addresses()):
            return []
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
    with paused():
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


# ---- W523: carve-outs that remove nothing ---------------------------------------------------------


def idle_carve_out(policy: Policy) -> list[Diagnostic]:
    """Each item of an `except from` / `except to` selector whose addresses do not meet the side
    it is carved from (the side as written, before any carve-out): exact, on the address
    intervals of the flows' parts (`PolicyPackets.flows`, made once for all packet checks), and
    looked at only for the flows that have carve-outs. A side with no addresses at all is E522's
    (every carve-out of it removes nothing), so it is left to that check."""
    findings = []
    with paused():
        packets = policy_packets(policy)
        flows = packets.flows()
        meet = packets.meet
        for flow, sets in zip(policy.flows, flows):
            if not flow.except_from and not flow.except_to:
                continue
            for side, label, keyword, whole, carve in (
                ("s", "source", "except from", sets.source_all, flow.except_from),
                ("d", "destination", "except to", sets.destination_all, flow.except_to),
            ):
                if not carve or not whole.families:
                    continue
                for selector in carve:
                    items = selector.items
                    for item in items:
                        one = selector if len(items) == 1 else Selector(items=(item,), span=item.span)
                        part = packets.side(side, one)  # memoised: `carved` made the lone ones already
                        if not meet(part, whole):
                            findings.append(_idle(flow, label, keyword, item, bool(part.families)))
    return findings


def _idle(flow: Flow, label: str, keyword: str, item, has_addresses: bool) -> Diagnostic:
    text = item_text(item)
    selector = flow.source if label == "source" else flow.destination
    if has_addresses:
        why = f"it is not part of this flow's {label} ({selector_text(selector)})"
    else:
        why = "it selects no addresses"
    noun = {"name": "name", "tag": "tag", "holding": "data type", "address": "address"}[item.kind]
    return Diagnostic(
        CHECKS["idle-carve-out"].code, f"carve-out '{text}' removes nothing: {why}", item.span,
        f"remove `{keyword} {text}`, or correct the {noun}: a carve-out can only remove addresses the "
        f"{label} selects",
        check="idle-carve-out")


# ---- W521: redundant flows ----------------------------------------------------------------------------


def _mask(positions: list[int], size: int) -> int:
    """An integer with the given bits set."""
    buffer = bytearray(size // 8 + 1)
    for b in positions:
        buffer[b >> 3] |= 1 << (b & 7)
    return int.from_bytes(buffer, "little")


def _bits(mask: int) -> list[int]:
    """The positions of the set bits of a non-negative integer."""
    if mask.bit_count() > 32:
        text = bin(mask)
        top = len(text) - 1
        return [top - k for k, c in enumerate(text) if c == "1"]
    out = []
    while mask:
        b = mask.bit_length() - 1
        out.append(b)
        mask ^= 1 << b
    return out


def _overlaps(packets, flows: list[FlowPackets], live: list[int]) -> dict[int, list[int]]:
    """For each live flow that shares a packet with others, those others (unordered).

    Two flows can share a packet only if some zone (or the internet) owns part of both sources,
    some zone owns part of both destinations, and their services share a service atom (a protocol
    and a piece of the port range that no service boundary cuts). Most flows have one owner on
    each side (a zone or a host to a zone or a host): they are filed by that (source owner,
    destination owner) pair, in two nested indexes (by source, then destination, and the other
    way round). Flows sharing a pair are candidates; another flow (a group, a tag, an address
    range or the internet on some side) finds its candidates among them by walking the owners of
    its narrower side and intersecting, in C, the index's keys with the owners of its other side;
    and these other flows find each other through one integer per owner and side and per service
    atom, with a bit per flow: the AND of the ORs of a flow's owners' and atoms' integers. Every
    candidate is then compared with the part-wise `PolicyPackets.overlap`."""
    by_source: dict[int, dict[int, int]] = {}  # source owner -> destination owner -> first flow filed there
    more: dict[int, list[int]] = {}  # (source owner << 32 | destination owner) -> its flows, when several
    multi: list[int] = []
    for i in live:
        f = flows[i]
        so, do = f.source_all.owner_ids, f.destination_all.owner_ids
        if BY_PAIR and len(so) == 1 and len(do) == 1:
            row = by_source.get(so[0])
            if row is None:
                row = by_source[so[0]] = {}
            first = row.setdefault(do[0], i)
            if first != i:
                key = (so[0] << 32) | do[0]
                group = more.get(key)
                if group is None:
                    more[key] = [first, i]
                else:
                    group.append(i)
        else:
            multi.append(i)
    out: dict[int, list[int]] = defaultdict(list)
    overlap = packets.overlap

    def pair(i: int, j: int) -> None:
        if overlap(flows[i], flows[j]):
            out[i].append(j)
            out[j].append(i)

    for group in more.values():  # same single owners on both sides: compare when an atom is shared
        if len(group) == 2:
            i, j = group
            if not flows[i].services.owners.isdisjoint(flows[j].services.owners):
                pair(i, j)
            continue
        by_atom: dict = defaultdict(list)
        for i in group:
            for atom in flows[i].services.owner_ids:
                by_atom[atom].append(i)
        seen: set[tuple[int, int]] = set()
        for same in by_atom.values():
            for a in range(len(same)):
                for b in range(a + 1, len(same)):
                    if (same[a], same[b]) not in seen:
                        seen.add((same[a], same[b]))
                        pair(same[a], same[b])
    if not multi:
        return out
    by_destination: dict[int, dict[int, int]] = defaultdict(dict)
    for s, row in by_source.items():
        for d, i in row.items():
            by_destination[d][s] = i
    owner_sets: dict[int, frozenset[int]] = {}
    for j in multi:  # the other flows against the single-owner ones
        f = flows[j]
        mine, theirs = f.source_all, f.destination_all
        index, shift = by_source, 32
        if len(mine.owner_ids) > len(theirs.owner_ids):
            mine, theirs, index, shift = theirs, mine, by_destination, 0
        others = owner_sets.get(theirs.id)
        if others is None:
            others = owner_sets[theirs.id] = frozenset(theirs.owner_ids)
        atoms = f.services.owners
        for x in mine.owner_ids:
            row = index.get(x)
            if row:
                for y in row.keys() & others:
                    first = row[y]
                    key = (x << 32) | y if shift else (y << 32) | x
                    for g in more.get(key, (first,)):
                        if not atoms.isdisjoint(flows[g].services.owners):
                            pair(g, j)
    size = len(multi)
    # positions in `multi` per part (many flows share a part), then one integer per owner: the OR
    # of its parts' integers
    by_part: list[dict[int, tuple]] = [{}, {}, {}]  # source, destination, service parts
    for b, i in enumerate(multi):
        f = flows[i]
        for parts, part in zip(by_part, (f.source_all, f.destination_all, f.services)):
            entry = parts.get(part.id)
            if entry is None:
                parts[part.id] = (part, [b])
            else:
                entry[1].append(b)
    source_masks, destination_masks, atom_masks = masks_of = ({}, {}, {})
    for parts, masks in zip(by_part, masks_of):
        for part, positions in parts.values():
            mask = _mask(positions, size)
            for x in part.owner_ids:
                masks[x] = masks.get(x, 0) | mask
    del by_part
    unions: dict[tuple[int, int], int] = {}

    def union(part, masks: dict[int, int], which: int) -> int:
        ids = part.owner_ids
        if len(ids) == 1:
            return masks.get(ids[0], 0)
        key = (which, part.id)
        found = unions.get(key)
        if found is None:
            found = 0
            for x in ids:
                found |= masks.get(x, 0)
            unions[key] = found
        return found

    for b, i in enumerate(multi):  # the others among themselves, each pair once
        f = flows[i]
        found = union(f.source_all, source_masks, 0) & union(f.destination_all, destination_masks, 1) & \
            union(f.services, atom_masks, 2)
        found >>= b + 1
        if found:
            for c in _bits(found):
                pair(i, multi[b + 1 + c])
    return out


def _rule_text(selector) -> str:
    items = selector.items
    if len(items) == 1 and type(items[0]) is SelName:
        return items[0].name
    return ", ".join(item_text(item) for item in items)


def order_key(flow: Flow) -> tuple:
    """The order W521 examines flows in, from the last: flows that log or carry data types first,
    then by their text (as written, positions left out), then by file and line. It depends on
    no file or statement order, so of flows that cover each other the same one is reported
    however the policy is split into files; between identical flows, the later by file."""
    text = f"{_rule_text(flow.source)} -> {_rule_text(flow.destination)} : {', '.join(r.name for r in flow.services)}"
    for selector in flow.except_from:
        text += f" except from {_rule_text(selector)}"
    for selector in flow.except_to:
        text += f" except to {_rule_text(selector)}"
    if flow.log:
        text += " log"
    if flow.carrying:
        text += f" carrying {', '.join(r.name for r in flow.carrying)}"
    if flow.justification is not None:
        text += f' "{flow.justification}"'
    span = flow.span
    return (0 if flow.log or flow.carrying else 1, text, span.file, span.line, span.column)


def _covered(packets, mine: FlowPackets, flows: list[FlowPackets], overlapping: list[int],
             explain: bool = False) -> list[int] | None:
    """A few of the overlapping flows (in `order_key` order) that together allow every packet of
    `mine`, or None: one flow if one suffices (the first), else all of them less those the rest
    make unneeded (computed only when `explain`)."""
    if not overlapping:
        return None
    single = next((j for j in overlapping if packets.within(mine, flows[j])), None)
    if single is not None:
        return [single]
    if len(overlapping) == 1 or not packets.union_covers(mine, [flows[j] for j in overlapping]):
        return None
    if not explain or len(overlapping) > COVER_MINIMISE_LIMIT:
        return list(overlapping)
    keep = list(overlapping)
    for j in reversed(overlapping):  # drop every flow the others make unneeded, from the last
        rest = [k for k in keep if k != j]
        if packets.union_covers(mine, [flows[k] for k in rest]):
            keep = rest
    return keep


def redundant_rule(policy: Policy) -> list[Diagnostic]:
    """Flows whose every packet other flows allow.

    Only flows that share a packet with another can be redundant (`_overlaps`). They are
    examined from the last in `order_key` order to the first, and a flow found redundant stops
    counting as a cover for the others: what is left allows exactly what the whole policy
    allows, of flows that cover each other the last in that order is reported, and reordering
    statements or files changes nothing but positions. Then each reported flow is explained by
    the flows that are left, so no finding names a flow that is itself reported.
    """
    findings = []
    with paused():
        packets = policy_packets(policy)
        flows = packets.flows()
        live = [i for i in range(len(flows)) if not flows[i].empty]
        neighbours = _overlaps(packets, flows, live)
        keys = {i: order_key(policy.flows[i]) for i in neighbours}
        order = sorted(neighbours, key=keys.__getitem__)
        rank = {i: r for r, i in enumerate(order)}
        for i in order:
            neighbours[i].sort(key=rank.__getitem__)
        gone: dict[int, list[int]] = {}  # reported flow -> the flows that covered it when it was examined
        for i in reversed(order):
            cover = _covered(packets, flows[i], flows, [j for j in neighbours[i] if j not in gone])
            if cover is not None:
                gone[i] = cover
        for i in sorted(gone):  # in file order
            if len(gone[i]) == 1 and gone[i][0] not in gone:  # still the first single cover of those left
                cover = gone[i]
            else:
                kept = [j for j in neighbours[i] if j not in gone]
                cover = _covered(packets, flows[i], flows, kept, explain=True)
            if cover is None:  # cannot happen: the kept flows allow all that the removed ones did
                cover = kept
            cover.sort()
            findings.append(_redundant(policy, packets, policy.flows[i], flows[i], [(j, flows[j]) for j in cover]))
    return findings


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
    "idle-carve-out": idle_carve_out,
}
