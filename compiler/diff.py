"""The semantic diff of two revisions of a policy (`septum diff`).

Both sides are loaded and resolved, and compared as models, never as text: reordering
statements, moving them between files or reformatting them (`septum fmt`) gives an empty diff.
What is compared (see docs/diff.md):

* **flows**: what may connect, at the level of (source endpoint, destination endpoint, service).
  Endpoints are zones, hosts and raw addresses after selectors are expanded and whole-endpoint
  carve-outs removed (the rule of `septum.compiler.graph`). A carve-out of part of an endpoint
  (a host out of its zone) is kept as a qualifier of the triple (``except from`` / ``except to``).
  A triple allowed by several `allow` statements takes the union: its data types are the union,
  its qualifiers the intersection (a carve-out holds only if every statement makes it).
  Each triple cites the `allow` statements that allow it.
* **reach**: a zone is reached by data type D if a flow touching it (either end) carries D;
  a host counts for its zone, a raw address for itself.
* **verdicts**: findings of the checks (`septum check`) and of verification
  (`septum.compiler.verify.verify`), keyed by (check, code, message), never by line: findings
  that appear, disappear, or change status (error, warning, waived).
* **definitions**: zones, hosts, groups, services, data types, devices, assertions,
  requirements and waivers added, removed or changed in meaning (descriptions, justifications
  and reasons are documentation and are not compared; neither are catalogue definitions).

`diff_paths(old, new)` and `diff_revisions(path, base, head)` return a `PolicyDiff`;
`render_human`, `render_json` and `render_markdown` print it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import gc
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from pydantic import BaseModel

from .diagnostics import Diagnostic, Related
from .model import (
    Assertion,
    Binding,
    DataType,
    Device,
    Group,
    Host,
    Match,
    Network,
    Ref,
    Requirement,
    Selector,
    Service,
    Span,
    Waiver,
    Zone,
)

JSON_SCHEMA_VERSION = 1
BUILTIN_PREFIX = "<septum>/"

EXIT_SAME = 0
EXIT_CHANGED = 1
EXIT_INPUT = 2


class DiffInputError(Exception):
    """A side cannot be read: a missing path, a bad revision, not a git repository."""


# ---- the records of a diff ---------------------------------------------------------------------


@dataclass(frozen=True)
class FlowFacts:
    """What one side says about one (source, destination, service) triple."""

    datatypes: tuple[str, ...]
    except_from: tuple[str, ...]
    except_to: tuple[str, ...]
    log: bool
    rules: tuple[Span, ...]  # the `allow` statements that allow it

    def meaning(self) -> tuple:
        return (self.datatypes, self.except_from, self.except_to, self.log)


@dataclass(frozen=True)
class FlowEntry:
    source: str
    source_kind: str  # zone | host | address
    destination: str
    destination_kind: str
    service: str
    facts: FlowFacts
    # a host's triple added (removed) while the other side allows (still allows) the same service
    # for its zone, with the host not carved out: (source, destination) of that broader triple
    covered_by: tuple[str, str] | None = None


@dataclass(frozen=True)
class FlowChange:
    source: str
    source_kind: str
    destination: str
    destination_kind: str
    service: str
    old: FlowFacts
    new: FlowFacts


@dataclass(frozen=True)
class ReachEntry:
    place: str
    place_kind: str  # zone | address
    datatype: str
    cleared: bool  # the zone holds the data type (on the side the entry comes from)
    rules: tuple[Span, ...]


@dataclass(frozen=True)
class Verdict:
    check: str | None
    code: str
    message: str
    status: str  # error | warning | waived
    locations: tuple[Span, ...]


@dataclass(frozen=True)
class VerdictChange:
    check: str | None
    code: str
    message: str
    old: Verdict
    new: Verdict


@dataclass(frozen=True)
class Definition:
    kind: str
    name: str
    fields: tuple[tuple[str, str], ...]  # (field, canonical value)
    location: Span | None


@dataclass(frozen=True)
class DefinitionChange:
    kind: str
    name: str
    changes: tuple[tuple[str, str, str], ...]  # (field, old, new)
    old: Definition
    new: Definition


@dataclass(frozen=True)
class SideInfo:
    """One side as the user named it: a path, and the git revision it was taken from (if any).

    `prefix` is the directory the side's file names are relative to, as the user would write it
    (the path itself for a directory, its parent for a single file).
    """

    path: str
    revision: str | None = None
    prefix: str | None = None

    @property
    def label(self) -> str:
        return f"{self.path} @ {self.revision}" if self.revision else self.path


@dataclass
class Summary:
    """Everything one side contributes to a diff (plain data: picklable, no model objects)."""

    info: SideInfo
    errors: list[Diagnostic] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)
    flows: dict[tuple[str, str, str], tuple] = field(default_factory=dict)  # raw facts, see _flows_and_reach
    kinds: dict[str, str] = field(default_factory=dict)
    zone_of: dict[str, str] = field(default_factory=dict)  # host -> its zone
    reach: dict[tuple[str, str], ReachEntry] = field(default_factory=dict)
    verdicts: dict[tuple, Verdict] = field(default_factory=dict)
    definitions: dict[tuple[str, str], Definition] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class PolicyDiff:
    old: SideInfo
    new: SideInfo
    errors: dict[str, list[Diagnostic]] = field(default_factory=dict)  # "old" / "new" -> input errors
    texts: dict[str, dict[str, str]] = field(default_factory=dict)
    flows_added: list[FlowEntry] = field(default_factory=list)
    flows_removed: list[FlowEntry] = field(default_factory=list)
    flows_changed: list[FlowChange] = field(default_factory=list)
    reach_added: list[ReachEntry] = field(default_factory=list)
    reach_removed: list[ReachEntry] = field(default_factory=list)
    verdicts_added: list[Verdict] = field(default_factory=list)
    verdicts_removed: list[Verdict] = field(default_factory=list)
    verdicts_changed: list[VerdictChange] = field(default_factory=list)
    definitions_added: list[Definition] = field(default_factory=list)
    definitions_removed: list[Definition] = field(default_factory=list)
    definitions_changed: list[DefinitionChange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    SECTIONS = (
        "flows_added", "flows_removed", "flows_changed", "reach_added", "reach_removed",
        "verdicts_added", "verdicts_removed", "verdicts_changed",
        "definitions_added", "definitions_removed", "definitions_changed",
    )

    @property
    def has_errors(self) -> bool:
        return any(self.errors.values())

    @property
    def empty(self) -> bool:
        """No semantic change (and both sides read)."""
        return not self.has_errors and not any(getattr(self, s) for s in self.SECTIONS)

    def counts(self) -> dict[str, int]:
        return {s: len(getattr(self, s)) for s in self.SECTIONS}

    def exit_code(self, exit_zero: bool = False) -> int:
        """0 no semantic change, 1 changes (0 with exit_zero), 2 input errors on either side."""
        if self.has_errors:
            return EXIT_INPUT
        if self.empty or exit_zero:
            return EXIT_SAME
        return EXIT_CHANGED


# ---- loading a side ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Location:
    """Where a side's files are on disk: load `target` (a directory or file) from `cwd`."""

    cwd: Path
    target: str


