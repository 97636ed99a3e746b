"""The diff as the stable JSON document of docs/diff.md (version 1)."""

from __future__ import annotations

import json

from ..model import Span
from .records import JSON_SCHEMA_VERSION, Definition, FlowEntry, FlowFacts, PolicyDiff, ReachEntry, SideInfo, Verdict
from .text import display_file, message_text, relocated


def _span_json(span: Span | None, info: SideInfo) -> dict | None:
    if span is None:
        return None
    return {"file": display_file(span.file, info), "line": span.line, "column": span.column}


def _facts_json(facts: FlowFacts, info: SideInfo) -> dict:
    return {
        "datatypes": list(facts.datatypes),
        "except_from": list(facts.except_from),
        "except_to": list(facts.except_to),
        "log": facts.log,
        "rules": [_span_json(s, info) for s in facts.rules],
    }


def _flow_json(entry: FlowEntry, info: SideInfo) -> dict:
    covered = entry.covered_by
    return {
        "source": {"name": entry.source, "kind": entry.source_kind},
        "destination": {"name": entry.destination, "kind": entry.destination_kind},
        "service": entry.service,
        **_facts_json(entry.facts, info),
        "covered_by": None if covered is None else {"source": covered[0], "destination": covered[1]},
    }


def _reach_json(entry: ReachEntry, info: SideInfo) -> dict:
    return {"place": {"name": entry.place, "kind": entry.place_kind}, "datatype": entry.datatype,
            "cleared": entry.cleared, "rules": [_span_json(s, info) for s in entry.rules]}


def _verdict_json(verdict: Verdict, info: SideInfo) -> dict:
    return {"check": verdict.check, "code": verdict.code, "message": message_text(verdict.message, info),
            "status": verdict.status,
            "locations": [_span_json(s, info) for s in verdict.locations]}


def _definition_json(definition: Definition, info: SideInfo) -> dict:
    return {"kind": definition.kind, "name": definition.name, "fields": dict(definition.fields),
            "location": _span_json(definition.location, info)}


def to_json(diff: PolicyDiff, exit_zero: bool = False) -> dict:
    """The JSON document of docs/diff.md (version 1)."""
    from ..render import diagnostic_json

    def side(info: SideInfo) -> dict:
        return {"path": info.path, "revision": info.revision}

    document = {
        "version": JSON_SCHEMA_VERSION,
        "exit_code": diff.exit_code(exit_zero),
        "old": side(diff.old),
        "new": side(diff.new),
        "changed": not diff.empty,
        "summary": diff.counts(),
        "errors": {
            s: [diagnostic_json(relocated(d, info)) for d in diff.errors.get(s) or []]
            for s, info in (("old", diff.old), ("new", diff.new))
        },
        "flows": {
            "added": [_flow_json(e, diff.new) for e in diff.flows_added],
            "removed": [_flow_json(e, diff.old) for e in diff.flows_removed],
            "changed": [{
                "source": {"name": c.source, "kind": c.source_kind},
                "destination": {"name": c.destination, "kind": c.destination_kind},
                "service": c.service,
                "old": _facts_json(c.old, diff.old),
                "new": _facts_json(c.new, diff.new),
            } for c in diff.flows_changed],
        },
        "reach": {
            "added": [_reach_json(r, diff.new) for r in diff.reach_added],
            "removed": [_reach_json(r, diff.old) for r in diff.reach_removed],
        },
        "verdicts": {
            "added": [_verdict_json(v, diff.new) for v in diff.verdicts_added],
            "removed": [_verdict_json(v, diff.old) for v in diff.verdicts_removed],
            "changed": [{"check": c.check, "code": c.code, "message": message_text(c.new.message, diff.new),
                         "old": _verdict_json(c.old, diff.old), "new": _verdict_json(c.new, diff.new)}
                        for c in diff.verdicts_changed],
        },
        "definitions": {
            "added": [_definition_json(d, diff.new) for d in diff.definitions_added],
            "removed": [_definition_json(d, diff.old) for d in diff.definitions_removed],
            "changed": [{"kind": c.kind, "name": c.name,
                         "changes": [{"field": f, "old": o, "new": n} for f, o, n in c.changes],
                         "old": _definition_json(c.old, diff.old), "new": _definition_json(c.new, diff.new)}
                        for c in diff.definitions_changed],
        },
        "notes": list(diff.notes),
    }
    return document


def render_json(diff: PolicyDiff, exit_zero: bool = False) -> str:
    return json.dumps(to_json(diff, exit_zero), indent=2) + "\n"
