"""What an Open vSwitch switch forwards, read from its flow table as `ovs-ofctl -O OpenFlow13
dump-flows --no-stats BRIDGE` prints it.

This is the independent interpreter of the OpenFlow backend: it is written from Open vSwitch's
documented semantics (ovs-fields(7), ovs-actions(7), and the classifier's conjunctive lookup), not
from the code that writes the flows (render.py, which it neither reads nor imports), so that a
mistake there is not mirrored here. The two evaluations, `accepted` (packet sets, by BDD over a
`DeviceSpace`) and `decide` (one concrete packet, by integer and mask arithmetic over the parsed
flows), are written separately so that each checks the other.

Semantics implemented:

* Lookup in a table: the flows are tried by priority, highest first; the first matching flow's
  actions run; no match is a drop (the OpenFlow 1.3 table miss with no miss flow; a table whose
  miss behaviour was changed with `ovs-ofctl mod-table` is outside this model and dump-flows does
  not show it). A table no flow names is empty: every packet sent to it is dropped.
* Conjunctive match (the classifier's algorithm): let H be the best ordinary flow (one without
  conjunction actions and without a `conj_id` match) that matches. Going down the priorities P of
  clause flows (`conjunction(id,k/n)` actions) above H's priority, conjunction `id` is satisfied
  at P when for every dimension k one of its clause flows at P matches; the table is then searched
  again, clause flows ignored, with `conj_id=id` set (ordinary flows and `conj_id=id` flows, by
  priority). A flow found there decides; if none is found, the search goes on at lower
  priorities, and finally H (or the miss) decides. At equal priority an ordinary flow beats clause
  flows.
* Actions, in order: `output:N` (a numbered port; nothing is sent when N is the packet's input
  port, as OpenFlow requires), `resubmit(,T)` (runs table T, then the next action),
  `goto_table:T` (last only: continues in T), `ct(table=T)` / `ct(commit,table=T)` (the packet
  goes through the connection tracker and continues in T with `ct_state` set; the actions after it
  see the original packet with `ct_state` cleared), `ct(commit)` (commits; the next actions see
  `ct_state` cleared), `drop` (alone: no actions), `note:...` (nothing),
  `conjunction(id,k/n)` (clause flows: only conjunction and note actions), `NORMAL` (only in a
  flow for ARP or IPv6 neighbour discovery, see below).
* `ct_state`: before any `ct` the packet is untracked (`-trk`, no flag set). After `ct(table=)`
  the DeviceSpace state `c` gives the flags: new -> `+trk+new`, established -> `+trk+est`,
  related -> `+trk+rel`, invalid -> `+trk+inv`. The value `untracked` of `c` (a packet the
  tracker of a host firewall would skip) has no OVS counterpart once `ct` ran: it is treated
  exactly like `new` (`+trk+new`).
* Match fields: `in_port` (a number); `ip`, `ipv6`, `tcp`, `udp`, `icmp`, `tcp6`, `udp6`,
  `icmp6`, `sctp`, `sctp6`, `arp`, `rarp`, `dl_type=`, `nw_proto=`; `nw_src`/`nw_dst` (also
  `ip_src`/`ip_dst`) and `ipv6_src`/`ipv6_dst` as an address, a CIDR or address/mask (any mask);
  `tp_dst` (also `tcp_dst`, `udp_dst`) as a value or value/mask; `icmp_type`/`icmp_code` (also
  `icmpv4_*`, `icmpv6_*`); `ct_state` as +/- flags or value/mask over `new est rel inv trk`;
  `conj_id`; `nw_ttl`, for neighbour discovery only. A protocol or family the packet space has no
  packet of (`arp`, `sctp`, `ip,nw_proto=47`, ...) matches no packet of the space.
* ARP and neighbour discovery: the packet space holds IP packets only. An `arp` flow matches none
  of them. A neighbour-discovery flow (`icmp6` with `icmp_type` 133..136 and `nw_ttl=255`)
  matches only packets with hop limit 255; the space has no hop limit, so such a flow is treated
  as matching no packet of the space (the ICMPv6 messages of those types in the space are judged
  by the other flows, as one with a lower hop limit would be). Those two are the only flows whose
  actions may be `NORMAL`.

Refused (`Unsupported`, naming the flow): any other action (set_field, mod_*, learn, group,
write_metadata, clear_actions, ct_clear, controller, FLOOD, ALL, LOCAL, IN_PORT, output to a port
given by name or with max_len, resubmit with a port or `ct`, goto_table not last or not forward,
drop with other actions, conjunction with other actions); `ct` with nat, zone, exec, alg, force or
anything but commit and table; any other match field (registers, metadata, tp_src, tcp_flags,
nw_tos, nw_frag, MAC addresses, VLANs, ct_mark/ct_zone ...), a `ct_state` test of `rpl`, `snat`
or `dnat` (the space does not say them), a field without its prerequisite, `nw_ttl` outside
neighbour discovery, `in_port` by name, `conj_id=0`; `NORMAL` on any other flow; for a table, clause
flows of one conjunction at different priorities or of different sizes n, a dimension with no
flow, n < 2, k > n; and, for the packets that reach them: two ordinary flows of equal priority
that both match with different actions (OVS leaves it undefined), two conjunctions satisfied at
one priority (unpredictable in OVS), a packet output more than once, a loop of resubmit / ct
recirculation. `accepted` also refuses a port the flows name that the DeviceSpace lacks (build
it with `port_names`).

Public API: `Unsupported`, `Flow`, `Decision`, `parse`, `port_names`, `accepted`, `decide`,
`trace`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Iterable, NamedTuple

from septum.compiler.devices.prove import STATES, DevicePacket, DeviceSpace
from septum.compiler.packets.space import Packet


class Unsupported(Exception):
    """The flow table holds something outside the semantics this interpreter reads exactly."""


# ---- constants ---------------------------------------------------------------------------------

IPV4, IPV6, ARP, RARP = 0x0800, 0x86DD, 0x0806, 0x8035
TCP, UDP, ICMP, ICMPV6, SCTP = 6, 17, 1, 58, 132

# ct_state flag bits (ovs-fields(7))
CT_FLAGS = {"new": 0x01, "est": 0x02, "rel": 0x04, "rpl": 0x08, "inv": 0x10, "trk": 0x20, "snat": 0x40,
            "dnat": 0x80}
CT_UNMODELLED = CT_FLAGS["rpl"] | CT_FLAGS["snat"] | CT_FLAGS["dnat"]
# the flags conntrack gives a packet of each DeviceSpace state (`untracked` as `new`, see above)
STATE_FLAGS = {"new": 0x21, "established": 0x22, "related": 0x24, "invalid": 0x30, "untracked": 0x21}

_PROTOCOL_WORDS = {"ip": (IPV4, None), "ipv6": (IPV6, None), "tcp": (IPV4, TCP), "udp": (IPV4, UDP),
                   "icmp": (IPV4, ICMP), "sctp": (IPV4, SCTP), "tcp6": (IPV6, TCP), "udp6": (IPV6, UDP),
                   "icmp6": (IPV6, ICMPV6), "sctp6": (IPV6, SCTP), "arp": (ARP, None), "rarp": (RARP, None)}
_ALIASES = {"ip_src": "nw_src", "ip_dst": "nw_dst", "tcp_dst": "tp_dst", "udp_dst": "tp_dst",
            "icmpv4_type": "icmp_type", "icmpv4_code": "icmp_code", "icmpv6_type": "icmp_type",
            "icmpv6_code": "icmp_code"}
# the packet space's protocols, by (ethertype, IP protocol)
_SPACE_PROTOCOL = {(IPV4, TCP): "tcp", (IPV4, UDP): "udp", (IPV4, ICMP): "icmp", (IPV6, TCP): "tcp",
                   (IPV6, UDP): "udp", (IPV6, ICMPV6): "icmpv6"}
_PROTOCOL_NUMBER = {"tcp": TCP, "udp": UDP, "icmp": ICMP, "icmpv6": ICMPV6}
_FAMILY_TYPE = {4: IPV4, 6: IPV6}
_WIDTH = {IPV4: 32, IPV6: 128}
# what dump-flows prints before the match: `key=value,` items and flag words
_META = {"cookie", "table", "duration", "n_packets", "n_bytes", "idle_timeout", "hard_timeout", "idle_age",
         "hard_age", "importance"}
_FLAG_WORDS = {"send_flow_rem", "check_overlap", "reset_counts", "no_packet_counts", "no_byte_counts"}
DEFAULT_PRIORITY = 32768


# ---- the parsed flows --------------------------------------------------------------------------

@dataclass(frozen=True)
class Match:
    """A flow's match, checked and normalised: addresses and the L4 value as (value, mask)."""

    in_port: int | None = None
    dl_type: int | None = None
    nw_proto: int | None = None
    src: tuple[int, int] | None = None  # (value, mask) over the family's width
    dst: tuple[int, int] | None = None
    l4: tuple[int, int] | None = None  # over the space's L4 value: dport, or type*256+code
    ct_state: tuple[int, int] = (0, 0)  # (value, mask)
    conj_id: int | None = None
    neighbour_discovery: bool = False  # icmp6, type 133..136, nw_ttl=255: no packet of the space

    @property
    def ip_protocol(self) -> str | None:
        """The packet-space protocol the match is limited to, or None (every one of the family)."""
        return None if self.nw_proto is None else _SPACE_PROTOCOL.get((self.dl_type, self.nw_proto), "none")

    @property
    def outside_space(self) -> bool:
        """Whether the match can hold no IP packet of the space at all."""
        return (self.neighbour_discovery or (self.dl_type is not None and self.dl_type not in (IPV4, IPV6))
                or self.ip_protocol == "none")


