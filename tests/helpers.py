"""Small shared helpers for tests (import as `from helpers import ...`)."""

from __future__ import annotations

import os
from pathlib import Path

from septum.compiler import load_policy

BASE = """
datatype ephi { sensitivity restricted }
service https { tcp 443; encrypted }
zone a { networks 10.0.1.0/24; holds ephi }
zone b { networks 10.0.2.0/24 }
allow a -> b : https
"""


def examples(count: int) -> int:
    """A property's example count, times SEPTUM_HYPOTHESIS_SCALE for long exploring runs."""
    return count * int(os.environ.get("SEPTUM_HYPOTHESIS_SCALE", "1"))


def load(tmp_path: Path, files: dict[str, str]):
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return load_policy(tmp_path)


def codes(result) -> list[tuple[str, str]]:
    return [(d.code, d.message) for d in result.diagnostics]


def parse_both_ways(text_in: str) -> tuple[str, str]:
    """The parse of `text_in` with the direct statement readers, and by the table alone."""
    from septum.compiler import parser

    results = []
    for direct in (True, False):
        parser.DIRECT_STATEMENTS = direct
        try:
            source, diagnostics, broken = parser._parse_text("t.septum", text_in)
        finally:
            parser.DIRECT_STATEMENTS = True
        results.append(f"{source!r}\n{diagnostics!r}\n{sorted(broken)!r}")
    return results[0], results[1]


def require_live(*tools: str) -> None:
    """Skip a test that needs root and these tools (e.g. nft) when they are missing; under CI
    (CI=true) a missing tool or privilege is a failure, not a skip."""
    import shutil

    import pytest

    missing = [tool for tool in tools if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists()]
    if os.geteuid() != 0:
        missing.append("root")
    if missing:
        message = f"needs {', '.join(missing)}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; under CI live tests must run (scripts/test.sh installs the tools)")
        pytest.skip(message)


def compiled_device(path: Path, kind: str, prove: bool = False):
    """Compile a policy (verification skipped) and return (result, the one device of that kind)."""
    from septum.compiler.devices.pipeline import compile_policy

    result = compile_policy(path, None, verify=False, prove=prove)
    [device] = [d for d in result.devices if d.kind == kind]
    return result, device


def device_files(path: Path, kind: str) -> dict[str, str]:
    """The files the one device of that kind compiles to, by name."""
    _, device = compiled_device(path, kind)
    assert device.status == "compiled", [(d.code, d.message) for d in device.diagnostics]
    return {a.name: a.data.decode("utf-8") for a in device.artifacts}


def require_lab(missing: list[str], what: str) -> None:
    """Skip live tests whose lab lacks something (`missing`, as the lab says it); under CI
    (CI=true) fail instead and say what is missing."""
    import pytest

    if missing:
        message = f"the live {what} tests need " + ", ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} (CI=true: not skipped)")
        pytest.skip(message)
