"""The OpenFlow backend: the reference hospital's switch (golden file), the cookie map, how rules
become conjunctions, what it refuses (fail closed), and the proof in a private Open vSwitch."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from conftest import run_septum
from helpers import BASE, compiled_device, device_files, require_live
from septum.compiler.devices.pipeline import compile_policy

GOLDEN = Path(__file__).parent / "golden_configs" / "biomed-sw.flows"
SWITCH = """
switch s openflow {
  port 1 zone a
  port 2 zone b
}
"""


def _compiled(path: Path, prove: bool = False):
    return compiled_device(path, "openflow", prove)


def _files(path: Path) -> dict[str, str]:
    return device_files(path, "openflow")


def _masked(text: str) -> str:
    return re.sub(r"^# policy .*$", "# policy (the zone files' revision)", text, flags=re.MULTILINE)


def test_the_reference_hospital_switch_flows(tmp_path):
    """Golden file; regenerate with SEPTUM_UPDATE_GOLDEN=1 and read the diff."""
    out = tmp_path / "out"
    result = run_septum("compile", "zones", "--device", "biomed-sw", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"septum compile: biomed-sw \(openflow\): wrote \S+biomed-sw\.flows, \S+biomed-sw\.cookies\.json: "
                        r"111 flows, 22 conjunctions, [\d,]+ bytes\n"
                        r"septum compile: 1 of 1 device written to \S+\n", result.stdout), result.stdout
    text = _masked((out / "biomed-sw.flows").read_text())
    if os.environ.get("SEPTUM_UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()
    cookies = json.loads((out / "biomed-sw.cookies.json").read_text())["cookies"]
    assert cookies["0x1"] == {"location": "hospital/medical-devices.septum:77", "source_zone": "infusion",
                              "destination_zones": ["pump-server"], "ingress": "1", "egress": "2", "log": False}


def test_a_rule_is_a_conjunction_of_sources_destinations_and_services(tree):
    files = _files(tree({"p.septum": BASE.replace("service https { tcp 443; encrypted }",
                                                 "service https { tcp 443, 8000-8063; icmp type 3 code 4; encrypted }")
                         + SWITCH}))
    text = files["s.flows"]
    assert "cookie=0x1,table=2,priority=30000,ip,in_port=1,nw_src=10.0.1.0/24 actions=conjunction(1,1/3)\n" in text
    assert "cookie=0x1,table=2,priority=30000,ip,nw_dst=10.0.2.0/24 actions=conjunction(1,2/3)\n" in text
    assert "cookie=0x1,table=2,priority=30000,tcp,tp_dst=443 actions=conjunction(1,3/3)\n" in text
    assert "cookie=0x1,table=2,priority=30000,tcp,tp_dst=0x1f40/0xffc0 actions=conjunction(1,3/3)\n" in text
    assert "cookie=0x1,table=2,priority=30000,icmp,icmp_type=3,icmp_code=4 actions=conjunction(1,3/3)\n" in text
    assert "cookie=0x1,table=2,priority=40000,conj_id=1,ip actions=ct(commit),resubmit(,3)\n" in text
    assert "table=3,priority=124,ip,nw_dst=10.0.2.0/24 actions=output:2\n" in text
    assert json.loads(files["s.cookies.json"])["cookies"]["0x1"]["location"] == "p.septum:6"


def _codes(path: Path) -> list[tuple[str, str, int]]:
    _, device = _compiled(path)
    assert device.status == "failed"
    return [(d.code, d.message, d.span.line) for d in device.diagnostics]


def test_an_interface_on_a_switch(tree):
    path = tree({"p.septum": BASE + SWITCH.replace("port 2", "interface eth2")})
    [(code, message, line)] = _codes(path)
    assert (code, line) == ("E603", 10) and "openflow switch, which has ports, not interfaces" in message


def test_the_flows_are_proven_in_open_vswitch(tree):
    require_live("ovs-vswitchd", "unshare")
    result, device = _compiled(tree({"p.septum": BASE + SWITCH}), prove=True)
    assert device.proof is not None and device.proof.equal, device.proof and device.proof.describe()


def test_a_wrong_flow_is_caught_by_the_proof(tree, monkeypatch):
    require_live("ovs-vswitchd", "unshare")
    from septum.backends.openflow import render as of_render

    original = of_render.render

    def broken(device, options):
        output = original(device, options)
        text = output.files[0].data.decode().replace("tcp,tp_dst=443 ", "tcp,tp_dst=444 ")
        output.files[0] = type(output.files[0])(output.files[0].name, text.encode())
        return output

    monkeypatch.setattr(of_render, "render", broken)
    path = tree({"p.septum": BASE + SWITCH})
    result = compile_policy(path, path.parent / "out", verify=False, prove=True)
    assert result.status == 3 and not (path.parent / "out").exists()
    [outcome] = result.devices
    packet = outcome.proof.counterexample
    assert (packet.ingress, packet.egress, packet.packet.protocol, packet.packet.port in (443, 444)) == (
        "1", "2", "tcp", True)


def test_hostile_strings_reach_only_the_cookie_map_as_json(tmp_path):
    from test_hostile import DIRECTORY, FILE, HOSTILE

    root = tmp_path / "policy"
    (root / DIRECTORY).mkdir(parents=True)
    (root / "base.septum").write_text(BASE.replace("allow a -> b : https\n", "") + f"""
switch s openflow {{
  description "{HOSTILE}"
  port 1 zone a
  port 2 zone b
}}
""")
    (root / DIRECTORY / FILE).write_text(f'allow a -> b : https "{HOSTILE}"\n')
    files = _files(root)
    flows = files["s.flows"]
    assert "flush" not in flows and DIRECTORY not in flows and "é" not in flows
    assert all(line.startswith(("#", "table=", "cookie=")) for line in flows.splitlines() if line)
    cookies = json.loads(files["s.cookies.json"])["cookies"]
    assert cookies["0x1"]["location"] == f"{DIRECTORY}/{FILE}:1"


def test_without_open_vswitch_the_proof_is_unavailable(tree, monkeypatch):
    from septum.backends.openflow import tool

    real = tool.shutil.which
    monkeypatch.setattr(tool.shutil, "which", lambda name: None if name.startswith("ovs") else real(name))
    result, device = _compiled(tree({"p.septum": BASE + SWITCH}), prove=True)
    [diagnostic] = device.diagnostics
    assert diagnostic.code == "E604" and diagnostic.message.startswith("device 's' cannot be proven here: ovsdb-tool")
    assert diagnostic.message.endswith("not installed (Debian: apt-get install openvswitch-switch)")
    assert result.status == 1
