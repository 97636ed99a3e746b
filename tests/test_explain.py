"""`septum explain`: verdicts decided by packets, carve-outs named, lateral paths that end where
they say."""

from __future__ import annotations

import json

from conftest import run_septum, write_tree
from helpers import load

from septum.compiler.explain import explain, render_json, render_text

POLICY = """
service https { tcp 443; encrypted }
service web { tcp 443 }
service ssh { tcp 22; encrypted }
zone a { networks 10.0.1.0/24 }
zone c { networks 10.0.3.0/24 }
zone b { networks 10.0.2.0/24 }
zone m { networks 10.0.4.0/24 }
host h1 in b { address 10.0.2.10 }
host h2 in b { address 10.0.2.11 }
host h3 in b { address 10.0.2.12 }
host m1 in m { address 10.0.4.1 }
host m2 in m { address 10.0.4.2 }
group clients = a, c
allow a -> h1 : https
allow c -> h2 : web
allow c -> h3 : https
allow clients -> h3 : https except from a
"""


def _explain(tmp_path, *args, extra=""):
    policy = load(tmp_path, {"p.septum": POLICY + extra}).policy
    e = explain(policy, *args)
    return e, render_text(e), json.loads(render_json(e))


def test_address_of_a_host_gets_the_hosts_verdict(tmp_path):
    by_name, by_name_text, _ = _explain(tmp_path, "a", "h1", "https")
    by_address, text, data = _explain(tmp_path, "a", "10.0.2.10", "https")
    assert by_name.allowed and by_address.allowed
    assert text.splitlines()[0] == "a -> 10.0.2.10 : https: ALLOWED"
    assert "partly" not in text and "reachable" not in text
    assert [r.partial for r in by_address.rules] == [r.partial for r in by_name.rules] == [None]
    assert data["allowed"] and data["verdict"] == "allowed" and data["path"] == []
    # the source as an address, and no service: still the same pair
    assert explain(by_address_policy(tmp_path), "10.0.1.7", "10.0.2.10").allowed


def by_address_policy(tmp_path, extra=""):
    return load(tmp_path / "again", {"p.septum": POLICY + extra}).policy


def test_part_of_the_address_allowed_is_partly_never_denied_and_reachable(tmp_path):
    e, text, data = _explain(tmp_path, "a", "10.0.2.10/31", "https")
    assert not e.allowed and e.verdict == "partly"
    assert text.splitlines()[0] == "a -> 10.0.2.10/31 : https: PARTLY ALLOWED"
    assert "[partly: a -> h1]" in text
    assert "DENIED" not in text and "reachable" not in text
    assert data["verdict"] == "partly" and not data["allowed"] and data["rules"][0]["partial"] == "a -> h1"
    zone, text, _ = _explain(tmp_path / "zone", "a", "b", "https")
    assert zone.verdict == "partly" and "reachable" not in text


def test_rules_together_may_allow_the_whole_address(tmp_path):
    extra = "allow a -> h2 : https\n"
    e, text, _ = _explain(tmp_path, "a", "10.0.2.10/31", "https", extra=extra)
    assert e.allowed and text.splitlines()[0].endswith(": ALLOWED")
    assert sorted(r.partial for r in e.rules) == ["a -> h1", "a -> h2"]


def test_service_judged_by_its_packets(tmp_path):
    # `web` is tcp 443 like https: the rule allows https's packets under another name
    e, text, _ = _explain(tmp_path, "c", "h2", "https")
    assert e.allowed and "allow c -> h2 : web" in text
    assert not explain(by_address_policy(tmp_path), "c", "h2", "ssh").allowed


def test_carve_out_that_removes_the_pair_is_named(tmp_path):
    e, text, data = _explain(tmp_path, "a", "h3", "https")
    assert not e.allowed and e.verdict == "denied" and e.rules == []
    where = f"{tmp_path / 'p.septum'}:18"
    assert "carved out:" in text
    assert f"{where}  allow clients -> h3 : https except from a  [removed by except from a ({where})]" in text
    [carved] = data["carved_out"]
    assert carved["location"]["line"] == 18 and carved["carve_outs"][0]["carve_out"] == "except from a"
    assert carved["carve_outs"][0]["location"]["line"] == 18
    # the same rule still allows c, and by address
    assert explain(by_address_policy(tmp_path), "10.0.3.0/24", "h3", "https").allowed


