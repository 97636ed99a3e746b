"""The Open vSwitch flow-table interpreter (backends/openflow/interpret.py) on small tables written
by hand in `ovs-ofctl -O OpenFlow13 dump-flows --no-stats` format.

Every verdict is asserted twice: by the packet set (`accepted`, read with `DeviceSpace.contains`)
and by the concrete walk over the parsed flows (`decide`), which are computed independently; a
property checks that the two agree on random packets of a richer table. `REAL_DUMP` is verbatim
what Open vSwitch 3.1 printed for a table installed with `--bundle replace-flows`, so the parser is
tested against real output. No OVS daemon runs here.
"""

from __future__ import annotations

import ipaddress
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from septum.backends.openflow.interpret import (DEFAULT_PRIORITY, Unsupported, accepted, decide, parse, port_names,
                                                trace)
from septum.compiler.devices.prove import OTHER, STATES, DevicePacket, DeviceSpace
from septum.compiler.packets.space import Packet


def ip(text: str) -> int:
    return int(ipaddress.ip_address(text))


def packet(source: str, destination: str, protocol: str, port: int = 0, icmp: tuple[int, int] = (0, 0)) -> Packet:
    family = ipaddress.ip_address(source).version
    return Packet(family, ip(source), ip(destination), protocol, port, icmp[0], icmp[1])


def tcp(source: str, destination: str, port: int) -> Packet:
    return packet(source, destination, "tcp", port)


# ovs-ofctl -O OpenFlow13 dump-flows --no-stats br0, verbatim (Open vSwitch 3.1)
REAL_DUMP = """\
 priority=300,arp actions=NORMAL
 priority=300,icmp6,nw_ttl=255,icmp_type=133 actions=NORMAL
 priority=300,icmp6,nw_ttl=255,icmp_type=134 actions=NORMAL
 priority=300,icmp6,nw_ttl=255,icmp_type=135 actions=NORMAL
 priority=300,icmp6,nw_ttl=255,icmp_type=136 actions=NORMAL
 priority=200,ct_state=-trk,ip actions=ct(table=1)
 priority=200,ct_state=-trk,ipv6 actions=ct(table=1)
 priority=0 actions=drop
 table=1, priority=300,ct_state=+est+trk actions=resubmit(,3)
 table=1, priority=300,ct_state=+rel+trk actions=resubmit(,3)
 table=1, priority=200,ct_state=+inv+trk,icmp,icmp_type=8 actions=drop
 table=1, priority=200,ct_state=+inv+trk,icmp6,icmp_type=128 actions=drop
 table=1, priority=200,ct_state=+inv+trk,icmp,icmp_type=13 actions=drop
 table=1, priority=200,ct_state=+inv+trk,icmp6,icmp_type=139 actions=drop
 table=1, priority=190,ct_state=+inv+trk,icmp actions=resubmit(,2)
 table=1, priority=190,ct_state=+inv+trk,icmp6 actions=resubmit(,2)
 table=1, priority=180,ct_state=+inv+trk actions=drop
 table=1, priority=100,ct_state=+new+trk actions=resubmit(,2)
 table=1, priority=0 actions=drop
 cookie=0x7, table=2, priority=101,conj_id=7,ct_state=+inv actions=resubmit(,3)
 table=2, priority=100,ip,in_port=1,nw_src=10.40.0.0/22 actions=conjunction(7,1/3),conjunction(9,1/3)
 table=2, priority=100,ipv6,in_port=1,ipv6_src=fd00::/64 actions=conjunction(8,1/3)
 table=2, priority=100,ip,nw_dst=10.40.4.10 actions=conjunction(7,2/3)
 table=2, priority=100,ip,nw_dst=10.40.5.0/24 actions=conjunction(9,2/3)
 table=2, priority=100,ipv6,ipv6_dst=fd00:1::/48 actions=conjunction(8,2/3)
 table=2, priority=100,tcp,tp_dst=443 actions=conjunction(7,3/3)
 table=2, priority=100,udp6,tp_dst=53 actions=conjunction(8,3/3)
 table=2, priority=100,tcp,tp_dst=0x1f40/0xffc0 actions=conjunction(9,3/3)
 table=2, priority=100,icmp,icmp_type=3,icmp_code=4 actions=conjunction(9,3/3)
 table=2, priority=100,icmp6,icmp_type=128 actions=conjunction(8,3/3)
 cookie=0x7, table=2, priority=100,conj_id=7,ip actions=ct(commit),resubmit(,3)
 cookie=0x9, table=2, priority=100,conj_id=9,ip actions=ct(commit),resubmit(,3)
 cookie=0x8, table=2, priority=100,conj_id=8,ipv6 actions=ct(commit),resubmit(,3)
 table=2, priority=0 actions=drop
 table=3, priority=228,ipv6,ipv6_dst=fd00::/64 actions=output:1
 table=3, priority=148,ipv6,ipv6_dst=fd00:1::/48 actions=output:3
 table=3, priority=124,ip,nw_dst=10.40.4.0/24 actions=output:2
 table=3, priority=116,ip,nw_dst=10.40.0.0/16 actions=output:1
 table=3, priority=0 actions=drop
"""

