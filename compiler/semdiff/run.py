"""The entry points: the diff of two paths, and of a path at two git revisions."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import tempfile
from pathlib import Path

from .canonical import model_digest
from ..collector import paused
from .compare import compare
from .focus import flow_tables, local_flow_tables
from .git import materialise, repository
from .load import Location, ParseCache, location
from .records import DiffInputError, PolicyDiff, SideInfo
from .spare import IdleMeter, cpu_count
from .summary import Shared, summary_of
from .workers import ForkedSide, LocalSide


def diff_paths(old: str | Path, new: str | Path, *, as_of: dt.date | None = None,
               disabled: frozenset[str] | set[str] = frozenset(),
               old_info: SideInfo | None = None, new_info: SideInfo | None = None,
               verify: bool = True, parallel: bool | None = None, incremental: bool = True) -> PolicyDiff:
    """The semantic diff of the policies under two paths (directories of zone files, or files).

    `verify=False` leaves verification out (only the findings of `septum check` are compared).
    `parallel`: analyse the two sides in two processes (None: when the policy is large, the
    machine has two CPUs and `os.fork` exists). Files equal on both sides are parsed once, and
    when both sides are the same model (reordered, moved, reformatted) neither is verified.
    `incremental`: compute only the triples and reach entries of the `allow`s whose contribution
    differs between the sides (and whatever else covers the same ones); False computes every
    triple and reach entry (the same result).
    """
    as_of = as_of or dt.date.today()
    disabled = frozenset(disabled)
    for name, path in (("OLD", old), ("NEW", new)):
        if not Path(path).exists():
            raise DiffInputError(f"{name} path {path} does not exist")
    sides = []
    for path, info in ((old, old_info), (new, new_info)):
        info = info or SideInfo(str(path))
        where = location(Path(path))
        if info.prefix is None:
            prefix = info.path if where.target == "." else os.path.dirname(info.path)
            info = dataclasses.replace(info, prefix=prefix)
        sides.append((where, info))
    (old_location, old_info), (new_location, new_info) = sides
    options = {"as_of": as_of, "disabled": disabled, "verify": verify}
    return _diff(old_location, old_info, new_location, new_info, options, parallel, incremental)


def _diff(old_location: Location, old_info: SideInfo, new_location: Location, new_info: SideInfo,
          options: dict, parallel: bool | None, incremental: bool) -> PolicyDiff:
    meter = IdleMeter()
    cache = ParseCache()
    with paused(settle_after=True):  # the parsed files are kept, like a load's model
        size = cache.parse_common(old_location, new_location)
    if parallel is None:
        parallel = _worth_forking(size, meter)
    shared = Shared()
    local = not (parallel and hasattr(os, "fork"))
    old_side = LocalSide(old_location, old_info, cache, options, shared) if local else \
        ForkedSide(old_location, old_info, cache, options)
    try:
        new_side = LocalSide(new_location, new_info, cache, options, shared if local else Shared())
        del cache
        with paused():
            return _compared(old_side, new_side, shared, local, incremental)
    finally:
        old_side.close()


def _compared(old_side, new_side, shared: Shared, local: bool, incremental: bool) -> PolicyDiff:
    """The diff of two loaded sides (the OLD one perhaps in another process)."""
    if local and old_side.result.policy is not None and new_side.result.policy is not None:
        shared.share(old_side.result.policy, new_side.result.policy)
    old, new = old_side.facts(), new_side.facts()
    readable = not old.errors and not new.errors
    wanted = readable and not _same_model(old.model, new.model)  # the same model: no verdict can differ
    old_side.ask(wanted)
    new_side.ask(wanted)
    tables = (({}, {}), ({}, {}))  # the same model (or unreadable): no flow can differ
    if wanted and local and incremental and old.model[0] == new.model[0]:  # the same definitions
        tables = local_flow_tables(old_side.result.policy, new_side.result.policy, shared.both, new.zone_of,
                                   shared.sets, shared.canonical)
    elif wanted:
        old_flows = old_side.contributions()
        tables = flow_tables(old_flows, new_side.contributions(), old.zone_of, new.zone_of, incremental)
        del old_flows
    new_verdicts = new_side.verdicts()
    old_verdicts = old_side.verdicts()
    (old_triples, old_reach), (new_triples, new_reach) = tables
    return compare(summary_of(old, old_triples, old_reach, *old_verdicts),
                   summary_of(new, new_triples, new_reach, *new_verdicts))


def _same_model(old, new) -> bool:
    """Equal model keys (`canonical.model_of`); a side analysed in another process sends a digest."""
    if isinstance(old, bytes) or isinstance(new, bytes):
        old, new = (key if isinstance(key, bytes) else model_digest(key) for key in (old, new))
    return old == new


PARALLEL_BYTES = 150_000  # zone text of the OLD side (about 2,000 flows); below this a fork costs more than it saves


def _worth_forking(size: int, meter: IdleMeter) -> bool:
    """Analyse OLD in a second process only for a large policy and with a CPU to spare.

    `SEPTUM_DIFF_JOBS=1` never forks, `SEPTUM_DIFF_JOBS=2` always does (a large policy or not).
    """
    jobs = os.environ.get("SEPTUM_DIFF_JOBS", "").strip()
    if jobs.isdigit():
        return int(jobs) > 1
    return size >= PARALLEL_BYTES and cpu_count() > 1 and meter.spare() >= 0.8


def diff_revisions(path: str | Path = "zones", base: str = "HEAD", head: str | None = None, *,
                   as_of: dt.date | None = None, disabled: frozenset[str] | set[str] = frozenset(),
                   verify: bool = True, parallel: bool | None = None) -> PolicyDiff:
    """The semantic diff of `path` as of git revision `base` against `head` (default: the working tree)."""
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="septum-diff-") as scratch:
        repo, relative = repository(path)
        old_root = materialise(repo, base, relative, Path(scratch) / "old")
        if head is None:
            if not path.exists():
                raise DiffInputError(f"{path} does not exist in the working tree")
            new_root = path
        else:
            new_root = materialise(repo, head, relative, Path(scratch) / "new")
        return diff_paths(old_root, new_root, as_of=as_of, disabled=disabled, verify=verify, parallel=parallel,
                          old_info=SideInfo(str(path), base), new_info=SideInfo(str(path), head))