def _location(path: Path) -> _Location:
    path = Path(os.path.abspath(path))
    if path.is_dir():
        return _Location(path, ".")
    return _Location(path.parent, path.name)


class _ParseCache:
    """Parse each distinct (file name, text) once per diff: most files of two revisions are equal.

    Both sides are loaded from their own root with file names relative to it, so an unchanged
    file has the same name and text on both sides, and its parsed model (immutable) is shared.
    """

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], tuple] = {}

    @contextlib.contextmanager
    def installed(self):
        from . import loader

        original = loader.parse_text

        def cached(path: str, text: str):
            key = (path, text)
            hit = self.entries.get(key)
            if hit is None:
                hit = original(path, text)
                self.entries[key] = hit
            source, diagnostics, broken = hit
            return source, list(diagnostics), set(broken)

        loader.parse_text = cached
        try:
            yield
        finally:
            loader.parse_text = original


def load_side(location: _Location, cache: _ParseCache | None = None):
    """Parse, resolve and check one side (`load_policy`, with file names relative to its root)."""
    from .api import load_policy

    cache = cache or _ParseCache()
    with contextlib.chdir(location.cwd), cache.installed():
        return load_policy(Path(location.target), graph=False)


def summarize(location: _Location, info: SideInfo, *, as_of: dt.date | None = None,
              disabled: frozenset[str] = frozenset(), cache: _ParseCache | None = None) -> Summary:
    """Load one side and reduce it to what the diff compares."""
    return analyse(load_side(location, cache), info, as_of=as_of, disabled=disabled)


def analyse(result, info: SideInfo, *, as_of: dt.date | None = None, disabled: frozenset[str] = frozenset(),
            verdicts: bool = True, verify: bool = True, definitions: dict | None = None,
            focus: _Focus | None = None) -> Summary:
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
    summary.kinds = _endpoint_kinds(policy)
    summary.zone_of = {name: host.zone.name for name, host in policy.hosts.items()}
    _flows_and_reach(policy, summary, focus=focus)
    if verdicts:
        findings = [d for d in result.diagnostics if d.exit_class != "input"]
        if verify:
            findings += _verification(policy, as_of, disabled, summary.notes)
        summary.verdicts = _verdicts(findings, policy)
    summary.definitions = _definitions(policy) if definitions is None else definitions
    return summary


def same_model(old_policy, new_policy) -> bool:
    """Are two resolved policies the same model but for source positions and documentation?

    Then every verdict is the same too, and the diff need not verify either side.
    """
    return _model(old_policy)[1] == _model(new_policy)[1]


def _model(policy) -> tuple[dict[tuple[str, str], Definition], tuple, list]:
    """The policy's own definitions (for the diff), a key equal for equal models, and the
    canonical form of each `allow` (in the order of `policy.flows`)."""
    described = []
    definitions: dict[tuple[str, str], Definition] = {}
    for statement in [*policy.zones.values(), *policy.hosts.values(), *policy.groups.values(),
                      *policy.services.values(), *policy.datatypes.values(), *policy.devices.values(),
                      *policy.assertions, *policy.requirements, *policy.waivers]:
        fields = _definition_fields(statement)
        if fields is None:
            continue
        described.append(fields)
        span = statement.span
        if getattr(statement, "builtin", False) or span.file.startswith(BUILTIN_PREFIX):
            continue  # the catalogue and built-ins: part of the model, not reported as definitions
        kind, name, values = fields
        key = (kind, name)
        if key not in definitions or span < definitions[key].location:
            # the same intent stated twice is one definition, at its first place
            definitions[key] = Definition(kind, name, values, span)
    described.sort()
    flows = [_flow_canonical(flow) for flow in policy.flows]
    return definitions, (tuple(described), tuple(sorted(flows))), flows


def _flow_canonical(flow) -> tuple:
    return _fields(flow)


def _verification(policy, as_of, disabled, notes: list[str]) -> list[Diagnostic]:
    try:
        from .verify import verify
    except ImportError as error:  # verification not available in this build
        notes.append(f"verification verdicts not compared: {error}")
        return []
    try:
        return list(verify(policy, as_of=as_of, disabled=frozenset(disabled)))
    except ImportError as error:
        notes.append(f"verification verdicts not compared: {error}")
        return []


# ---- flows and reach ---------------------------------------------------------------------------


def _endpoint_kinds(policy) -> dict[str, str]:
    kinds = {name: "zone" for name in policy.zones}
    kinds.update((name, "host") for name in policy.hosts)
    return kinds


class _Space:
    """Address space of endpoints, to tell which carve-outs cut into which endpoint."""

    def __init__(self, policy) -> None:
        self.policy = policy
        self.networks: dict[str, list] = {}
        self.inside: dict[tuple[str, str], bool] = {}

    def _networks(self, name: str) -> list:
        found = self.networks.get(name)
        if found is None:
            import netaddr

            policy = self.policy
            if name in policy.zones:
                cidrs = [n.cidr for n in policy.zones[name].networks]
            elif name in policy.hosts:
                cidrs = [n.cidr for n in policy.hosts[name].addresses]
            else:
                cidrs = [name]
            found = []
            for cidr in cidrs:
                try:
                    found.append(netaddr.IPNetwork(cidr))
                except (netaddr.AddrFormatError, ValueError, TypeError):
                    continue
            self.networks[name] = found
        return found

    def cuts(self, carved: str, endpoint: str) -> bool:
        """Does carving `carved` out remove part of `endpoint` (without removing it whole)?"""
        key = (carved, endpoint)
        found = self.inside.get(key)
        if found is None:
            host = self.policy.hosts.get(carved)
            if host is not None and host.zone.name == endpoint:
                found = True
            else:
                found = any(a.version == b.version and a.first <= b.last and b.first <= a.last
                            for a in self._networks(carved) for b in self._networks(endpoint))
            self.inside[key] = found
        return found


