"""What an nftables ruleset accepts, read from the kernel's own account of it.

The input is the parsed output of `nft -j list table inet NAME` (libnftables-json(5)) after the
ruleset was loaded into a kernel; the output is the set of packets (a BDD of a `DeviceSpace`:
ingress, egress, conntrack state, family, addresses, protocol, L4 value) that the table accepts
at one hook. It is written from nft(8), libnftables-json(5) and experiments with nftables 1.0.6,
not from the code that writes rulesets, so that a mistake there is not mirrored here.

Semantics implemented:

* The base chains of the table at the hook (type filter) run in priority order; `accept` in one
  hands the packet to the next, `drop` is final, so the table accepts what every one of them
  accepts. A base chain's policy (accept when absent) applies when its rules give no verdict, or
  on `return` from it.
* Rules run in order. A rule is a conjunction of `match` expressions evaluated left to right;
  `counter` and `log` do not change the outcome; the rule ends with a verdict (`accept`, `drop`,
  `reject` (a drop, for this purpose), `continue`, `return`, `jump`, `goto`) or a verdict map
  (`vmap`: no element for the key means no verdict, and the next rule runs). `jump` comes back
  to the next rule when the called chain returns (a `return`, or the end of a regular chain);
  `goto` does not: the chain's return is the caller's return.
* Match left sides: `meta iifname|oifname|l4proto|nfproto`, `ip|ip6 saddr|daddr`,
  `tcp|udp|th dport`, `icmp|icmpv6 type|code`, `ct state`, and concatenations of them. Right
  sides: values, prefixes, ranges, anonymous sets, named sets and maps (`@name`), elements with
  comments or counters. Operators: `==` (membership for sets), `!=` (its negation, the implicit
  dependency still required) and, for `ct state`, `in` (the flag test `state & mask != 0`).
  Symbolic constants are read with nft's tables below (`nft describe ...`); ct state is one bit
  per packet (invalid 1, established 2, related 4, new 8, untracked 64), so `ct state == a|b` never
  matches and `ct state in a,b` matches either.
* Implicit dependencies of an `inet` table (nft adds them to the kernel's bytecode and hides them
  when it lists the rule): `ip ...` only matches IPv4, `ip6 ...` only IPv6, `tcp dport` only tcp,
  `udp dport` only udp, `icmp ...` only ICMP over IPv4, `icmpv6 ...` only ICMPv6 over IPv6. The
  listing also renames a payload by the protocol a hidden match fixed: `meta l4proto tcp th dport
  22` is listed `tcp dport 22` (the same thing); `icmp type X th dport 5` is listed `icmp type X
  icmp checksum 5` (refused); `ip protocol tcp th dport 22` is listed `ip protocol tcp tcp dport 22`
  with no l4proto test in the kernel, which is one reason `ip protocol` is refused.
* `th dport` has no dependency: it reads bytes 2-3 of any transport header. For tcp and udp
  that is the destination port; for icmp and icmpv6 it is the checksum, which the packet space
  does not hold. Conditions are therefore three-valued (true, false, unknown: Kleene logic, per
  concatenated element and across a rule's matches): `meta l4proto . th dport { tcp . 443 }` is
  false for ICMP whatever its checksum, so exact. A verdict that would depend on an unknown value
  for a packet that reaches the rule raises `Unsupported`.
* A `jump`/`goto` loop that packets follow raises `Unsupported` (the kernel refuses any loop at load).

Refused (`Unsupported`, naming the chain, the rule's position and handle, and the expression):
any other expression or statement (marks, fib, raw payloads, `ip protocol`, limits, quotas, NAT,
set updates, ...); wildcard or escaped interface names (`"eth*"`), the empty name, and names
the `DeviceSpace` was not built with (they would alias "any other interface": build it with
`interface_names`); protocols and families outside the space (`meta l4proto gre`); flag tests on
other than `ct state`; sets with timeouts or whose type does not fit the expression; overlapping
verdict-map keys with different verdicts; base chains of the table at hooks the packets also
pass (for `forward`: ingress, prerouting, postrouting) unless empty with policy accept; base
chains at the hook that are not of type filter.

Outside the proof, by construction of the space: packets of other protocols (a rule without a
protocol match accepts them too), source ports, TCP flags, fragments, and the other tables of
the kernel (only `table inet NAME` is read).

Sets are built once each (per named set, per anonymous set, per field value): the elements of a
set as a trie over their components in BDD variable order, each level's union taken pairwise.
The interpreter of a document is kept with its `DeviceSpace` (weakly), so `trace` after
`accepted` reuses it; a document must not be changed after it has been interpreted.

Public API: `Unsupported`, `interface_names`, `accepted`, `trace`.
"""

from __future__ import annotations

import json
import weakref
from dataclasses import dataclass, field
from typing import Any, Iterable

from septum.compiler.devices.prove import OTHER, STATES, DeviceSpace, DevicePacket
from septum.compiler.packets.addresses import WIDTH, parse_cidr


class Unsupported(Exception):
    """The ruleset holds something this interpreter cannot turn into a packet set exactly."""


# ---- nft's symbolic constants (`nft describe ...`, nftables 1.0.6; tests check them) ------------

