"""The records of a semantic diff: what each side contributes and what the diff reports."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..diagnostics import Diagnostic
from ..model import Span

JSON_SCHEMA_VERSION = 1
BUILTIN_PREFIX = "<septum>/"

EXIT_SAME = 0
EXIT_CHANGED = 1
EXIT_INPUT = 2


class DiffInputError(Exception):
    """A side cannot be read: a missing path, a bad revision, not a git repository."""


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
    flows: dict[tuple[str, str, str], tuple] = field(default_factory=dict)  # raw facts, see flows.fold
    kinds: dict[str, str] = field(default_factory=dict)
    zone_of: dict[str, str] = field(default_factory=dict)  # host -> its zone
    reach: dict[tuple[str, str], ReachEntry] = field(default_factory=dict)
    verdicts: dict[tuple, Verdict] = field(default_factory=dict)
    definitions: dict[tuple[str, str], Definition] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class SideFacts:
    """What a side says before the sides are compared (plain data: picklable, sent by a forked side).

    `model` is the side's model key (`canonical.model_of`), or its digest when the side was
    analysed in another process: equal, the same model but for positions and documentation, so
    neither flows nor verdicts can differ (definitions are still compared: one may have moved
    into a catalogue module, which is not reported).
    """

    info: SideInfo
    errors: list[Diagnostic] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)
    model: object = None
    definitions: dict[tuple[str, str], Definition] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    zone_of: dict[str, str] = field(default_factory=dict)  # host -> its zone
    zones: frozenset[str] = frozenset()
    holds: dict[str, frozenset[str]] = field(default_factory=dict)  # zone -> the data types it holds


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
