"""Each construct of the language, parsed into the model a user would expect."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import BaseModel

import synthetic
from conftest import ZONES, run_septum
from helpers import BASE, load, parse_both_ways
from septum.compiler.model import BackendKind, DeviceRole, NoPath, OnlyEncrypted, OnlyMayConnect, Sensitivity, Trust
from septum.compiler.parser import parse_text


def one(text: str):
    source, diagnostics, _ = parse_text("t.septum", text)
    assert diagnostics == []
    [statement] = source.statements
    return statement


def test_zone_all_clauses():
    zone = one(
        """zone modalities {
          description "CT and MR"
          networks 10.30.16.0/22, fd00:30:16::/64
          vlan 308
          trust restricted
          broker
          holds ephi, pii
          tags imaging, medical-device
        }"""
    )
    assert zone.name == "modalities"
    assert zone.description == "CT and MR"
    assert [n.cidr for n in zone.networks] == ["10.30.16.0/22", "fd00:30:16::/64"]
    assert zone.vlan == 308 and zone.trust is Trust.restricted and zone.broker
    assert [r.name for r in zone.holds] == ["ephi", "pii"]
    assert [t.name for t in zone.tags] == ["imaging", "medical-device"]
    assert (zone.span.line, zone.span.column, zone.span.end_line) == (1, 1, 9)
    assert (zone.name_span.line, zone.name_span.column, zone.name_span.end_column) == (1, 6, 16)


def test_zone_defaults_and_one_line_form():
    zone = one("zone pacs { networks 10.30.0.0/24; holds ephi }")
    assert zone.trust is Trust.internal and not zone.broker and zone.vlan is None


def test_host_addresses_are_single_host_networks():
    host = one("host pacs-archive in pacs { address 10.30.0.10, fd00:30::10; tags archive }")
    assert host.zone.name == "pacs"
    assert [a.cidr for a in host.addresses] == ["10.30.0.10/32", "fd00:30::10/128"]


def test_ipv6_is_canonicalised():
    zone = one("zone z { networks FD00:0030:0016:0000::/64 }")
    assert zone.networks[0].cidr == "fd00:30:16::/64"


def test_service_protocols_ports_ranges_icmp():
    service = one(
        "service mixed { tcp 104, 11112, 2000-2010; udp 53; icmp type 3 code 4; icmpv6; carries ephi; encrypted }"
    )
    tcp, udp, icmp, icmpv6 = service.matches
    assert tcp.protocol == "tcp" and [(p.low, p.high) for p in tcp.ports] == [(104, 104), (11112, 11112), (2000, 2010)]
    assert udp.protocol == "udp" and udp.ports[0].low == 53
    assert (icmp.protocol, icmp.icmp_type, icmp.icmp_code) == ("icmp", 3, 4)
    assert (icmpv6.protocol, icmpv6.icmp_type) == ("icmpv6", None)
    assert [r.name for r in service.carries] == ["ephi"] and service.encrypted


def test_datatype():
    datatype = one('datatype ephi { sensitivity restricted; description "patient data" }')
    assert datatype.sensitivity is Sensitivity.restricted and datatype.description == "patient data"


def test_flow_with_every_option():
    flow = one(
        'allow tag:imaging, modalities, 10.9.0.0/24 -> zones holding ephi : dicom-tls, https carrying pii '
        'except from ct-old except to 10.30.0.99 log "ticket NET-112"'
    )
    assert [i.kind for i in flow.source.items] == ["tag", "name", "address"]
    assert flow.source.items[0].tag == "imaging" and flow.source.items[2].cidr == "10.9.0.0/24"
    assert flow.destination.items[0].kind == "holding" and flow.destination.items[0].datatype == "ephi"
    assert [r.name for r in flow.services] == ["dicom-tls", "https"]
    assert [r.name for r in flow.carrying] == ["pii"]
    assert flow.except_from[0].items[0].name == "ct-old"
    assert flow.except_to[0].items[0].cidr == "10.30.0.99/32"
    assert flow.log and flow.justification == "ticket NET-112"


def test_flow_may_span_lines():
    flow = one("allow a\n  -> b\n  : https\n  \"why\"")
    assert (flow.span.line, flow.span.end_line) == (1, 4)


def test_assertions():
    source, diagnostics, _ = parse_text(
        "t.septum",
        """assert guest-isolation: no path from guest to zones holding ephi within 3 hops "HICP 6"
        assert ephi crosses zones only encrypted
        assert only pump-server may connect to infusion on pump-mgmt
        require ehr-access: clinws -> ehr : https
        require clinws -> pacs : dicomweb""",
    )
    assert diagnostics == []
    no_path, encrypted, only, require_labelled, require = source.statements
    assert isinstance(no_path.body, NoPath) and no_path.body.within == 3 and no_path.label.name == "guest-isolation"
    assert no_path.justification == "HICP 6"
    assert isinstance(encrypted.body, OnlyEncrypted) and encrypted.body.datatype.name == "ephi"
    assert isinstance(only.body, OnlyMayConnect) and [r.name for r in only.body.services] == ["pump-mgmt"]
    assert require_labelled.label.name == "ehr-access" and require.label is None
    assert [r.name for r in require.services] == ["dicomweb"]


def test_waivers_by_label_and_by_text():
    source, diagnostics, _ = parse_text(
        "t.septum",
        """waive guest-isolation for guest -> portal until 2027-01-31 "pilot"
        waive "ephi crosses zones only encrypted" for modalities -> pacs : dicom
          until 2027-03-31 "legacy CT, PO-5531\"""",
    )
    assert diagnostics == []
    by_label, by_text = source.statements
    assert by_label.label.name == "guest-isolation" and by_label.services == ()
    assert by_text.text == "ephi crosses zones only encrypted" and by_text.until == dt.date(2027, 3, 31)
    assert by_text.reason == "legacy CT, PO-5531"


