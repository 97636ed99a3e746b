"""Words shared by the renderings of a diff: file names as the user knows them, citations, lines."""

from __future__ import annotations

import dataclasses

from ..diagnostics import Diagnostic, Related
from ..model import Span
from .records import BUILTIN_PREFIX, FlowEntry, FlowFacts, PolicyDiff, SideInfo, Verdict
from .verdicts import POSITION


def display_file(file: str, info: SideInfo) -> str:
    """A file name as the user knows it: under the path they named (catalogue files as they are)."""
    prefix = info.path if info.prefix is None else info.prefix
    if file.startswith(BUILTIN_PREFIX) or prefix in ("", "."):
        return file
    return f"{prefix.rstrip('/')}/{file}"


def where(span: Span, info: SideInfo) -> str:
    return f"{display_file(span.file, info)}:{span.line}"


def cite(spans: tuple[Span, ...], info: SideInfo, limit: int = 3) -> str:
    """`file:12, 30, other:4`: the first `limit` places (a file named once for its lines)."""
    places, last = [], None
    for span in spans[:limit]:
        places.append(str(span.line) if span.file == last else where(span, info))
        last = span.file
    more = len(spans) - limit
    return ", ".join(places) + (f" (+{more} more)" if more > 0 else "")


def facts_words(facts: FlowFacts) -> str:
    words = []
    if facts.except_from:
        words.append(f"except from {', '.join(facts.except_from)}")
    if facts.except_to:
        words.append(f"except to {', '.join(facts.except_to)}")
    if facts.datatypes:
        words.append(f"carrying {', '.join(facts.datatypes)}")
    if facts.log:
        words.append("log")
    return "; ".join(words)


def flow_line(entry, facts: FlowFacts, sources: list[str] | None = None) -> str:
    words = facts_words(facts)
    source = ", ".join(sources) if sources else entry.source
    return f"{source} -> {entry.destination} : {entry.service}" + (f" ({words})" if words else "")


def grouped(entries: list[FlowEntry]) -> list[tuple[list[str], FlowEntry]]:
    """Entries that differ only in their source, as one line with the sources listed (for people)."""
    groups: dict[tuple, tuple[list[str], FlowEntry]] = {}
    for entry in entries:
        key = (entry.destination, entry.service, entry.facts.meaning(), entry.facts.rules, entry.covered_by)
        if entry.covered_by is not None:
            key = (entry.source, *key)
        if key in groups:
            groups[key][0].append(entry.source)
        else:
            groups[key] = ([entry.source], entry)
    return list(groups.values())


def covered_words(entry: FlowEntry, when: str) -> str:
    if entry.covered_by is None:
        return ""
    return f" ({when} allowed as part of {entry.covered_by[0]} -> {entry.covered_by[1]})"


def message_text(message: str, info: SideInfo) -> str:
    """A finding's message with the positions it quotes under the path the user named."""
    return POSITION.sub(lambda m: display_file(m.group(1), info) + m.group(0)[len(m.group(1)):], message)


def verdict_text(verdict: Verdict, info: SideInfo) -> str:
    check = f" {verdict.check}" if verdict.check else ""
    return f"{verdict.status}[{verdict.code}]{check}: {message_text(verdict.message, info)}"


def headline(diff: PolicyDiff) -> str:
    c = diff.counts()
    parts = []
    for key, words in (("flows_added", "newly allowed"), ("flows_removed", "no longer allowed"),
                       ("flows_changed", "changed")):
        if c[key]:
            parts.append(f"{c[key]} flow{'s' * (c[key] != 1)} {words}")
    reach = c["reach_added"] + c["reach_removed"]
    if reach:
        parts.append(f"{reach} data-reach change{'s' * (reach != 1)}")
    verdicts = c["verdicts_added"] + c["verdicts_removed"] + c["verdicts_changed"]
    if verdicts:
        parts.append(f"{verdicts} verdict change{'s' * (verdicts != 1)}")
    definitions = c["definitions_added"] + c["definitions_removed"] + c["definitions_changed"]
    if definitions:
        parts.append(f"{definitions} definition change{'s' * (definitions != 1)}")
    return ", ".join(parts) if parts else "no semantic change"


def relocated(diagnostic: Diagnostic, info: SideInfo) -> Diagnostic:
    def move(span: Span | None) -> Span | None:
        return None if span is None else span._replace(file=display_file(span.file, info))

    return dataclasses.replace(diagnostic, span=move(diagnostic.span),
                               related=tuple(Related(move(r.span), r.message) for r in diagnostic.related))


def render_errors(diff: PolicyDiff) -> str:
    from ..render import render_diagnostic

    blocks = []
    for side, info in (("old", diff.old), ("new", diff.new)):
        errors = diff.errors.get(side) or []
        if not errors:
            continue
        texts = {display_file(f, info): t for f, t in diff.texts.get(side, {}).items()}
        blocks.append(f"septum diff: the {side.upper()} side ({info.label}) has "
                      f"{len(errors)} input error{'s' * (len(errors) != 1)}:")
        blocks.extend(render_diagnostic(relocated(d, info), texts) for d in errors)
    return "\n\n".join(blocks) + "\n"
