"""Packet-level checks over the packet-set algebra (`septum.compiler.packets`).

PACKET_CHECKS maps a check name (see `names.CHECKS`) to a function `(policy) -> list[Diagnostic]`.
"""

from __future__ import annotations

from typing import Callable

from ..diagnostics import Diagnostic
from ..resolve import Policy

PACKET_CHECKS: dict[str, Callable[[Policy], list[Diagnostic]]] = {}
