"""Packet-level checks: the packet-set algebra, E520 unassigned-address, W521 redundant-rule and
E522 empty-flow, each shown passing and failing, plus hypothesis properties against a brute-force
evaluator written here from the model alone (no packet-set code)."""

from __future__ import annotations

import functools
import gc
import ipaddress
import itertools
import random
import re
import sys
import tempfile
import weakref
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ZONES
from helpers import examples
from septum.compiler import load_policy
from septum.compiler.model import SelAddress, SelHolding, SelName, SelTag
from septum.compiler.packets.addresses import (EVERYTHING, PRIVATE, UNASSIGNED, AddressAtoms, AddressSet, OwnerIndex,
                                               cidr_block)
from septum.compiler.packets.boxes import BoxSpace
from septum.compiler.packets.flows import PolicyPackets, policy_packets
from septum.compiler.packets.space import Packet, PacketSpace, atoms_for
from septum.compiler.verify import packet_checks
from septum.compiler.verify.packet_checks import (PACKET_CHECKS, empty_flow, order_key, redundant_rule,
                                                  unassigned_address)

SERVICES = """
service https { tcp 443; encrypted }
service http { tcp 80 }
service web { tcp 80, 443 }
service low { tcp 1-100 }
service high { tcp 101-200 }
service mid { tcp 50-150 }
service ping { icmp type 8 }
service ping6 { icmpv6 type 128 }
service unknown-port { description "port to be confirmed with the vendor" }
datatype ephi { sensitivity restricted }
"""

ZONES_TEXT = """
zone ehr { networks 10.10.0.0/24, fd00:10::/64 }
zone clinws { networks 10.20.0.0/20, fd00:20::/64 }
zone lab { networks 10.50.0.0/23 }
host ehr-app01 in ehr { address 10.10.0.10, fd00:10::10 }
host lis01 in lab { address 10.50.0.10 }
"""


def load(tmp_path: Path, flows: str, extra: str = ""):
    (tmp_path / "policy.septum").write_text(SERVICES + ZONES_TEXT + extra + flows)
    result = load_policy(tmp_path, graph=False)
    assert result.exit_status() != 2, [(d.code, d.message) for d in result.diagnostics]
    return result


def line_of(tmp_path: Path, text: str) -> int:
    lines = (tmp_path / "policy.septum").read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if line.startswith(text))


def findings(check, result) -> list[tuple[str, int, str]]:
    return [(d.code, d.span.line, d.message) for d in check(result.policy)]


# ---- the algebra -------------------------------------------------------------------------------


def _ip(text: str) -> int:
    return int(ipaddress.ip_address(text))


def test_prefixes_ports_and_families():
    space = PacketSpace()
    src = space.cidr("s", "10.0.0.0/8")
    dst = space.cidr("d", "192.168.1.0/24")
    web = space.match("tcp", [(80, 80), (1000, 2000)])
    flow = src & dst & web
    inside = Packet(4, _ip("10.1.2.3"), _ip("192.168.1.7"), "tcp", 1500)
    assert space.contains(flow, inside)
    assert not space.contains(flow, inside._replace(port=2001))
    assert not space.contains(flow, inside._replace(protocol="udp"))
    assert not space.contains(flow, inside._replace(destination=_ip("192.168.2.7")))
    assert space.pick(flow) == Packet(4, _ip("10.0.0.0"), _ip("192.168.1.0"), "tcp", 80)
    # icmp is IPv4 only, icmpv6 IPv6 only
    assert space.is_empty(space.match("icmp") & space.family[6])
    assert space.is_empty(space.match("icmpv6") & space.family[4])
    ping = space.match("icmp", icmp_type=8)
    assert space.contains(ping, Packet(4, 0, 0, "icmp", icmp_type=8, icmp_code=3))
    assert not space.contains(ping, Packet(4, 0, 0, "icmp", icmp_type=0))
    # an IPv4 prefix says nothing about IPv6 addresses
    assert space.is_empty(space.cidr("s", "0.0.0.0/0") & space.cidr("s", "::/0"))
    assert space.subset(space.cidr("s", "10.1.0.0/16"), space.cidr("s", "10.0.0.0/8"))
    assert not space.subset(space.cidr("s", "10.0.0.0/8"), space.cidr("s", "10.1.0.0/16"))


