"""Seeded-mistake variants: the reference hospital with one realistic mistake each, and small
clinics written from scratch. Each must fail `septum check` with exactly the right findings.

A hospital variant is a directory `tests/fixtures/variants/NAME/` holding full copies of the
hospital files it changes (`FILE.septum` replaces `zones/hospital/FILE.septum`), each with the
mistake applied and a comment at the top naming the source. The test copies `zones/` to a
temporary directory, overlays the variant, and runs `septum check --as-of 2026-11-23 --format
json` in a fresh interpreter. It asserts the exit status, every unwaived diagnostic (code, check,
message, file and line; related locations for the seeded findings) and the waived findings:
the variant's findings, plus whatever the untouched reference hospital reports, and nothing else.

A clinic variant (`clinic-*`) is a complete small policy; its seeded rule carries the comment
`# the mistake`, and without that rule the clinic must check clean.

The sources of the mistakes are listed in tests/fixtures/variants/README.md.
"""

from __future__ import annotations

import difflib
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import ROOT, ZONES, run_septum

VARIANTS_DIR = ROOT / "tests" / "fixtures" / "variants"
AS_OF = "2026-11-23"
MISTAKE_MARK = "# the mistake"


@dataclass(frozen=True)
class Finding:
    code: str
    check: str
    file: str  # relative to the checked directory
    line: int
    message: str
    related: tuple[tuple[str, int, str], ...] = ()  # (file, line, message) of each related location

    def key(self):
        return (self.code, self.check, self.file, self.line, self.message)


@dataclass(frozen=True)
class Variant:
    name: str
    family: str
    findings: tuple[Finding, ...]
    unwaived: tuple[tuple, ...] = ()  # reference findings (REFERENCE_WAIVED keys) the mistake un-waives
    extra_waived: tuple[tuple, ...] = ()  # waived findings the mistake adds (keys, as checked)
    xfail: str | None = None  # a known engine bug keeps the variant from passing: the reason


def F(code, check, file, line, message, related=()):
    return Finding(code, check, file, line, message, tuple(related))


H = "hospital/"

# What the reference hospital waives, (code, check, file, line, message): the legacy CT's cleartext
# DICOM, RDP from the jump host, and ePHI through the DMZ brokers (portal, HIE, teleradiology).
DMZ = "ephi can reach zone 'dmz', which is not cleared to hold it: it moves from '{}' over 1 flow"
INTERNET = "ephi can reach zone 'internet', which is not cleared to hold it: it moves from 'ehr' over 2 flows"
CT_DICOM = "assertion 'ephi-encrypted' fails: ephi crosses from modalities to pacs on cleartext dicom"
REFERENCE_WAIVED = sorted([
    ("E503", "only-encrypted", H + "imaging.septum", 64, CT_DICOM),
    ("E513", "legacy-service", H + "infrastructure.septum", 148, "legacy-risk service rdp crosses from mgmt to bms"),
    ("E513", "legacy-service", H + "infrastructure.septum", 151,
     "legacy-risk service rdp crosses from mgmt to modalities"),
    ("E501", "data-flow", H + "perimeter.septum", 80, DMZ.format("ehr")),
    ("E501", "data-flow", H + "perimeter.septum", 85, DMZ.format("integration")),
    ("E501", "data-flow", H + "perimeter.septum", 88, INTERNET),
    ("E501", "data-flow", H + "perimeter.septum", 91, DMZ.format("pacs")),
    ("E501", "data-flow", H + "perimeter.septum", 94, INTERNET),
])

EPHI_ENCRYPTED = (H + "assertions.septum", 55, "required here")

