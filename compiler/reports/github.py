"""GitHub Actions workflow commands: one annotation line per diagnostic.

`::error file=F,line=L,col=C,endLine=L2,endColumn=C2,title=CODE check::message` — `warning` for
warnings, `notice` for waived findings. The message carries the help, the witness path and the
notes on further lines (encoded as `%0A`). Escaping follows the runner's rules: in the message
`%`, CR and LF become `%25`, `%0D`, `%0A`; in properties also `:` and `,` become `%3A`, `%2C`.
So no text from a zone file can end a command early or start another. GitHub's `endColumn` is
inclusive (Septum's is exclusive); columns are given only for one-line spans, as GitHub requires.
"""

from __future__ import annotations

from ..diagnostics import Diagnostic
from ..render import summary_line
from . import common


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _command(diagnostic: Diagnostic) -> str:
    if diagnostic.waived_by is not None:
        return "notice"
    return "warning" if diagnostic.severity.value == "warning" else "error"


def _properties(diagnostic: Diagnostic) -> list[tuple[str, str]]:
    props: list[tuple[str, str]] = []
    span = diagnostic.span
    if span is not None:
        props.append(("file", common.posix(span.file)))
        props.append(("line", str(span.line)))
        if span.end_line == span.line:
            props.append(("col", str(span.column)))
            props.append(("endLine", str(span.line)))
            props.append(("endColumn", str(max(span.column, span.end_column - 1))))
        elif span.end_line > span.line:
            props.append(("endLine", str(span.end_line)))
    title = common.title(diagnostic)
    if diagnostic.waived_by is not None:
        title += " (waived)"
    props.append(("title", title))
    return props


def _message(diagnostic: Diagnostic, texts: dict[str, str]) -> str:
    lines = [diagnostic.message]
    hop_spans = {hop.span for hop in diagnostic.path}
    if diagnostic.path:
        lines.append("witness path:")
        for number, hop in enumerate(diagnostic.path, start=1):
            lines.append(f"  {number}. {common.hop_text(hop)} ({common.line_ref(hop.span)})")
    for related in diagnostic.related:
        if related.span in hop_spans:
            continue
        note = f": {related.message}" if related.message else ""
        lines.append(f"note at {common.location_ref(related.span)}{note}")
    if diagnostic.help:
        lines.append(f"help: {diagnostic.help}")
    if diagnostic.waived_by is not None:
        lines.append(f"{common.waiver_justification(texts, diagnostic.waived_by)} "
                     f"({common.location_ref(diagnostic.waived_by)})")
    return "\n".join(lines)


def annotation(diagnostic: Diagnostic, texts: dict[str, str]) -> str:
    props = ",".join(f"{key}={escape_property(value)}" for key, value in _properties(diagnostic))
    return f"::{_command(diagnostic)} {props}::{escape_data(_message(diagnostic, texts))}"


def render_github(report) -> str:
    lines = [annotation(d, report.texts) for d in report.diagnostics]
    lines.append(summary_line(report.diagnostics, len(report.texts)))
    return "\n".join(lines) + "\n"
