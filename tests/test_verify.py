"""Verification: each check, once passing and once failing with the exact finding."""

from __future__ import annotations

import datetime as dt

import pytest

from helpers import load
from septum.compiler.verify import verify

AS_OF = dt.date(2026, 11, 23)

BASE = """
datatype ephi { sensitivity restricted }
service https { tcp 443; encrypted }
service dicom { tcp 104; carries ephi }
service dicom-tls { tcp 2762; carries ephi; encrypted }
service smb { tcp 445; legacy }
zone ehr { networks 198.18.1.0/24; holds ephi }
zone pacs { networks 198.18.2.0/24; holds ephi }
zone clinws { networks 198.18.3.0/24; holds ephi }
zone dmz { networks 198.18.4.0/24; broker }
zone guest { networks 198.18.5.0/24; trust untrusted }
zone printers { networks 198.18.6.0/24 }
host archive in pacs { address 198.18.2.10 }
host nurse in clinws { address 198.18.3.7 }
allow clinws -> ehr : https
allow clinws -> archive : dicom-tls
allow guest -> internet : https
allow internet -> dmz : https
allow dmz -> ehr : https
"""


def findings(tmp_path, extra: str, disabled=()):
    result = load(tmp_path, {"p.septum": BASE + extra})
    assert result.exit_status() != 2, [(d.code, d.message) for d in result.diagnostics]
    return [(d.code, d.check, d.message, bool(d.waived_by)) for d in verify(result.policy, AS_OF, set(disabled))]


def test_base_is_clean(tmp_path):
    assert findings(tmp_path, "") == []


# (name, statements that pass, statements that fail, the exact finding of the failure)
CASES = [
    ("data-flow", "allow nurse -> pacs : dicom-tls",
     "allow clinws -> printers : dicom-tls",
     ("E501", "data-flow", "ephi can reach zone 'printers', which is not cleared to hold it: it moves from 'clinws' "
                           "over 1 flow", False)),
    ("no-path", "assert g: no path from guest to zones holding ephi except through dmz",
     "assert g: no path from guest to zones holding ephi",
     ("E502", "no-path", "assertion 'g' fails: guest -> internet -> dmz -> ehr in 3 hops", False)),
    ("no-path-within", "assert g: no path from guest to ehr within 2 hops",
     "assert g: no path from guest to ehr within 3 hops",
     ("E502", "no-path", "assertion 'g' fails: guest -> internet -> dmz -> ehr in 3 hops", False)),
    ("only-encrypted", "assert ephi crosses zones only encrypted\nallow nurse -> pacs : dicom-tls",
     "assert ephi crosses zones only encrypted\nallow clinws -> pacs : dicom",
     ("E503", "only-encrypted", 'assertion "ephi crosses zones only encrypted" fails: ephi crosses from clinws to '
                                "pacs on cleartext dicom", False)),
    ("only-may-connect", "assert only clinws may connect to pacs",
     "assert only clinws may connect to pacs\nallow printers -> archive : https",
     ("E504", "only-may-connect", 'assertion "only clinws may connect to pacs" fails: printers may connect to archive',
      False)),
    ("require", "require r: nurse -> archive : dicom-tls",
     "require r: printers -> ehr : https",
     ("E505", "require", "'r' is not met: no allow rule permits printers -> ehr : https", False)),
    ("untrusted-to-sensitive", "allow guest -> dmz : https",
     "allow guest -> printers : https\nallow printers -> ehr : https",
     ("E510", "untrusted-to-sensitive", "untrusted zone 'guest' reaches 'ehr' without passing a broker: "
                                        "guest -> printers -> ehr", False)),
    ("sensitive-cleartext", "allow nurse -> pacs : dicom-tls",
     "allow clinws -> pacs : dicom",
     ("E511", "sensitive-cleartext", "sensitive data in cleartext: ephi crosses from clinws to pacs on cleartext dicom",
      False)),
    ("internet-inbound", "allow internet -> dmz : dicom-tls",
     "allow internet -> printers : https",
     ("E512", "internet-inbound", "the internet may connect to 'printers' in zone 'printers', which is not a broker "
                                  "zone", False)),
    ("legacy-service", "allow nurse -> clinws : smb",
     "allow clinws -> printers : smb",
     ("E513", "legacy-service", "legacy-risk service smb crosses from clinws to printers", False)),
]


