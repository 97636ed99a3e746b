"""`septum explain SRC DST [SERVICE]`: is this connection allowed, by which rules, what data
may move, which assertions speak about it, and (if denied directly) whether a path exists."""

from __future__ import annotations

from dataclasses import dataclass, field

from .model import NoPath, OnlyEncrypted, OnlyMayConnect, Span
from .printer import assertion_text
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
    partial: str | None = None  # "only host X": the rule covers part of the endpoint
    carved_by: Span | None = None


@dataclass
class Explanation:
    source: str
    destination: str
    service: str | None
    source_zones: tuple[str, ...]
    destination_zones: tuple[str, ...]
    allowed: bool
    rules: list[Rule] = field(default_factory=list)
    datatypes: list[str] = field(default_factory=list)
    assertions: list[tuple[Span, str]] = field(default_factory=list)
    path: list = field(default_factory=list)  # a lateral path when there is no direct rule


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
    from .printer import _line_parts

    intent = intent_of(policy)
    src, dst = endpoint(policy, source), endpoint(policy, destination)
    if service is not None and service not in policy.services:
        raise UnknownEndpoint(f"'{service}' is not a service")
    src_name, dst_name = next(iter(src.zones | src.hosts | src.addresses)), next(iter(dst.zones | dst.hosts | dst.addresses))
    src_zones, dst_zones = intent.zones_of_members(src), intent.zones_of_members(dst)
    result = Explanation(source, destination, service, tuple(sorted(src_zones)), tuple(sorted(dst_zones)), False)
    datatypes: set[str] = set()
    for index in (intent.flows_with_service((service,)) if service is not None else range(len(policy.flows))):
        flow = policy.flows[index]
        services = intent.services[index]
        relations = [(s, d, _relation(intent, s, src_name), _relation(intent, d, dst_name))
                     for s, d, _, _ in intent.pairs(index)]
        pairs = [(s, d, rs, rd) for s, d, rs, rd in relations if rs and rd]
        if not pairs:
            continue
        whole = any(rs == rd == "whole" for _, _, rs, rd in pairs)
        partial = None if whole else ", ".join(sorted({f"{s} -> {d}" for s, d, _, _ in pairs}))
        result.rules.append(Rule(flow.span, " ".join(_line_parts(flow)), services, partial))
        if whole:
            result.allowed = True
        datatypes |= policy.service_datatypes(services) | {r.name for r in flow.carrying}
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
    for requirement in policy.requirements:
        if intent.covers(policy.expand(requirement.source), src_name) and \
                intent.covers(policy.expand(requirement.destination), dst_name):
            result.assertions.append((requirement.span, " ".join(_line_parts(requirement))))
    if not result.allowed:
        result.path = intent.shortest_path(src_zones, dst_zones) or []
    return result


def _relation(intent, endpoint: str, asked: str) -> str | None:
    """How a rule's endpoint relates to the asked one: "whole" (itself, or the zone it lies
    in), "part" (a host or address inside it), or None."""
    asked_zones = set(intent.zones_of(asked))
    if endpoint == asked or intent.zone_of_host.get(asked) == endpoint or (
            endpoint in intent.policy.zones and asked_zones == {endpoint}):
        return "whole"
    if asked_zones & set(intent.zones_of(endpoint)) and endpoint not in intent.policy.zones:
        return "part"
    return None


def render_text(e: Explanation) -> str:
    what = f"{e.source} -> {e.destination}" + (f" : {e.service}" if e.service else "")
    lines = [f"{what}: {'ALLOWED' if e.allowed else 'DENIED'}"]
    lines.append(f"  zones: {', '.join(e.source_zones)} -> {', '.join(e.destination_zones)}")
    if e.rules:
        lines.append("  rules:")
        for rule in e.rules:
            scope = f"  [partly: {rule.partial}]" if rule.partial else ""
            lines.append(f"    {rule.span.file}:{rule.span.line}  {rule.text}{scope}")
    else:
        lines.append("  rules: none (default deny)")
    if e.datatypes:
        lines.append(f"  data that may move (either way): {', '.join(e.datatypes)}")
    for span, text in e.assertions:
        lines.append(f"  covered by {span.file}:{span.line}  {text}")
    if not e.allowed and e.path:
        chain = " -> ".join([e.path[0].hop.source] + [s.hop.destination for s in e.path])
        lines.append(f"  but reachable in {len(e.path)} hops: {chain}")
        for step in e.path:
            lines.append(f"    {step.hop.span.file}:{step.hop.span.line}  {step.hop.source} -> {step.hop.destination}"
                         f" : {', '.join(step.hop.services)}")
    return "\n".join(lines) + "\n"


def render_json(e: Explanation) -> str:
    import json

    def where(span: Span) -> dict:
        return {"file": span.file, "line": span.line, "column": span.column}

    return json.dumps({
        "version": 1,
        "source": e.source,
        "destination": e.destination,
        "service": e.service,
        "source_zones": list(e.source_zones),
        "destination_zones": list(e.destination_zones),
        "allowed": e.allowed,
        "rules": [{"location": where(r.span), "rule": r.text, "services": list(r.services), "partial": r.partial}
                  for r in e.rules],
        "datatypes": e.datatypes,
        "covered_by": [{"location": where(span), "statement": text} for span, text in e.assertions],
        "path": [{"source": s.hop.source, "destination": s.hop.destination, "services": list(s.hop.services),
                  "location": where(s.hop.span)} for s in e.path],
    }, indent=2) + "\n"
