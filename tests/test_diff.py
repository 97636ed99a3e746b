"""`septum diff`: the semantic diff of two revisions, through the API and the command line."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT, ZONES, run_septum, write_tree
from helpers import examples
from septum.compiler.diff import DiffInputError, diff_paths, diff_revisions, render_human, render_markdown, to_json
from septum.compiler.parser import parse_text
from septum.compiler.printer import format_file

AS_OF = dt.date(2026, 11, 23)

DEFS = """\
datatype ephi { sensitivity restricted }

datatype pii { sensitivity confidential }

service https { tcp 443; carries pii; encrypted }

service ssh { tcp 22; encrypted }

service dicom { tcp 104; carries ephi }

zone a { networks 10.0.1.0/24; holds ephi, pii; tags red }

zone b { networks 10.0.2.0/24; holds pii; tags red }

zone c { networks 10.0.3.0/24; holds pii }

host a1 in a { address 10.0.1.10 }

host c1 in c { address 10.0.3.10 }
"""

FLOWS = """\
allow a -> b : https "NET-1"

allow b -> c1 : ssh

allow tag:red -> c : https, ssh
"""


def policy(root: Path, flows: str = FLOWS, defs: str = DEFS, **extra: str) -> Path:
    return write_tree(root, {"defs.septum": defs, "flows.septum": flows, **extra})


def pair(tmp_path: Path, old_flows: str, new_flows: str, old_defs: str = DEFS, new_defs: str = DEFS, **kwargs):
    old = policy(tmp_path / "old", old_flows, old_defs)
    new = policy(tmp_path / "new", new_flows, new_defs)
    return diff_paths(old, new, **{"as_of": AS_OF, **kwargs})


def triples(entries) -> list[tuple[str, str, str]]:
    return [(e.source, e.destination, e.service) for e in entries]


# ---- flows ---------------------------------------------------------------------------------------


def test_identical_policies_have_an_empty_diff(tmp_path):
    result = pair(tmp_path, FLOWS, FLOWS)
    assert result.empty and result.exit_code() == 0
    assert "no semantic change" in render_human(result)


def test_flow_added_cites_the_new_allow(tmp_path):
    result = pair(tmp_path, FLOWS, FLOWS + "\nallow c1 -> a1 : dicom log\n")
    assert triples(result.flows_added) == [("c1", "a1", "dicom")]
    [added] = result.flows_added
    assert (added.source_kind, added.destination_kind) == ("host", "host")
    assert added.facts.datatypes == ("ephi",) and added.facts.log
    [rule] = added.facts.rules
    assert (rule.file, rule.line) == ("flows.septum", 7)
    assert not result.flows_removed and not result.flows_changed
    assert result.exit_code() == 1 and result.exit_code(exit_zero=True) == 0
    assert "+ c1 -> a1 : dicom (carrying ephi; log)  [" in render_human(result)
    assert str(tmp_path / "new" / "flows.septum") + ":7" in render_human(result)


def test_flow_removed_cites_the_old_allow(tmp_path):
    result = pair(tmp_path, FLOWS, FLOWS.replace('allow a -> b : https "NET-1"\n', ""))
    assert triples(result.flows_removed) == [("a", "b", "https")]
    assert result.flows_removed[0].facts.rules[0].line == 1
    assert result.flows_removed[0].covered_by is None
    assert not result.flows_added


def test_host_triple_removed_but_still_allowed_through_its_zone(tmp_path):
    result = pair(tmp_path, FLOWS, FLOWS.replace("allow b -> c1 : ssh\n", ""))
    [removed] = result.flows_removed
    assert (removed.source, removed.destination, removed.service) == ("b", "c1", "ssh")
    assert removed.covered_by == ("b", "c")
    assert "- b -> c1 : ssh  [was" in render_human(result) and "still allowed as part of b -> c" in render_human(result)


def test_changed_service_is_one_removed_and_one_added(tmp_path):
    result = pair(tmp_path, FLOWS, FLOWS.replace("allow b -> c1 : ssh", "allow b -> c1 : https"))
    assert triples(result.flows_added) == [("b", "c1", "https")]
    assert triples(result.flows_removed) == [("b", "c1", "ssh")]


def test_whole_endpoint_carve_out_removes_its_triples(tmp_path):
    result = pair(tmp_path, FLOWS, FLOWS.replace("allow tag:red -> c : https, ssh",
                                                 "allow tag:red -> c : https, ssh except from b"))
    assert triples(result.flows_removed) == [("b", "c", "https"), ("b", "c", "ssh")]
    assert not result.flows_added and not result.flows_changed


def test_partial_carve_out_is_a_changed_flow(tmp_path):
    result = pair(tmp_path, FLOWS, FLOWS.replace("allow tag:red -> c : https, ssh",
                                                 "allow tag:red -> c : https, ssh except from a1"))
    assert not result.flows_added and not result.flows_removed
    assert triples(result.flows_changed) == [("a", "c", "https"), ("a", "c", "ssh")]
    change = result.flows_changed[0]
    assert change.old.except_from == () and change.new.except_from == ("a1",)
    assert "except from a1" in render_human(result)


def test_carve_out_covered_by_another_allow_changes_nothing(tmp_path):
    old = FLOWS + "\nallow a -> c : https\n"
    new = old.replace("allow tag:red -> c : https, ssh", "allow tag:red -> c : https, ssh except from a1")
    result = pair(tmp_path, old, new)
    # a -> c : https is still allowed whole by the second statement; only ssh loses a1
    assert triples(result.flows_changed) == [("a", "c", "ssh")]


def test_redundant_allow_removed_changes_no_flow(tmp_path):
    old = FLOWS + "\nallow a -> c : https\n"
    result = pair(tmp_path, old, FLOWS)
    assert not result.flows_added and not result.flows_removed and not result.flows_changed


def test_group_membership_change_shows_as_flows_and_definition(tmp_path):
    old_defs = DEFS + "\ngroup servers = a1\n"
    new_defs = DEFS + "\ngroup servers = a1, c1\n"
    flows = FLOWS + "\nallow b -> servers : dicom\n"
    result = pair(tmp_path, flows, flows, old_defs, new_defs)
    assert triples(result.flows_added) == [("b", "c1", "dicom")]
    [change] = result.definitions_changed
    assert (change.kind, change.name) == ("group", "servers")
    assert change.changes == (("members", "a1", "a1, c1"),)


# ---- data reach ----------------------------------------------------------------------------------


def test_data_type_newly_reaching_a_zone(tmp_path):
    result = pair(tmp_path, FLOWS, FLOWS.replace("allow b -> c1 : ssh", "allow b -> c1 : ssh carrying ephi"))
    reached = [(r.place, r.datatype, r.cleared) for r in result.reach_added]
    assert reached == [("b", "ephi", False), ("c", "ephi", False)]
    assert not result.reach_removed
    [change] = result.flows_changed
    assert (change.old.datatypes, change.new.datatypes) == ((), ("ephi",))
    assert "+ ephi reaches zone b (not cleared to hold it)" in render_human(result)


def test_data_type_no_longer_reaching(tmp_path):
    old = FLOWS + "\nallow a1 -> c1 : dicom\n"
    result = pair(tmp_path, old, FLOWS)
    assert [(r.place, r.datatype) for r in result.reach_removed] == [("a", "ephi"), ("c", "ephi")]


# ---- verdicts ------------------------------------------------------------------------------------


ASSERTIONS = """\
assert c-isolation: no path from c to zones holding ephi

