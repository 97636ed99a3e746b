"""A Markdown summary for a pull-request comment or a GitHub job summary.

A headline with the counts, a table of counts by check, then every diagnostic grouped by check:
its location, message, witness path (one numbered line per hop, with the `allow` statement's
line), notes and help. Text from zone files (names, descriptions, justifications, file names)
is escaped so it cannot change the layout, inject HTML or mention people. The output stays
under GitHub's 65,536-character comment limit; what does not fit is counted in a closing note.
"""

from __future__ import annotations

import re

from ..diagnostics import Diagnostic
from . import common

GITHUB_COMMENT_LIMIT = 65_536

_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~$^])")
_NEWLINES = re.compile(r"\r\n|\r|\n")


def escape(text: str) -> str:
    """Escape text for inline Markdown (GitHub-flavoured), table cells included."""
    text = _NEWLINES.sub(" ", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;")  # no HTML; a lone '>' is harmless mid-line
    text = _SPECIAL.sub(r"\\\1", text)
    return text.replace("@", "@&#8203;")  # no @mentions from zone files


def prose(text: str) -> str:
    """Like `escape`, but keeps `code spans` (balanced backticks) as code: help lines use them."""
    parts = text.split("`")
    if len(parts) < 3 or len(parts) % 2 == 0:
        return escape(text)
    out = []
    for index, part in enumerate(parts):
        if index % 2 == 0:
            out.append(escape(part))
        elif part.strip():
            out.append("`" + _NEWLINES.sub(" ", part) + "`")
        else:
            out.append(escape("`" + part + "`"))
    return "".join(out)


def _status(report) -> str:
    code = report.exit_code
    if code == 0:
        return "Result: **passed** (exit status 0)."
    if code == 2:
        return "Result: **failed** (exit status 2): input errors, the zone files cannot be read as a policy."
    if code == 1:
        classes = {d.exit_class for d in report.diagnostics}
        if "finding" in classes:
            return "Result: **failed** (exit status 1): policy findings."
        if "warning" in classes:
            return "Result: **failed** (exit status 1): warnings under `--strict`."
    return f"Result: **failed** (exit status {code})."


def _table(diagnostics: list[Diagnostic]) -> list[str]:
    groups: dict[str, list[Diagnostic]] = {}
    for diagnostic in diagnostics:
        groups.setdefault(diagnostic.rule_id, []).append(diagnostic)
    rows = ["| Check | Code | Level | Count | Waived |", "| --- | --- | --- | ---: | ---: |"]
    for rule_id in _group_order(groups):
        group = groups[rule_id]
        first = group[0]
        name = f"`{first.check}`" if first.check else escape(common.code_title(first.code))
        waived = sum(1 for d in group if d.waived_by is not None)
        rows.append(f"| {name} | {first.code} | {common.rule_level(first.code)} | {len(group)} | {waived} |")
    return rows


def _group_order(groups: dict[str, list[Diagnostic]]) -> list[str]:
    return sorted(groups, key=lambda rule_id: (groups[rule_id][0].code, rule_id))


def _heading(diagnostic: Diagnostic) -> str:
    title = common.code_title(diagnostic.code)
    if diagnostic.check:
        return f"### `{diagnostic.check}` ({diagnostic.code}): {escape(title)}"
    return f"### {diagnostic.code}: {escape(title)}"


def _finding(diagnostic: Diagnostic, texts: dict[str, str]) -> str:
    level = "waived" if diagnostic.waived_by is not None else diagnostic.severity.value
    where = f" at {escape(common.location_ref(diagnostic.span))}" if diagnostic.span else ""
    lines = [f"- **{level}**{where}: {prose(diagnostic.message)}"]
    hop_spans = set()
    if diagnostic.path:
        lines.append("")
        lines.append("  Witness path:")
        lines.append("")
        for number, hop in enumerate(diagnostic.path, start=1):
            hop_spans.add(hop.span)
            lines.append(f"  {number}. {escape(common.hop_text(hop))} ({escape(common.line_ref(hop.span))})")
        lines.append("")
    for related in diagnostic.related:
        if related.span in hop_spans:
            continue  # the witness path above already shows this allow statement
        note = f": {prose(related.message)}" if related.message else ""
        lines.append(f"  - note at {escape(common.location_ref(related.span))}{note}")
    if diagnostic.help:
        lines.append(f"  - help: {prose(diagnostic.help)}")
    if diagnostic.waived_by is not None:
        justification = common.waiver_justification(texts, diagnostic.waived_by)
        lines.append(f"  - {escape(justification)} ({escape(common.location_ref(diagnostic.waived_by))})")
    return "\n".join(lines)


def render_markdown(report, limit: int = GITHUB_COMMENT_LIMIT) -> str:
    diagnostics = report.diagnostics
    files = len(report.texts)
    head = [
        f"## Septum: {common.counts_text(diagnostics)}",
        "",
        f"{_status(report)} {common.plural(files, 'file', 'files')} checked.",
    ]
    if not diagnostics:
        return "\n".join(head) + "\n"
    head += ["", *_table(diagnostics)]

    groups: dict[str, list[Diagnostic]] = {}
    for diagnostic in diagnostics:
        groups.setdefault(diagnostic.rule_id, []).append(diagnostic)
    blocks: list[tuple[str | None, str]] = []  # (group heading if this block starts a group, finding)
    for rule_id in _group_order(groups):
        for position, diagnostic in enumerate(groups[rule_id]):
            blocks.append((_heading(diagnostic) if position == 0 else None, _finding(diagnostic, report.texts)))

    out = "\n".join(head) + "\n"
    shown = 0
    for heading, block in blocks:
        piece = (f"\n{heading}\n" if heading else "") + "\n" + block + "\n"
        left = len(blocks) - shown - 1
        reserve = len(_truncation_note(left, len(blocks), limit)) if left else 0
        if len(out) + len(piece) + reserve > limit:
            break
        out += piece
        shown += 1
    if shown < len(blocks):
        out += _truncation_note(len(blocks) - shown, len(blocks), limit)
    return out


def _truncation_note(left: int, total: int, limit: int) -> str:
    return (f"\n---\n\n*{common.plural(left, 'more diagnostic is', 'more diagnostics are')} not shown "
            f"({total} in all): the comment would exceed the limit of {limit:,} characters. "
            "Run `septum check` for the full report, or see the code scanning alerts.*\n")