@dataclass(frozen=True)
class Action:
    kind: str  # output, resubmit, goto, ct, conjunction, note, drop, normal
    port: int | None = None  # output
    table: int | None = None  # resubmit, goto, ct (None: no recirculation)
    commit: bool = False  # ct
    conjunction: tuple[int, int, int] | None = None  # (id, k, n)
    text: str = ""


@dataclass(frozen=True, eq=False)
class Flow:
    cookie: int
    table: int
    priority: int
    match: dict  # field -> value as printed (None for a protocol word such as `ip`)
    actions: list  # the actions as printed, one string each
    text: str  # the line, stripped
    parsed: Match = field(default_factory=Match, repr=False)
    program: tuple[Action, ...] = field(default=(), repr=False)

    @property
    def conjunctions(self) -> tuple[tuple[int, int, int], ...]:
        return tuple(a.conjunction for a in self.program if a.kind == "conjunction")

    def describe(self) -> str:
        return f"[table {self.table}, priority {self.priority}, cookie {self.cookie:#x}] {self.text}"


def _split_top(text: str) -> list[str]:
    """Split at the commas outside parentheses."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _number(text: str, what: str, high: int, line: str) -> int:
    try:
        value = int(text, 0) if not re.fullmatch(r"0[0-9]+", text) else int(text, 10)
    except ValueError:
        raise Unsupported(f"{what} {text!r} is not a number: {line}") from None
    if not 0 <= value <= high:
        raise Unsupported(f"{what} {text} is out of range: {line}")
    return value


def _address(text: str, dl_type: int, line: str) -> tuple[int, int]:
    width = _WIDTH[dl_type]
    make = ipaddress.IPv4Address if dl_type == IPV4 else ipaddress.IPv6Address
    address, slash, mask_text = text.partition("/")
    try:
        value = int(make(address))
        if not slash:
            mask = (1 << width) - 1
        elif re.fullmatch(r"[0-9]+", mask_text):
            length = int(mask_text)
            if length > width:
                raise ValueError
            mask = ((1 << width) - 1) ^ ((1 << (width - length)) - 1)
        else:
            mask = int(make(mask_text))
    except ValueError:
        raise Unsupported(f"address {text!r} is not an IPv{4 if dl_type == IPV4 else 6} address/mask: {line}") \
            from None
    return value & mask, mask


def _ct_state(text: str, line: str) -> tuple[int, int]:
    if text.startswith("0x") or text[:1].isdigit():
        value_text, slash, mask_text = text.partition("/")
        value = _number(value_text, "ct_state", 0xFFFFFFFF, line)
        mask = _number(mask_text, "ct_state mask", 0xFFFFFFFF, line) if slash else 0xFFFFFFFF
    else:
        value = mask = 0
        for sign, name in re.findall(r"([+-])([a-z]+)", text):
            bit = CT_FLAGS.get(name)
            if bit is None:
                raise Unsupported(f"unknown ct_state flag {name!r}: {line}")
            mask |= bit
            value |= bit if sign == "+" else 0
        if "".join(sign + name for sign, name in re.findall(r"([+-])([a-z]+)", text)) != text:
            raise Unsupported(f"ct_state {text!r} is not +/- flags: {line}")
    mask &= 0xFFFFFFFF
    if mask & ~0xFF or mask & CT_UNMODELLED:
        raise Unsupported(f"ct_state tests a flag the packet space does not model (rpl, snat, dnat or "
                          f"undefined): {line}")
    return value & mask, mask


def _parse_match(items: list[str], line: str) -> tuple[dict, Match]:
    raw: dict = {}
    for item in items:
        key, eq, value = item.partition("=")
        if key in raw:
            raise Unsupported(f"field {key} given twice: {line}")
        raw[key] = value if eq else None
    dl_type = nw_proto = None
    fields: dict[str, str] = {}
    for key, value in raw.items():
        if value is None:
            if key not in _PROTOCOL_WORDS:
                raise Unsupported(f"unknown match word {key!r}: {line}")
            if dl_type is not None:
                raise Unsupported(f"two protocol words: {line}")
            dl_type, nw_proto = _PROTOCOL_WORDS[key]
            continue
        name = _ALIASES.get(key, key)
        if name in fields:
            raise Unsupported(f"field {name} given twice: {line}")
        fields[name] = value
    if "dl_type" in fields:
        given = _number(fields.pop("dl_type"), "dl_type", 0xFFFF, line)
        if dl_type is not None and given != dl_type:
            raise Unsupported(f"dl_type contradicts the protocol word: {line}")
        dl_type = given
    if "nw_proto" in fields:
        given = _number(fields.pop("nw_proto"), "nw_proto", 255, line)
        if dl_type not in (IPV4, IPV6):
            raise Unsupported(f"nw_proto without ip or ipv6: {line}")
        if nw_proto is not None and given != nw_proto:
            raise Unsupported(f"nw_proto contradicts the protocol word: {line}")
        nw_proto = given
    found: dict = {"dl_type": dl_type, "nw_proto": nw_proto}
    if "in_port" in fields:
        text = fields.pop("in_port")
        if not text.isdigit():
            raise Unsupported(f"in_port {text!r} is not a port number (read the flows with --no-names): {line}")
        found["in_port"] = _number(text, "in_port", 0xFFFFFEFF, line)
    for names, side, family in ((("nw_src", "nw_dst"), None, IPV4), (("ipv6_src", "ipv6_dst"), None, IPV6)):
        for name in names:
            if name in fields:
                if dl_type != family:
                    raise Unsupported(f"{name} without its prerequisite ({'ip' if family == IPV4 else 'ipv6'}): "
                                      f"{line}")
                found["src" if name.endswith("src") else "dst"] = _address(fields.pop(name), family, line)
    value = mask = 0
    if "tp_dst" in fields:
        if nw_proto not in (TCP, UDP, SCTP):
            raise Unsupported(f"tp_dst without tcp, udp or sctp: {line}")
        port_text, slash, mask_text = fields.pop("tp_dst").partition("/")
        value = _number(port_text, "tp_dst", 0xFFFF, line)
        mask = _number(mask_text, "tp_dst mask", 0xFFFF, line) if slash else 0xFFFF
    icmp = (dl_type, nw_proto) in ((IPV4, ICMP), (IPV6, ICMPV6))
    icmp_type = None
    for name, shift in (("icmp_type", 8), ("icmp_code", 0)):
        if name in fields:
            if not icmp:
                raise Unsupported(f"{name} without icmp or icmp6: {line}")
            number = _number(fields.pop(name), name, 255, line)
            value |= number << shift
            mask |= 0xFF << shift
            if name == "icmp_type":
                icmp_type = number
    if mask:
        found["l4"] = (value & mask, mask)
    if "ct_state" in fields:
        found["ct_state"] = _ct_state(fields.pop("ct_state"), line)
    if "conj_id" in fields:
        found["conj_id"] = _number(fields.pop("conj_id"), "conj_id", 0xFFFFFFFF, line)
        if found["conj_id"] == 0:
            raise Unsupported(f"conj_id=0 matches every packet's first lookup: {line}")
    if "nw_ttl" in fields:
        ttl = _number(fields.pop("nw_ttl"), "nw_ttl", 255, line)
        if not (dl_type == IPV6 and nw_proto == ICMPV6 and icmp_type is not None and 133 <= icmp_type <= 136
                and ttl == 255):
            raise Unsupported(f"nw_ttl is read only in neighbour discovery flows (icmp6, icmp_type 133..136, "
                              f"nw_ttl=255): {line}")
        found["neighbour_discovery"] = True
    if fields:
        raise Unsupported(f"match field {sorted(fields)[0]!r} is outside the semantics: {line}")
    return raw, Match(**found)


def _parse_action(text: str, line: str) -> Action:
    if text == "drop":
        return Action("drop", text=text)
    if text == "NORMAL":
        return Action("normal", text=text)
    if text.startswith("note:"):
        return Action("note", text=text)
    match = re.fullmatch(r"(?:output:)?([0-9]+)", text)
    if match:
        return Action("output", port=_number(match.group(1), "port", 0xFFFFFEFF, line), text=text)
    match = re.fullmatch(r"resubmit\(,([0-9]+)\)", text)
    if match:
        return Action("resubmit", table=_number(match.group(1), "table", 254, line), text=text)
    match = re.fullmatch(r"goto_table:([0-9]+)", text)
    if match:
        return Action("goto", table=_number(match.group(1), "table", 254, line), text=text)
    match = re.fullmatch(r"conjunction\(([0-9]+),([0-9]+)/([0-9]+)\)", text)
    if match:
        conj = tuple(_number(g, "conjunction", 0xFFFFFFFF, line) for g in match.groups())
        if not (conj[2] >= 2 and 1 <= conj[1] <= conj[2] <= 64):
            raise Unsupported(f"conjunction {text} needs 1 <= k <= n and n >= 2: {line}")
        return Action("conjunction", conjunction=conj, text=text)  # type: ignore[arg-type]
    match = re.fullmatch(r"ct\((.*)\)", text)
    if match:
        commit, table = False, None
        for argument in _split_top(match.group(1)):
            if argument == "commit" and not commit:
                commit = True
            elif argument.startswith("table=") and table is None:
                table = _number(argument[6:], "ct table", 254, line)
            else:
                raise Unsupported(f"ct argument {argument!r} is outside the semantics (only commit and table=): "
                                  f"{line}")
        return Action("ct", table=table, commit=commit, text=text)
    raise Unsupported(f"action {text!r} is outside the semantics: {line}")


def _parse_line(line: str) -> Flow:
    head, found, tail = line.partition(" actions=")
    if not found:
        if line.startswith("actions="):
            head, tail = "", line[len("actions="):]
        else:
            raise Unsupported(f"not a flow (no actions=): {line}")
    cookie, table, priority, items = 0, 0, DEFAULT_PRIORITY, []
    tokens = head.split()
    for position, token in enumerate(tokens):
        if token in _FLAG_WORDS:
            continue
        key, eq, value = token.rstrip(",").partition("=")
        if token.endswith(",") and eq and key in _META:
            if key == "cookie":
                cookie = _number(value, "cookie", (1 << 64) - 1, line)
            elif key == "table":
                table = _number(value, "table", 254, line)
            continue
        if position != len(tokens) - 1:
            raise Unsupported(f"unexpected {token!r} before the match: {line}")
        items = _split_top(token)
        if items and items[0].startswith("priority="):
            priority = _number(items.pop(0)[len("priority="):], "priority", 65535, line)
    raw, parsed = _parse_match(items, line)
    actions = _split_top(tail)
    program = tuple(_parse_action(a, line) for a in actions)
    kinds = [a.kind for a in program]
    if "drop" in kinds and len(kinds) > 1:
        raise Unsupported(f"drop with other actions: {line}")
    if "conjunction" in kinds and set(kinds) - {"conjunction", "note"}:
        raise Unsupported(f"conjunction actions with other actions: {line}")
    if "conjunction" in kinds and parsed.conj_id is not None:
        raise Unsupported(f"a clause flow that matches conj_id: {line}")
    if "goto" in kinds and (kinds.index("goto") != len(kinds) - 1 or program[-1].table <= table):
        raise Unsupported(f"goto_table must be the last action and go to a later table: {line}")
    if "normal" in kinds and not (parsed.dl_type == ARP or parsed.neighbour_discovery):
        raise Unsupported(f"NORMAL on a flow that can match IP packets (only ARP and neighbour discovery "
                          f"flows may use it): {line}")
    return Flow(cookie, table, priority, raw, actions, line, parsed, program)


def parse(text: str) -> list[Flow]:
    """The flows of a `dump-flows --no-stats` listing (header lines are skipped)."""
    flows = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("OFPST_", "NXST_", "#")):
            continue
        flows.append(_parse_line(line))
    return flows


def port_names(flows: Iterable[Flow]) -> set[str]:
    """Every port number the flows name (in_port, output), as text: the DeviceSpace's interfaces."""
    names = set()
    for flow in flows:
        if flow.parsed.in_port is not None:
            names.add(str(flow.parsed.in_port))
        names.update(str(a.port) for a in flow.program if a.kind == "output")
    return names


