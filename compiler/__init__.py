"""Septum's compiler: zone files -> model -> intent graph -> verdicts.

The Python API::

    from septum.compiler import load_policy
    result = load_policy("zones")          # parse, resolve, validate
    result.ok, result.diagnostics         # nothing raised for bad input: it is all diagnostics
    graph = result.graph                   # networkx MultiDiGraph, one edge per allowed flow
"""

from .api import LoadResult, build_graph, load_policy

__all__ = ["LoadResult", "build_graph", "load_policy"]
