"""How Septum writes values into an nftables ruleset, and the limits nftables and Linux set.

Every user-written string that reaches a ruleset goes through here: zone and device names are
identifiers by the zone language's grammar; interface names are checked against Linux's rules;
the locations comments and log prefixes cite are escaped (any byte outside a safe set as `%XX`,
so a quote, newline, brace, `;` or `#` in a file name cannot end a string or start a statement).
Nothing is truncated: a value over a limit is a located diagnostic (E602) instead.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

COMMENT_BYTES = 128  # NFT_USERDATA_MAXLEN: rule, set-element, chain and table comments
LOG_PREFIX_BYTES = 127  # NF_LOG_PREFIXLEN less its NUL
NAME_BYTES = 255  # NFT_NAME_MAXLEN less its NUL: chains, sets, maps
IFNAME_BYTES = 15  # IFNAMSIZ less its NUL
_IFNAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./:+- ")


@lru_cache(maxsize=1 << 16)
def escape(text: str) -> str:
    """Text for inside a double-quoted nftables string: safe bytes as they are, the rest `%XX`."""
    return "".join(chr(b) if b in _SAFE else f"%{b:02X}" for b in text.encode("utf-8"))


def interface_problem(name: str) -> str | None:
    """Why a name cannot be a Linux interface name, or None."""
    if len(name.encode("utf-8")) > IFNAME_BYTES:
        return f"is {len(name.encode('utf-8'))} bytes; Linux interface names are at most {IFNAME_BYTES}"
    if name in (".", "..") or not _IFNAME.fullmatch(name):
        return "is not a Linux interface name (letters, digits, '_', '.' and '-'; no '/' or ':')"
    return None


def address(family: int, value: int) -> str:
    if family == 4:
        return f"{value >> 24}.{value >> 16 & 255}.{value >> 8 & 255}.{value & 255}"
    return str(ipaddress.IPv6Address(value))


def interval(family: int, first: int, last: int) -> str:
    """An address interval as nftables writes it: an address, a prefix, or a range."""
    if first == last:
        return address(family, first)
    size = last - first + 1
    if size & (size - 1) == 0 and first % size == 0:
        width = 32 if family == 4 else 128
        return f"{address(family, first)}/{width - size.bit_length() + 1}"
    return f"{address(family, first)}-{address(family, last)}"


def number_range(low: int, high: int) -> str:
    return str(low) if low == high else f"{low}-{high}"


def icmp_runs(low: int, high: int) -> list[tuple[str, str]]:
    """The values type * 256 + code from low to high as (type, code) ranges."""
    t1, c1 = divmod(low, 256)
    t2, c2 = divmod(high, 256)
    if t1 == t2:
        return [(str(t1), number_range(c1, c2))]
    out = []
    if c1:
        out.append((str(t1), number_range(c1, 255)))
        t1 += 1
    last_whole = t2 if c2 == 255 else t2 - 1
    if t1 <= last_whole:
        out.append((number_range(t1, last_whole), "0-255"))
    if c2 != 255:
        out.append((str(t2), number_range(0, c2)))
    return out
