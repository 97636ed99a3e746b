"""The canonical layout of zone files (`septum fmt`), printed from the model.

Statements keep their written order (order carries no meaning, but people group them); clauses
inside a block take a fixed order; lists keep their order; every comment is kept, next to the
clause or statement it was written beside. Parsing the output gives the same model.
"""

from __future__ import annotations

from .model import (
    Assertion,
    Comment,
    DataType,
    Binding,
    Device,
    Flow,
    Group,
    Host,
    NoPath,
    OnlyEncrypted,
    OnlyMayConnect,
    Requirement,
    SelHolding,
    Selector,
    SelName,
    SelTag,
    Service,
    SourceFile,
    Use,
    Waiver,
    Zone,
)
from .values import quote_string

WIDTH = 100
INDENT = "  "
CONTINUE = "  "


def address_text(cidr: str) -> str:
    if cidr.endswith("/32") and "." in cidr or cidr.endswith("/128") and ":" in cidr:
        return cidr.rsplit("/", 1)[0]
    return cidr


def selector_text(selector: Selector) -> str:
    return ", ".join(item_text(item) for item in selector.items)


def item_text(item) -> str:
    """One selector item as it is written (a single address without /32 or /128)."""
    if isinstance(item, SelName):
        return item.name
    if isinstance(item, SelTag):
        return f"tag:{item.tag}"
    if isinstance(item, SelHolding):
        return f"zones holding {item.datatype}"
    return address_text(item.cidr)


def names(refs) -> str:
    return ", ".join(r.name for r in refs)


def assertion_text(assertion: Assertion) -> str:
    """An assertion's body in canonical words; waivers may quote it."""
    body = assertion.body
    if isinstance(body, NoPath):
        within = f" within {body.within} hops" if body.within else ""
        through = f" except through {selector_text(body.through)}" if body.through else ""
        return f"no path from {selector_text(body.source)} to {selector_text(body.destination)}{within}{through}"
    if isinstance(body, OnlyEncrypted):
        return f"{body.datatype.name} crosses zones only encrypted"
    assert isinstance(body, OnlyMayConnect)
    on = f" on {names(body.services)}" if body.services else ""
    return f"only {selector_text(body.allowed)} may connect to {selector_text(body.target)}{on}"


# ---- clauses of block statements ------------------------------------------------


def _zone_clauses(zone: Zone) -> list[tuple[str, str]]:
    clauses = []
    if zone.description is not None:
        clauses.append(("description", f"description {quote_string(zone.description)}"))
    if zone.networks:
        clauses.append(("networks", "networks " + ", ".join(address_text(n.cidr) for n in zone.networks)))
    if zone.vlan is not None:
        clauses.append(("vlan", f"vlan {zone.vlan}"))
    if zone.trust.value != "internal" or "trust" in {c.keyword for c in zone.clauses}:
        clauses.append(("trust", f"trust {zone.trust.value}"))
    if zone.broker:
        clauses.append(("broker", "broker"))
    if zone.holds:
        clauses.append(("holds", f"holds {names(zone.holds)}"))
    if zone.tags:
        clauses.append(("tags", f"tags {names(zone.tags)}"))
    return clauses


def _host_clauses(host: Host) -> list[tuple[str, str]]:
    clauses = []
    if host.description is not None:
        clauses.append(("description", f"description {quote_string(host.description)}"))
    if host.addresses:
        clauses.append(("addresses", "address " + ", ".join(address_text(a.cidr) for a in host.addresses)))
    if host.tags:
        clauses.append(("tags", f"tags {names(host.tags)}"))
    return clauses


def _datatype_clauses(datatype: DataType) -> list[tuple[str, str]]:
    clauses = []
    if datatype.sensitivity.value != "confidential" or "sensitivity" in {c.keyword for c in datatype.clauses}:
        clauses.append(("sensitivity", f"sensitivity {datatype.sensitivity.value}"))
    if datatype.description is not None:
        clauses.append(("description", f"description {quote_string(datatype.description)}"))
    return clauses


