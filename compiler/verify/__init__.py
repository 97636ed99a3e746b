"""Verification: what the intent lets data and attackers do, checked against what it must not.

`verify(policy, as_of=date, disabled=set())` returns findings as `Diagnostic`s with `.check`
(the check name, see `names.CHECKS`), `.path` (the witness chain of flows) and `.waived_by`
(the waiver that accepts it). Checks run only on a policy without input errors.
"""

from __future__ import annotations

import datetime as dt

from typing import TYPE_CHECKING

from ..diagnostics import Diagnostic
from .names import BASELINE, CHECKS

if TYPE_CHECKING:
    from ..resolve import Policy


def verify(policy: "Policy", as_of: dt.date | None = None, disabled: frozenset[str] | set[str] = frozenset()) -> list[Diagnostic]:
    from .assertions import assertion_findings
    from .baseline import BASELINE_CHECKS
    from .common import Tagged
    from .packet_checks import PACKET_CHECKS
    from .waivers import apply_waivers

    as_of = as_of or dt.date.today()
    tagged = assertion_findings(policy)
    for name, check in {**BASELINE_CHECKS, **PACKET_CHECKS}.items():
        if name not in disabled:
            tagged.extend(Tagged(d, frozenset({name})) for d in check(policy))
    findings = apply_waivers(policy, tagged, as_of, disabled)
    findings.sort(key=Diagnostic.sort_key)
    return findings


__all__ = ["BASELINE", "CHECKS", "verify"]
