"""One side reduced to what the diff compares (`Summary`): flows, reach, verdicts, definitions."""

from __future__ import annotations

import datetime as dt
import gc

from .canonical import definitions_of
from .flows import Focus, endpoint_kinds, flows_and_reach
from .records import SideInfo, Summary
from .sides import Location, ParseCache, load_side
from .verdicts import verdicts_of, verification


def summarize(location: Location, info: SideInfo, *, as_of: dt.date | None = None,
              disabled: frozenset[str] = frozenset(), cache: ParseCache | None = None) -> Summary:
    """Load one side and reduce it to what the diff compares."""
    return analyse(load_side(location, cache), info, as_of=as_of, disabled=disabled)


def analyse(result, info: SideInfo, *, as_of: dt.date | None = None, disabled: frozenset[str] = frozenset(),
            verdicts: bool = True, verify: bool = True, definitions: dict | None = None,
            focus: Focus | None = None) -> Summary:
    """Reduce a loaded side (`LoadResult`) to what the diff compares.

    `verdicts=False` leaves the verdicts out (both sides are the same model, so they cannot
    differ); `verify=False` compares only the findings of `septum check`, not of verification.
    """
    collecting = gc.isenabled()
    gc.disable()  # millions of model objects and no cycles: a collection would walk them all
    try:
        return _analyse(result, info, as_of, disabled, verdicts, verify, definitions, focus)
    finally:
        if collecting:
            gc.enable()


def _analyse(result, info: SideInfo, as_of, disabled, verdicts: bool, verify: bool, definitions, focus) -> Summary:
    summary = Summary(info=info)
    errors = [d for d in result.diagnostics if d.exit_class == "input"]
    if errors:
        summary.errors = errors
        summary.texts = result.texts  # to show the errors with their source lines
        return summary
    policy = result.policy
    summary.kinds = endpoint_kinds(policy)
    summary.zone_of = {name: host.zone.name for name, host in policy.hosts.items()}
    flows_and_reach(policy, summary, focus=focus)
    if verdicts:
        findings = [d for d in result.diagnostics if d.exit_class != "input"]
        if verify:
            findings += verification(policy, as_of, disabled, summary.notes)
        summary.verdicts = verdicts_of(findings, policy)
    summary.definitions = definitions_of(policy) if definitions is None else definitions
    return summary
