"""The Cisco IOS backend: what it writes for the reference hospital's router (golden file), how it
encodes rules (object-groups, IPv6, logging, carve-outs), what it refuses (fail closed, limits),
hostile strings, and the proof that catches a wrong config."""

from __future__ import annotations

import os
import re
from pathlib import Path

from conftest import run_septum
from helpers import BASE, compiled_device, device_files
from septum.compiler.devices.pipeline import compile_policy

GOLDEN = Path(__file__).parent / "golden_configs" / "dist-rtr.ios"
ROUTER = """
router r cisco-ios {
  interface GigabitEthernet0/1 zone a
  interface GigabitEthernet0/2 zone b
}
"""


def _compiled(path: Path, prove: bool = False):
    return compiled_device(path, "cisco-ios", prove)


def _text(path: Path) -> str:
    return device_files(path, "cisco-ios")["r.ios"]


def _masked(text: str) -> str:
    return re.sub(r"^! policy .*$", "! policy (the zone files' revision)", text, flags=re.MULTILINE)


def test_the_reference_hospital_router_config(tmp_path):
    """Golden file; regenerate with SEPTUM_UPDATE_GOLDEN=1 and read the diff."""
    out = tmp_path / "out"
    result = run_septum("compile", "zones", "--device", "dist-rtr", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"septum compile: dist-rtr \(cisco-ios\): wrote \S+dist-rtr\.ios: 5 ACLs, 17 ACEs, "
                        r"21 object-groups, 7 zone-pairs, \d+ lines, [\d,]+ bytes\n"
                        r"septum compile: 1 of 1 device written to \S+\n", result.stdout), result.stdout
    text = _masked((out / "dist-rtr.ios").read_text())
    if os.environ.get("SEPTUM_UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_the_version_names_the_content_not_the_revision(tree):
    path = tree({"p.septum": BASE + ROUTER})
    first = _text(path)
    (path / "p.septum").write_text(BASE + ROUTER + "# a comment changes the revision, not the config\n")
    second = _text(path)
    assert first != second and _masked(first) == _masked(second)
    (path / "p.septum").write_text(BASE.replace("tcp 443", "tcp 8443") + ROUTER)
    third = _text(path)
    version = re.compile(r"^! version ([0-9a-f]{8}):", re.MULTILINE)
    assert version.search(first).group(1) != version.search(third).group(1)


def test_a_rule_is_one_entry_per_service_group_over_object_groups(tree):
    text = _text(tree({"p.septum": BASE.replace("service https { tcp 443; encrypted }",
                                               "service https { tcp 443, 8443-8449; udp 443; icmp type 8; "
                                               "icmp type 3 code 4; encrypted }") + ROUTER}))
    v = re.search(r"SEPTUM-([0-9a-f]{8})-", text).group(1)
    assert f"""object-group network SEPTUM-{v}-N1
 description zone a
 10.0.1.0 255.255.255.0
!
object-group network SEPTUM-{v}-N2
 description zone b
 10.0.2.0 255.255.255.0
!
object-group service SEPTUM-{v}-S1
 tcp eq 443
 tcp range 8443 8449
 udp eq 443
!
ip access-list extended SEPTUM-{v}-C4-2
 remark p.septum:6 a -> b
 10 permit object-group SEPTUM-{v}-S1 object-group SEPTUM-{v}-N1 object-group SEPTUM-{v}-N2
 20 permit icmp object-group SEPTUM-{v}-N1 object-group SEPTUM-{v}-N2 3 4
 30 permit icmp object-group SEPTUM-{v}-N1 object-group SEPTUM-{v}-N2 8
 40 deny ip any any
!
""" in text
    assert f"""zone-pair security a--b source a destination b
 service-policy type inspect SEPTUM-{v}-P2
""" in text
    # every other pair of zones, the intra-zone ones included, drops
    assert "zone-pair security b--a source b destination a" not in text
    assert f"zone-pair security a--a source a destination a\n service-policy type inspect SEPTUM-{v}-DROP\n" in text
    # IOS syntax, not IOS-XR's (a pitfall of other generators)
    assert "net-group" not in text and "port-group" not in text


def test_ipv6_rules_are_written_too(tree):
    base = BASE.replace("networks 10.0.1.0/24", "networks 10.0.1.0/24, fd00:1::/64").replace(
        "networks 10.0.2.0/24", "networks 10.0.2.0/24, fd00:2::/64")
    text = _text(tree({"p.septum": base + "host b6 in b { address fd00:2::7 }\nallow a -> b6 : ping6\n"
                       "service ping6 { icmpv6 type 128 }\n" + ROUTER}))
    v = re.search(r"SEPTUM-([0-9a-f]{8})-", text).group(1)
    assert f"""ipv6 access-list SEPTUM-{v}-C6-2
 remark p.septum:6 a -> b
 permit tcp FD00:1::/64 FD00:2::/64 eq 443 sequence 10
 remark p.septum:8 a -> b
 permit icmp FD00:1::/64 host FD00:2::7 128 sequence 20
 deny ipv6 any any sequence 30
!
""" in text
    assert f" match access-group name SEPTUM-{v}-C4-2\n match access-group name SEPTUM-{v}-C6-2\n" in text


def test_logged_flows_are_inspected_with_an_audit_trail(tree):
    text = _text(tree({"p.septum": BASE.replace("allow a -> b : https", "allow a -> b : https log") + ROUTER}))
    v = re.search(r"SEPTUM-([0-9a-f]{8})-", text).group(1)
    assert f"""policy-map type inspect SEPTUM-{v}-P2
 class type inspect SEPTUM-{v}-L2
  inspect SEPTUM-{v}-LOG
 class class-default
  drop
""" in text
    assert f"parameter-map type inspect SEPTUM-{v}-LOG\n audit-trail on\n" in text


def test_carve_outs_stay_exact(tree):
    text = _text(tree({"p.septum": BASE.replace("allow a -> b : https", "host a9 in a { address 10.0.1.9 }\n"
                                               "allow a -> b : https except from a9") + ROUTER}))
    assert """ description part of zone a
 10.0.1.0 255.255.255.248
 host 10.0.1.8
 10.0.1.10 255.255.255.254
 10.0.1.12 255.255.255.252
 10.0.1.16 255.255.255.240
 10.0.1.32 255.255.255.224
 10.0.1.64 255.255.255.192
 10.0.1.128 255.255.255.128
""" in text


def _codes(path: Path) -> list[tuple[str, str, int]]:
    _, device = _compiled(path)
    assert device.status == "failed"
    return [(d.code, d.message, d.span.line) for d in device.diagnostics]


def test_an_interface_name_ios_does_not_have(tree):
    path = tree({"p.septum": BASE + ROUTER.replace("GigabitEthernet0/2", "uplink_b")})
    assert _codes(path) == [("E602", "interface name 'uplink_b' is not an IOS interface name (a type and its "
                                     "numbers, e.g. GigabitEthernet0/1.308)", 10)]


def test_switch_ports_on_a_router(tree):
    path = tree({"p.septum": BASE + ROUTER.replace("interface GigabitEthernet0/2", "port 2")})
    [(code, message, line)] = _codes(path)
    assert (code, line) == ("E603", 10) and "cisco-ios router, which has interfaces, not switch ports" in message


def test_a_location_too_long_for_a_remark(tree):
    long = "d" * 90
    path = tree({"p.septum": BASE.replace("allow a -> b : https\n", "") + ROUTER,
                 f"{long}/flows.septum": "allow a -> b : https\n"})
    [(code, message, line)] = _codes(path)
    assert (code, line) == ("E602", 1)
    assert message == (f"this flow's location '{long}/flows.septum:1' is 105 characters; an IOS remark citing it "
                       f"holds at most 93")


def test_hostile_strings_cannot_add_a_line(tmp_path):
    from test_hostile import DIRECTORY, FILE, HOSTILE

    root = tmp_path / "policy"
    (root / DIRECTORY).mkdir(parents=True)
    (root / "base.septum").write_text(BASE.replace("allow a -> b : https\n", "") + f"""
router r cisco-ios {{
  description "{HOSTILE}"
  interface GigabitEthernet0/1 zone a
  interface GigabitEthernet0/2 zone b
}}
""")
    (root / DIRECTORY / FILE).write_text(f'allow a -> b : https "{HOSTILE}"\nallow b -> a : https log\n')
    result, device = _compiled(root, prove=True)
    assert device.proof is not None and device.proof.equal, device.proof and device.proof.describe()
    text = device.artifacts[0].data.decode("utf-8")
    assert "flush" not in text and "é" not in text and "☃" not in text
    escaped = "we%22ird%3Bdir %7Bx%7D%23%C3%A9/fl%22ows%3B%0A%7B%7D%23%E2%98%83.septum"
    assert f" remark {escaped}:1 a -> b\n" in text
    commands = {line.split()[0] for line in text.splitlines() if line and not line.startswith((" ", "!"))}
    assert commands == {"parameter-map", "object-group", "ip", "class-map", "policy-map", "zone", "zone-pair",
                        "interface", "end"}


def test_the_router_config_is_proven(tmp_path):
    result = run_septum("compile", "zones", "--device", "dist-rtr", "--out", str(tmp_path), "--prove")
    assert result.returncode == 0, result.stderr
    assert "; proven equal to the intent by a Cisco config parser and evaluator\n" in result.stdout


def test_a_wrong_config_is_caught_by_the_proof(tree, monkeypatch):
    """A generator bug (one port off) is a counterexample naming the ACL entry, exit 3, no file."""
    from septum.backends.cisco import render as ios_render

    original = ios_render.render

    def broken(device, options):
        output = original(device, options)
        text = output.files[0].data.decode()
        assert text.count(" tcp eq 443\n") == 1
        output.files[0] = type(output.files[0])(output.files[0].name, text.replace(" tcp eq 443\n", " tcp eq 444\n").encode())
        return output

    monkeypatch.setattr(ios_render, "render", broken)
    path = tree({"p.septum": BASE + ROUTER})
    result = compile_policy(path, path.parent / "out", verify=False, prove=True)
    assert result.status == 3 and not (path.parent / "out").exists()
    [outcome] = result.devices
    assert [d.code for d in outcome.diagnostics] == ["E605"]
    proof = outcome.proof
    packet = proof.counterexample
    assert proof.problem in ("allowed but not intended", "intended but blocked")
    assert (packet.ingress, packet.egress, packet.packet.protocol) == ("GigabitEthernet0/1", "GigabitEthernet0/2", "tcp")
    assert packet.packet.port in (443, 444)
    assert "zone-pair a--b" in proof.target_rule


def test_synthetic_routers_are_proven(tmp_path):
    """A generated health system with every zone bound, its firewalls made Cisco routers."""
    import subprocess
    import sys

    from conftest import ROOT

    out = tmp_path / "policy"
    subprocess.run([sys.executable, str(ROOT / "tests" / "synthetic.py"), str(out), "--zones", "60", "--flows", "400",
                    "--seed", "5"], check=True, capture_output=True)
    for file in out.glob("*.septum"):
        file.write_text(re.sub(r"^firewall (\S+) nftables \{", r"router \1 cisco-ios {", file.read_text(),
                               flags=re.MULTILINE))
    result = compile_policy(out, tmp_path / "configs", verify=False, prove=True)
    assert result.status == 0, [(d.code, d.message) for o in result.devices for d in o.diagnostics]
    assert len(result.devices) >= 2 and {o.kind for o in result.devices} == {"cisco-ios"}
    assert all(o.proof is not None and o.proof.equal for o in result.devices)
    assert sum(o.summary["aces"] for o in result.devices) > 100


def test_apply_says_where_a_router_config_goes():
    result = run_septum("apply", "dist-rtr", "--path", "zones")
    assert result.returncode == 1
    assert result.stderr.startswith("septum apply: the cisco-ios backend cannot apply a config on this machine: "
                                    "load the file `septum compile` wrote on the router")


def test_without_the_cisco_parser_the_proof_is_unavailable(tree, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ciscoconfparse2", None)  # as if not installed
    result, device = _compiled(tree({"p.septum": BASE + ROUTER}), prove=True)
    [diagnostic] = device.diagnostics
    assert (diagnostic.code, diagnostic.message) == (
        "E604", "device 'r' cannot be proven here: the Cisco configuration parser is not installed "
                "(pip install 'septum[cisco]')")
    assert result.status == 1 and device.status == "failed"
