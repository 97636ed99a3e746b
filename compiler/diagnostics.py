"""Diagnostics: every problem Septum reports, with a stable code, a span and a help line.

Codes are grouped by what they mean for the exit status:

* ``E0xx``-``E2xx`` input errors: the zone files cannot be read as a policy (exit 2).
* ``E3xx`` policy findings: the policy reads, but is wrong (exit 1).
* ``E5xx`` verification findings: an assertion, requirement or baseline check fails (exit 1);
  ``W5xx`` verification warnings.
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
    "E210": ("device linked to itself", "input"),
    "E301": ("overlapping zone networks", "finding"),
    "E302": ("host outside its zone", "finding"),
    "E303": ("empty zone", "finding"),
    "E304": ("VLAN used by two zones", "finding"),
    "E305": ("link declared at one end only", "finding"),
    "E306": ("devices linked twice", "finding"),
    "E307": ("zone bound on unconnected devices", "finding"),
    "E308": ("flow no device can enforce", "finding"),
    "E501": ("sensitive data reaches an uncleared zone", "finding"),
    "E502": ("assertion violated: path exists", "finding"),
    "E503": ("assertion violated: data crosses zones unencrypted", "finding"),
    "E504": ("assertion violated: unexpected connection", "finding"),
    "E505": ("requirement not met", "finding"),
    "E506": ("expired waiver", "finding"),
    "W507": ("waiver matches nothing", "warning"),
    "E510": ("untrusted zone reaches sensitive data", "finding"),
    "E511": ("sensitive data on a cleartext service", "finding"),
    "E512": ("inbound from the internet to a non-broker zone", "finding"),
    "E513": ("legacy-risk service crosses zones", "finding"),
    "E520": ("flow covers address space no zone owns", "finding"),
    "W521": ("redundant rule", "warning"),
    "E522": ("flow allows nothing after carve-outs", "finding"),
    "W523": ("carve-out removes nothing", "warning"),
    "E601": ("no backend for the device", "finding"),
    "E602": ("over the target's limits", "finding"),
    "E603": ("the target cannot express it", "finding"),
    "E604": ("cannot prove here", "finding"),
    "E605": ("config not proven equal to the intent", "finding"),
    "W401": ("unused definition", "warning"),
    "W402": ("service without protocol", "warning"),
    "W403": ("overlapping networks in one zone", "warning"),
    "W404": ("zone bound to no device", "warning"),
}


@dataclass(frozen=True)
class Related:
    span: Span
    message: str


@dataclass(frozen=True)
class Hop:
    """One step of a witness path: an allowed flow from one endpoint to the next."""

    source: str
    destination: str
    services: tuple[str, ...]
    span: Span  # the `allow` statement


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    span: Span | None
    help: str | None = None
    related: tuple[Related, ...] = field(default=())
    check: str | None = None  # the named check that found it (verification findings); SARIF rule id
    path: tuple[Hop, ...] = field(default=())  # witness: the chain of flows, in order
    waived_by: Span | None = None  # the `waive` statement that accepts this finding, if any

    @property
    def severity(self) -> Severity:
        return Severity.warning if self.code.startswith("W") else Severity.error

    @property
    def rule_id(self) -> str:
        return self.check or self.code

    @property
    def exit_class(self) -> str:
        """input (exit 2), finding (exit 1), warning (exit 0 unless --strict), waived (exit 0)."""
        if self.waived_by is not None:
            return "waived"
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
