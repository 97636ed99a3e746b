"""The packet space and its sets, as binary decision diagrams (CUDD through `dd.cudd`).

A packet is (address family, source address, destination address, protocol, L4 value), where the
L4 value is the destination port for tcp and udp and `type * 256 + code` for icmp and icmpv6. A
packet set is a BDD over these bits; union, intersection, difference, emptiness and containment
are BDD operations (`|`, `&`, `space.diff`, `== space.false`, `<=`), each a table lookup once
computed.

Variable order, top to bottom (291 variables):

* `f`: the address family (true: IPv6);
* `s0`..`s127`: the source address, most significant bit first; an IPv4 address uses `s0`..`s31`
  and leaves the rest free;
* `d0`..`d127`: the destination address, likewise;
* `p0`, `p1`: the protocol (tcp 00, udp 01, icmp 10, icmpv6 11);
* `l0`..`l15`: the L4 value, most significant bit first.

Addresses first measured best: a flow is a product of three independent parts (source,
destination, service), so any order keeps one flow linear in its parts, and the address-first
order lets flows between the same endpoints share their address nodes (docs/packets.md).

Every set built here is *well formed*: an IPv4 set never constrains `s32`..`s127`/`d32`..`d127`,
and a tcp/udp or icmp set only constrains the L4 bits of its own meaning. Complements are taken
relative to the set of valid packets (`space.true`): icmp only with IPv4, icmpv6 only with IPv6.
"""

from __future__ import annotations

from typing import Iterable, NamedTuple

from dd import cudd

from .addresses import WIDTH, AddressSet, block_cidrs, parse_cidr

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

    def __init__(self) -> None:
        bdd = cudd.BDD()
        bdd.configure(reordering=False)
        self.bdd = bdd
        names = ["f"] + [f"{side}{i}" for side in SIDES for i in range(128)] + ["p0", "p1"] + [
            f"l{i}" for i in range(16)]
        bdd.declare(*names)
        self.false = bdd.false
        self._true = bdd.true
        self.var = {name: bdd.var(name) for name in names}
        self.literals = {name: (~v, v) for name, v in self.var.items()}  # (bit 0, bit 1)
        self.addr_bits = {side: [self.literals[f"{side}{i}"] for i in range(128)] for side in SIDES}
        self.l4_bits = [self.literals[f"l{i}"] for i in range(16)]
        v6 = self.var["f"]
        self.family = {4: ~v6, 6: v6}
        p0, p1 = self.var["p0"], self.var["p1"]
        self.protocol = {"tcp": ~p0 & ~p1, "udp": ~p0 & p1, "icmp": p0 & ~p1, "icmpv6": p0 & p1}
        # valid packets: icmp only over IPv4, icmpv6 only over IPv6
        self.true = (self.family[4] & ~self.protocol["icmpv6"]) | (self.family[6] & ~self.protocol["icmp"])
        self._prefixes: dict[tuple[str, int, int, int], object] = {}
        self._ranges: dict[tuple[int, int], object] = {}

    # ---- addresses -------------------------------------------------------------------

    def prefix(self, side: str, family: int, value: int, length: int):
        """Packets whose source (`side` "s") or destination ("d") address is in value/length."""
        key = (side, family, value, length)
        node = self._prefixes.get(key)
        if node is None:
            bits = self.addr_bits[side]
            width = WIDTH[family]
            node = self._true
            for i in range(length - 1, -1, -1):
                node = node & bits[i][(value >> (width - 1 - i)) & 1]
            node = node & self.family[family]
            self._prefixes[key] = node
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
        for family, first, last in addresses.blocks():
            for cidr in block_cidrs(family, first, last):
                node = node | self.cidr(side, cidr)
        return node

    def any_address(self, family: int | None = None):
        return self._true if family is None else self.family[family]

    # ---- services ------------------------------------------------------------------

    def l4_range(self, low: int, high: int):
        """L4 value in [low, high]: two 16-bit comparator chains."""
        key = (low, high)
        node = self._ranges.get(key)
        if node is None:
            ge = le = self._true
            for i in range(15, -1, -1):  # least significant bit first
                zero, one = self.l4_bits[i]
                ge = (one & ge) if (low >> (15 - i)) & 1 else (one | ge)
                le = (zero | le) if (high >> (15 - i)) & 1 else (zero & le)
            node = ge & le
            self._ranges[key] = node
        return node

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

    def complement_addresses(self, a):
        """All addresses (both families) not in the address-only set `a`; other fields stay free."""
        return ~a

    def complement(self, a):
        return self.true & ~a

    def is_empty(self, a) -> bool:
        return a == self.false

    def subset(self, a, b) -> bool:
        return a <= b

    def union(self, sets: Iterable):
        node = self.false
        for s in sets:
            node = node | s
        return node

    # ---- concrete packets ----------------------------------------------------------------

    def packet(self, p: Packet):
        """The singleton set of one packet (IPv4 packets leave the unused address bits free)."""
        width = WIDTH[p.family]
        node = self.family[p.family] & self.protocol[p.protocol]
        for side, value in (("s", p.source), ("d", p.destination)):
            bits = self.addr_bits[side]
            for i in range(width):
                node = node & bits[i][(value >> (width - 1 - i)) & 1]
        l4 = p.l4
        for i in range(16):
            node = node & self.l4_bits[i][(l4 >> (15 - i)) & 1]
        return node

    def contains(self, a, p: Packet) -> bool:
        return (a & self.packet(p)) != self.false

    def pick(self, a) -> Packet | None:
        """Some packet of the set (the lowest unconstrained bits are 0), or None if it is empty."""
        if a == self.false:
            return None
        assignment = self.bdd.pick(a)
        family = 6 if assignment.get("f", False) else 4
        width = WIDTH[family]

        def number(prefix: str, bits: int, offset: int = 0) -> int:
            value = 0
            for i in range(bits):
                value = (value << 1) | int(assignment.get(f"{prefix}{i + offset}", False))
            return value

        protocol = PROTOCOL_NAMES[number("p", 2)]
        l4 = number("l", 16)
        if protocol in ("tcp", "udp"):
            return Packet(family, number("s", width), number("d", width), protocol, port=l4)
        return Packet(family, number("s", width), number("d", width), protocol, icmp_type=l4 >> 8,
                      icmp_code=l4 & 255)

    def size(self, a) -> int:
        """BDD nodes of a set (its memory, roughly)."""
        return a.dag_size