@pytest.mark.parametrize("name, passing, failing, expected", CASES, ids=[c[0] for c in CASES])
def test_check_both_ways(tmp_path, name, passing, failing, expected):
    assert findings(tmp_path / "pass", passing) == []
    assert findings(tmp_path / "fail", failing) == [expected]


def test_require_names_the_carve_out(tmp_path):
    result = load(tmp_path, {"p.septum": BASE.replace("allow clinws -> ehr : https",
                                                      "allow clinws -> ehr : https except from nurse")
                             + "require r: nurse -> ehr : https"})
    [finding] = verify(result.policy, AS_OF)
    assert finding.message == "'r' is not met: no allow rule permits nurse -> ehr : https"
    assert finding.related[0].message == "this carve-out removes nurse -> ehr"
    assert finding.related[0].span.line == 15


def test_witness_path_cites_every_rule(tmp_path):
    result = load(tmp_path, {"p.septum": BASE + "assert g: no path from guest to ehr"})
    [finding] = verify(result.policy, AS_OF)
    assert [(h.source, h.destination, h.services, h.span.line) for h in finding.path] == [
        ("guest", "internet", ("https",), 17), ("internet", "dmz", ("https",), 18), ("dmz", "ehr", ("https",), 19)]


def test_live_waiver_accepts_the_finding(tmp_path):
    got = findings(tmp_path, 'allow clinws -> printers : smb\n'
                             'waive legacy-service for clinws -> printers : smb until 2027-01-31 "scanner, PO-1"')
    assert got == [("E513", "legacy-service", "legacy-risk service smb crosses from clinws to printers", True)]


def test_expired_waiver_fails_and_waives_nothing(tmp_path):
    got = findings(tmp_path, 'allow clinws -> printers : smb\n'
                             'waive legacy-service for clinws -> printers until 2026-01-01 "old"')
    assert ("E506", "expired-waiver", "waiver of legacy-service expired on 2026-01-01 (checked as of 2026-11-23)",
            False) in got
    assert ("E513", "legacy-service", "legacy-risk service smb crosses from clinws to printers", False) in got


def test_waiver_that_matches_nothing(tmp_path):
    got = findings(tmp_path, 'waive legacy-service for clinws -> printers until 2027-01-01 "gone"')
    assert got == [("W507", "unused-waiver", "waiver of legacy-service matches no finding", False)]


def test_waiver_by_assertion_text_and_label(tmp_path):
    got = findings(tmp_path, 'assert ephi crosses zones only encrypted\nallow clinws -> pacs : dicom\n'
                             'waive "ephi crosses zones only encrypted" for clinws -> pacs : dicom '
                             'until 2027-01-01 "legacy CT"')
    assert [(code, waived) for code, _, _, waived in got] == [("E503", True)]


def test_waiver_for_other_flows_does_not_apply(tmp_path):
    got = findings(tmp_path, 'allow clinws -> printers : smb\n'
                             'waive legacy-service for nurse -> printers until 2027-01-01 "only the nurse PC"')
    assert ("E513", "legacy-service", "legacy-risk service smb crosses from clinws to printers", False) in got


def test_a_waiver_hides_no_path_it_does_not_name(tmp_path):
    """Waiving guest -> pacs must not hide guest -> ehr: each target is judged on its own."""
    got = findings(tmp_path, 'allow guest -> pacs : https\nallow guest -> ehr : https\n'
                             'assert iso: no path from guest to zones holding ephi\n'
                             'waive iso for guest -> pacs until 2027-01-31 "kiosk, PO-7"',
                   disabled={"untrusted-to-sensitive"})
    assert ("E502", "no-path", "assertion 'iso' fails: guest -> ehr in 1 hop", False) in got
    assert ("E502", "no-path", "assertion 'iso' fails: guest -> pacs in 1 hop", True) in got
    assert not [f for f in got if f[0] == "W507"]


def test_a_waiver_for_every_path_leaves_nothing_unwaived(tmp_path):
    got = findings(tmp_path, 'allow guest -> pacs : https\nallow guest -> ehr : https\n'
                             'waive untrusted-to-sensitive for guest -> pacs until 2027-01-31 "kiosk"\n'
                             'waive untrusted-to-sensitive for guest -> ehr until 2027-01-31 "portal"')
    e510 = sorted((message, waived) for code, _, message, waived in got if code == "E510")
    assert e510 == [("untrusted zone 'guest' reaches 'ehr' without passing a broker: guest -> ehr", True),
                    ("untrusted zone 'guest' reaches 'pacs' without passing a broker: guest -> pacs", True)]
    assert not [f for f in got if f[0] == "W507"]  # both waivers name a real path


