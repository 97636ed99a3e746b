"""The disk cache of parsed files: a warm load is exactly a cold one, and nothing about the
cache (corrupt, stale, unwritable, switched off) ever changes a result or fails a command."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

import synthetic
from conftest import ROOT
from septum.compiler import load_policy, parse_cache, parser
from septum.compiler.parser import parse_text

GOOD = """
datatype ephi { sensitivity restricted }
service https { tcp 443; encrypted }
zone a { networks 10.0.1.0/24; holds ephi; tags site-1 }   # a comment
zone b { networks 10.0.2.0/24, fd00:2::/64; vlan 7; trust restricted }
host h in a { address 10.0.1.9; tags server }
group g = tag:site-1, b
allow a, 10.0.2.0/24 -> zones holding ephi : https carrying ephi except from h log "ticket \\"NET-1\\""
assert lbl: no path from b to a within 3 hops "why"
waive lbl for b -> a until 2027-01-31 "legacy, PO-1"
firewall fw nftables { interface eth0.1 zone a; port 3 zone b }
"""

BROKEN = """
zone a { networks 10.0.1.0/33; vlan 5000 }
zone b { networks 10.0.2.0/24 trust sideways }
allow a -> b : https, @ ssh
allow a -> -> b : ssh
host h in a { address 10.0.1.1; address 10.0.1.2 }
waive "x" for a -> b until 2027-02-30 "r"
waive "y" for a -> b until 2027-01-31 ""
zone d { networks 10.0.4.0/24; vlan 4; vlan 5 }
zone c { "unclosed
"""


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private cache that takes every file, however small."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("SEPTUM_CACHE_DIR", str(folder))
    monkeypatch.delenv("SEPTUM_NO_CACHE", raising=False)
    monkeypatch.setattr(parser, "CACHE_MIN_BYTES", 0)
    return folder / "parse"


def entries(folder: Path, suffix: str = ".pickle") -> list[Path]:
    return sorted(folder.glob(f"*{suffix}")) if folder.is_dir() else []


def same(a: tuple, b: tuple) -> None:
    """Equal in every way the rest of Septum could tell."""
    (source_a, diagnostics_a, broken_a), (source_b, diagnostics_b, broken_b) = a, b
    assert source_a == source_b and repr(source_a) == repr(source_b) and hash(source_a) == hash(source_b)
    assert [s.model_fields_set for s in source_a.statements] == [s.model_fields_set for s in source_b.statements]
    assert diagnostics_a == diagnostics_b and repr(diagnostics_a) == repr(diagnostics_b)
    assert broken_a == broken_b


@pytest.mark.parametrize("text", [GOOD, BROKEN], ids=["good", "broken"])
def test_warm_parse_is_the_cold_parse(cache, text):
    cold = parse_text("p/f.septum", text)
    assert entries(cache) == [] and len(entries(cache, ".seen")) == 1  # first parse: a marker only
    second = parse_text("p/f.septum", text)
    assert len(entries(cache)) == 1 and entries(cache, ".seen") == []  # second: the entry
    warm = parse_text("p/f.septum", text)
    same(cold, second)
    same(cold, warm)
    assert warm[0] is not cold[0]  # read back, not kept in memory
    if text is BROKEN:
        assert {d.code for d in warm[1]} >= {"E001", "E002", "E003", "E101", "E106", "E107", "E109", "E112", "E206"}


def test_warm_policy_load_is_the_cold_one(cache, tmp_path):
    policy = tmp_path / "policy"
    synthetic.generate(policy, zones=60, flows=400)
    (policy / "broken.septum").write_text(BROKEN)
    cold = load_policy(policy)
    load_policy(policy)
    assert entries(cache)
    warm = load_policy(policy)
    assert warm.diagnostics == cold.diagnostics
    assert warm.policy.files == cold.policy.files
    assert sorted(warm.graph.edges(data="services")) == sorted(cold.graph.edges(data="services"))


def test_the_path_as_given_is_part_of_the_key(cache):
    parse_text("a.septum", GOOD)
    parse_text("a.septum", GOOD)
    source, _, _ = parse_text("b.septum", GOOD)
    assert {s.span.file for s in source.statements} == {"b.septum"}


def test_editing_a_file_invalidates(cache):
    for _ in range(2):
        parse_text("f.septum", GOOD)
    edited = GOOD.replace("10.0.2.0/24,", "10.0.3.0/24,")
    source, _, _ = parse_text("f.septum", edited)
    zone_b = next(s for s in source.statements if getattr(s, "name", None) == "b")
    assert zone_b.networks[0].cidr == "10.0.3.0/24"
    same(parse_text("f.septum", edited), parse_cache.load("f.septum", edited) or ())


def test_code_changes_invalidate(cache, monkeypatch):
    for _ in range(2):
        parse_text("f.septum", GOOD)
    assert parse_cache.load("f.septum", GOOD) is not None
    monkeypatch.setattr(parse_cache, "_salt", lambda: b"another version of Septum")
    assert parse_cache.load("f.septum", GOOD) is None


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty", "other-pickle", "wrong-shape"])
def test_a_corrupt_entry_is_reparsed_and_replaced(cache, damage):
    cold = parse_text("f.septum", BROKEN)
    parse_text("f.septum", BROKEN)
    [entry] = entries(cache)
    data = entry.read_bytes()
    header = len(parse_cache._MAGIC) + parse_cache._CHECK
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data = data[:-40] + bytes([data[-40] ^ 0x01]) + data[-39:]
    elif damage == "garbage":
        data = os.urandom(len(data))
    elif damage == "empty":
        data = b""
    else:  # a well-formed entry, checksum and all, that is not a parse
        payload = pickle.dumps({"not": "a parse"} if damage == "wrong-shape" else (1, 2, 3))
        data = parse_cache._MAGIC + zlib.crc32(payload).to_bytes(parse_cache._CHECK, "big") + payload
    entry.write_bytes(data)
    assert len(data) < header or parse_cache.load("f.septum", BROKEN) is None
    same(parse_text("f.septum", BROKEN), cold)
    same(parse_cache.load("f.septum", BROKEN), cold)  # replaced at once


def test_an_entry_cannot_run_code(cache, tmp_path):
    parse_text("f.septum", GOOD)
    parse_text("f.septum", GOOD)
    [entry] = entries(cache)
    planted = tmp_path / "planted"

    class Exploit:
        def __reduce__(self):
            return os.system, (f"touch {planted}",)

    payload = pickle.dumps(Exploit())
    entry.write_bytes(parse_cache._MAGIC + zlib.crc32(payload).to_bytes(parse_cache._CHECK, "big") + payload)
    source, diagnostics, _ = parse_text("f.septum", GOOD)
    assert not planted.exists()
    assert diagnostics == [] and len(source.statements) == 10


def test_no_cache(cache, monkeypatch):
    monkeypatch.setenv("SEPTUM_NO_CACHE", "1")
    for _ in range(3):
        parse_text("f.septum", GOOD)
    assert not cache.exists()


def test_small_files_are_not_cached(cache, monkeypatch):
    monkeypatch.setattr(parser, "CACHE_MIN_BYTES", len(GOOD) + 1)
    for _ in range(3):
        parse_text("f.septum", GOOD)
    assert not cache.exists()


def test_an_unwritable_cache_changes_nothing(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("SEPTUM_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setattr(parser, "CACHE_MIN_BYTES", 0)
    results = [parse_text("f.septum", BROKEN) for _ in range(3)]
    same(results[0], results[2])


def test_prune_drops_old_entries_then_the_least_recently_used(cache, monkeypatch):
    cache.mkdir(parents=True)
    now = time.time()
    ages = {"old": 40, "stale-marker": 31, "a": 3, "b": 2, "c": 1}
    for name, days in ages.items():
        path = cache / (f"{name}.seen" if "marker" in name else f"{name}.pickle")
        path.write_bytes(b"x" * 1000)
        os.utime(path, (now - days * 86400, now - days * 86400))
    interrupted = cache / ".c.pickle.tmp123"
    interrupted.write_bytes(b"x")
    os.utime(interrupted, (now - 7200, now - 7200))
    unrelated = cache / "notes.txt"
    unrelated.write_text("kept")
    monkeypatch.setattr(parse_cache, "MAX_BYTES", 2000)
    parse_cache.prune(cache, now)
    assert sorted(p.name for p in cache.iterdir()) == ["b.pickle", "c.pickle", "notes.txt"]


def test_cli_cold_and_warm_runs_agree(tmp_path):
    """The real thing: files over the size threshold, three runs of `septum check`."""
    policy = tmp_path / "policy"
    synthetic.generate(policy, zones=300, flows=3000)
    assert max(p.stat().st_size for p in policy.glob("*.septum")) >= parser.CACHE_MIN_BYTES
    (policy / "flows-001.septum").write_text((policy / "flows-001.septum").read_text() + "allow a -> : x\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST") and k != "SEPTUM_NO_CACHE"}
    env["SEPTUM_CACHE_DIR"] = str(tmp_path / "cache")
    runs = [subprocess.run([sys.executable, "-m", "septum", "check", str(policy), "--no-verify"], cwd=ROOT,
                           capture_output=True, text=True, env=env, timeout=120) for _ in range(3)]
    assert entries(tmp_path / "cache" / "parse")
    assert runs[0].returncode == 2 and "E001" in runs[0].stdout
    first = (runs[0].returncode, runs[0].stdout, runs[0].stderr)
    assert [(r.returncode, r.stdout, r.stderr) for r in runs[1:]] == [first, first]