ICMP_TYPES = {
    "echo-reply": 0, "destination-unreachable": 3, "source-quench": 4, "redirect": 5, "echo-request": 8,
    "router-advertisement": 9, "router-solicitation": 10, "time-exceeded": 11, "parameter-problem": 12,
    "timestamp-request": 13, "timestamp-reply": 14, "info-request": 15, "info-reply": 16,
    "address-mask-request": 17, "address-mask-reply": 18,
}
ICMP_CODES = {
    "net-unreachable": 0, "host-unreachable": 1, "prot-unreachable": 2, "port-unreachable": 3,
    "frag-needed": 4, "net-prohibited": 9, "host-prohibited": 10, "admin-prohibited": 13,
}
ICMPV6_TYPES = {
    "destination-unreachable": 1, "packet-too-big": 2, "time-exceeded": 3, "parameter-problem": 4,
    "echo-request": 128, "echo-reply": 129, "mld-listener-query": 130, "mld-listener-report": 131,
    "mld-listener-done": 132, "mld-listener-reduction": 132, "nd-router-solicit": 133, "nd-router-advert": 134,
    "nd-neighbor-solicit": 135, "nd-neighbor-advert": 136, "nd-redirect": 137, "router-renumbering": 138,
    "ind-neighbor-solicit": 141, "ind-neighbor-advert": 142, "mld2-listener-report": 143,
}
ICMPV6_CODES = {
    "no-route": 0, "admin-prohibited": 1, "addr-unreachable": 3, "port-unreachable": 4, "policy-fail": 5,
    "reject-route": 6,
}
# meta l4proto: nft names protocols from /etc/protocols (Debian's netbase here)
INET_PROTOCOLS = {
    "ip": 0, "icmp": 1, "igmp": 2, "ggp": 3, "ipencap": 4, "st": 5, "tcp": 6, "egp": 8, "igp": 9, "pup": 12,
    "udp": 17, "hmp": 20, "xns-idp": 22, "rdp": 27, "iso-tp4": 29, "dccp": 33, "xtp": 36, "ddp": 37,
    "idpr-cmtp": 38, "ipv6": 41, "ipv6-route": 43, "ipv6-frag": 44, "idrp": 45, "rsvp": 46, "gre": 47,
    "esp": 50, "ah": 51, "skip": 57, "ipv6-icmp": 58, "ipv6-nonxt": 59, "ipv6-opts": 60, "rspf": 73,
    "vmtp": 81, "eigrp": 88, "ospf": 89, "ax.25": 93, "ipip": 94, "etherip": 97, "encap": 98, "pim": 103,
    "ipcomp": 108, "vrrp": 112, "l2tp": 115, "isis": 124, "sctp": 132, "fc": 133, "mobility-header": 135,
    "udplite": 136, "mpls-in-ip": 137, "manet": 138, "hip": 139, "shim6": 140, "wesp": 141, "rohc": 142,
    "ethernet": 143,
    "icmpv6": 58,  # what other systems' /etc/protocols may call it
}
NF_PROTOCOLS = {"ipv4": 2, "ipv6": 10}
CT_STATE_BITS = {"invalid": 0x1, "established": 0x2, "related": 0x4, "new": 0x8, "untracked": 0x40}

SPACE_PROTOCOLS = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6"}  # the protocols the packet space has
SPACE_FAMILIES = {2: 4, 10: 6}

# hooks a packet passes besides the one asked about (same table, same packet): their base chains
# could drop or change it first
OTHER_HOOKS_ON_PATH = {
    "forward": ("ingress", "prerouting", "postrouting"),
    "input": ("ingress", "prerouting"),
    "output": ("postrouting",),
}
INERT_OBJECTS = {"counter", "quota", "limit", "ct helper", "ct timeout", "ct expectation", "flowtable",
                 "secmark", "synproxy"}  # they act only through statements, which are refused
SET_FLAGS = {"interval", "constant", "dynamic"}
ELEMENT_KEYS = {"val", "comment", "counter"}
LOCATION_FREE = {"counter", "log"}  # statements that never change the verdict


def _text(expr: Any, limit: int = 160) -> str:
    text = json.dumps(expr, separators=(",", ":"))
    return text if len(text) <= limit else text[:limit] + "..."


# ---- values: JSON right-hand sides as hashable keys --------------------------------------------

def _freeze(expr: Any):
    """A value (immediate, prefix, range, flag list) as a hashable key: ints and strings as they
    are, ("prefix", addr, len), ("range", low, high), ("|", ...) for flag combinations."""
    if expr.__class__ in _PLAIN:
        return expr
    if isinstance(expr, dict) and len(expr) == 1:
        (kind, body), = expr.items()
        if kind == "prefix" and isinstance(body, dict):
            return "prefix", _freeze(body["addr"]), body["len"]
        if kind == "range" and isinstance(body, list) and len(body) == 2:
            low, high = body
            return ("range", low if low.__class__ in _PLAIN else _freeze(low),
                    high if high.__class__ in _PLAIN else _freeze(high))
        if kind == "|" and isinstance(body, list):
            return ("|",) + tuple(_freeze(part) for part in body)
    raise Unsupported(f"value {_text(expr)}")


_PLAIN = (str, int)  # values that are their own keys (exact classes: a bool is not one)


def _element_value(element: Any) -> Any:
    """A set element without its `elem` wrapper (comment, counter)."""
    if isinstance(element, dict) and "elem" in element:
        body = element["elem"]
        extra = set(body) - ELEMENT_KEYS
        if extra:
            raise Unsupported(f"set element with {', '.join(sorted(extra))}: {_text(element)}")
        return body["val"]
    return element


def _bits_in_range(true, bits, low: int, high: int):
    """Literals `bits` ((zero, one) pairs, most significant first) read as a number in [low, high]."""
    width = len(bits)
    ge = le = true
    for i in range(width - 1, -1, -1):
        zero, one = bits[i]
        shift = width - 1 - i
        ge = (one & ge) if (low >> shift) & 1 else (one | ge)
        le = (zero | le) if (high >> shift) & 1 else (zero & le)
    return ge & le


