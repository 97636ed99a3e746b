"""Waivers: accepted exceptions to one check or assertion, for named flows, until a date."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Callable

from ..diagnostics import Diagnostic, Hop
from ..model import Waiver
from ..resolve import Policy
from .common import Tagged, intent_of
from .names import CHECKS


def apply_waivers(policy: Policy, tagged: list[Tagged], as_of: dt.date,
                  disabled: frozenset[str] | set[str] = frozenset()) -> list[Diagnostic]:
    """Mark findings a live waiver accepts; report expired waivers and waivers that match nothing
    (but not those of a check turned off for this run: it had no chance to match)."""
    intent = intent_of(policy)
    out: list[Diagnostic] = []
    used: set[int] = set()
    for item in tagged:
        diagnostic = item.diagnostic
        for index, waiver in enumerate(policy.waivers):
            if not _applies(policy, intent, waiver, item):
                continue
            used.add(index)
            if waiver.until >= as_of:
                diagnostic = dataclasses.replace(diagnostic, waived_by=waiver.span)
                break
        out.append(diagnostic)
    for index, waiver in enumerate(policy.waivers):
        target = waiver.label.name if waiver.label else f'"{waiver.text}"'
        if waiver.until < as_of:
            out.append(
                Diagnostic(
                    CHECKS["expired-waiver"].code,
                    f"waiver of {target} expired on {waiver.until.isoformat()} (checked as of {as_of.isoformat()})",
                    waiver.span,
                    "fix what it waived, or renew it with a new date and reason after review",
                    check="expired-waiver",
                )
            )
        elif index not in used and target not in disabled:
            out.append(
                Diagnostic(
                    CHECKS["unused-waiver"].code,
                    f"waiver of {target} matches no finding",
                    waiver.span,
                    "remove it: what it accepted is fixed, or it names the wrong flows",
                    check="unused-waiver",
                )
            )
    return out


def _applies(policy: Policy, intent, waiver: Waiver, item: Tagged) -> bool:
    target = waiver.label.name if waiver.label else waiver.text
    if target not in item.targets:
        return False
    hops = item.diagnostic.path
    if not hops:  # a finding about a whole statement (a requirement): the waiver names its sides
        return True
    if item.diagnostic.check == "data-flow":
        hops = hops[-1:]  # the flow that brings the data into the uncleared zone
    names = _names_hop(policy, intent, waiver)
    return any(names(hop) for hop in hops)


def _names_hop(policy: Policy, intent, waiver: Waiver) -> Callable[[Hop], bool]:
    """Whether a waiver names a hop: its source, its destination and (if it lists any) a service."""
    sources = policy.expand(waiver.source)
    destinations = policy.expand(waiver.destination)
    services = {r.name for r in waiver.services}
    return lambda hop: (intent.covers(sources, hop.source) and intent.covers(destinations, hop.destination)
                        and (not services or not services.isdisjoint(hop.services)))


def waived_hops(policy: Policy, targets: set[str]) -> Callable[[Hop], bool] | None:
    """Whether some waiver of one of `targets` (live or expired) names a hop; None if no waiver
    names any of them. Path checks use it to look past the paths waivers accept."""
    intent = intent_of(policy)
    tests = [_names_hop(policy, intent, waiver) for waiver in policy.waivers
             if (waiver.label.name if waiver.label else waiver.text) in targets]
    if not tests:
        return None
    return lambda hop: any(test(hop) for test in tests)
