"""`septum explain SRC DST [SERVICE]`: is this connection allowed, partly or not, judged by the
packets of the pair; by which rules, which carve-outs remove it, what data may move, which
assertions speak about it, and (if no rule allows any of it) whether a lateral path exists."""

from __future__ import annotations

from dataclasses import dataclass, field

from .model import NoPath, OnlyEncrypted, OnlyMayConnect, Span
from .packets import AddressSet, policy_packets
from .packets.flows import V4, V6
from .printer import address_text, assertion_text, selector_text
from .resolve import Members, Policy
from .values import ValueProblem, parse_cidr
from .verify.common import intent_of


class UnknownEndpoint(Exception):
    pass


@dataclass
class Rule:
    span: Span
    text: str
    services: tuple[str, ...]
    partial: str | None = None  # "SRC part -> DST part[, less CARVE-OUTS]": the rule allows part of the pair
    carve_outs: list[tuple[Span, str]] = field(default_factory=list)  # carve-outs that remove part of the pair


@dataclass
class Explanation:
    source: str
    destination: str
    service: str | None
    source_zones: tuple[str, ...]
    destination_zones: tuple[str, ...]
    allowed: bool
    verdict: str = "denied"  # "allowed", "partly" or "denied"
    rules: list[Rule] = field(default_factory=list)  # rules that allow the pair or part of it
    carved_out: list[Rule] = field(default_factory=list)  # rules whose carve-outs remove all of the pair
    datatypes: list[str] = field(default_factory=list)
    assertions: list[tuple[Span, str]] = field(default_factory=list)
    empty: str | None = None  # why the pair has no packet at all
    path: list = field(default_factory=list)  # a lateral path when no rule allows any of the pair
    path_zones: list[str] = field(default_factory=list)  # the zones the path goes through
    path_end: str | None = None  # where the path ends, when its last hop is not onto the destination