# ---- the tables ---------------------------------------------------------------------------------

class _Table:
    """One table's flows, sorted: ordinary flows by priority, clause flows by (priority, id, k)."""

    def __init__(self, number: int, flows: list[Flow]) -> None:
        self.number = number
        self.ordinary = sorted((f for f in flows if not f.conjunctions), key=lambda f: -f.priority)
        self.plain = [f for f in self.ordinary if f.parsed.conj_id is None]
        # conjunction id -> (priority, n, {k: [flows]})
        self.conjunctions: dict[int, tuple[int, int, dict[int, list[Flow]]]] = {}
        for flow in flows:
            for ident, k, n in flow.conjunctions:
                found = self.conjunctions.get(ident)
                if found is None:
                    found = self.conjunctions[ident] = (flow.priority, n, {})
                if found[0] != flow.priority:
                    raise Unsupported(f"table {number}: the clause flows of conjunction {ident} are at different "
                                      f"priorities ({found[0]}, {flow.priority}): {flow.text}")
                if found[1] != n:
                    raise Unsupported(f"table {number}: conjunction {ident} has clauses of different sizes: "
                                      f"{flow.text}")
                found[2].setdefault(k, []).append(flow)
        for ident, (priority, n, dimensions) in self.conjunctions.items():
            missing = [k for k in range(1, n + 1) if k not in dimensions]
            if missing:
                raise Unsupported(f"table {number}: conjunction {ident} has no flow for dimension {missing[0]}/{n}")
        self.levels = sorted({p for p, _, _ in self.conjunctions.values()} | {f.priority for f in self.plain},
                             reverse=True)
        self.by_level: dict[int, list[int]] = {}
        for ident, (priority, _, _) in sorted(self.conjunctions.items()):
            self.by_level.setdefault(priority, []).append(ident)

    def relookup(self, ident: int) -> list[Flow]:
        """The flows the search with conj_id=ident considers, by priority."""
        return [f for f in self.ordinary if f.parsed.conj_id in (None, ident)]