def test_atoms_encode_exactly_the_policy_addresses():
    cidrs = ["10.0.0.0/8", "10.1.0.0/16", "10.1.0.5/32", "fd00::/8", "fd00:1::1/128"]
    atoms = atoms_for(cidrs)
    space = PacketSpace(atoms)
    assert space.address_bits == (atoms.count - 1).bit_length()
    wide = space.cidr("s", "10.0.0.0/8")
    narrow = space.cidr("s", "10.1.0.0/16")
    host = space.cidr("s", "10.1.0.5")
    assert space.subset(host, narrow) and space.subset(narrow, wide) and not space.subset(wide, narrow)
    outside = space.complement_addresses("s", wide | space.cidr("s", "fd00::/8"))
    tcp = space.match("tcp")
    for address, family, expected in (("10.1.0.5", 4, False), ("11.0.0.1", 4, True), ("9.255.255.255", 4, True),
                                      ("fd00:1::1", 6, False), ("2001:db8::1", 6, True)):
        packet = Packet(family, _ip(address), 0, "tcp", 22)
        assert space.contains(outside & tcp, packet) is expected, address
    with pytest.raises(ValueError):
        space.cidr("s", "10.2.0.0/16")  # not a union of the policy's atoms


def test_address_sets_and_owners():
    a = AddressSet.of_cidrs(["10.0.0.0/24", "10.0.1.0/24", "10.0.3.0/24"])
    assert a.cidrs() == ["10.0.0.0/23", "10.0.3.0/24"]
    assert (a - AddressSet.of_cidrs(["10.0.0.128/25"])).cidrs() == ["10.0.0.0/25", "10.0.1.0/24", "10.0.3.0/24"]
    assert (a & AddressSet.of_cidrs(["10.0.1.0/25", "10.0.2.0/23"])).cidrs() == ["10.0.1.0/25", "10.0.3.0/24"]
    index = OwnerIndex([("x", ["10.0.0.0/24"]), ("y", ["10.0.2.0/24", "10.0.2.0/25"]), ("z", ["10.0.2.128/25"])])
    # unowned private space belongs to nobody (not the internet); unowned public space is the internet
    assert index.owners(*cidr_block("10.0.0.0/22")) == {"x", "y", "z", UNASSIGNED}
    assert index.owners(*cidr_block("10.0.2.200/32")) == {"y", "z"}
    assert index.owners(*cidr_block("10.0.0.7/32")) == {"x"}
    assert index.owners(*cidr_block("fd00::/8")) == {UNASSIGNED}
    assert index.owners(*cidr_block("fc00::/6")) == {UNASSIGNED, "internet"}
    assert index.owners(*cidr_block("0.0.0.0/0")) == {"x", "y", "z", UNASSIGNED, "internet"}
    assert index.internet == EVERYTHING - index.owned - PRIVATE


# ---- E520 unassigned-address ------------------------------------------------------------------------


def test_unassigned_address_passes_for_owned_and_public_addresses(tmp_path):
    result = load(tmp_path, """
allow clinws -> 10.10.0.0/24 : https
allow ehr-app01 -> 203.0.113.0/24, 2001:db8::/32 : https
allow 10.50.0.10 -> fd00:10::/64 : https
allow clinws -> internet : web
""")
    assert findings(unassigned_address, result) == []


def test_unassigned_address_reports_the_unowned_part(tmp_path):
    result = load(tmp_path, """
allow clinws -> 10.99.0.0/24 : https
allow clinws -> 10.10.0.0/22 : https
allow 100.64.1.0/24, fd00:99::/64 -> ehr : https
allow legacy -> ehr : https
allow legacy -> lab : https
""", extra="group legacy = 172.16.5.0/24, clinws\n")
    group_line = line_of(tmp_path, "group legacy")
    assert findings(unassigned_address, result) == [
        ("E520", line_of(tmp_path, "allow clinws -> 10.99"),
         "destination 10.99.0.0/24 is private address space (RFC 1918) that no zone owns"),
        ("E520", line_of(tmp_path, "allow clinws -> 10.10.0.0/22"),
         "destination 10.10.0.0/22 includes private address space (RFC 1918) that no zone owns: "
         "10.10.1.0/24, 10.10.2.0/23"),
        ("E520", line_of(tmp_path, "allow 100.64"),
         "source 100.64.1.0/24 is private address space (RFC 6598 shared address space) that no zone owns"),
        ("E520", line_of(tmp_path, "allow 100.64"),
         "source fd00:99::/64 is private address space (RFC 4193 unique local) that no zone owns"),
        ("E520", group_line,
         "group 'legacy' includes 172.16.5.0/24, which is private address space (RFC 1918) that no zone owns"),
    ]
    group = unassigned_address(result.policy)[-1]
    assert [r.span.line for r in group.related] == [line_of(tmp_path, "allow legacy -> ehr"),
                                                    line_of(tmp_path, "allow legacy -> lab")]
    assert group.check == "unassigned-address" and group.help


