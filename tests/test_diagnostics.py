"""Every diagnostic code, demonstrated with its exact message and position."""

from __future__ import annotations

import pytest

from helpers import BASE, load
from septum.compiler.diagnostics import CODES

# (files, code, exact message, line, column) -- files other than "p.septum" get BASE prepended
CASES = [
    ("zone x { networks 10.9.0.0/24 vlan }", "E001",
     "unexpected '}'; expected a number", 1, 36),
    ("zone x { networks 10.9.0.0/24 } $", "E002", "unexpected character '$'", 1, 33),
    ('zone x { description "open\n networks 10.9.0.0/24 }', "E003",
     "this string is not closed before the end of the line", 1, 22),
    ("zone x { networks 10.9.0.0/33 }", "E101",
     "'10.9.0.0/33' is not a valid CIDR: prefix length must be 0..32", 1, 19),
    ("zone x { networks 10.50.3.7/24 }", "E102",
     "'10.50.3.7/24' has host bits set: the network of this prefix is 10.50.3.0/24", 1, 19),
    ("zone x { networks 10.9.0.300/24 }", "E103", "'10.9.0.300' is not a valid IPv4 or IPv6 address", 1, 19),
    ("service s { tcp 70000 }", "E104", "port 70000 is out of range", 1, 17),
    ("service s { udp 5100-5000 }", "E105", "port range 5100-5000 is empty: it starts above where it ends", 1, 17),
    ("zone x { networks 10.9.0.0/24; vlan 4095 }", "E106", "VLAN ID 4095 is out of range", 1, 37),
    ('assert g: no path from b to a\nwaive g for b -> a until 2027-02-30 "r"', "E107",
     "'2027-02-30' is not a valid date", 2, 26),
    ("service s { icmp type 300 }", "E108", "ICMP type or code 300 is out of range", 1, 23),
    ("zone x { networks 10.9.0.0/24; trust trusted }", "E109", "'trusted' is not a trust level", 1, 38),
    ("assert no path from b to a within 0 hops", "E110", "hop count 0 is out of range", 1, 35),
    ('allow a -> b : https "bad \\q escape"', "E111", "'\\q' is not a known escape in a string", 1, 22),
    ("allow a -> pacs : https", "E201", "unknown zone, host or group 'pacs'", 1, 12),
    ("allow a -> b : htps", "E201", "unknown service 'htps'", 1, 16),
    ("allow a -> tag:imaging : https", "E201", "no zone or host is tagged 'imaging'", 1, 12),
    ("zone a { networks 10.9.0.0/24 }", "E202", "'a' is defined twice", 1, 6),
    ("allow a -> https : https", "E203", "'https' is a service, but a zone, host or group is needed here", 1, 12),
    ("use catalog.clinicl", "E204", "no module named 'catalog.clinicl'", 1, 1),
    ("group g = a, h\ngroup h = g\nallow g -> b : https", "E207", "group 'g' contains itself: g -> h -> g", 2, 11),
    ("firewall fw nftables { interface eth1 zone a\n interface eth1 zone b }", "E208",
     "interface eth1 of device 'fw' is bound twice", 2, 2),
    ("zone internet { networks 10.9.0.0/24 }", "E209", "'internet' is a built-in zone and cannot be redefined", 1, 6),
    ("firewall fw nftables { interface eth1 zone a\n interface eth2 link fw }", "E210",
     "device 'fw' is linked to itself", 2, 22),
    ("firewall fw nftables { interface eth1 zone a\n interface eth2 link gw }\nfirewall gw nftables { interface eth1 zone b }",
     "E305", "device 'fw' is linked to 'gw', but 'gw' declares no link back", 2, 2),
    ("firewall fw nftables { interface eth1 zone a; interface eth2 link gw\n interface eth3 link gw }\n"
     "firewall gw nftables { interface eth1 zone b; interface eth2 link fw }", "E306",
     "device 'fw' is linked to 'gw' twice", 2, 2),
    ("firewall fw nftables { interface eth1 zone a }\nfirewall gw nftables { interface eth1 zone b\n interface eth2 zone a }",
     "E307", "zone 'a' is bound on devices 'fw' and 'gw', which no links connect", 3, 2),
    ("zone c { networks 10.0.3.0/24 }\nfirewall fw nftables { interface e1 zone a; interface e2 zone b }\n"
     "allow a -> c : https", "E308",
     "no device can enforce this flow from zone 'a' to zone 'c': zone 'c' is bound to no device", 3, 1),
    ("zone c { networks 10.0.3.0/24 }\nfirewall fw nftables { interface e1 zone a; interface e2 zone b }\n"
     "allow b -> c : https", "W404", "zone 'c' is bound to no device", 1, 6),
    ("zone a2 { networks 10.0.1.128/25 }\nallow a2 -> b : https", "E301",
     "network 10.0.1.128/25 of zone 'a2' overlaps 10.0.1.0/24 of zone 'a'", 1, 20),
    ("host h in b { address 10.0.1.5 }\nallow h -> a : https", "E302",
     "address 10.0.1.5/32 of host 'h' is outside zone 'b' (10.0.2.0/24)", 1, 23),
    ("zone c { holds ephi }\nallow c -> b : https", "E303",
     "zone 'c' has no networks, so no rule about it can match anything", 1, 6),
    ("zone c { networks 10.0.3.0/24; vlan 10 }\nzone d { networks 10.0.4.0/24; vlan 10 }\nallow c -> d : https",
     "E304", "VLAN 10 is used by zone 'd' and zone 'c'", 2, 32),
    ('assert g: no path from b to a\nwaive g for b -> a until 2027-02-28 " "', "E112", "a waiver needs a reason", 2, 37),
    ("service ssh { tcp 22 }", "W401", "service 'ssh' is defined but never used", 1, 9),
    ("service nothing { carries ephi }\nallow a -> b : nothing", "W402",
     "service 'nothing' names no protocol, so it matches no traffic", 1, 9),
    ("zone c { networks 10.0.3.0/24, 10.0.3.128/25 }\nallow c -> b : https", "W403",
     "network 10.0.3.128/25 of zone 'c' overlaps its own 10.0.3.0/24", 1, 32),
]