def test_a_waived_hop_does_not_hide_a_longer_unwaived_path(tmp_path):
    got = findings(tmp_path, 'allow guest -> pacs : https\nallow guest -> printers : https\n'
                             'allow printers -> pacs : https\n'
                             'waive untrusted-to-sensitive for guest -> pacs until 2027-01-31 "kiosk"')
    e510 = sorted((message, waived) for code, _, message, waived in got if code == "E510")
    assert e510 == [
        ("untrusted zone 'guest' reaches 'pacs' without passing a broker: guest -> pacs", True),
        ("untrusted zone 'guest' reaches 'pacs' without passing a broker: guest -> printers -> pacs", False)]


def test_only_may_connect_on_a_service_is_judged_by_packets(tmp_path):
    """`on fhir` means fhir's packets: a flow allowing tcp/443 as https breaks it too."""
    assertion = "service fhir { tcp 443; encrypted }\nassert only dmz may connect to printers on fhir\n"
    assert findings(tmp_path / "pass", assertion + "service ipp { tcp 631 }\nallow clinws -> printers : ipp\n") == []
    assert findings(tmp_path / "fail", assertion + "allow clinws -> printers : https\n") == [
        ("E504", "only-may-connect", "assertion \"only dmz may connect to printers on fhir\" fails: clinws may "
                                     "connect to printers on https (the same packets as fhir)", False)]


def test_an_address_no_zone_owns_is_named_where_it_counts_as_the_internet(tmp_path):
    got = findings(tmp_path, "allow 203.0.113.0/24 -> printers : https\n")
    assert ("E512", "internet-inbound", "203.0.113.0/24 (no zone owns it: it counts as the internet) may connect to "
            "'printers' in zone 'printers', which is not a broker zone", False) in got


def test_only_the_shortest_unwaived_path_is_an_error_beside_waived_ones(tmp_path):
    got = findings(tmp_path, 'allow guest -> pacs : https\nallow guest -> printers : https\n'
                             'allow printers -> ehr : https\nallow guest -> clinws : https\n'
                             'waive untrusted-to-sensitive for guest -> pacs until 2027-01-31 "kiosk"')
    e510 = sorted((message, waived) for code, _, message, waived in got if code == "E510" and "'guest'" in message)
    assert e510 == [
        ("untrusted zone 'guest' reaches 'clinws' without passing a broker: guest -> clinws", False),
        ("untrusted zone 'guest' reaches 'pacs' without passing a broker: guest -> pacs", True)]


def test_require_is_met_by_the_same_packets_under_another_name(tmp_path):
    services = "service fhir { tcp 443; encrypted }\nservice web { tcp 80, 443; encrypted }\n"
    assert findings(tmp_path / "same", services + "require clinws -> ehr : fhir\n") == []
    assert findings(tmp_path / "part", services + "require clinws -> ehr : web\n") == [
        ("E505", "require", "requirement is not met: no allow rule permits clinws -> ehr : web", False)]


def test_waiver_of_a_disabled_check_is_not_called_unused(tmp_path):
    got = findings(tmp_path, 'allow clinws -> printers : smb\n'
                             'waive legacy-service for clinws -> printers until 2027-01-01 "scanner"',
                   disabled={"legacy-service"})
    assert got == []


def test_untrusted_reaching_a_broker_that_holds_restricted_data(tmp_path):
    result = load(tmp_path, {"p.septum": BASE.replace("zone dmz { networks 198.18.4.0/24; broker }",
                                                      "zone dmz { networks 198.18.4.0/24; broker; holds ephi }")
                             + "allow guest -> dmz : https\n"})
    [finding] = [d for d in verify(result.policy, AS_OF) if d.code == "E510" and "'guest'" in d.message]
    assert finding.message == ("untrusted zone 'guest' reaches broker zone 'dmz', which holds restricted data (ephi), "
                               "at 'dmz': guest -> dmz")
    assert finding.help.startswith("keep restricted data out of broker zones (drop `holds ephi` from 'dmz'")