def _tables(flows: Iterable[Flow]) -> dict[int, _Table]:
    grouped: dict[int, list[Flow]] = {}
    for flow in flows:
        grouped.setdefault(flow.table, []).append(flow)
    return {number: _Table(number, members) for number, members in grouped.items()}


def _same_actions(a: Flow, b: Flow) -> bool:
    return a.program == b.program


def _tie(table: int, a: Flow, b: Flow) -> Unsupported:
    return Unsupported(f"table {table}: flows of equal priority {a.priority} overlap with different actions "
                       f"(undefined in OVS): {a.text} / {b.text}")


# ---- packet sets (BDD) --------------------------------------------------------------------------

class _Symbolic:
    def __init__(self, flows: list[Flow], ds: DeviceSpace) -> None:
        self.ds, self.space = ds, ds.space
        self.tables = _tables(flows)
        self.memo: dict[tuple[int, bool], dict[int, object]] = {}
        self.stack: list[tuple[int, bool]] = []
        self.matches: dict[tuple[int, bool], object] = {}
        for name in port_names(flows):
            if name not in ds.index:
                raise Unsupported(f"port {name} of the flows is not an interface of the DeviceSpace "
                                  "(build it with port_names)")

    def _bits(self, bits, width: int, value: int, mask: int):
        node = self.space.true
        for i in range(width):
            bit = width - 1 - i
            if mask >> bit & 1:
                zero, one = bits[i]
                node = node & (one if value >> bit & 1 else zero)
        return node

    def _address(self, side: str, family: int, value: int, mask: int):
        width = 32 if family == 4 else 128
        length = bin(mask).count("1")
        if mask == ((1 << width) - 1) ^ ((1 << (width - length)) - 1):
            return self.space.prefix(side, family, value, length)
        return self.space.family[family] & self._bits(self.space.addr_bits[side], width, value, mask)

    def match(self, flow: Flow, tracked: bool):
        """The packets (over i, c and the packet) the flow's match holds, conj_id aside."""
        key = (id(flow), tracked)
        node = self.matches.get(key)
        if node is not None:
            return node
        m, space, ds = flow.parsed, self.space, self.ds
        if m.outside_space:
            node = ds.false
        else:
            node = ds.true
            if m.in_port is not None:
                node = node & ds.interface("i", str(m.in_port))
            family = {IPV4: 4, IPV6: 6}.get(m.dl_type)
            if family is not None:
                node = node & space.family[family]
            protocol = m.ip_protocol
            if protocol is not None:
                node = node & space.protocol[protocol]
            for side, masked in (("s", m.src), ("d", m.dst)):
                if masked is not None:
                    node = node & self._address(side, family, *masked)
            if m.l4 is not None:
                node = node & self._bits(space.l4_bits, 16, *m.l4)
            value, mask = m.ct_state
            if mask:
                if tracked:
                    states = ds.false
                    for name in STATES:
                        if STATE_FLAGS[name] & mask == value:
                            states = states | ds.state(name)
                    node = node & states
                elif value:  # untracked: no flag set
                    node = ds.false
        self.matches[key] = node
        return node

    def table(self, number: int, tracked: bool) -> dict[int, object]:
        """port -> the packets that, entering the table (in this phase), are output to the port."""
        key = (number, tracked)
        if key in self.memo:
            return self.memo[key]
        if key in self.stack:
            raise Unsupported(f"a loop of resubmit / ct recirculation through table {number}")
        self.stack.append(key)
        try:
            result = self._table(self.tables.get(number), tracked)
        finally:
            self.stack.pop()
        self.memo[key] = result
        return result

    def _first(self, table: _Table, flows: list[Flow], region, tracked: bool, out: dict) -> object:
        """First match over `flows` (by priority) for the packets of `region`: runs the actions,
        returns the packets no flow matched."""
        false = self.ds.false
        i = 0
        while i < len(flows) and region != false:
            j = i
            while j < len(flows) and flows[j].priority == flows[i].priority:
                j += 1
            level = flows[i:j]
            matched = false
            for a, flow in enumerate(level):
                here = region & self.match(flow, tracked)
                if here == false:
                    continue
                for other in level[a + 1:]:
                    if not _same_actions(flow, other) and here & self.match(other, tracked) != false:
                        raise _tie(table.number, flow, other)
                fresh = here & ~matched
                self._run(table, flow, fresh, tracked, out)
                matched = matched | here
            region = region & ~matched
            i = j
        return region

    def _table(self, table: _Table | None, tracked: bool) -> dict[int, object]:
        out: dict[int, object] = {}
        if table is None:
            return out
        false = self.ds.false
        remaining = self.ds.true
        plain = table.plain
        for priority in table.levels:
            if remaining == false:
                break
            level = [f for f in plain if f.priority == priority]
            remaining = self._first(table, level, remaining, tracked, out)
            satisfied = []
            for ident in table.by_level.get(priority, ()):
                _, n, dimensions = table.conjunctions[ident]
                node = remaining
                for k in range(1, n + 1):
                    node = node & self.space.union(self.match(f, tracked) for f in dimensions[k])
                if node != false:
                    satisfied.append((ident, node))
            for a, (ident, node) in enumerate(satisfied):
                for other, other_node in satisfied[a + 1:]:
                    if node & other_node != false:
                        raise Unsupported(f"table {table.number}: conjunctions {ident} and {other} are both "
                                          f"satisfied by one packet at priority {priority} (unpredictable in OVS)")
            for ident, node in satisfied:
                left = self._first(table, table.relookup(ident), node, tracked, out)
                remaining = remaining & ~(node & ~left)
        return out

    def _merge(self, out: dict, port: int, node, flow: Flow) -> None:
        false = self.ds.false
        if node == false:
            return
        for other, existing in out.items():
            if existing & node != false:
                raise Unsupported(f"a packet is output twice (ports {other} and {port}): {flow.text}")
        out[port] = out.get(port, false) | node

    def _run(self, table: _Table, flow: Flow, region, tracked: bool, out: dict) -> None:
        if region == self.ds.false:
            return
        mine: dict[int, object] = {}
        for action in flow.program:
            if action.kind == "output":
                self._merge(mine, action.port, region & ~self.ds.interface("i", str(action.port)), flow)
            elif action.kind in ("resubmit", "goto"):
                for port, node in self.table(action.table, tracked).items():
                    self._merge(mine, port, region & node, flow)
            elif action.kind == "ct":
                if action.table is not None:
                    for port, node in self.table(action.table, True).items():
                        self._merge(mine, port, region & node, flow)
                tracked = False  # the original packet goes on with ct_state cleared
            elif action.kind == "normal":  # only on flows that match no packet of the space
                raise Unsupported(f"NORMAL reached by an IP packet: {flow.text}")
        for port, node in mine.items():
            self._merge(out, port, node, flow)


