"""The nftables interpreter (backends/nftables/interpret.py) against the real kernel.

Each ruleset is written by hand (or drawn at random), loaded into a kernel in a throw-away network
namespace (`unshare --net`), read back with `nft -j list table inet septum`, and interpreted; the
packet set is compared with one built by hand from the DeviceSpace, with concrete packets just
inside and just outside each range, or (the property) with a brute-force evaluator of the random
ruleset's own model. Addresses are from 198.18.0.0/15 and 2001:db8::/32 only.

Without root, `nft` or `unshare` the tests are skipped, or fail when CI=true.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import examples, require_live
from septum.backends.nftables import interpret
from septum.backends.nftables.interpret import Unsupported, accepted, interface_names, trace
from septum.compiler.devices.prove import OTHER, STATES, DevicePacket, DeviceSpace
from septum.compiler.packets.addresses import AddressSet
from septum.compiler.packets.space import Packet

INTERFACES = ("eth0", "eth1", "eth2")


# ---- the kernel --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def kernel():
    require_live("nft", "unshare")


def load(text: str) -> dict:
    """The kernel's account of a ruleset: load it in a fresh network namespace, list it as JSON."""
    with tempfile.NamedTemporaryFile("w", suffix=".nft") as file:
        file.write(text)
        file.flush()
        run = subprocess.run(["unshare", "--net", "sh", "-c", f"nft -f {file.name} && nft -j list table inet septum"],
                             capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"nft refused the ruleset:\n{run.stderr}\n{text}"
    return json.loads(run.stdout)


def table(body: str) -> str:
    return "table inet septum {\n" + body + "\n}\n"


def forward(rules: str, policy: str = "drop", more: str = "", before: str = "") -> str:
    """A table with one forward base chain of these rules; `before` and `more`: other objects."""
    return table(f"{before}\nchain forward {{\n type filter hook forward priority filter; policy {policy};\n"
                 f"{rules}\n}}\n{more}")


def space(document: dict) -> DeviceSpace:
    return DeviceSpace(interface_names(document) | set(INTERFACES))


def packet(source: str = "198.18.0.1", destination: str = "198.19.0.1", protocol: str = "tcp", port: int = 80, *,
           ingress: str = "eth0", egress: str = "eth1", state: str = "new", icmp: tuple[int, int] = (0, 0)):
    a, b = ipaddress.ip_address(source), ipaddress.ip_address(destination)
    assert a.version == b.version
    return DevicePacket(ingress, egress, state, Packet(a.version, int(a), int(b), protocol, port, *icmp))


def handles(document: dict, chain: str) -> list[int]:
    return [item["rule"]["handle"] for item in document["nftables"]
            if "rule" in item and item["rule"]["chain"] == chain]


class Builder:
    """Expected packet sets, built with the DeviceSpace the way the intent side builds them."""

    def __init__(self, ds: DeviceSpace) -> None:
        self.ds, self.s = ds, ds.space

    def cidr(self, side: str, text: str):
        network = ipaddress.ip_network(text)
        return self.s.prefix(side, network.version, int(network.network_address), network.prefixlen)

    def span(self, side: str, first: str, last: str):
        a, b = ipaddress.ip_address(first), ipaddress.ip_address(last)
        return self.s.addresses(side, AddressSet.of([(a.version, int(a), int(b))]))

    def service(self, protocol: str, low: int, high: int | None = None):
        return self.s.protocol[protocol] & self.s.l4_range(low, low if high is None else high)

    def states(self, *names: str):
        node = self.ds.false
        for name in names:
            node = node | self.ds.state(name)
        return node

    def i(self, name: str):
        return self.ds.interface("i", name)

    def o(self, name: str):
        return self.ds.interface("o", name)


def agrees(ds: DeviceSpace, got, expected) -> None:
    """`got` equals `expected` (within the valid packets), or a packet that tells them apart."""
    assert got & ~ds.true == ds.false, "accepted() must stay within the valid packets"
    expected = expected & ds.true
    for wrong, what in ((got & ~expected, "accepted, not expected"), (expected & ~got, "expected, not accepted")):
        example = ds.pick(wrong)
        assert example is None, f"{what}: {example.describe()}"


# ---- verdict maps, concatenations, intervals, chains ------------------------------------------

ZONES = table("""
 map zones4 {
  type ifname . ipv4_addr : verdict; flags interval
  elements = { "eth0" . 198.18.0.0/24 : jump from-a, "eth1" . 198.18.1.10-198.18.1.20 : jump from-b }
 }
 set from-a.p4 {
  type ifname . ipv4_addr . inet_proto . inet_service; flags interval
  elements = { "eth1" . 198.18.1.10-198.18.1.20 . tcp . 443,
               "eth2" . 198.18.2.0/25 . udp . 5000-5010 comment "hospital.septum:7" }
 }
 chain forward {
  type filter hook forward priority filter; policy drop
  ct state vmap { invalid : drop, established : accept, related : accept }
  iifname . ip saddr vmap @zones4
 }
 chain from-a {
  oifname . ip daddr . meta l4proto . th dport @from-a.p4 accept
 }
 chain from-b {
  oifname "eth0" ip daddr 198.18.0.5 meta l4proto . th dport { tcp . 22 } log prefix "b " accept comment "b.septum:3"
 }
""")


def test_verdict_map_with_concatenations_and_intervals(kernel):
    document = load(ZONES)
    ds = space(document)
    b = Builder(ds)
    from_a = b.i("eth0") & b.cidr("s", "198.18.0.0/24") & (
        (b.o("eth1") & b.span("d", "198.18.1.10", "198.18.1.20") & b.service("tcp", 443))
        | (b.o("eth2") & b.cidr("d", "198.18.2.0/25") & b.service("udp", 5000, 5010)))
    from_b = b.i("eth1") & b.span("s", "198.18.1.10", "198.18.1.20") & b.o("eth0") \
        & b.cidr("d", "198.18.0.5/32") & b.service("tcp", 22)
    expected = b.states("established", "related") | (b.states("new", "untracked") & (from_a | from_b))
    got = accepted(document, ds)
    agrees(ds, got, expected)

    inside = packet("198.18.0.255", "198.18.1.10", "tcp", 443, ingress="eth0", egress="eth1")
    assert ds.contains(got, inside)
    for outside in (inside._replace(ingress="eth1"), inside._replace(egress="eth2"), inside._replace(state="invalid"),
                    packet("198.18.1.0", "198.18.1.10", "tcp", 443, ingress="eth0", egress="eth1"),
                    packet("198.18.0.255", "198.18.1.9", "tcp", 443, ingress="eth0", egress="eth1"),
                    packet("198.18.0.255", "198.18.1.21", "tcp", 443, ingress="eth0", egress="eth1"),
                    packet("198.18.0.255", "198.18.1.10", "udp", 443, ingress="eth0", egress="eth1"),
                    packet("198.18.0.255", "198.18.1.10", "tcp", 444, ingress="eth0", egress="eth1")):
        assert not ds.contains(got, outside), outside.describe()
    for port, expect in ((4999, False), (5000, True), (5010, True), (5011, False)):
        assert ds.contains(got, packet("198.18.0.1", "198.18.2.127", "udp", port, ingress="eth0", egress="eth2")) \
            == expect
    assert not ds.contains(got, packet("198.18.0.1", "198.18.2.128", "udp", 5000, ingress="eth0", egress="eth2"))
    assert ds.contains(got, inside._replace(state="established", ingress=OTHER, egress=OTHER))


def test_trace_names_the_deciding_rule_and_the_way_to_it(kernel):
    document = load(ZONES)
    ds = space(document)
    forward_rules, from_b_rules = handles(document, "forward"), handles(document, "from-b")
    allowed = packet("198.18.1.15", "198.18.0.5", "tcp", 22, ingress="eth1", egress="eth0")
    assert trace(document, ds, allowed) == (
        f'chain from-b rule 1 (handle {from_b_rules[0]}, comment "b.septum:3") accept, reached by chain forward '
        f"rule 2 (handle {forward_rules[1]}) jump from-b (verdict map)")
    assert trace(document, ds, allowed._replace(state="invalid")) == \
        f"chain forward rule 1 (handle {forward_rules[0]}) drop (verdict map)"
    assert trace(document, ds, allowed._replace(ingress="eth2")) == "policy drop of chain forward"
    assert trace(document, ds, allowed._replace(packet=allowed.packet._replace(port=23))) == (
        f"policy drop of chain forward, reached by chain forward rule 2 (handle {forward_rules[1]}) jump from-b "
        f"(verdict map), then chain from-b end of chain: return")


def test_interface_names_come_from_rules_sets_and_maps(kernel):
    document = load(ZONES + table('chain other { iifname { "lan3", "lan4" } oifname "wan9" accept\n}'))
    assert interface_names(document) == {"eth0", "eth1", "eth2", "lan3", "lan4", "wan9"}


def test_jump_return_goto_continue_and_the_policy(kernel):
    document = load(table("""
 chain forward {
  type filter hook forward priority 0; policy drop
  jump checks
  tcp dport 22 accept
  goto tail
 }
 chain checks {
  ip saddr 198.18.0.66 drop
  ip saddr 198.18.0.0/26 return
  tcp dport 22 continue
  tcp dport 23 accept
 }
 chain tail {
  udp dport 53 goto deeper
  udp dport 54 accept
 }
 chain deeper {
  ip saddr 198.18.0.7 return
  accept
 }
"""))
    ds = space(document)
    b = Builder(ds)
    s66, s7, low = b.cidr("s", "198.18.0.66/32"), b.cidr("s", "198.18.0.7/32"), b.cidr("s", "198.18.0.0/26")
    expected = ~s66 & ((b.service("tcp", 23) & ~low) | b.service("tcp", 22) | (b.service("udp", 53) & ~s7)
                       | b.service("udp", 54))
    got = accepted(document, ds)
    agrees(ds, got, expected)
    # `return` from a chain reached by goto from the base chain: the base chain's policy
    assert "policy drop of chain forward" in trace(document, ds, packet("198.18.0.7", "198.19.0.1", "udp", 53))
    assert not ds.contains(got, packet("2001:db8::66", "2001:db8::1", "tcp", 1))
    assert ds.contains(got, packet("2001:db8::66", "2001:db8::1", "tcp", 23))


def test_policy_accept_and_drop(kernel):
    for policy in ("accept", "drop"):
        document = load(forward("", policy))
        ds = space(document)
        agrees(ds, accepted(document, ds), ds.true if policy == "accept" else ds.false)
    document = load(forward("return", "accept"))  # return from a base chain: its policy
    ds = space(document)
    agrees(ds, accepted(document, ds), ds.true)


def test_every_base_chain_at_the_hook_must_accept(kernel):
    document = load(table("""
 chain early { type filter hook forward priority -10; policy accept
  ip saddr 198.18.0.1 drop
 }
 chain late { type filter hook forward priority 10; policy drop
  tcp dport 80 accept
 }
 chain inbound { type filter hook input priority 0; policy drop
 }
 chain pre { type filter hook prerouting priority 0; policy accept
 }
"""))
    ds = space(document)
    b = Builder(ds)
    agrees(ds, accepted(document, ds), ~b.cidr("s", "198.18.0.1/32") & b.service("tcp", 80))
    early = handles(document, "early")
    assert trace(document, ds, packet("198.18.0.1")) == f"chain early rule 1 (handle {early[0]}) drop"
    assert trace(document, ds, packet("198.18.0.2", port=81)) == \
        "policy accept of chain early; policy drop of chain late"


def test_ct_state_verdict_maps_flags_and_negation(kernel):
    document = load(forward("""
  ct state vmap { invalid : drop, established : accept }
  ct state == established,related accept
  ct state related,untracked ip saddr 198.18.0.1 accept
  ct state != new drop
  ct state { new } tcp dport 80 accept
"""))
    rules = [item["rule"]["expr"][0].get("match") for item in document["nftables"] if "rule" in item][1:3]
    assert [rule["op"] for rule in rules] == ["==", "in"]  # as nft lists them: an exact compare, a flag test
    ds = space(document)
    b = Builder(ds)
    expected = b.states("established") | (b.states("related", "untracked") & b.cidr("s", "198.18.0.1/32")) \
        | (b.states("new") & b.service("tcp", 80))
    agrees(ds, accepted(document, ds), expected)


def test_anonymous_sets_and_negated_matches(kernel):
    document = load(forward("""
  iifname != { "eth0", "eth1" } drop
  ip saddr != { 198.18.0.0/28, 198.18.0.100-198.18.0.110 } ip daddr 198.19.0.0/16 drop
  tcp dport != { 80, 443 } oifname "eth2" drop
  ip6 saddr != 2001:db8::/64 drop
""", "accept"))
    ds = space(document)
    b = Builder(ds)
    sources = b.cidr("s", "198.18.0.0/28") | b.span("s", "198.18.0.100", "198.18.0.110")
    expected = (b.i("eth0") | b.i("eth1")) \
        & ~(ds.space.family[4] & ~sources & b.cidr("d", "198.19.0.0/16")) \
        & ~(ds.space.protocol["tcp"] & ~(b.service("tcp", 80) | b.service("tcp", 443)) & b.o("eth2")) \
        & ~(ds.space.family[6] & ~b.cidr("s", "2001:db8::/64"))
    got = accepted(document, ds)
    agrees(ds, got, expected)
    assert ds.contains(got, packet("198.18.0.110", "198.19.0.1", ingress="eth1"))
    assert not ds.contains(got, packet("198.18.0.111", "198.19.0.1", ingress="eth1"))
    assert not ds.contains(got, packet("198.18.0.1", ingress="eth2"))
    assert ds.contains(got, packet("198.18.0.1", "198.18.0.2", "udp", 1, egress="eth2"))  # != on tcp: tcp only


def test_icmp_names_numbers_and_codes(kernel):
    document = load(table("""
 set pings { type icmp_type . icmp_code; flags interval
  elements = { echo-request . 0, destination-unreachable . 0-3 }
 }
 chain forward { type filter hook forward priority 0; policy drop
  icmp type . icmp code @pings accept
  icmp code 0 icmp type time-exceeded accept
  icmpv6 type { echo-request, nd-neighbor-solicit } accept
  icmpv6 type destination-unreachable icmpv6 code admin-prohibited accept
  icmp type 200 accept
 }
"""))
    pings = next(item["set"] for item in document["nftables"] if "set" in item)
    assert pings["elem"][0] == {"concat": ["echo-request", "net-unreachable"]}  # nft names code 0, as said
    ds = space(document)
    s = ds.space
    expected = s.match("icmp", icmp_type=8, icmp_code=0) | s.match("icmp", icmp_type=11, icmp_code=0) \
        | (s.protocol["icmp"] & s.l4_range(3 * 256, 3 * 256 + 3)) | s.match("icmp", icmp_type=200) \
        | s.match("icmpv6", icmp_type=128) | s.match("icmpv6", icmp_type=135) \
        | s.match("icmpv6", icmp_type=1, icmp_code=1)
    got = accepted(document, ds)
    agrees(ds, got, expected)
    assert ds.contains(got, packet("198.18.0.1", "198.18.0.2", "icmp", icmp=(3, 3)))
    assert not ds.contains(got, packet("198.18.0.1", "198.18.0.2", "icmp", icmp=(3, 4)))
    assert not ds.contains(got, packet("2001:db8::1", "2001:db8::2", "icmpv6", icmp=(1, 13)))


def test_ipv6_ranges_concatenations_and_statements_that_do_not_decide(kernel):
    document = load(forward("""
  ip6 saddr 2001:db8::/48 ip6 daddr 2001:db8:1::5-2001:db8:1::9 counter log prefix "v6 " accept
  ip6 daddr . tcp dport { 2001:db8:2::1 . 443, 2001:db8:2::2 . 8000-8080 } counter accept
  ip saddr 198.18.0.1 log counter
"""))
    ds = space(document)
    b = Builder(ds)
    expected = (b.cidr("s", "2001:db8::/48") & b.span("d", "2001:db8:1::5", "2001:db8:1::9")) \
        | (b.cidr("d", "2001:db8:2::1/128") & b.service("tcp", 443)) \
        | (b.cidr("d", "2001:db8:2::2/128") & b.service("tcp", 8000, 8080))
    got = accepted(document, ds)
    agrees(ds, got, expected)
    assert ds.contains(got, packet("2001:db8:0:ffff::1", "2001:db8:1::9", "udp", 1))
    assert not ds.contains(got, packet("2001:db8:1::1", "2001:db8:1::9", "udp", 1))
    assert not ds.contains(got, packet("2001:db8::1", "2001:db8:1::a", "udp", 1))


# ---- th dport: a port for tcp and udp, the checksum for icmp --------------------------------

def test_th_dport_alone_is_refused_where_icmp_reaches_it(kernel):
    document = load(forward("th dport 53 accept"))
    with pytest.raises(Unsupported, match=r"chain forward rule 1 \(handle \d+\).*checksum"):
        accepted(document, space(document))


def test_th_dport_where_only_tcp_and_udp_reach_it_is_exact(kernel):
    for rules in ("meta l4proto { icmp, ipv6-icmp } drop\nth dport 53 accept",
                  "meta l4proto { tcp, udp } th dport 53 accept",
                  "meta l4proto . th dport { tcp . 53, udp . 53 } accept"):
        document = load(forward(rules))
        ds = space(document)
        b = Builder(ds)
        agrees(ds, accepted(document, ds), b.service("tcp", 53) | b.service("udp", 53))


def test_th_dport_negated_in_a_concatenation_is_exact_for_icmp(kernel):
    document = load(forward("meta l4proto . th dport != { tcp . 22 } accept"))
    ds = space(document)
    got = accepted(document, ds)
    agrees(ds, got, ~Builder(ds).service("tcp", 22))
    assert ds.contains(got, packet("198.18.0.1", "198.18.0.2", "icmp", icmp=(8, 0)))


def test_th_dport_with_an_icmp_element_is_refused(kernel):
    document = load(forward("meta l4proto . th dport { tcp . 22, icmp . 0 } accept"))
    with pytest.raises(Unsupported, match="checksum"):
        accepted(document, space(document))


# ---- what is refused ----------------------------------------------------------------------------

REFUSED = {
    "mark": forward("meta mark 1 accept"),
    "wildcard interface": forward('iifname "eth*" accept'),
    "wildcard in a set": forward("iifname @names accept",
                                 before='set names { type ifname; flags interval; elements = { "eth*" } }'),
    "other protocol": forward("meta l4proto gre accept"),
    "other protocol in a set": forward("meta l4proto { tcp, esp } accept"),
    "fib": forward("fib daddr type local accept"),
    "limit": forward("limit rate 10/second accept"),
    "tcp flags": forward("tcp flags syn accept"),
    "ip protocol": forward("ip protocol tcp accept"),
    # listed as `ip protocol tcp tcp dport 22`, with no l4proto match in the kernel's rule
    "ip protocol then th dport": forward("ip protocol tcp th dport 22 accept"),
    # listed as `icmp type echo-request icmp checksum 5`
    "th dport after icmp type": forward("icmp type echo-request th dport 5 accept"),
    "raw payload": forward("@th,0,16 53 accept"),
    "timeout set": forward("ip saddr @recent accept",
                           before="set recent { type ipv4_addr; flags timeout; elements = { 198.18.0.1 timeout 1h } }"),
    "prerouting rules": forward("accept", more="chain pre { type filter hook prerouting priority 0; policy accept\n"
                                               " ip saddr 198.18.0.1 drop\n}"),
    "prerouting policy": forward("accept", more="chain pre { type filter hook prerouting priority 0; policy drop\n}"),
    "set update": forward("add @seen { ip saddr } accept", before="set seen { type ipv4_addr; flags dynamic; }"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_what_cannot_be_interpreted_exactly_is_refused(kernel, case):
    document = load(REFUSED[case])
    with pytest.raises(Unsupported) as raised:
        accepted(document, space(document))
    if "pre" not in case:
        assert re.search(r"chain forward rule 1 \(handle \d+\)", str(raised.value)), str(raised.value)


def test_an_interface_the_space_lacks_is_refused(kernel):
    document = load(forward('iifname "lan7" accept'))
    with pytest.raises(Unsupported, match="lan7.*not in the device space"):
        accepted(document, DeviceSpace(INTERFACES))
    ds = space(document)
    agrees(ds, accepted(document, ds), ds.interface("i", "lan7"))


def test_rules_no_packet_reaches_are_not_judged(kernel):
    document = load(forward("drop\nmeta mark 1 accept", "accept"))
    ds = space(document)
    agrees(ds, accepted(document, ds), ds.false)


def test_loops_and_overlapping_verdict_keys_are_refused(kernel):
    """The kernel refuses both at load; documents edited by hand show the interpreter does too."""
    document = load(table("chain forward { type filter hook forward priority 0; policy drop\n jump a\n}\n"
                          "chain a { jump b\n}\nchain b { accept\n}"))
    looped = copy.deepcopy(document)
    for item in looped["nftables"]:
        if "rule" in item and item["rule"]["chain"] == "b":
            item["rule"]["expr"] = [{"jump": {"target": "a"}}]
    with pytest.raises(Unsupported, match="a -> b -> a"):
        accepted(looped, space(looped))

    document = load(forward('iifname . ip saddr vmap { "eth0" . 198.18.0.0/24 : accept, "eth1" . 198.18.0.1 : drop }'))
    overlapping = copy.deepcopy(document)
    rule = next(item["rule"] for item in overlapping["nftables"] if "rule" in item)
    rule["expr"][0]["vmap"]["data"]["set"][1][0]["concat"][0] = "eth0"
    ds = space(overlapping)
    with pytest.raises(Unsupported, match="overlap"):
        accepted(overlapping, ds)


# ---- nft's symbolic constants -----------------------------------------------------------------

DESCRIBED = {"icmp type": interpret.ICMP_TYPES, "icmp code": interpret.ICMP_CODES,
             "icmpv6 type": interpret.ICMPV6_TYPES, "icmpv6 code": interpret.ICMPV6_CODES,
             "meta l4proto": interpret.INET_PROTOCOLS, "ct state": interpret.CT_STATE_BITS,
             "meta nfproto": interpret.NF_PROTOCOLS}
ALIASES = {"icmpv6"}  # names the interpreter also reads, which this system's nft does not print


def test_the_name_tables_agree_with_nft_describe():
    if shutil.which("nft") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("nft is missing; under CI this test must run")
        pytest.skip("needs nft")
    for expression, names in DESCRIBED.items():
        run = subprocess.run(["nft", "describe", *expression.split()], capture_output=True, text=True, timeout=30)
        assert run.returncode == 0, run.stderr
        described = {}
        for line in run.stdout.splitlines():
            match = re.fullmatch(r"\t(\S+)\s+(0x[0-9a-f]+|\d+)", line)
            if match:
                described[match[1]] = int(match[2], 0)
        assert described, run.stdout
        assert {k: v for k, v in names.items() if k not in ALIASES} == described, expression


# ---- size -----------------------------------------------------------------------------------------

def test_ten_thousand_elements_are_read_quickly(kernel):
    rng = random.Random(7)
    elements, samples = [], []
    for n in range(10_000):
        source, destination = 0xC6120000 + n * 4, 0xC6130000 + rng.randrange(1 << 16)
        port = rng.randrange(1, 60000)
        protocol = rng.choice(["tcp", "udp"])
        interface = INTERFACES[n % 3]
        elements.append(f"{ipaddress.ip_address(source)}-{ipaddress.ip_address(source + 2)} . \"{interface}\" . "
                        f"{ipaddress.ip_address(destination)} . {protocol} . {port}-{port + 3}")
        if n % 500 == 0:
            samples.append((source, interface, destination, protocol, port))
    document = load(table(
        "set big { type ipv4_addr . ifname . ipv4_addr . inet_proto . inet_service; flags interval\n"
        " elements = { " + ",\n".join(elements) + " }\n}\n"
        "chain forward { type filter hook forward priority 0; policy drop\n"
        " ip saddr . oifname . ip daddr . meta l4proto . th dport @big accept\n}"))
    ds = space(document)
    started = time.perf_counter()
    got = accepted(document, ds)
    seconds = time.perf_counter() - started
    print(f"10,000 elements: {seconds:.2f} s, {got.dag_size} BDD nodes")
    for source, interface, destination, protocol, port in samples:
        inside = DevicePacket("eth0", interface, "new", Packet(4, source + 2, destination, protocol, port + 3))
        assert ds.contains(got, inside)
        assert not ds.contains(got, inside._replace(packet=inside.packet._replace(source=source + 3)))
        assert not ds.contains(got, inside._replace(packet=inside.packet._replace(port=port + 4)))
    assert seconds < 10


# ---- the property: random rulesets, a brute-force evaluator -----------------------------------

V4 = [0xC6120000 + i for i in range(8)]  # 198.18.0.0-7
V6 = [0x20010DB8 << 96 | i for i in range(8)]  # 2001:db8::0-7
PORTS = list(range(20, 28))
ICMP_TYPES = [("echo-request", 8), ("destination-unreachable", 3), ("time-exceeded", 11)]
ICMPV6_TYPES = [("echo-request", 128), ("destination-unreachable", 1), ("nd-neighbor-solicit", 135)]
PROTOCOLS = [("tcp", "tcp"), ("udp", "udp"), ("icmp", "icmp"), ("ipv6-icmp", "icmpv6")]


@dataclass
class Atom:
    """One match: its nft text, its meaning, and the named sets it needs."""

    text: str
    holds: Callable[[DevicePacket], bool]
    sets: list[str] = field(default_factory=list)
    needs: frozenset = frozenset()  # the headers it reads: {"ip"}, {"ip6", "icmpv6"}, {"tcp"}...


def consistent(found: list[Atom], more: frozenset = frozenset()) -> bool:
    """Whether nft takes these matches in one rule: one network and one transport header at most;
    and no `th dport` after an ICMP match (nft lists it as `icmp checksum` then, which is refused)."""
    needs = set(more).union(*(atom.needs for atom in found))
    transports = needs & {"tcp", "udp", "icmp", "icmpv6"}
    return len(needs & {"ip", "ip6"}) <= 1 and len(transports) <= 1 \
        and not ("th" in needs and needs & {"icmp", "icmpv6"}) and not ("l4proto" in needs and transports)


def runs(values: list[int]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for value in sorted(values):
        if out and out[-1][1] + 1 == value:
            out[-1][1] = value
        else:
            out.append([value, value])
    return [(a, b) for a, b in out]


def items(chosen: list[int], show: Callable[[int], str], prefix_width: int | None, rng: random.Random) -> list[str]:
    out = []
    for a, b in runs(chosen):
        size = b - a + 1
        if a == b:
            out.append(show(a))
        elif prefix_width and size & (size - 1) == 0 and a % size == 0 and rng.random() < 0.5:
            out.append(f"{show(a)}/{prefix_width - size.bit_length() + 1}")
        else:
            out.append(f"{show(a)}-{show(b)}")
    return out


class Namer:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> str:
        self.count += 1
        return f"s{self.count}"


def braces(parts: list[str]) -> str:
    return "{ " + ", ".join(parts) + " }"


@st.composite
def atoms(draw, namer: Namer) -> Atom:
    rng = random.Random(draw(st.integers(0, 1 << 30)))
    kind = draw(st.sampled_from(["interface", "address", "port", "protocol", "state", "icmp", "services",
                                 "zone"]))
    negate = draw(st.booleans())
    named = draw(st.booleans())
    op = "!= " if negate else ""

    def named_or_inline(datatype: str, parts: list[str], interval: bool) -> tuple[str, list[str]]:
        if not named:
            return braces(parts), []
        name = namer()
        flags = " flags interval;" if interval else ""
        return f"@{name}", [f"set {name} {{ type {datatype};{flags} elements = {braces(parts)} }}"]

    if kind == "interface":
        side = draw(st.sampled_from(["iifname", "oifname"]))
        chosen = draw(st.lists(st.sampled_from(INTERFACES), min_size=1, max_size=3, unique=True))
        right, sets = named_or_inline("ifname", [f'"{n}"' for n in chosen], False)
        attribute = "ingress" if side == "iifname" else "egress"
        return Atom(f"{side} {op}{right}", lambda p: (getattr(p, attribute) in chosen) != negate, sets)
    if kind == "address":
        family = draw(st.sampled_from([4, 6]))
        side = draw(st.sampled_from(["saddr", "daddr"]))
        pool = V4 if family == 4 else V6
        chosen = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=6, unique=True))
        parts = items(chosen, lambda v: str(ipaddress.ip_address(v)), 32 if family == 4 else 128, rng)
        right, sets = named_or_inline("ipv4_addr" if family == 4 else "ipv6_addr", parts, True)
        keyword = "ip" if family == 4 else "ip6"
        attribute = "source" if side == "saddr" else "destination"
        return Atom(f"{keyword} {side} {op}{right}", lambda p: p.packet.family == family and (
            (getattr(p.packet, attribute) in chosen) != negate), sets, frozenset({keyword}))
    if kind == "port":
        protocol = draw(st.sampled_from(["tcp", "udp"]))
        chosen = draw(st.lists(st.sampled_from(PORTS), min_size=1, max_size=5, unique=True))
        right, sets = named_or_inline("inet_service", items(chosen, str, None, rng), True)
        return Atom(f"{protocol} dport {op}{right}", lambda p: p.packet.protocol == protocol and (
            (p.packet.port in chosen) != negate), sets, frozenset({protocol}))
    if kind == "protocol":
        chosen = draw(st.lists(st.sampled_from(PROTOCOLS), min_size=1, max_size=3, unique=True))
        right, sets = named_or_inline("inet_proto", [name for name, _ in chosen], False)
        inside = {space_name for _, space_name in chosen}
        return Atom(f"meta l4proto {op}{right}", lambda p: (p.packet.protocol in inside) != negate, sets,
                    frozenset({"l4proto"}))
    if kind == "state":
        chosen = draw(st.lists(st.sampled_from(STATES), min_size=1, max_size=3, unique=True))
        if draw(st.booleans()) and not negate:  # the flag test
            return Atom(f"ct state {','.join(chosen)}", lambda p: p.state in chosen)
        right, sets = named_or_inline("ct_state", chosen, False)
        return Atom(f"ct state {op}{right}", lambda p: (p.state in chosen) != negate, sets)
    if kind == "icmp":
        protocol, table_ = draw(st.sampled_from([("icmp", ICMP_TYPES), ("icmpv6", ICMPV6_TYPES)]))
        chosen = draw(st.lists(st.sampled_from(table_), min_size=1, max_size=3, unique=True))
        numbers = {number for _, number in chosen}
        right, sets = named_or_inline(f"{protocol}_type", [name for name, _ in chosen], False)
        headers = frozenset({protocol, "ip" if protocol == "icmp" else "ip6"})
        return Atom(f"{protocol} type {op}{right}", lambda p: p.packet.protocol == protocol and (
            (p.packet.icmp_type in numbers) != negate), sets, headers)
    if kind == "services":  # meta l4proto . th dport, tcp and udp elements only
        by_protocol = {protocol: draw(st.lists(st.sampled_from(PORTS), max_size=4, unique=True))
                       for protocol in ("tcp", "udp")}
        if not any(by_protocol.values()):
            by_protocol["tcp"] = [PORTS[0]]
        parts = [f"{protocol} . {part}" for protocol, ports in by_protocol.items()
                 for part in items(ports, str, None, rng)]
        right, sets = named_or_inline("inet_proto . inet_service", parts, True)
        return Atom(f"meta l4proto . th dport {op}{right}", lambda p: (
            p.packet.port in by_protocol.get(p.packet.protocol, ())) != negate, sets, frozenset({"th"}))
    # zone: iifname . ip saddr, one address run per interface
    chosen = {name: draw(st.lists(st.sampled_from(V4), max_size=4, unique=True)) for name in INTERFACES}
    if not any(chosen.values()):
        chosen["eth0"] = [V4[0]]
    parts = [f'"{name}" . {part}' for name, addresses in chosen.items()
             for part in items(addresses, lambda v: str(ipaddress.ip_address(v)), 32, rng)]
    right, sets = named_or_inline("ifname . ipv4_addr", parts, True)
    return Atom(f"iifname . ip saddr {op}{right}", lambda p: p.packet.family == 4 and (
        (p.packet.source in chosen.get(p.ingress, ())) != negate), sets, frozenset({"ip"}))


@dataclass
class Rule:
    atoms: list[Atom]
    verdict: tuple  # ("accept",), ("jump", "c1"), ... or ("vmap", key text, [(value text, holds, verdict)])
    statement: str = ""  # log / counter, which change nothing

    def text(self) -> str:
        words = [atom.text for atom in self.atoms] + ([self.statement] if self.statement else [])
        if self.verdict[0] == "vmap":
            pairs = ", ".join(f"{value} : {' '.join(verdict)}" for value, _, verdict in self.verdict[2])
            return " ".join(words + [f"{self.verdict[1]} vmap {{ {pairs} }}"])
        return " ".join(words + [" ".join(self.verdict)])

    def decide(self, p: DevicePacket) -> tuple | None:
        if not all(atom.holds(p) for atom in self.atoms):
            return None
        if self.verdict[0] != "vmap":
            return self.verdict
        return next((verdict for _, holds, verdict in self.verdict[2] if holds(p)), None)


@dataclass
class Model:
    policy: str
    chains: dict[str, list[Rule]]

    def text(self) -> str:
        sets = [s for rules in self.chains.values() for rule in rules for atom in rule.atoms for s in atom.sets]
        body = [*sets]
        for name, rules in self.chains.items():
            head = f" type filter hook forward priority 0; policy {self.policy}\n" if name == "forward" else ""
            body.append(f"chain {name} {{\n{head}" + "".join(f" {rule.text()}\n" for rule in rules) + "}")
        return table("\n".join(body))

    def run(self, chain: str, p: DevicePacket) -> str:
        """accept, drop or return: the chain's outcome for the packet, rule by rule."""
        for rule in self.chains[chain]:
            verdict = rule.decide(p)
            if verdict is None or verdict[0] == "continue":
                continue
            if verdict[0] in ("accept", "drop", "reject"):
                return "drop" if verdict[0] == "reject" else verdict[0]
            if verdict[0] == "return":
                return "return"
            outcome = self.run(verdict[1], p)
            if verdict[0] == "goto" or outcome != "return":
                return outcome
        return "return"

    def accepts(self, p: DevicePacket) -> bool:
        outcome = self.run("forward", p)
        return (self.policy if outcome == "return" else outcome) == "accept"


VMAP_KEYS = [
    ("iifname", [(f'"{name}"', (lambda n: lambda p: p.ingress == n)(name)) for name in INTERFACES]),
    ("ct state", [(state, (lambda s: lambda p: p.state == s)(state)) for state in STATES]),
    ("meta l4proto . th dport", [(f"{protocol} . {low}-{low + 1}",
                                  (lambda pr, lo: lambda p: p.packet.protocol == pr and lo <= p.packet.port <= lo + 1)(
                                      protocol, low)) for protocol in ("tcp", "udp") for low in (20, 22, 24)]),
]


@st.composite
def models(draw) -> Model:
    namer = Namer()
    chain_names = ["forward", "c1", "c2"][:draw(st.integers(1, 3))]

    def verdicts(index: int):
        later = chain_names[index + 1:]
        simple = [("accept",), ("drop",), ("reject",), ("continue",), ("return",)]
        return st.sampled_from(simple + [(kind, name) for kind in ("jump", "goto") for name in later])

    chains = {}
    for index, name in enumerate(chain_names):
        rules = []
        for _ in range(draw(st.integers(0, 4))):
            vmap = draw(st.integers(0, 4)) == 0
            found = draw(st.lists(atoms(namer), min_size=0 if vmap else 1, max_size=3).filter(consistent))
            if vmap:
                key, values = draw(st.sampled_from([(key, values) for key, values in VMAP_KEYS
                                                    if consistent(found, frozenset({"th"} if "th" in key else ()))]))
                picked = draw(st.lists(st.sampled_from(values), min_size=1, max_size=3, unique_by=lambda v: v[0]))
                verdict = ("vmap", key, [(text, holds, draw(verdicts(index).filter(lambda v: v[0] != "reject")))
                                         for text, holds in picked])
            else:
                verdict = draw(verdicts(index))
            rules.append(Rule(found, verdict, draw(st.sampled_from(["", "", "counter", 'log prefix "p "']))))
        chains[name] = rules
    return Model(draw(st.sampled_from(["accept", "drop"])), chains)


def random_packets(rng: random.Random, count: int) -> list[DevicePacket]:
    out = []
    for _ in range(count):
        family = rng.choice([4, 6])
        pool = V4 if family == 4 else V6
        outside = 0xC6130001 if family == 4 else (0x20010DB8 << 96 | 1 << 64)
        source, destination = (rng.choice(pool + [outside]) for _ in range(2))
        protocol = rng.choice(["tcp", "udp", "icmp" if family == 4 else "icmpv6"])
        types = ICMP_TYPES if family == 4 else ICMPV6_TYPES
        icmp_type = rng.choice([number for _, number in types] + [0, 129])
        port = rng.choice(PORTS + [19, 28, 443]) if protocol in ("tcp", "udp") else 0
        out.append(DevicePacket(rng.choice(INTERFACES + (OTHER,)), rng.choice(INTERFACES + (OTHER,)),
                                rng.choice(STATES), Packet(family, source, destination, protocol, port,
                                                           icmp_type if port == 0 else 0, rng.choice([0, 1, 3]))))
    return out


@settings(max_examples=examples(30), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=models(), seed=st.integers(0, 1 << 30))
def test_random_rulesets_agree_with_a_brute_force_evaluator(kernel, model, seed):
    document = load(model.text())
    ds = space(document)
    got = accepted(document, ds)
    rng = random.Random(seed)
    probes = random_packets(rng, 200)
    for picked in (ds.pick(got), ds.pick(ds.true & ~got)):
        if picked is not None:
            probes.append(picked)
    for probe in probes:
        assert ds.contains(got, probe) == model.accepts(probe), (
            f"{probe.describe()}: brute force says {model.accepts(probe)}, trace: {trace(document, ds, probe)}\n"
            f"{model.text()}")