def _range_prefixes(first: int, last: int, width: int) -> list[tuple[int, int]]:
    """The fewest prefixes (value, length) that cover [first, last] exactly."""
    out = []
    while first <= last:
        size = first & -first if first else 1 << width  # the largest block aligned at `first`
        while size > last - first + 1:
            size >>= 1
        out.append((first, width - size.bit_length() + 1))
        first += size
    return out


def _union(nodes: list, false):
    """The union of many sets, pairwise (a balanced tree keeps the intermediate sets small)."""
    while len(nodes) > 1:
        nodes = [nodes[i] | nodes[i + 1] if i + 1 < len(nodes) else nodes[i] for i in range(0, len(nodes), 2)]
    return nodes[0] if nodes else false


# ---- fields: what a left-hand side reads ------------------------------------------------------

class _Field:
    """One packet field a match reads. `exists`: the packets that have it (the implicit dependency,
    within `ds.true`); `unknown`: those whose value the space cannot tell. `value(v)`: the packets
    with a known value in v (memoised), to be taken within `exists`. Values and `unknown` constrain
    only the field's own BDD variables (no `ds.true`, whose interface and state bounds are at the
    top of the order), so that a conjunction of fields in variable order stacks one on another."""

    datatype = ""  # the nft datatype of its values (what a named set's type must say)
    level = 0  # where its BDD variables are in the order (i, o, c, f, s, d, p, l): group by it

    def __init__(self, ds: DeviceSpace, label: str) -> None:
        self.ds = ds
        self.label = label
        self.exists = ds.true
        self.unknown = ds.false
        self._values: dict = {}

    def value(self, frozen):
        node = self._values.get(frozen)
        if node is None:
            node = self._values[frozen] = self._build(frozen)
        return node

    def _build(self, frozen):
        if isinstance(frozen, tuple) and frozen[0] == "range":
            return self._range(self._number(frozen[1]), self._number(frozen[2]))
        if isinstance(frozen, tuple):
            raise Unsupported(f"{self.label} compared with {frozen[0]} {frozen[1:]}")
        number = self._number(frozen)
        return self._range(number, number)

    def _number(self, value) -> int:
        raise Unsupported(f"{self.label} value {value!r}")

    def _range(self, low: int, high: int):
        raise Unsupported(f"{self.label} range {low}-{high}")

    def _named(self, value, table: dict[str, int], limit: int) -> int:
        if isinstance(value, str):
            if value in table:
                return table[value]
            if value.isdigit():
                value = int(value)
            else:
                raise Unsupported(f"{self.label}: unknown name {value!r}")
        if not isinstance(value, int) or not 0 <= value <= limit:
            raise Unsupported(f"{self.label}: value {value!r}")
        return value


class _Interface(_Field):
    datatype = "ifname"

    def __init__(self, ds: DeviceSpace, side: str) -> None:
        super().__init__(ds, "iifname" if side == "i" else "oifname")
        self.side = side
        self.level = 0 if side == "i" else 1

    def _build(self, frozen):
        if not isinstance(frozen, str):
            raise Unsupported(f"{self.label} compared with {frozen!r} (only exact names are supported)")
        if "*" in frozen or "\\" in frozen:
            raise Unsupported(f"{self.label} {frozen!r}: wildcard interface names are not supported")
        if frozen == OTHER or frozen not in self.ds.index:
            raise Unsupported(f"{self.label} {frozen!r}: interface not in the device space (build the "
                              f"DeviceSpace with interface_names(document))")
        return self.ds.interface(self.side, frozen)


class _Protocol(_Field):
    datatype = "inet_proto"
    level = 6

    def _number(self, value) -> int:
        return self._named(value, INET_PROTOCOLS, 255)

    def _range(self, low: int, high: int):
        node = self.ds.false
        for number in range(low, high + 1):
            if number not in SPACE_PROTOCOLS:
                raise Unsupported(f"meta l4proto {number}: a protocol outside the packet space "
                                  f"(tcp, udp, icmp, ipv6-icmp)")
            node = node | self.ds.space.protocol[SPACE_PROTOCOLS[number]]
        return node


class _Family(_Field):
    datatype = "nf_proto"
    level = 3

    def _number(self, value) -> int:
        return self._named(value, NF_PROTOCOLS, 255)

    def _range(self, low: int, high: int):
        if low != high or low not in SPACE_FAMILIES:
            raise Unsupported(f"meta nfproto {low}-{high}: only ipv4 and ipv6 are supported")
        return self.ds.space.family[SPACE_FAMILIES[low]]


class _Address(_Field):
    def __init__(self, ds: DeviceSpace, side: str, family: int) -> None:
        super().__init__(ds, f"{'ip' if family == 4 else 'ip6'} {'saddr' if side == 's' else 'daddr'}")
        self.side, self.family = side, family
        self.exists = ds.true & ds.space.family[family]
        self.datatype = "ipv4_addr" if family == 4 else "ipv6_addr"
        self.level = 4 if side == "s" else 5

    def _address(self, text) -> int:
        if not isinstance(text, str):
            raise Unsupported(f"{self.label} value {text!r}")
        family, value, length = parse_cidr(text)
        if family != self.family or length != WIDTH[family] or "/" in text:
            raise Unsupported(f"{self.label} value {text!r}")
        return value

    def _build(self, frozen):
        space = self.ds.space
        if isinstance(frozen, str):
            return space.prefix(self.side, self.family, self._address(frozen), WIDTH[self.family])
        if isinstance(frozen, tuple) and frozen[0] == "prefix":
            length = frozen[2]
            width = WIDTH[self.family]
            if not isinstance(length, int) or not 0 <= length <= width:
                raise Unsupported(f"{self.label} prefix length {length!r}")
            value = self._address(frozen[1]) & ~((1 << (width - length)) - 1)
            return space.prefix(self.side, self.family, value, length)
        if isinstance(frozen, tuple) and frozen[0] == "range":
            first, last = self._address(frozen[1]), self._address(frozen[2])
            if first > last:
                raise Unsupported(f"{self.label} range {frozen[1]}-{frozen[2]} is empty")
            return _union([space.prefix(self.side, self.family, value, length)
                           for value, length in _range_prefixes(first, last, WIDTH[self.family])], self.ds.false)
        raise Unsupported(f"{self.label} value {frozen!r}")


