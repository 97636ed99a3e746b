"""Address arithmetic on integer intervals: CIDR parsing, interval sets, special-purpose ranges,
and the index of which zone owns which addresses.

An address block is `(family, first, last)` with `family` 4 or 6 and `first`/`last` integers
(inclusive). An `AddressSet` is a sorted list of disjoint, non-adjacent blocks per family. This is
the representation the checks use to *describe* address space to people (which part of a
selector no zone owns); the packet sets themselves are BDDs (`space.PacketSpace`).
"""

from __future__ import annotations

import bisect
import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Iterator

WIDTH = {4: 32, 6: 128}

Block = tuple[int, int, int]  # (family, first, last)


_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}(?:/(3[0-2]|[12]?[0-9]))?")


@lru_cache(maxsize=1 << 16)
def parse_cidr(cidr: str) -> tuple[int, int, int]:
    """`10.30.0.0/24` -> (family, network as int, prefix length). A bare address is a /32 or /128.

    Plain dotted-quad IPv4 (`a.b.c.d` or `a.b.c.d/n`, decimal, no leading zeros) is read
    directly, a few times faster than `ipaddress`; anything else goes to `ipaddress`."""
    match = _IPV4.fullmatch(cidr)
    if match is not None:
        a, b, c, d, length = match.groups()
        prefix = 32 if length is None else int(length)
        value = (int(a) << 24) | (int(b) << 16) | (int(c) << 8) | int(d)
        return 4, value & ~((1 << (32 - prefix)) - 1), prefix
    match = _IPV6.fullmatch(cidr)
    if match is not None:
        value = _ipv6_value(match.group(1))
        if value is not None:
            prefix = 128 if match.group(2) is None else int(match.group(2))
            return 6, value & ~((1 << (128 - prefix)) - 1), prefix
    network = ipaddress.ip_network(cidr, strict=False)
    return network.version, int(network.network_address), network.prefixlen


_IPV6 = re.compile(r"([0-9A-Fa-f:]+)(?:/(12[0-8]|1[01][0-9]|[1-9]?[0-9]))?")


def _ipv6_value(address: str) -> int | None:
    """Hexadecimal groups with at most one `::` as an integer, or None for anything else (which
    `ipaddress` then reads, or rejects)."""
    head, double, tail = address.partition("::")
    if double:
        if "::" in tail:
            return None
        left = head.split(":") if head else []
        right = tail.split(":") if tail else []
        if len(left) + len(right) > 7:
            return None
        groups = left + ["0"] * (8 - len(left) - len(right)) + right
    else:
        groups = address.split(":")
        if len(groups) != 8:
            return None
    for group in groups:  # hexadecimal digits and colons only (`_IPV6`): check the lengths
        if not 0 < len(group) <= 4:
            return None
    return int("".join([group.zfill(4) for group in groups]), 16)


def cidr_block(cidr: str) -> Block:
    family, value, prefix = parse_cidr(cidr)
    size = 1 << (WIDTH[family] - prefix)
    return family, value, value + size - 1


def prefix_blocks(first: int, last: int, width: int) -> list[tuple[int, int]]:
    """The fewest aligned blocks covering the values [first, last] of a `width`-bit field exactly,
    as (start, prefix length), in order: addresses as CIDR blocks, ports as value/mask matches."""
    out = []
    while first <= last:
        size = (first & -first).bit_length() - 1 if first else width
        while first + (1 << size) - 1 > last:
            size -= 1
        out.append((first, width - size))
        first += 1 << size
    return out


def block_cidrs(family: int, first: int, last: int) -> list[str]:
    """The fewest CIDRs that exactly cover [first, last], in address order."""
    make = ipaddress.IPv4Address if family == 4 else ipaddress.IPv6Address
    out = []
    for network in ipaddress.summarize_address_range(make(first), make(last)):
        text = str(network)
        out.append(text)
    return out