def _match_text(match) -> str:
    if match.protocol in ("tcp", "udp"):
        ports = ", ".join(str(p.low) if p.low == p.high else f"{p.low}-{p.high}" for p in match.ports)
        return f"{match.protocol} {ports}"
    text = match.protocol
    if match.icmp_type is not None:
        text += f" type {match.icmp_type}"
        if match.icmp_code is not None:
            text += f" code {match.icmp_code}"
    return text


def _service_clauses(service: Service) -> list[tuple[str, str]]:
    clauses = []
    if service.description is not None:
        clauses.append(("description", f"description {quote_string(service.description)}"))
    clauses.extend(("matches", _match_text(m)) for m in service.matches)
    if service.carries:
        clauses.append(("carries", f"carries {names(service.carries)}"))
    if service.encrypted:
        clauses.append(("encrypted", "encrypted"))
    if service.legacy:
        clauses.append(("legacy", "legacy"))
    return clauses


def binding_text(binding: Binding) -> str:
    """`interface eth1 zone pacs`, `port 3 link core-fw`."""
    if binding.zone is not None:
        return f"{binding.where} zone {binding.zone.name}"
    return f"{binding.where} link {binding.link.name}"


def _device_clauses(device: Device) -> list[tuple[str, str]]:
    clauses = []
    if device.description is not None:
        clauses.append(("description", f"description {quote_string(device.description)}"))
    for binding in device.bindings:
        clauses.append(("bindings", binding_text(binding)))
    return clauses


def _block(statement) -> tuple[str, list[tuple[str, str]], bool] | None:
    """Header, clauses, and whether the block may sit on one line; None for line statements."""
    if isinstance(statement, Zone):
        return f"zone {statement.name}", _zone_clauses(statement), False
    if isinstance(statement, Host):
        return f"host {statement.name} in {statement.zone.name}", _host_clauses(statement), True
    if isinstance(statement, DataType):
        return f"datatype {statement.name}", _datatype_clauses(statement), True
    if isinstance(statement, Service):
        return f"service {statement.name}", _service_clauses(statement), True
    if isinstance(statement, Device):
        header = f"{statement.role.value} {statement.name} {statement.backend.value}"
        return header, _device_clauses(statement), False
    return None


# ---- line statements ------------------------------------------------------------


def _line_parts(statement) -> list[str]:
    """The words of a one-line statement as breakable parts: the first part, then options."""
    if isinstance(statement, Use):
        return [f"use {statement.module}"]
    if isinstance(statement, Group):
        return [f"group {statement.name} = {selector_text(statement.selector)}"]
    if isinstance(statement, Flow):
        parts = [
            f"allow {selector_text(statement.source)} -> {selector_text(statement.destination)} : "
            f"{names(statement.services)}"
        ]
        if statement.carrying:
            parts.append(f"carrying {names(statement.carrying)}")
        parts.extend(f"except from {selector_text(s)}" for s in statement.except_from)
        parts.extend(f"except to {selector_text(s)}" for s in statement.except_to)
        if statement.log:
            parts.append("log")
        if statement.justification is not None:
            parts.append(quote_string(statement.justification))
        return parts
    if isinstance(statement, Assertion):
        label = f"{statement.label.name}: " if statement.label else ""
        parts = [f"assert {label}{assertion_text(statement)}"]
        if statement.justification is not None:
            parts.append(quote_string(statement.justification))
        return parts
    if isinstance(statement, Requirement):
        label = f"{statement.label.name}: " if statement.label else ""
        parts = [
            f"require {label}{selector_text(statement.source)} -> {selector_text(statement.destination)} : "
            f"{names(statement.services)}"
        ]
        if statement.justification is not None:
            parts.append(quote_string(statement.justification))
        return parts
    if isinstance(statement, Waiver):
        target = statement.label.name if statement.label else quote_string(statement.text or "")
        services = f" : {names(statement.services)}" if statement.services else ""
        return [
            f"waive {target} for {selector_text(statement.source)} -> {selector_text(statement.destination)}{services}",
            f"until {statement.until.isoformat()} {quote_string(statement.reason)}",
        ]
    raise TypeError(f"no layout for {type(statement).__name__}")


