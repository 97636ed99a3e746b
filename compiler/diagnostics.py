"""Diagnostics: every problem Septum reports, with a stable code, a span and a help line.

Codes are grouped by what they mean for the exit status:

* ``E0xx``-``E2xx`` input errors: the zone files cannot be read as a policy (exit 2).
* ``E3xx`` policy findings: the policy reads, but is wrong (exit 1).
* ``W4xx`` warnings: worth a look, never fail unless ``--strict``.

`docs/diagnostics.md` documents every code; a test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from .model import Span


class Severity(str, Enum):
    error = "error"
    warning = "warning"


# code -> (title, exit class); the exit class is "input", "finding" or "warning".
CODES: dict[str, tuple[str, str]] = {
    "E001": ("syntax error", "input"),
    "E002": ("unexpected character", "input"),
    "E003": ("unterminated string", "input"),
    "E004": ("file cannot be read", "input"),
    "E101": ("invalid CIDR", "input"),
    "E102": ("host bits set in CIDR", "input"),
    "E103": ("invalid address", "input"),
    "E104": ("invalid port", "input"),
    "E105": ("invalid port range", "input"),
    "E106": ("invalid VLAN", "input"),
    "E107": ("invalid date", "input"),
    "E108": ("invalid ICMP type or code", "input"),
    "E109": ("unknown keyword value", "input"),
    "E110": ("invalid hop count", "input"),
    "E111": ("invalid string escape", "input"),
    "E112": ("waiver without a reason", "input"),
    "E201": ("unknown name", "input"),
    "E202": ("duplicate definition", "input"),
    "E203": ("wrong kind of name", "input"),
    "E204": ("unknown module", "input"),
    "E205": ("cyclic use", "input"),
    "E206": ("repeated clause", "input"),
    "E207": ("group refers to itself", "input"),
    "E208": ("interface bound twice", "input"),
    "E209": ("redefined built-in", "input"),
    "E301": ("overlapping zone networks", "finding"),
    "E302": ("host outside its zone", "finding"),
    "E303": ("empty zone", "finding"),
    "E304": ("VLAN used by two zones", "finding"),
    "W401": ("unused definition", "warning"),
    "W402": ("service without protocol", "warning"),
    "W403": ("overlapping networks in one zone", "warning"),
}


@dataclass(frozen=True)
class Related:
    span: Span
    message: str


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    span: Span | None
    help: str | None = None
    related: tuple[Related, ...] = field(default=())

    @property
    def severity(self) -> Severity:
        return Severity.warning if self.code.startswith("W") else Severity.error

    @property
    def exit_class(self) -> str:
        return CODES[self.code][1]

    def sort_key(self) -> tuple:
        s = self.span
        return (s.file, s.line, s.column, self.code, self.message) if s else ("", 0, 0, self.code, self.message)


def exit_status(diagnostics: list[Diagnostic], strict: bool = False) -> int:
    """0 clean, 1 policy findings (or warnings under --strict), 2 input errors."""
    classes = {d.exit_class for d in diagnostics}
    if "input" in classes:
        return 2
    if "finding" in classes or (strict and "warning" in classes):
        return 1
    return 0