class _Port(_Field):
    """The destination port: `tcp dport`, `udp dport`, or `th dport` (bytes 2-3 of any transport
    header: the port for tcp and udp, the checksum for icmp and icmpv6, unknown here)."""

    datatype = "inet_service"
    level = 7

    def __init__(self, ds: DeviceSpace, protocol: str) -> None:
        super().__init__(ds, f"{protocol} dport")
        space = ds.space
        if protocol == "th":
            self.known = space.protocol["tcp"] | space.protocol["udp"]
            self.unknown = space.protocol["icmp"] | space.protocol["icmpv6"]
        else:
            self.known = space.protocol[protocol]
            self.exists = ds.true & self.known

    def _number(self, value) -> int:
        return self._named(value, {}, 65535)

    def _range(self, low: int, high: int):
        return self.known & self.ds.space.l4_range(low, high)


class _Icmp(_Field):
    """`icmp type|code`, `icmpv6 type|code`: the L4 value is type * 256 + code."""

    level = 7

    def __init__(self, ds: DeviceSpace, protocol: str, part: str) -> None:
        super().__init__(ds, f"{protocol} {part}")
        self.protocol, self.part = protocol, part
        self.exists = ds.true & ds.space.protocol[protocol]
        self.datatype = f"{protocol}_{part}"
        self.names = {("icmp", "type"): ICMP_TYPES, ("icmp", "code"): ICMP_CODES,
                      ("icmpv6", "type"): ICMPV6_TYPES, ("icmpv6", "code"): ICMPV6_CODES}[protocol, part]

    def _number(self, value) -> int:
        return self._named(value, self.names, 255)

    def _range(self, low: int, high: int):
        space = self.ds.space
        if self.part == "type":
            return space.protocol[self.protocol] & space.l4_range(low * 256, high * 256 + 255)
        return space.protocol[self.protocol] & _bits_in_range(space.bdd.true, space.l4_bits[8:], low, high)


class _State(_Field):
    """`ct state`: a bit mask, of which a packet has exactly one bit."""

    datatype = "ct_state"
    level = 2

    def __init__(self, ds: DeviceSpace) -> None:
        super().__init__(ds, "ct state")

    def mask(self, frozen) -> int:
        if isinstance(frozen, tuple) and frozen[0] == "|":
            mask = 0
            for part in frozen[1:]:
                mask |= self.mask(part)
            return mask
        if isinstance(frozen, str) and frozen in CT_STATE_BITS:
            return CT_STATE_BITS[frozen]
        if isinstance(frozen, int) and 0 <= frozen < 1 << 32:
            return frozen
        raise Unsupported(f"ct state value {frozen!r}")

    def any_of(self, mask: int):
        """Packets whose state bit is in the mask (`ct state in mask`)."""
        node = self.ds.false
        for state in STATES:
            if CT_STATE_BITS[state] & mask:
                node = node | self.ds.state(state)
        return node

    def _build(self, frozen):
        mask = self.mask(frozen)
        single = [state for state in STATES if CT_STATE_BITS[state] == mask]
        return self.ds.state(single[0]) if single else self.ds.false


# ---- the table --------------------------------------------------------------------------------

@dataclass
class _Chain:
    name: str
    body: dict
    rules: list = field(default_factory=list)

    @property
    def hook(self) -> str | None:
        return self.body.get("hook")


@dataclass
class _Outcome:
    """What a chain does with the packets it is given: a partition of them."""

    accept: Any
    drop: Any
    back: Any  # returned to the caller (from a base chain: to its policy)


@dataclass
class _Parts:
    """An outcome while a chain runs: the pieces of each part, united at the end."""

    accept: list
    drop: list
    back: list


@dataclass(frozen=True)
class _Step:
    """One verdict a rule gave some packets (what `trace` reports)."""

    chain: str
    position: int  # the rule's place in its chain, from 1; 0 for the policy
    handle: Any
    comment: str | None
    verdict: str

    def describe(self) -> str:
        if not self.position:
            return f"policy {self.verdict} of chain {self.chain}"
        if self.handle is None:
            return f"chain {self.chain} {self.verdict}"
        comment = f", comment {json.dumps(self.comment)}" if self.comment else ""
        return f"chain {self.chain} rule {self.position} (handle {self.handle}{comment}) {self.verdict}"