# a richer table, by hand, in the same format: ports 1..4
TABLE = """\
 priority=300,arp actions=NORMAL
 priority=300,icmp6,nw_ttl=255,icmp_type=135 actions=NORMAL
 priority=300,icmp6,nw_ttl=255,icmp_type=136 actions=NORMAL
 priority=200,ct_state=-trk,ip actions=ct(table=1)
 priority=200,ct_state=-trk,ipv6 actions=ct(table=1)
 priority=0 actions=drop
 table=1, priority=300,ct_state=+est+trk actions=resubmit(,3)
 table=1, priority=300,ct_state=+rel+trk actions=resubmit(,3)
 table=1, priority=200,ct_state=+inv+trk,icmp,icmp_type=8 actions=drop
 table=1, priority=200,ct_state=+inv+trk,icmp6,icmp_type=128 actions=drop
 table=1, priority=190,ct_state=+inv+trk,icmp actions=resubmit(,2)
 table=1, priority=190,ct_state=+inv+trk,icmp6 actions=resubmit(,2)
 table=1, priority=180,ct_state=+inv+trk actions=drop
 table=1, priority=100,ct_state=+new+trk actions=resubmit(,2)
 table=1, priority=0 actions=drop
 table=2, priority=150,tcp,nw_src=10.1.9.0/24 actions=drop
 table=2, priority=100,ip,in_port=1,nw_src=10.1.0.0/16 actions=conjunction(1,1/2),conjunction(2,1/3)
 table=2, priority=100,tcp,tp_dst=0x1f40/0xffc0 actions=conjunction(1,2/2)
 table=2, priority=100,ip,nw_dst=10.3.0.0/16 actions=conjunction(2,2/3)
 table=2, priority=100,icmp,icmp_type=3,icmp_code=4 actions=conjunction(2,3/3)
 table=2, priority=100,icmp,icmp_type=8 actions=conjunction(2,3/3)
 table=2, priority=100,ipv6,in_port=2,ipv6_src=fd00:2::/64 actions=conjunction(3,1/3)
 table=2, priority=100,ipv6,ipv6_dst=fd00:3::/64 actions=conjunction(3,2/3)
 table=2, priority=100,udp6,tp_dst=53 actions=conjunction(3,3/3)
 table=2, priority=100,icmp6,icmp_type=128 actions=conjunction(3,3/3)
 cookie=0x1, table=2, priority=101,conj_id=1,ct_state=+inv actions=resubmit(,3)
 cookie=0x1, table=2, priority=100,conj_id=1,ip actions=ct(commit),resubmit(,3)
 cookie=0x2, table=2, priority=100,conj_id=2,ip actions=ct(commit),resubmit(,3)
 cookie=0x3, table=2, priority=100,conj_id=3,ipv6 actions=ct(commit),resubmit(,3)
 cookie=0x4, table=2, priority=50,ip,in_port=4,nw_dst=10.3.0.0/16 actions=ct(commit),resubmit(,3)
 table=2, priority=0 actions=drop
 table=3, priority=124,ip,nw_dst=10.3.3.0/24 actions=output:4
 table=3, priority=116,ip,nw_dst=10.3.0.0/16 actions=output:3
 table=3, priority=116,ip,nw_dst=10.1.0.0/16 actions=output:1
 table=3, priority=100,ip actions=output:2
 table=3, priority=192,ipv6,ipv6_dst=fd00:3::/64 actions=output:3
 table=3, priority=192,ipv6,ipv6_dst=fd00:2::/64 actions=output:2
 table=3, priority=0 actions=drop
"""


