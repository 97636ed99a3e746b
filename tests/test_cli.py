"""The command line through a subprocess, as a user or CI runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, ZONES, run_septum, write_tree
from helpers import BASE


AS_OF = "2026-11-23"  # the hospital's waivers are judged on a fixed day, so the suite is reproducible


def test_reference_hospital_is_clean():
    result = run_septum("check", "--as-of", AS_OF)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no problems (8 waived findings)" in result.stdout


def test_check_json_report():
    result = run_septum("check", str(ZONES), "--format", "json", "--as-of", AS_OF)
    assert result.returncode == 0
    report = json.loads(result.stdout)
    assert report["version"] == 1 and report["exit_code"] == 0
    assert report["summary"]["errors"] == report["summary"]["warnings"] == 0
    assert all(d["waived_by"] for d in report["diagnostics"]) and report["summary"]["waived"] == 8
    assert 15 <= report["summary"]["zones"] <= 21
    assert report["summary"]["flows"] > 30


def test_exit_2_on_input_errors_with_snippet(tmp_path):
    write_tree(tmp_path, {"p.septum": BASE + "allow a -> pacs : https\n"})
    result = run_septum("check", str(tmp_path))
    assert result.returncode == 2
    assert "error[E201]: unknown zone, host or group 'pacs'" in result.stdout
    assert " 7 | allow a -> pacs : https" in result.stdout
    assert "   |            ^^^^" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_exit_1_on_findings_and_json_locations(tmp_path):
    write_tree(tmp_path, {"p.septum": BASE + "zone c { networks 10.0.1.0/25 }\nallow c -> b : https\n"})
    result = run_septum("check", str(tmp_path), "--format", "json")
    assert result.returncode == 1
    [finding] = [d for d in json.loads(result.stdout)["diagnostics"] if d["code"] == "E301"]
    assert finding["code"] == "E301" and finding["severity"] == "error"
    assert finding["location"] == {"file": str(tmp_path / "p.septum"), "line": 7, "column": 19, "end_line": 7,
                                   "end_column": 30}
    assert finding["related"][0]["location"]["line"] == 4


@pytest.mark.parametrize("violating", [False, True])
def test_a_reader_that_stops_early_changes_no_verdict(tmp_path, violating):
    """`septum check | head`: the pipe closes before the report is written; the exit status
    is still the verdict and nothing is printed about the closed pipe."""
    extra = "zone c { networks 10.0.1.0/25 }\nallow c -> b : https\n" if violating else ""
    write_tree(tmp_path, {"p.septum": BASE + extra})
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    child = subprocess.Popen([sys.executable, "-m", "septum", "check", str(tmp_path)], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child.stdout.close()
    stderr = child.stderr.read().decode()
    assert child.wait(timeout=120) == (1 if violating else 0)
    assert stderr == ""


def test_warnings_pass_unless_strict(tmp_path):
    write_tree(tmp_path, {"p.septum": BASE + "service ssh { tcp 22 }\n"})
    assert run_septum("check", str(tmp_path)).returncode == 0
    strict = run_septum("check", str(tmp_path), "--strict")
    assert strict.returncode == 1 and "warning[W401]" in strict.stdout


def test_missing_path_is_an_input_error(tmp_path):
    result = run_septum("check", str(tmp_path / "nope"))
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_graph_json_and_dot():
    as_json = run_septum("graph", "--format", "json")
    assert as_json.returncode == 0
    graph = json.loads(as_json.stdout)
    ids = {n["id"] for n in graph["nodes"]}
    assert "internet" in ids
    assert all(e["source"] in ids and e["target"] in ids for e in graph["edges"])
    assert all(e["span"]["file"].startswith("zones/") for e in graph["edges"])
    dot = run_septum("graph", "--format", "dot")
    assert dot.returncode == 0 and dot.stdout.startswith("digraph septum {")
    assert dot.stdout.count(" -> ") == len(graph["edges"])


def test_graph_output_is_deterministic(tmp_path):
    first = run_septum("graph", "-o", str(tmp_path / "a.dot"))
    second = run_septum("graph", "-o", str(tmp_path / "b.dot"))
    assert first.returncode == second.returncode == 0
    assert (tmp_path / "a.dot").read_bytes() == (tmp_path / "b.dot").read_bytes()


def test_fmt_check_and_rewrite(tmp_path):
    write_tree(tmp_path, {"p.septum": "zone a{networks 10.0.1.0/24;holds ephi}  # keep me\n"
                                      "datatype ephi{sensitivity restricted}\nallow a->a:s\nservice s{tcp 1}\n"})
    check = run_septum("fmt", "--check", str(tmp_path))
    assert check.returncode == 1 and "would reformat" in check.stderr
    assert run_septum("fmt", str(tmp_path)).returncode == 0
    text = (tmp_path / "p.septum").read_text()
    assert "# keep me" in text and "zone a {\n  networks 10.0.1.0/24\n  holds ephi  # keep me\n}" in text
    assert run_septum("fmt", "--check", str(tmp_path)).returncode == 0
    assert run_septum("check", str(tmp_path)).returncode == 0


def test_fmt_leaves_broken_files_alone(tmp_path):
    write_tree(tmp_path, {"p.septum": "zone a { networks }\n"})
    result = run_septum("fmt", str(tmp_path))
    assert result.returncode == 2 and "E001" in result.stderr
    assert (tmp_path / "p.septum").read_text() == "zone a { networks }\n"


def test_reference_hospital_is_formatted():
    result = run_septum("fmt", "--check", str(ZONES))
    assert result.returncode == 0, result.stderr


def test_version_and_module_entry_point():
    from septum import __version__

    result = run_septum("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"septum {__version__}"


@pytest.mark.parametrize("command", [[], ["check"], ["fmt"], ["graph"]])
def test_help(command):
    result = run_septum(*command, "--help")
    assert result.returncode == 0 and "Usage:" in result.stdout
    assert len(result.stdout.splitlines()) > 5


def test_unknown_option_exit_2():
    result = run_septum("check", "--bogus")
    assert result.returncode == 2 and "No such option" in result.stderr


def test_default_path_is_zones_in_cwd():
    result = run_septum("check", "--as-of", AS_OF, cwd=ROOT)
    assert result.returncode == 0


def test_readme_tutorial_mistake(tmp_path):
    """The README's step 2, as written there."""
    import shutil

    copy = tmp_path / "zones"
    shutil.copytree(ZONES, copy)
    imaging = copy / "hospital" / "imaging.septum"
    imaging.write_text(imaging.read_text() + "allow modalites -> pacs : dicom-tls\n")
    result = run_septum("check", str(copy))
    assert result.returncode == 2
    assert "error[E201]: unknown zone, host or group 'modalites'" in result.stdout
    assert "= help: did you mean 'modalities'?" in result.stdout
    readme = (ROOT / "README.md").read_text()
    assert "error[E201]: unknown zone, host or group 'modalites'" in readme


def test_fmt_diff_changes_nothing(tmp_path):
    original = "zone a{networks 10.0.1.0/24}\n"
    write_tree(tmp_path, {"p.septum": original})
    result = run_septum("fmt", "--diff", str(tmp_path))
    assert result.returncode == 1
    assert "+zone a {" in result.stdout and "-zone a{networks 10.0.1.0/24}" in result.stdout
    assert (tmp_path / "p.septum").read_text() == original