def test_unassigned_address_suggests_internet_for_everything(tmp_path):
    result = load(tmp_path, "allow clinws -> 0.0.0.0/0 : https\n")
    (finding,) = unassigned_address(result.policy)
    assert finding.message.startswith("destination 0.0.0.0/0 includes private address space (RFC 1918, RFC 6598 "
                                      "shared address space) that no zone owns: 10.0.0.0/13, 10.8.0.0/15, ")
    assert finding.help.startswith("to mean everything outside your own zones, name the built-in zone `internet`")


# ---- E522 empty-flow -----------------------------------------------------------------------------------


def test_empty_flow_passes_when_something_is_left(tmp_path):
    result = load(tmp_path, """
allow clinws -> ehr : https except to ehr-app01
allow ehr -> lab : https except from ehr-app01
allow clinws -> ehr-app01 : ping, ping6
allow clinws -> internet : https except to 203.0.113.0/24
""")
    assert findings(empty_flow, result) == []


def test_empty_flow_reports_why(tmp_path):
    result = load(tmp_path, """
allow clinws -> ehr : https except from clinws
allow clinws -> ehr-app01 : https except to ehr
allow clinws -> ehr : unknown-port
allow clinws -> lis01 : ping6
allow lis01 -> fd00:10::/64 : https
""")
    assert findings(empty_flow, result) == [
        ("E522", line_of(tmp_path, "allow clinws -> ehr : https except"),
         "flow allows nothing: `except from` removes its whole source"),
        ("E522", line_of(tmp_path, "allow clinws -> ehr-app01"),
         "flow allows nothing: `except to` removes its whole destination"),
        ("E522", line_of(tmp_path, "allow clinws -> ehr : unknown"),
         "flow allows nothing: its service matches no traffic (unknown-port)"),
        ("E522", line_of(tmp_path, "allow clinws -> lis01"),
         "flow allows nothing: its services (ping6) match only IPv6 packets, but source and destination share "
         "IPv4 addresses only"),
        ("E522", line_of(tmp_path, "allow lis01"),
         "flow allows nothing: its source (IPv4 only) and destination (IPv6 only) share no address family"),
    ]
    spans = [d.span for d in empty_flow(result.policy)]
    assert (spans[0].column, spans[0].end_column) == (41, 47)  # `clinws` after `except from`
    related = empty_flow(result.policy)[2].related
    assert [r.message for r in related] == ["service 'unknown-port' names no protocol"]


# ---- W521 redundant-rule ---------------------------------------------------------------------------------


def test_redundant_rule_passes_for_flows_that_each_add_something(tmp_path):
    result = load(tmp_path, """
allow clinws -> ehr-app01 : https
allow clinws -> ehr : ping
allow clinws -> ehr : low
allow clinws -> ehr : mid except to ehr-app01
allow clinws -> lab : https
allow ehr -> lab : https
""")
    assert findings(redundant_rule, result) == []


def test_redundant_rule_names_the_covering_flows(tmp_path):
    result = load(tmp_path, """
allow clinws -> ehr : https
allow clinws -> ehr : https
allow clinws -> ehr-app01 : https log carrying ephi
allow clinws -> ehr : low
allow clinws -> ehr : high
allow clinws -> ehr-app01 : mid
""")
    path = str(tmp_path / "policy.septum")
    first = line_of(tmp_path, "allow clinws -> ehr : https")
    low, high = line_of(tmp_path, "allow clinws -> ehr : low"), line_of(tmp_path, "allow clinws -> ehr : high")
    assert findings(redundant_rule, result) == [
        ("W521", first + 1, f"duplicate flow: the flow at {path}:{first} allows exactly the same packets"),
        ("W521", first + 2, f"redundant flow: the flow at {path}:{first} already allows everything this one does"),
        ("W521", first + 5, f"redundant flow: the flows at {path}:{low} and {path}:{high} together already allow "
                            "everything this one does"),
    ]
    duplicate, narrow, split = redundant_rule(result.policy)
    assert [r.span.line for r in duplicate.related] == [first]
    assert narrow.help == "this flow adds only `log` and `carrying ephi`: move that to the covering flow, then remove this one"
    assert [r.span.line for r in split.related] == [low, high]
    assert split.check == "redundant-rule" and split.severity.value == "warning"


