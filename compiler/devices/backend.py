"""What a backend is, and how the compiler finds one without importing it.

A backend turns one device's compiled intent (`intent.DeviceIntent`) into that device's files.
It is registered by kind under the entry-point group `septum.backends` (Septum's own in
pyproject.toml: `nftables = "septum.backends.nftables:backend"`); the compiler looks kinds up
there, so nothing in the compiler imports a backend, and another package can add one.

Protocol (a backend object has these; `prove` and `apply` only where the target allows):

* `kind`: the backend kind the zone files name (`nftables`).
* `render(device, options) -> Output`: the files, a summary, and diagnostics. A diagnostic that
  is an error means the device cannot be compiled exactly (a construct the target lacks, a name
  over the target's limits): then `files` is empty and nothing is written (fail closed).
* `prove(device, output, options) -> Proof`: load the output into the real target in a sandbox,
  read it back as the target holds it, interpret that independently of `render`, and compare it
  with the intent (`prove.compare`).
* `apply(device_name, config, options) -> str`: load a config into the local target atomically.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

from ..diagnostics import Diagnostic
from .intent import DeviceIntent

ENTRY_POINTS = "septum.backends"


@dataclass(frozen=True)
class Artifact:
    name: str  # file name in the output directory, e.g. `core-fw.nft`
    data: bytes
    role: str = "config"  # config, or what else it is (a map of cookies, an apply script)


@dataclass
class Output:
    files: list[Artifact] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)  # rules, elements, ... (`septum compile --format json`)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def config(self) -> Artifact:
        return next(f for f in self.files if f.role == "config")


@dataclass
class Options:
    """What `septum compile` passes every backend."""

    table: str = "septum"  # nftables: the table Septum owns
    bridge: str = "septum"  # openflow: the Open vSwitch bridge `septum apply` installs flows on


class Backend(Protocol):
    kind: str

    def render(self, device: DeviceIntent, options: Options) -> Output: ...


class ProofUnavailable(Exception):
    """The real target is not here to prove against (no `nft`, no privilege): says what is missing."""


class BackendFailure(Exception):
    """The target refused what it was given (a load, a read-back): carries the tool's message."""


@lru_cache(maxsize=None)
def _registered() -> dict[str, Any]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINTS)}


def backend_for(kind: str) -> Backend | None:
    """The backend registered for a kind, or None when there is none yet."""
    entry = _registered().get(kind)
    if entry is None:
        return None
    found = entry.load()
    return found() if isinstance(found, type) else found


def known_kinds() -> list[str]:
    return sorted(_registered())