def _merge(blocks: list[tuple[int, int]]) -> list[tuple[int, int]]:
    blocks.sort()
    out: list[tuple[int, int]] = []
    for first, last in blocks:
        if out and first <= out[-1][1] + 1:
            if last > out[-1][1]:
                out[-1] = (out[-1][0], last)
        else:
            out.append((first, last))
    return out


@dataclass(frozen=True)
class AddressSet:
    """A set of addresses of both families: sorted, disjoint, non-adjacent (first, last) intervals."""

    v4: tuple[tuple[int, int], ...] = ()
    v6: tuple[tuple[int, int], ...] = ()

    @staticmethod
    def of(blocks: Iterable[Block]) -> "AddressSet":
        by: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
        for family, first, last in blocks:
            by[family].append((first, last))
        return AddressSet(tuple(_merge(by[4])), tuple(_merge(by[6])))

    @staticmethod
    def of_cidrs(cidrs: Iterable[str]) -> "AddressSet":
        return AddressSet.of(cidr_block(c) for c in cidrs)

    def family(self, family: int) -> tuple[tuple[int, int], ...]:
        return self.v4 if family == 4 else self.v6

    def blocks(self) -> Iterator[Block]:
        for first, last in self.v4:
            yield 4, first, last
        for first, last in self.v6:
            yield 6, first, last

    def __bool__(self) -> bool:
        return bool(self.v4 or self.v6)

    @staticmethod
    def union(sets: Iterable["AddressSet"]) -> "AddressSet":
        """The union of many sets, merged once."""
        v4: list[tuple[int, int]] = []
        v6: list[tuple[int, int]] = []
        for a in sets:
            v4.extend(a.v4)
            v6.extend(a.v6)
        return AddressSet(tuple(_merge(v4)), tuple(_merge(v6)))

    def __or__(self, other: "AddressSet") -> "AddressSet":
        return AddressSet.of(list(self.blocks()) + list(other.blocks()))

    def __and__(self, other: "AddressSet") -> "AddressSet":
        return AddressSet(_intersect(self.v4, other.v4), _intersect(self.v6, other.v6))

    def __sub__(self, other: "AddressSet") -> "AddressSet":
        return AddressSet(_subtract(self.v4, other.v4), _subtract(self.v6, other.v6))

    def __contains__(self, address: tuple[int, int]) -> bool:
        family, value = address
        intervals = self.family(family)
        i = bisect.bisect_right(intervals, (value, 1 << 130)) - 1
        return i >= 0 and intervals[i][0] <= value <= intervals[i][1]

    def cidrs(self) -> list[str]:
        out: list[str] = []
        for family, first, last in self.blocks():
            out.extend(block_cidrs(family, first, last))
        return out

    def size(self, family: int) -> int:
        return sum(last - first + 1 for first, last in self.family(family))


def _intersect(a, b) -> tuple[tuple[int, int], ...]:
    if len(a) > len(b):
        a, b = b, a
    if len(a) * 8 < len(b):  # a few intervals against many: look each up by bisection
        return _clip(a, b)
    out = []
    i = j = 0
    while i < len(a) and j < len(b):
        first = max(a[i][0], b[j][0])
        last = min(a[i][1], b[j][1])
        if first <= last:
            out.append((first, last))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


_BEYOND = 1 << 130  # above every address: (x, _BEYOND) sorts after every interval starting at x


def _clip(a, b) -> tuple[tuple[int, int], ...]:
    """The intersection of sorted, disjoint interval lists, `a` the shorter."""
    out = []
    n = len(b)
    for first, last in a:
        i = bisect.bisect_right(b, (first, _BEYOND)) - 1
        if i < 0:
            i = 0
        while i < n and b[i][0] <= last:
            low = first if first > b[i][0] else b[i][0]
            high = last if last < b[i][1] else b[i][1]
            if low <= high:
                out.append((low, high))
            i += 1
    return tuple(out)


