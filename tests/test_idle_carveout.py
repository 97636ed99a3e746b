"""W523 idle-carve-out: an `except from X` / `except to X` (each item of X) that shares no address
with the side it is carved from removes nothing, and is reported at the carve-out; carve-outs that
remove something, in whole or in part, directly or through a group or tag, are not."""

from __future__ import annotations

from pathlib import Path

from conftest import ZONES, run_septum
from septum.compiler import load_policy
from septum.compiler.verify import verify
from septum.compiler.verify.names import BASELINE, CHECKS
from septum.compiler.verify.packet_checks import PACKET_CHECKS, idle_carve_out

AS_OF = "2026-11-23"

POLICY = """\
service https { tcp 443; encrypted }
zone ws { networks 10.20.0.0/20 }
zone ehr { networks 10.10.0.0/24, fd00:10::/64 }
zone lab { networks 10.50.0.0/23; tags diagnostics }
zone pharmacy { networks 10.70.0.0/24; tags diagnostics }
host ws01 in ws { address 10.20.0.7 }
host lis01 in lab { address 10.50.0.10 }
host ehr-app01 in ehr { address 10.10.0.10, fd00:10::10 }
group lab-and-ws = lis01, ws01
group lab-only = lis01
"""


def load(tmp_path: Path, flows: str, extra: str = ""):
    (tmp_path / "policy.septum").write_text(POLICY + extra + flows)
    result = load_policy(tmp_path, graph=False)
    assert result.exit_status() != 2, [(d.code, d.message) for d in result.diagnostics]
    return result


def found(result) -> list[tuple[str, str, int, int, int]]:
    """(code, message, line, column, end column) of each W523 finding."""
    return [(d.code, d.message, d.span.line, d.span.column, d.span.end_column) for d in idle_carve_out(result.policy)]


def test_registered_as_a_baseline_packet_check():
    assert CHECKS["idle-carve-out"].code == "W523" and CHECKS["idle-carve-out"].baseline
    assert "idle-carve-out" in BASELINE and "idle-carve-out" in PACKET_CHECKS


def test_carve_out_outside_the_source_fires_at_the_carve_out(tmp_path):
    result = load(tmp_path, "allow ws -> ehr : https except from lis01\n")
    [finding] = idle_carve_out(result.policy)
    assert (finding.code, finding.check, finding.message) == (
        "W523", "idle-carve-out", "carve-out 'lis01' removes nothing: it is not part of this flow's source (ws)")
    line = POLICY.count("\n") + 1
    assert (finding.span.line, finding.span.column, finding.span.end_column) == (line, 37, 42)  # `lis01`
    assert finding.help == ("remove `except from lis01`, or correct the name: a carve-out can only remove "
                            "addresses the source selects")
    assert finding.severity.value == "warning"


def test_each_item_and_each_clause_is_judged_on_its_own(tmp_path):
    # `ws01` is in the source, `lis01` is not; `ehr-app01` is in the destination, `10.70.0.0/24` is not
    result = load(tmp_path, "allow ws -> ehr : https except from ws01, lis01 except to ehr-app01 "
                            "except to 10.70.0.0/24\n")
    line = POLICY.count("\n") + 1
    assert found(result) == [
        ("W523", "carve-out 'lis01' removes nothing: it is not part of this flow's source (ws)", line, 43, 48),
        ("W523", "carve-out '10.70.0.0/24' removes nothing: it is not part of this flow's destination (ehr)",
         line, 79, 91),
    ]