def test_carve_out_that_removes_part_of_the_pair_is_named(tmp_path):
    extra = "allow b -> m : ssh except from h1\n"
    e, text, data = _explain(tmp_path, "b", "m", "ssh", extra=extra)
    where = f"{tmp_path / 'p.septum'}:19"
    assert e.verdict == "partly" and text.splitlines()[0] == "b -> m : ssh: PARTLY ALLOWED"
    assert f"except from h1  [partly: b -> m, less except from h1 ({where})]" in text
    assert data["rules"][0]["carve_outs"][0]["carve_out"] == "except from h1"
    assert explain(by_address_policy(tmp_path, extra), "h2", "m", "ssh").allowed


def test_without_service_every_address_pair_needs_some_allowed_service(tmp_path):
    extra = "allow b -> m1 : https except from h1\nallow h1 -> m1 : ssh\n"
    e, text, _ = _explain(tmp_path, "b", "m1", extra=extra)
    assert e.allowed and text.splitlines()[0] == "b -> m1: ALLOWED"
    assert explain(by_address_policy(tmp_path, extra), "b", "m1", "https").verdict == "partly"
    assert explain(by_address_policy(tmp_path / "x", extra), "b", "10.0.4.0/31").verdict == "partly"


def test_lateral_path_ends_in_the_destination_zone_and_hops_match_the_chain(tmp_path):
    extra = "zone x { networks 10.0.5.0/24 }\nallow x -> m1 : ssh\nallow m2 -> h1 : ssh\n"
    e, text, data = _explain(tmp_path, "x", "h2", "https", extra=extra)
    assert e.verdict == "denied"
    assert "but reachable in 2 hops: x -> m -> b" in text
    where = tmp_path / "p.septum"
    assert f"    {where}:20  x -> m1 : ssh  (zone x -> m)" in text
    assert f"    {where}:21  m2 -> h1 : ssh  (zone m -> b)" in text
    assert "    ends in zone b, where h2 is (traffic inside a zone is not filtered)" in text
    assert data["path_end"] == "ends in zone b, where h2 is (traffic inside a zone is not filtered)"
    assert [(h["source_zone"], h["destination_zone"]) for h in data["path"]] == [("x", "m"), ("m", "b")]
    assert [(h["source"], h["destination"]) for h in data["path"]] == [("x", "m1"), ("m2", "h1")]


def test_lateral_path_prefers_a_last_hop_onto_the_destination(tmp_path):
    extra = "zone x { networks 10.0.5.0/24 }\nallow x -> m1 : ssh\nallow m2 -> h1 : ssh\nallow m2 -> h2 : ssh\n"
    e, text, _ = _explain(tmp_path, "x", "h2", "https", extra=extra)
    assert [(s.hop.source, s.hop.destination) for s in e.path] == [("x", "m1"), ("m2", "h2")]
    assert "but reachable in 2 hops: x -> m -> b" in text and "ends in zone" not in text


def test_cli_verdicts_and_exit_codes(tmp_path):
    write_tree(tmp_path, {"p.septum": POLICY})
    allowed = run_septum("explain", "a", "10.0.2.10", "https", "--path", str(tmp_path))
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout.splitlines()[0] == "a -> 10.0.2.10 : https: ALLOWED"
    partly = run_septum("explain", "a", "10.0.2.10/31", "https", "--path", str(tmp_path), "--format", "json")
    assert partly.returncode == 1 and json.loads(partly.stdout)["verdict"] == "partly"
    carved = run_septum("explain", "a", "h3", "https", "--path", str(tmp_path))
    assert carved.returncode == 1 and "removed by except from a" in carved.stdout
    unknown = run_septum("explain", "a", "h9", "--path", str(tmp_path))
    assert unknown.returncode == 2 and "'h9' is not a zone, host or address" in unknown.stderr