def test_devices():
    device = one(
        """switch biomed-sw openflow {
          description "OVS in the biomed closet"
          port 1 zone infusion
          interface GigabitEthernet0/1.308 zone modalities
        }"""
    )
    assert device.role is DeviceRole.switch and device.backend is BackendKind.openflow
    assert [(b.port, b.interface, b.zone.name) for b in device.bindings] == [
        (1, None, "infusion"), (None, "GigabitEthernet0/1.308", "modalities")]


def test_device_links():
    device = one(
        """router dist-rtr cisco-ios {
          interface GigabitEthernet0/0 link core-fw
          port 48 link link
          interface Gi0/1 zone link
        }"""
    )
    assert [(b.where, b.key, b.link and b.link.name, b.zone and b.zone.name) for b in device.bindings] == [
        ("interface GigabitEthernet0/0", "GigabitEthernet0/0", "core-fw", None),
        ("port 48", "48", "link", None),  # `link` is a keyword only where a name cannot be
        ("interface Gi0/1", "Gi0/1", None, "link")]
    from septum.compiler.printer import format_file
    from septum.compiler.parser import parse_text

    text = format_file(parse_text("t.septum", "router r cisco-ios { interface Gi0/0 link fw\n port 2 link sw }")[0])
    assert "  interface Gi0/0 link fw\n  port 2 link sw\n" in text


def test_keywords_are_names_where_only_a_name_fits():
    zone = one("zone broker { networks 10.1.0.0/24; tags log, trust }")
    assert zone.name == "broker" and [t.name for t in zone.tags] == ["log", "trust"]


def test_comments_are_kept_for_fmt():
    source, _, _ = parse_text("t.septum", "# header\nzone a { networks 10.1.0.0/24 }  # trailing\n")
    assert [(c.text, c.line) for c in source.comments] == [("# header", 1), ("# trailing", 2)]


def test_strings_with_escapes():
    flow = one(r'allow a -> b : https "say \"hi\" \\ there"')
    assert flow.justification == 'say "hi" \\ there'


def test_order_independent(tmp_path):
    """Reordering statements and splitting files never changes the resolved policy."""
    statements = [s for s in BASE.strip().splitlines()] + ["host h in a { address 10.0.1.9 }", "allow h -> b : https"]
    forward = load(tmp_path / "one", {"p.septum": "\n".join(statements)})
    backward = load(tmp_path / "two", {
        "x/second.septum": "\n".join(reversed(statements[3:])), "first.septum": "\n".join(reversed(statements[:3]))})
    assert forward.diagnostics == [] and backward.diagnostics == []
    edges = lambda r: sorted((u, v, d["services"]) for u, v, d in r.graph.edges(data=True))
    assert edges(forward) == edges(backward)
    assert sorted(forward.policy.zones) == sorted(backward.policy.zones)


def test_use_resolves_tree_first_then_catalogue(tmp_path):
    result = load(tmp_path, {
        "site.septum": "use catalog.clinical\nuse lib.local\nzone a { networks 10.1.0.0/24 }\nzone b { networks 10.2.0.0/24 }\n"
                       "allow a -> b : dicom-tls, mine",
        "lib/local.septum": "service mine { tcp 9999 }",
    })
    assert result.diagnostics == []
    assert "dicom-tls" in result.policy.services and "mine" in result.policy.services
    assert any(f.path.startswith("<septum>/") for f in result.policy.files)