def test_redundant_rule_never_names_a_flow_it_also_reports(tmp_path):
    result = load(tmp_path, """
allow clinws -> ehr-app01 : https
allow clinws -> ehr : https
allow clinws -> 10.10.0.0/24, fd00:10::/64 : https, http
""")
    last = line_of(tmp_path, "allow clinws -> 10.10")
    found = redundant_rule(result.policy)
    assert [(d.span.line, [r.span.line for r in d.related]) for d in found] == [(last - 2, [last]), (last - 1, [last])]


ORDER_FLOWS = [
    "allow clinws -> ehr : https",
    "allow clinws -> 10.10.0.0/24, fd00:10::/64 : https",  # ehr's networks: the same packets
    "allow clinws -> ehr : https log",
    "allow clinws -> ehr-app01 : low",
    "allow clinws -> ehr : low",
    "allow clinws -> ehr : high",
    "allow clinws -> ehr-app01 : mid",
]


def _redundant_verdicts(directory: Path) -> list[tuple]:
    """W521 findings without positions: the reported flow's text, the message and help with
    locations left out, and the texts of the flows it names."""
    result = load_policy(directory, graph=False)

    def text(span) -> str:
        return Path(span.file).read_text().splitlines()[span.line - 1]

    return sorted((text(d.span), re.sub(r"\S+\.septum:\d+", "L", d.message), d.help,
                   tuple(sorted(text(r.span) for r in d.related))) for d in redundant_rule(result.policy))


def test_redundant_rule_does_not_depend_on_statement_or_file_order(tmp_path):
    rng = random.Random(7)
    seen = set()
    for k in range(10):
        directory = tmp_path / f"p{k}"
        directory.mkdir()
        flows = ORDER_FLOWS[:]
        rng.shuffle(flows)
        files = {"a.septum": [SERVICES, ZONES_TEXT], "b/c.septum": [], "z.septum": []}
        for flow in flows:
            files[rng.choice(list(files))].append(flow)
        for name, lines in files.items():
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            (directory / name).write_text("\n".join(lines) + "\n")
        seen.add(tuple(_redundant_verdicts(directory)))
    (verdicts,) = seen
    remove = "remove this flow (the allow-list has no order: broader flows already permit its traffic)"
    # of three flows allowing the same packets, the one with `log` stays; the order of the others
    # (and the flow named as the cover) is by their text, not by where they are written
    assert verdicts == (
        ("allow clinws -> 10.10.0.0/24, fd00:10::/64 : https",
         "duplicate flow: the flow at L allows exactly the same packets", remove,
         ("allow clinws -> ehr : https log",)),
        ("allow clinws -> ehr : https", "duplicate flow: the flow at L allows exactly the same packets", remove,
         ("allow clinws -> ehr : https log",)),
        ("allow clinws -> ehr-app01 : low", "redundant flow: the flow at L already allows everything this one does",
         remove, ("allow clinws -> ehr : low",)),
        ("allow clinws -> ehr-app01 : mid",
         "redundant flow: the flows at L and L together already allow everything this one does", remove,
         ("allow clinws -> ehr : high", "allow clinws -> ehr : low")),
    )