def test_disable_baseline_check(tmp_path):
    assert findings(tmp_path, "allow clinws -> printers : smb", disabled={"legacy-service"}) == []


def test_verdicts_do_not_depend_on_file_order(tmp_path):
    extra = "allow clinws -> printers : dicom-tls\nallow guest -> printers : https\nallow printers -> ehr : https"
    lines = (BASE + extra).strip().splitlines()
    one = load(tmp_path / "one", {"p.septum": "\n".join(lines)})
    two = load(tmp_path / "two", {"z.septum": "\n".join(lines[::2]), "a/b.septum": "\n".join(lines[1::2])})
    key = lambda r: sorted((d.code, d.message) for d in verify(r.policy, AS_OF))
    assert key(one) == key(two) and key(one)


def test_explain_allowed_denied_and_lateral(tmp_path):
    from conftest import run_septum, write_tree

    write_tree(tmp_path, {"p.septum": BASE + "assert g: no path from guest to ehr except through dmz\n"})
    allowed = run_septum("explain", "nurse", "ehr", "https", "--path", str(tmp_path))
    assert allowed.returncode == 0
    assert allowed.stdout.splitlines()[0] == "nurse -> ehr : https: ALLOWED"
    assert f"{tmp_path / 'p.septum'}:15  allow clinws -> ehr : https" in allowed.stdout
    denied = run_septum("explain", "guest", "ehr", "--path", str(tmp_path))
    assert denied.returncode == 1
    assert denied.stdout.splitlines()[0] == "guest -> ehr: DENIED"
    assert "but reachable in 3 hops: guest -> internet -> dmz -> ehr" in denied.stdout
    assert "covered by " in denied.stdout and "no path from guest to ehr except through dmz" in denied.stdout
    data = run_septum("explain", "clinws", "archive", "--path", str(tmp_path), "--format", "json")
    assert data.returncode == 0
    import json

    report = json.loads(data.stdout)
    assert report["allowed"] and report["datatypes"] == ["ephi"] and report["rules"][0]["location"]["line"] == 16
    unknown = run_septum("explain", "gust", "ehr", "--path", str(tmp_path))
    assert unknown.returncode == 2 and "did you mean 'guest'?" in unknown.stderr


def test_shared_vlan_names_the_first_zone_by_name_not_file_order(tmp_path):
    zones = {"z.septum": "zone alpha { networks 198.18.1.0/24; vlan 10 }\n",
             "a.septum": "zone beta { networks 198.18.2.0/24; vlan 10 }\nallow alpha -> beta : https\n"
                         "service https { tcp 443; encrypted }\n"}
    swapped = {"a.septum": zones["z.septum"], "z.septum": zones["a.septum"]}
    for files, where in ((zones, tmp_path / "one"), (swapped, tmp_path / "two")):
        result = load(where, files)
        [finding] = [d for d in result.diagnostics if d.code == "E304"]
        assert finding.message == "VLAN 10 is used by zone 'beta' and zone 'alpha'"
        assert finding.related[0].message == "zone 'alpha' uses VLAN 10 here"


def test_witnesses_do_not_depend_on_statement_order_with_addresses_and_carve_outs(tmp_path):
    extra = ("allow 198.18.2.0/23 -> printers : dicom carrying ephi\n"
             "allow nurse -> printers, 198.18.6.0/25 : https carrying ephi except to 198.18.6.5\n"
             "allow clinws -> printers : dicom except from nurse\n"
             "allow printers -> guest : https carrying ephi\n"
             "assert g: no path from guest to ehr\nassert p: no path from clinws to guest\n"
             "assert only dmz may connect to printers")
    lines = (BASE + extra).strip().splitlines()
    one = load(tmp_path / "one", {"p.septum": "\n".join(lines)})
    two = load(tmp_path / "two", {"z.septum": "\n".join(lines[::-2]), "a/b.septum": "\n".join(lines[-2::-2])})
    packet_level = {"unassigned-address", "redundant-rule", "empty-flow"}  # their messages name files
    key = lambda r: sorted((d.code, d.message, tuple((h.source, h.destination, h.services) for h in d.path))
                           for d in verify(r.policy, AS_OF, packet_level))
    assert key(one) == key(two)
    assert {code for code, _, _ in key(one)} >= {"E501", "E502", "E504"}
