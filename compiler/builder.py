"""The one transformer from grammar rules to model objects.

The parser calls the method named after a rule of `grammar/septum.lark` for every reduction of
that rule, with anonymous tokens filtered out, exactly like a lark `Transformer`, and with the
rule's source span. Literal values are validated here, so a bad CIDR or port is
reported at its exact token.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable, NamedTuple

from .diagnostics import Diagnostic, Related
from .model import (
    Assertion,
    BackendKind,
    Binding,
    Clause,
    DataType,
    Device,
    DeviceRole,
    Flow,
    Group,
    Host,
    Match,
    Network,
    NoPath,
    OnlyEncrypted,
    OnlyMayConnect,
    PortRange,
    Ref,
    Requirement,
    SelAddress,
    SelHolding,
    Selector,
    SelName,
    SelTag,
    Sensitivity,
    Service,
    Span,
    Trust,
    Use,
    Waiver,
    Zone,
    constructors,
)
from .values import (
    ValueProblem,
    parse_cidr,
    parse_date,
    parse_int,
    parse_port,
    parse_port_range,
    parse_string,
    parse_vlan,
)


class Tok(NamedTuple):
    type: str
    value: str
    start: int
    end: int


class Piece(NamedTuple):
    """A clause or list on its way into a statement."""

    keyword: str
    value: Any
    span: Span


# Models are made without validation (`constructors`): every value below is checked here, so
# validating it again would only cost time (half of parsing, before this).
(
    _Ref, _Clause, _Network, _PortRange, _PortMatch, _IcmpMatch, _Binding, _Selector, _SelName,
    _SelTag, _SelHolding, _SelAddress, _Use, _Zone, _Host, _Group, _DataType, _Service, _Flow, _NoPath,
    _OnlyEncrypted, _OnlyMayConnect, _Assertion, _Requirement, _Waiver, _Device
) = constructors(
    (Ref, "name", "span"),
    (Clause, "keyword", "span"),
    (Network, "cidr", "span"),
    (PortRange, "low", "high"),
    (Match, "protocol", "ports", "span"),
    (Match, "protocol", "icmp_type", "icmp_code", "span"),
    (Binding, "interface", "port", "zone", "link", "span"),
    (Selector, "items", "span"),
    (SelName, "name", "span"),
    (SelTag, "tag", "span"),
    (SelHolding, "datatype", "span"),
    (SelAddress, "cidr", "span"),
    (Use, "module", "span"),
    (Zone, "name", "description", "networks", "vlan", "trust", "broker", "holds", "tags", "builtin", "span",
     "name_span", "clauses"),
    (Host, "name", "zone", "description", "addresses", "tags", "span", "name_span", "clauses"),
    (Group, "name", "selector", "span", "name_span"),
    (DataType, "name", "sensitivity", "description", "span", "name_span", "clauses"),
    (Service, "name", "description", "matches", "carries", "encrypted", "legacy", "span", "name_span",
     "clauses"),
    (Flow, "source", "destination", "services", "carrying", "except_from", "except_to", "log", "justification",
     "span"),
    (NoPath, "source", "destination", "within", "through"),
    (OnlyEncrypted, "datatype"),
    (OnlyMayConnect, "allowed", "target", "services"),
    (Assertion, "label", "body", "justification", "span"),
    (Requirement, "label", "source", "destination", "services", "justification", "span"),
    (Waiver, "label", "text", "source", "destination", "services", "until", "reason", "target_span",
     "span"),
    (Device, "role", "name", "backend", "description", "bindings", "span", "name_span", "clauses"),
)

_new_tuple = tuple.__new__
_TRUST = {trust.value: trust for trust in Trust}

SINGLE_CLAUSES = {"description", "vlan", "trust", "broker", "sensitivity", "encrypted", "legacy", "log", "within", "justification"}


class ModelBuilder:
    def __init__(self, span: Callable[[int, int], Span], diagnostics: list[Diagnostic], broken_names: set[str]) -> None:
        self.span = span
        self.diagnostics = diagnostics
        self.broken_names = broken_names  # definitions dropped for a bad value: not "unknown" later

    # ---- helpers -----------------------------------------------------------

    def tok_span(self, tok: Tok) -> Span:
        return self.span(tok[2], tok[3])

    def ref(self, tok: Tok) -> Ref:
        return _Ref(tok[1], self.span(tok[2], tok[3]))

    def value(self, tok: Tok, parse: Callable, *args) -> Any:
        try:
            return parse(*args) if args else parse(tok.value)
        except ValueProblem as problem:
            self.diagnostics.append(Diagnostic(problem.code, problem.message, self.tok_span(tok), problem.help))
            return None

    def enum(self, tok: Tok, enum: type, what: str) -> Any:
        try:
            return enum(tok.value)
        except ValueError:
            choices = [member.value for member in enum]
            close = difflib.get_close_matches(tok.value, choices, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            self.diagnostics.append(
                Diagnostic(
                    "E109",
                    f"'{tok.value}' is not a {what}",
                    self.tok_span(tok),
                    f"{hint}a {what} is one of: {', '.join(choices)}",
                )
            )
            return None

    def clauses(self, pieces: list[Piece], record: bool = True) -> tuple[dict[str, Any], tuple[Clause, ...]]:
        """Fold clauses into fields: single clauses once (a repeat is an error), lists concatenated;
        and the clauses as written, unless `record` is false."""
        fields: dict[str, Any] = {}
        first: dict[str, Span] = {}
        clauses = []
        for piece in pieces:
            if record:
                clauses.append(_Clause(piece.keyword, piece.span))
            if piece.keyword in SINGLE_CLAUSES:
                if piece.keyword in first:
                    self.diagnostics.append(
                        Diagnostic(
                            "E206",
                            f"'{piece.keyword}' is given twice",
                            piece.span,
                            f"keep one '{piece.keyword}' clause",
                            (Related(first[piece.keyword], "first given here"),),
                        )
                    )
                    continue
                first[piece.keyword] = piece.span
                fields[piece.keyword] = piece.value
            else:
                fields.setdefault(piece.keyword, []).extend(piece.value)
        return fields, tuple(clauses)

    # ---- lists and literals ---------------------------------------------------

    def module_name(self, children: list[Tok], span: Span) -> Piece:
        return Piece("module", ".".join(t.value for t in children), span)

    def name_list(self, children: list[Tok], span: Span) -> Piece:
        at = self.span
        return _new_tuple(Piece, ("names", [_Ref(t[1], at(t[2], t[3])) for t in children], span))

    def address(self, children: list[Tok], span: Span) -> Network | None:
        cidr = self.value(children[0], parse_cidr)
        return None if cidr is None else _Network(cidr, span)

    def address_list(self, children: list, span: Span) -> Piece:
        return _new_tuple(Piece, ("addresses", [n for n in children if n is not None], span))

    def port_single(self, children: list[Tok], span: Span) -> PortRange | None:
        port = self.value(children[0], parse_port)
        return None if port is None else _PortRange(low=port, high=port)

    def port_range(self, children: list[Tok], span: Span) -> PortRange | None:
        low, high = children
        if self.value(low, parse_port) is None or self.value(high, parse_port) is None:
            return None
        try:
            lo, hi = parse_port_range(low.value, high.value)
        except ValueProblem as problem:
            self.diagnostics.append(Diagnostic(problem.code, problem.message, span, problem.help))
            return None
        return _PortRange(low=lo, high=hi)

    def port_list(self, children: list, span: Span) -> Piece:
        return Piece("ports", [p for p in children if p is not None], span)

    def justification(self, children: list[Tok], span: Span) -> Piece:
        return _new_tuple(Piece, ("justification", self.value(children[0], parse_string), span))

    def label(self, children: list[Tok], span: Span) -> Piece:
        return Piece("label", self.ref(children[0]), span)

    # ---- clauses -----------------------------------------------------------

    def description(self, children: list[Tok], span: Span) -> Piece:
        return _new_tuple(Piece, ("description", self.value(children[0], parse_string), span))

    def networks(self, children: list[Piece], span: Span) -> Piece:
        return _new_tuple(Piece, ("networks", children[0].value, span))

    def addresses(self, children: list, span: Span) -> Piece:
        return Piece("addresses", children[1].value, span)

    def vlan(self, children: list[Tok], span: Span) -> Piece:
        return _new_tuple(Piece, ("vlan", self.value(children[0], parse_vlan), span))

    def holds(self, children: list[Piece], span: Span) -> Piece:
        return Piece("holds", children[0].value, span)

    def trust(self, children: list[Tok], span: Span) -> Piece:
        trust = _TRUST.get(children[0][1])  # the usual spellings, without the enum's lookup
        return _new_tuple(Piece, ("trust", trust or self.enum(children[0], Trust, "trust level"), span))

    def broker(self, children: list, span: Span) -> Piece:
        return Piece("broker", True, span)

    def tags(self, children: list[Piece], span: Span) -> Piece:
        return _new_tuple(Piece, ("tags", children[0].value, span))

    def sensitivity(self, children: list[Tok], span: Span) -> Piece:
        return Piece("sensitivity", self.enum(children[0], Sensitivity, "sensitivity"), span)

    def ports(self, children: list, span: Span) -> Piece:
        protocol, ports = children
        return Piece("matches", [_PortMatch(protocol=protocol.value, ports=tuple(ports.value), span=span)], span)

    def icmp(self, children: list[Tok], span: Span) -> Piece:
        numbers = [self.value(t, parse_int, t.value, 0, 255, "ICMP type or code", "E108") for t in children[1:]]
        icmp_type = numbers[0] if numbers else None
        icmp_code = numbers[1] if len(numbers) > 1 else None
        match = _IcmpMatch(protocol=children[0].value, icmp_type=icmp_type, icmp_code=icmp_code, span=span)
        return Piece("matches", [match], span)

    def carries(self, children: list[Piece], span: Span) -> Piece:
        return Piece("carries", children[0].value, span)

    def encrypted(self, children: list, span: Span) -> Piece:
        return Piece("encrypted", True, span)

    def legacy(self, children: list, span: Span) -> Piece:
        return Piece("legacy", True, span)

    def carrying(self, children: list[Piece], span: Span) -> Piece:
        return Piece("carrying", children[0].value, span)

    def except_from(self, children: list[Selector], span: Span) -> Piece:
        return Piece("except_from", [children[0]], span)

    def except_to(self, children: list[Selector], span: Span) -> Piece:
        return Piece("except_to", [children[0]], span)

    def log(self, children: list, span: Span) -> Piece:
        return Piece("log", True, span)

    def within(self, children: list[Tok], span: Span) -> Piece:
        return Piece("within", self.value(children[0], parse_int, children[0].value, 1, 1000, "hop count", "E110"), span)

    def on_services(self, children: list[Piece], span: Span) -> Piece:
        return Piece("services", children[0].value, span)

    def interface(self, children: list[Tok], span: Span) -> Piece:
        binding = _Binding(interface=children[0].value, port=None, zone=self.ref(children[1]), link=None, span=span)
        return Piece("bindings", [binding], span)

    def interface_link(self, children: list[Tok], span: Span) -> Piece:
        binding = _Binding(interface=children[0].value, port=None, zone=None, link=self.ref(children[1]), span=span)
        return Piece("bindings", [binding], span)

    def port_binding(self, children: list[Tok], span: Span) -> Piece:
        binding = _Binding(interface=None, port=self._port(children[0]), zone=self.ref(children[1]), link=None,
                           span=span)
        return Piece("bindings", [binding], span)

    def port_link(self, children: list[Tok], span: Span) -> Piece:
        binding = _Binding(interface=None, port=self._port(children[0]), zone=None, link=self.ref(children[1]),
                           span=span)
        return Piece("bindings", [binding], span)

    def _port(self, tok: Tok) -> int | None:
        return self.value(tok, parse_int, tok.value, 1, 0xFFFFFF00, "switch port", "E104")

    # ---- selectors ---------------------------------------------------------

    def selector(self, children: list, span: Span) -> Selector:
        if len(children) == 1 and children[0] is not None:
            return _Selector((children[0],), span)
        return _Selector(tuple([c for c in children if c is not None]), span)

    def sel_name(self, children: list[Tok], span: Span) -> SelName:
        return _SelName(children[0][1], span)

    def sel_tag(self, children: list[Tok], span: Span) -> SelTag:
        return _SelTag(tag=children[0].value, span=span)

    def sel_holding(self, children: list[Tok], span: Span) -> SelHolding:
        return _SelHolding(datatype=children[0].value, span=span)

    def sel_address(self, children: list, span: Span) -> SelAddress | None:
        network = children[0]
        return None if network is None else _SelAddress(cidr=network.cidr, span=span)

    # ---- statements ----------------------------------------------------------

    def start(self, children: list, span: Span) -> list:
        return [c for c in children if c is not None]

    def use(self, children: list[Piece], span: Span) -> Use:
        return _Use(module=children[0].value, span=span)

    def zone(self, children: list, span: Span) -> Zone:
        fields, clauses = self.clauses(children[1:])
        return _Zone(
            name=children[0].value,
            description=fields.get("description"),
            networks=tuple(fields.get("networks", ())),
            vlan=fields.get("vlan"),
            trust=fields.get("trust") or Trust.internal,
            broker=fields.get("broker", False),
            holds=tuple(fields.get("holds", ())),
            tags=tuple(fields.get("tags", ())),
            builtin=False,
            span=span,
            name_span=self.tok_span(children[0]),
            clauses=clauses,
        )

    def host(self, children: list, span: Span) -> Host:
        fields, clauses = self.clauses(children[2:])
        return _Host(
            name=children[0].value,
            zone=self.ref(children[1]),
            description=fields.get("description"),
            addresses=tuple(fields.get("addresses", ())),
            tags=tuple(fields.get("tags", ())),
            span=span,
            name_span=self.tok_span(children[0]),
            clauses=clauses,
        )

    def group(self, children: list, span: Span) -> Group:
        return _Group(
            name=children[0].value, selector=children[1], span=span, name_span=self.tok_span(children[0])
        )

    def datatype(self, children: list, span: Span) -> DataType:
        fields, clauses = self.clauses(children[1:])
        return _DataType(
            name=children[0].value,
            sensitivity=fields.get("sensitivity") or Sensitivity.confidential,
            description=fields.get("description"),
            span=span,
            name_span=self.tok_span(children[0]),
            clauses=clauses,
        )

    def service(self, children: list, span: Span) -> Service:
        fields, clauses = self.clauses(children[1:])
        return _Service(
            name=children[0].value,
            description=fields.get("description"),
            matches=tuple(fields.get("matches", ())),
            carries=tuple(fields.get("carries", ())),
            encrypted=fields.get("encrypted", False),
            legacy=fields.get("legacy", False),
            span=span,
            name_span=self.tok_span(children[0]),
            clauses=clauses,
        )

    def allow(self, children: list, span: Span) -> Flow:
        source, destination, services = children[:3]
        if len(children) == 3:
            return _Flow(source, destination, tuple(services.value), (), (), (), False, None, span)
        fields, _ = self.clauses(children[3:], record=False)
        return _Flow(
            source=source,
            destination=destination,
            services=tuple(services.value),
            carrying=tuple(fields.get("carrying", ())),
            except_from=tuple(fields.get("except_from", ())),
            except_to=tuple(fields.get("except_to", ())),
            log=fields.get("log", False),
            justification=fields.get("justification"),
            span=span,
        )

    def no_path(self, children: list, span: Span) -> NoPath:
        options = {piece.keyword: piece.value for piece in children[2:]}
        return _NoPath(source=children[0], destination=children[1], within=options.get("within"),
                      through=options.get("through"))

    def except_through(self, children: list[Selector], span: Span) -> Piece:
        return Piece("through", children[0], span)

    def only_encrypted(self, children: list[Tok], span: Span) -> OnlyEncrypted:
        return _OnlyEncrypted(datatype=self.ref(children[0]))

    def only_may_connect(self, children: list, span: Span) -> OnlyMayConnect:
        services = tuple(children[2].value) if len(children) > 2 else ()
        return _OnlyMayConnect(allowed=children[0], target=children[1], services=services)

    def assertion(self, children: list, span: Span) -> Assertion:
        label = children[0].value if isinstance(children[0], Piece) and children[0].keyword == "label" else None
        rest = children[1:] if label else children
        justification = rest[1].value if len(rest) > 1 else None
        return _Assertion(label=label, body=rest[0], justification=justification, span=span)

    def require(self, children: list, span: Span) -> Requirement:
        label = children[0].value if isinstance(children[0], Piece) and children[0].keyword == "label" else None
        rest = children[1:] if label else children
        justification = rest[3].value if len(rest) > 3 else None
        return _Requirement(
            label=label,
            source=rest[0],
            destination=rest[1],
            services=tuple(rest[2].value),
            justification=justification,
            span=span,
        )

    def waiver_label(self, children: list[Tok], span: Span) -> Piece:
        return Piece("label", self.ref(children[0]), span)

    def waiver_text(self, children: list[Tok], span: Span) -> Piece:
        return Piece("text", self.value(children[0], parse_string), span)

    def waiver(self, children: list, span: Span) -> Waiver:
        target, source, destination = children[:3]
        services = tuple(children[3].value) if len(children) == 6 else ()
        date_tok, reason_tok = children[-2], children[-1]
        until = self.value(date_tok, parse_date)
        if until is None:
            return None
        reason = self.value(reason_tok, parse_string) or ""
        if not reason.strip():
            self.diagnostics.append(
                Diagnostic("E112", "a waiver needs a reason", self.tok_span(reason_tok),
                           'say why the exception is acceptable and what ends it, e.g. "legacy CT, replacement PO-5531"')
            )
        return _Waiver(
            label=target.value if target.keyword == "label" else None,
            text=target.value if target.keyword == "text" else None,
            source=source,
            destination=destination,
            services=services,
            until=until,
            reason=reason,
            target_span=target.span,
            span=span,
        )

    def device(self, children: list, span: Span) -> Device:
        role, name, backend = children[:3]
        fields, clauses = self.clauses(children[3:])
        kind = self.enum(backend, BackendKind, "backend kind")
        if kind is None:
            self.broken_names.add(name.value)
            return None
        return _Device(
            role=DeviceRole(role.value),
            name=name.value,
            backend=kind,
            description=fields.get("description"),
            bindings=tuple(fields.get("bindings", ())),
            span=span,
            name_span=self.tok_span(name),
            clauses=clauses,
        )
