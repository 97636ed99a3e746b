"""How Septum writes matches into OpenFlow flows (`ovs-ofctl` syntax)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache


@lru_cache(maxsize=1 << 16)
def address_blocks(family: int, intervals: tuple) -> list[str]:
    """Address intervals as the fewest CIDR blocks (a host without its prefix length)."""
    make = ipaddress.IPv4Address if family == 4 else ipaddress.IPv6Address
    width = 32 if family == 4 else 128
    out = []
    for first, last in intervals:
        for network in ipaddress.summarize_address_range(make(first), make(last)):
            out.append(str(network.network_address) if network.prefixlen == width else str(network))
    return out


@lru_cache(maxsize=1 << 14)
def port_matches(low: int, high: int) -> list[str]:
    """A port range as `tp_dst=VALUE/MASK` matches (none for every port)."""
    if (low, high) == (0, 65535):
        return [""]
    out = []
    while low <= high:
        size = (low & -low).bit_length() - 1 if low else 16
        while low + (1 << size) - 1 > high:
            size -= 1
        out.append(f"tp_dst={low}" if size == 0 else f"tp_dst={low:#06x}/{(0xFFFF << size) & 0xFFFF:#06x}")
        low += 1 << size
    return out


def icmp_matches(low: int, high: int) -> list[str]:
    """The values type * 256 + code from low to high as `icmp_type=T[,icmp_code=C]` matches."""
    if (low, high) == (0, 0xFFFF):
        return [""]
    out = []
    value = low
    while value <= high:
        kind, code = divmod(value, 256)
        if code == 0 and value + 255 <= high:
            out.append(f"icmp_type={kind}")
            value += 256
        else:
            out.append(f"icmp_type={kind},icmp_code={code}")
            value += 1
    return out