def test_fires_for_groups_tags_addresses_and_the_internet(tmp_path):
    result = load(tmp_path, """\
allow ws, lab -> ehr : https except from lab-only, tag:diagnostics
allow ws01 -> ehr : https except from lab-and-ws
allow ws01 -> ehr, pharmacy : https except to lab-only
allow internet -> ehr : https except from 10.20.0.5
allow ws01 -> ehr-app01 : https except to fd00:10::11
""")
    assert [message for _, message, *_ in found(result)] == [
        "carve-out 'lab-only' removes nothing: it is not part of this flow's destination (ehr, pharmacy)",
        "carve-out '10.20.0.5' removes nothing: it is not part of this flow's source (internet)",
        "carve-out 'fd00:10::11' removes nothing: it is not part of this flow's destination (ehr-app01)",
    ]
    result = load(tmp_path, "allow ws -> ehr : https except from lab-only\n"
                            "allow ehr -> ws : https except from tag:diagnostics\n")
    assert [message for _, message, *_ in found(result)] == [
        "carve-out 'lab-only' removes nothing: it is not part of this flow's source (ws)",
        "carve-out 'tag:diagnostics' removes nothing: it is not part of this flow's source (ehr)",
    ]
    assert idle_carve_out(result.policy)[0].help.startswith("remove `except from lab-only`, or correct the name")


def test_partly_overlapping_carve_out_does_not_fire(tmp_path):
    result = load(tmp_path, """\
allow ws, lab -> ehr : https except from 10.20.0.0/19
allow ws, lab -> ehr : https except from tag:diagnostics
allow ws -> ehr, lab : https except to lab-and-ws
""")
    assert found(result) == []


def test_carve_out_of_an_address_inside_the_side_does_not_fire(tmp_path):
    result = load(tmp_path, """\
allow ws -> ehr : https except from 10.20.3.7
allow ws -> ehr : https except from 10.20.8.0/22 except to fd00:10::10
allow internet -> ehr : https except from 203.0.113.0/24
""")
    assert found(result) == []


def test_carve_out_via_group_does_not_fire(tmp_path):
    result = load(tmp_path, """\
allow lab -> ehr : https except from lab-only
allow ws -> ehr : https except from lab-and-ws
allow ehr -> diagnostics-zones : https except to lab-only
""", extra="group diagnostics-zones = tag:diagnostics\n")
    assert found(result) == []


def test_carve_out_with_no_addresses_says_so(tmp_path):
    result = load(tmp_path, "allow ws -> ehr : https except from retired\n", extra="zone retired { }\n")
    assert [message for _, message, *_ in found(result)] == [
        "carve-out 'retired' removes nothing: it selects no addresses"]


def test_a_side_with_no_addresses_is_left_to_empty_flow(tmp_path):
    result = load(tmp_path, "allow retired -> ehr : https except from lis01\n", extra="zone retired { }\n")
    assert found(result) == []
    assert [d.check for d in verify(result.policy, disabled=set(BASELINE) - {"empty-flow", "idle-carve-out"})] == \
        ["empty-flow"]


def test_a_carve_out_that_removes_a_whole_side_is_empty_flow_not_w523(tmp_path):
    result = load(tmp_path, "allow ws01 -> ehr : https except from ws\n")
    assert found(result) == []


def test_disable(tmp_path):
    result = load(tmp_path, "allow ws -> ehr : https except from lis01\n")
    others = set(BASELINE) - {"idle-carve-out"}
    assert [d.code for d in verify(result.policy, disabled=others)] == ["W523"]
    assert verify(result.policy, disabled=others | {"idle-carve-out"}) == []


def test_reference_hospital_carve_outs_all_remove_something():
    result = load_policy(ZONES, graph=False)
    assert sum(bool(f.except_from or f.except_to) for f in result.policy.flows) >= 3
    assert idle_carve_out(result.policy) == []


CLINIC = """\
service https { tcp 443; encrypted }
zone ws { networks 10.20.0.0/20 }
zone ehr { networks 10.10.0.0/24 }
zone lab { networks 10.50.0.0/23 }
host lis01 in lab { address 10.50.0.10 }
allow lab -> ehr : https "NET-140 results to the EHR"
allow ws -> ehr : https except from lis01 "NET-101 EHR web front ends"
"""


