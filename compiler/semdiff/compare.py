"""Comparing the summaries of two sides: what was added, removed or changed."""

from __future__ import annotations

from .flows import facts
from .records import DefinitionChange, FlowChange, FlowEntry, PolicyDiff, Summary, VerdictChange


def compare(old: Summary, new: Summary) -> PolicyDiff:
    """The semantic difference between two summarised sides."""
    result = PolicyDiff(old.info, new.info, texts={"old": old.texts, "new": new.texts})
    if old.errors or new.errors:
        result.errors = {"old": list(old.errors), "new": list(new.errors)}
        return result
    result.notes = sorted(set(old.notes) | set(new.notes))

    def kind(summary: Summary, name: str) -> str:
        return summary.kinds.get(name, "address")

    for key in sorted(new.flows.keys() - old.flows.keys()):
        s, d, service = key
        result.flows_added.append(FlowEntry(s, kind(new, s), d, kind(new, d), service, facts(new.flows[key]),
                                            _covered(key, new, old)))
    for key in sorted(old.flows.keys() - new.flows.keys()):
        s, d, service = key
        result.flows_removed.append(FlowEntry(s, kind(old, s), d, kind(old, d), service, facts(old.flows[key]),
                                              _covered(key, old, new)))
    changed = []
    new_flows = new.flows
    for key, before in old.flows.items():
        after = new_flows.get(key)
        if after is not None and after is not before and (
                before[0] != after[0] or before[1] != after[1] or before[2] != after[2] or before[3] != after[3]):
            changed.append(key)
    for key in sorted(changed):
        s, d, service = key
        result.flows_changed.append(FlowChange(s, kind(new, s), d, kind(new, d), service,
                                               facts(old.flows[key]), facts(new.flows[key])))

    result.reach_added = [new.reach[k] for k in sorted(new.reach.keys() - old.reach.keys())]
    result.reach_removed = [old.reach[k] for k in sorted(old.reach.keys() - new.reach.keys())]

    def verdict_order(key: tuple) -> tuple:
        return (key[0] or "", key[1], key[2])

    result.verdicts_added = [new.verdicts[k] for k in sorted(new.verdicts.keys() - old.verdicts.keys(), key=verdict_order)]
    result.verdicts_removed = [old.verdicts[k] for k in sorted(old.verdicts.keys() - new.verdicts.keys(), key=verdict_order)]
    for key in sorted(old.verdicts.keys() & new.verdicts.keys(), key=verdict_order):
        before, after = old.verdicts[key], new.verdicts[key]
        if before.status != after.status:
            result.verdicts_changed.append(VerdictChange(key[0], key[1], key[2], before, after))

    result.definitions_added = [new.definitions[k] for k in sorted(new.definitions.keys() - old.definitions.keys())]
    result.definitions_removed = [old.definitions[k] for k in sorted(old.definitions.keys() - new.definitions.keys())]
    for key in sorted(old.definitions.keys() & new.definitions.keys()):
        before, after = old.definitions[key], new.definitions[key]
        if before.fields != after.fields:
            olds, news = dict(before.fields), dict(after.fields)
            changes = tuple((f, olds.get(f, ""), news.get(f, "")) for f in dict.fromkeys([*olds, *news])
                            if olds.get(f, "") != news.get(f, ""))
            result.definitions_changed.append(DefinitionChange(key[0], key[1], changes, before, after))
    return result


def _covered(key: tuple[str, str, str], side: Summary, other: Summary) -> tuple[str, str] | None:
    """The broader triple of `other` that allows a host's triple of `side` as part of its zone."""
    source, destination, service = key
    sources = [source] + ([side.zone_of[source]] if source in side.zone_of else [])
    destinations = [destination] + ([side.zone_of[destination]] if destination in side.zone_of else [])
    for broader_source in sources:
        for broader_destination in destinations:
            if (broader_source, broader_destination) == (source, destination):
                continue
            facts = other.flows.get((broader_source, broader_destination, service))
            if facts is not None and source not in facts[1] and destination not in facts[2]:
                return broader_source, broader_destination
    return None
