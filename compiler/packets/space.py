"""The packet space and its sets, as binary decision diagrams (CUDD through `dd.cudd`).

A packet is (address family, source address, destination address, protocol, L4 value), where the
L4 value is the destination port for tcp and udp and `type * 256 + code` for icmp and icmpv6. A
packet set is a BDD over these bits; union, intersection, difference, emptiness and containment
are BDD operations (`|`, `&`, `space.diff`, `space.is_empty`, `space.subset`).

Variable order, top to bottom:

* `f`: the address family (true: IPv6);
* `s0`, `s1`, ...: the source address, most significant bit first;
* `d0`, `d1`, ...: the destination address, likewise;
* `p0`, `p1`: the protocol (tcp 00, udp 01, icmp 10, icmpv6 11);
* `l0`..`l15`: the L4 value, most significant bit first.

Addresses are encoded in one of two ways:

* **exact** (`PacketSpace()`): 128 bits per address; an IPv4 address uses the first 32 and
  leaves the rest free. Any CIDR can be represented.
* **atoms** (`PacketSpace(atoms)`, what the checks use): the address line is cut at every
  boundary the policy uses (`addresses.AddressAtoms`), and an address is the number of its
  atom, in as many bits as the count needs (12 for a policy of a thousand zones). Every address
  set of the policy is a union of atom ranges; a concrete address maps to its atom. This is the
  equivalence-class technique of network verifiers (atomic predicates, Veriflow, Delta-net):
  BDDs a fifth the size for IPv4 and a tenth for IPv6, and a selector of consecutive zones
  collapses to one range.

Every set built here is *well formed*: an IPv4 set in exact mode never constrains the unused
address bits, and a tcp/udp or icmp set only constrains the L4 bits of its own meaning.
Complements are taken relative to the valid packets (`space.true`): icmp only with IPv4,
icmpv6 only with IPv6, and in atom mode only atom numbers that exist.
"""

from __future__ import annotations

import bisect
import sys
from typing import Iterable, NamedTuple

from .addresses import WIDTH, AddressAtoms, AddressSet, block_cidrs, cidr_block, parse_cidr

def _cudd():
    """`dd.cudd`, imported without networkx: `dd` imports it, if it can, only to draw BDDs, and it
    would add a quarter of a second to every `septum check` (docs/performance.md)."""
    module = sys.modules.get("dd.cudd")
    if module is not None:
        return module
    if "networkx" in sys.modules:
        from dd import cudd

        return cudd
    sys.modules["networkx"] = None  # an import of it now fails, and dd carries on without it
    try:
        from dd import cudd
    finally:
        if sys.modules.get("networkx", 0) is None:
            del sys.modules["networkx"]
        # dd keeps the ImportError to raise it if networkx is ever asked for; its traceback would
        # keep every frame of this call alive, and with them the caller's policy and packet sets
        error = getattr(sys.modules.get("dd._utils"), "_nx_error", None)
        if isinstance(error, BaseException):
            error.__traceback__ = None
    return cudd


PROTOCOLS = {"tcp": 0, "udp": 1, "icmp": 2, "icmpv6": 3}
PROTOCOL_NAMES = {v: k for k, v in PROTOCOLS.items()}
SIDES = ("s", "d")


class Packet(NamedTuple):
    """One concrete packet. `port` is the destination port (tcp, udp); icmp uses type and code."""

    family: int  # 4 or 6
    source: int
    destination: int
    protocol: str  # tcp, udp, icmp, icmpv6
    port: int = 0
    icmp_type: int = 0
    icmp_code: int = 0

    @property
    def l4(self) -> int:
        if self.protocol in ("tcp", "udp"):
            return self.port
        return self.icmp_type * 256 + self.icmp_code


