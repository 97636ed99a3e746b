"""Validation of literal values: addresses, CIDRs, ports, VLANs, dates, strings.

Each validator returns the value or raises `ValueProblem`, which the builder turns into a
diagnostic pointing at the exact token. Nothing is silently masked or widened.
"""

from __future__ import annotations

import datetime as dt
import re
from socket import AF_INET6, inet_ntop, inet_pton

import netaddr


class ValueProblem(Exception):
    def __init__(self, code: str, message: str, help: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.help = help


# Dotted-quad IPv4, with or without a prefix length, written canonically (no leading zeros): most
# addresses of a policy, read here without netaddr (which takes ten times as long).
_CANONICAL_IPV4 = re.compile(
    r"(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})(?:/(0|[1-9][0-9]?))?"
)


def parse_cidr(text: str) -> str:
    """`10.30.0.0/24` -> canonical CIDR; a bare address is one host (/32 or /128)."""
    match = _CANONICAL_IPV4.fullmatch(text)
    if match is not None:
        a, b, c, d, prefix = match.groups()
        a, b, c, d = int(a), int(b), int(c), int(d)
        if a <= 255 and b <= 255 and c <= 255 and d <= 255:
            if prefix is None:
                return f"{text}/32"
            length = int(prefix)
            if length <= 32 and not (a << 24 | b << 16 | c << 8 | d) & (0xFFFFFFFF >> length):
                return text
    elif ":" in text:  # IPv6: netaddr reads and writes it with inet_pton and inet_ntop, so can this
        address, slash, prefix = text.partition("/")
        try:
            packed = inet_pton(AF_INET6, address)
        except (OSError, ValueError):
            return parse_cidr_netaddr(text)
        if not slash:
            return f"{inet_ntop(AF_INET6, packed)}/128"
        if prefix.isdigit():
            length = int(prefix)
            if length <= 128 and not int.from_bytes(packed, "big") & ((1 << (128 - length)) - 1):
                return f"{inet_ntop(AF_INET6, packed)}/{length}"
    return parse_cidr_netaddr(text)


def parse_cidr_netaddr(text: str) -> str:
    """`parse_cidr` for every form, errors included."""
    address, slash, prefix = text.partition("/")
    try:
        ip = netaddr.IPAddress(address, flags=netaddr.INET_PTON)
    except (netaddr.AddrFormatError, ValueError):
        raise ValueProblem(
            "E103",
            f"'{address}' is not a valid IPv4 or IPv6 address",
            "write a dotted-quad IPv4 address (10.30.0.10) or an IPv6 address (fd00:30::10)",
        ) from None
    width = 32 if ip.version == 4 else 128
    if not slash:
        return f"{ip}/{width}"
    if not prefix.isdigit() or int(prefix) > width:
        raise ValueProblem(
            "E101",
            f"'{text}' is not a valid CIDR: prefix length must be 0..{width}",
            f"write the network as address/prefix, e.g. {ip}/24" if ip.version == 4 else f"e.g. {ip}/64",
        )
    network = netaddr.IPNetwork(f"{ip}/{int(prefix)}")
    if network.ip != network.network:
        raise ValueProblem(
            "E102",
            f"'{text}' has host bits set: the network of this prefix is {network.cidr}",
            f"write {network.cidr} for the whole network, or {ip}/{width} for the single address",
        )
    return str(network.cidr)


def parse_int(text: str, low: int, high: int, what: str, code: str) -> int:
    value = int(text)
    if not low <= value <= high:
        raise ValueProblem(code, f"{what} {value} is out of range", f"use a whole number from {low} to {high}")
    return value


def parse_port(text: str) -> int:
    return parse_int(text, 0, 65535, "port", "E104")


def parse_port_range(low_text: str, high_text: str) -> tuple[int, int]:
    low, high = parse_port(low_text), parse_port(high_text)
    if low > high:
        raise ValueProblem(
            "E105",
            f"port range {low}-{high} is empty: it starts above where it ends",
            f"write the lower port first: {high}-{low}",
        )
    return low, high


def parse_vlan(text: str) -> int:
    return parse_int(text, 1, 4094, "VLAN ID", "E106")


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_date(text: str) -> dt.date:
    try:
        if not _DATE.fullmatch(text):
            raise ValueError
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueProblem(
            "E107",
            f"'{text}' is not a valid date",
            "write dates as YYYY-MM-DD with a real day, e.g. 2027-03-31",
        ) from None


_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}
_ESCAPE = re.compile(r"\\(.)")


def parse_string(token: str) -> str:
    """The contents of a double-quoted string token, escapes resolved."""
    if "\\" not in token:
        return token[1:-1]

    def replace(match: re.Match) -> str:
        char = match.group(1)
        if char not in _ESCAPES:
            raise ValueProblem(
                "E111",
                f"'\\{char}' is not a known escape in a string",
                'the escapes are \\" \\\\ \\n and \\t; write \\\\ for a backslash',
            )
        return _ESCAPES[char]

    return _ESCAPE.sub(replace, token[1:-1])


def quote_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'
