"""The Python API: load a policy tree, get diagnostics, the resolved model and the intent graph."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .checks import run_checks
from .collector import paused
from .diagnostics import Diagnostic, exit_status
from .loader import load_files
from .resolve import Policy, resolve

if TYPE_CHECKING:
    import networkx as nx


@dataclass
class LoadResult:
    """Everything `septum check` knows about a policy tree."""

    path: Path
    policy: Policy | None
    diagnostics: list[Diagnostic]
    texts: dict[str, str]
    timings: dict[str, float] = field(default_factory=dict)
    graph: "nx.MultiDiGraph | None" = None

    @property
    def ok(self) -> bool:
        return not any(d.severity.value == "error" for d in self.diagnostics)

    def exit_status(self, strict: bool = False) -> int:
        return exit_status(self.diagnostics, strict)


def load_policy(path: str | Path = "zones", *, graph: bool = True) -> LoadResult:
    """Parse, resolve and validate the zone files under `path`; build the intent graph.

    Bad input never raises: it is reported in `LoadResult.diagnostics`. The graph is built
    whenever the policy resolves (even with findings), so tools can still show it.
    """
    path = Path(path)
    with paused(settle_after=True):
        return _load(path, graph)


def _load(path: Path, graph: bool) -> LoadResult:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    if not path.exists():
        raise FileNotFoundError(path)
    loaded = load_files(path)
    timings["parse"] = time.perf_counter() - started

    started = time.perf_counter()
    policy, diagnostics = resolve(loaded.files, loaded.modules, loaded.broken_names)
    diagnostics = loaded.diagnostics + diagnostics
    if not any(d.exit_class == "input" for d in diagnostics):
        diagnostics += run_checks(policy)
    else:
        diagnostics += [d for d in run_checks(policy) if d.exit_class != "warning"]
    diagnostics.sort(key=Diagnostic.sort_key)
    timings["resolve"] = time.perf_counter() - started

    result = LoadResult(path, policy, diagnostics, loaded.texts, timings)
    if graph:
        from .graph import build_graph

        started = time.perf_counter()
        result.graph = build_graph(policy)
        timings["graph"] = time.perf_counter() - started
    return result


def build_graph(policy: Policy) -> "nx.MultiDiGraph":
    """The intent graph of a resolved policy (see `septum.compiler.graph`)."""
    from .graph import build_graph as build

    return build(policy)


__all__ = ["LoadResult", "build_graph", "load_policy"]