def _excluded(policy, selectors) -> frozenset[str]:
    excluded: set[str] = set()
    for selector in selectors:
        members = policy.expand(selector)
        excluded |= members.zones | members.hosts | members.addresses
    return frozenset(excluded)


def _endpoints(members, excluded: frozenset[str], space: _Space) -> list[tuple[str, frozenset[str]]]:
    """(endpoint, the carve-outs that cut into it) for every endpoint not carved out whole."""
    if not excluded:
        return [(e, frozenset()) for e in members.endpoints()]
    out = []
    for endpoint in members.endpoints():
        if endpoint in excluded:
            continue
        out.append((endpoint, frozenset(x for x in excluded if space.cuts(x, endpoint))))
    return out


@dataclass(frozen=True)
class _Focus:
    """The triples and reach entries a diff can differ in, when only some `allow`s changed.

    With the same definitions on both sides, an `allow` written identically on both expands
    identically: only the triples (and reach) of the `allow`s that differ can change, though
    every `allow` that also covers them counts towards their facts.
    """

    keys: frozenset
    services: frozenset
    sources: frozenset
    destinations: frozenset
    reach: frozenset
    places: frozenset
    datatypes: frozenset


def _focus(sides: list[tuple[object, list]]) -> _Focus:
    keys: set = set()
    reach: set = set()
    for policy, flows in sides:
        partial = Summary(info=SideInfo(""))
        _flows_and_reach(policy, partial, flows=flows)
        zone_of = {name: host.zone.name for name, host in policy.hosts.items()}
        for source, destination, service in partial.flows:
            for s in {source, zone_of.get(source, source)}:
                for d in {destination, zone_of.get(destination, destination)}:
                    keys.add((s, d, service))
        reach |= partial.reach.keys()
    return _Focus(frozenset(keys), frozenset(k[2] for k in keys), frozenset(k[0] for k in keys),
                  frozenset(k[1] for k in keys), frozenset(reach), frozenset(k[0] for k in reach),
                  frozenset(k[1] for k in reach))


def _flows_and_reach(policy, summary: Summary, flows=None, focus: _Focus | None = None) -> None:
    """Fill `summary.flows` with (source, destination, service) -> raw facts, and `summary.reach`.

    Raw facts are tuples (datatypes, cuts of the source, cuts of the destination, log, spans),
    frozensets all but `log` and `spans`; `FlowFacts` are made only for what the diff reports.
    `flows`: only these `allow`s; `focus`: only these triples and reach entries.
    """
    space = _Space(policy)
    service_carries = {name: frozenset(r.name for r in s.carries) for name, s in policy.services.items()}
    hosts = policy.hosts
    holds = {name: frozenset(r.name for r in z.holds) for name, z in policy.zones.items()}
    endpoint_lists: dict[int, list] = {}
    triples: dict[tuple[str, str, str], tuple] = {}
    reach: dict[tuple[str, str], list] = {}
    setdefault = triples.setdefault
    nothing: frozenset[str] = frozenset()
    for flow in policy.flows if flows is None else flows:
        if focus is not None and not (any(r.name in focus.services for r in flow.services)
                                      or focus.datatypes and _carries(flow, service_carries) & focus.datatypes):
            continue
        spans = (flow.span,)
        log = flow.log
        carrying = frozenset(r.name for r in flow.carrying)
        sides = []
        for selector, carve_outs in ((flow.source, flow.except_from), (flow.destination, flow.except_to)):
            members = policy.expand(selector)
            if carve_outs:
                sides.append(_endpoints(members, _excluded(policy, carve_outs), space))
            else:
                cached = endpoint_lists.get(id(members))
                if cached is None:
                    cached = endpoint_lists[id(members)] = [(e, nothing) for e in members.endpoints()]
                sides.append(cached)
        sources, destinations = sides
        if not sources or not destinations:
            continue
        whole = len(flow.except_from) + len(flow.except_to) == 0
        flow_datatypes = set(carrying)
        triple_sources, triple_destinations = sources, destinations
        if focus is not None:
            triple_sources = [e for e in sources if e[0] in focus.sources]
            triple_destinations = [e for e in destinations if e[0] in focus.destinations]
        for ref in flow.services:
            name = ref.name
            datatypes = service_carries.get(name, nothing) | carrying
            flow_datatypes |= datatypes
            if focus is not None and name not in focus.services:
                continue
            plain = (datatypes, nothing, nothing, log, spans)
            for source, cut_source in triple_sources:
                for destination, cut_destination in triple_destinations:
                    key = (source, destination, name)
                    if focus is not None and key not in focus.keys:
                        continue
                    value = plain if whole else (datatypes, cut_source, cut_destination, log, spans)
                    found = setdefault(key, value)
                    if found is not value:
                        triples[key] = (found[0] | datatypes, found[1] & cut_source, found[2] & cut_destination,
                                        found[3] or log, found[4] + spans)
        if flow_datatypes:
            places = set()
            for endpoint, _ in sources + destinations:
                host = hosts.get(endpoint)
                places.add(host.zone.name if host is not None else endpoint)
            for place in places:
                for datatype in flow_datatypes:
                    if focus is None or (place, datatype) in focus.reach:
                        reach.setdefault((place, datatype), []).append(flow.span)
    summary.flows = triples
    summary.reach = {
        (place, datatype): ReachEntry(place, "zone" if place in policy.zones else "address", datatype,
                                      datatype in holds.get(place, ()), _spans(spans))
        for (place, datatype), spans in reach.items()
    }


def _carries(flow, service_carries: dict) -> frozenset:
    carried = frozenset(r.name for r in flow.carrying)
    for ref in flow.services:
        carried |= service_carries.get(ref.name, frozenset())
    return carried


def _facts(raw: tuple) -> FlowFacts:
    return FlowFacts(tuple(sorted(raw[0])), tuple(sorted(raw[1])), tuple(sorted(raw[2])), raw[3], _spans(raw[4]))