class _Interpreter:
    """One table of one document in one device space, with its fields, sets and chain outcomes
    built once each."""

    def __init__(self, document: dict, ds: DeviceSpace, table: str) -> None:
        ds = weakref.proxy(ds)  # the cache of interpreters (`_interpreter`) must not keep the space alive
        self.document, self.ds, self.table = document, ds, table
        self.chains: dict[str, _Chain] = {}
        self.sets: dict[str, dict] = {}
        self._read(document)
        self._fields: dict[str, _Field] = {}
        self._matches: dict[int, tuple] = {}
        self._memberships: dict[tuple, tuple] = {}
        self._maps: dict[tuple, list] = {}
        self._outcomes: dict[tuple, _Outcome] = {}
        self.steps: list[_Step] | None = None  # set by `trace` to record the verdicts given

    # ---- reading the document

    def _read(self, document: dict) -> None:
        found_table = False
        for item in document.get("nftables", []):
            if not isinstance(item, dict) or len(item) != 1:
                raise Unsupported(f"document item {_text(item)}")
            (kind, body), = item.items()
            if kind == "metainfo":
                continue
            if body.get("family") != "inet" or body.get("table", body.get("name")) != self.table:
                continue
            if kind == "table":
                found_table = True
            elif kind == "chain":
                self.chains[body["name"]] = _Chain(body["name"], body)
            elif kind == "rule":
                chain = self.chains.get(body["chain"])
                if chain is None:
                    raise Unsupported(f"rule handle {body.get('handle')} of chain {body['chain']} listed before it")
                chain.rules.append(body)
            elif kind in ("set", "map"):
                self.sets[body["name"]] = {**body, "kind": kind}
            elif kind not in INERT_OBJECTS:
                raise Unsupported(f"table object {kind}: {_text(body)}")
        if not found_table:
            raise Unsupported(f"the document has no table inet {self.table}")

    def base_chains(self, hook: str) -> list[_Chain]:
        interfering = OTHER_HOOKS_ON_PATH.get(hook)
        if interfering is None:
            raise Unsupported(f"hook {hook}: only {', '.join(OTHER_HOOKS_ON_PATH)} are supported")
        chains = []
        for chain in self.chains.values():
            if chain.hook == hook:
                if chain.body.get("type") != "filter":
                    raise Unsupported(f"chain {chain.name}: type {chain.body.get('type')} at hook {hook}")
                chains.append(chain)
            elif chain.hook in interfering and (chain.rules or chain.body.get("policy", "accept") != "accept"):
                raise Unsupported(f"chain {chain.name} at hook {chain.hook} also sees the packets of hook {hook}")
        chains.sort(key=lambda chain: chain.body.get("prio", 0))
        return chains

    # ---- left-hand sides

    def _field(self, expr) -> _Field:
        key = json.dumps(expr, sort_keys=True)
        found = self._fields.get(key)
        if found is None:
            found = self._fields[key] = self._make_field(expr)
        return found

    def _make_field(self, expr) -> _Field:
        ds = self.ds
        if isinstance(expr, dict) and len(expr) == 1:
            (kind, body), = expr.items()
            if kind == "meta" and set(body) == {"key"}:
                key = body["key"]
                if key in ("iifname", "oifname"):
                    return _Interface(ds, key[0])
                if key == "l4proto":
                    return _Protocol(ds, "meta l4proto")
                if key == "nfproto":
                    return _Family(ds, "meta nfproto")
            if kind == "payload" and set(body) == {"protocol", "field"}:
                protocol, name = body["protocol"], body["field"]
                if protocol in ("ip", "ip6") and name in ("saddr", "daddr"):
                    return _Address(ds, name[0], 4 if protocol == "ip" else 6)
                if protocol in ("th", "tcp", "udp") and name == "dport":
                    return _Port(ds, protocol)
                if protocol in ("icmp", "icmpv6") and name in ("type", "code"):
                    return _Icmp(ds, protocol, name)
            if kind == "ct" and body == {"key": "state"}:
                return _State(ds)
        raise Unsupported(f"expression {_text(expr)}")

    def _fields_of(self, left) -> tuple[_Field, ...]:
        if isinstance(left, dict) and set(left) == {"concat"}:
            return tuple(self._field(part) for part in left["concat"])
        return (self._field(left),)

    # ---- right-hand sides: membership of a value, a set, a named set

    def _rows(self, fields: tuple[_Field, ...], elements: Iterable) -> list[tuple]:
        """Each element as a tuple of hashable component values, in the fields' order."""
        rows = []
        count = len(fields)
        for element in elements:
            value = _element_value(element)
            if count == 1:
                rows.append((_freeze(value),))
                continue
            parts = value.get("concat") if isinstance(value, dict) and len(value) == 1 else None
            if not (isinstance(parts, list) and len(parts) == count):
                raise Unsupported(f"element {_text(value)} does not fit a concatenation of {count}")
            rows.append(tuple([part if part.__class__ in _PLAIN else _freeze(part) for part in parts]))
        return rows

    def _product_union(self, fields, rows: list[tuple], values, depth: int = 0):
        """The union over the rows of the conjunction of their component sets (`values(field, v)`),
        built as a trie, fields in BDD variable order: rows sharing a leading component share its
        conjunction, and each conjunction puts a set above the other (cheap)."""
        false = self.ds.false
        field_ = fields[depth]
        if depth == len(fields) - 1:
            return _union([values(field_, row[depth]) for row in rows], false)
        if len(rows) == 1:
            row = rows[0]
            node = values(fields[-1], row[-1])
            for i in range(len(fields) - 2, depth - 1, -1):
                node = values(fields[i], row[i]) & node
            return node
        groups: dict = {}
        for row in rows:
            groups.setdefault(row[depth], []).append(row)
        parts = []
        for value, group in groups.items():
            head = values(field_, value)
            if head != false:
                parts.append(head & self._product_union(fields, group, values, depth + 1))
        return _union(parts, false)

    def _set_of_rows(self, fields: tuple[_Field, ...], rows: list[tuple]) -> tuple:
        """(true, unknown) of the membership of a packet's fields in the rows: Kleene disjunction of
        Kleene conjunctions. Unknown only where some field's value is unknown."""
        order = sorted(range(len(fields)), key=lambda i: fields[i].level)
        ordered = tuple(fields[i] for i in order)
        rows = [tuple(row[i] for i in order) for row in rows]
        true = self._product_union(ordered, rows, _Field.value)
        unknown_region = _union([f.unknown for f in fields], self.ds.false)
        if unknown_region == self.ds.false:
            return true, self.ds.false

        memo: dict = {}

        def possible(f: _Field, v):  # within the unknown region: true or unknown
            node = memo.get((f, v))
            if node is None:
                node = memo[f, v] = (f.value(v) | f.unknown) & unknown_region
            return node

        # fields with a known value first: where they are false (tcp, udp) the row cannot be unknown
        check = sorted(range(len(ordered)), key=lambda i: (ordered[i].unknown != self.ds.false, -ordered[i].level))
        candidates = [row for row in rows if all(possible(ordered[i], row[i]) != self.ds.false for i in check)]
        maybe = self._product_union(ordered, candidates, possible) if candidates else self.ds.false
        return true, maybe & ~true

    def _membership(self, fields: tuple[_Field, ...], right) -> tuple:
        if isinstance(right, str) and right.startswith("@"):
            return self._named_set(fields, right[1:])
        if isinstance(right, dict) and set(right) == {"set"}:
            elements = right["set"] if isinstance(right["set"], list) else [right["set"]]
            return self._set_of_rows(fields, self._rows(fields, elements))
        return self._set_of_rows(fields, self._rows(fields, [right]))

    def _declared(self, name: str, kind: str, fields: tuple[_Field, ...]) -> dict:
        body = self.sets.get(name)
        if body is None or body["kind"] != kind:
            raise Unsupported(f"@{name}: no {kind} of that name in table {self.table}")
        declared = body.get("type")
        declared = [declared] if isinstance(declared, str) else list(declared or [])
        if declared != [f.datatype for f in fields]:
            raise Unsupported(f"@{name} has type {' . '.join(declared)}, the expression "
                              f"{' . '.join(f.label for f in fields)} reads {' . '.join(f.datatype for f in fields)}")
        flags = set(body.get("flags", [])) - SET_FLAGS
        if flags or "timeout" in body:
            raise Unsupported(f"@{name}: flags {', '.join(sorted(flags)) or 'timeout'} (elements that expire)")
        for statement in body.get("stmt", []):
            if set(statement) != {"counter"}:
                raise Unsupported(f"@{name}: element statement {_text(statement)}")
        return body

    def _elements_of(self, body: dict) -> list:
        elements = body.get("elem", [])
        return elements if isinstance(elements, list) else [elements]

    def _named_set(self, fields: tuple[_Field, ...], name: str) -> tuple:
        key = (name, fields)
        found = self._memberships.get(key)
        if found is None:
            body = self._declared(name, "set", fields)
            try:
                found = self._set_of_rows(fields, self._rows(fields, self._elements_of(body)))
            except Unsupported as error:
                raise Unsupported(f"set @{name}: {error}") from None
            self._memberships[key] = found
        return found

    # ---- matches and verdict maps

    def _match(self, match: dict) -> tuple:
        """(true, unknown) of one match statement, to be taken within the packets that reach it
        (a subset of `ds.true`)."""
        key = id(match)
        found = self._matches.get(key)
        if found is None:
            found = self._matches[key] = self._build_match(match)
        return found

    def _build_match(self, match: dict) -> tuple:
        op, left, right = match.get("op"), match.get("left"), match.get("right")
        fields = self._fields_of(left)
        exists = self.ds.true
        for f in fields:
            exists = exists & f.exists
        if op == "in":
            if len(fields) != 1 or not isinstance(fields[0], _State):
                raise Unsupported(f"flag test (in) on {_text(left)}")
            parts = right if isinstance(right, list) else [right]
            mask = 0
            for part in parts:
                mask |= fields[0].mask(_freeze(part))
            return exists & fields[0].any_of(mask), self.ds.false
        if isinstance(right, list):
            raise Unsupported(f"{op} with a list {_text(right)}")
        true, unknown = self._membership(fields, right)
        if op == "==":  # a member's values imply their fields' dependencies already
            return true, exists & unknown
        if op == "!=":
            return exists & ~true & ~unknown, exists & unknown
        raise Unsupported(f"operator {op!r}")

    def _verdict_map(self, vmap: dict) -> list[tuple]:
        """[(verdict, true, unknown)] of a vmap: the keys mapped to each verdict."""
        key = id(vmap)
        found = self._maps.get(key)
        if found is None:
            found = self._maps[key] = self._build_verdict_map(vmap)
        return found

    def _build_verdict_map(self, vmap: dict) -> list[tuple]:
        fields = self._fields_of(vmap["key"])
        data = vmap["data"]
        if isinstance(data, str) and data.startswith("@"):
            body = self._declared(data[1:], "map", fields)
            if body.get("map") != "verdict":
                raise Unsupported(f"@{data[1:]} maps to {body.get('map')}, not to verdicts")
            pairs = self._elements_of(body)
        elif isinstance(data, dict) and set(data) == {"set"}:
            pairs = data["set"]
        else:
            raise Unsupported(f"verdict map data {_text(data)}")
        by_verdict: dict[tuple, list] = {}
        for pair in pairs:
            if not (isinstance(pair, list) and len(pair) == 2):
                raise Unsupported(f"verdict map element {_text(pair)}")
            by_verdict.setdefault(_verdict(pair[1]), []).append(pair[0])
        exists = self.ds.true
        for f in fields:
            exists = exists & f.exists
        groups = []
        covered = self.ds.false
        for verdict, keys in by_verdict.items():
            true, unknown = self._set_of_rows(fields, self._rows(fields, keys))
            true, unknown = exists & true, exists & unknown
            if (true | unknown) & covered != self.ds.false:
                raise Unsupported(f"verdict map {_text(data, 60)}: keys overlap with different verdicts")
            covered = covered | true | unknown
            groups.append((verdict, true, unknown))
        return groups

    # ---- chains and rules

    def chain(self, name: str, live, stack: tuple[str, ...] = ()) -> _Outcome:
        key = (name, live)
        found = self._outcomes.get(key) if self.steps is None else None
        if found is None:
            found = self._run_chain(name, live, stack)
            if self.steps is None:
                self._outcomes[key] = found
        return found

    def _run_chain(self, name: str, live, stack: tuple[str, ...]) -> _Outcome:
        if name in stack:
            raise Unsupported(f"chain {name} is reached again from itself ({' -> '.join(stack + (name,))})")
        chain = self.chains.get(name)
        if chain is None:
            raise Unsupported(f"no chain {name} (jumped to from {stack[-1] if stack else 'nowhere'})")
        if stack and chain.hook:
            raise Unsupported(f"chain {name}: a base chain jumped to from {stack[-1]}")
        false = self.ds.false
        parts = _Parts([], [], [])
        remaining = live
        for position, rule in enumerate(chain.rules, 1):
            if remaining == false:
                break
            leaving = []
            for verdict, packets in self._rule(chain, position, rule, remaining):
                if packets == false:
                    continue
                if self.steps is not None:
                    self.steps.append(_Step(name, position, rule.get("handle"), rule.get("comment"),
                                            " ".join(verdict) + (" (verdict map)" if self._is_vmap(rule) else "")))
                leaving.append(self._apply(verdict, packets, parts, stack + (name,)))
            if leaving:
                remaining = remaining & ~_union(leaving, false)
        if self.steps is not None and stack and remaining != false:
            self.steps.append(_Step(name, len(chain.rules) + 1, None, None, "end of chain: return"))
        parts.back.append(remaining)
        return _Outcome(_union(parts.accept, false), _union(parts.drop, false), _union(parts.back, false))

    @staticmethod
    def _is_vmap(rule: dict) -> bool:
        return any("vmap" in statement for statement in rule.get("expr", []))

    def _apply(self, verdict: tuple, packets, parts: "_Parts", stack: tuple[str, ...]):
        """Give `packets` the verdict (adding to `parts`); the packets that leave the chain by it."""
        kind = verdict[0]
        if kind == "continue":
            return self.ds.false
        if kind == "accept":
            parts.accept.append(packets)
        elif kind in ("drop", "reject"):
            parts.drop.append(packets)
        elif kind == "return":
            parts.back.append(packets)
        else:  # jump, goto
            called = self.chain(verdict[1], packets, stack)
            parts.accept.append(called.accept)
            parts.drop.append(called.drop)
            if kind == "jump":
                return called.accept | called.drop
            parts.back.append(called.back)
        return packets

    def _rule(self, chain: _Chain, position: int, rule: dict, remaining) -> list[tuple]:
        """[(verdict, packets)] the rule gives, for disjoint parts of `remaining`."""
        try:
            return self._rule_verdicts(rule, remaining)
        except Unsupported as error:
            raise Unsupported(f"chain {chain.name} rule {position} (handle {rule.get('handle')}): {error}") from None

    def _rule_verdicts(self, rule: dict, remaining) -> list[tuple]:
        false = self.ds.false
        true, unknown = remaining, false
        statements = rule.get("expr", [])
        for index, statement in enumerate(statements):
            if not (isinstance(statement, dict) and len(statement) == 1):
                raise Unsupported(f"statement {_text(statement)}")
            (kind, body), = statement.items()
            last = index == len(statements) - 1
            if kind == "match":
                true, unknown = _kleene_and((true, unknown), self._match(body), false)
            elif kind in LOCATION_FREE:
                continue
            elif kind in VERDICTS or kind == "vmap":
                if not last:
                    raise Unsupported(f"statements after {kind}: {_text(statements[index + 1:])}")
                if unknown != false:
                    raise Unsupported(_UNKNOWN)
                if kind != "vmap":
                    return [(_verdict(statement), true)]
                out = []
                for verdict, keys, keys_unknown in self._verdict_map(body):
                    if true & keys_unknown != false:
                        raise Unsupported(_UNKNOWN)
                    out.append((verdict, true & keys))
                return out
            else:
                raise Unsupported(f"statement {_text(statement)}")
        return []