def _models(value):
    """Every model in a parsed value, depth first."""
    if isinstance(value, BaseModel):
        yield value
        for name in type(value).model_fields:
            yield from _models(getattr(value, name))
    elif isinstance(value, tuple):
        for item in value:
            yield from _models(item)


def test_parser_models_are_what_validation_gives(tmp_path):
    """The parser makes models without validating them (`model.constructor`): each must be the
    model pydantic would make from the same values, same field types included (the repr shows
    an enum member, a tuple or a bool where a plain string, a list or an int would be wrong)."""
    synthetic.generate(tmp_path, zones=40, flows=200)
    texts = {str(p): p.read_text() for p in sorted(ZONES.rglob("*.septum")) + sorted(tmp_path.rglob("*.septum"))}
    texts["waivers.septum"] = (
        'waive "guest printing" for a -> b : ipp until 2027-01-31 "printer replacement, PO-1"\n'
        'waive lbl for a, tag:x -> zones holding ephi until 2027-01-31 "r"\n'
        'assert lbl: no path from a to b within 3 hops except through c "why"\n'
        'assert only a may connect to b on https\nassert ephi crosses zones only encrypted\n'
        'require r: a -> b : https "j"\nuse catalog.clinical\n'
        'firewall fw nftables { description "d"; interface eth0.1 zone a; port 3 zone b }\n'
    )
    seen = set()
    for path, text in texts.items():
        source, diagnostics, _ = parse_text(path, text)
        assert diagnostics == [], path
        for model in _models(source):
            again = type(model).model_validate({name: getattr(model, name) for name in model.model_fields_set})
            assert again == model and repr(again) == repr(model) and hash(again) == hash(model)
            assert again.model_fields_set == model.model_fields_set
            seen.add(type(model).__name__)
    assert len(seen) >= 25, sorted(seen)


TRICKY = [
    "allow a -> b : log\n",  # a service spelled like a keyword
    "allow a -> b : c\n  log\n",  # options on the next line
    "allow a -> b : c\n  \"why\"\nallow a -> b : d\n",
    "allow a -> b : c;\nallow a -> b : d ; allow c -> d : e\n",
    "allow a -> b : c # note\nallow a -> b : d\t\r\nallow x -> y : z",
    "zone z {\nallow a -> b : c\n",  # a flow where a block should have closed
    "allow a -> b : c, \nallow d -> e : f\n",  # a list cut short
    "group g = allow a -> b : c\n",
    "firewall fw nftables {\n  interface\nallow a -> b : c\n}\n",
    "allow a -> b : c \"x\\q\"\nallow a -> b : c \"a\" \"b\"\nallow a -> b : c log log\n",
    "allow tag -> b : c\nallow a -> zones : c\nallow a->b:c\"j\"\n",
    "zone a { networks 10.0.0.0/24 }\nhost h in a { address 10.0.0.1 }\nallow a -> h : s\nzone b {}\n",
    "allow a -> b : c @\nallow a -> b : d\n",
]


@pytest.mark.parametrize("text", TRICKY)
def test_whole_line_flows_read_as_the_table_reads_them(text):
    """One-line flows are read straight from one regex match (statements._line): whatever follows
    or surrounds them, the result is what the LALR table alone gives."""
    direct, table = parse_both_ways(text)
    assert direct == table


def test_checking_part_of_a_tree_finds_modules_named_by_their_full_path(tmp_path):
    """`septum check zones/hospital` reads `use hospital.x` as `septum check zones` does."""
    hospital = tmp_path / "zones" / "hospital"
    hospital.mkdir(parents=True)
    (tmp_path / ".git").mkdir()
    (hospital / "core.septum").write_text("zone ehr {\n  networks 198.18.1.0/24\n}\n", encoding="utf-8")
    (hospital / "edge.septum").write_text(
        "use hospital.core\nuse shared.partners\n\nzone guest {\n  networks 198.18.2.0/24\n}\n\n"
        'allow guest -> ehr : icmp-echo "ticket 1"\n', encoding="utf-8")
    shared = tmp_path / "zones" / "shared"
    shared.mkdir()
    (shared / "partners.septum").write_text(
        "service icmp-echo {\n  icmp type 8\n}\n", encoding="utf-8")
    part = run_septum("check", "zones/hospital", "--no-verify", cwd=tmp_path)
    assert part.returncode == 0, part.stdout + part.stderr
    assert "3 files checked" in part.stdout
    whole = run_septum("check", "zones", "--no-verify", cwd=tmp_path)
    assert whole.returncode == 0, whole.stdout + whole.stderr
    # above the repository root nothing is looked up
    (hospital / ".git").mkdir()
    fenced = run_septum("check", "zones/hospital", "--no-verify", cwd=tmp_path)
    assert fenced.returncode == 2
    assert "no module named 'hospital.core'" in fenced.stdout