def _spans(spans) -> tuple[Span, ...]:
    return tuple(sorted(set(spans)))


# ---- verdicts ----------------------------------------------------------------------------------


def _status(diagnostic: Diagnostic) -> str:
    if diagnostic.waived_by is not None:
        return "waived"
    return diagnostic.severity.value


_POSITION = re.compile(r"((?:<septum>/)?[^\s:'\"()\[\]]+\.septum):(\d+)(?::(\d+))?")


def _verdicts(findings: list[Diagnostic], policy) -> dict[tuple, Verdict]:
    grouped: dict[tuple, list[Diagnostic]] = {}
    statements = _StatementIndex(policy)
    for finding in findings:
        message = finding.message
        if _POSITION.search(message) and finding.span is not None:
            # The message points at other statements by position (`redundant: the flow at f:12
            # already allows this`). Which other statement a check names among equals can depend
            # on the order of statements; the verdict is about the statement the finding is at.
            message = f"[{statements.at(finding.span)}]"
        elif _POSITION.search(message):
            message = _POSITION.sub(statements.replace, message)
        grouped.setdefault((finding.check, finding.code, message), []).append(finding)
    verdicts = {}
    for key, group in grouped.items():
        statuses = {_status(d) for d in group}
        # one key, several findings: the worst status stands for the key
        status = next(s for s in ("error", "warning", "waived") if s in statuses)
        locations = tuple(sorted({d.span for d in group if d.span is not None}))
        message = min(d.message for d in group)
        verdicts[key] = Verdict(key[0], key[1], message, status, locations)
    return verdicts


class _StatementIndex:
    """Positions quoted in a finding's message (`file.septum:12`) as the statement written there.

    A message that points at another statement by its line would change when the statement
    moves; the diff compares it with the statement's meaning in place of its position.
    """

    def __init__(self, policy) -> None:
        self.policy = policy
        self.by_file: dict[str, list] | None = None

    def _build(self) -> dict[str, list]:
        by_file: dict[str, list] = {}
        for source in self.policy.files:
            for statement in source.statements:
                span = statement.span
                by_file.setdefault(span.file, []).append(
                    ((span.line, span.column), (span.end_line, span.end_column), statement))
        for entries in by_file.values():
            entries.sort(key=lambda e: (e[0], e[1]))
        return by_file

    def _find(self, file: str, line: int, column: int | None):
        if self.by_file is None:
            self.by_file = self._build()
        for start, end, statement in self.by_file.get(file, ()):
            if column is None:
                inside = start[0] <= line <= end[0]
            else:
                inside = start <= (line, column) <= end
            if inside:
                return statement
        return None

    def replace(self, match: re.Match) -> str:
        statement = self._find(match.group(1), int(match.group(2)), int(match.group(3)) if match.group(3) else None)
        return match.group(0) if statement is None else f"[{_identity(statement)}]"

    def at(self, span: Span) -> str:
        statement = self._find(span.file, span.line, span.column)
        return f"{span.file}:{span.line}" if statement is None else _identity(statement)


def _identity(statement) -> str:
    if getattr(statement, "kind", None) == "allow":
        return "allow " + "; ".join(f"{name} {text}" for name, text in _flow_canonical(statement) if text)
    described = _definition_fields(statement)
    if described is not None:
        return f"{described[0]} {described[1]}"
    return str(getattr(statement, "kind", "statement"))


# ---- definitions -------------------------------------------------------------------------------


# Fields that are documentation or position, not meaning; `name`, `label` and `text` name the
# statement instead. Any other field of the model (including fields added to the language later)
# is compared.
_NOT_MEANING = frozenset({"kind", "name", "label", "text", "span", "name_span", "target_span", "clauses",
                          "description", "justification", "reason", "builtin"})

_FIELD_NAMES = {"selector": "members", "matches": "protocols"}  # as people say it

_KINDS = {Zone: "zone", Host: "host", Group: "group", Service: "service", DataType: "datatype", Device: "device",
          Assertion: "assertion", Requirement: "requirement", Waiver: "waiver"}


def _item_text(item) -> str:
    kind = item.kind
    if kind == "name":
        return item.name
    if kind == "tag":
        return f"tag:{item.tag}"
    if kind == "holding":
        return f"zones holding {item.datatype}"
    from .printer import address_text

    return address_text(item.cidr)


def _selector_canonical(selector: Selector) -> str:
    items = selector.items
    if len(items) == 1:
        return _item_text(items[0])
    return ", ".join(sorted({_item_text(item) for item in items}))


def _match_canonical(match) -> str:
    """A protocol clause as `fmt` prints it, ports in order (their order carries no meaning)."""
    from .printer import _match_text

    return _match_text(match.model_copy(update={"ports": tuple(sorted(match.ports, key=lambda p: (p.low, p.high)))}))


def _binding_text(binding) -> str:
    where = f"interface {binding.interface}" if binding.interface is not None else f"port {binding.port}"
    return f"{where} zone {binding.zone.name}"


def _sequence_text(values) -> str:
    if not values:
        return ""
    texts = {_text(v) for v in values}
    separator = "; " if isinstance(next(iter(values)), (Selector, Match, Binding)) else ", "
    return separator.join(sorted(texts))


_TEXT = {
    type(None): lambda value: "",
    bool: lambda value: "yes" if value else "no",
    str: str,
    int: str,
    dt.date: lambda value: value.isoformat(),
    Ref: lambda value: value.name,
    Selector: _selector_canonical,
    Network: lambda value: value.cidr,
    Match: _match_canonical,
    Binding: _binding_text,
    tuple: _sequence_text,
    list: _sequence_text,
    frozenset: _sequence_text,
}


def _text(value) -> str:
    """A field's value as canonical text: lists as sorted sets, selectors as sorted items."""
    render = _TEXT.get(type(value))
    if render is not None:
        return render(value)
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, BaseModel):
        return "; ".join(f"{name} {text}" for name, text in _fields(value) if text)
    return str(value)


_MEANINGFUL: dict[type, tuple[tuple[str, str], ...]] = {}


