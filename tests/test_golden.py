"""Golden files: the exact human output of `septum check` for each case under tests/golden/.

Regenerate after an intended change with `SEPTUM_UPDATE_GOLDEN=1 pytest tests/test_golden.py`,
then read the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import run_septum

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir())


@pytest.mark.parametrize("case", CASES)
def test_golden(case):
    directory = GOLDEN / case
    result = run_septum("check", ".", cwd=directory)
    actual = f"exit {result.returncode}\n{result.stdout}{result.stderr}"
    expected_file = directory / "expected.txt"
    if os.environ.get("SEPTUM_UPDATE_GOLDEN"):
        expected_file.write_text(actual)
    assert actual == expected_file.read_text()
