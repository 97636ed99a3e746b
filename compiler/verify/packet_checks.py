"""Packet-level checks over the packet-set algebra (`septum.compiler.packets`).

PACKET_CHECKS maps a check name (see `names.CHECKS`) to a function `(policy) -> list[Diagnostic]`:

* `unassigned-address` (E520): a raw address in a flow's source or destination includes private
  address space (RFC 1918, RFC 6598, IPv6 ULA) that no zone owns.
* `redundant-rule` (W521): everything a flow allows is already allowed by other flows.
* `empty-flow` (E522): a flow allows no packet at all (carve-outs remove a whole side, services
  match nothing, or the sides and services share no address family).

The redundancy check is not quadratic: two flows can share a packet only if some zone (or the
internet) owns part of both sources and some zone owns part of both destinations, so each flow is
compared only with the flows filed under one of its (source owner, destination owner) pairs, and
the comparison is one BDD intersection; the union of the overlapping flows is then one BDD
containment test. Flows are examined from the last (by file, line) to the first, and a flow found
redundant no longer counts as covering others: of two identical flows the later one is reported,
and removing every reported flow leaves exactly the same packets allowed.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Callable

from ..diagnostics import Diagnostic, Related
from ..model import Flow, SelAddress, SelName, Span
from ..packets.addresses import PRIVATE, PRIVATE_RANGES, AddressSet
from ..packets.flows import policy_packets
from ..resolve import Policy
from .names import CHECKS

WIDE = 256  # a flow touching more (source owner, destination owner) pairs is indexed by side instead
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


def _address_items(policy: Policy, item, seen: frozenset[str] = frozenset()):
    """The raw addresses a selector item contributes: (SelAddress, group it came through or None)."""
    if isinstance(item, SelAddress):
        yield item, None
    elif isinstance(item, SelName) and item.name in policy.groups and item.name not in seen:
        group = policy.groups[item.name]
        for inner in group.selector.items:
            for address, via in _address_items(policy, inner, seen | {item.name}):
                yield address, via or group.name


def unassigned_address(policy: Policy) -> list[Diagnostic]:
    packets = policy_packets(policy)
    owned = packets.index.owned
    unowned_of: dict[str, AddressSet] = {}
    findings = []
    for flow in policy.flows:
        for side, selector in (("source", flow.source), ("destination", flow.destination)):
            for item in selector.items:
                reported: set[str] = set()
                for address, group in _address_items(policy, item):
                    cidr = address.cidr
                    if cidr in reported:
                        continue
                    unowned = unowned_of.get(cidr)
                    if unowned is None:
                        unowned = (AddressSet.of_cidrs([cidr]) & PRIVATE) - owned
                        unowned_of[cidr] = unowned
                    if not unowned:
                        continue
                    reported.add(cidr)
                    findings.append(_unassigned(flow, side, item, address, group, unowned))
    return findings


def _unassigned(flow: Flow, side: str, item, address: SelAddress, group: str | None,
                unowned: AddressSet) -> Diagnostic:
    cidr = address.cidr
    parts = unowned.cidrs()
    kinds = sorted({label for range_cidr, label in PRIVATE_RANGES if unowned & AddressSet.of_cidrs([range_cidr])})
    what = f"{side} {cidr}" if group is None else f"{side} group '{group}' includes {cidr}, which"
    whole = AddressSet.of_cidrs([cidr]) == unowned
    if whole:
        message = f"{what} is private address space ({', '.join(kinds)}) that no zone owns"
        help = (f"add {cidr} to the networks of the zone it belongs to, define a zone for it, or correct the "
                f"address; a flow may only name private addresses that belong to a zone")
    else:
        message = (f"{what} includes private address space ({', '.join(kinds)}) that no zone owns: "
                   f"{_cidr_list(parts)}")
        help = (f"narrow the address to what your zones own, or give {_cidr_list(parts, 2)} to a zone; "
                f"naming the zone instead of the address keeps the flow in step with it")
    related = ()
    if group is not None:
        related = (Related(address.span, f"group '{group}' names {cidr} here"),)
    return Diagnostic(CHECKS["unassigned-address"].code, message, item.span, help, related,
                      check="unassigned-address")


# ---- E522: flows that allow nothing -----------------------------------------------------------------


def empty_flow(policy: Policy) -> list[Diagnostic]:
    packets = policy_packets(policy)
    false = packets.space.false
    findings = []
    for index, flow in enumerate(policy.flows):
        sets = packets.flow(index)
        if sets.packets != false:
            continue
        findings.append(_empty(policy, packets, flow, sets))
    return findings


def _families(space, node) -> list[int]:
    return [family for family in (4, 6) if (node & space.family[family]) != space.false]


def _family_text(families: list[int]) -> str:
    return {(4,): "IPv4 only", (6,): "IPv6 only", (): "no address"}.get(tuple(families), "IPv4 and IPv6")


def _empty(policy: Policy, packets, flow: Flow, sets) -> Diagnostic:
    space = packets.space
    false = space.false
    code = CHECKS["empty-flow"].code
    names = [r.name for r in flow.services]
    if sets.services == false:
        silent = [policy.services[n] for n in names if n in policy.services and not policy.services[n].matches]
        related = tuple(Related(s.name_span, f"service '{s.name}' names no protocol") for s in silent)
        return Diagnostic(
            code, f"flow allows nothing: {'its service matches' if len(names) == 1 else 'none of its services match'}"
                  f" any traffic ({', '.join(names)})",
            _join([r.span for r in flow.services]),
            "give the service its protocol and ports (`tcp 443`, `udp 53`, `icmp type 8`), or use a service that has "
            "them", related, check="empty-flow")
    for side, every, left, selector, carve in (
        ("source", sets.source_all, sets.source, flow.source, flow.except_from),
        ("destination", sets.destination_all, sets.destination, flow.destination, flow.except_to),
    ):
        if every == false:
            return Diagnostic(
                code, f"flow allows nothing: its {side} has no addresses", selector.span,
                f"give the zones and hosts of the {side} their networks and addresses, or remove the flow",
                check="empty-flow")
        if left == false:
            keyword = "except from" if side == "source" else "except to"
            return Diagnostic(
                code, f"flow allows nothing: `{keyword}` removes its whole {side}",
                _join([s.span for s in carve]),
                f"remove the flow, or carve out less: the `{keyword}` selector covers everything the {side} selects",
                check="empty-flow")
    source, destination = _families(space, sets.source), _families(space, sets.destination)
    common = [f for f in source if f in destination]
    if not common:
        return Diagnostic(
            code, f"flow allows nothing: its source ({_family_text(source)}) and destination "
                  f"({_family_text(destination)}) share no address family",
            _head(flow),
            "a connection stays within one address family: give both sides addresses of the same family",
            check="empty-flow")
    services = _families(space, sets.services)
    return Diagnostic(
        code, f"flow allows nothing: its services ({', '.join(names)}) match only "
              f"{_family_text(services).replace(' only', '')} packets, but source and destination share "
              f"{_family_text(common).replace(' only', '')} addresses only",
        _join([r.span for r in flow.services]),
        "use the service of the right family (icmp is IPv4, icmpv6 is IPv6), or give both sides addresses "
        "of the family the service needs",
        check="empty-flow")


# ---- W521: redundant flows ----------------------------------------------------------------------------


def _candidates(policy: Policy, packets, live: list[int]):
    """For each live flow, the flows that may share a packet with it (a superset, never quadratic
    unless flows really overlap)."""
    expand = policy.expand
    flows = policy.flows
    owners = {}
    pairs_index: dict[tuple[str, str], list[int]] = defaultdict(list)
    by_source: dict[str, list[int]] = defaultdict(list)
    wide: list[int] = []
    for i in live:
        so = packets.owners(expand(flows[i].source))
        do = packets.owners(expand(flows[i].destination))
        owners[i] = (so, do)
        for s in so:
            by_source[s].append(i)
        if len(so) * len(do) > WIDE:
            wide.append(i)
        else:
            for s in so:
                for d in do:
                    pairs_index[(s, d)].append(i)

    def candidates(i: int) -> set[int]:
        so, do = owners[i]
        found: set[int] = set()
        if len(so) * len(do) > WIDE:
            for s in so:
                for j in by_source[s]:
                    if j not in found and not do.isdisjoint(owners[j][1]):
                        found.add(j)
        else:
            for s in so:
                for d in do:
                    found.update(pairs_index.get((s, d), ()))
            for j in wide:
                if not so.isdisjoint(owners[j][0]) and not do.isdisjoint(owners[j][1]):
                    found.add(j)
        found.discard(i)
        return found

    return candidates


def redundant_rule(policy: Policy) -> list[Diagnostic]:
    packets = policy_packets(policy)
    space = packets.space
    false = space.false
    flows = policy.flows
    sets = [packets.flow(i).packets for i in range(len(flows))]
    live = [i for i in range(len(flows)) if sets[i] != false]
    candidates = _candidates(policy, packets, live)
    removed: set[int] = set()
    findings = []
    for i in reversed(live):  # flows are in (file, line) order: the last is examined first
        mine = sets[i]
        overlapping = sorted(j for j in candidates(i) if j not in removed and (sets[j] & mine) != false)
        if not overlapping:
            continue
        union = false
        for j in overlapping:
            union = union | sets[j]
        if not mine <= union:
            continue
        removed.add(i)
        findings.append(_redundant(policy, flows[i], mine, [(j, sets[j]) for j in overlapping], space))
    return findings


def _cover(mine, overlapping: list[tuple[int, object]], false) -> list[tuple[int, object]]:
    """A small set of the overlapping flows that still covers `mine`: one flow if one suffices
    (the first by file and line), else the overlapping flows with every unneeded one dropped."""
    for j, s in overlapping:
        if mine <= s:
            return [(j, s)]
    if len(overlapping) > COVER_MINIMISE_LIMIT:
        return overlapping
    keep = list(overlapping)
    for entry in reversed(overlapping):
        rest = [e for e in keep if e is not entry]
        union = false
        for _, s in rest:
            union = union | s
        if mine <= union:
            keep = rest
    return keep


def _datatypes(policy: Policy, flow: Flow) -> set[str]:
    return policy.service_datatypes(r.name for r in flow.services) | {r.name for r in flow.carrying}


def _redundant(policy: Policy, flow: Flow, mine, overlapping, space) -> Diagnostic:
    cover = _cover(mine, overlapping, space.false)
    covering = [policy.flows[j] for j, _ in cover]
    locations = [_loc(_head(g)) for g in covering]
    if len(cover) == 1 and cover[0][1] == mine:
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
