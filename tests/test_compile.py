"""`septum compile` and the compiled intent: placement on the reference hospital, what compiling
refuses (fail closed), determinism, atomic writes, and the nftables ruleset proven in a kernel."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, ZONES, run_septum, write_tree
from helpers import BASE, require_live
from septum.compiler.devices.pipeline import compile_policy, load_and_compile

DEVICES = """
firewall fw nftables {
  interface eth1 zone a
  interface eth2 zone b
  interface eth0 zone internet
}
"""


def _hospital(tmp_path: Path) -> Path:
    target = tmp_path / "zones"
    shutil.copytree(ZONES, target)
    return target


# ---- placement on the reference hospital ------------------------------------------------------


def test_every_device_on_the_path_enforces_the_flow():
    _, result = load_and_compile(ZONES)
    intent = result.intent
    # NET-120: modalities (behind dist-rtr) -> pacs-archive (on core-fw) crosses both devices
    core = [r for r in intent.devices["core-fw"].rules if intent.flows[r.flow].location == "hospital/imaging.septum:61"]
    dist = [r for r in intent.devices["dist-rtr"].rules if intent.flows[r.flow].location == "hospital/imaging.septum:61"]
    assert [(r.ingress, r.source_zone, r.egress, r.destination_zones) for r in core] == [
        ("eth2", "modalities", "eth1.300", ("pacs",))]
    assert [(r.ingress, r.egress) for r in dist] == [("GigabitEthernet0/1.308", "GigabitEthernet0/0")]
    assert core[0].source.cidrs() == ["10.30.16.0/22"]
    assert core[0].destination.cidrs() == ["10.30.0.10/32"]  # modalities has no IPv6: neither has the rule
    # a device enforces nothing else: biomed-sw sees no imaging traffic
    assert not [r for r in intent.devices["biomed-sw"].rules if "imaging" in intent.flows[r.flow].location]


def test_anti_spoofing_zones_arrive_only_where_they_are_reached():
    _, result = load_and_compile(ZONES)
    core = result.intent.devices["core-fw"]
    assert core.arrivals["eth0"] == ("internet",)
    assert set(core.arrivals["eth2"]) <= {"modalities", "building-ctl"}
    assert set(core.reach["eth3"]) == {"biomed", "infusion", "monitoring", "pump-server"}


def test_intra_zone_traffic_is_enforced_by_no_device(tree):
    path = tree({"p.septum": BASE + DEVICES + "host a1 in a { address 10.0.1.5 }\nallow a1 -> a : https\n"})
    _, result = load_and_compile(path)
    rules = result.intent.devices["fw"].rules
    assert {(r.source_zone, r.destination_zones) for r in rules} == {("a", ("b",))}


def test_private_space_no_zone_owns_is_not_the_internet(tree):
    path = tree({"p.septum": BASE + DEVICES + "allow a -> internet : https\n"})
    _, result = load_and_compile(path)
    [rule] = [r for r in result.intent.devices["fw"].rules if r.destination_zones == ("internet",)]
    for private in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"):
        from septum.compiler.packets.addresses import AddressSet

        assert not rule.destination & AddressSet.of_cidrs([private]), private
    assert (4, int.from_bytes(bytes([8, 8, 8, 8]), "big")) in rule.destination


def test_a_flow_whose_families_do_not_meet_compiles_to_nothing(tree):
    path = tree({"p.septum": BASE.replace("zone b { networks 10.0.2.0/24 }", "zone b { networks fd00:2::/64 }")
                 + DEVICES})
    _, result = load_and_compile(path, verify=False)
    assert result.intent.devices["fw"].rules == ()


# ---- the command ---------------------------------------------------------------------------------


def test_compile_the_reference_hospital(tmp_path):
    zones = _hospital(tmp_path)
    out = tmp_path / "out"
    result = run_septum("compile", str(zones), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["biomed-sw.cookies.json", "biomed-sw.flows", "core-fw.nft",
                                                     "dist-rtr.ios"]
    assert "septum compile: core-fw (nftables): wrote" in result.stdout
    assert "septum compile: dist-rtr (cisco-ios): wrote" in result.stdout
    assert "septum compile: biomed-sw (openflow): wrote" in result.stdout
    assert "septum compile: 3 of 3 devices written" in result.stdout and not result.stderr
    text = (out / "core-fw.nft").read_text()
    assert text.startswith("#!/usr/sbin/nft -f\n# Septum: nftables ruleset for firewall core-fw\n# policy sha256:")
    assert 'comment "hospital/imaging.septum:61"' in text
    assert 'log prefix "septum hospital/imaging.septum:64: "' in text


def test_compile_one_device_and_json_summary(tmp_path):
    out = tmp_path / "out"
    result = run_septum("compile", str(_hospital(tmp_path)), "--out", str(out), "--device", "core-fw",
                        "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    [device] = report["devices"]
    assert (device["name"], device["kind"], device["status"]) == ("core-fw", "nftables", "written")
    assert device["bytes"] == (out / "core-fw.nft").stat().st_size
    assert device["rules"] > 0 and device["elements"] > 0 and device["chains"] > 0
    assert len(report["policy"]["revision"]["sha256"]) == 64


def test_unknown_device_is_a_usage_error(tmp_path):
    result = run_septum("compile", str(_hospital(tmp_path)), "--out", str(tmp_path / "o"), "--device", "core-fv")
    assert result.returncode == 2
    assert "septum compile: error: no device named 'core-fv'; did you mean 'core-fw'?" in result.stderr


def test_output_is_deterministic_byte_for_byte(tmp_path):
    """Any hash seed, any working directory, files written in any order."""
    first = _hospital(tmp_path / "one")
    second = tmp_path / "two" / "zones"
    for file in sorted(first.rglob("*.septum"), reverse=True):  # created in the other order
        target = second / file.relative_to(first)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(file.read_bytes())
    outputs = []
    for seed, zones, cwd in (("1", first, ROOT), ("2", second, second.parent), ("3", first, tmp_path)):
        out = tmp_path / f"out{seed}"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-m", "septum", "compile", str(zones), "--out", str(out), "--device",
                        "core-fw"], cwd=cwd, env=env, check=True, capture_output=True)
        outputs.append((out / "core-fw.nft").read_bytes())
    # outside a git repository there is no commit to name: compare with the commit line dropped
    assert len({o.replace(b"git ", b"").split(b"\n", 3)[3] for o in outputs}) == 1
    assert outputs[0] == outputs[2]


def test_written_atomically_and_replaced(tmp_path):
    zones = _hospital(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "core-fw.nft").write_text("old")
    assert run_septum("compile", str(zones), "--out", str(out), "--device", "core-fw").returncode == 0
    assert [p.name for p in out.iterdir()] == ["core-fw.nft"]  # no temporary file left behind
    assert (out / "core-fw.nft").read_text().startswith("#!/usr/sbin/nft -f")


def test_a_policy_that_fails_check_is_not_compiled(tree, tmp_path):
    path = tree({"p.septum": BASE + "firewall fw nftables { interface eth1 zone a }\n"})
    out = tmp_path / "out"
    result = run_septum("compile", str(path), "--out", str(out))
    assert result.returncode == 1
    assert "error[E308]: no device can enforce this flow from zone 'a' to zone 'b': zone 'b' is bound to no device" \
        in result.stderr
    assert not out.exists()
    assert "septum compile: nothing written: fix the problems above first (or skip verification with --no-verify)" \
        in result.stderr
    assert run_septum("compile", str(path), "--out", str(out), "--no-verify").returncode == 1  # E308 always stops it
    assert not out.exists()


def test_verification_findings_pass_with_no_verify_but_blocking_ones_never(tree, tmp_path):
    violating = BASE + DEVICES + 'assert no path from a to b\n'
    path = tree({"p.septum": violating})
    out = tmp_path / "out"
    assert run_septum("compile", str(path), "--out", str(out)).returncode == 1
    assert not out.exists()
    assert run_septum("compile", str(path), "--out", str(out), "--no-verify").returncode == 0
    assert (out / "fw.nft").exists()
    overlapping = tree({"p.septum": BASE + DEVICES + "zone c { networks 10.0.2.0/25 }\nallow c -> a : https\n"})
    result = run_septum("compile", str(overlapping), "--out", str(tmp_path / "o2"), "--no-verify")
    assert result.returncode == 1 and "E301" in result.stderr and not (tmp_path / "o2").exists()


def test_a_policy_without_devices_compiles_to_nothing_and_says_so(tree, tmp_path):
    result = run_septum("compile", str(tree({"p.septum": BASE})), "--out", str(tmp_path / "out"))
    assert result.returncode == 0 and not (tmp_path / "out").exists()
    assert result.stdout.startswith("septum compile: the policy declares no device, so there is nothing to compile")


def test_input_errors_exit_2(tree, tmp_path):
    path = tree({"p.septum": BASE + "allow a -> nowhere : https\n"})
    result = run_septum("compile", str(path), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "E201" in result.stderr


# ---- what a backend refuses: fail closed, located -------------------------------------------------


def _device_diagnostics(path: Path) -> list:
    result = compile_policy(path, None)
    return [(d.code, d.message, d.span.line) for o in result.devices for d in o.diagnostics]


def test_interface_names_over_linux_limits(tree):
    path = tree({"p.septum": BASE + "firewall fw nftables {\n  interface eth1 zone a\n"
                 "  interface GigabitEthernet0/1 zone b\n  interface averyveryverylongname zone internet\n}\n"})
    found = _device_diagnostics(path)
    assert ("E602", "interface name 'GigabitEthernet0/1' is 18 bytes; Linux interface names are at most 15", 9) in found
    assert ("E602", "interface name 'averyveryverylongname' is 21 bytes; Linux interface names are at most 15", 10) in found


def test_switch_ports_on_an_nftables_device(tree):
    path = tree({"p.septum": BASE + "firewall fw nftables {\n  port 1 zone a\n  interface eth2 zone b\n}\n"})
    assert ("E603", "device 'fw' is an nftables device, which has interfaces, not switch ports", 8) in \
        _device_diagnostics(path)


def test_a_location_too_long_for_a_comment(tree):
    deep = "d" * 60 + "/" + "e" * 60 + "/" + "f" * 20
    path = tree({"base.septum": BASE + DEVICES, f"{deep}/p.septum": "allow b -> a : https\n"})
    found = _device_diagnostics(path)
    assert [c for c, m, _ in found if c == "E602" and "nftables comment citing it holds at most 121" in m], found


def test_a_backend_that_is_not_installed(tree, monkeypatch):
    """Every kind of the language has a backend; an installation without one (its entry point
    missing) fails closed for that device."""
    from septum.compiler.devices import pipeline

    monkeypatch.setattr(pipeline, "backend_for", lambda kind: None)
    monkeypatch.setattr(pipeline, "known_kinds", lambda: [])
    path = tree({"p.septum": BASE + "switch s openflow { port 1 zone a; port 2 zone b }\n"})
    assert _device_diagnostics(path) == [
        ("E601", "no openflow backend is installed: device 's' is not compiled", 7)]


def test_proof_unavailable_is_reported(tree, monkeypatch):
    from septum.backends.nftables import tool
    from septum.compiler.devices.backend import ProofUnavailable

    def missing():
        raise ProofUnavailable("`nft` is not installed (Debian: apt-get install nftables)")

    monkeypatch.setattr(tool, "nft_binary", missing)
    result = compile_policy(tree({"p.septum": BASE + DEVICES}), None, prove=True)
    [diagnostic] = result.devices[0].diagnostics
    assert (diagnostic.code, diagnostic.message) == (
        "E604", "device 'fw' cannot be proven here: `nft` is not installed (Debian: apt-get install nftables)")
    assert result.status == 1


# ---- proven in a kernel --------------------------------------------------------------------------


def test_prove_the_reference_hospital(tmp_path):
    require_live("nft", "unshare")
    out = tmp_path / "out"
    result = run_septum("compile", str(_hospital(tmp_path)), "--out", str(out), "--device", "core-fw", "--prove")
    assert result.returncode == 0, result.stderr
    assert "proven equal to the intent in a kernel" in result.stdout


def test_a_wrong_config_is_caught_by_the_proof(tree, monkeypatch):
    """A generator bug (here: one set element with the wrong port) is a counterexample, exit 3,
    nothing written."""
    require_live("nft", "unshare")
    from septum.backends.nftables import render as nft_render

    original = nft_render.render

    def broken(device, options):
        output = original(device, options)
        text = output.files[0].data.decode()
        assert text.count(". tcp . 443 ") == 1
        output.files[0] = type(output.files[0])(output.files[0].name, text.replace(". tcp . 443 ", ". tcp . 444 ").encode())
        return output

    monkeypatch.setattr(nft_render, "render", broken)
    path = tree({"p.septum": BASE + DEVICES})
    result = compile_policy(path, path.parent / "out", prove=True)
    assert result.status == 3
    [outcome] = result.devices
    assert outcome.status == "failed" and not (path.parent / "out").exists()
    assert [d.code for d in outcome.diagnostics] == ["E605"]
    proof = outcome.proof
    assert proof.problem == "allowed but not intended"
    packet = proof.counterexample
    assert (packet.ingress, packet.egress, packet.state, packet.packet.protocol, packet.packet.port) == (
        "eth1", "eth2", "new", "tcp", 444)
    assert proof.intent_rule == ""  # no zone-file line allows it
    assert proof.target_rule.startswith("chain shard-0 rule ") and proof.target_rule.split(" (")[1].startswith(
        "handle") and " accept" in proof.target_rule
    assert "no rule of the zone files allows it" in proof.describe()


def test_synthetic_multi_device_policy_is_proven(tmp_path):
    require_live("nft", "unshare")
    out = tmp_path / "policy"
    subprocess.run([sys.executable, str(ROOT / "tests" / "synthetic.py"), str(out), "--zones", "60", "--flows", "400",
                    "--seed", "5"], check=True, capture_output=True)
    result = compile_policy(out, tmp_path / "configs", verify=False, prove=True)
    assert result.status == 0, [(d.code, d.message) for o in result.devices for d in o.diagnostics] + \
        [(d.code, d.message) for d in result.diagnostics if d.severity.value == "error"][:5]
    assert len(result.devices) >= 2
    assert all(o.proof is not None and o.proof.equal for o in result.devices)


def test_the_readme_compile_example(tmp_path):
    """README, tutorial step 7, run as written (in a copy of the repository's zones)."""
    require_live("nft", "unshare", "ovs-vswitchd")
    readme = (ROOT / "README.md").read_text()
    command = "septum compile zones --prove"
    assert f"$ {command}\n" in readme
    shutil.copytree(ZONES, tmp_path / "zones")
    result = run_septum(*command.split()[1:], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    shown = [line.strip() for line in readme.split(f"$ {command}\n", 1)[1].splitlines()[:4]]
    assert len(lines) == 4
    hows = ("in Open vSwitch", "in a kernel", "by a Cisco config parser and evaluator")
    for line, example, how in zip(lines, shown, hows):
        assert line.split(": ")[:3] == example.split(": ")[:3]  # device, what was written, where
        assert line.endswith(f"; proven equal to the intent {how}") and example.endswith(
            f"; proven equal to the intent {how}")
    assert lines[3] == shown[3] == "septum compile: 3 of 3 devices written to build/septum"


def test_icmp_conntrack_cannot_track_is_proven_as_intended(tree):
    """Invalid packets are dropped, but ICMP conntrack cannot admit as new is judged by the policy:
    the proof holds both ways for a service of ICMP errors and one of all ICMP (and ICMPv6)."""
    require_live("nft", "unshare")
    extra = ("service unreachable { icmp type 3 }\nservice any-icmp { icmp; icmpv6 }\n"
             "allow a -> b : unreachable\nallow b -> a : any-icmp log\n")
    path = tree({"p.septum": BASE.replace("zone b { networks 10.0.2.0/24 }",
                                          "zone b { networks 10.0.2.0/24, fd00:2::/64 }") + DEVICES + extra})
    result = compile_policy(path, None, verify=False, prove=True)
    [outcome] = result.devices
    assert outcome.proof is not None and outcome.proof.equal, outcome.proof and outcome.proof.describe()


def test_both_encodings_of_the_egress_are_proven(tree):
    """Where each destination zone leaves by one interface, the egress is checked once (a set of
    routes); a zone bound on two interfaces makes the sets match the egress themselves."""
    require_live("nft", "unshare")
    routed = tree({"p.septum": BASE + DEVICES + "host b1 in b { address 10.0.2.7 }\nallow a -> b1 : https log\n"})
    [outcome] = compile_policy(routed, None, verify=False, prove=True).devices
    text = outcome.artifacts[0].data.decode()
    assert "oifname . ip daddr != @routes4 drop" in text and "oifname . ip daddr . " not in text
    assert "iifname . ip saddr != @arrivals4 drop" in text
    assert outcome.proof.equal, outcome.proof.describe()
    twice = tree({"p.septum": BASE + "firewall fw nftables {\n  interface eth1 zone a\n  interface eth2 zone b\n"
                  "  interface eth3 zone b\n}\n"})
    [outcome] = compile_policy(twice, None, verify=False, prove=True).devices
    text = outcome.artifacts[0].data.decode()
    assert "@routes4" not in text and "ip saddr . oifname . ip daddr . meta l4proto . th dport @" in text
    assert outcome.proof.equal, outcome.proof.describe()


def test_a_zone_arriving_by_two_interfaces_is_proven(tree):
    """A zone that reaches the device by two interfaces gets its rules in a chain per interface,
    entered by the verdict map on `iifname . ip saddr`, so each interface allows only its own."""
    require_live("nft", "unshare")
    path = tree({"p.septum": BASE + "zone c { networks 10.0.3.0/24 }\nallow a -> c : https\n"
                 "firewall fw nftables {\n  interface eth1 zone a\n  interface eth4 zone a\n  interface eth2 zone b\n"
                 "  interface eth3 zone c\n}\n"})
    [outcome] = compile_policy(path, None, verify=False, prove=True).devices
    text = outcome.artifacts[0].data.decode()
    assert "chain from-a.eth1 {" in text and "chain from-a.eth4 {" in text
    assert outcome.proof.equal, outcome.proof.describe()
