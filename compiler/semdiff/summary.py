"""One loaded side reduced to what the diff compares, in steps.

`describe` gives what tells whether the two sides differ at all (`SideFacts`: the model key,
definitions, endpoint kinds); only when the two models differ does the diff ask each side for
the contributions of its `allow`s (`contributions_of`) and its verdicts (`judge`: the findings of
`septum check` and of verification). `analyse` does all of it for one side, with every triple and
reach entry (`Summary`).
"""

from __future__ import annotations

import datetime as dt

from .canonical import model_of
from ..collector import paused
from .flows import contributions, endpoint_kinds, fold, reach_entries
from .load import Location, ParseCache, load_side
from .records import SideFacts, SideInfo, Summary, Verdict
from .verdicts import verdicts_of, verification


class Shared:
    """What two sides loaded in one process share.

    Files equal on both sides are parsed once, so their statements are the same objects on
    both: `both` holds the ids of the `allow`s the two sides have in common (they need not be
    compared), `canonical` the canonical forms worked out so far (`canonical.model_of`), and
    `sets` makes equal sets of the two sides' contributions one object.
    """

    def __init__(self) -> None:
        self.both: frozenset[int] = frozenset()
        self.canonical: dict = {}
        self.sets: dict = {}

    def share(self, old_policy, new_policy) -> None:
        """Note the `allow` objects the two (loaded) sides have in common."""
        old = {id(flow) for flow in old_policy.flows}
        self.both = frozenset(id(flow) for flow in new_policy.flows if id(flow) in old)


def describe(result, info: SideInfo, shared: Shared | None = None) -> SideFacts:
    """What a loaded side (`LoadResult`) says, but its contributions and verdicts; `model` is its key.

    With `shared`, the key leaves out the `allow`s both sides have (`Shared.both`): the two keys
    are then equal exactly when full keys would be.
    """
    errors = [d for d in result.diagnostics if d.exit_class == "input"]
    if errors:
        return SideFacts(info, errors=errors, texts=result.texts)  # the texts show the errors' lines
    policy = result.policy
    if shared is None:
        definitions, key = model_of(policy)
    else:
        definitions, key = model_of(policy, shared.canonical, shared.both)
    return SideFacts(
        info,
        model=key,
        definitions=definitions,
        kinds=endpoint_kinds(policy),
        zone_of={name: host.zone.name for name, host in policy.hosts.items()},
        zones=frozenset(policy.zones),
        holds={name: frozenset(r.name for r in zone.holds) for name, zone in policy.zones.items()},
    )


def contributions_of(result, shared: Shared | None = None) -> dict:
    """The contributions of a readable side's `allow`s (`flows.contributions`)."""
    return contributions(result.policy, None if shared is None else shared.sets)


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
    with paused():
        facts = describe(result, info)
        if facts.errors:
            return summary_of(facts, {}, {})
        triples: dict = {}
        reach: dict = {}
        fold(contributions_of(result).items(), triples, reach)
        found, notes = judge(result, as_of=as_of, disabled=disabled, verify=verify) if verdicts else ({}, [])
        return summary_of(facts, triples, reach, found, notes)
