"""Baseline checks: on by default, each can be turned off by name (`--disable NAME`)."""

from __future__ import annotations

from collections import deque

from ..diagnostics import Diagnostic, Hop
from ..resolve import Policy
from .assertions import cleartext_crossings
from .common import chain_text, hops, intent_of, sensitive_datatypes, witnesses
from .names import CHECKS
from .waivers import waived_hops


def data_flow(policy: Policy) -> list[Diagnostic]:
    """A connection moves data both ways: sensitive data spreads from the zones that hold it
    over every flow that carries it; each flow that brings it into a zone without `holds` is a
    finding, with the shortest chain from where the data rests."""
    intent = intent_of(policy)
    findings = []
    for datatype in sensitive_datatypes(policy):
        holders = set(policy.holding_zones().get(datatype, ()))
        carriers = intent.carrying(datatype)
        chains = _spread(intent, carriers, holders)
        for zone in sorted(chains):
            if zone in holders:
                continue
            reported: set[int] = set()
            touches: dict[str, bool] = {}  # neighbour -> whether its chain already passes this zone
            rank = lambda n: len(chains.get(n) or ())
            for _, neighbour, pair, *_, index in carriers.entering(zone, rank):
                before = chains.get(neighbour)
                if before is None or index in reported:
                    continue
                touched = touches.get(neighbour)
                if touched is None:
                    touched = touches[neighbour] = any(
                        zone in (s.hop.source, s.hop.destination) or zone in _zones(intent, s) for s in before)
                if touched:
                    continue
                reported.add(index)
                step = intent.step(index, *pair)
                chain = before + [step]
                origin = next(z for z in sorted(holders) if _starts(chain, z, intent))
                findings.append(
                    Diagnostic(
                        CHECKS["data-flow"].code,
                        f"{datatype} can reach zone '{zone}', which is not cleared to hold it: it moves from "
                        f"'{origin}' over {len(chain)} flow{'s' * (len(chain) != 1)}",
                        step.hop.span,
                        f"stop the flow carrying {datatype} into '{zone}', or clear the zone with `holds {datatype}`",
                        check="data-flow",
                        path=hops(chain),
                    )
                )
    return findings


def _spread(intent, carriers, holders: set[str]) -> dict[str, list]:
    """Breadth-first from every holder (in name order): each zone the data reaches, with its
    shortest chain. A zone's new neighbours are taken in the order of the first zone pair
    (source zone, destination zone) that connects each, over the least step of that pair."""
    chains: dict[str, list] = {zone: [] for zone in holders}
    reached = intent.mask_of(holders)
    queue = deque(sorted(holders))
    while queue:
        zone = queue.popleft()
        outs, ins = carriers.neighbours(zone)
        fresh = (outs | ins) & ~reached
        if not fresh:
            continue
        below = intent.zone_bit[zone] - 1  # zones named before this one
        before_in = fresh & ins & below  # pairs (n, zone) with n < zone come first
        out_pairs = fresh & outs & ~before_in  # then (zone, n)
        after_in = fresh & ~before_in & ~out_pairs  # then (n, zone) with n > zone
        best = carriers.first_steps(zone, set(intent.names_of(out_pairs)),
                                    set(intent.names_of(before_in | after_in)))
        pairs = [(n, zone) for n in intent.names_of(before_in)] + [(zone, n) for n in intent.names_of(out_pairs)] \
            + [(n, zone) for n in intent.names_of(after_in)]
        for pair in pairs:
            _, index = best[pair]
            nxt = pair[1] if pair[0] == zone else pair[0]
            chains[nxt] = chains[zone] + [intent.step(index, *pair)]
            queue.append(nxt)
        reached |= fresh
    return chains


def _zones(intent, step) -> set[str]:
    return set(intent.zones_of(step.hop.source)) | set(intent.zones_of(step.hop.destination))


def _starts(chain, zone: str, intent) -> bool:
    """Whether the first flow of a data chain touches this zone (data moves either way)."""
    first = chain[0].hop
    return zone in intent.zones_of(first.source) or zone in intent.zones_of(first.destination)