@pytest.mark.parametrize("source, code, message, line, column", CASES, ids=[c[1] + "-" + str(i) for i, c in enumerate(CASES)])
def test_diagnostic(tmp_path, source, code, message, line, column):
    result = load(tmp_path, {"base.septum": BASE, "p.septum": source})
    found = [d for d in result.diagnostics if d.code == code]
    assert found, f"expected {code}; got {[(d.code, d.message) for d in result.diagnostics]}"
    diagnostic = found[0]
    assert diagnostic.message == message
    assert (diagnostic.span.file.endswith("p.septum"), diagnostic.span.line, diagnostic.span.column) == (True, line, column)
    assert diagnostic.help, "every diagnostic says how to fix it"


def test_cyclic_use(tmp_path):
    result = load(tmp_path, {"a.septum": "use b", "b.septum": "use a"})
    [cycle] = [d for d in result.diagnostics if d.code == "E205"]
    assert cycle.message.startswith("'use' forms a cycle: ")
    assert cycle.message.endswith("a.septum -> " + str(tmp_path / "b.septum") + " -> " + str(tmp_path / "a.septum")) or \
        cycle.message.endswith("b.septum -> " + str(tmp_path / "a.septum") + " -> " + str(tmp_path / "b.septum"))
    assert len(cycle.related) == 1


def test_unreadable_file(tmp_path):
    (tmp_path / "x.septum").write_bytes(b"zone \xff\xfe")
    result = load(tmp_path, {})
    assert [d.code for d in result.diagnostics] == ["E004"]