def _fields(model) -> tuple[tuple[str, str], ...]:
    """(field, canonical text) for every field of a statement that carries meaning.

    A nested statement part (an assertion's body) is flattened into the statement's fields.
    """
    names = _MEANINGFUL.get(type(model))
    if names is None:
        names = _MEANINGFUL[type(model)] = tuple(
            (name, _FIELD_NAMES.get(name, name)) for name in type(model).model_fields if name not in _NOT_MEANING)
    out: list[tuple[str, str]] = []
    values = model.__dict__
    for name, label in names:
        value = values[name]
        if isinstance(value, BaseModel) and not isinstance(value, Selector) and hasattr(value, "kind"):
            out.append(("form", str(value.kind)))
            out.extend(_fields(value))
        else:
            out.append((label, _text(value)))
    return tuple(out)


def _sorted_selectors(model):
    """A copy of a statement part whose selectors list their items in one canonical order."""
    update = {}
    for name, value in model:
        if isinstance(value, Selector):
            update[name] = value.model_copy(update={"items": tuple(sorted(value.items, key=_item_text))})
    return model.model_copy(update=update) if update else model


def _definition_fields(statement) -> tuple[str, str, tuple[tuple[str, str], ...]] | None:
    """(kind, name, fields) of a definition or intent statement other than `allow`."""
    kind = _KINDS.get(type(statement))
    if kind is None:
        return None
    if isinstance(statement, Assertion):
        from .printer import assertion_text

        name = statement.label.name if statement.label else assertion_text(
            statement.model_copy(update={"body": _sorted_selectors(statement.body)}))
    elif isinstance(statement, Requirement):
        name = statement.label.name if statement.label else (
            f"{_selector_canonical(statement.source)} -> {_selector_canonical(statement.destination)}"
            f" : {_text(statement.services)}")
    elif isinstance(statement, Waiver):
        target = statement.label.name if statement.label else f'"{statement.text}"'
        services = f" : {_text(statement.services)}" if statement.services else ""
        name = (f"{target} for {_selector_canonical(statement.source)} -> "
                f"{_selector_canonical(statement.destination)}{services}")
    else:
        name = statement.name
    return kind, name, _fields(statement)


def _definitions(policy) -> dict[tuple[str, str], Definition]:
    return _model(policy)[0]


# ---- comparing two summaries -------------------------------------------------------------------


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
        result.flows_added.append(FlowEntry(s, kind(new, s), d, kind(new, d), service, _facts(new.flows[key]),
                                            _covered(key, new, old)))
    for key in sorted(old.flows.keys() - new.flows.keys()):
        s, d, service = key
        result.flows_removed.append(FlowEntry(s, kind(old, s), d, kind(old, d), service, _facts(old.flows[key]),
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
                                               _facts(old.flows[key]), _facts(new.flows[key])))

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


# ---- entry points ------------------------------------------------------------------------------


def diff_paths(old: str | Path, new: str | Path, *, as_of: dt.date | None = None,
               disabled: frozenset[str] | set[str] = frozenset(),
               old_info: SideInfo | None = None, new_info: SideInfo | None = None,
               verify: bool = True, parallel: bool | None = None, incremental: bool = True) -> PolicyDiff:
    """The semantic diff of the policies under two paths (directories of zone files, or files).

    `verify=False` leaves verification out (only the findings of `septum check` are compared).
    `parallel`: analyse the two sides in two processes (None: when the policy is large, the
    machine has two CPUs and `os.fork` exists). Files equal on both sides are parsed once, and
    when both sides are the same model (reordered, moved, reformatted) neither is verified.
    `incremental`: when both sides define the same things, expand only the `allow`s that differ
    (and whatever else covers the same triples); False expands every `allow` (the same result).
    """
    as_of = as_of or dt.date.today()
    disabled = frozenset(disabled)
    for name, path in (("OLD", old), ("NEW", new)):
        if not Path(path).exists():
            raise DiffInputError(f"{name} path {path} does not exist")
    sides = []
    for path, info in ((old, old_info), (new, new_info)):
        info = info or SideInfo(str(path))
        location = _location(Path(path))
        if info.prefix is None:
            prefix = info.path if location.target == "." else os.path.dirname(info.path)
            info = dataclasses.replace(info, prefix=prefix)
        sides.append((location, info))
    (old_location, old_info), (new_location, new_info) = sides
    cache = _ParseCache()
    old_result = load_side(old_location, cache)
    new_result = load_side(new_location, cache)
    del cache
    options = {"as_of": as_of, "disabled": disabled, "verify": verify}
    old_definitions = new_definitions = None
    if _readable(old_result) and _readable(new_result):
        collecting = gc.isenabled()
        gc.disable()
        try:
            old_definitions, old_key, old_flows = _model(old_result.policy)
            new_definitions, new_key, new_flows = _model(new_result.policy)
            options["verdicts"] = old_key != new_key
            if incremental and old_key[0] == new_key[0]:  # same definitions: only `allow`s that differ matter
                counts = Counter(old_flows)
                counts.subtract(Counter(new_flows))
                changed = {flow for flow, count in counts.items() if count}
                options["focus"] = _focus([
                    (result.policy, [f for f, c in zip(result.policy.flows, canon) if c in changed])
                    for result, canon in ((old_result, old_flows), (new_result, new_flows))])
        finally:
            if collecting:
                gc.enable()
    if parallel is None:
        parallel = options.get("verdicts", True) and verify and _worth_forking(old_result)
    if parallel and hasattr(os, "fork"):
        pending = _in_child(lambda: analyse(old_result, old_info, definitions=old_definitions, **options))
        new_summary = analyse(new_result, new_info, definitions=new_definitions, **options)
        old_summary = pending()
    else:
        old_summary = analyse(old_result, old_info, definitions=old_definitions, **options)
        new_summary = analyse(new_result, new_info, definitions=new_definitions, **options)
    return compare(old_summary, new_summary)


def _readable(result) -> bool:
    return not any(d.exit_class == "input" for d in result.diagnostics)


PARALLEL_FLOWS = 2_000  # below this, a second process costs more than it saves


def _worth_forking(result) -> bool:
    if os.environ.get("SEPTUM_DIFF_JOBS") == "1":
        return False
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    policy = result.policy
    return cpus > 1 and policy is not None and len(policy.flows) >= PARALLEL_FLOWS