class Switch:
    """A parsed table with its space and packet set; `verdict` asserts the two evaluations agree."""

    def __init__(self, text: str, extra: tuple[str, ...] = ()) -> None:
        self.flows = parse(text)
        self.ds = DeviceSpace(port_names(self.flows) | set(extra))
        self.accepted = accepted(self.flows, self.ds)

    def verdict(self, ingress: str, state: str, p: Packet) -> str | None:
        """The egress port the switch sends the packet to, or None; both evaluations must agree."""
        decision = decide(self.flows, ingress, state, p)
        egresses = [e for e in self.ds.names if self.ds.contains(self.accepted, DevicePacket(ingress, e, state, p))]
        assert egresses == ([decision.egress] if decision.accepted else []), (decision, egresses)
        return decision.egress


@pytest.fixture(scope="module")
def real() -> Switch:
    return Switch(REAL_DUMP)


@pytest.fixture(scope="module")
def rich() -> Switch:
    return Switch(TABLE)


# ---- parsing ---------------------------------------------------------------------------------

def test_parse_real_dump(real):
    flows = real.flows
    assert len(flows) == 39
    assert sorted({f.table for f in flows}) == [0, 1, 2, 3]
    first = flows[0]
    assert (first.table, first.priority, first.cookie, first.match, first.actions) == (0, 300, 0, {"arp": None},
                                                                                     ["NORMAL"])
    conj = next(f for f in flows if f.cookie == 0x7 and f.priority == 101)
    assert conj.table == 2 and conj.match == {"conj_id": "7", "ct_state": "+inv"} and conj.actions == ["resubmit(,3)"]
    shared = next(f for f in flows if "conjunction(9,1/3)" in f.actions)
    assert shared.actions == ["conjunction(7,1/3)", "conjunction(9,1/3)"]
    assert shared.match == {"ip": None, "in_port": "1", "nw_src": "10.40.0.0/22"}
    assert next(f for f in flows if f.match.get("ct_state") == "-trk").actions == ["ct(table=1)"]
    assert next(f for f in flows if "tp_dst" in f.match and "/" in f.match["tp_dst"]).parsed.l4 == (0x1F40, 0xFFC0)
    assert port_names(flows) == {"1", "2", "3"}


def test_parse_headers_stats_flags_and_default_priority():
    flows = parse(textwrap.dedent("""\
        OFPST_FLOW reply (OF1.3) (xid=0x2):
         cookie=0x0, duration=0.441s, table=7, n_packets=0, n_bytes=0, actions=drop
         table=5, idle_timeout=30, hard_timeout=60, send_flow_rem reset_counts priority=10,ip,nw_src=10.2.0.0/16 actions=output:4
         table=5, ip,nw_dst=10.1.0.0/16 actions=output:4
         cookie=0xab, table=7, priority=5,ip,nw_proto=47 actions=drop
         priority=52,udp,nw_src=10.0.0.0/255.0.255.0 actions=drop
        NXST_FLOW reply (xid=0x4):
        """))
    assert [(f.table, f.priority, f.cookie) for f in flows] == [(7, DEFAULT_PRIORITY, 0), (5, 10, 0),
                                                               (5, DEFAULT_PRIORITY, 0), (7, 5, 0xAB), (0, 52, 0)]
    assert flows[0].match == {} and flows[0].actions == ["drop"]
    assert flows[4].parsed.src == (ip("10.0.0.0"), ip("255.0.255.0"))
    assert flows[3].parsed.outside_space  # ip,nw_proto=47: no packet of the space


# ---- the real dump ----------------------------------------------------------------------------