def accepted(flows: list[Flow], ds: DeviceSpace):
    """Every (ingress, egress, state, packet) of the space the switch forwards."""
    walk = _Symbolic(flows, ds)
    node = ds.false
    for port, packets in walk.table(0, False).items():
        node = node | (ds.interface("o", str(port)) & packets)
    return ds.true & node


# ---- one packet (integer arithmetic) ------------------------------------------------------------

class Decision(NamedTuple):
    accepted: bool
    egress: str | None
    reason: str


def _matches(m: Match, ingress: str, flags: int, packet: Packet, conj_id: int = 0) -> bool:
    if m.outside_space:
        return False
    if m.conj_id is not None and m.conj_id != conj_id:
        return False
    if m.in_port is not None and ingress != str(m.in_port):
        return False
    if m.dl_type is not None and m.dl_type != _FAMILY_TYPE[packet.family]:
        return False
    if m.nw_proto is not None and m.nw_proto != _PROTOCOL_NUMBER[packet.protocol]:
        return False
    if m.src is not None and packet.source & m.src[1] != m.src[0]:
        return False
    if m.dst is not None and packet.destination & m.dst[1] != m.dst[0]:
        return False
    if m.l4 is not None:
        l4 = packet.port if packet.protocol in ("tcp", "udp") else (packet.icmp_type << 8) | packet.icmp_code
        if l4 & m.l4[1] != m.l4[0]:
            return False
    return flags & m.ct_state[1] == m.ct_state[0]