def untrusted_to_sensitive(policy: Policy) -> list[Diagnostic]:
    """Per untrusted zone, the shortest path into a zone holding restricted data that passes no
    broker; past the paths waivers accept, the next ones."""
    intent = intent_of(policy)
    restricted = sensitive_datatypes(policy, {"restricted"})
    holding = policy.holding_zones()
    targets = {z for d in restricted for z in holding.get(d, ())}
    brokers = {z.name for z in policy.zones.values() if z.broker}
    waived = waived_hops(policy, {"untrusted-to-sensitive"})
    findings = []
    for source in sorted(z.name for z in policy.zones.values() if z.trust.value == "untrusted"):
        if source in brokers:
            continue
        paths = witnesses(lambda into, edge: intent.shortest_path({source}, into, edge=edge,
                                                                  through=lambda zone: zone not in brokers),
                          targets - {source}, waived)
        for path in paths:
            reached = path[-1].hop.destination
            zone = next((z for z in sorted(intent.zones_of(reached)) if z in targets), None)
            if zone in brokers:
                held = ", ".join(d for d in restricted if zone in holding.get(d, ()))
                how = f"reaches broker zone '{zone}', which holds restricted data ({held}), at '{reached}'"
                help = (f"keep restricted data out of broker zones (drop `holds {held}` from '{zone}' if it "
                        "only relays it), or remove a flow on the path")
            else:
                how = f"reaches '{reached}' without passing a broker"
                help = "route the connection through a broker (DMZ) zone, or remove a flow on the path"
            findings.append(
                Diagnostic(
                    CHECKS["untrusted-to-sensitive"].code,
                    f"untrusted zone '{source}'{_owned_by_none(path[0].hop.source, source)} {how}: "
                    f"{chain_text(path)}",
                    path[0].hop.span,
                    help,
                    check="untrusted-to-sensitive",
                    path=hops(path),
                )
            )
    return findings


def _internet(endpoint: str) -> str:
    """The internet, or the written address that counts as it because no zone owns it."""
    return "the internet" if endpoint == "internet" else f"{endpoint} (no zone owns it: it counts as the internet)"


def _owned_by_none(endpoint: str, zone: str) -> str:
    return f" ({endpoint}, which no zone owns)" if zone == "internet" and endpoint != "internet" else ""


def sensitive_cleartext(policy: Policy) -> list[Diagnostic]:
    asserted = {a.body.datatype.name for a in policy.assertions if a.body.kind == "only-encrypted"}
    findings = []
    for datatype in sensitive_datatypes(policy, {"restricted"}):
        if datatype in asserted:
            continue  # the policy's own assertion reports it
        findings.extend(cleartext_crossings(policy, datatype, "sensitive-cleartext", "sensitive data in cleartext",
                                            policy.datatypes[datatype].name_span))
    return findings


def internet_inbound(policy: Policy) -> list[Diagnostic]:
    intent = intent_of(policy)
    findings = []
    flows = policy.flows
    internet = intent.zone_bit["internet"]
    for index in [i for i, source in enumerate(intent.source_sides) if source.mask & internet]:
        flow = flows[index]
        for source, destination, zs, zd in intent.pairs(index):
            if zs != "internet" or zd == "internet" or policy.zones[zd].broker:
                continue
            findings.append(
                Diagnostic(
                    CHECKS["internet-inbound"].code,
                    f"{_internet(source)} may connect to '{destination}' in zone '{zd}', which is not a broker zone",
                    flow.span,
                    "terminate inbound connections in a broker (DMZ) zone (`broker` in the zone), or remove this flow",
                    check="internet-inbound",
                    path=(Hop(source, destination, intent.services[index], flow.span),),
                )
            )
            break
    return findings


def legacy_service(policy: Policy) -> list[Diagnostic]:
    intent = intent_of(policy)
    findings = []
    legacy_names = [name for name, service in policy.services.items() if service.legacy]
    for index in intent.flows_with_service(legacy_names) if legacy_names else ():
        flow = policy.flows[index]
        legacy = [name for name in intent.services[index] if name in policy.services and policy.services[name].legacy]
        crossing = intent.crossing(index)
        if not legacy or crossing is None:
            continue
        source, destination, zs, zd = crossing
        findings.append(
            Diagnostic(
                CHECKS["legacy-service"].code,
                f"legacy-risk service {', '.join(legacy)} crosses from {zs} to {zd}",
                flow.span,
                "replace it (SMB 3 with encryption, SSH, SFTP, a jump host), or waive it with a reason and an expiry",
                check="legacy-service",
                path=(Hop(source, destination, intent.services[index], flow.span),),
            )
        )
    return findings


BASELINE_CHECKS = {
    "data-flow": data_flow,
    "untrusted-to-sensitive": untrusted_to_sensitive,
    "sensitive-cleartext": sensitive_cleartext,
    "internet-inbound": internet_inbound,
    "legacy-service": legacy_service,
}