def test_packet_sets_release_their_bdds_before_the_manager(tmp_path):
    # CUDD refuses to free a manager while nodes are referenced ("Still N nodes referenced upon
    # shutdown", printed from dd.cudd.BDD.__dealloc__): the cached sets must go with the policy by
    # reference counting, and a PolicyPackets the cycle collector frees must drop its BDDs first
    caught = []
    hook, sys.unraisablehook = sys.unraisablehook, caught.append
    try:
        result = load(tmp_path, "allow clinws, lab -> ehr : https, ping\nallow clinws -> ehr : https\n")
        policy = result.policy
        for check in PACKET_CHECKS.values():
            check(policy)
        packets = policy_packets(policy)
        assert packets.space.size(packets.flows()[0].packets) > 0  # BDDs exist, a range set among them
        cached = weakref.ref(packets)
        cyclic = PolicyPackets(policy)  # made by hand and stored on the policy: a reference cycle
        assert not cyclic.space.is_empty(cyclic.flows()[0].packets)
        policy._members["by hand"] = cyclic
        freed = weakref.ref(cyclic)
        del packets, cyclic, policy, result
        gc.collect()
        assert cached() is None and freed() is None
    finally:
        sys.unraisablehook = hook
    assert [str(u.exc_value) for u in caught] == []


def test_the_reference_hospital_is_clean():
    result = load_policy(ZONES, graph=False)
    for check in PACKET_CHECKS.values():
        assert [(d.code, str(d.span), d.message) for d in check(result.policy)] == []


# ---- brute force: the flows' packets straight from the model ---------------------------------------------

V4_POOL = ipaddress.ip_network("198.18.0.0/15")
V6_POOL = ipaddress.ip_network("2001:db8::/32")


@functools.lru_cache(maxsize=None)
def _block(cidr: str) -> tuple[int, int, int]:
    network = ipaddress.ip_network(cidr)
    return network.version, int(network.network_address), int(network.broadcast_address)


class Brute:
    """Evaluates flows on concrete packets by reading the model, nothing else."""

    def __init__(self, policy):
        self.policy = policy
        self.zone_blocks = {z.name: [_block(n.cidr) for n in z.networks] for z in policy.zones.values()}

    def _in(self, blocks, family, address) -> bool:
        return any(f == family and lo <= address <= hi for f, lo, hi in blocks)

    def endpoint(self, name: str, family: int, address: int, seen=()) -> bool:
        policy = self.policy
        if name in policy.zones:
            if policy.zones[name].builtin:
                return not any(self._in(b, family, address) for b in self.zone_blocks.values()) and \
                    (family, address) not in PRIVATE
            return self._in(self.zone_blocks[name], family, address)
        if name in policy.hosts:
            return self._in([_block(a.cidr) for a in policy.hosts[name].addresses], family, address)
        if name in policy.groups and name not in seen:
            return self.selector(policy.groups[name].selector, family, address, seen + (name,))
        return False

    def selector(self, selector, family: int, address: int, seen=()) -> bool:
        policy = self.policy
        for item in selector.items:
            if isinstance(item, SelAddress) and self._in([_block(item.cidr)], family, address):
                return True
            if isinstance(item, SelName) and self.endpoint(item.name, family, address, seen):
                return True
            if isinstance(item, SelTag):
                tagged = [z.name for z in policy.zones.values() if any(t.name == item.tag for t in z.tags)]
                tagged += [h.name for h in policy.hosts.values() if any(t.name == item.tag for t in h.tags)]
                if any(self.endpoint(n, family, address) for n in tagged):
                    return True
            if isinstance(item, SelHolding):
                holding = [z.name for z in policy.zones.values() if any(r.name == item.datatype for r in z.holds)]
                if any(self.endpoint(n, family, address) for n in holding):
                    return True
        return False

    def side(self, selector, carve, family: int, address: int) -> bool:
        return self.selector(selector, family, address) and not any(
            self.selector(c, family, address) for c in carve)

    def service(self, names, family: int, protocol: str, l4: int) -> bool:
        for name in names:
            for m in self.policy.services[name].matches:
                if m.protocol != protocol:
                    continue
                if protocol in ("tcp", "udp"):
                    if not m.ports or any(r.low <= l4 <= r.high for r in m.ports):
                        return True
                elif (protocol == "icmp") == (family == 4):
                    if (m.icmp_type is None or m.icmp_type == l4 >> 8) and \
                            (m.icmp_code is None or m.icmp_code == l4 & 255):
                        return True
        return False

    def matches(self, flow, p: Packet) -> bool:
        return (self.side(flow.source, flow.except_from, p.family, p.source)
                and self.side(flow.destination, flow.except_to, p.family, p.destination)
                and self.service([r.name for r in flow.services], p.family, p.protocol, p.l4))

    def cuts(self):
        """Every address and L4 value at which some set of the policy starts or stops: each flow
        matches a cell between cuts wholly or not at all."""
        policy = self.policy
        cuts = {4: {0}, 6: {0}}
        blocks = [b for bs in self.zone_blocks.values() for b in bs]
        blocks += [_block(a.cidr) for h in policy.hosts.values() for a in h.addresses]
        selectors = [g.selector for g in policy.groups.values()]
        for flow in policy.flows:
            selectors += [flow.source, flow.destination, *flow.except_from, *flow.except_to]
        blocks += [_block(i.cidr) for s in selectors for i in s.items if isinstance(i, SelAddress)]
        for family, lo, hi in blocks:
            cuts[family].update((lo, hi + 1))
        addresses = {4: sorted(c for c in cuts[4] if c < 1 << 32), 6: sorted(c for c in cuts[6] if c < 1 << 128)}
        l4 = {p: {0} for p in ("tcp", "udp", "icmp", "icmpv6")}
        for service in policy.services.values():
            for m in service.matches:
                if m.protocol in ("tcp", "udp"):
                    for r in m.ports:
                        l4[m.protocol].update((r.low, r.high + 1))
                elif m.icmp_type is not None:
                    low = m.icmp_type * 256 + (m.icmp_code or 0)
                    high = m.icmp_type * 256 + (m.icmp_code if m.icmp_code is not None else 255)
                    l4[m.protocol].update((low, high + 1))
        services = [(family, protocol, value)
                    for family, protocols in ((4, ("tcp", "udp", "icmp")), (6, ("tcp", "udp", "icmpv6")))
                    for protocol in protocols for value in sorted(v for v in l4[protocol] if v < 65536)]
        return addresses, services

    def cells(self):
        addresses, services = self.cuts()
        for family, protocol, value in services:
            base = Packet(family, 0, 0, protocol, value) if protocol in ("tcp", "udp") else \
                Packet(family, 0, 0, protocol, icmp_type=value >> 8, icmp_code=value & 255)
            for s, d in itertools.product(addresses[family], addresses[family]):
                yield base._replace(source=s, destination=d)

    def match_sets(self) -> list[set]:
        """Each flow's cells (family, source, destination, protocol, L4 value), its sides and
        services evaluated on the cuts and multiplied out."""
        addresses, services = self.cuts()
        out = []
        for flow in self.policy.flows:
            names = [r.name for r in flow.services]
            src = [(f, a) for f in (4, 6) for a in addresses[f] if self.side(flow.source, flow.except_from, f, a)]
            dst = [(f, a) for f in (4, 6) for a in addresses[f]
                   if self.side(flow.destination, flow.except_to, f, a)]
            svc = [(f, p, v) for f, p, v in services if self.service(names, f, p, v)]
            out.append({(f, s, d, p, v) for f, s in src for g, d in dst if g == f for h, p, v in svc if h == f})
        return out


