"""Running the real `nft`: checking a ruleset, loading it into a throw-away network namespace and
reading it back, and applying it to the running kernel."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile

from septum.compiler.devices.backend import BackendFailure, ProofUnavailable

_TIMEOUT = 600


def nft_binary() -> str:
    found = shutil.which("nft") or next((p for p in ("/usr/sbin/nft", "/sbin/nft") if os.path.exists(p)), None)
    if found is None:
        raise ProofUnavailable("`nft` is not installed (Debian: apt-get install nftables)")
    return found


def _unshare() -> str:
    found = shutil.which("unshare") or next((p for p in ("/usr/bin/unshare", "/bin/unshare") if os.path.exists(p)),
                                           None)
    if found is None:
        raise ProofUnavailable("`unshare` (util-linux) is not installed")
    return found


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=_TIMEOUT, **kwargs)
    except subprocess.TimeoutExpired as error:
        raise BackendFailure(f"{command[0]} did not finish in {_TIMEOUT} s") from error


def _message(result: subprocess.CompletedProcess) -> str:
    text = (result.stderr or result.stdout).strip()
    return text[-4000:] if text else f"exit status {result.returncode}"


class _ConfigFile:
    """The config in a temporary file (nft reads files; line numbers in its errors then match)."""

    def __init__(self, config: bytes) -> None:
        self.config = config

    def __enter__(self) -> str:
        handle = tempfile.NamedTemporaryFile(prefix="septum-", suffix=".nft", delete=False)
        with handle:
            handle.write(self.config)
        self.path = handle.name
        return self.path

    def __exit__(self, *exc) -> None:
        os.unlink(self.path)


def check(config: bytes) -> None:
    """`nft -c`: the ruleset parses and the kernel would accept it (nothing is changed)."""
    with _ConfigFile(config) as path:
        result = _run([nft_binary(), "-c", "-f", path])
    if result.returncode != 0:
        raise BackendFailure(f"nft -c refused the ruleset: {_message(result)}")


def load_in_sandbox(config: bytes, table: str) -> dict:
    """Load the ruleset into a new, empty network namespace (gone when the command ends) and
    return `nft -j list table inet TABLE` as the kernel holds it."""
    if os.geteuid() != 0:
        raise ProofUnavailable("loading a ruleset into a network namespace needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN)")
    nft = nft_binary()
    script = '"$0" -f "$1" && "$0" -j list table inet "$2"'
    with _ConfigFile(config) as path:
        result = _run([_unshare(), "--net", "--", "sh", "-c", script, nft, path, table])
    if result.returncode != 0:
        raise BackendFailure(f"the kernel refused the ruleset: {_message(result)}")
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError as error:
        raise BackendFailure(f"nft -j printed something that is not JSON: {error}") from error


def list_table(table: str) -> dict | None:
    """The running kernel's table (current network namespace), or None if there is none."""
    result = _run([nft_binary(), "-j", "list", "table", "inet", table])
    if result.returncode != 0:
        return None
    return json.loads(result.stdout)


def apply(device: str, config: bytes, table: str) -> str:
    """Load the ruleset into the current network namespace: one `nft -f` transaction that
    recreates Septum's table, so a ruleset that fails to load changes nothing."""
    marker = f'comment "septum: '
    first = config.split(b"\n", 40)
    header = b"\n".join(first[:40]).decode("utf-8", "replace")
    if marker not in header or f" {device}, policy " not in header:
        raise BackendFailure(f"this file is not Septum's nftables ruleset for device '{device}'")
    with _ConfigFile(config) as path:
        result = _run([nft_binary(), "-f", path])
    if result.returncode != 0:
        raise BackendFailure(f"nft refused the ruleset, and the running ruleset is unchanged: {_message(result)}")
    return f"loaded table inet {table} for device '{device}' (one transaction)"