VERDICTS = ("accept", "drop", "reject", "continue", "return", "jump", "goto")
_UNKNOWN = ("the verdict depends on th dport for icmp/icmpv6 packets, where it is the checksum, which the "
            "packet space does not hold (restrict the match to tcp/udp, e.g. meta l4proto . th dport)")


def _verdict(expr) -> tuple:
    """A verdict statement or verdict-map value as ("accept",), ("jump", chain), ..."""
    if isinstance(expr, dict) and len(expr) == 1:
        (kind, body), = expr.items()
        if kind in ("accept", "drop", "continue", "return") and body is None:
            return (kind,)
        if kind == "reject":
            return (kind,)
        if kind in ("jump", "goto") and isinstance(body, dict) and isinstance(body.get("target"), str):
            return kind, body["target"]
    raise Unsupported(f"verdict {_text(expr)}")


def _kleene_and(a: tuple, b: tuple, false) -> tuple:
    """Conjunction of (true, unknown) pairs."""
    true = a[0] & b[0]
    if a[1] == false and b[1] == false:
        return true, false
    possible = (a[0] | a[1]) & (b[0] | b[1])
    return true, possible & ~true


# ---- the API ----------------------------------------------------------------------------------

_interpreters: "weakref.WeakKeyDictionary[DeviceSpace, _Interpreter]" = weakref.WeakKeyDictionary()


