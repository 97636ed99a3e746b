"""How Septum writes matches into OpenFlow flows (`ovs-ofctl` syntax)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from septum.compiler.devices.intent import icmp_pieces
from septum.compiler.packets.addresses import WIDTH, prefix_blocks


def block_text(family: int, network: int, length: int) -> str:
    """A CIDR block (a host without its prefix length)."""
    address = ipaddress.IPv4Address(network) if family == 4 else ipaddress.IPv6Address(network)
    return str(address) if length == WIDTH[family] else f"{address}/{length}"


@lru_cache(maxsize=1 << 16)
def address_blocks(family: int, intervals: tuple) -> list[str]:
    """Address intervals as the fewest CIDR blocks."""
    return [block_text(family, network, length) for first, last in intervals
            for network, length in prefix_blocks(first, last, WIDTH[family])]


@lru_cache(maxsize=1 << 14)
def port_matches(low: int, high: int) -> list[str]:
    """A port range as `tp_dst=VALUE/MASK` matches (none for every port)."""
    if (low, high) == (0, 65535):
        return [""]
    return [f"tp_dst={value}" if length == 16 else f"tp_dst={value:#06x}/{(0xFFFF << (16 - length)) & 0xFFFF:#06x}"
            for value, length in prefix_blocks(low, high, 16)]


def icmp_matches(low: int, high: int) -> list[str]:
    """The values type * 256 + code from low to high as `icmp_type=T[,icmp_code=C]` matches."""
    if (low, high) == (0, 0xFFFF):
        return [""]
    return [f"icmp_type={kind}" if code is None else f"icmp_type={kind},icmp_code={code}"
            for kind, code in icmp_pieces(low, high)]