def _in_child(work):
    """Run `work()` in a forked process; return a function that waits for its (pickled) result."""
    import pickle
    import traceback

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: compute, send, and leave without running the parent's exit handlers
        status = 0
        try:
            os.close(read_end)
            try:
                payload = pickle.dumps(("ok", work()), protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException:  # noqa: BLE001 - reported to the parent
                payload = pickle.dumps(("error", traceback.format_exc()), protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(payload)
        except BaseException:  # noqa: BLE001
            status = 1
        finally:
            os._exit(status)
    os.close(write_end)

    def wait():
        with os.fdopen(read_end, "rb") as pipe:
            payload = pipe.read()
        os.waitpid(pid, 0)
        if not payload:
            raise RuntimeError("the process analysing the OLD side ended without a result")
        outcome, value = pickle.loads(payload)
        if outcome != "ok":
            raise RuntimeError(f"analysing the OLD side failed:\n{value}")
        return value

    return wait


def diff_revisions(path: str | Path = "zones", base: str = "HEAD", head: str | None = None, *,
                   as_of: dt.date | None = None, disabled: frozenset[str] | set[str] = frozenset(),
                   verify: bool = True, parallel: bool | None = None) -> PolicyDiff:
    """The semantic diff of `path` as of git revision `base` against `head` (default: the working tree)."""
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="septum-diff-") as scratch:
        repo, relative = _repository(path)
        old_root = _materialise(repo, base, relative, Path(scratch) / "old")
        if head is None:
            if not path.exists():
                raise DiffInputError(f"{path} does not exist in the working tree")
            new_root = path
        else:
            new_root = _materialise(repo, head, relative, Path(scratch) / "new")
        return diff_paths(old_root, new_root, as_of=as_of, disabled=disabled, verify=verify, parallel=parallel,
                          old_info=SideInfo(str(path), base), new_info=SideInfo(str(path), head))


# ---- git ---------------------------------------------------------------------------------------


def _git(args: list[str], cwd: Path, what: str, input: bytes | None = None) -> bytes:
    if shutil.which("git") is None:
        raise DiffInputError("git is not installed, so revisions cannot be read; compare two paths instead")
    try:
        done = subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True, check=False)
    except OSError as error:
        raise DiffInputError(f"cannot run git: {error}") from None
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise DiffInputError(f"{what}" + (f" (git: {detail[-1]})" if detail else ""))
    return done.stdout


def _repository(path: Path) -> tuple[Path, str]:
    """The top of the git work tree holding `path`, and `path` relative to it ('' for the top)."""
    absolute = Path(os.path.abspath(path))
    anchor = absolute
    while not anchor.exists() and anchor != anchor.parent:
        anchor = anchor.parent
    if anchor.is_file():
        anchor = anchor.parent
    top = _git(["rev-parse", "--show-toplevel"], anchor, f"{path} is not inside a git repository")
    top_path = Path(os.path.realpath(top.decode("utf-8").strip()))
    real = Path(os.path.realpath(absolute))
    try:
        relative = real.relative_to(top_path)
    except ValueError:
        raise DiffInputError(f"{path} is not inside the git repository at {top_path}") from None
    return top_path, relative.as_posix() if str(relative) != "." else ""


def _materialise(repo: Path, revision: str, relative: str, destination: Path) -> Path:
    """Write the zone files of `relative` as of `revision` under `destination`; return the side's root."""
    if revision.startswith("-"):
        raise DiffInputError(f"'{revision}' is not a revision")
    commit = _git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{revision}^{{commit}}"], repo,
                  f"unknown revision '{revision}'").decode().strip()
    spec = f"{commit}:{relative}" if relative else f"{commit}^{{tree}}"
    kind = _git(["cat-file", "-t", spec], repo,
                f"{relative or '.'} does not exist in revision '{revision}'").decode().strip()
    if kind not in ("tree", "blob"):
        raise DiffInputError(f"{relative} in revision '{revision}' is a {kind}, not zone files")
    listing = _git(["ls-tree", "-r", "-z", "--full-tree", commit, "--", relative or "."], repo,
                   f"cannot list {relative or '.'} in revision '{revision}'")
    blobs = []
    for entry in listing.split(b"\0"):
        if not entry:
            continue
        meta, _, name = entry.partition(b"\t")
        mode, type_, sha = meta.split(b" ")
        file = name.decode("utf-8", "surrogateescape")
        if type_ != b"blob" or mode == b"120000" or not file.endswith(".septum"):
            continue
        blobs.append((file, sha.decode()))
    if blobs:
        contents = _cat_files(repo, [sha for _, sha in blobs])
        for file, sha in blobs:
            target = destination / file
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(contents[sha])
    root = destination / relative if relative else destination
    if kind == "tree":
        root.mkdir(parents=True, exist_ok=True)
        return root
    if not root.exists():  # a single file that is not a .septum file: take it anyway
        root.parent.mkdir(parents=True, exist_ok=True)
        root.write_bytes(_git(["cat-file", "blob", spec], repo, f"cannot read {relative} in '{revision}'"))
    return root


def _cat_files(repo: Path, shas: list[str]) -> dict[str, bytes]:
    unique = list(dict.fromkeys(shas))
    out = _git(["cat-file", "--batch"], repo, "cannot read files from git", input=("\n".join(unique) + "\n").encode())
    contents: dict[str, bytes] = {}
    position = 0
    for sha in unique:
        newline = out.index(b"\n", position)
        header = out[position:newline].split(b" ")
        size = int(header[2])
        contents[sha] = out[newline + 1:newline + 1 + size]
        position = newline + 1 + size + 1
    return contents


# ---- rendering ---------------------------------------------------------------------------------


def _display_file(file: str, info: SideInfo) -> str:
    """A file name as the user knows it: under the path they named (catalogue files as they are)."""
    prefix = info.path if info.prefix is None else info.prefix
    if file.startswith(BUILTIN_PREFIX) or prefix in ("", "."):
        return file
    return f"{prefix.rstrip('/')}/{file}"


def _where(span: Span, info: SideInfo) -> str:
    return f"{_display_file(span.file, info)}:{span.line}"


def _cite(spans: tuple[Span, ...], info: SideInfo, limit: int = 3) -> str:
    """`file:12, 30, other:4`: the first `limit` places (a file named once for its lines)."""
    places, last = [], None
    for span in spans[:limit]:
        places.append(str(span.line) if span.file == last else _where(span, info))
        last = span.file
    more = len(spans) - limit
    return ", ".join(places) + (f" (+{more} more)" if more > 0 else "")