def _interpreter(document: dict, ds: DeviceSpace, table: str) -> _Interpreter:
    """The interpreter of this document in this space, kept (while the space lives) so that
    `trace` after `accepted` does not build the sets again."""
    found = _interpreters.get(ds)
    if found is None or found.document is not document or found.table != table:
        found = _interpreters[ds] = _Interpreter(document, ds, table)
    return found


def accepted(document: dict, ds: DeviceSpace, table: str = "septum", hook: str = "forward"):
    """The packets `table inet <table>` accepts at the hook: what every base chain there accepts."""
    interpreter = _interpreter(document, ds, table)
    live = ds.true
    for chain in interpreter.base_chains(hook):
        live = _base_outcome(interpreter, chain, live)
    return live


def _base_outcome(interpreter: _Interpreter, chain: _Chain, live):
    """What a base chain accepts of `live`: its accepts, and its policy's if that is accept."""
    outcome = interpreter.chain(chain.name, live)
    policy = chain.body.get("policy", "accept")
    if policy not in ("accept", "drop"):
        raise Unsupported(f"chain {chain.name}: policy {policy}")
    if interpreter.steps is not None and outcome.back != interpreter.ds.false:
        interpreter.steps.append(_Step(chain.name, 0, None, None, policy))
    return outcome.accept | (outcome.back if policy == "accept" else interpreter.ds.false)