def test_real_conjunction_three_dimensions(real):
    assert real.verdict("1", "new", tcp("10.40.1.5", "10.40.4.10", 443)) == "2"
    assert real.verdict("1", "untracked", tcp("10.40.1.5", "10.40.4.10", 443)) == "2"  # as new
    assert real.verdict("1", "new", tcp("10.40.1.5", "10.40.4.10", 444)) is None
    assert real.verdict("2", "new", tcp("10.40.1.5", "10.40.4.10", 443)) is None  # in_port
    assert real.verdict("1", "new", tcp("10.40.4.5", "10.40.4.10", 443)) is None  # source outside /22
    assert real.verdict(OTHER, "new", tcp("10.40.1.5", "10.40.4.10", 443)) is None
    reason = decide(real.flows, "1", "new", tcp("10.40.1.5", "10.40.4.10", 443)).reason
    assert "cookie 0x7" in reason and "conjunction(7,3/3)" in reason and "output:2" in reason


def test_real_hairpin_is_not_sent(real):
    """conj 9 admits it, but its route is the port it came in by: OpenFlow does not send it back."""
    d = decide(real.flows, "1", "new", tcp("10.40.1.5", "10.40.5.7", 8000))
    assert not d.accepted and "cookie 0x9" in d.reason and "input port" in d.reason
    assert real.verdict("1", "new", tcp("10.40.1.5", "10.40.5.7", 8000)) is None


def test_real_states(real):
    reply = tcp("10.40.4.10", "10.40.1.5", 50000)
    for state in ("established", "related"):
        assert real.verdict("2", state, reply) == "1"
        assert real.verdict(OTHER, state, tcp("10.40.9.9", "10.40.4.77", 1)) == "2"
    assert real.verdict("2", "new", reply) is None
    assert real.verdict("1", "invalid", tcp("10.40.1.5", "10.40.4.10", 443)) is None  # +inv TCP dropped


def test_real_ipv6(real):
    assert real.verdict("1", "new", packet("fd00::5", "fd00:1::1", "udp", 53)) == "3"
    assert real.verdict("1", "new", packet("fd00::5", "fd00:1::1", "icmpv6", icmp=(128, 0))) == "3"
    assert real.verdict("1", "invalid", packet("fd00::5", "fd00:1::1", "icmpv6", icmp=(128, 0))) is None
    assert real.verdict("1", "new", packet("fd00::5", "fd00:1::1", "tcp", 53)) is None
    assert real.verdict("3", "established", packet("fd00:1::1", "fd00::5", "udp", 4000)) == "1"
    # neighbour discovery flows (nw_ttl=255) match no packet of the space: the policy judges it
    assert real.verdict("1", "new", packet("fd00::5", "fd00:1::1", "icmpv6", icmp=(135, 0))) is None
    assert real.verdict("1", "established", packet("fd00::5", "fd00:1::1", "icmpv6", icmp=(135, 0))) == "3"


# ---- the richer table -------------------------------------------------------------------------

def test_two_dimensions_and_masked_port(rich):
    for port, egress in ((8000, "4"), (8063, "4"), (8064, None), (7999, None), (8032, "4")):
        assert rich.verdict("1", "new", tcp("10.1.2.3", "10.3.3.3", port)) == egress
    assert rich.verdict("1", "new", tcp("10.1.2.3", "10.3.0.9", 8001)) == "3"  # longest prefix
    assert rich.verdict("1", "new", tcp("10.1.2.3", "10.7.0.1", 8001)) == "2"  # the default route
    assert rich.verdict("1", "new", packet("10.1.2.3", "10.7.0.1", "udp", 8001)) is None


def test_higher_priority_drop_beats_conjunction(rich):
    assert rich.verdict("1", "new", tcp("10.1.9.9", "10.3.3.3", 8000)) is None
    assert rich.verdict("1", "established", tcp("10.1.9.9", "10.3.3.3", 8000)) == "4"