def _facts_words(facts: FlowFacts) -> str:
    words = []
    if facts.except_from:
        words.append(f"except from {', '.join(facts.except_from)}")
    if facts.except_to:
        words.append(f"except to {', '.join(facts.except_to)}")
    if facts.datatypes:
        words.append(f"carrying {', '.join(facts.datatypes)}")
    if facts.log:
        words.append("log")
    return "; ".join(words)


def _flow_line(entry, facts: FlowFacts, sources: list[str] | None = None) -> str:
    words = _facts_words(facts)
    source = ", ".join(sources) if sources else entry.source
    return f"{source} -> {entry.destination} : {entry.service}" + (f" ({words})" if words else "")


def _grouped(entries: list[FlowEntry]) -> list[tuple[list[str], FlowEntry]]:
    """Entries that differ only in their source, as one line with the sources listed (for people)."""
    groups: dict[tuple, tuple[list[str], FlowEntry]] = {}
    for entry in entries:
        key = (entry.destination, entry.service, entry.facts.meaning(), entry.facts.rules, entry.covered_by)
        if entry.covered_by is not None:
            key = (entry.source, *key)
        if key in groups:
            groups[key][0].append(entry.source)
        else:
            groups[key] = ([entry.source], entry)
    return list(groups.values())


def _covered_words(entry: FlowEntry, when: str) -> str:
    if entry.covered_by is None:
        return ""
    return f" ({when} allowed as part of {entry.covered_by[0]} -> {entry.covered_by[1]})"


def _message(message: str, info: SideInfo) -> str:
    """A finding's message with the positions it quotes under the path the user named."""
    return _POSITION.sub(lambda m: _display_file(m.group(1), info) + m.group(0)[len(m.group(1)):], message)


def _verdict_text(verdict: Verdict, info: SideInfo) -> str:
    check = f" {verdict.check}" if verdict.check else ""
    return f"{verdict.status}[{verdict.code}]{check}: {_message(verdict.message, info)}"


def _headline(diff: PolicyDiff) -> str:
    c = diff.counts()
    parts = []
    for key, words in (("flows_added", "newly allowed"), ("flows_removed", "no longer allowed"),
                       ("flows_changed", "changed")):
        if c[key]:
            parts.append(f"{c[key]} flow{'s' * (c[key] != 1)} {words}")
    reach = c["reach_added"] + c["reach_removed"]
    if reach:
        parts.append(f"{reach} data-reach change{'s' * (reach != 1)}")
    verdicts = c["verdicts_added"] + c["verdicts_removed"] + c["verdicts_changed"]
    if verdicts:
        parts.append(f"{verdicts} verdict change{'s' * (verdicts != 1)}")
    definitions = c["definitions_added"] + c["definitions_removed"] + c["definitions_changed"]
    if definitions:
        parts.append(f"{definitions} definition change{'s' * (definitions != 1)}")
    return ", ".join(parts) if parts else "no semantic change"


def _relocated(diagnostic: Diagnostic, info: SideInfo) -> Diagnostic:
    def move(span: Span | None) -> Span | None:
        return None if span is None else span._replace(file=_display_file(span.file, info))

    return dataclasses.replace(diagnostic, span=move(diagnostic.span),
                               related=tuple(Related(move(r.span), r.message) for r in diagnostic.related))


def render_errors(diff: PolicyDiff) -> str:
    from .render import render_diagnostic

    blocks = []
    for side, info in (("old", diff.old), ("new", diff.new)):
        errors = diff.errors.get(side) or []
        if not errors:
            continue
        texts = {_display_file(f, info): t for f, t in diff.texts.get(side, {}).items()}
        blocks.append(f"septum diff: the {side.upper()} side ({info.label}) has "
                      f"{len(errors)} input error{'s' * (len(errors) != 1)}:")
        blocks.extend(render_diagnostic(_relocated(d, info), texts) for d in errors)
    return "\n\n".join(blocks) + "\n"


def render_human(diff: PolicyDiff, style=None) -> str:
    """Grouped `+`/`-`/`~` lines. `style(text, sign)` may colour a line (the CLI passes click.style)."""
    if diff.has_errors:
        return render_errors(diff)
    paint = style or (lambda text, sign: text)
    old, new = diff.old, diff.new
    working_tree = " (working tree)" if old.revision and not new.revision else ""
    out = [f"septum diff: {old.label} -> {new.label}{working_tree}"]

    def section(title: str, lines: list[str]) -> None:
        if lines:
            out.append("")
            out.append(f"{title}:")
            out.extend(lines)

    section("Flows newly allowed", [
        paint(f"  + {_flow_line(e, e.facts, sources)}  [{_cite(e.facts.rules, new)}]{_covered_words(e, 'already')}",
              "+") for sources, e in _grouped(diff.flows_added)])
    section("Flows no longer allowed", [
        paint(f"  - {_flow_line(e, e.facts, sources)}  [was {_cite(e.facts.rules, old)}]{_covered_words(e, 'still')}",
              "-") for sources, e in _grouped(diff.flows_removed)])
    changed = []
    for c in diff.flows_changed:
        changed.append(paint(f"  ~ {c.source} -> {c.destination} : {c.service}  [{_cite(c.new.rules, new)}]", "~"))
        changed.append(paint(f"      - {_facts_words(c.old) or 'no carve-outs, no data, no log'}", "-"))
        changed.append(paint(f"      + {_facts_words(c.new) or 'no carve-outs, no data, no log'}", "+"))
    section("Flows changed", changed)
    section("Data newly reaching", [
        paint(f"  + {r.datatype} reaches {r.place_kind} {r.place}"
              f"{'' if r.cleared or r.place_kind != 'zone' else ' (not cleared to hold it)'}  [{_cite(r.rules, new)}]", "+")
        for r in diff.reach_added])
    section("Data no longer reaching", [
        paint(f"  - {r.datatype} reaches {r.place_kind} {r.place}  [was {_cite(r.rules, old)}]", "-")
        for r in diff.reach_removed])
    verdicts = [paint(f"  + {_verdict_text(v, new)}  [{_cite(v.locations, new)}]", "+") for v in diff.verdicts_added]
    verdicts += [paint(f"  - {_verdict_text(v, old)}  [was {_cite(v.locations, old)}]", "-")
                 for v in diff.verdicts_removed]
    verdicts += [paint(f"  ~ {c.old.status} -> {c.new.status} [{c.code}]{' ' + c.check if c.check else ''}: "
                       f"{_message(c.new.message, new)}  [{_cite(c.new.locations, new)}]", "~")
                 for c in diff.verdicts_changed]
    section("Verdicts", verdicts)
    definitions = [paint(f"  + {d.kind} {d.name}  [{_cite((d.location,), new) if d.location else ''}]", "+")
                   for d in diff.definitions_added]
    definitions += [paint(f"  - {d.kind} {d.name}  [was {_cite((d.location,), old) if d.location else ''}]", "-")
                    for d in diff.definitions_removed]
    for c in diff.definitions_changed:
        where = _cite((c.new.location,), new) if c.new.location else ""
        details = "; ".join(f"{f}: {o or '(none)'} -> {n or '(none)'}" for f, o, n in c.changes)
        definitions.append(paint(f"  ~ {c.kind} {c.name}: {details}  [{where}]", "~"))
    section("Definitions", definitions)
    for note in diff.notes:
        out.append("")
        out.append(f"note: {note}")
    out.append("")
    out.append(f"septum diff: {_headline(diff)}")
    return "\n".join(out) + "\n"


