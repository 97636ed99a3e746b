"""Differential: the Cisco IOS config of an intent, evaluated packet by packet, agrees with the
kernel forwarding the nftables ruleset of the same intent, on the probes of the nftables live
test (tests/netlab.py: allowed, denied, carved-out, boundary, spoofed, random packets, and
replies through connection tracking).

The kernel's verdict for a probe is where it came out of the firewall namespace. The Cisco
verdict is `interpret.decide` on the router config for the probe's ingress, the interface the
lab routes its destination to, and its session state as a stateful firewall sees it: a reply to
an original that passed is `established`; a TCP packet that is not a SYN and answers nothing, or
an ICMP message that is no request and answers nothing, is `invalid`; anything else is `new`.
Probes of protocols the packet space does not have (SCTP, ESP) are dropped by the Cisco config
because no entry of it permits another protocol (checked).
"""

from __future__ import annotations

import dataclasses

import pytest
from helpers import require_lab
from netlab import Budget, Routes, live_check, missing_requirements, remove_leftovers, zone_networks
from renumber import compiled, renumber_tree

from septum.backends.cisco.interpret import decide, read
from septum.backends.cisco.render import render as render_ios
from septum.backends.nftables.render import render as render_nft
from septum.compiler.devices.backend import Options
from septum.compiler.devices.intent import DeviceIntent
from septum.compiler.devices.prove import TRACKED_ICMP

from test_nft_live import HOSPITAL_BUDGET, ZONES

ROUTER_BUDGET = Budget(inside=300, intervals=16, services=6, carved=40, spoofed=40, other=40,
                       random_per_interface=1500, unsolicited=400, replies_allowed=2500, replies_denied=800)


@pytest.fixture(scope="module", autouse=True)
def lab_requirements():
    require_lab(missing_requirements(), "differential")
    remove_leftovers()


@pytest.fixture(scope="module")
def hospital(tmp_path_factory):
    copy = tmp_path_factory.mktemp("live-cisco") / "zones"
    renumber_tree(ZONES, copy)
    return compiled(copy)


def renamed(device: DeviceIntent, names: dict[str, str]) -> DeviceIntent:
    """The same intent with its interfaces renamed (IOS names and switch ports are no Linux
    interface names), as interfaces."""
    return dataclasses.replace(
        device,
        interfaces=tuple(i._replace(name=names[i.name], port=None) for i in device.interfaces),
        arrivals={names[k]: v for k, v in device.arrivals.items()},
        reach={names[k]: v for k, v in device.reach.items()},
        rules=tuple(r._replace(ingress=names[r.ingress], egress=names[r.egress]) for r in device.rules))


def session_state(probe) -> str:
    if probe.kind == "reply" and probe.original is not None and probe.original.seen:
        return "established"
    wire = probe.wire
    if wire.protocol == "tcp":
        return "new" if wire.tcp_flags == "S" else "invalid"
    if wire.protocol == "icmp":
        return "new" if wire.icmp_type in TRACKED_ICMP["icmp"] else "invalid"
    return "new"


def disagreements(config: str, report, routes: Routes, names: dict[str, str]) -> list[str]:
    """Probes whose Cisco verdict differs from the kernel's; `names`: lab interface -> IOS name."""
    parsed = read(config)
    back = {lab: ios for lab, ios in names.items()}
    out = []
    for probe in report.probes:
        egress = routes.egress(probe.wire.destination)
        packet = probe.wire.intent_packet()
        if egress is None or packet is None:
            cisco = None
        else:
            decision = decide(parsed, back[probe.ingress], back[egress], session_state(probe), packet)
            cisco = egress if decision.accepted else None
        if cisco != probe.seen:
            out.append(f"{probe.describe()}; cisco: {'out by ' + cisco if cisco else 'dropped'}")
    return out


def _differential(device: DeviceIntent, ios_names: dict[str, str], networks, budget: Budget, seed: int):
    lab_device = renamed(device, {ios: lab for ios, lab in ios_names.items()}) if ios_names else device
    names = {lab: ios for ios, lab in ios_names.items()} if ios_names else {i.name: i.name for i in device.interfaces}
    config = render_ios(device, Options())
    assert not config.diagnostics, [d.message for d in config.diagnostics]
    text = config.config.data.decode()
    assert not [line for line in text.splitlines() if " permit ip " in line or " permit ipv6 " in line]
    ruleset = render_nft(lab_device, Options())
    report = live_check(lab_device, ruleset.config.data, networks, budget, seed=seed)
    print(report.summary())
    assert not report.mismatches, report.describe_mismatches()
    wrong = disagreements(text, report, Routes(lab_device, networks), names)
    states = {}
    for probe in report.probes:
        states[session_state(probe)] = states.get(session_state(probe), 0) + 1
    print(f"cisco evaluator on the same {len(report.probes)} probes: {len(wrong)} disagreements; states {states}")
    assert not wrong, "\n".join(wrong[:10])
    return report


def test_cisco_agrees_with_the_kernel_on_the_core_firewalls_probes(hospital):
    """The nftables live test's device and probes; the Cisco config of the same intent."""
    loaded, result = hospital
    report = _differential(result.intent.devices["core-fw"], {}, zone_networks(loaded.policy), HOSPITAL_BUDGET, 1)
    assert len(report.probes) >= 10_000


def test_the_hospital_router_agrees_with_the_kernel(hospital):
    """The router's own intent, with its interfaces renamed for Linux in the lab."""
    loaded, result = hospital
    device = result.intent.devices["dist-rtr"]
    names = {i.name: f"gi{k}" for k, i in enumerate(device.interfaces)}
    report = _differential(device, names, zone_networks(loaded.policy), ROUTER_BUDGET, 2)
    assert len(report.probes) >= 3_000
