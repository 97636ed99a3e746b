"""What the CI report formats share: rule titles, counts, file paths and waiver text."""

from __future__ import annotations

import os
import re
from collections import Counter

from ..diagnostics import CODES, Diagnostic
from ..model import Span
from ..sourcelines import lines_of
from ..verify.names import CHECKS

BUILTIN_PREFIX = "<septum>/"  # display paths of the built-in catalogue (see loader.BUILTIN_PREFIX)

# The exit classes of diagnostics, most serious first, with singular and plural nouns.
CLASSES: tuple[tuple[str, str, str], ...] = (
    ("input", "input error", "input errors"),
    ("finding", "finding", "findings"),
    ("warning", "warning", "warnings"),
    ("waived", "waived finding", "waived findings"),
)


def code_title(code: str) -> str:
    return CODES[code][0] if code in CODES else code


def rule_level(code: str) -> str:
    """The default level of a code: `warning` for warning codes, else `error`."""
    if code in CODES:
        return "warning" if CODES[code][1] == "warning" else "error"
    return "warning" if code.startswith("W") else "error"


def rule_description(diagnostic: Diagnostic) -> str:
    """What the rule checks: the check's description for verification findings, else the code's title."""
    if diagnostic.check and diagnostic.check in CHECKS:
        return CHECKS[diagnostic.check].description
    return code_title(diagnostic.code)


def title(diagnostic: Diagnostic) -> str:
    """`E501 data-flow` for a named check, `E102 host bits set in CIDR` otherwise."""
    return f"{diagnostic.code} {diagnostic.check or code_title(diagnostic.code)}"


def plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def class_counts(diagnostics: list[Diagnostic]) -> Counter:
    return Counter(d.exit_class for d in diagnostics)


def counts_text(diagnostics: list[Diagnostic]) -> str:
    """`2 findings, 1 warning, 1 waived finding`; `no problems` if there are none."""
    counts = class_counts(diagnostics)
    parts = [plural(counts[key], one, many) for key, one, many in CLASSES if counts[key]]
    return ", ".join(parts) if parts else "no problems"


def posix(path: str) -> str:
    return path.replace(os.sep, "/") if os.sep != "/" else path


def is_builtin(path: str) -> bool:
    return path.startswith(BUILTIN_PREFIX)


def line_ref(span: Span) -> str:
    return f"{posix(span.file)}:{span.line}"


def location_ref(span: Span) -> str:
    return f"{posix(span.file)}:{span.line}:{span.column}"


def hop_text(hop) -> str:
    return f"{hop.source} -> {hop.destination} : {', '.join(hop.services)}"


def span_text(texts: dict[str, str], span: Span) -> str | None:
    """The source text a span covers (columns are 1-based code points, the end exclusive)."""
    lines = lines_of(texts, span.file)
    if lines is None:
        return None
    if not 1 <= span.line <= len(lines) or span.end_line < span.line:
        return None
    if span.end_line == span.line:
        return lines[span.line - 1][span.column - 1: span.end_column - 1]
    parts = [lines[span.line - 1][span.column - 1:]]
    parts.extend(lines[span.line: min(span.end_line - 1, len(lines))])
    if span.end_line <= len(lines):
        parts.append(lines[span.end_line - 1][: span.end_column - 1])
    return "\n".join(parts)


_REASON = re.compile(r'\buntil\s+(\d{4}-\d{2}-\d{2})\s+"((?:[^"\\\n]|\\.)*)"\s*$')
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


def waiver_justification(texts: dict[str, str], span: Span) -> str:
    """`until 2027-03-31: reason` from the `waive` statement's source, or where it is."""
    statement = span_text(texts, span)
    if statement:
        match = _REASON.search(statement.rstrip())
        if match:
            reason = re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), match.group(2))
            return f"waived until {match.group(1)}: {reason}"
        return "waived: " + " ".join(statement.split())
    return f"waived by the waiver at {location_ref(span)}"
