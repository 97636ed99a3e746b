"""Live tests of the OpenFlow backend: the flows Septum writes, installed in a private Open
vSwitch (userspace datapath, its own network namespaces: tests/ovslab.py) and probed with real
packets, replies through its connection tracker included; and compared, probe by probe, with
the kernel forwarding the nftables ruleset of the same intent.

Policies are renumbered into 198.18.0.0/15 first (tests/renumber.py); nothing is sent outside the
lab's namespaces, IPv4 only. Without root or Open vSwitch the tests skip, or fail when CI=true.
"""

from __future__ import annotations


import pytest
from helpers import require_lab
from netlab import Budget, live_check, remove_leftovers as remove_netlab_leftovers, zone_networks
from ovslab import live_check_ovs, missing_ovs_requirements, remove_leftovers
from renumber import compiled, renumber_tree

from septum.backends.nftables.render import render as render_nft
from septum.backends.openflow.render import render as render_flows
from septum.compiler.devices.backend import Options

from test_cisco_live import renamed
from test_nft_live import ZONES

SWITCH_BUDGET = Budget(inside=120, intervals=8, services=4, carved=20, spoofed=20, other=20,
                       random_per_interface=1200, unsolicited=400, replies_allowed=2500, replies_denied=800)


@pytest.fixture(scope="module", autouse=True)
def lab_requirements():
    require_lab(missing_ovs_requirements(), "OpenFlow")
    remove_leftovers()
    remove_netlab_leftovers()


@pytest.fixture(scope="module")
def hospital(tmp_path_factory):
    copy = tmp_path_factory.mktemp("live-ovs") / "zones"
    renumber_tree(ZONES, copy)
    return compiled(copy)


def _flows(device) -> bytes:
    output = render_flows(device, Options())
    assert not output.diagnostics, [d.message for d in output.diagnostics]
    return output.config.data


def test_the_hospital_switch_forwards_exactly_its_intent(hospital):
    loaded, result = hospital
    device = result.intent.devices["biomed-sw"]
    report = live_check_ovs(device, _flows(device), zone_networks(loaded.policy), SWITCH_BUDGET, seed=4)
    print(report.summary())
    assert len(report.probes) >= 10_000
    assert not report.mismatches, report.describe_mismatches()
    assert report.figures.stray == 0, report.figures.stray_examples


def test_the_switch_agrees_with_the_kernel_on_the_same_probes(hospital):
    """The same seed and budget make the same probes; the kernel gets the nftables ruleset of the
    switch's intent (its ports renamed for Linux). They differ only where the trackers do: OVS
    does not track ICMP requests with a nonzero code (no real ping sends one), so their answers
    are judged by the policy there and pass the kernel as replies."""
    loaded, result = hospital
    device = result.intent.devices["biomed-sw"]
    names = {i.name: f"sw{i.name}" for i in device.interfaces}
    networks = zone_networks(loaded.policy)
    switch = live_check_ovs(device, _flows(device), networks, SWITCH_BUDGET, seed=5)
    kernel_device = renamed(device, names)
    kernel = live_check(kernel_device, render_nft(kernel_device, Options()).config.data, networks, SWITCH_BUDGET, seed=5)
    assert [(p.kind, p.wire) for p in switch.probes[:200]] == [(p.kind, p.wire) for p in kernel.probes[:200]]
    assert len(switch.probes) == len(kernel.probes)
    untracked = 0
    differ = []
    for a, b in zip(switch.probes, kernel.probes):
        assert (a.kind, a.wire) == (b.kind, b.wire)
        if (a.seen and names[a.seen]) == b.seen:
            continue
        original = a.original.wire if a.original is not None else None
        if a.kind == "reply" and original is not None and original.protocol == "icmp" and original.icmp_code:
            untracked += 1  # an answer to a request OVS does not track (see the docstring)
            continue
        differ.append(f"{a.describe()} | kernel: {b.seen}")
    assert not differ, "\n".join(differ[:10])
    print(f"{len(switch.probes)} probes: switch and kernel agree on all but {untracked} answers to ICMP requests "
          f"with a nonzero code")


def test_apply_installs_in_one_bundle_and_a_bad_table_changes_nothing(tmp_path):
    """`septum apply` on a local bridge (the lab's private switch): the hospital's flows go in;
    a file with one flow OVS refuses leaves them exactly as they were."""
    import subprocess
    import sys

    from ovslab import OvsSwitch

    from conftest import ROOT

    out = tmp_path / "out"
    compiled_run = subprocess.run([sys.executable, "-m", "septum", "compile", "zones", "--device", "biomed-sw",
                                   "--out", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert compiled_run.returncode == 0, compiled_run.stderr
    flows = out / "biomed-sw.flows"
    with OvsSwitch([1, 2, 3, 4, 48]) as switch:
        def apply(config):
            return subprocess.run([sys.executable, "-m", "septum", "apply", "biomed-sw", "--config", str(config),
                                   "--path", "zones", "--bridge", switch.bridge], cwd=ROOT, env=switch.env(),
                                  capture_output=True, text=True, timeout=120)

        done = apply(flows)
        assert done.returncode == 0, done.stderr
        assert "installed 111 flows on bridge" in done.stdout
        before = switch.dump_flows()
        assert before.count("\n") == 111 and "conjunction(" in before
        broken = tmp_path / "broken.flows"
        broken.write_text(flows.read_text().replace("table=3,priority=0 actions=drop",
                                                    "table=3,priority=0 actions=drop\ntable=3,ip,nw_dst=198.18.9.9/33 actions=drop"))
        refused = apply(broken)
        assert refused.returncode == 1 and "bridge " in refused.stderr and "is unchanged" in refused.stderr
        assert switch.dump_flows() == before
        wrong_device = tmp_path / "other.flows"
        wrong_device.write_text(flows.read_text().replace("for switch biomed-sw", "for switch other-sw", 1))
        assert apply(wrong_device).returncode == 1
        assert switch.dump_flows() == before


def test_conjunctions_over_many_priorities_forward_exactly(hospital, monkeypatch):
    """With two conjunctions per priority (a large policy's clause flows spread over priorities to
    keep each flow's actions within one OpenFlow message), the switch still forwards exactly the
    intent: a packet that satisfies no conjunction at one priority is tried at the next."""
    from septum.backends.openflow import render as of_render
    from septum.backends.openflow.prove import prove

    monkeypatch.setattr(of_render, "CONJUNCTIONS_PER_PRIORITY", 2)
    loaded, result = hospital
    device = result.intent.devices["biomed-sw"]
    flows = _flows(device)
    assert len({line.split("priority=")[1].split(",")[0] for line in flows.decode().splitlines()
                if "conjunction(" in line}) >= 10
    assert prove(device, flows).equal
    report = live_check_ovs(device, flows, zone_networks(loaded.policy), SWITCH_BUDGET, seed=6)
    print(report.summary())
    assert len(report.probes) >= 10_000 and not report.mismatches, report.describe_mismatches()