def _span_json(span: Span | None, info: SideInfo) -> dict | None:
    if span is None:
        return None
    return {"file": _display_file(span.file, info), "line": span.line, "column": span.column}


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
    return {"check": verdict.check, "code": verdict.code, "message": _message(verdict.message, info),
            "status": verdict.status,
            "locations": [_span_json(s, info) for s in verdict.locations]}


def _definition_json(definition: Definition, info: SideInfo) -> dict:
    return {"kind": definition.kind, "name": definition.name, "fields": dict(definition.fields),
            "location": _span_json(definition.location, info)}


def to_json(diff: PolicyDiff, exit_zero: bool = False) -> dict:
    """The JSON document of docs/diff.md (version 1)."""
    from .render import diagnostic_json

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
            s: [diagnostic_json(_relocated(d, info)) for d in diff.errors.get(s) or []]
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
            "changed": [{"check": c.check, "code": c.code, "message": _message(c.new.message, diff.new),
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


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(diff: PolicyDiff, limit: int = 200) -> str:
    """A summary fit for a pull-request comment: a table of counts, then ```diff blocks."""
    old, new = diff.old, diff.new
    out = [f"### Septum: semantic diff of `{old.label}` → `{new.label}`", ""]
    if diff.has_errors:
        out.append("**The policy cannot be compared: input errors.**")
        out.append("")
        out.append("```")
        out.append(render_errors(diff).rstrip("\n"))
        out.append("```")
        return "\n".join(out) + "\n"
    if diff.empty:
        out.append("No semantic change: the same flows are allowed, the same data reaches the same zones, "
                   "and every verdict is unchanged.")
        for note in diff.notes:
            out += ["", f"_Note: {_md(note)}_"]
        return "\n".join(out) + "\n"
    c = diff.counts()
    out += ["| | added | removed | changed |", "|---|--:|--:|--:|",
            f"| flows (source, destination, service) | {c['flows_added']} | {c['flows_removed']} | {c['flows_changed']} |",
            f"| data reaching a zone | {c['reach_added']} | {c['reach_removed']} | — |",
            f"| verdicts (findings) | {c['verdicts_added']} | {c['verdicts_removed']} | {c['verdicts_changed']} |",
            f"| definitions | {c['definitions_added']} | {c['definitions_removed']} | {c['definitions_changed']} |"]

    def block(title: str, lines: list[str]) -> None:
        if not lines:
            return
        shown = lines[:limit]
        out.extend(["", f"#### {title}", "", "```diff", *shown, "```"])
        if len(lines) > limit:
            out.append(f"_…and {len(lines) - limit} more (see `septum diff --format json`)._")

    block("Flows", [f"+ {_flow_line(e, e.facts, sources)}  # {_cite(e.facts.rules, new)}{_covered_words(e, 'already')}"
                    for sources, e in _grouped(diff.flows_added)]
          + [f"- {_flow_line(e, e.facts, sources)}  # was {_cite(e.facts.rules, old)}{_covered_words(e, 'still')}"
             for sources, e in _grouped(diff.flows_removed)]
          + [line for ch in diff.flows_changed for line in (
              f"- {_flow_line(ch, ch.old)}  # was {_cite(ch.old.rules, old)}",
              f"+ {_flow_line(ch, ch.new)}  # {_cite(ch.new.rules, new)}")])
    block("Data reaching zones",
          [f"+ {r.datatype} reaches {r.place_kind} {r.place}"
           f"{'' if r.cleared or r.place_kind != 'zone' else ' (not cleared to hold it)'}  # {_cite(r.rules, new)}"
           for r in diff.reach_added]
          + [f"- {r.datatype} reaches {r.place_kind} {r.place}  # was {_cite(r.rules, old)}" for r in diff.reach_removed])
    block("Verdicts",
          [f"+ {_verdict_text(v, new)}  # {_cite(v.locations, new)}" for v in diff.verdicts_added]
          + [f"- {_verdict_text(v, old)}  # was {_cite(v.locations, old)}" for v in diff.verdicts_removed]
          + [line for ch in diff.verdicts_changed for line in (
              f"- {_verdict_text(ch.old, old)}", f"+ {_verdict_text(ch.new, new)}  # {_cite(ch.new.locations, new)}")])
    block("Definitions",
          [f"+ {d.kind} {d.name}" for d in diff.definitions_added]
          + [f"- {d.kind} {d.name}" for d in diff.definitions_removed]
          + [f"! {ch.kind} {ch.name}: " + "; ".join(f"{f}: {o or '(none)'} -> {n or '(none)'}" for f, o, n in ch.changes)
             for ch in diff.definitions_changed])
    for note in diff.notes:
        out += ["", f"_Note: {_md(note)}_"]
    return "\n".join(out) + "\n"


__all__ = [
    "DiffInputError", "PolicyDiff", "SideInfo", "compare", "diff_paths", "diff_revisions", "render_human",
    "render_json", "render_markdown", "summarize", "to_json",
]
