"""Verdicts: the findings of `septum check` and of verification, keyed by meaning, not by line.

A finding is keyed by (check, code, message). A message that quotes another statement's position
(`file.septum:12`) is keyed by that statement's canonical text instead, or, when a check names one
of several equal statements, by the statement the finding is at.
"""

from __future__ import annotations

import bisect
import itertools
import re

from ..diagnostics import Diagnostic
from ..model import Span
from .canonical import identity
from .records import Verdict


def verification(policy, as_of, disabled, notes: list[str]) -> list[Diagnostic]:
    try:
        from ..verify import verify
    except ImportError as error:  # verification not available in this build
        notes.append(f"verification verdicts not compared: {error}")
        return []
    try:
        return list(verify(policy, as_of=as_of, disabled=frozenset(disabled)))
    except ImportError as error:
        notes.append(f"verification verdicts not compared: {error}")
        return []


def _status(diagnostic: Diagnostic) -> str:
    if diagnostic.waived_by is not None:
        return "waived"
    return diagnostic.severity.value


POSITION = re.compile(r"((?:<septum>/)?[^\s:'\"()\[\]]+\.septum):(\d+)(?::(\d+))?")


def verdicts_of(findings: list[Diagnostic], policy) -> dict[tuple, Verdict]:
    grouped: dict[tuple, list[Diagnostic]] = {}
    statements = _StatementIndex(policy)
    for finding in findings:
        message = finding.message
        if POSITION.search(message) and finding.span is not None:
            # The message points at other statements by position (`redundant: the flow at f:12
            # already allows this`). Which other statement a check names among equals can depend
            # on the order of statements; the verdict is about the statement the finding is at.
            message = f"[{statements.at(finding.span)}]"
        elif POSITION.search(message):
            message = POSITION.sub(statements.replace, message)
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
        self.by_file: dict[str, tuple] | None = None

    def _build(self) -> dict[str, tuple]:
        """Per file: its statements by position, their starts, and the furthest end so far (for bisection)."""
        entries_of: dict[str, list] = {}
        for source in self.policy.files:
            for statement in source.statements:
                span = statement.span
                entries_of.setdefault(span.file, []).append(
                    ((span.line, span.column), (span.end_line, span.end_column), statement))
        by_file = {}
        for file, entries in entries_of.items():
            entries.sort(key=lambda e: (e[0], e[1]))
            starts = [start for start, _, _ in entries]
            furthest = list(itertools.accumulate((end for _, end, _ in entries), max))
            furthest_line = list(itertools.accumulate((end[0] for _, end, _ in entries), max))
            by_file[file] = (entries, starts, [start[0] for start in starts], furthest, furthest_line)
        return by_file

    def _find(self, file: str, line: int, column: int | None):
        """The first statement (by position) that the position is inside (with no column: the line)."""
        if self.by_file is None:
            self.by_file = self._build()
        found = self.by_file.get(file)
        if found is None:
            return None
        entries, starts, start_lines, furthest, furthest_line = found
        if column is None:  # statements starting on or before the line, the first one reaching it
            begun = bisect.bisect_right(start_lines, line)
            first = bisect.bisect_left(furthest_line, line, 0, begun)
        else:
            begun = bisect.bisect_right(starts, (line, column))
            first = bisect.bisect_left(furthest, (line, column), 0, begun)
        return entries[first][2] if first < begun else None

    def replace(self, match: re.Match) -> str:
        statement = self._find(match.group(1), int(match.group(2)), int(match.group(3)) if match.group(3) else None)
        return match.group(0) if statement is None else f"[{identity(statement)}]"

    def at(self, span: Span) -> str:
        statement = self._find(span.file, span.line, span.column)
        return f"{span.file}:{span.line}" if statement is None else identity(statement)