def intersects(a, b) -> bool:
    """Whether two sorted, disjoint interval lists share an address: each interval of the shorter
    list is looked up in the longer one by bisection."""
    if len(a) > len(b):
        a, b = b, a
    if not a:
        return False
    if len(b) == 1:
        first, last = b[0]
        for low, high in a:
            if low <= last and first <= high:
                return True
        return False
    bisect_right = bisect.bisect_right
    for first, last in a:
        i = bisect_right(b, (last, _BEYOND))  # b's intervals starting at or before `last`
        if i and b[i - 1][1] >= first:  # the last of them ends furthest (b is disjoint and sorted)
            return True
    return False


def covers(big, small) -> bool:
    """Whether the sorted, merged interval list `big` contains every address of `small`: each
    interval of `small` must lie inside one interval of `big`, found by bisection."""
    if not small:
        return True
    if len(big) == 1:
        first, last = big[0]
        return first <= small[0][0] and small[-1][1] <= last
    bisect_right = bisect.bisect_right
    for first, last in small:
        i = bisect_right(big, (first, _BEYOND)) - 1
        if i < 0 or big[i][1] < last:
            return False
    return True


def _subtract(a, b) -> tuple[tuple[int, int], ...]:
    out = []
    j = 0
    for first, last in a:
        while j < len(b) and b[j][1] < first:
            j += 1
        k = j
        cursor = first
        while k < len(b) and b[k][0] <= last:
            if b[k][0] > cursor:
                out.append((cursor, b[k][0] - 1))
            cursor = max(cursor, b[k][1] + 1)
            k += 1
        if cursor <= last:
            out.append((cursor, last))
    return tuple(out)


# Address space that is private to an organisation: if a flow names some of it and no zone owns
# it, the address belongs to nobody in the policy (a typo, a retired zone, a missing zone).
PRIVATE_RANGES: tuple[tuple[str, str], ...] = (
    ("10.0.0.0/8", "RFC 1918"),
    ("172.16.0.0/12", "RFC 1918"),
    ("192.168.0.0/16", "RFC 1918"),
    ("100.64.0.0/10", "RFC 6598 shared address space"),
    ("fc00::/7", "RFC 4193 unique local"),
)
PRIVATE = AddressSet.of_cidrs(c for c, _ in PRIVATE_RANGES)
EVERYTHING = AddressSet(((0, (1 << 32) - 1),), ((0, (1 << 128) - 1),))


class AddressAtoms:
    """The address line of each family cut at every boundary a policy uses.

    Atom i is an interval of addresses that every zone, host and address of the policy contains
    whole or not at all, so any of their address sets is a union of atoms, and a run of adjacent
    atoms is one integer range. Atoms are numbered in address order, IPv4 first, then IPv6.
    """

    def __init__(self, blocks: Iterable[Block]) -> None:
        cuts: dict[int, set[int]] = {4: {0, 1 << 32}, 6: {0, 1 << 128}}
        for family, first, last in blocks:
            cuts[family].add(first)
            cuts[family].add(last + 1)
        self.cuts = {family: sorted(c) for family, c in cuts.items()}
        self.offset = {4: 0, 6: len(self.cuts[4]) - 1}
        self.count = len(self.cuts[4]) - 1 + len(self.cuts[6]) - 1

    def index(self, family: int, address: int) -> int:
        """The atom holding an address."""
        return self.offset[family] + bisect.bisect_right(self.cuts[family], address) - 1

    def span(self, family: int, first: int, last: int) -> tuple[int, int]:
        """The atoms making up [first, last], which must start and end on cuts."""
        cuts = self.cuts[family]
        a = bisect.bisect_left(cuts, first)
        b = bisect.bisect_left(cuts, last + 1)
        if a >= len(cuts) or cuts[a] != first or b >= len(cuts) or cuts[b] != last + 1:
            raise ValueError(f"addresses {first}-{last} (IPv{family}) are not a union of this policy's atoms")
        return self.offset[family] + a, self.offset[family] + b - 1

    def family_span(self, family: int) -> tuple[int, int]:
        return self.offset[family], self.offset[family] + len(self.cuts[family]) - 2

    def first_address(self, atom: int) -> tuple[int, int]:
        """(family, lowest address) of an atom."""
        if atom < self.offset[6]:
            return 4, self.cuts[4][atom]
        return 6, self.cuts[6][atom - self.offset[6]]