require keep-https: a -> b : https
"""


def test_assertion_broken_by_a_new_flow(tmp_path):
    old = FLOWS + "\n" + ASSERTIONS
    result = pair(tmp_path, old, old + "\nallow c -> a : https\n")
    added = {(v.check, v.code) for v in result.verdicts_added}
    assert ("no-path", "E502") in added
    assert all(v.status == "error" for v in result.verdicts_added if v.code == "E502")
    assert not result.verdicts_removed


def test_requirement_broken_by_a_removed_flow_and_mirror(tmp_path):
    old = FLOWS + "\n" + ASSERTIONS
    new = old.replace('allow a -> b : https "NET-1"\n', "")
    forward = pair(tmp_path / "f", old, new)
    assert ("require", "E505") in {(v.check, v.code) for v in forward.verdicts_added}
    backward = pair(tmp_path / "b", new, old)
    assert ("require", "E505") in {(v.check, v.code) for v in backward.verdicts_removed}


def test_waiver_changes_a_verdict_status(tmp_path):
    old = FLOWS + "\n" + ASSERTIONS + "\nallow c -> a : https\n"
    new = old + '\nwaive c-isolation for c -> a : https until 2027-01-31 "vendor migration, NET-9"\n'
    result = pair(tmp_path, old, new)
    changed = [(c.code, c.old.status, c.new.status) for c in result.verdicts_changed]
    assert ("E502", "error", "waived") in changed
    assert [(d.kind, d.name) for d in result.definitions_added] == [
        ("waiver", "c-isolation for c -> a : https")]
    # judged on a day after the expiry, the waiver no longer accepts the finding
    later = pair(tmp_path / "later", old, new, as_of=dt.date(2027, 2, 1))
    assert ("E502", "error", "waived") not in [(c.code, c.old.status, c.new.status) for c in later.verdicts_changed]


def test_check_findings_are_verdicts_too(tmp_path):
    new_defs = DEFS + "\nzone d { networks 10.0.3.0/25 }\n\nallow d -> a : https\n"
    result = pair(tmp_path, FLOWS, FLOWS, DEFS, new_defs)
    assert ("E301", "error") in {(v.code, v.status) for v in result.verdicts_added}


def test_no_verify_compares_only_check_findings(tmp_path):
    old = FLOWS + "\n" + ASSERTIONS
    result = pair(tmp_path, old, old + "\nallow c -> a : https\n", verify=False)
    assert not {v.code for v in result.verdicts_added} & {"E502", "E501"}
    assert triples(result.flows_added) == [("c", "a", "https")]


# ---- definitions ---------------------------------------------------------------------------------


def test_definitions_added_removed_and_changed(tmp_path):
    new_defs = (DEFS.replace("zone c { networks 10.0.3.0/24; holds pii }",
                             'zone c { networks 10.0.3.0/24, 10.0.4.0/24; holds pii; description "now bigger" }')
                .replace("host a1 in a { address 10.0.1.10 }\n", "")
                + "\nservice rdp { tcp 3389; legacy }\n\nallow b -> c : rdp\n")
    result = pair(tmp_path, FLOWS, FLOWS.replace("allow b -> c1 : ssh", "allow b -> c1 : ssh"), DEFS, new_defs)
    assert [(d.kind, d.name) for d in result.definitions_added] == [("service", "rdp")]
    assert [(d.kind, d.name) for d in result.definitions_removed] == [("host", "a1")]
    [zone] = result.definitions_changed
    assert zone.changes == (("networks", "10.0.3.0/24", "10.0.3.0/24, 10.0.4.0/24"),)


def test_descriptions_and_justifications_are_not_meaning(tmp_path):
    new_defs = DEFS.replace("zone c { networks 10.0.3.0/24; holds pii }",
                            'zone c { description "third"; holds pii; networks 10.0.3.0/24 }')
    result = pair(tmp_path, FLOWS, FLOWS.replace('"NET-1"', '"NET-2, re-approved"'), DEFS, new_defs)
    assert result.empty


# ---- layout never matters -----------------------------------------------------------------------


def _chunks(text: str) -> list[str]:
    return [c for c in text.split("\n\n") if c.strip()]


def shuffled_tree(source: Path, target: Path, seed: int, reformat: bool = True) -> Path:
    """Copy a policy tree, moving top-level statements between its files in a random order.

    `use` statements stay in their file (moving `use hospital.x` into hospital/x.septum would
    make a cycle); comments travel with their statement. Some files are then formatted.
    """
    rng = random.Random(seed)
    shutil.copytree(source, target)
    files = sorted(p for p in target.rglob("*.septum") if "catalog" not in p.relative_to(target).parts)
    kept: dict[Path, list[str]] = {f: [] for f in files}
    pool: list[str] = []
    for file in files:
        for chunk in _chunks(file.read_text()):
            code = [line for line in chunk.splitlines() if line.strip() and not line.lstrip().startswith("#")]
            (kept[file] if not code or code[0].startswith("use ") else pool).append(chunk)
    rng.shuffle(pool)
    for chunk in pool:
        kept[rng.choice(files)].append(chunk)
    for file, chunks in kept.items():
        text = "\n\n".join(chunks) + "\n"
        if reformat and rng.random() < 0.5:
            source_file, diagnostics, _ = parse_text(str(file), text)
            assert not diagnostics, diagnostics
            text = format_file(source_file)
        file.write_text(text)
    return target


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_reference_hospital_shuffled_and_reformatted_is_no_change(tmp_path, seed):
    moved = shuffled_tree(ZONES, tmp_path / "zones", seed)
    result = diff_paths(ZONES, moved, as_of=AS_OF)
    assert result.empty, render_human(result)


@pytest.mark.parametrize("seed", [7, 11])
def test_layout_never_changes_a_real_diff(tmp_path, seed):
    """diff(A, B) == diff(shuffle(A), shuffle(B)) with verification running on both sides."""
    old = tmp_path / "old"
    shutil.copytree(ZONES, old)
    new = tmp_path / "new"
    shutil.copytree(ZONES, new)
    imaging = new / "hospital" / "imaging.septum"
    text = imaging.read_text()
    assert "allow clinws -> pacs-web : dicomweb" in text
    imaging.write_text(text.replace("allow clinws -> pacs-web : dicomweb", "allow clinws, guest -> pacs-web : dicomweb"))
    plain = diff_paths(old, new, as_of=AS_OF)
    moved = diff_paths(shuffled_tree(old, tmp_path / "old2", seed), shuffled_tree(new, tmp_path / "new2", seed + 1),
                       as_of=AS_OF)
    assert meaning(plain) == meaning(moved)
    assert ("guest", "pacs-web", "dicomweb") in triples(plain.flows_added)
    assert any(v.check == "no-path" for v in plain.verdicts_added)


# ---- hypothesis: random small policies ----------------------------------------------------------


ZONE_NAMES = ["z0", "z1", "z2", "z3"]
HOST_NAMES = {"z0": ["h0"], "z1": ["h1"], "z2": [], "z3": ["h3"]}
SELECTABLE = ZONE_NAMES + ["h0", "h1", "h3", "tag:red", "tag:blue", "zones holding ephi", "192.0.2.0/24",
                           "10.0.0.128/25"]
SERVICES = ["https", "ssh", "dicom", "smb"]

RANDOM_DEFS = [
    "datatype ephi { sensitivity restricted }",
    "datatype pii { sensitivity confidential }",
    "service https { tcp 443; carries pii; encrypted }",
    "service ssh { tcp 22; encrypted }",
    "service dicom { tcp 104; carries ephi }",
    "service smb { tcp 445; legacy }",
]


@st.composite
def random_policies(draw) -> list[str]:
    """The statements of a small valid policy: fixed zones and services, random flows and intent."""
    return draw(random_definitions()) + draw(random_intent())


@st.composite
def random_definitions(draw) -> list[str]:
    statements = list(RANDOM_DEFS)
    for index, zone in enumerate(ZONE_NAMES):
        holds = draw(st.sampled_from(["", "ephi", "pii", "ephi, pii"])) if index else "ephi"
        tags = "red" if index == 0 else "blue" if index == 1 else draw(st.sampled_from(["", "red", "blue"]))
        trust = draw(st.sampled_from(["internal", "restricted", "untrusted"]))
        clauses = [f"networks 10.0.{index}.0/24", f"trust {trust}"]
        if holds:
            clauses.append(f"holds {holds}")
        if tags:
            clauses.append(f"tags {tags}")
        statements.append(f"zone {zone} {{ {'; '.join(clauses)} }}")
        for host in HOST_NAMES[zone]:
            statements.append(f"host {host} in {zone} {{ address 10.0.{index}.10 }}")
    return statements


@st.composite
def random_intent(draw) -> list[str]:
    statements = []
    selectors = st.lists(st.sampled_from(SELECTABLE), min_size=1, max_size=2, unique=True).map(", ".join)
    for _ in range(draw(st.integers(1, 7))):
        source, destination = draw(selectors), draw(selectors)
        services = ", ".join(draw(st.lists(st.sampled_from(SERVICES), min_size=1, max_size=2, unique=True)))
        text = f"allow {source} -> {destination} : {services}"
        if draw(st.booleans()):
            text += " carrying pii"
        if draw(st.integers(0, 3)) == 0:
            text += f" except from {draw(st.sampled_from(['h0', 'h1', 'z1', 'tag:blue']))}"
        if draw(st.integers(0, 3)) == 0:
            text += f" except to {draw(st.sampled_from(['h3', 'z2', '10.0.0.128/25']))}"
        if draw(st.booleans()):
            text += " log"
        statements.append(text)
    if draw(st.booleans()):
        statements.append("assert iso: no path from tag:blue to zones holding ephi")
        if draw(st.booleans()):
            statements.append('waive iso for z1 -> z0 until 2027-01-01 "migration"')
    if draw(st.booleans()):
        statements.append("assert enc: ephi crosses zones only encrypted")
    if draw(st.booleans()):
        statements.append("require keep: z1 -> z0 : https")
    return statements


def write_statements(root: Path, statements: list[str], files: int = 1, seed: int | None = None) -> Path:
    """Write statements into `files` files, shuffled with `seed` (None: in order, one file)."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    statements = list(statements)
    rng = random.Random(seed)
    if seed is not None:
        rng.shuffle(statements)
    buckets: list[list[str]] = [[] for _ in range(files)]
    for statement in statements:
        buckets[rng.randrange(files) if seed is not None else 0].append(statement)
    for index, bucket in enumerate(buckets):
        text = "\n\n".join(bucket) + "\n"
        if seed is not None and rng.random() < 0.5:
            source, diagnostics, _ = parse_text("x.septum", text)
            assert not diagnostics
            text = format_file(source)
        (root / f"part{index}.septum").write_text(text)
    return root