def test_every_code_is_demonstrated_and_documented():
    from test_verify import CASES as VERIFY_CASES

    demonstrated = {c[1] for c in CASES} | {"E205", "E004", "E206"} | {c[3][0] for c in VERIFY_CASES}
    demonstrated |= {"E506", "W507"}  # test_verify: expired and unused waivers
    demonstrated |= {"E520", "W521", "E522"}  # test_packets: packet-level checks
    demonstrated |= {"W523"}  # test_idle_carveout
    demonstrated |= {"E601", "E602", "E603", "E604", "E605"}  # test_compile: what compiling refuses
    assert demonstrated == set(CODES)


def test_duplicate_is_reported_at_both_places(tmp_path):
    result = load(tmp_path, {"one.septum": BASE, "two.septum": "zone b { networks 10.0.9.0/24 }"})
    [duplicate] = [d for d in result.diagnostics if d.code == "E202"]
    places = {(duplicate.span.file, duplicate.span.line), (duplicate.related[0].span.file, duplicate.related[0].span.line)}
    assert places == {(str(tmp_path / "one.septum"), 5), (str(tmp_path / "two.septum"), 1)}
    assert duplicate.related[0].message == "'b' is first defined here"


def test_repeated_clause(tmp_path):
    result = load(tmp_path, {"p.septum": "zone x { networks 10.1.0.0/24\n vlan 5\n vlan 6 }\nallow x -> x : s\nservice s { tcp 1 }"})
    [repeat] = [d for d in result.diagnostics if d.code == "E206"]
    assert (repeat.message, repeat.span.line, repeat.related[0].span.line) == ("'vlan' is given twice", 3, 2)


def test_did_you_mean(tmp_path):
    result = load(tmp_path, {"p.septum": BASE + "allow aa -> b : https"})
    [unknown] = [d for d in result.diagnostics if d.code == "E201"]
    assert unknown.help == "did you mean 'a'?"


def test_catalogue_use_suggested(tmp_path):
    result = load(tmp_path, {"p.septum": BASE + "allow a -> b : dicom-tls"})
    [unknown] = [d for d in result.diagnostics if d.code == "E201"]
    assert unknown.help == "'dicom-tls' is defined in the catalogue: add `use catalog.clinical` to this file"


def test_all_errors_collected_not_just_the_first(tmp_path):
    source = "zone x { networks 10.1.0.0/33 }\nzone y { vlan }\nzone z { networks 10.2.0.1/24 }\nallow q -> x : h\n"
    result = load(tmp_path, {"p.septum": source})
    assert [d.code for d in result.diagnostics] == ["E101", "E001", "E102", "E201", "E201"]


def test_syntax_error_does_not_hide_definitions(tmp_path):
    """A broken zone is not also reported as unknown where it is used."""
    result = load(tmp_path, {"p.septum": BASE + "zone c { networks 10.0.3.0/24 vlan }\nallow c -> b : https"})
    assert [d.code for d in result.diagnostics] == ["E001"]


def test_bad_backend_kind_reports_once(tmp_path):
    result = load(tmp_path, {"p.septum": BASE + "firewall fw nftabls { interface eth1 zone a }"})
    assert [(d.code, d.message, d.help) for d in result.diagnostics] == [
        ("E109", "'nftabls' is not a backend kind",
         "did you mean 'nftables'? a backend kind is one of: nftables, cisco-ios, openflow")]


def test_error_in_last_statement_is_reported_once(tmp_path):
    result = load(tmp_path, {"p.septum": BASE + "allow a b : https\n"})
    assert [(d.code, d.message) for d in result.diagnostics] == [("E001", "unexpected 'b'; expected ',' or '->'")]


def test_every_code_has_a_section_in_the_reference():
    from conftest import ROOT

    text = (ROOT / "docs" / "diagnostics.md").read_text()
    for code, (title, _) in CODES.items():
        assert f"### {code} — {title}" in text, code