def brute_redundant(sets: list[set], order: list[int]) -> tuple[list[int], list[int]]:
    """(empty flows, redundant flows) by the rule the check documents: from the last flow to the
    first in `order` (the check's `order_key`, which no file or statement order affects), a
    non-empty flow is redundant if the flows not yet found redundant cover it."""
    empty = [i for i, s in enumerate(sets) if not s]
    gone: set[int] = set()
    for i in reversed(order):
        if not sets[i]:
            continue
        others = set().union(*(sets[j] for j in range(len(sets)) if j != i and j not in gone and sets[j]))
        if sets[i] <= others:
            gone.add(i)
    return empty, sorted(gone)


# ---- random small policies ------------------------------------------------------------------------------


@st.composite
def policies(draw):
    n_zones = draw(st.integers(1, 4))
    slots = draw(st.lists(st.integers(0, 511), min_size=n_zones, max_size=n_zones, unique=True))
    zones, hosts, addresses = [], [], []
    for k, slot in enumerate(slots):
        length = draw(st.integers(22, 28))
        offset = draw(st.integers(0, (1 << (length - 22)) - 1))
        base = int(V4_POOL.network_address) + slot * 1024 + (offset << (32 - length))
        network = ipaddress.ip_network((base, length))
        nets = [str(network)]
        v6 = None
        if draw(st.booleans()):
            v6 = ipaddress.ip_network(f"2001:db8:{k + 1:x}::/48")
            nets.append(str(v6))
        tags = " ; tags t1" if draw(st.booleans()) else ""
        zones.append(f"zone z{k} {{ networks {', '.join(nets)}{tags} }}")
        if draw(st.booleans()):
            host = network.network_address + draw(st.integers(0, network.num_addresses - 1))
            extra = f", {v6.network_address + draw(st.integers(1, 99))}" if v6 is not None and draw(st.booleans()) else ""
            hosts.append(f"h{k}")
            zones.append(f"host h{k} in z{k} {{ address {host}{extra} }}")
        addresses.append(str(network))
    for _ in range(draw(st.integers(0, 3))):
        length = draw(st.integers(18, 32))
        value = draw(st.integers(0, (1 << (length - 15)) - 1)) << (32 - length)
        addresses.append(str(ipaddress.ip_network((int(V4_POOL.network_address) + value, length))))
    if draw(st.booleans()):
        addresses.append(f"2001:db8:{draw(st.integers(1, 5)):x}::/{draw(st.sampled_from([48, 56, 64]))}")
    endpoints = [f"z{k}" for k in range(n_zones)] + hosts + ["internet"] + addresses
    if any("tags t1" in z for z in zones):
        endpoints.append("tag:t1")
    group = draw(st.lists(st.sampled_from(endpoints), min_size=1, max_size=3, unique=True))
    endpoints.append("g")
    ports = st.integers(0, 12).map(lambda p: p * 10)
    services = []
    for k in range(draw(st.integers(1, 4))):
        clauses = []
        for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2, 2]))):
            kind = draw(st.sampled_from(["tcp", "tcp", "udp", "icmp", "icmpv6"]))
            if kind in ("tcp", "udp"):
                items = []
                for _ in range(draw(st.integers(1, 2))):
                    a, b = sorted(draw(st.lists(ports, min_size=2, max_size=2)))
                    items.append(str(a) if a == b else f"{a}-{b}")
                clauses.append(f"{kind} {', '.join(items)}")
            else:
                choice = draw(st.integers(0, 2))
                clauses.append(kind if choice == 0 else f"{kind} type {draw(st.integers(0, 3))}" if choice == 1
                               else f"{kind} type {draw(st.integers(0, 3))} code {draw(st.integers(0, 2))}")
        services.append(f"service s{k} {{ {'; '.join(clauses)} }}" if clauses else f'service s{k} {{ description "x" }}')
    selector = st.lists(st.sampled_from(endpoints), min_size=1, max_size=2, unique=True).map(", ".join)
    flows = []
    for _ in range(draw(st.integers(1, 6))):
        line = f"allow {draw(selector)} -> {draw(selector)} : " + ", ".join(
            draw(st.lists(st.sampled_from([f"s{k}" for k in range(len(services))]), min_size=1, max_size=2,
                          unique=True)))
        if draw(st.integers(0, 3)) == 0:
            line += f" except from {draw(selector)}"
        if draw(st.integers(0, 3)) == 0:
            line += f" except to {draw(selector)}"
        flows.append(line)
    if draw(st.booleans()):
        flows.append(draw(st.sampled_from(flows)))  # a duplicate
    return "\n".join(zones + services + [f"group g = {', '.join(group)}"] + flows) + "\n"