def test_shared_clause_three_dimensions_and_icmp(rich):
    error = packet("10.1.2.3", "10.3.0.9", "icmp", icmp=(3, 4))
    assert rich.verdict("1", "new", error) == "3"
    assert rich.verdict("1", "invalid", error) == "3"  # untrackable ICMP: judged by the policy
    assert rich.verdict("1", "invalid", packet("10.1.2.3", "10.3.0.9", "icmp", icmp=(3, 5))) is None
    assert rich.verdict("1", "new", packet("10.1.2.3", "10.3.0.9", "icmp", icmp=(8, 0))) == "3"
    assert rich.verdict("1", "invalid", packet("10.1.2.3", "10.3.0.9", "icmp", icmp=(8, 0))) is None  # request
    assert rich.verdict("1", "new", packet("10.1.2.3", "10.4.0.9", "icmp", icmp=(8, 0))) is None
    assert rich.verdict("1", "invalid", tcp("10.1.2.3", "10.3.3.3", 8000)) is None  # +inv TCP dropped


def test_conj_id_flow_priority_decides():
    """The conj_id search is by the conj_id flows' own priorities: an invalid packet takes the
    priority-101 flow (no commit), a new one the priority-100 flow."""
    s = Switch(textwrap.dedent("""\
         priority=200,ct_state=-trk,ip actions=ct(table=1)
         table=1, priority=100,icmp,icmp_type=3 actions=conjunction(5,1/2)
         table=1, priority=100,ip,nw_dst=10.0.0.0/8 actions=conjunction(5,2/2)
         cookie=0x51, table=1, priority=101,conj_id=5,ct_state=+inv actions=output:2
         cookie=0x50, table=1, priority=100,conj_id=5,ip actions=ct(commit),output:3
        """))
    error = packet("192.0.2.1", "10.0.0.1", "icmp", icmp=(3, 1))
    assert s.verdict("1", "invalid", error) == "2"
    assert "cookie 0x51" in decide(s.flows, "1", "invalid", error).reason
    assert s.verdict("1", "new", error) == "3"
    assert s.verdict("1", "new", packet("192.0.2.1", "11.0.0.1", "icmp", icmp=(3, 1))) is None


def test_plain_flow_below_conjunctions(rich):
    assert rich.verdict("4", "new", tcp("10.9.9.9", "10.3.3.3", 22)) is None  # output:4 is the input port
    assert rich.verdict("4", "new", tcp("10.9.9.9", "10.3.0.1", 22)) == "3"
    assert rich.verdict("3", "new", tcp("10.9.9.9", "10.3.0.1", 22)) is None


def test_ipv6_conjunction(rich):
    assert rich.verdict("2", "new", packet("fd00:2::1", "fd00:3::9", "udp", 53)) == "3"
    assert rich.verdict("2", "new", packet("fd00:2::1", "fd00:3::9", "icmpv6", icmp=(128, 0))) == "3"
    assert rich.verdict("2", "invalid", packet("fd00:2::1", "fd00:3::9", "icmpv6", icmp=(128, 0))) is None
    assert rich.verdict("1", "new", packet("fd00:2::1", "fd00:3::9", "udp", 53)) is None
    assert rich.verdict("2", "new", packet("fd00:2:0:1::1", "fd00:3::9", "udp", 53)) is None
    assert rich.verdict("3", "related", packet("fd00:3::9", "fd00:2::1", "icmpv6", icmp=(1, 4))) == "2"


def test_trace(rich):
    p = DevicePacket("1", "3", "new", tcp("10.1.2.3", "10.3.3.3", 8000))
    text = trace(rich.flows, rich.ds, p)
    assert "output:4" in text and "not 3" in text
    assert "not " not in trace(rich.flows, rich.ds, p._replace(egress="4"))


# ---- lookup semantics in small tables ----------------------------------------------------------

def test_table_miss_and_empty_table_drop():
    s = Switch(textwrap.dedent("""\
         priority=10,ip,in_port=1 actions=output:2
         priority=10,ipv6,in_port=2 actions=resubmit(,9)
        """))
    assert s.verdict("1", "new", tcp("10.0.0.1", "10.0.0.2", 80)) == "2"
    assert s.verdict("2", "new", tcp("10.0.0.1", "10.0.0.2", 80)) is None  # miss
    assert s.verdict("1", "new", packet("fd00::1", "fd00::2", "udp", 1)) is None
    assert s.verdict("2", "new", packet("fd00::1", "fd00::2", "udp", 1)) is None  # table 9 has no flows