class PacketSpace:
    """A BDD manager with the packet fields declared, and constructors for packet sets.

    Sets are `dd.cudd.Function` objects of this manager; mix sets of one space only.
    """

    def __init__(self, atoms: AddressAtoms | None = None, extra: tuple[tuple[str, int], ...] = ()) -> None:
        """`extra`: more integer fields (name, bits), declared above the packet's own, for what a
        device sees besides the packet (the interfaces it came in by and goes out of, its
        connection-tracking state). Names are one letter, not one of f, s, d, p, l."""
        self.atoms = atoms
        self.address_bits = 128 if atoms is None else max(1, (atoms.count - 1).bit_length())
        bdd = _cudd().BDD()
        bdd.configure(reordering=False)
        self.bdd = bdd
        self.extra = dict(extra)
        names = [f"{field}{i}" for field, bits in extra for i in range(bits)]
        names += ["f"] + [f"{side}{i}" for side in SIDES for i in range(self.address_bits)] + ["p0", "p1"] + [
            f"l{i}" for i in range(16)]
        bdd.declare(*names)
        self.false = bdd.false
        self._true = bdd.true
        self.var = {name: bdd.var(name) for name in names}
        literals = {name: (~v, v) for name, v in self.var.items()}  # (bit 0, bit 1)
        self.addr_bits = {side: [literals[f"{side}{i}"] for i in range(self.address_bits)] for side in SIDES}
        self.l4_bits = [literals[f"l{i}"] for i in range(16)]
        self.extra_bits = {field: [literals[f"{field}{i}"] for i in range(bits)] for field, bits in extra}
        v6 = self.var["f"]
        self.family = {4: ~v6, 6: v6}
        p0, p1 = self.var["p0"], self.var["p1"]
        self.protocol = {"tcp": ~p0 & ~p1, "udp": ~p0 & p1, "icmp": p0 & ~p1, "icmpv6": p0 & p1}
        self._fields = {name: (name[0], int(name[1:]) if len(name) > 1 else 0) for name in names}
        self._ranges: dict[tuple, object] = {}
        self._prefixes: dict[tuple[str, int, int, int], object] = {}
        self._chunks: dict[tuple[str, int, int, int], object] = {}
        # valid packets: icmp only over IPv4, icmpv6 only over IPv6; in atom mode, real atoms only
        self._valid = {side: self._true for side in SIDES}
        if atoms is not None:
            for side in SIDES:
                self._valid[side] = self.false
                for family in (4, 6):
                    low, high = atoms.family_span(family)
                    self._valid[side] = self._valid[side] | (self.family[family] & self._range(side, low, high))
        self.true = ((self.family[4] & ~self.protocol["icmpv6"]) | (self.family[6] & ~self.protocol["icmp"])) \
            & self._valid["s"] & self._valid["d"]

    # ---- integer ranges over a field -------------------------------------------------------

    def _range(self, field: str, low: int, high: int):
        """Field value in [low, high]: two comparator chains, least significant bit first.
        `field` is "s", "d" (address bits) or "l" (the L4 value)."""
        key = (field, low, high)
        node = self._ranges.get(key)
        if node is None:
            bits = self.l4_bits if field == "l" else self.addr_bits.get(field) or self.extra_bits[field]
            width = len(bits)
            ge = le = self._true
            for i in range(width - 1, -1, -1):
                zero, one = bits[i]
                ge = (one & ge) if (low >> (width - 1 - i)) & 1 else (one | ge)
                le = (zero | le) if (high >> (width - 1 - i)) & 1 else (zero & le)
            node = ge & le
            self._ranges[key] = node
        return node

    def _range_set(self, side: str, ranges: list[list[int]]):
        """Address field in any of the sorted, disjoint, non-adjacent ranges: built top-down, one
        node per bit where the ranges split the space, so linear in their number."""
        bits = self.addr_bits[side]
        walk = _RangeWalk(self.bdd.ite, self._true, self.false, [one for _, one in bits], len(bits),
                          [r[0] for r in ranges], [r[1] for r in ranges])
        return walk.build(0, 0, 0, len(ranges))

    # ---- addresses -------------------------------------------------------------------

    def prefix(self, side: str, family: int, value: int, length: int):
        """Packets whose source (`side` "s") or destination ("d") address is in value/length."""
        key = (side, family, value, length)
        node = self._prefixes.get(key)
        if node is None:
            width = WIDTH[family]
            if self.atoms is not None:
                first = value
                last = value + (1 << (width - length)) - 1
                node = self._range(side, *self.atoms.span(family, first, last)) & self.family[family]
            else:
                node = self._true
                # one conjunction per byte, bottom byte first, from memoised byte chains
                for start in range(((length - 1) // 8) * 8 if length else -8, -1, -8):
                    bits = min(8, length - start)
                    byte = (value >> (width - start - bits)) & ((1 << bits) - 1)
                    node = self._chunk(side, start, bits, byte) & node
                node = node & self.family[family]
            self._prefixes[key] = node
        return node

    def _chunk(self, side: str, start: int, bits: int, value: int):
        """The conjunction of address bits start..start+bits-1 equal to value (bits <= 8)."""
        key = (side, start, bits, value)
        node = self._chunks.get(key)
        if node is None:
            literals = self.addr_bits[side]
            node = self._true
            for i in range(bits - 1, -1, -1):
                node = node & literals[start + i][(value >> (bits - 1 - i)) & 1]
            self._chunks[key] = node
        return node

    def cidr(self, side: str, cidr: str):
        family, value, length = parse_cidr(cidr)
        return self.prefix(side, family, value, length)

    def cidrs(self, side: str, cidrs: Iterable[str]):
        node = self.false
        for cidr in cidrs:
            node = node | self.cidr(side, cidr)
        return node

    def addresses(self, side: str, addresses: AddressSet):
        """An arbitrary address set (intervals) on one side."""
        node = self.false
        if self.atoms is not None:
            for family in (4, 6):
                ranges: list[list[int]] = []
                for first, last in addresses.family(family):
                    a, b = self.atoms.span(family, first, last)
                    if ranges and ranges[-1][1] + 1 == a:
                        ranges[-1][1] = b
                    else:
                        ranges.append([a, b])
                if len(ranges) == 1:
                    node = node | (self._range(side, *ranges[0]) & self.family[family])
                elif ranges:
                    node = node | (self._range_set(side, ranges) & self.family[family])
            return node
        for family, first, last in addresses.blocks():
            for cidr in block_cidrs(family, first, last):
                node = node | self.cidr(side, cidr)
        return node

    def field_range(self, field: str, low: int, high: int):
        """An extra field (`extra`) with a value in [low, high]."""
        return self._range(field, low, high)

    def complement_addresses(self, side: str, a):
        """All addresses (both families) not in the address-only set `a` of one side; the other
        fields stay free."""
        return self._valid[side] & ~a

    def any_address(self, family: int | None = None):
        node = self._valid["s"] & self._valid["d"]
        return node if family is None else node & self.family[family]

    # ---- services ------------------------------------------------------------------

    def l4_range(self, low: int, high: int):
        return self._range("l", low, high)

    def match(self, protocol: str, ports: Iterable[tuple[int, int]] = (), icmp_type: int | None = None,
              icmp_code: int | None = None):
        """One protocol clause. tcp/udp without ports, or icmp without a type, is the whole protocol."""
        node = self.protocol[protocol]
        if protocol in ("tcp", "udp"):
            ranges = list(ports)
            if ranges:
                l4 = self.false
                for low, high in ranges:
                    l4 = l4 | self.l4_range(low, high)
                node = node & l4
        else:
            node = node & self.family[4 if protocol == "icmp" else 6]
            if icmp_type is not None:
                if icmp_code is None:
                    node = node & self.l4_range(icmp_type * 256, icmp_type * 256 + 255)
                else:
                    node = node & self.l4_range(icmp_type * 256 + icmp_code, icmp_type * 256 + icmp_code)
        return node

    # ---- set operations --------------------------------------------------------------

    def diff(self, a, b):
        return a & ~b

    def complement(self, a):
        return self.true & ~a

    def is_empty(self, a) -> bool:
        return a == self.false

    def subset(self, a, b) -> bool:
        return (a & ~b) == self.false

    def union(self, sets: Iterable):
        node = self.false
        for s in sets:
            node = node | s
        return node

    # ---- concrete packets ----------------------------------------------------------------

    def _address_value(self, family: int, address: int) -> tuple[int, int]:
        """(value, width) of an address in this space's encoding."""
        if self.atoms is None:
            return address, WIDTH[family]
        return self.atoms.index(family, address), self.address_bits

    def packet(self, p: Packet):
        """The singleton set of one packet (exact-mode IPv4 packets leave the unused bits free)."""
        node = self.family[p.family] & self.protocol[p.protocol]
        for side, address in (("s", p.source), ("d", p.destination)):
            bits = self.addr_bits[side]
            value, width = self._address_value(p.family, address)
            for i in range(width):
                node = node & bits[i][(value >> (width - 1 - i)) & 1]
        l4 = p.l4
        for i in range(16):
            node = node & self.l4_bits[i][(l4 >> (15 - i)) & 1]
        return node

    def contains(self, a, p: Packet, extra: dict[str, int] | None = None) -> bool:
        """Whether the packet (with these values of the extra fields) is in the set: one walk
        down the BDD (complemented edges flip)."""
        if self.atoms is None:
            width = WIDTH[p.family]
            source, destination = p.source, p.destination
        else:
            width = self.address_bits
            source, destination = self.atoms.index(p.family, p.source), self.atoms.index(p.family, p.destination)
        values = {"f": (int(p.family == 6), 1), "s": (source, width), "d": (destination, width),
                  "p": (PROTOCOLS[p.protocol], 2), "l": (p.l4, 16)}
        for field, bits in self.extra.items():
            values[field] = ((extra or {}).get(field, 0), bits)
        fields = self._fields
        flipped = a.negated
        node = a
        while True:
            var = node.var
            if var is None:
                return not flipped
            field, i = fields[var]
            value, bits = values[field]
            node = node.high if i < bits and (value >> (bits - 1 - i)) & 1 else node.low
            flipped ^= node.negated

    def pick(self, a) -> Packet | None:
        """Some packet of the set, or None if it is empty. In atom mode, the lowest address of
        the atom stands for the atom."""
        found = self.pick_with_fields(a)
        return None if found is None else found[0]

    def pick_with_fields(self, a) -> tuple[Packet, dict[str, int]] | None:
        """`pick`, with the values of the extra fields."""
        if a == self.false:
            return None
        assignment = self.bdd.pick(a & self.true)
        if assignment is None:
            return None
        fields = {}
        for field, bits in self.extra.items():
            value = 0
            for i in range(bits):
                value = (value << 1) | int(assignment.get(f"{field}{i}", False))
            fields[field] = value
        packet = self._packet_of(assignment)
        return packet, fields

    def _packet_of(self, assignment: dict) -> Packet:
        family = 6 if assignment.get("f", False) else 4

        def number(prefix: str, bits: int) -> int:
            value = 0
            for i in range(bits):
                value = (value << 1) | int(assignment.get(f"{prefix}{i}", False))
            return value

        if self.atoms is None:
            source, destination = number("s", WIDTH[family]), number("d", WIDTH[family])
        else:
            source = self.atoms.first_address(number("s", self.address_bits))[1]
            destination = self.atoms.first_address(number("d", self.address_bits))[1]
        protocol = PROTOCOL_NAMES[number("p", 2)]
        l4 = number("l", 16)
        if protocol in ("tcp", "udp"):
            return Packet(family, source, destination, protocol, port=l4)
        return Packet(family, source, destination, protocol, icmp_type=l4 >> 8, icmp_code=l4 & 255)

    def size(self, a) -> int:
        """BDD nodes of a set (its memory, roughly)."""
        return a.dag_size


class _RangeWalk:
    """The recursion of `PacketSpace._range_set`, as an object rather than a nested function: a
    nested function that calls itself is a reference cycle (function, closure cell), which would
    keep the BDD nodes and manager it refers to for the cycle collector to free, in any order."""

    __slots__ = ("ite", "true", "false", "variables", "width", "starts", "ends")

    def __init__(self, ite, true, false, variables, width: int, starts: list[int], ends: list[int]) -> None:
        self.ite, self.true, self.false = ite, true, false
        self.variables, self.width, self.starts, self.ends = variables, width, starts, ends

    def build(self, level: int, low: int, i: int, j: int):
        """The BDD of the ranges i..j-1 within the block of addresses starting at `low` whose
        first `level` bits are fixed."""
        if i == j:
            return self.false
        width, starts, ends = self.width, self.starts, self.ends
        high = low + (1 << (width - level)) - 1
        if j - i == 1 and starts[i] <= low and ends[i] >= high:
            return self.true
        middle = low + (1 << (width - level - 1))
        left_end = bisect.bisect_left(starts, middle, i, j)  # ranges starting below the middle
        right_start = bisect.bisect_left(ends, middle, i, j)  # ranges ending at or above it
        return self.ite(self.variables[level], self.build(level + 1, middle, right_start, j),
                        self.build(level + 1, low, i, left_end))


def atoms_for(cidrs: Iterable[str]) -> AddressAtoms:
    """Atoms for a collection of CIDRs."""
    return AddressAtoms(cidr_block(c) for c in cidrs)
