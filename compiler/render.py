"""Diagnostics for people (source snippets with carets) and for machines (JSON)."""

from __future__ import annotations

import json

from .diagnostics import CODES, Diagnostic
from .model import Span
from .sourcelines import lines_of

JSON_SCHEMA_VERSION = 1


def _source_line(texts: dict[str, str], span: Span) -> str | None:
    lines = lines_of(texts, span.file)
    if lines is None:
        return None
    if 1 <= span.line <= len(lines):
        return lines[span.line - 1]
    return "" if span.line == len(lines) + 1 else None


def _snippet(texts: dict[str, str], span: Span, label: str = "") -> list[str]:
    line = _source_line(texts, span)
    if line is None:
        return []
    gutter = " " * len(str(span.line))
    line_text = line.expandtabs(1)
    start = span.column - 1
    end = span.end_column - 1 if span.end_line == span.line else len(line_text)
    width = max(1, end - start)
    caret = " " * start + "^" * width + (f" {label}" if label else "")
    return [f" {gutter} |", f" {span.line} | {line_text}", f" {gutter} | {caret}"]


def render_diagnostic(diagnostic: Diagnostic, texts: dict[str, str]) -> str:
    kind = "waived" if diagnostic.waived_by else diagnostic.severity.value
    check = f" {diagnostic.check}" if diagnostic.check else ""
    out = [f"{kind}[{diagnostic.code}{check}]: {diagnostic.message}"]
    if diagnostic.span is not None:
        gutter = " " * len(str(diagnostic.span.line))
        out.append(f"{gutter}--> {diagnostic.span}")
        out.extend(_snippet(texts, diagnostic.span))
    for related in diagnostic.related:
        gutter = " " * len(str(related.span.line))
        out.append(f"{gutter}::: {related.span}")
        snippet = _snippet(texts, related.span, related.message)
        out.extend(snippet if snippet else [f" {gutter} = note: {related.message}"])
    gutter = " " * len(str(diagnostic.span.line)) if diagnostic.span else ""
    for number, hop in enumerate(diagnostic.path, 1):
        out.append(f" {gutter} = path {number}: {hop.source} -> {hop.destination} : {', '.join(hop.services)}"
                   f"  ({hop.span.file}:{hop.span.line})")
    if diagnostic.waived_by:
        out.append(f" {gutter} = waived by {diagnostic.waived_by.file}:{diagnostic.waived_by.line}")
    elif diagnostic.help:
        out.append(f" {gutter} = help: {diagnostic.help}")
    return "\n".join(out)


def summary_line(diagnostics: list[Diagnostic], files: int) -> str:
    waived = sum(1 for d in diagnostics if d.waived_by)
    errors = sum(1 for d in diagnostics if d.severity.value == "error" and not d.waived_by)
    warnings = len(diagnostics) - errors - waived
    if errors == warnings == 0:
        accepted = f" ({waived} waived finding{'s' * (waived != 1)})" if waived else ""
        return f"septum: {files} file{'s' * (files != 1)} checked, no problems{accepted}"
    parts = []
    if errors:
        parts.append(f"{errors} error{'s' * (errors != 1)}")
    if warnings:
        parts.append(f"{warnings} warning{'s' * (warnings != 1)}")
    if waived:
        parts.append(f"{waived} waived")
    return f"septum: {' and '.join(parts)} in {files} file{'s' * (files != 1)}"


def render_human(diagnostics: list[Diagnostic], texts: dict[str, str]) -> str:
    """Problems in full, with snippets: reading and validation first, in file order, then the
    verification findings grouped by check; accepted (waived) findings one line each, at the end."""
    blocks = [render_diagnostic(d, texts) for d in diagnostics if not d.waived_by and not d.check]
    by_check: dict[str, list[Diagnostic]] = {}
    for diagnostic in diagnostics:
        if diagnostic.check and not diagnostic.waived_by:
            by_check.setdefault(diagnostic.check, []).append(diagnostic)
    for check, group in sorted(by_check.items(), key=lambda item: (item[1][0].code, item[0])):
        count = f"{len(group)} finding{'s' * (len(group) != 1)}"
        blocks.append(f"── {check} ({group[0].code}): {count} ──")
        blocks.extend(render_diagnostic(d, texts) for d in group)
    waived = [d for d in diagnostics if d.waived_by]
    if waived:
        blocks.append("\n".join(
            f"waived[{d.code} {d.check}]: {d.message} (at {d.span.file}:{d.span.line}; "
            f"waived by {d.waived_by.file}:{d.waived_by.line})" for d in waived))
    blocks.append(summary_line(diagnostics, len(texts)))
    return "\n\n".join(blocks) + "\n"


def _span_json(span: Span | None) -> dict | None:
    if span is None:
        return None
    return {
        "file": span.file,
        "line": span.line,
        "column": span.column,
        "end_line": span.end_line,
        "end_column": span.end_column,
    }


def diagnostic_json(diagnostic: Diagnostic) -> dict:
    return {
        "code": diagnostic.code,
        "check": diagnostic.check,
        "title": CODES[diagnostic.code][0],
        "severity": diagnostic.severity.value,
        "message": diagnostic.message,
        "location": _span_json(diagnostic.span),
        "help": diagnostic.help,
        "related": [{"location": _span_json(r.span), "message": r.message} for r in diagnostic.related],
        "path": [
            {"source": h.source, "destination": h.destination, "services": list(h.services),
             "location": _span_json(h.span)}
            for h in diagnostic.path
        ],
        "waived_by": _span_json(diagnostic.waived_by),
    }


def render_json(diagnostics: list[Diagnostic], texts: dict[str, str], exit_code: int, stats: dict) -> str:
    document = {
        "version": JSON_SCHEMA_VERSION,
        "exit_code": exit_code,
        "summary": {
            "files": len(texts),
            "errors": sum(1 for d in diagnostics if d.severity.value == "error" and not d.waived_by),
            "warnings": sum(1 for d in diagnostics if d.severity.value == "warning" and not d.waived_by),
            "waived": sum(1 for d in diagnostics if d.waived_by),
            **stats,
        },
        "diagnostics": [diagnostic_json(d) for d in diagnostics],
    }
    return json.dumps(document, indent=2, sort_keys=False) + "\n"
