"""How Septum writes values into a Cisco IOS configuration, and the limits IOS sets.

Zone and device names are identifiers by the zone language's grammar. Interface names are
checked against the shape IOS gives them (a type, then its numbers: `GigabitEthernet0/1.308`).
Remarks and descriptions cite zone-file locations, which are escaped (any byte outside a safe set
as `%XX`), so a newline, `!` or non-ASCII character in a file name cannot end a line or start a
command. Nothing is truncated: a value over a limit is a located diagnostic (E602).
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

from septum.compiler.devices.intent import icmp_pieces

REMARK_CHARS = 100  # an access-list remark
DESCRIPTION_CHARS = 200  # an object-group or zone description
_INTERFACE = re.compile(r"[A-Za-z][A-Za-z-]*[0-9][0-9/.:]*")
_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./:+-,>() ")


@lru_cache(maxsize=1 << 16)
def escape(text: str) -> str:
    """Text for a remark or description: safe bytes as they are, the rest `%XX`."""
    return "".join(chr(b) if b in _SAFE else f"%{b:02X}" for b in text.encode("utf-8"))


def interface_problem(name: str) -> str | None:
    """Why a name cannot be an IOS interface name, or None."""
    if not _INTERFACE.fullmatch(name):
        return "is not an IOS interface name (a type and its numbers, e.g. GigabitEthernet0/1.308)"
    return None


def mask(prefix: int) -> str:
    return str(ipaddress.IPv4Address((0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF))


def v4(value: int) -> str:
    return str(ipaddress.IPv4Address(value))


def v6(value: int) -> str:
    return str(ipaddress.IPv6Address(value)).upper()


def ports(low: int, high: int) -> str:
    """A destination-port test: empty for every port."""
    if (low, high) == (0, 65535):
        return ""
    if low == high:
        return f"eq {low}"
    return f"range {low} {high}"


def icmp_parts(low: int, high: int) -> list[str]:
    """The values type * 256 + code from low to high as IOS ICMP tests: `TYPE` (every code) or
    `TYPE CODE`."""
    return [str(kind) if code is None else f"{kind} {code}" for kind, code in icmp_pieces(low, high)]
