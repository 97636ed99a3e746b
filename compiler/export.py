"""The intent graph as Graphviz DOT or JSON: deterministic, every edge citing its `allow` line."""

from __future__ import annotations

import json

import networkx as nx


def _dot_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _edges(graph: nx.MultiDiGraph):
    return sorted(graph.edges(keys=True, data=True), key=lambda e: (e[2], e[0], e[1]))


_SHAPES = {"zone": "box", "host": "ellipse", "address": "note"}


def graph_dot(graph: nx.MultiDiGraph) -> str:
    lines = ["digraph septum {", "  rankdir=LR;", "  node [fontname=Helvetica];"]
    for node in sorted(graph.nodes):
        data = graph.nodes[node]
        attributes = [f"shape={_SHAPES.get(data.get('kind'), 'box')}"]
        if data.get("holds"):
            attributes.append(f"label={_dot_string(node + chr(10) + 'holds ' + ', '.join(data['holds']))}")
        if data.get("trust") == "untrusted":
            attributes.append("color=red")
        lines.append(f"  {_dot_string(node)} [{', '.join(attributes)}];")
    for source, destination, key, data in _edges(graph):
        label = ", ".join(data["services"])
        if data["datatypes"]:
            label += f" [{', '.join(data['datatypes'])}]"
        span = data["span"]
        attributes = [f"label={_dot_string(label)}", f"tooltip={_dot_string(f'{span.file}:{span.line}')}"]
        if data["datatypes"] and not data["encrypted"]:
            attributes.append("style=dashed")
        lines.append(f"  {_dot_string(source)} -> {_dot_string(destination)} [{', '.join(attributes)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _span(span) -> dict:
    return {"file": span.file, "line": span.line, "column": span.column}


def graph_json(graph: nx.MultiDiGraph) -> str:
    nodes = []
    for node in sorted(graph.nodes):
        data = dict(graph.nodes[node])
        entry = {"id": node, "kind": data.pop("kind", "zone")}
        span = data.pop("span", None)
        entry.update({k: list(v) if isinstance(v, tuple) else v for k, v in sorted(data.items())})
        if span is not None:
            entry["span"] = _span(span)
        nodes.append(entry)
    edges = [
        {
            "source": source,
            "target": destination,
            "flow": key,
            "services": list(data["services"]),
            "datatypes": list(data["datatypes"]),
            "encrypted": data["encrypted"],
            "log": data["log"],
            "justification": data["justification"],
            "span": _span(data["span"]),
        }
        for source, destination, key, data in _edges(graph)
    ]
    return json.dumps({"version": 1, "nodes": nodes, "edges": edges}, indent=2) + "\n"