def endpoint(policy: Policy, text: str) -> Members:
    if text in policy.zones:
        return Members(zones=frozenset({text}))
    if text in policy.hosts:
        return Members(hosts=frozenset({text}))
    try:
        return Members(addresses=frozenset({parse_cidr(text)}))
    except ValueProblem:
        known = sorted(set(policy.zones) | set(policy.hosts))
        import difflib

        close = difflib.get_close_matches(text, known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise UnknownEndpoint(f"'{text}' is not a zone, host or address{hint}") from None


def explain(policy: Policy, source: str, destination: str, service: str | None = None) -> Explanation:
    """Judged by packets: on SERVICE, the pair is allowed if the flows together allow every
    packet from SOURCE's addresses to DESTINATION's on it; with no service, if they allow some
    packet between every source and destination address. Partly if they allow some of that."""
    from .printer import _line_parts

    intent, packets = intent_of(policy), policy_packets(policy)
    src, dst = endpoint(policy, source), endpoint(policy, destination)
    if service is not None and service not in policy.services:
        raise UnknownEndpoint(f"'{service}' is not a service")
    src_zones, dst_zones = intent.zones_of_members(src), intent.zones_of_members(dst)
    result = Explanation(source, destination, service, tuple(sorted(src_zones)), tuple(sorted(dst_zones)), False)
    s, d = packets.members("s", src), packets.members("d", dst)
    asked = packets.services((service,)) if service is not None else None
    datatypes: set[str] = set()
    allowing = []
    for index, fp in enumerate(packets.flows()):
        x = packets.product(s, d, asked or fp.services)
        uncarved = packets.product(fp.source_all, fp.destination_all, fp.services)
        if x.empty or not packets.overlap(x, uncarved):
            continue
        flow = policy.flows[index]
        rule = Rule(flow.span, " ".join(_line_parts(flow)), intent.services[index])
        for kind, carve_outs, part, mine in (("from", flow.except_from, s, fp.source_all),
                                             ("to", flow.except_to, d, fp.destination_all)):
            for selector in carve_outs:
                if packets.address_set(policy.expand(selector)) & part.addresses & mine.addresses:
                    rule.carve_outs.append((selector.span, f"except {kind} {selector_text(selector)}"))
        if not packets.overlap(x, fp):
            result.carved_out.append(rule)
            continue
        allowing.append(fp)
        datatypes |= intent.datatypes(index)
        if not packets.within(x, fp):
            rule.partial = _part(policy, packets, source, s, flow.source) + " -> " + \
                _part(policy, packets, destination, d, flow.destination)
            if asked is not None and asked.families & ~packets.within_part(asked, fp.services):
                rule.partial += f" on the part of {service} in {', '.join(rule.services)}"
            if rule.carve_outs:
                rule.partial += ", less " + ", ".join(f"{text} ({span.file}:{span.line})"
                                                      for span, text in rule.carve_outs)
        result.rules.append(rule)
    if allowing and _covered(policy, packets, s, d, asked, allowing):
        result.verdict, result.allowed = "allowed", True
    elif result.rules:
        result.verdict = "partly"
    result.empty = _empty(source, destination, service, s, d, asked)
    result.datatypes = sorted(datatypes)
    for assertion in policy.assertions:
        body = assertion.body
        if isinstance(body, NoPath):
            hit = src_zones & intent.zones_of_members(policy.expand(body.source)) and \
                dst_zones & intent.zones_of_members(policy.expand(body.destination))
        elif isinstance(body, OnlyMayConnect):
            hit = bool(dst_zones & intent.zones_of_members(policy.expand(body.target)))
        elif isinstance(body, OnlyEncrypted):
            hit = body.datatype.name in datatypes
        else:
            hit = False
        if hit:
            result.assertions.append((assertion.span, assertion_text(assertion)))
    for requirement in policy.requirements:  # requirements whose sides hold all of the pair's
        if s.addresses and d.addresses and \
                not s.addresses - packets.address_set(policy.expand(requirement.source)) and \
                not d.addresses - packets.address_set(policy.expand(requirement.destination)):
            result.assertions.append((requirement.span, " ".join(_line_parts(requirement))))
    if result.verdict == "denied":
        result.path_zones, result.path = _lateral(intent, packets, src_zones, dst_zones, d, asked)
    if result.path and destination != result.path_zones[-1] and not _onto(policy, packets, result.path[-1], d):
        zone = result.path_zones[-1]
        where = "where {} is" if not d.addresses - packets.address_set(endpoint(policy, zone)) else \
            "which holds part of {}"
        result.path_end = f"ends in zone {zone}, {where.format(destination)} (traffic inside a zone is not filtered)"
    return result


def _covered(policy: Policy, packets, s, d, asked, flows: list) -> bool:
    """Whether the flows allow every packet of the pair on the service; with no service, some
    packet between every source and destination address (per address family: each flow's
    address pairs of the families it has packets of)."""
    if asked is not None:
        x = packets.product(s, d, asked)
        return not x.empty and packets.union_covers(x, flows)
    every = packets.services(tuple(sorted(policy.services)))
    families = s.families & d.families & every.families
    for bit, family in ((V4, 4), (V6, 6)):
        if families & bit:
            x = packets.product(_of_family(packets, "s", s, family), _of_family(packets, "d", d, family), every)
            ys = [packets.product(y.source, y.destination, every) for y in flows if y.families & bit]
            if not packets.union_covers(x, ys):
                return False
    return bool(families)


def _of_family(packets, side: str, part, family: int):
    """A side part's addresses of one family, as a part."""
    only = AddressSet(part.addresses.v4, ()) if family == 4 else AddressSet((), part.addresses.v6)
    return packets.members(side, Members(addresses=frozenset(only.cidrs())))


def _part(policy: Policy, packets, asked_text: str, asked, selector) -> str:
    """The part of an asked endpoint (a side `Part`) that a rule's side (before carve-outs) holds:
    the endpoint itself if all of it, else the rule's endpoints inside it, and for an endpoint
    only partly inside, the addresses they share."""
    if not asked.addresses - packets.address_set(policy.expand(selector)):
        return asked_text
    parts = []
    for name in policy.expand(selector).sorted_endpoints:
        mine = packets.address_set(endpoint(policy, name))
        shared = mine & asked.addresses
        if shared == mine:
            parts.append(name)
        elif shared:
            cidrs = [address_text(c) for c in shared.cidrs()]
            parts.append(", ".join(cidrs) if len(cidrs) <= 3 else f"{name} within {asked_text}")
    return ", ".join(parts)


def _empty(source: str, destination: str, service: str | None, s, d, asked) -> str | None:
    """Why the pair has no packet, if it has none."""
    if not s.families:
        return f"{source} has no addresses"
    if not d.families:
        return f"{destination} has no addresses"
    if asked is not None and not asked.families:
        return f"{service} matches no traffic"
    families = s.families & d.families & (asked.families if asked is not None else V4 | V6)
    if not families:
        return "source and destination share no address family" + (f" that {service} matches" if service else "")
    return None


def _onto(policy: Policy, packets, step, d) -> bool:
    """Whether a step's destination holds all of the asked destination (a side part)."""
    return not d.addresses - packets.address_set(endpoint(policy, step.hop.destination))


def _lateral(intent, packets, sources: set[str], targets: set[str], d, asked) -> tuple[list[str], list]:
    """The shortest zone-level path from a source zone to a destination zone (zones in name
    order, as `Intent.shortest_path` goes), and its steps: the least step of each zone pair,
    except that the last is one onto the destination itself, on the service, if the last
    layer of the search has one."""
    if not sources or not targets or sources & targets:
        return [], []
    out = intent.out()
    parent: dict[str, str | None] = {zone: None for zone in sources}
    layer = sorted(sources)
    while layer:
        ends = [(z, n) for z in layer for n in intent.names_of(out.get(z, 0)) if n in targets]
        if ends:
            break
        reached = []
        for zone in layer:
            for n in intent.names_of(out.get(zone, 0)):
                if n not in parent:
                    parent[n] = zone
                    reached.append(n)
        layer = reached
    else:
        return [], []

    def rank(order: int, step) -> tuple:
        onto = _onto(intent.policy, packets, step, d)
        on = asked is None or not asked.families & ~packets.within_part(asked, packets.services(step.hop.services))
        return (not onto, not (onto and on), order)

    candidates = [(z, n, step) for z, n in ends for step in intent.steps(z, n)]
    zone, last, step = candidates[min(range(len(candidates)), key=lambda i: rank(i, candidates[i][2]))]
    zones, steps = [last, zone], [step]
    while parent[zones[-1]] is not None:
        steps.append(intent.first_step(parent[zones[-1]], zones[-1]))
        zones.append(parent[zones[-1]])
    return zones[::-1], steps[::-1]


def render_text(e: Explanation) -> str:
    what = f"{e.source} -> {e.destination}" + (f" : {e.service}" if e.service else "")
    lines = [f"{what}: {VERDICTS[e.verdict]}"]
    nobody = "(none: private address space no zone owns)"
    lines.append(f"  zones: {', '.join(e.source_zones) or nobody} -> {', '.join(e.destination_zones) or nobody}")
    if e.empty:
        lines.append(f"  no packet can match: {e.empty}")
    if e.rules:
        lines.append("  rules:")
        for rule in e.rules:
            scope = f"  [partly: {rule.partial}]" if rule.partial else ""
            lines.append(f"    {rule.span.file}:{rule.span.line}  {rule.text}{scope}")
    else:
        lines.append("  rules: none (default deny)")
    if e.carved_out:
        lines.append("  carved out:")
        for rule in e.carved_out:
            removed = ", ".join(f"{text} ({span.file}:{span.line})" for span, text in rule.carve_outs)
            lines.append(f"    {rule.span.file}:{rule.span.line}  {rule.text}  [removed by {removed}]")
    if e.datatypes:
        lines.append(f"  data that may move (either way): {', '.join(e.datatypes)}")
    for span, text in e.assertions:
        lines.append(f"  covered by {span.file}:{span.line}  {text}")
    if e.path:
        hops = "hop" if len(e.path) == 1 else "hops"
        lines.append(f"  but reachable in {len(e.path)} {hops}: {' -> '.join(e.path_zones)}")
        for step, zones in zip(e.path, zip(e.path_zones, e.path_zones[1:])):
            hop = step.hop
            between = "" if (hop.source, hop.destination) == zones else f"  (zone {zones[0]} -> {zones[1]})"
            lines.append(f"    {hop.span.file}:{hop.span.line}  {hop.source} -> {hop.destination}"
                         f" : {', '.join(hop.services)}{between}")
        if e.path_end:
            lines.append(f"    {e.path_end}")
    return "\n".join(lines) + "\n"


VERDICTS = {"allowed": "ALLOWED", "partly": "PARTLY ALLOWED", "denied": "DENIED"}


def render_json(e: Explanation) -> str:
    import json

    def where(span: Span) -> dict:
        return {"file": span.file, "line": span.line, "column": span.column}

    def rule(r: Rule) -> dict:
        return {"location": where(r.span), "rule": r.text, "services": list(r.services), "partial": r.partial,
                "carve_outs": [{"location": where(span), "carve_out": text} for span, text in r.carve_outs]}

    return json.dumps({
        "version": 1,
        "source": e.source,
        "destination": e.destination,
        "service": e.service,
        "source_zones": list(e.source_zones),
        "destination_zones": list(e.destination_zones),
        "allowed": e.allowed,
        "verdict": e.verdict,
        "no_packets": e.empty,
        "rules": [rule(r) for r in e.rules],
        "carved_out": [rule(r) for r in e.carved_out],
        "datatypes": e.datatypes,
        "covered_by": [{"location": where(span), "statement": text} for span, text in e.assertions],
        "path": [{"source": s.hop.source, "destination": s.hop.destination, "services": list(s.hop.services),
                  "source_zone": a, "destination_zone": b, "location": where(s.hop.span)}
                 for s, a, b in zip(e.path, e.path_zones, e.path_zones[1:])],
        "path_end": e.path_end,
    }, indent=2) + "\n"
