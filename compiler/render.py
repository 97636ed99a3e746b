"""Diagnostics for people (source snippets with carets) and for machines (JSON)."""

from __future__ import annotations

import json

from .diagnostics import CODES, Diagnostic
from .model import Span

JSON_SCHEMA_VERSION = 1


def _source_line(texts: dict[str, str], span: Span) -> str | None:
    text = texts.get(span.file)
    if text is None:
        return None
    lines = text.splitlines()
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
    out = [f"{diagnostic.severity.value}[{diagnostic.code}]: {diagnostic.message}"]
    if diagnostic.span is not None:
        gutter = " " * len(str(diagnostic.span.line))
        out.append(f"{gutter}--> {diagnostic.span}")
        out.extend(_snippet(texts, diagnostic.span))
    for related in diagnostic.related:
        gutter = " " * len(str(related.span.line))
        out.append(f"{gutter}::: {related.span}")
        snippet = _snippet(texts, related.span, related.message)
        out.extend(snippet if snippet else [f" {gutter} = note: {related.message}"])
    if diagnostic.help:
        gutter = " " * len(str(diagnostic.span.line)) if diagnostic.span else ""
        out.append(f" {gutter} = help: {diagnostic.help}")
    return "\n".join(out)


def summary_line(diagnostics: list[Diagnostic], files: int) -> str:
    errors = sum(1 for d in diagnostics if d.severity.value == "error")
    warnings = len(diagnostics) - errors
    if not diagnostics:
        return f"septum: {files} file{'s' * (files != 1)} checked, no problems"
    parts = []
    if errors:
        parts.append(f"{errors} error{'s' * (errors != 1)}")
    if warnings:
        parts.append(f"{warnings} warning{'s' * (warnings != 1)}")
    return f"septum: {' and '.join(parts)} in {files} file{'s' * (files != 1)}"


def render_human(diagnostics: list[Diagnostic], texts: dict[str, str]) -> str:
    blocks = [render_diagnostic(d, texts) for d in diagnostics]
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
        "title": CODES[diagnostic.code][0],
        "severity": diagnostic.severity.value,
        "message": diagnostic.message,
        "location": _span_json(diagnostic.span),
        "help": diagnostic.help,
        "related": [{"location": _span_json(r.span), "message": r.message} for r in diagnostic.related],
    }


def render_json(diagnostics: list[Diagnostic], texts: dict[str, str], exit_code: int, stats: dict) -> str:
    document = {
        "version": JSON_SCHEMA_VERSION,
        "exit_code": exit_code,
        "summary": {
            "files": len(texts),
            "errors": sum(1 for d in diagnostics if d.severity.value == "error"),
            "warnings": sum(1 for d in diagnostics if d.severity.value == "warning"),
            **stats,
        },
        "diagnostics": [diagnostic_json(d) for d in diagnostics],
    }
    return json.dumps(document, indent=2, sort_keys=False) + "\n"