def test_conjunction_without_conj_flow_falls_through():
    s = Switch(textwrap.dedent("""\
         priority=100,ip,nw_src=10.0.0.0/8 actions=conjunction(5,1/2)
         priority=100,tcp,tp_dst=80 actions=conjunction(5,2/2)
         priority=50,ip actions=output:2
         priority=100,udp actions=output:3
        """))
    assert s.verdict("1", "new", tcp("10.0.0.1", "192.0.2.1", 80)) == "2"  # conj 5 found no conj_id flow
    assert s.verdict("1", "new", packet("10.0.0.1", "192.0.2.1", "udp", 80)) == "3"


def test_ordinary_flow_beats_clauses_at_equal_priority_and_conj_search_sees_plain_flows():
    s = Switch(textwrap.dedent("""\
         priority=100,ip,nw_src=10.0.0.0/8 actions=conjunction(5,1/2)
         priority=100,tcp,tp_dst=80 actions=conjunction(5,2/2)
         priority=100,tcp,nw_dst=192.0.2.9 actions=output:4
         priority=90,ip,nw_dst=192.0.2.0/24 actions=output:3
         priority=10,conj_id=5,ip actions=output:2
        """))
    assert s.verdict("1", "new", tcp("10.0.0.1", "192.0.2.9", 80)) == "4"
    # the conj_id=5 search is a whole-table search: the priority-90 flow beats the conj_id flow
    assert s.verdict("1", "new", tcp("10.0.0.1", "192.0.2.7", 80)) == "3"
    assert s.verdict("1", "new", tcp("10.0.0.1", "198.51.100.1", 80)) == "2"


def test_equal_priority_overlap_with_same_actions_is_fine():
    s = Switch(" priority=5,ip,nw_dst=10.0.0.0/8 actions=output:2\n"
               " priority=5,tcp,nw_dst=10.1.0.0/16 actions=output:2\n"
               " priority=5,ip,nw_dst=11.0.0.0/8 actions=output:3\n")
    assert s.verdict("1", "new", tcp("1.1.1.1", "10.1.0.1", 80)) == "2"
    assert s.verdict("1", "new", tcp("1.1.1.1", "11.0.0.1", 81)) == "3"


def test_actions_after_ct_see_cleared_state():
    s = Switch(textwrap.dedent("""\
         priority=10,ip actions=ct(commit),resubmit(,1)
         table=1, priority=10,ct_state=+trk actions=output:2
         table=1, priority=5,ct_state=-trk actions=output:3
        """))
    for state in STATES:
        assert s.verdict("1", state, tcp("10.0.0.1", "10.0.0.2", 80)) == "3"


# ---- refused ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    " priority=10,ip actions=set_field:1.2.3.4->ip_dst,output:2",
    " priority=10,ip actions=learn(table=1)",
    " priority=10,ip actions=group:1",
    " priority=10,ip actions=write_metadata:0x1,goto_table:2",
    " priority=10,ip,reg0=0x1 actions=output:2",
    " priority=10,tcp,tp_src=80 actions=output:2",
    " priority=10,ip,nw_tos=0 actions=output:2",
    " priority=10,ip actions=NORMAL",
    " priority=0 actions=NORMAL",  # a fresh bridge's default flow
    " priority=10,ip actions=FLOOD",
    " priority=10,ip actions=LOCAL",
    " priority=10,ip actions=output(port=4,max_len=100)",
    " priority=10,ip,in_port=LOCAL actions=output:2",
    " priority=10,ip actions=ct(commit,zone=5)",
    " priority=10,ip actions=ct(table=2,nat)",
    " priority=10,ip actions=resubmit:3",
    " priority=10,ip actions=resubmit(2,6)",
    " priority=10,ip,ct_state=+est+rpl+trk actions=output:2",
    " priority=10,ip,nw_ttl=64 actions=output:2",
    " priority=10,ip actions=conjunction(1,1/2),output:2",
    " priority=10,ip actions=drop,output:2",
    " priority=10,ip actions=ct_clear,output:4",
])
def test_refused_lines(text):
    with pytest.raises(Unsupported):
        flows = parse(text)
        accepted(flows, DeviceSpace(port_names(flows)))