def meaning(diff) -> dict:
    """A diff without positions: what it says, not where it was written."""
    return {
        "flows_added": [(e.source, e.destination, e.service, e.facts.meaning()) for e in diff.flows_added],
        "flows_removed": [(e.source, e.destination, e.service, e.facts.meaning()) for e in diff.flows_removed],
        "flows_changed": [(c.source, c.destination, c.service, c.old.meaning(), c.new.meaning())
                          for c in diff.flows_changed],
        "reach_added": [(r.place, r.datatype, r.cleared) for r in diff.reach_added],
        "reach_removed": [(r.place, r.datatype, r.cleared) for r in diff.reach_removed],
        "verdicts_added": sorted((v.check or "", v.code, v.status) for v in diff.verdicts_added),
        "verdicts_removed": sorted((v.check or "", v.code, v.status) for v in diff.verdicts_removed),
        "verdicts_changed": sorted((c.code, c.old.status, c.new.status) for c in diff.verdicts_changed),
        "definitions": [(d.kind, d.name, d.fields) for d in diff.definitions_added + diff.definitions_removed],
    }


PROPERTY_SETTINGS = settings(max_examples=examples(25), deadline=None,
                             suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(random_policies())
def test_property_diff_of_a_policy_with_itself_is_empty(tmp_path, statements):
    root = write_statements(tmp_path / "a", statements)
    result = diff_paths(root, root, as_of=AS_OF)
    assert result.empty and not result.has_errors, render_human(result)


@PROPERTY_SETTINGS
@given(random_policies(), random_policies())
def test_property_diff_is_the_mirror_of_the_reverse_diff(tmp_path, first, second):
    a = write_statements(tmp_path / "a", first)
    b = write_statements(tmp_path / "b", second)
    forward, backward = diff_paths(a, b, as_of=AS_OF), diff_paths(b, a, as_of=AS_OF)
    assert not forward.has_errors, render_human(forward)
    assert forward.flows_added == backward.flows_removed
    assert forward.flows_removed == backward.flows_added
    assert [(c.source, c.destination, c.service, c.old, c.new) for c in forward.flows_changed] == \
        [(c.source, c.destination, c.service, c.new, c.old) for c in backward.flows_changed]
    assert forward.reach_added == backward.reach_removed and forward.reach_removed == backward.reach_added
    assert forward.verdicts_added == backward.verdicts_removed
    assert forward.verdicts_removed == backward.verdicts_added
    assert [(c.code, c.message, c.old, c.new) for c in forward.verdicts_changed] == \
        [(c.code, c.message, c.new, c.old) for c in backward.verdicts_changed]
    assert forward.definitions_added == backward.definitions_removed
    assert [(c.kind, c.name, c.changes) for c in forward.definitions_changed] == \
        [(c.kind, c.name, tuple((f, n, o) for f, o, n in c.changes)) for c in backward.definitions_changed]
    assert forward.empty == backward.empty == (first == second or forward.empty)


@PROPERTY_SETTINGS
@given(random_definitions(), random_intent(), random_intent(), st.data())
def test_property_incremental_diff_equals_the_full_diff(tmp_path, definitions, first, other, data):
    """With the same definitions, the diff expands only the `allow`s that differ: same answer."""
    kept = data.draw(st.lists(st.booleans(), min_size=len(first), max_size=len(first)))
    second = [s for s, keep in zip(first, kept) if keep] + other[:data.draw(st.integers(0, len(other)))]
    a = write_statements(tmp_path / "a", definitions + first)
    b = write_statements(tmp_path / "b", definitions + second)
    fast = diff_paths(a, b, as_of=AS_OF)
    full = diff_paths(a, b, as_of=AS_OF, incremental=False)
    assert to_json(fast) == to_json(full)


@PROPERTY_SETTINGS
@given(random_definitions(), random_definitions(), random_intent(), random_intent(), random_intent())
def test_property_incremental_diff_equals_the_full_diff_when_definitions_change(
        tmp_path, old_definitions, new_definitions, common, first, second):
    """A changed zone, host or tag changes what unchanged `allow`s mean: still the full answer.

    The unchanged `allow`s are in a file equal on both sides (parsed once, the same objects).
    """
    common = [s for s in common if s.startswith("allow")]
    a = write_tree(tmp_path / "a", {"defs.septum": "\n".join(old_definitions) + "\n",
                                    "common.septum": "\n".join(common) + "\n", "own.septum": "\n".join(first) + "\n"})
    b = write_tree(tmp_path / "b", {"defs.septum": "\n".join(new_definitions) + "\n",
                                    "common.septum": "\n".join(common) + "\n", "own.septum": "\n".join(second) + "\n"})
    fast = diff_paths(a, b, as_of=AS_OF)
    full = diff_paths(a, b, as_of=AS_OF, incremental=False)
    assert to_json(fast) == to_json(full)


@PROPERTY_SETTINGS
@given(random_policies())
def test_property_allow_canonical_form_written_out_is_the_generic_one(tmp_path, statements):
    from septum.compiler.api import load_policy
    from septum.compiler.semdiff.canonical import fields_of, flow_canonical

    policy = load_policy(write_statements(tmp_path / "a", statements), graph=False).policy
    for flow in policy.flows:
        assert flow_canonical(flow) == fields_of(flow)


@PROPERTY_SETTINGS
@given(random_policies(), st.integers(1, 4), st.integers(0, 2**16))
def test_property_reordering_moving_and_reformatting_is_no_change(tmp_path, statements, files, seed):
    a = write_statements(tmp_path / "a", statements)
    b = write_statements(tmp_path / "b", statements, files=files, seed=seed)
    result = diff_paths(a, b, as_of=AS_OF)
    assert result.empty, render_human(result)


@PROPERTY_SETTINGS
@given(random_policies(), random_policies(), st.integers(1, 3), st.integers(0, 2**16))
def test_property_layout_never_changes_what_a_diff_says(tmp_path, first, second, files, seed):
    plain = diff_paths(write_statements(tmp_path / "a", first), write_statements(tmp_path / "b", second),
                       as_of=AS_OF)
    moved = diff_paths(write_statements(tmp_path / "c", first, files=files, seed=seed),
                       write_statements(tmp_path / "d", second, files=files, seed=seed + 1), as_of=AS_OF)
    assert without_witnesses(plain) == without_witnesses(moved)


def without_witnesses(diff) -> dict:
    """What a diff says, with verdicts compared as net counts per (check, code, status).

    Verification names a witness in some messages (`...: h3 -> z0`), and which of several equal
    witnesses it names, or which of several equal flows redundant-rule reports, still depends on
    the order of statements; so here verdicts are compared by how many appear and disappear.
    """
    from collections import Counter

    said = meaning(diff)
    net = Counter((v.check or "", v.code, v.status) for v in diff.verdicts_added)
    net.subtract(Counter((v.check or "", v.code, v.status) for v in diff.verdicts_removed))
    for change in diff.verdicts_changed:
        net[(change.check or "", change.code, change.new.status)] += 1
        net[(change.check or "", change.code, change.old.status)] -= 1
    said.update(verdicts_added=None, verdicts_removed=None, verdicts_changed=None,
                verdicts_net=sorted((k, v) for k, v in net.items() if v and k[0] != "redundant-rule"))
    return said


# ---- the command line ----------------------------------------------------------------------------


def septum_diff(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`septum diff ...` in a fresh interpreter (the command module directly until cli.py registers it)."""
    from septum.compiler.cli import main

    if "diff" in getattr(main, "commands", {}):
        return run_septum("diff", *args, cwd=cwd)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    return subprocess.run([sys.executable, "-m", "septum.compiler.cli_diff", *args], cwd=cwd or ROOT,
                          capture_output=True, text=True, env=env, timeout=120)


def test_cli_no_change_exits_0(tmp_path):
    old, new = policy(tmp_path / "old"), policy(tmp_path / "new")
    done = septum_diff(str(old), str(new), "--as-of", "2026-11-23")
    assert done.returncode == 0, done.stderr
    assert "septum diff: no semantic change" in done.stdout


def test_cli_changes_exit_1_in_every_format(tmp_path):
    old = policy(tmp_path / "old")
    new = policy(tmp_path / "new", FLOWS + "\nallow c1 -> a1 : dicom\n")
    human = septum_diff(str(old), str(new), "--as-of", "2026-11-23")
    assert human.returncode == 1, human.stderr
    assert "Flows newly allowed:" in human.stdout and "+ c1 -> a1 : dicom (carrying ephi)" in human.stdout
    assert f"{new}/flows.septum:7" in human.stdout
    assert "Traceback" not in human.stderr

    report = septum_diff(str(old), str(new), "--format", "json", "--as-of", "2026-11-23")
    assert report.returncode == 1
    document = json.loads(report.stdout)
    assert list(document) == ["version", "exit_code", "old", "new", "changed", "summary", "errors", "flows", "reach",
                              "verdicts", "definitions", "notes"]
    assert document["version"] == 1 and document["exit_code"] == 1 and document["changed"] is True
    [added] = document["flows"]["added"]
    assert added["source"] == {"name": "c1", "kind": "host"} and added["service"] == "dicom"
    assert added["rules"] == [{"file": f"{new}/flows.septum", "line": 7, "column": 1}]
    assert document["summary"]["flows_added"] == 1

    markdown = septum_diff(str(old), str(new), "--format", "markdown", "--as-of", "2026-11-23")
    assert markdown.returncode == 1
    assert "```diff" in markdown.stdout and "+ c1 -> a1 : dicom (carrying ephi)" in markdown.stdout
    assert "| flows (source, destination, service) | 1 | 0 | 0 |" in markdown.stdout

    assert septum_diff(str(old), str(new), "--exit-zero").returncode == 0


def test_cli_input_errors_exit_2_and_name_the_side(tmp_path):
    old = policy(tmp_path / "old")
    new = policy(tmp_path / "new", FLOWS + "\nallow a -> pacs : https\n")
    done = septum_diff(str(old), str(new))
    assert done.returncode == 2
    assert "NEW side" in done.stderr and "error[E201]: unknown zone, host or group 'pacs'" in done.stderr
    assert f"{new}/flows.septum:7:" in done.stderr
    assert "Traceback" not in done.stderr
    report = json.loads(septum_diff(str(new), str(old), "--format", "json").stdout)
    assert report["exit_code"] == 2 and report["errors"]["old"][0]["code"] == "E201" and not report["errors"]["new"]
    # --exit-zero never hides input errors
    assert septum_diff(str(old), str(new), "--exit-zero").returncode == 2


@pytest.mark.parametrize("args, message", [
    ((), "give two paths"),
    (("only-one",), "give two paths"),
    (("--head", "HEAD", "a", "b"), "--head needs --base"),
    (("--base", "HEAD", "a", "b"), "at most one PATH"),
    (("a", "b", "--as-of", "tomorrow"), "--as-of"),
    (("a", "b", "--disable", "no-such-check"), "unknown check"),
])
def test_cli_bad_arguments_exit_2(args, message):
    done = septum_diff(*args)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


def test_cli_missing_path_exits_2(tmp_path):
    done = septum_diff(str(tmp_path / "nope"), str(policy(tmp_path / "new")))
    assert done.returncode == 2 and "does not exist" in done.stderr


# ---- git revisions -------------------------------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    policy(root / "zones")
    (root / "README").write_text("not a zone file\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "first")
    (root / "zones" / "flows.septum").write_text(FLOWS + "\nallow c1 -> a1 : dicom\n")
    git(root, "commit", "-qam", "second: c1 may send images to a1")
    return root


def test_cli_base_revision_against_head_and_working_tree(repo):
    done = septum_diff("--base", "HEAD~1", "zones", "--format", "json", cwd=repo)
    assert done.returncode == 1, done.stderr
    document = json.loads(done.stdout)
    assert document["old"] == {"path": "zones", "revision": "HEAD~1"}
    assert document["new"] == {"path": "zones", "revision": None}
    assert [(f["source"]["name"], f["destination"]["name"], f["service"]) for f in document["flows"]["added"]] == [
        ("c1", "a1", "dicom")]
    assert document["flows"]["added"][0]["rules"][0]["file"] == "zones/flows.septum"

    # PATH defaults to zones; HEAD against the unchanged working tree is no change
    same = septum_diff("--base", "HEAD", cwd=repo)
    assert same.returncode == 0 and "no semantic change" in same.stdout

    # two revisions; the working tree is not read
    (repo / "zones" / "flows.septum").write_text("this is not a policy")
    both = septum_diff("--base", "HEAD~1", "--head", "HEAD", "zones", cwd=repo)
    assert both.returncode == 1 and "+ c1 -> a1 : dicom" in both.stdout
    assert "zones @ HEAD~1 -> zones @ HEAD" in both.stdout
    broken = septum_diff("--base", "HEAD", "zones", cwd=repo)
    assert broken.returncode == 2 and "NEW side" in broken.stderr


def test_cli_base_revision_from_another_directory(repo, tmp_path):
    done = septum_diff("--base", "HEAD~1", str(repo / "zones"), cwd=tmp_path)
    assert done.returncode == 1 and "+ c1 -> a1 : dicom" in done.stdout
    moved = septum_diff("--base", "HEAD~1", ".", cwd=repo / "zones")
    assert moved.returncode == 1 and "+ c1 -> a1 : dicom" in moved.stdout


def test_api_revisions_and_moves_between_commits(repo):
    text = (repo / "zones" / "flows.septum").read_text()
    (repo / "zones" / "flows.septum").unlink()
    write_tree(repo / "zones", {f"part{i}.septum": chunk for i, chunk in enumerate(_chunks(text))})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "split the flows into one file each")
    assert diff_revisions(repo / "zones", "HEAD~1", "HEAD", as_of=AS_OF).empty
    assert triples(diff_revisions(repo / "zones", "HEAD~2", as_of=AS_OF).flows_added) == [("c1", "a1", "dicom")]


@pytest.mark.parametrize("args, message", [
    (("--base", "no-such-rev", "zones"), "unknown revision 'no-such-rev'"),
    (("--base", "HEAD", "elsewhere"), "elsewhere does not exist in revision 'HEAD'"),
    (("--base", "--help", "zones"), "not a revision"),
])
def test_cli_bad_revisions_exit_2(repo, args, message):
    done = septum_diff(*args, cwd=repo)
    assert done.returncode == 2, done.stdout
    assert message in done.stderr and "Traceback" not in done.stderr


def test_cli_not_a_git_repository_exits_2(tmp_path):
    policy(tmp_path / "zones")
    done = septum_diff("--base", "HEAD", "zones", cwd=tmp_path)
    assert done.returncode == 2 and "not inside a git repository" in done.stderr


def test_api_errors_are_diff_input_errors(tmp_path):
    with pytest.raises(DiffInputError):
        diff_paths(tmp_path / "missing", tmp_path)


def test_markdown_and_json_of_an_empty_diff(tmp_path):
    result = pair(tmp_path, FLOWS, FLOWS)
    assert "No semantic change" in render_markdown(result)
    document = to_json(result)
    assert document["changed"] is False and document["exit_code"] == 0
    assert all(not v for section in ("flows", "reach", "verdicts", "definitions") for v in document[section].values())


def test_parallel_and_sequential_agree(tmp_path):
    old = tmp_path / "old"
    shutil.copytree(ZONES, old)
    new = shuffled_tree(ZONES, tmp_path / "new", 4)
    imaging = new / "hospital"
    for file in imaging.glob("*.septum"):
        file.write_text(file.read_text().replace("allow clinws -> pacs-web : dicomweb", "allow clinws -> pacs-web : https"))
    sequential = diff_paths(old, new, as_of=AS_OF, parallel=False)
    if not hasattr(os, "fork"):
        pytest.skip("no fork on this platform")
    parallel = diff_paths(old, new, as_of=AS_OF, parallel=True)
    assert to_json(sequential) == to_json(parallel)
    assert not sequential.empty


def test_parallel_and_sequential_agree_on_changed_definitions_and_reordering(tmp_path):
    if not hasattr(os, "fork"):
        pytest.skip("no fork on this platform")
    old = tmp_path / "old"
    shutil.copytree(ZONES, old)
    retagged = tmp_path / "retagged"
    shutil.copytree(ZONES, retagged)
    perimeter = retagged / "hospital" / "perimeter.septum"
    text = perimeter.read_text()
    assert text.count("  vlan 999\n  trust untrusted\n  tags perimeter\n") == 1
    # guest now holds a log source: `allow tag:log-source -> siem01 : syslog-tls` reaches it, unchanged
    perimeter.write_text(text.replace("  vlan 999\n  trust untrusted\n  tags perimeter\n",
                                      "  vlan 999\n  trust untrusted\n  tags perimeter, log-source\n"))
    for new in (retagged, shuffled_tree(retagged, tmp_path / "new", 3)):
        results = [diff_paths(old, new, as_of=AS_OF, parallel=parallel) for parallel in (False, True)]
        assert to_json(results[0]) == to_json(results[1])
        assert ("guest", "siem01", "syslog-tls") in triples(results[0].flows_added)
    moved = [diff_paths(old, shuffled_tree(old, tmp_path / f"moved{p}", 5), as_of=AS_OF, parallel=p) for p in (False, True)]
    assert moved[0].empty and moved[1].empty


def test_a_failure_in_the_forked_side_is_reported(tmp_path, monkeypatch):
    if not hasattr(os, "fork"):
        pytest.skip("no fork on this platform")
    from septum.compiler.semdiff import workers

    def broken(*args, **kwargs):
        raise ValueError("boom")

    monkeypatch.setattr(workers, "describe", broken)  # the child inherits it
    old, new = policy(tmp_path / "old"), policy(tmp_path / "new", FLOWS + "\nallow c1 -> a1 : dicom\n")
    with pytest.raises(RuntimeError, match="analysing the OLD side failed(.|\n)*ValueError: boom"):
        diff_paths(old, new, as_of=AS_OF, parallel=True)


def test_septum_diff_jobs_forces_or_forbids_the_fork(monkeypatch):
    from septum.compiler.semdiff import run
    from septum.compiler.semdiff.spare import IdleMeter

    meter = IdleMeter()
    monkeypatch.setenv("SEPTUM_DIFF_JOBS", "1")
    assert not run._worth_forking(10**9, meter)
    monkeypatch.setenv("SEPTUM_DIFF_JOBS", "2")
    assert run._worth_forking(0, meter)
    monkeypatch.delenv("SEPTUM_DIFF_JOBS")
    assert not run._worth_forking(run.PARALLEL_BYTES - 1, meter)  # too small to pay, idle or not
    assert meter.spare() >= 0.0


def test_the_same_model_on_both_sides_is_not_verified(tmp_path, monkeypatch):
    from septum.compiler.semdiff import summary

    verified = []
    original = summary.verification
    monkeypatch.setattr(summary, "verification", lambda policy, *a: verified.append(policy) or original(policy, *a))
    moved = shuffled_tree(ZONES, tmp_path / "zones", 11)
    assert diff_paths(ZONES, moved, as_of=AS_OF, parallel=False).empty
    assert verified == []
    changed = tmp_path / "changed"
    shutil.copytree(ZONES, changed)
    imaging = changed / "hospital" / "imaging.septum"
    imaging.write_text(imaging.read_text().replace("allow clinws -> pacs-web : dicomweb", "allow clinws -> pacs-web : https"))
    assert not diff_paths(ZONES, changed, as_of=AS_OF, parallel=False).empty
    assert len(verified) == 2


def test_files_equal_on_both_sides_are_parsed_once(tmp_path, monkeypatch):
    from septum.compiler import loader

    parsed: list[str] = []
    original = loader.parse_text

    def counting(path, text):
        parsed.append(path)
        return original(path, text)

    monkeypatch.setattr(loader, "parse_text", counting)
    old = policy(tmp_path / "old")
    new = policy(tmp_path / "new", FLOWS + "\nallow c1 -> a1 : dicom\n")
    result = diff_paths(old, new, as_of=AS_OF)
    assert triples(result.flows_added) == [("c1", "a1", "dicom")]
    assert sorted(parsed) == ["defs.septum", "flows.septum", "flows.septum"]
