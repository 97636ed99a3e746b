"""The entry points: the diff of two paths, and of a path at two git revisions."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import os
import tempfile
from collections import Counter
from pathlib import Path

from .canonical import model_of
from .compare import compare
from .flows import focus_of
from .fork import in_child
from .git import materialise, repository
from .records import DiffInputError, PolicyDiff, SideInfo
from .sides import ParseCache, load_side, location
from .summary import analyse


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
        where = location(Path(path))
        if info.prefix is None:
            prefix = info.path if where.target == "." else os.path.dirname(info.path)
            info = dataclasses.replace(info, prefix=prefix)
        sides.append((where, info))
    (old_location, old_info), (new_location, new_info) = sides
    cache = ParseCache()
    old_result = load_side(old_location, cache)
    new_result = load_side(new_location, cache)
    del cache
    options = {"as_of": as_of, "disabled": disabled, "verify": verify}
    old_definitions = new_definitions = None
    if _readable(old_result) and _readable(new_result):
        collecting = gc.isenabled()
        gc.disable()
        try:
            old_definitions, old_key, old_flows = model_of(old_result.policy)
            new_definitions, new_key, new_flows = model_of(new_result.policy)
            options["verdicts"] = old_key != new_key
            if incremental and old_key[0] == new_key[0]:  # same definitions: only `allow`s that differ matter
                counts = Counter(old_flows)
                counts.subtract(Counter(new_flows))
                changed = {flow for flow, count in counts.items() if count}
                options["focus"] = focus_of([
                    (result.policy, [f for f, c in zip(result.policy.flows, canon) if c in changed])
                    for result, canon in ((old_result, old_flows), (new_result, new_flows))])
        finally:
            if collecting:
                gc.enable()
    if parallel is None:
        parallel = options.get("verdicts", True) and verify and _worth_forking(old_result)
    if parallel and hasattr(os, "fork"):
        pending = in_child(lambda: analyse(old_result, old_info, definitions=old_definitions, **options))
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