UNASSIGNED = "(unassigned)"  # the owner of private address space no zone owns: not a zone, not the internet


class OwnerIndex:
    """Which zones own which addresses: the address line cut into pieces, each with its owners.

    Zones normally do not overlap (E301), but the index is exact when they do. Addresses no zone
    owns belong to the built-in zone `internet`, except private address space (`PRIVATE`): no
    zone owns that, and nothing else does either (`UNASSIGNED`; a flow naming it is E520).
    """

    def __init__(self, zones: Iterable[tuple[str, Iterable[str]]]) -> None:
        events: dict[int, list[tuple[int, int, str]]] = {4: [], 6: []}
        for name, cidrs in zones:
            for cidr in cidrs:
                family, first, last = cidr_block(cidr)
                events[family].append((first, last, name))
        self.pieces: dict[int, list[tuple[int, int, frozenset[str]]]] = {}
        self.starts: dict[int, list[int]] = {}
        for family, blocks in events.items():
            pieces = _pieces(blocks)
            self.pieces[family] = pieces
            self.starts[family] = [p[0] for p in pieces]
        self.owned = AddressSet(
            tuple(_merge([(p[0], p[1]) for p in self.pieces[4]])),
            tuple(_merge([(p[0], p[1]) for p in self.pieces[6]])),
        )
        self.internet = EVERYTHING - self.owned - PRIVATE

    def owners(self, family: int, first: int, last: int) -> set[str]:
        """Zones owning part of [first, last], plus 'internet' if some of it is owned by none and
        is not private, and `UNASSIGNED` if some of it is private and owned by none."""
        pieces = self.pieces[family]
        i = max(0, bisect.bisect_right(self.starts[family], first) - 1)
        found: set[str] = set()
        cursor = first
        while i < len(pieces) and pieces[i][0] <= last:
            p_first, p_last, names = pieces[i]
            if p_last >= cursor:
                if p_first > cursor:
                    _unowned(family, cursor, p_first - 1, found)
                found.update(names)
                cursor = p_last + 1
            i += 1
        if cursor <= last:
            _unowned(family, cursor, last, found)
        return found


def _unowned(family: int, first: int, last: int, found: set[str]) -> None:
    """Add who holds [first, last], which no zone owns: the internet, unassigned private space, or both."""
    private = PRIVATE.family(family)
    inside = _intersect(((first, last),), private)
    if inside:
        found.add(UNASSIGNED)
    if sum(b - a + 1 for a, b in inside) < last - first + 1:
        found.add("internet")


def _pieces(blocks: list[tuple[int, int, str]]) -> list[tuple[int, int, frozenset[str]]]:
    """Cut possibly overlapping blocks into disjoint pieces labelled with the names covering them."""
    blocks = sorted(blocks)
    if all(blocks[i][1] < blocks[i + 1][0] for i in range(len(blocks) - 1)):
        return [(first, last, frozenset((name,))) for first, last, name in blocks]
    starts: dict[int, list[str]] = {}
    ends: dict[int, list[str]] = {}
    for first, last, name in blocks:
        starts.setdefault(first, []).append(name)
        ends.setdefault(last + 1, []).append(name)
    cuts = sorted(set(starts) | set(ends))
    active: dict[str, int] = {}
    out: list[tuple[int, int, frozenset[str]]] = []
    for k, cut in enumerate(cuts):
        for name in ends.get(cut, ()):
            active[name] -= 1
            if not active[name]:
                del active[name]
        for name in starts.get(cut, ()):
            active[name] = active.get(name, 0) + 1
        if active and k + 1 < len(cuts):
            out.append((cut, cuts[k + 1] - 1, frozenset(active)))
    return out
