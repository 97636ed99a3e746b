"""The README's two commands, run as a new user runs them: from a clean copy of the repository."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT


@pytest.fixture(scope="module")
def clean_copy(tmp_path_factory) -> Path:
    """The repository's files (tracked, and new ones not ignored) and nothing else: no .venv,
    no build output, no caches."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs the git checkout to know the repository's files")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    target = tmp_path_factory.mktemp("clone") / "septum"
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def _run(command: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "VIRTUAL_ENV"))}
    return subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=1800, env=env)


def _readme_command(what: str) -> str:
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith(f"| {what}"):
            return line.split("`")[-2]  # the command column, last
    raise AssertionError(f"the README's table has no row starting {what!r}")


def test_the_main_command_checks_and_compiles_the_reference_hospital(clean_copy):
    command = _readme_command("set up, then check")
    assert command == "bash scripts/demo.sh"
    result = _run(command, clean_copy)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "septum: 11 files checked, no problems" in result.stdout
    assert "intent graph: " in result.stdout
    assert "septum compile: core-fw (nftables): wrote build/septum/core-fw.nft" in result.stdout
    if os.geteuid() == 0 and shutil.which("nft"):
        assert "proven equal to the intent in a kernel" in result.stdout
    assert (clean_copy / "build" / "septum" / "core-fw.nft").is_file()
    assert ("septum compile: dist-rtr (cisco-ios): wrote build/septum/dist-rtr.ios" in result.stdout
            and "proven equal to the intent by a Cisco config parser and evaluator" in result.stdout)
    assert "septum compile: biomed-sw (openflow): wrote build/septum/biomed-sw.flows" in result.stdout
    if os.geteuid() == 0 and shutil.which("ovs-vswitchd"):
        assert "proven equal to the intent in Open vSwitch" in result.stdout


def test_the_test_command_sets_up_and_reaches_the_suite(clean_copy):
    """The suite itself is what is running now; here the command must set up and collect it."""
    command = _readme_command("set up, then run the whole test suite")
    assert command == "bash scripts/test.sh"
    result = _run(f"{command} --collect-only -q", clean_copy)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " tests collected" in result.stdout
