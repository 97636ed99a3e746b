"""What the verification checks share: the intent (built once per policy), hop rendering,
and findings tagged with the names a waiver may use to accept them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..diagnostics import Diagnostic, Hop
from ..resolve import Policy
from .reach import Intent, Step, build_intent

SENSITIVE = {"confidential", "restricted"}


def intent_of(policy: Policy) -> Intent:
    cached = policy._members.get("verify-intent")
    if cached is None:
        cached = build_intent(policy)
        policy._members["verify-intent"] = cached
    return cached


@dataclass(frozen=True)
class Tagged:
    """A finding and the waiver targets that may accept it: its check name, and the label and
    canonical text of the assertion or requirement that produced it."""

    diagnostic: Diagnostic
    targets: frozenset[str]


def witnesses(search: Callable[[set[str], Callable[[Step], bool] | None], list[Step] | None], targets: set[str],
              waived: Callable[[Hop], bool] | None) -> list[list[Step]]:
    """The paths a path check reports: `search(targets, edge)` gives the shortest path into
    `targets` over the edges `edge` accepts (all if None).

    With no waiver for the check, the shortest path. Otherwise a waiver must accept exactly the
    paths it names and hide none it does not, so each target zone is judged on its own: its
    shortest path and, while each path found uses a flow some waiver names, the shortest one
    avoiding every such flow. All the waived paths are reported (each waiver that names a real
    path is used), and of the unwaived ones the shortest, as without waivers."""
    if waived is None:
        path = search(targets, None)
        return [] if path is None else [path]
    accepted: list[list[Step]] = []
    unwaived: list[list[Step]] = []
    for target in sorted(targets):
        path = search({target}, None)
        avoided: set[Hop] = set()
        while path is not None:
            named = {step.hop for step in path if waived(step.hop)}
            if not named:
                unwaived.append(path)
                break
            accepted.append(path)
            avoided |= named
            path = search({target}, lambda step: step.hop not in avoided)
    return accepted + sorted(unwaived, key=len)[:1]


def hops(steps: list[Step]) -> tuple[Hop, ...]:
    return tuple(step.hop for step in steps)


def chain_text(steps: list[Step]) -> str:
    if not steps:
        return ""
    names = [steps[0].hop.source] + [step.hop.destination for step in steps]
    return " -> ".join(names)


def sensitive_datatypes(policy: Policy, levels=SENSITIVE) -> list[str]:
    return sorted(name for name, d in policy.datatypes.items() if d.sensitivity.value in levels)
