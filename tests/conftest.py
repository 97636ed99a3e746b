from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
ZONES = ROOT / "zones"


# The suite draws the same examples on every run, so a red CI means a regression, never a lucky draw;
# SEPTUM_HYPOTHESIS=explore draws new ones each run (with SEPTUM_HYPOTHESIS_SCALE=N, N times as many).
settings.register_profile("repeatable", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", print_blob=True)
settings.load_profile(os.environ.get("SEPTUM_HYPOTHESIS", "repeatable"))


def write_tree(base: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return base


def run_septum(*args: str, cwd: Path | None = None, input: str | None = None) -> subprocess.CompletedProcess:
    """The CLI exactly as a user runs it: a fresh interpreter, `python -m septum`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    return subprocess.run(
        [sys.executable, "-m", "septum", *args],
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        input=input,
        env=env,
        timeout=120,
    )


@pytest.fixture(scope="session", autouse=True)
def private_parse_cache(tmp_path_factory):
    """Tests never read or fill the user's parse cache (~/.cache/septum/parse)."""
    previous = os.environ.get("SEPTUM_CACHE_DIR")
    os.environ["SEPTUM_CACHE_DIR"] = str(tmp_path_factory.mktemp("septum-cache"))
    yield
    if previous is None:
        os.environ.pop("SEPTUM_CACHE_DIR", None)
    else:
        os.environ["SEPTUM_CACHE_DIR"] = previous


@pytest.fixture
def tree(tmp_path):
    def make(files: dict[str, str]) -> Path:
        return write_tree(tmp_path / "policy", files)

    return make