HOSPITAL_VARIANTS = [
    Variant("nursecall-adt-feed", "data flow", (
        F("E501", "data-flow", H + "building.septum", 90,
          "ephi can reach zone 'nursecall', which is not cleared to hold it: it moves from 'integration' over 1 flow"),
    )),
    Variant("corp-temporary-ehr", "lateral path", (
        F("E502", "no-path", H + "assertions.septum", 30,
          "assertion 'corp-separation' fails: corp -> ehr-app01 -> engine01 -> lis01 in 3 hops"),
    )),
    Variant("guest-wifi-printing", "lateral path (untrusted zone)", (
        F("E502", "no-path", H + "assertions.septum", 24,
          "assertion 'guest-isolation' fails: guest -> print01 -> siem01 in 2 hops"),
        F("E510", "untrusted-to-sensitive", H + "clinical.septum", 139,
          "untrusted zone 'guest' reaches 'siem01' without passing a broker: guest -> print01 -> siem01"),
    )),
    Variant("hl7-cleartext-lab-orders", "encryption", (
        F("E503", "only-encrypted", H + "clinical.septum", 126,
          "assertion 'ephi-encrypted' fails: ephi crosses from integration to lab on cleartext hl7-mllp",
          [EPHI_ENCRYPTED]),
    )),
    Variant("biomed-direct-to-pumps", "isolation", (
        F("E504", "only-may-connect", H + "medical-devices.septum", 104,
          "assertion 'pump-isolation' fails: biomed may connect to infusion",
          [(H + "assertions.septum", 38, "asserted here")]),
    )),
    Variant("ntp-carve-out-pumps", "must-reach", (
        F("E505", "require", H + "assertions.septum", 102,
          "'device-time' is not met: no allow rule permits infusion -> ntp01 : ntp",
          [(H + "infrastructure.septum", 131, "this carve-out removes infusion -> ntp01")]),
    )),
    Variant("smb-share-wannacry", "legacy service", (
        F("E503", "only-encrypted", H + "imaging.septum", 89,
          "assertion 'ephi-encrypted' fails: ephi crosses from clinws to pacs on cleartext smb", [EPHI_ENCRYPTED]),
        F("E511", "sensitive-cleartext", H + "imaging.septum", 89,
          "sensitive data in cleartext: credentials crosses from clinws to pacs on cleartext smb",
          [("catalog/datatypes.septum", 19, "required here")]),
        F("E513", "legacy-service", H + "imaging.septum", 89, "legacy-risk service smb crosses from clinws to pacs"),
    )),
    Variant("vnc-monitoring-console", "legacy service", (
        F("E513", "legacy-service", H + "medical-devices.septum", 100,
          "legacy-risk service vnc crosses from biomed to monitoring"),
    )),
    Variant("bacnet-address-typo", "packet-level lint", (
        F("E520", "unassigned-address", H + "building.septum", 77,
          "destination 10.60.8.0/22 is private address space (RFC 1918) that no zone owns"),
    )),
    Variant("ping-carve-out-empties-flow", "packet-level lint", (
        F("E522", "empty-flow", H + "infrastructure.septum", 171,
          "flow allows nothing: `except to` removes its whole destination"),
    )),
    Variant("expired-legacy-ct-waiver", "waivers", (
        F("E506", "expired-waiver", H + "assertions.septum", 66,
          "waiver of ephi-encrypted expired on 2026-03-31 (checked as of 2026-11-23)"),
        F("E503", "only-encrypted", H + "imaging.septum", 64,
          "assertion 'ephi-encrypted' fails: ephi crosses from modalities to pacs on cleartext dicom",
          [(H + "assertions.septum", 63, "required here")]),
    ), unwaived=(("E503", "only-encrypted", H + "imaging.septum", 64, CT_DICOM),)),
    Variant("pacs-on-internet", "internet exposure", (
        F("E502", "no-path", H + "assertions.septum", 24,
          "assertion 'guest-isolation' fails: guest -> internet -> pacs-web in 2 hops"),
        F("E502", "no-path", H + "assertions.septum", 27,
          "assertion 'internet-isolation' fails: internet -> pacs-web in 1 hop"),
        F("E502", "no-path", H + "assertions.septum", 30,
          "assertion 'corp-separation' fails: corp -> dc01 -> internet -> pacs-web -> engine01 -> lis01 in 5 hops"),
        F("E502", "no-path", H + "assertions.septum", 33,
          "assertion 'building-separation' fails: bms -> dc01 -> internet -> pacs-web in 3 hops"),
        F("E501", "data-flow", H + "imaging.septum", 87,
          "ephi can reach zone 'internet', which is not cleared to hold it: it moves from 'pacs' over 1 flow"),
        F("E510", "untrusted-to-sensitive", H + "imaging.septum", 87,
          "untrusted zone 'internet' reaches 'pacs-web' without passing a broker: internet -> pacs-web"),
        F("E512", "internet-inbound", H + "imaging.septum", 87,
          "the internet may connect to 'pacs-web' in zone 'pacs', which is not a broker zone"),
        F("E510", "untrusted-to-sensitive", H + "perimeter.septum", 104,
          "untrusted zone 'guest' reaches 'pacs-web' without passing a broker: guest -> internet -> pacs-web"),
    ), extra_waived=(  # the exposed viewer's ePHI also reaches the DMZ brokers, over the waived partner flows
        ("E501", "data-flow", H + "perimeter.septum", 88, DMZ.format("pacs").replace("1 flow", "2 flows")),
        ("E501", "data-flow", H + "perimeter.septum", 94, DMZ.format("pacs").replace("1 flow", "2 flows")),
    )),
]

