"""Synthetic policies (tests/synthetic.py) bind every zone on linked nftables firewalls, pass
`septum check` with no topology findings, and compile to deterministic rulesets nft accepts."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import synthetic
from conftest import ROOT
from helpers import require_live

from septum.compiler.api import load_policy
from septum.compiler.devices.topology import topology

SMALL = {"zones": 100, "flows": 600, "seed": 3}  # core + 3 site firewalls
TIERED = {"zones": 400, "flows": 1200, "seed": 5}  # 10 sites: core, 2 distribution, 10 site firewalls
EXPECTED = {"E522", "W521"}  # the synthetic policies' findings by design (docs/performance.md)
IFNAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}")


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(extra)
    return env


def _septum(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "septum", *args], cwd=ROOT, capture_output=True, text=True,
                          env=_env(**env), timeout=300)


def _compile(policy: Path, out: Path, **env: str) -> subprocess.CompletedProcess:
    # verification stays on; only the empty-flow check (E522, by design) is off
    return _septum("compile", str(policy), "--out", str(out), "--disable", "empty-flow", "--format", "json", **env)


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("synthetic-small")
    synthetic.generate(path, **SMALL)
    return path


@pytest.fixture(scope="module")
def tiered(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("synthetic-tiered")
    synthetic.generate(path, **TIERED)
    return path


@pytest.fixture(scope="module")
def compiled(small, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("compiled") / "out"
    return out, _compile(small, out, PYTHONHASHSEED="0")


@pytest.mark.parametrize("which", ["small", "tiered"])
def test_every_zone_bound_once_and_links_both_ways(which, request):
    path = request.getfixturevalue(which)
    policy = load_policy(path, graph=False).policy
    devices = policy.devices
    assert len(devices) >= 3 and {d.backend.value for d in devices.values()} == {"nftables"}
    bound: dict[str, list[str]] = {}
    links: set[tuple[str, str]] = set()
    for name, device in devices.items():
        names = [b.interface for b in device.bindings]
        assert all(n is not None and IFNAME.fullmatch(n) and len(n.encode()) <= 15 for n in names), names
        assert len(names) == len(set(names)), f"interface names repeat on {name}"
        for b in device.bindings:
            if b.zone is not None:
                bound.setdefault(b.zone.name, []).append(name)
            else:
                links.add((name, b.link.name))
    assert sorted(bound) == sorted(policy.zones), "every zone, internet included, is bound"
    assert all(len(on) == 1 for on in bound.values())
    assert links == {(b, a) for a, b in links}, "every link is declared at both ends"
    assert "core-fw" in devices and bound["internet"] == ["core-fw"]
    where = topology(policy)
    assert len(set(where.component.values())) == 1 and where.diagnostics == []
    # the longest device path: site -> core -> site (3), or through two distribution firewalls (5)
    longest = max(len(p) for d in where.devices for z in where.attachments for p in where.nearest(d, z))
    assert longest == (3 if which == "small" else 5)
    if which == "tiered":
        assert any(n.startswith("dist-fw-") for n in devices)


@pytest.mark.parametrize("which", ["small", "tiered"])
def test_check_reports_no_topology_findings(which, request):
    result = _septum("check", str(request.getfixturevalue(which)), "--format", "json")
    assert result.returncode in (0, 1), result.stderr
    codes = {d["code"] for d in json.loads(result.stdout)["diagnostics"]}
    assert not {c for c in codes if c.startswith("E3") or c == "W404"}, codes
    assert codes <= EXPECTED, codes


def test_compiles_one_ruleset_per_device(small, compiled):
    out, result = compiled
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    names = sorted(load_policy(small, graph=False).policy.devices)
    assert sorted(d["name"] for d in report["devices"]) == names
    assert all(d["status"] == "written" and d["rules"] > 0 and d["elements"] > 0 for d in report["devices"])
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.nft" for n in names)


def test_compile_is_deterministic(small, compiled, tmp_path):
    out, first = compiled
    assert first.returncode == 0, first.stderr
    again = _compile(small, tmp_path / "again", PYTHONHASHSEED="0")
    other_seed = _compile(small, tmp_path / "other", PYTHONHASHSEED="12345")
    assert again.returncode == other_seed.returncode == 0
    assert _files(out) == _files(tmp_path / "again") == _files(tmp_path / "other")


def test_generator_is_deterministic(small, tmp_path):
    """The generator's own output, in fresh interpreters with different hash seeds."""
    for seed, where in (("1", tmp_path / "a"), ("999", tmp_path / "b")):
        args = [str(where), "--zones", str(SMALL["zones"]), "--flows", str(SMALL["flows"]), "--seed", str(SMALL["seed"])]
        run = subprocess.run([sys.executable, str(ROOT / "tests" / "synthetic.py"), *args], capture_output=True,
                             text=True, env=_env(PYTHONHASHSEED=seed), timeout=120)
        assert run.returncode == 0, run.stderr
    assert _files(tmp_path / "a") == _files(tmp_path / "b") == _files(small)


def test_nft_accepts_every_ruleset(compiled):
    require_live("nft")
    out, result = compiled
    assert result.returncode == 0, result.stderr
    for file in sorted(out.glob("*.nft")):
        check = subprocess.run(["nft", "-c", "-f", str(file)], capture_output=True, text=True, timeout=300)
        assert check.returncode == 0, f"{file.name}: {check.stderr[-2000:]}"