def _line_statement(statement) -> list[str]:
    """Greedy fill: as many parts per line as fit in WIDTH, continuation lines indented."""
    lines: list[str] = []
    for part in _line_parts(statement):
        if not lines:
            lines.append(part)
        elif len(lines[-1]) + 1 + len(part) <= WIDTH:
            lines[-1] += " " + part
        else:
            lines.append(CONTINUE + part)
    return lines


# ---- files, with comments -------------------------------------------------------------


class _Out:
    """Output lines, with at most one blank line where the source had one (or around blocks)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.last_source_line = 0
        self.after_block = False

    def emit(self, lines: list[str], source_line: int, source_end: int, block: bool = False) -> None:
        if self.lines and (self.after_block or block or source_line - self.last_source_line > 1):
            self.lines.append("")
        self.lines.extend(lines)
        self.last_source_line = source_end
        self.after_block = block

    def trail(self, comment: Comment) -> None:
        self.lines[-1] += "  " + comment.text


def format_file(source: SourceFile) -> str:
    comments = sorted(source.comments, key=lambda c: (c.line, c.column))
    out = _Out()
    ci = 0
    for statement in source.statements:
        span = statement.span
        while ci < len(comments) and comments[ci].line < span.line:
            comment = comments[ci]
            if comment.line == out.last_source_line and out.lines:
                out.trail(comment)
            else:
                out.emit([comment.text], comment.line, comment.line)
            ci += 1
        inner: list[Comment] = []
        while ci < len(comments) and comments[ci].line <= span.end_line:
            inner.append(comments[ci])
            ci += 1
        block = _block(statement)
        if block is None:
            lines = _line_statement(statement)
            if inner:
                lines = [c.text for c in inner[:-1]] + lines
                lines[-1] += "  " + inner[-1].text
            out.emit(lines, span.line, span.end_line)
        else:
            multiline = _multiline(block, inner, statement)
            out.emit(_block_lines(statement, block, inner, multiline), span.line, span.end_line, multiline)
    for comment in comments[ci:]:
        if comment.line == out.last_source_line and out.lines:
            out.trail(comment)
        else:
            out.emit([comment.text], comment.line, comment.line)
    return "\n".join(out.lines) + "\n" if out.lines else ""


def _multiline(block, inner: list[Comment], statement) -> bool:
    header, clauses, may_be_one_line = block
    if not may_be_one_line or inner or len(clauses) > 3:
        return True
    return len(f"{header} {{ {'; '.join(text for _, text in clauses)} }}") > WIDTH


def _block_lines(statement, block, inner: list[Comment], multiline: bool) -> list[str]:
    header, clauses, _ = block
    if not multiline:
        if not clauses:
            return [f"{header} {{}}"]
        return [f"{header} {{ {'; '.join(text for _, text in clauses)} }}"]
    by_keyword: dict[str, list[Comment]] = {}
    trailing_by_keyword: dict[str, list[Comment]] = {}
    header_comments: list[Comment] = []
    closing_comments: list[Comment] = []
    clause_lines = sorted(((c.span.line, c.keyword) for c in getattr(statement, "clauses", ())), key=lambda x: x[0])
    for comment in inner:
        on_line = [kw for line, kw in clause_lines if line == comment.line]
        if on_line:
            trailing_by_keyword.setdefault(on_line[-1], []).append(comment)
            continue
        following = [kw for line, kw in clause_lines if line > comment.line]
        if comment.line == statement.span.line:
            header_comments.append(comment)
        elif following:
            by_keyword.setdefault(following[0], []).append(comment)
        else:
            closing_comments.append(comment)
    lines = [f"{header} {{" + "".join("  " + c.text for c in header_comments)]
    printed: set[str] = set()
    for keyword, text in clauses:
        if keyword not in printed:
            lines.extend(INDENT + c.text for c in by_keyword.get(keyword, []))
        line = INDENT + text
        if keyword not in printed and trailing_by_keyword.get(keyword):
            extra = trailing_by_keyword[keyword]
            lines.extend(INDENT + c.text for c in extra[:-1])
            line += "  " + extra[-1].text
        printed.add(keyword)
        lines.append(line)
    lines.extend(INDENT + c.text for c in closing_comments)
    lines.append("}")
    return lines
