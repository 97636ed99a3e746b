"""The alternative packet-set representation Septum measured against BDDs: lists of boxes.

A box is one interval per field: (family, protocol, source, destination, L4 value), stored as a
flat 10-tuple of inclusive bounds; a set is a list of boxes. Intersection is pairwise, union is
concatenation, difference splits each box around the other (at most two pieces per field), and a
set is empty when no box is left. It has the same interface as `space.PacketSpace`, so
`flows.PolicyPackets` and the checks run on either; `bench.py` compares them
(docs/packets.md). Septum uses the BDDs; this module is kept for the comparison and as an
independent implementation in the tests.
"""

from __future__ import annotations

from typing import Iterable

from .addresses import WIDTH, AddressSet, _merge, parse_cidr
from .space import PROTOCOLS, Packet

ADDRESS_ANY = (0, (1 << 128) - 1)
FIELDS = {"f": 0, "p": 2, "s": 4, "d": 6, "l": 8}
FULL = (0, 1, 0, 3, *ADDRESS_ANY, *ADDRESS_ANY, 0, 65535)


def _box(**fields: tuple[int, int]) -> tuple[int, ...]:
    box = list(FULL)
    for name, (low, high) in fields.items():
        box[FIELDS[name]] = low
        box[FIELDS[name] + 1] = high
    return tuple(box)


def _intersect(a: tuple, b: tuple) -> tuple | None:
    out = []
    for k in range(0, 10, 2):
        low = a[k] if a[k] > b[k] else b[k]
        high = a[k + 1] if a[k + 1] < b[k + 1] else b[k + 1]
        if low > high:
            return None
        out.append(low)
        out.append(high)
    return tuple(out)


def _subtract(a: tuple, b: tuple) -> list[tuple]:
    for k in range(0, 10, 2):
        if a[k + 1] < b[k] or b[k + 1] < a[k]:
            return [a]
    out = []
    current = list(a)
    for k in range(0, 10, 2):
        if current[k] < b[k]:
            piece = current.copy()
            piece[k + 1] = b[k] - 1
            out.append(tuple(piece))
            current[k] = b[k]
        if current[k + 1] > b[k + 1]:
            piece = current.copy()
            piece[k] = b[k + 1] + 1
            out.append(tuple(piece))
            current[k + 1] = b[k + 1]
    return out


class Boxes:
    """A packet set: a list of non-empty boxes (they may overlap after a union)."""

    __slots__ = ("boxes",)

    def __init__(self, boxes: Iterable[tuple] = ()) -> None:
        self.boxes = list(boxes)

    def __and__(self, other: "Boxes") -> "Boxes":
        out = []
        for a in self.boxes:
            for b in other.boxes:
                c = _intersect(a, b)
                if c is not None:
                    out.append(c)
        return Boxes(out)

    def __or__(self, other: "Boxes") -> "Boxes":
        if not other.boxes:
            return self
        if not self.boxes:
            return other
        return Boxes(self.boxes + other.boxes)

    def __len__(self) -> int:
        return len(self.boxes)


class BoxSpace:
    """Packet sets as lists of boxes, with the constructors and operations of `PacketSpace`."""

    def __init__(self) -> None:
        self.false = Boxes()
        self.true = Boxes([_box(f=(0, 0), p=(0, 2)), _box(f=(1, 1), p=(0, 1)), _box(f=(1, 1), p=(3, 3))])
        self.family = {4: Boxes([_box(f=(0, 0))]), 6: Boxes([_box(f=(1, 1))])}

    # ---- addresses -----------------------------------------------------------------------

    def prefix(self, side: str, family: int, value: int, length: int) -> Boxes:
        size = 1 << (WIDTH[family] - length)
        return Boxes([_box(f=(0, 0) if family == 4 else (1, 1), **{side: (value, value + size - 1)})])

    def cidr(self, side: str, cidr: str) -> Boxes:
        return self.prefix(side, *parse_cidr(cidr))

    def cidrs(self, side: str, cidrs: Iterable[str]) -> Boxes:
        out = self.false
        for cidr in cidrs:
            out = out | self.cidr(side, cidr)
        return out

    def addresses(self, side: str, addresses: AddressSet) -> Boxes:
        return Boxes([_box(f=(0, 0) if family == 4 else (1, 1), **{side: (first, last)})
                      for family, first, last in addresses.blocks()])

    def complement_addresses(self, side: str, a: Boxes) -> Boxes:
        """Every address of both families not in the address-only set `a` (on `side`)."""
        k = FIELDS[side]
        out = []
        for family, bit in ((4, 0), (6, 1)):
            taken = _merge([(b[k], b[k + 1]) for b in a.boxes if b[0] == bit == b[1]])
            cursor = 0
            for first, last in taken + [((1 << WIDTH[family]), 0)]:
                if first > cursor:
                    out.append(_box(f=(bit, bit), **{side: (cursor, first - 1)}))
                cursor = max(cursor, last + 1)
        return Boxes(out)

    def any_address(self, family: int | None = None) -> Boxes:
        return Boxes([FULL]) if family is None else self.family[family]

    # ---- services --------------------------------------------------------------------------

    def l4_range(self, low: int, high: int) -> Boxes:
        return Boxes([_box(l=(low, high))])

    def match(self, protocol: str, ports: Iterable[tuple[int, int]] = (), icmp_type: int | None = None,
              icmp_code: int | None = None) -> Boxes:
        number = PROTOCOLS[protocol]
        if protocol in ("tcp", "udp"):
            ranges = list(ports) or [(0, 65535)]
            return Boxes([_box(p=(number, number), l=r) for r in ranges])
        family = (0, 0) if protocol == "icmp" else (1, 1)
        if icmp_type is None:
            l4 = (0, 65535)
        elif icmp_code is None:
            l4 = (icmp_type * 256, icmp_type * 256 + 255)
        else:
            l4 = (icmp_type * 256 + icmp_code,) * 2
        return Boxes([_box(f=family, p=(number, number), l=l4)])

    # ---- set operations --------------------------------------------------------------------

    def diff(self, a: Boxes, b: Boxes) -> Boxes:
        pieces = a.boxes
        for cut in b.boxes:
            nxt = []
            for piece in pieces:
                nxt.extend(_subtract(piece, cut))
            pieces = nxt
            if not pieces:
                break
        return Boxes(pieces)

    def complement(self, a: Boxes) -> Boxes:
        return self.diff(self.true, a)

    def is_empty(self, a: Boxes) -> bool:
        return not a.boxes

    def subset(self, a: Boxes, b: Boxes) -> bool:
        return not self.diff(a, b).boxes

    def union(self, sets: Iterable[Boxes]) -> Boxes:
        out = self.false
        for s in sets:
            out = out | s
        return out

    def contains(self, a: Boxes, p: Packet) -> bool:
        point = (0 if p.family == 4 else 1, PROTOCOLS[p.protocol], p.source, p.destination, p.l4)
        return any(all(box[2 * k] <= v <= box[2 * k + 1] for k, v in enumerate(point)) for box in a.boxes)

    def size(self, a: Boxes) -> int:
        return len(a.boxes)