CLINICS = [
    Variant("clinic-dental-guest-wifi", "lateral path (untrusted zone)", (
        F("E502", "no-path", "practice.septum", 36,
          "assertion 'waiting-room' fails: waiting-wifi -> desk-printer in 1 hop"),
        F("E510", "untrusted-to-sensitive", "practice.septum", 42,
          "untrusted zone 'waiting-wifi' reaches 'desk-printer' without passing a broker: "
          "waiting-wifi -> desk-printer"),
    )),
    Variant("clinic-dialysis-cloud", "data flow, encryption", (
        F("E501", "data-flow", "unit.septum", 49,
          "treatment-record can reach zone 'internet', which is not cleared to hold it: it moves from 'machines' "
          "over 1 flow"),
        F("E511", "sensitive-cleartext", "unit.septum", 49,
          "sensitive data in cleartext: treatment-record crosses from machines to internet on cleartext hl7v2",
          [("unit.septum", 11, "required here")]),
    )),
    Variant("clinic-imaging-centre", "lateral path (bounded), data flow", (
        F("E501", "data-flow", "flows.septum", 9,
          "study can reach zone 'reception', which is not cleared to hold it: it moves from 'pacs' over 1 flow"),
        F("E502", "no-path", "site.septum", 35,
          "assertion 'scanner-reach' fails: reception -> pacs01 -> ct-console in 2 hops"),
    )),
]


# ---- running septum -------------------------------------------------------------------------


@dataclass
class Report:
    exit_code: int
    unwaived: list[dict] = field(default_factory=list)
    waived: list[dict] = field(default_factory=list)


def check(directory: Path) -> Report:
    """`septum check --as-of AS_OF --format json zones` with `directory` as the working directory."""
    proc = run_septum("check", "--as-of", AS_OF, "--format", "json", "zones", cwd=directory)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["exit_code"] == proc.returncode
    diagnostics = report["diagnostics"]
    return Report(proc.returncode, [d for d in diagnostics if not d.get("waived_by")],
                  [d for d in diagnostics if d.get("waived_by")])


def rel(file: str) -> str:
    assert file.startswith("zones/"), file
    return file[len("zones/"):]


def key(d: dict):
    return (d["code"], d["check"], rel(d["location"]["file"]), d["location"]["line"], d["message"])


def related(d: dict):
    return tuple((rel(r["location"]["file"]), r["location"]["line"], r["message"]) for r in d["related"])


def variant_files(name: str) -> list[Path]:
    files = sorted(p for p in (VARIANTS_DIR / name).iterdir() if p.suffix == ".septum")
    assert files, f"variant {name} changes no file"
    return files


def hospital_tree(tmp_path: Path, name: str | None) -> Path:
    shutil.copytree(ZONES, tmp_path / "zones")
    if name is not None:
        for changed in variant_files(name):
            target = tmp_path / "zones" / "hospital" / changed.name
            assert target.exists(), f"{changed} does not replace a file of zones/hospital/"
            shutil.copyfile(changed, target)
    return tmp_path


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Report:
    return check(hospital_tree(tmp_path_factory.mktemp("reference"), None))


# ---- lines of the reference hospital inside a variant ------------------------------------------