@pytest.mark.parametrize("text", [
    # equal priority, overlapping, different actions
    " priority=5,ip,nw_dst=10.0.0.0/8 actions=output:2\n priority=5,tcp actions=output:3",
    # a resubmit loop
    " priority=5,ip actions=resubmit(,1)\n table=1, priority=5,ip actions=resubmit(,0)",
    # clause flows of one conjunction at different priorities
    " priority=100,ip,nw_src=10.0.0.0/8 actions=conjunction(5,1/2)\n"
    " priority=90,tcp,tp_dst=80 actions=conjunction(5,2/2)\n priority=100,conj_id=5,ip actions=output:2",
    # a missing dimension
    " priority=100,ip,nw_src=10.0.0.0/8 actions=conjunction(5,1/3)\n"
    " priority=100,tcp,tp_dst=80 actions=conjunction(5,2/3)\n priority=100,conj_id=5,ip actions=output:2",
    # two conjunctions satisfied by one packet at one priority
    " priority=100,ip,nw_src=10.0.0.0/8 actions=conjunction(5,1/2),conjunction(6,1/2)\n"
    " priority=100,tcp,tp_dst=80 actions=conjunction(5,2/2)\n priority=100,tcp actions=conjunction(6,2/2)\n"
    " priority=100,conj_id=5,ip actions=output:2\n priority=100,conj_id=6,ip actions=output:3",
    # output to two ports
    " priority=5,ip actions=output:2,output:3",
    " priority=5,ip actions=output:2,resubmit(,1)\n table=1, priority=5,tcp actions=output:3",
])
def test_refused_tables(text):
    flows = parse(text)
    ds = DeviceSpace(port_names(flows))
    with pytest.raises(Unsupported):
        accepted(flows, ds)
    with pytest.raises(Unsupported):
        for ingress in ("1", OTHER):
            decide(flows, ingress, "new", tcp("10.0.0.1", "10.0.0.2", 80))


def test_port_missing_from_space_refused():
    flows = parse(" priority=5,ip actions=output:2")
    with pytest.raises(Unsupported):
        accepted(flows, DeviceSpace(["1"]))


# ---- the two evaluations agree ---------------------------------------------------------------

RICH = Switch(TABLE, extra=("5",))
V4 = ["10.1.2.3", "10.1.9.9", "10.3.0.9", "10.3.3.3", "10.9.9.9", "10.7.0.1", "192.0.2.1"]
V6 = ["fd00:2::1", "fd00:3::9", "fd00:2:0:1::1", "fd00:9::1", "2001:db8::1"]


def _packets():
    def v4(source, destination, protocol, port, icmp):
        return packet(source, destination, protocol, port, icmp)

    def v6(source, destination, protocol, port, icmp):
        return packet(source, destination, "icmpv6" if protocol == "icmp" else protocol, port, icmp)

    ports = st.one_of(st.sampled_from([53, 443, 7999, 8000, 8032, 8063, 8064, 22]), st.integers(0, 65535))
    icmp = st.one_of(st.sampled_from([(3, 4), (3, 5), (8, 0), (0, 0), (13, 0), (128, 0), (135, 0), (1, 4)]),
                     st.tuples(st.integers(0, 255), st.integers(0, 255)))
    protocols = st.sampled_from(["tcp", "udp", "icmp"])
    addr4 = st.one_of(st.sampled_from(V4), st.integers(0, 2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n))))
    addr6 = st.one_of(st.sampled_from(V6), st.integers(0, 2**128 - 1).map(lambda n: str(ipaddress.IPv6Address(n))))
    return st.one_of(st.builds(v4, addr4, addr4, protocols, ports, icmp),
                     st.builds(v6, addr6, addr6, protocols, ports, icmp))


@settings(derandomize=True, max_examples=200, deadline=None)
@given(ingress=st.sampled_from(RICH.ds.names), state=st.sampled_from(STATES), p=_packets())
def test_accepted_and_decide_agree(ingress, state, p):
    RICH.verdict(ingress, state, p)