def trace(document: dict, ds: DeviceSpace, packet: DevicePacket, table: str = "septum",
          hook: str = "forward") -> str:
    """Which rule decided the packet, and by which jumps it got there, for each base chain at the
    hook; e.g. 'chain from-x rule 3 (handle 17, comment "...") accept, reached by chain forward
    rule 2 (handle 58) jump from-x (verdict map)', or 'policy drop of chain forward'."""
    interpreter = _interpreter(document, ds, table)
    live = ds.true & ds.space.packet(packet.packet) & ds.interface("i", packet.ingress) \
        & ds.interface("o", packet.egress) & ds.state(packet.state)
    parts = []
    for chain in interpreter.base_chains(hook):
        interpreter.steps = []
        try:
            live = _base_outcome(interpreter, chain, live)
            steps = interpreter.steps
        finally:
            interpreter.steps = None
        if not steps:
            parts.append(f"chain {chain.name}: no verdict")
            continue
        decided, before = steps[-1], steps[:-1]
        text = decided.describe()
        if before:
            text += ", reached by " + ", then ".join(step.describe() for step in before)
        parts.append(text)
        if live == ds.false:
            break
    return "; ".join(parts)


def interface_names(document: dict, table: str = "septum") -> set[str]:
    """Every interface name the table's rules, sets and maps compare iifname or oifname with."""
    names: set[str] = set()
    for item in document.get("nftables", []):
        (kind, body), = item.items()
        if kind == "metainfo" or body.get("family") != "inet" or body.get("table") != table:
            continue
        if kind in ("set", "map"):
            declared = body.get("type")
            declared = [declared] if isinstance(declared, str) else list(declared or [])
            positions = [i for i, datatype in enumerate(declared) if datatype == "ifname"]
            elements = body.get("elem", [])
            for element in elements if isinstance(elements, list) else [elements]:
                key = element[0] if kind == "map" and isinstance(element, list) else element
                names.update(_names_at(_unwrapped(key), positions, len(declared)))
        elif kind == "rule":
            for statement in body.get("expr", []):
                names.update(_statement_names(statement))
    return names


def _statement_names(statement: dict) -> set[str]:
    if "match" in statement:
        left, right, keys = statement["match"].get("left"), statement["match"].get("right"), None
    elif "vmap" in statement:
        left, right, keys = statement["vmap"].get("key"), statement["vmap"].get("data"), True
    else:
        return set()
    parts = left["concat"] if isinstance(left, dict) and "concat" in left else [left]
    positions = [i for i, part in enumerate(parts)
                 if isinstance(part, dict) and part.get("meta", {}).get("key") in ("iifname", "oifname")]
    if not positions or (isinstance(right, str) and right.startswith("@")):
        return set()  # named sets and maps: read from their own objects
    elements = right["set"] if isinstance(right, dict) and "set" in right else [right]
    names: set[str] = set()
    for element in elements if isinstance(elements, list) else [elements]:
        key = element[0] if keys and isinstance(element, list) else element
        names.update(_names_at(_unwrapped(key), positions, len(parts)))
    return names


def _unwrapped(element):
    """A set element without its `elem` wrapper, whatever else the wrapper holds."""
    return element["elem"].get("val") if isinstance(element, dict) and "elem" in element else element


def _names_at(value, positions: list[int], count: int) -> set[str]:
    if not positions:
        return set()
    parts = value["concat"] if count > 1 and isinstance(value, dict) and "concat" in value else [value]
    return {parts[i] for i in positions if i < len(parts) and isinstance(parts[i], str)}
