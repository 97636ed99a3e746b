"""Backends: one module per enforcement target, found through this registry.

A backend turns the intent one device enforces into that device's configuration. It registers
itself with `register`, and reads the compiled intent (the model and intent graph), never the parse
tree. The compiler never imports this package: the CLI looks backends up here by kind.
"""

from __future__ import annotations

from typing import Callable, Protocol


class Backend(Protocol):
    kind: str

    def render(self, policy, device) -> str: ...


_REGISTRY: dict[str, Callable[[], Backend]] = {}


def register(kind: str, factory: Callable[[], Backend]) -> None:
    if kind in _REGISTRY:
        raise ValueError(f"backend {kind!r} is already registered")
    _REGISTRY[kind] = factory


def get(kind: str) -> Backend:
    try:
        return _REGISTRY[kind]()
    except KeyError:
        raise LookupError(f"no backend for {kind!r}; known: {', '.join(sorted(_REGISTRY)) or 'none yet'}") from None


def kinds() -> list[str]:
    return sorted(_REGISTRY)
