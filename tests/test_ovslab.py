"""Live tests of the OpenFlow lab (tests/ovslab.py): a private Open vSwitch (userspace datapath)
in network namespaces, hand-written flow tables loaded into it and probed with real packets.

Only addresses in 198.18.0.0/15 are sent, IPv4 only, and nothing leaves the lab's namespaces.
Without root or Open vSwitch the tests are skipped, or fail when CI=true.

    .venv/bin/python -m pytest tests/test_ovslab.py -s
"""

from __future__ import annotations

import ipaddress
import os
import struct
import time
from pathlib import Path

import pytest
from helpers import require_lab
from netlab import Budget, Probe, Wire, internet_checksum, ip_bytes
from ovslab import NAMESPACE_PREFIX, OvsLab, OvsSwitch, live_check_ovs, missing_ovs_requirements, remove_leftovers

from septum.compiler.devices.pipeline import load_and_compile


@pytest.fixture(scope="module", autouse=True)
def lab_requirements():
    require_lab(missing_ovs_requirements(), "Open vSwitch")
    remove_leftovers()


def A(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def switch_device(tmp_path: Path, text: str, name: str = "s"):
    (tmp_path / "p.septum").write_text(text)
    _, result = load_and_compile(tmp_path)
    assert result.status == 0, [d.message for d in result.diagnostics]
    return result.intent.devices[name]


THREE_PORTS = """\
service https { tcp 443; encrypted }
service dns { udp 53 }
service ping { icmp type 8 code 0 }
service unreachable { icmp type 3 }
zone a { networks 198.18.1.0/24 }
zone b { networks 198.18.2.0/24 }
zone c { networks 198.18.3.0/24 }
allow a -> b : https
allow c -> a : dns, ping
allow b -> c : unreachable
switch s openflow { port 1 zone a; port 2 zone b; port 3 zone c }
"""

# The brief's table: only TCP 443 from port 1's zone starts connections, replies pass by conntrack.
BRIEF_FLOWS = """\
priority=300,arp actions=NORMAL
priority=200,ip,ct_state=-trk actions=ct(table=1)
table=1,priority=300,ct_state=+trk+est actions=resubmit(,3)
table=1,priority=100,ct_state=+trk+new,ip,in_port=1,nw_src=198.18.1.0/24,tcp,tp_dst=443 actions=ct(commit),resubmit(,3)
table=3,priority=124,ip,nw_dst=198.18.2.0/24 actions=output:2
table=3,priority=124,ip,nw_dst=198.18.1.0/24 actions=output:1
"""

# THREE_PORTS as /tmp/ofspec/spec.md lays a table out (written by hand: no generator needed).
SPEC_FLOWS = """\
priority=300,arp actions=NORMAL
priority=200,ip,ct_state=-trk actions=ct(table=1)
priority=0 actions=drop
table=1,priority=300,ct_state=+trk+est actions=resubmit(,3)
table=1,priority=300,ct_state=+trk+rel actions=resubmit(,3)
table=1,priority=200,ct_state=+trk+inv,icmp,icmp_type=8 actions=drop
table=1,priority=200,ct_state=+trk+inv,icmp,icmp_type=13 actions=drop
table=1,priority=200,ct_state=+trk+inv,icmp,icmp_type=15 actions=drop
table=1,priority=200,ct_state=+trk+inv,icmp,icmp_type=17 actions=drop
table=1,priority=190,ct_state=+trk+inv,icmp actions=resubmit(,2)
table=1,priority=180,ct_state=+trk+inv actions=drop
table=1,priority=100,ct_state=+trk+new actions=resubmit(,2)
table=1,priority=0 actions=drop
table=2,priority=100,ip,in_port=1,nw_src=198.18.1.0/24 actions=conjunction(1,1/3)
table=2,priority=100,ip,nw_dst=198.18.2.0/24 actions=conjunction(1,2/3)
table=2,priority=100,tcp,tp_dst=443 actions=conjunction(1,3/3)
table=2,priority=100,ip,in_port=3,nw_src=198.18.3.0/24 actions=conjunction(2,1/3)
table=2,priority=100,ip,nw_dst=198.18.1.0/24 actions=conjunction(2,2/3)
table=2,priority=100,udp,tp_dst=53 actions=conjunction(2,3/3)
table=2,priority=100,icmp,icmp_type=8,icmp_code=0 actions=conjunction(2,3/3)
table=2,priority=100,ip,in_port=2,nw_src=198.18.2.0/24 actions=conjunction(3,1/3)
table=2,priority=100,ip,nw_dst=198.18.3.0/24 actions=conjunction(3,2/3)
table=2,priority=100,icmp,icmp_type=3 actions=conjunction(3,3/3)
table=2,priority=101,conj_id=1,ip,ct_state=+trk+inv actions=resubmit(,3)
table=2,priority=100,conj_id=1,ip actions=ct(commit),resubmit(,3)
table=2,priority=101,conj_id=2,ip,ct_state=+trk+inv actions=resubmit(,3)
table=2,priority=100,conj_id=2,ip actions=ct(commit),resubmit(,3)
table=2,priority=101,conj_id=3,ip,ct_state=+trk+inv actions=resubmit(,3)
table=2,priority=100,conj_id=3,ip actions=ct(commit),resubmit(,3)
table=2,priority=0 actions=drop
table=3,priority=124,ip,nw_dst=198.18.1.0/24 actions=output:1
table=3,priority=124,ip,nw_dst=198.18.2.0/24 actions=output:2
table=3,priority=124,ip,nw_dst=198.18.3.0/24 actions=output:3
table=3,priority=0 actions=drop
"""


def our_namespaces() -> list[str]:
    from netlab import run
    return [line.split()[0] for line in run(["ip", "netns", "list"], check=False).stdout.splitlines()
            if line.startswith(f"{NAMESPACE_PREFIX}{os.getpid()}-")]


def test_switch_starts_replaces_atomically_and_leaves_nothing():
    started = time.perf_counter()
    with OvsSwitch([1, 2, 3]) as switch:
        up = time.perf_counter() - started
        print(f"switch up in {up:.2f} s: {switch.timings}")
        namespaces = our_namespaces()
        assert switch.namespace in namespaces and switch.world in namespaces
        assert switch.dump_flows().strip() == ""  # fail_mode=secure, empty table
        assert switch.replace_flows(BRIEF_FLOWS).returncode == 0
        before = switch.dump_flows()
        assert before.count("\n") == 6 and "ct(commit)" in before and "output:2" in before
        broken = BRIEF_FLOWS.replace("table=3,priority=124,ip,nw_dst=198.18.1.0/24",
                                     "table=3,priority=124,ip,nw_dst=198.18.1.0/33")
        broken = "table=3,priority=7,ip,nw_dst=198.18.9.0/24 actions=output:3\n" + broken
        result = switch.replace_flows(broken)
        assert result.returncode != 0 and "198.18.1.0/33" in result.stderr, result.stderr
        assert switch.dump_flows() == before
        unknown_table = switch.replace_flows(BRIEF_FLOWS + "priority=5,ip actions=resubmit(,300)\n")
        assert unknown_table.returncode != 0
        assert switch.dump_flows() == before
        trace = switch.trace("in_port=1,tcp,nw_src=198.18.1.5,nw_dst=198.18.2.5,tp_dst=443",
                             "--ct-next", "trk,new")
        assert "output:2" in trace, trace
        pidfiles = list(switch.rundir.glob("*.pid"))
        pids = [int(p.read_text().split()[0]) for p in pidfiles]
        assert len(pids) == 2
        directory = switch.directory
    assert not our_namespaces()
    assert not any(os.path.exists(f"/proc/{p}/cmdline") and open(f"/proc/{p}/cmdline").read() for p in pids)
    assert directory is not None and not directory.exists()


def test_cleanup_when_the_body_fails():
    with pytest.raises(ZeroDivisionError):
        with OvsSwitch([1]) as switch:
            directory = switch.directory
            1 / 0
    assert not our_namespaces() and not directory.exists()


def probe(ingress: str, wire: Wire, expected: str | None, kind: str = "hand") -> Probe:
    return Probe(kind, ingress, wire, expected)


def test_brief_table_forwards_by_conntrack(tmp_path):
    device = switch_device(tmp_path, THREE_PORTS)
    with OvsLab(device) as lab:
        lab.load(BRIEF_FLOWS)
        syn = probe("1", Wire(A("198.18.1.10"), A("198.18.2.20"), "tcp", 40000, 443, seq=1000), "2")
        syn80 = probe("1", Wire(A("198.18.1.10"), A("198.18.2.20"), "tcp", 40001, 80, seq=1000), None)
        stray = probe("1", Wire(A("198.18.1.10"), A("198.18.2.20"), "tcp", 40002, 443, tcp_flags="SA", seq=5, ack=6),
                      None)
        lab.send([syn, syn80, stray])
        synack = probe("2", Wire(A("198.18.2.20"), A("198.18.1.10"), "tcp", 443, 40000, tcp_flags="SA", seq=77,
                                 ack=1001), "1")
        synack80 = probe("2", Wire(A("198.18.2.20"), A("198.18.1.10"), "tcp", 80, 40001, tcp_flags="SA", seq=77,
                                   ack=1001), None)
        lab.send([synack, synack80])
        for p in (syn, syn80, stray, synack, synack80):
            assert not p.mismatch, p.describe()
        assert "198.18.2.20" in lab.switch.conntrack()


def test_live_check_ovs_spec_table(tmp_path):
    device = switch_device(tmp_path, THREE_PORTS)
    report = live_check_ovs(device, SPEC_FLOWS, budget=Budget(inside=16, random_per_interface=300), seed=1)
    print(report.summary())
    print(f"timings: {report.timings}")
    assert len(report.probes) >= 1000
    assert not report.mismatches, report.describe_mismatches()
    assert report.figures.stray == 0, report.figures.stray_examples
    assert sum(1 for p in report.probes if p.seen) >= 100


def test_live_check_ovs_sees_a_wrong_table(tmp_path):
    """A table that lets port 80 through too: the lab must see it."""
    device = switch_device(tmp_path, THREE_PORTS)
    wrong = SPEC_FLOWS.replace("table=2,priority=100,tcp,tp_dst=443 actions=conjunction(1,3/3)",
                               "table=2,priority=100,tcp,tp_dst=443 actions=conjunction(1,3/3)\n"
                               "table=2,priority=100,tcp,tp_dst=0x0000/0xff00 actions=conjunction(1,3/3)")
    report = live_check_ovs(device, wrong, budget=Budget(inside=8, random_per_interface=200), seed=2)
    assert report.mismatches, report.summary()
    assert all(p.seen and not p.expected for p in report.mismatches), report.describe_mismatches()


# ---- what the userspace conntrack calls new, invalid, established and related --------------

FIVE_PORTS = """\
service https { tcp 443; encrypted }
zone a { networks 198.18.1.0/24 }
zone b { networks 198.18.2.0/24 }
zone c { networks 198.18.3.0/24 }
zone d { networks 198.18.4.0/24 }
zone e { networks 198.18.5.0/24 }
allow a -> b : https
switch s openflow { port 1 zone a; port 2 zone b; port 3 zone c; port 4 zone d; port 5 zone e }
"""

# The state decides the port: +inv -> 3, +new -> 4 (committed), +rel -> 5, +est -> by destination.
STATE_FLOWS = """\
priority=300,arp actions=NORMAL
priority=200,ip,ct_state=-trk actions=ct(table=1)
table=1,priority=300,ct_state=+trk+est actions=resubmit(,3)
table=1,priority=300,ct_state=+trk+rel actions=output:5
table=1,priority=250,ct_state=+trk+inv actions=output:3
table=1,priority=100,ip,ct_state=+trk+new actions=ct(commit),output:4
table=3,priority=124,ip,nw_dst=198.18.2.0/24 actions=output:2
table=3,priority=124,ip,nw_dst=198.18.1.0/24 actions=output:1
"""
STATE = {"1": "est", "2": "est", "3": "inv", "4": "new", "5": "rel", None: "dropped"}


def icmp_error_frame(source: int, destination: int, icmp_type: int, code: int, inner: bytes) -> bytes:
    body = struct.pack("!BBHI", icmp_type, code, 0, 0) + inner
    body = body[:2] + struct.pack("!H", internet_checksum(body)) + body[4:]
    header = struct.pack("!BBHHHBBHII", 0x45, 0, 20 + len(body), 99, 0, 64, 1, 0, source, destination)
    header = header[:10] + struct.pack("!H", internet_checksum(header)) + header[12:]
    return bytes.fromhex("025e00000001025e01000001") + b"\x08\x00" + header + body


def test_userspace_conntrack_states(tmp_path):
    device = switch_device(tmp_path, FIVE_PORTS)
    with OvsLab(device) as lab:
        lab.load(STATE_FLOWS)
        ident = iter(range(2000, 3000))
        unsolicited = {t: probe("1", Wire(A("198.18.1.10"), A("198.18.2.10"), "icmp", next(ident), 1, t), None)
                       for t in (0, 3, 4, 5, 8, 11, 12, 13, 14, 15, 16, 17, 18, 30)}
        synack = probe("1", Wire(A("198.18.1.10"), A("198.18.2.10"), "tcp", 999, 443, tcp_flags="SA", seq=5, ack=9),
                       None)
        others = {proto: probe("1", Wire(A("198.18.1.10"), A("198.18.2.10"), proto, next(ident), 53), None)
                  for proto in ("udp", "sctp", "esp")}
        requests = {t: probe("1", Wire(A("198.18.1.11"), A("198.18.2.11"), "icmp", next(ident), 7, t), None)
                    for t in (8, 13, 15, 17)}
        coded = {t: probe("1", Wire(A("198.18.1.14"), A("198.18.2.14"), "icmp", next(ident), 7, t, 1), None)
                 for t in (8, 13, 15)}
        syn = probe("1", Wire(A("198.18.1.12"), A("198.18.2.12"), "tcp", 40000, 443, seq=1000), None)
        udp = probe("1", Wire(A("198.18.1.13"), A("198.18.2.13"), "udp", 40001, 53), None)
        first = [*unsolicited.values(), synack, *others.values(), *requests.values(), *coded.values(), syn, udp]
        lab.send(first)
        seen = {f"icmp {t} unsolicited": STATE[p.seen] for t, p in unsolicited.items()}
        seen["tcp syn-ack unsolicited"] = STATE[synack.seen]
        seen.update({f"{k} new": STATE[p.seen] for k, p in others.items()})
        seen.update({f"icmp {t} request": STATE[p.seen] for t, p in requests.items()})
        seen.update({f"icmp {t} code 1 request": STATE[p.seen] for t, p in coded.items()})
        answers = {8: 0, 13: 14, 15: 16, 17: 18}
        replies = {t: probe("2", Wire(A("198.18.2.11"), A("198.18.1.11"), "icmp", p.wire.sport, 7, answers[t]), None)
                   for t, p in requests.items()}
        synack_reply = probe("2", Wire(A("198.18.2.12"), A("198.18.1.12"), "tcp", 443, 40000, tcp_flags="SA",
                                       seq=77, ack=1001), None)
        udp_reply = probe("2", Wire(A("198.18.2.13"), A("198.18.1.13"), "udp", 53, 40001), None)
        lab.send([*replies.values(), synack_reply, udp_reply])
        seen.update({f"icmp {answers[t]} answering {t}": STATE[p.seen] for t, p in replies.items()})
        seen["tcp syn-ack answering"] = STATE[synack_reply.seen]
        seen["udp answer"] = STATE[udp_reply.seen]
        related = icmp_error_frame(A("198.18.2.13"), A("198.18.1.13"), 3, 3, ip_bytes(udp.wire, 1)[:28])
        seen["icmp 3 about a tracked udp flow"] = "/".join(STATE[x] for x in lab.exchange("2", related))
        stranger = Wire(A("198.18.1.99"), A("198.18.2.99"), "udp", 4444, 53)
        unrelated = icmp_error_frame(A("198.18.2.99"), A("198.18.1.99"), 3, 3, ip_bytes(stranger, 1)[:28])
        seen["icmp 3 about an unknown udp flow"] = "/".join(STATE[x] for x in lab.exchange("2", unrelated))
    for k, v in seen.items():
        print(f"  {k:34s} {v}")
    # Only echo, timestamp and information requests start ICMP connections in OVS's userspace
    # conntrack: an address-mask request (17), which the Linux kernel tracks, is +inv here.
    assert {t for t in unsolicited if seen[f"icmp {t} unsolicited"] == "new"} == {8, 13, 15}
    assert {seen[f"icmp {t} request"] for t in (8, 13, 15)} == {"new"} and seen["icmp 17 request"] == "inv"
    # A request with a code other than 0 is +inv too (the kernel tracks it as new).
    assert {seen[f"icmp {t} code 1 request"] for t in (8, 13, 15)} == {"inv"}
    assert seen["icmp 0 unsolicited"] == "inv" and seen["icmp 3 unsolicited"] == "inv"
    assert seen["tcp syn-ack unsolicited"] == "inv"
    assert {seen[f"{k} new"] for k in ("udp", "sctp", "esp")} == {"new"}
    assert {seen[f"icmp {answers[t]} answering {t}"] for t in (8, 13, 15)} == {"est"}
    assert seen["icmp 18 answering 17"] == "inv"
    assert seen["tcp syn-ack answering"] == seen["udp answer"] == "est"
    assert seen["icmp 3 about a tracked udp flow"] == "rel"
    assert seen["icmp 3 about an unknown udp flow"] == "inv"


CRASH = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from ovslab import OvsSwitch
switch = OvsSwitch([1, 2]).__enter__()
print(switch.namespace, switch.world, switch.directory, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_remove_leftovers_after_a_crash():
    import subprocess
    import sys

    tests = str(Path(__file__).resolve().parent)
    crashed = subprocess.run([sys.executable, "-c", CRASH.format(tests=tests)], capture_output=True, text=True,
                             timeout=60)
    namespace, world, directory = crashed.stdout.split()
    from netlab import run
    listing = run(["ip", "netns", "list"]).stdout
    assert namespace in listing and world in listing and Path(directory).exists()
    daemons = [int(p.read_text().split()[0]) for p in Path(directory, "run").glob("*.pid")]
    assert len(daemons) == 2
    removed = remove_leftovers()
    assert namespace in removed and world in removed and directory in removed
    listing = run(["ip", "netns", "list"]).stdout
    assert namespace not in listing and world not in listing and not Path(directory).exists()
    for pid in daemons:
        assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split(") ")[1][0] in "ZX"