def line_map(original: list[str], changed: list[str]) -> dict[int, int]:
    """1-based line numbers of `original` that survive unchanged in `changed`, and where."""
    mapping: dict[int, int] = {}
    for block in difflib.SequenceMatcher(None, original, changed, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            mapping[block.a + k + 1] = block.b + k + 1
    return mapping


def moved(name: str, finding: tuple) -> tuple:
    """A reference finding as it appears once `name` is overlaid: lines of replaced files move
    (the variant header), also where the message cites `file:line`."""
    maps = {}
    for changed in variant_files(name):
        original = (ZONES / "hospital" / changed.name).read_text().splitlines()
        maps[H + changed.name] = line_map(original, changed.read_text().splitlines())
    code, check_name, file, line, message = finding

    def cite(match):
        cited_file, cited_line = match.group(1), int(match.group(2))
        mapping = maps.get(rel(cited_file))
        return f"{cited_file}:{mapping[cited_line] if mapping else cited_line}"

    message = re.sub(r"(zones/[\w./-]+\.septum):(\d+)", cite, message)
    return (code, check_name, file, maps[file][line] if file in maps else line, message)


# ---- the reference hospital ---------------------------------------------------------------------


def test_reference_hospital_waives_exactly_its_exceptions(reference):
    assert reference.exit_code == 0
    assert sorted(key(d) for d in reference.waived) == REFERENCE_WAIVED


def test_reference_hospital_is_clean(reference):
    assert [key(d) for d in reference.unwaived] == []


# ---- hospital variants -------------------------------------------------------------------------


def params(variants):
    return [pytest.param(v, id=v.name, marks=[pytest.mark.xfail(strict=True, reason=v.xfail)] if v.xfail else [])
            for v in variants]


@pytest.mark.parametrize("variant", params(HOSPITAL_VARIANTS))
def test_hospital_variant_fails_with_exactly_its_findings(tmp_path, reference, variant):
    report = check(hospital_tree(tmp_path, variant.name))
    assert report.exit_code == 1

    # Every unwaived diagnostic: the seeded findings, plus what the reference itself reports.
    expected = {f.key() for f in variant.findings} | {moved(variant.name, key(d)) for d in reference.unwaived}
    got = [key(d) for d in report.unwaived]
    assert len(got) == len(set(got)), got
    assert set(got) == expected

    # The seeded findings' related locations (the assertion, the carve-out, ...).
    by_key = {key(d): d for d in report.unwaived}
    for finding in variant.findings:
        assert related(by_key[finding.key()]) == finding.related, finding.key()

    # Waived: the reference's exceptions, less those the mistake un-waives, plus those it adds.
    expected_waived = [moved(variant.name, w) for w in REFERENCE_WAIVED if w not in variant.unwaived]
    assert sorted(key(d) for d in report.waived) == sorted(expected_waived + list(variant.extra_waived))


@pytest.mark.parametrize("variant", HOSPITAL_VARIANTS, ids=lambda v: v.name)
def test_hospital_variant_is_a_minimal_change(variant):
    """Each changed file is the current reference file, plus a header comment naming the source,
    with one to three lines changed: the fixtures stay in step with zones/hospital/."""
    for changed in variant_files(variant.name):
        original = (ZONES / "hospital" / changed.name).read_text().splitlines()
        lines = changed.read_text().splitlines()
        header = lines.index(original[0])
        assert header > 0 and all(line.startswith("#") for line in lines[:header])
        assert lines[0].startswith(f"# SEEDED MISTAKE ({variant.name})")
        assert any(line.startswith("# Source:") for line in lines[:header]), "the header must cite a source"
        matcher = difflib.SequenceMatcher(None, original, lines[header:], autojunk=False)
        changes = sum(max(i2 - i1, j2 - j1) for op, i1, i2, j1, j2 in matcher.get_opcodes() if op != "equal")
        assert 1 <= changes <= 3, f"{changed}: {changes} changed lines"


# ---- clinics written from scratch -----------------------------------------------------------


def clinic_tree(tmp_path: Path, name: str, with_mistake: bool) -> Path:
    target = tmp_path / "zones"
    shutil.copytree(VARIANTS_DIR / name, target)
    marked = 0
    for path in target.rglob("*.septum"):
        lines = path.read_text().splitlines(keepends=True)
        kept = [line for line in lines if not line.rstrip().endswith(MISTAKE_MARK)]
        marked += len(lines) - len(kept)
        if not with_mistake:
            path.write_text("".join(kept))
    assert marked == 1, f"{name}: mark exactly one rule with '{MISTAKE_MARK}'"
    return tmp_path


@pytest.mark.parametrize("variant", params(CLINICS))
def test_clinic_fails_with_exactly_its_findings(tmp_path, variant):
    report = check(clinic_tree(tmp_path, variant.name, with_mistake=True))
    assert report.exit_code == 1
    assert sorted(key(d) for d in report.unwaived) == sorted(f.key() for f in variant.findings)
    by_key = {key(d): d for d in report.unwaived}
    for finding in variant.findings:
        assert related(by_key[finding.key()]) == finding.related, finding.key()
    assert report.waived == []


@pytest.mark.parametrize("variant", params(CLINICS))
def test_clinic_without_its_mistake_is_clean(tmp_path, variant):
    report = check(clinic_tree(tmp_path, variant.name, with_mistake=False))
    assert (report.exit_code, [key(d) for d in report.unwaived], report.waived) == (0, [], [])


# ---- the fixtures' README -------------------------------------------------------------------


def test_every_variant_is_tested_and_documented():
    names = {v.name for v in HOSPITAL_VARIANTS + CLINICS}
    on_disk = {p.name for p in VARIANTS_DIR.iterdir() if p.is_dir()}
    assert on_disk == names
    readme = (VARIANTS_DIR / "README.md").read_text()
    for name in names:
        assert f"`{name}`" in readme, f"{name} is missing from tests/fixtures/variants/README.md"
