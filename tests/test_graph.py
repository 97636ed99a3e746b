"""The intent graph API: one edge per allowed flow, with services, data types and source spans."""

from __future__ import annotations

from helpers import load
from septum.compiler import build_graph, load_policy

POLICY = """
datatype ephi { sensitivity restricted }
service https { tcp 443; encrypted }
service dicom { tcp 104; carries ephi }
zone clinws { networks 10.40.0.0/22; tags clinical }
zone kiosk { networks 10.41.0.0/24; tags clinical }
zone ehr { networks 10.20.0.0/24; holds ephi }
zone pacs { networks 10.30.0.0/24; holds ephi }
host archive in pacs { address 10.30.0.10 }
group viewers = tag:clinical
allow viewers -> ehr : https carrying ephi "NET-1"
allow clinws -> archive : dicom log
allow tag:clinical -> pacs : https except from kiosk
allow 198.18.0.0/24 -> ehr : https
"""


def test_edges_per_member_with_attributes(tmp_path):
    result = load(tmp_path, {"p.septum": POLICY})
    assert result.diagnostics == []
    graph = result.graph
    edges = {(u, v): d for u, v, d in graph.edges(data=True)}
    assert set(edges) == {("clinws", "ehr"), ("kiosk", "ehr"), ("clinws", "archive"), ("clinws", "pacs"),
                          ("198.18.0.0/24", "ehr")}
    ehr = edges[("clinws", "ehr")]
    assert ehr["services"] == ("https",) and ehr["datatypes"] == ("ephi",) and ehr["encrypted"]
    assert ehr["justification"] == "NET-1" and ehr["span"].line == 11
    archive = edges[("clinws", "archive")]
    assert archive["datatypes"] == ("ephi",) and not archive["encrypted"] and archive["log"]
    assert graph.nodes["archive"]["kind"] == "host" and graph.nodes["archive"]["zone"] == "pacs"
    assert graph.nodes["198.18.0.0/24"]["kind"] == "address"
    assert graph.nodes["internet"]["trust"] == "untrusted"


def test_build_graph_from_policy(tmp_path):
    result = load(tmp_path, {"p.septum": POLICY})
    again = build_graph(result.policy)
    assert sorted(again.edges(keys=True)) == sorted(result.graph.edges(keys=True))


def test_reference_hospital_graph():
    result = load_policy("zones")
    assert result.ok and result.exit_status() == 0
    graph = result.graph
    zones = [n for n, d in graph.nodes(data=True) if d["kind"] == "zone"]
    assert 16 <= len(zones) <= 21  # 15-20 hospital zones plus the built-in internet
    assert graph.number_of_edges() >= len(result.policy.flows)
    guest = [v for _, v in graph.out_edges("guest")] if "guest" in graph else []
    assert set(guest) <= {"internet", "dmz", "infra", "infrastructure"} | {
        h for h, d in graph.nodes(data=True) if d.get("zone") in ("infra", "infrastructure", "dmz")}