def test_cli(tmp_path):
    (tmp_path / "policy.septum").write_text(CLINIC)
    run = run_septum("check", ".", "--as-of", AS_OF, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout == """\
── idle-carve-out (W523): 1 finding ──

warning[W523 idle-carve-out]: carve-out 'lis01' removes nothing: it is not part of this flow's source (ws)
 --> policy.septum:7:37
   |
 7 | allow ws -> ehr : https except from lis01 "NET-101 EHR web front ends"
   |                                     ^^^^^
   = help: remove `except from lis01`, or correct the name: a carve-out can only remove addresses the source selects

septum: 1 warning in 1 file
"""
    assert run_septum("check", ".", "--as-of", AS_OF, "--strict", cwd=tmp_path).returncode == 1
    quiet = run_septum("check", ".", "--as-of", AS_OF, "--strict", "--disable", "idle-carve-out", cwd=tmp_path)
    assert (quiet.returncode, quiet.stdout) == (0, "septum: 1 file checked, no problems\n"), quiet.stdout + quiet.stderr
    sarif = run_septum("check", ".", "--as-of", AS_OF, "--format", "sarif", cwd=tmp_path)
    assert '"ruleId": "idle-carve-out"' in sarif.stdout and '"W523"' in sarif.stdout, sarif.stdout + sarif.stderr


def test_agrees_with_overlap_of_the_written_networks(tmp_path):
    """Exact on addresses, not names: on random policies (zones, hosts inside them, raw addresses
    that straddle zones and gaps, groups), W523 fires for exactly the carve-out items whose
    networks, read with `ipaddress`, overlap none of their side's."""
    import ipaddress
    import random

    rng = random.Random(523)
    fired = items = 0
    for round_ in range(12):
        nets: dict[str, list] = {}
        text = ["service https { tcp 443 }"]
        for z in range(6):
            net = ipaddress.ip_network(f"198.18.{16 * z}.0/{rng.choice((21, 22, 23))}")
            nets[f"z{z}"] = [net]
            text.append(f"zone z{z} {{ networks {net} }}")
            for h in range(2):
                address = net.network_address + rng.randrange(1, net.num_addresses - 1)
                nets[f"h{z}{h}"] = [ipaddress.ip_network(address)]
                text.append(f"host h{z}{h} in z{z} {{ address {address} }}")
        for g in range(3):
            members = rng.sample([n for n in nets if not n.startswith("g")], 2)
            nets[f"g{g}"] = [x for m in members for x in nets[m]]
            text.append(f"group g{g} = {', '.join(members)}")
        names = list(nets)

        def pick() -> str:
            if rng.random() < 0.3:
                prefix = rng.choice((20, 24, 26, 32))
                net = ipaddress.ip_network(f"198.18.{rng.randrange(0, 100)}.{rng.randrange(0, 256)}/{prefix}",
                                           strict=False)
                written = str(net.network_address) if prefix == 32 else str(net)
                nets[written] = [net]
                return written
            return rng.choice(names)

        def overlaps(a: str, b: str) -> bool:
            return any(x.overlaps(y) for x in nets[a] for y in nets[b])

        expected = []
        for n in range(15):
            source, destination = pick(), pick()
            keyword, side = ("from", source) if rng.random() < 0.5 else ("to", destination)
            near = [name for name in nets if overlaps(name, side)]  # half the items meet the side
            carve = [rng.choice(near) if rng.random() < 0.5 else pick() for _ in range(rng.choice((1, 2)))]
            text.append(f"allow {source} -> {destination} : https except {keyword} {', '.join(carve)}")
            line = len(text)
            expected += [(line, f"carve-out '{c}' removes nothing") for c in carve if not overlaps(c, side)]
            items += len(carve)
        (tmp_path / "policy.septum").write_text("\n".join(text) + "\n")
        result = load_policy(tmp_path, graph=False)
        assert result.exit_status() != 2, [(d.code, d.message) for d in result.diagnostics]
        got = [(d.span.line, d.message.split(":")[0]) for d in idle_carve_out(result.policy)]
        assert got == expected, (round_, "\n".join(text))
        fired += len(got)
    assert 0.2 < fired / items < 0.8, (fired, items)  # both outcomes well represented
