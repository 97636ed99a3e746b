"""One loaded side reduced to what the diff compares, in two steps.

`describe` gives what can be told from the side alone and cheaply (`SideFacts`: definitions,
the model digest, the contributions of its `allow`s); `judge` gives its verdicts (the findings
of `septum check` and of verification), which the diff asks for only when the two models differ.
`analyse` does both and every triple and reach entry (`Summary`), for callers with one side.
"""

from __future__ import annotations

import datetime as dt
import gc
from collections import Counter

from .canonical import model_of
from .flows import contributions, endpoint_kinds, fold, reach_entries
from .load import Location, ParseCache, load_side
from .records import SideFacts, SideInfo, Summary, Verdict
from .verdicts import verdicts_of, verification


class Shared:
    """What two sides loaded in one process can share, `describe`d one after the other.

    Files equal on both sides are parsed once, so their statements are the same objects on
    both: their canonical forms are worked out once (`canonical`) and, when both sides define
    exactly the same things, so are their `allow`s' contributions (`contributions`, of the
    first side described, whose definitions are `described`). `sets` makes equal sets of the
    two sides' contributions one object.
    """

    def __init__(self) -> None:
        self.canonical: dict = {}
        self.sets: dict = {}
        self.contributions: dict = {}
        self.described: Counter | None = None


def describe(result, info: SideInfo, shared: Shared | None = None) -> SideFacts:
    """What a loaded side (`LoadResult`) says, but its verdicts; `model` is its model key."""
    errors = [d for d in result.diagnostics if d.exit_class == "input"]
    if errors:
        return SideFacts(info, errors=errors, texts=result.texts)  # the texts show the errors' lines
    policy = result.policy
    shared = Shared() if shared is None else shared
    definitions, key = model_of(policy, shared.canonical)
    known = record = None
    if shared.described is None:
        shared.described, record = key[0], shared.contributions
    elif shared.described == key[0]:
        known = shared.contributions
    return SideFacts(
        info,
        model=key,
        definitions=definitions,
        contributions=contributions(policy, shared.sets, known, record),
        kinds=endpoint_kinds(policy),
        zone_of={name: host.zone.name for name, host in policy.hosts.items()},
        zones=frozenset(policy.zones),
        holds={name: frozenset(r.name for r in zone.holds) for name, zone in policy.zones.items()},
    )


def judge(result, *, as_of: dt.date | None = None, disabled: frozenset[str] = frozenset(),
          verify: bool = True) -> tuple[dict[tuple, Verdict], list[str]]:
    """The verdicts of a readable side, and notes (verification unavailable, ...).

    `verify=False`: the findings of `septum check` only, not of verification.
    """
    notes: list[str] = []
    findings = [d for d in result.diagnostics if d.exit_class != "input"]
    if verify:
        findings += verification(result.policy, as_of, disabled, notes)
    return verdicts_of(findings, result.policy), notes


def summary_of(facts: SideFacts, triples: dict, reach: dict, verdicts: dict | None = None,
               notes: list[str] | None = None) -> Summary:
    """A side's `Summary` from its facts, its (focused) triples and reach, and its verdicts."""
    if facts.errors:
        return Summary(info=facts.info, errors=facts.errors, texts=facts.texts)
    return Summary(info=facts.info, flows=triples, kinds=facts.kinds, zone_of=facts.zone_of,
                   reach=reach_entries(reach, facts.zones, facts.holds), verdicts=verdicts or {},
                   definitions=facts.definitions, notes=list(notes or ()))


def summarize(location: Location, info: SideInfo, *, as_of: dt.date | None = None,
              disabled: frozenset[str] = frozenset(), cache: ParseCache | None = None) -> Summary:
    """Load one side and reduce it to what the diff compares."""
    return analyse(load_side(location, cache), info, as_of=as_of, disabled=disabled)


def analyse(result, info: SideInfo, *, as_of: dt.date | None = None, disabled: frozenset[str] = frozenset(),
            verdicts: bool = True, verify: bool = True) -> Summary:
    """Reduce a loaded side (`LoadResult`) to what the diff compares: every triple and reach entry.

    `verdicts=False` leaves the verdicts out; `verify=False` compares only the findings of
    `septum check`, not of verification.
    """
    collecting = gc.isenabled()
    gc.disable()  # millions of model objects and no cycles: a collection would walk them all
    try:
        facts = describe(result, info)
        if facts.errors:
            return summary_of(facts, {}, {})
        triples: dict = {}
        reach: dict = {}
        fold(facts.contributions.items(), triples, reach)
        found, notes = judge(result, as_of=as_of, disabled=disabled, verify=verify) if verdicts else ({}, [])
        return summary_of(facts, triples, reach, found, notes)
    finally:
        if collecting:
            gc.enable()