def _load_text(text: str):
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "policy.septum").write_text(text)
        result = load_policy(Path(tmp), graph=False)
    assert result.exit_status() != 2, (text, [(d.code, d.message) for d in result.diagnostics])
    return result


PROPERTY = settings(max_examples=examples(120), deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(policies(), st.randoms(use_true_random=False))
def test_packet_sets_agree_with_brute_force_on_concrete_packets(text, rng):
    policy = _load_text(text).policy
    brute = Brute(policy)
    cells = list(brute.cells())
    samples = rng.sample(cells, min(len(cells), 150))
    for _ in range(60):  # and packets anywhere
        family = rng.choice([4, 6])
        pool = V4_POOL if family == 4 else V6_POOL
        def address():
            if rng.random() < 0.8:
                return int(pool.network_address) + rng.randrange(pool.num_addresses)
            return rng.getrandbits(32 if family == 4 else 128)
        protocol = rng.choice(["tcp", "udp", "icmp" if family == 4 else "icmpv6"])
        samples.append(Packet(family, address(), address(), protocol, rng.randrange(140), rng.randrange(4),
                              rng.randrange(3)))
    expected = [[brute.matches(flow, p) for p in samples] for flow in policy.flows]
    for packets in (PolicyPackets(policy), PolicyPackets(policy, PacketSpace()), PolicyPackets(policy, BoxSpace())):
        space = packets.space
        for flow, sets, verdicts in zip(policy.flows, packets.flows(), expected):
            for p, verdict in zip(samples, verdicts):
                assert space.contains(sets.packets, p) == verdict, (text, flow.span.line, p, type(space).__name__)


@PROPERTY
@given(policies())
def test_empty_and_redundant_flows_agree_with_brute_force(text):
    result = _load_text(text)
    policy = result.policy
    sets = Brute(policy).match_sets()
    order = sorted(range(len(policy.flows)), key=lambda i: order_key(policy.flows[i]))
    empty, redundant = brute_redundant(sets, order)
    lines = [f.span.line for f in policy.flows]
    assert [d.span.line for d in empty_flow(policy)] == [lines[i] for i in empty], text
    found = redundant_rule(policy)
    assert sorted(d.span.line for d in found) == [lines[i] for i in redundant], text
    by_line = {f.span.line: i for i, f in enumerate(policy.flows)}
    for d in found:  # the named flows really cover the reported one, and are not reported themselves
        covering = [by_line[r.span.line] for r in d.related]
        assert set(covering).isdisjoint(redundant)
        assert sets[by_line[d.span.line]] <= set().union(*(sets[j] for j in covering)), text
    # the same verdicts with unions of flows computed over the exact BDD encoding and over boxes
    # (a PolicyPackets given a space computes unions in it), and over the atom BDDs (the
    # fallback for unions too fragmented for the interval sweep)
    messages = [(d.span.line, d.message) for d in found]
    for space in (PacketSpace(), BoxSpace(), None):
        packets = PolicyPackets(weakref.proxy(policy), space)
        if space is None:
            packets.sweep_limit = 0
        policy._members["packet-sets"] = packets
        assert [d.span.line for d in empty_flow(policy)] == [lines[i] for i in empty]
        assert [(d.span.line, d.message) for d in redundant_rule(policy)] == messages
    policy._members.pop("packet-sets")
    # and with every flow in the bit index, none filed by its (source owner, destination owner)
    by_pair, packet_checks.BY_PAIR = packet_checks.BY_PAIR, False
    try:
        assert [(d.span.line, d.message) for d in redundant_rule(policy)] == messages
    finally:
        packet_checks.BY_PAIR = by_pair


@PROPERTY
@given(policies())
def test_unassigned_address_never_fires_on_public_space(text):
    # the random policies live in 198.18.0.0/15 and 2001:db8::/32: never private
    assert unassigned_address(_load_text(text).policy) == []


@settings(max_examples=examples(200), deadline=None)
@given(st.lists(st.tuples(st.sampled_from([4, 6]), st.integers(0, 40), st.integers(0, 8)), min_size=1, max_size=6),
       st.randoms(use_true_random=False))
def test_the_three_encodings_agree_on_address_sets(blocks, rng):
    cidrs = []
    for family, value, bits in blocks:
        width = 32 if family == 4 else 128
        length = width - bits
        base = (value << bits) + ((10 << 24) if family == 4 else (0xFD << 120))
        cidrs.append(str(ipaddress.ip_network((base, length))))
    spaces = [PacketSpace(), PacketSpace(atoms_for(cidrs)), BoxSpace()]
    sets = []
    for space in spaces:
        union = space.cidrs("s", cidrs[: len(cidrs) // 2 + 1])
        rest = space.diff(union, space.cidrs("s", cidrs[len(cidrs) // 2 + 1:]))
        outside = space.complement_addresses("s", union)
        sets.append((union, rest, outside))
    probes = [Packet(f, lo + rng.randrange(hi - lo + 1), 0, "udp", 53) for f, lo, hi in map(cidr_block, cidrs)]
    probes += [Packet(4, rng.getrandbits(32), 0, "udp", 53) for _ in range(10)]
    for p in probes:
        verdicts = {tuple(space.contains(s, p) for s in chosen) for space, chosen in zip(spaces, sets)}
        assert len(verdicts) == 1, (cidrs, p, verdicts)