class _Concrete:
    def __init__(self, flows: list[Flow], ingress: str, state: str, packet: Packet) -> None:
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}")
        self.tables = _tables(flows)
        self.ingress, self.state, self.packet = ingress, state, packet
        self.outputs: list[int] = []
        self.lines: list[str] = []
        self.stack: list[tuple[int, bool]] = []

    def _first(self, table: _Table, flows: list[Flow], flags: int, conj_id: int) -> Flow | None:
        for a, flow in enumerate(flows):
            if _matches(flow.parsed, self.ingress, flags, self.packet, conj_id):
                for other in flows[a + 1:]:
                    if other.priority != flow.priority:
                        break
                    if not _same_actions(flow, other) and _matches(other.parsed, self.ingress, flags, self.packet,
                                                                   conj_id):
                        raise _tie(table.number, flow, other)
                return flow
        return None

    def lookup(self, table: _Table, flags: int) -> tuple[Flow | None, list[Flow]]:
        hard = self._first(table, table.plain, flags, 0)
        floor = -1 if hard is None else hard.priority
        for priority in sorted({p for p, _, _ in table.conjunctions.values() if p > floor}, reverse=True):
            satisfied = []
            for ident in table.by_level[priority]:
                _, n, dimensions = table.conjunctions[ident]
                clauses = []
                for k in range(1, n + 1):
                    hit = [f for f in dimensions[k] if _matches(f.parsed, self.ingress, flags, self.packet)]
                    if not hit:
                        break
                    clauses.append(hit[0])
                else:
                    satisfied.append((ident, clauses))
            if len(satisfied) > 1:
                raise Unsupported(f"table {table.number}: conjunctions {satisfied[0][0]} and {satisfied[1][0]} are "
                                  f"both satisfied by one packet at priority {priority} (unpredictable in OVS)")
            if satisfied:
                ident, clauses = satisfied[0]
                found = self._first(table, table.relookup(ident), flags, ident)
                if found is not None:
                    return found, clauses
        return hard, []

    def table(self, number: int, tracked: bool) -> None:
        key = (number, tracked)
        if key in self.stack:
            raise Unsupported(f"a loop of resubmit / ct recirculation through table {number}")
        table = self.tables.get(number)
        flags = STATE_FLAGS[self.state] if tracked else 0
        if table is None:
            self.lines.append(f"table {number}: no flows (dropped)")
            return
        flow, clauses = self.lookup(table, flags)
        for clause in clauses:
            self.lines.append(f"clause {clause.describe()}")
        if flow is None:
            self.lines.append(f"table {number}: no flow matches (table miss: dropped)")
            return
        self.lines.append(flow.describe())
        self.stack.append(key)
        try:
            for action in flow.program:
                if action.kind == "output":
                    if str(action.port) == self.ingress:
                        self.lines.append(f"output:{action.port} is the input port: not sent")
                    else:
                        self.outputs.append(action.port)
                elif action.kind in ("resubmit", "goto"):
                    self.table(action.table, tracked)
                elif action.kind == "ct":
                    if action.table is not None:
                        self.table(action.table, True)
                    tracked = False
                elif action.kind == "normal":
                    raise Unsupported(f"NORMAL reached by an IP packet: {flow.text}")
        finally:
            self.stack.pop()


def decide(flows: list[Flow], ingress: str, state: str, packet: Packet) -> Decision:
    """The switch's verdict on one packet arriving on port `ingress` (OTHER: a port the flows do
    not name) in connection state `state`, and the flows that decided it."""
    walk = _Concrete(flows, ingress, state, packet)
    walk.table(0, False)
    if len(walk.outputs) > 1:
        raise Unsupported(f"a packet is output more than once (ports {walk.outputs})")
    reason = "; ".join(walk.lines)
    if walk.outputs:
        return Decision(True, str(walk.outputs[0]), reason)
    return Decision(False, None, reason + "; dropped")


def trace(flows: list[Flow], ds: DeviceSpace, packet: DevicePacket) -> str:
    """What decided a packet of the space (for a proof's counterexample)."""
    decision = decide(flows, packet.ingress, packet.state, packet.packet)
    reason = decision.reason
    if decision.accepted and decision.egress != packet.egress:
        reason += f" (output to port {decision.egress}, not {packet.egress or 'another port'})"
    return reason
