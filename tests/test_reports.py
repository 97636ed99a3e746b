"""CI report formats: SARIF 2.1.0 (validated against the official schema), Markdown, GitHub
workflow annotations, and the commands the GitHub Action runs."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from conftest import ROOT, ZONES, run_septum
from septum import __version__
from septum.compiler import load_policy
from septum.compiler.diagnostics import Diagnostic, Hop, Related
from septum.compiler.model import Span
from septum.compiler.reports import FORMATS, Report, render
from septum.compiler.reports.github import escape_data, escape_property
from septum.compiler.reports.markdown import escape, render_markdown

SCHEMA = json.loads((ROOT / "tests" / "schemas" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
AS_OF = dt.date(2026, 1, 1)  # waiver expiry is judged against a fixed day


def sarif_errors(document: dict) -> list[str]:
    validator = jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
    return [f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(document)]


def report_for(path: str | Path, verify: bool = True) -> Report:
    """What `septum check PATH` reports, built the way the command builds it."""
    result = load_policy(path, graph=False)
    if verify and result.exit_status() != 2:
        from septum.compiler.verify import verify as run_verify

        result.diagnostics = sorted(result.diagnostics + run_verify(result.policy, AS_OF), key=Diagnostic.sort_key)
    return Report(result.diagnostics, result.texts, result.exit_status(), root=str(path))


def sarif(report: Report) -> dict:
    text = render("sarif", report)
    document = json.loads(text)
    assert sarif_errors(document) == []
    return document


# ---- a synthetic report with everything a finding can carry ----------------------------

POLICY = """\
zone guest { networks 10.90.0.0/16; trust untrusted }
zone dmz { networks 10.80.0.0/24; broker }
zone ehr { networks 10.10.0.0/24; holds ephi }
allow guest -> dmz : https
allow dmz -> ehr : https
waive guest-isolation for guest -> ehr
  until 2027-03-31 "kiosk | *pilot* <b>NET-9</b> \\"quoted\\" @alice"
"""
FILE = "site/policy.septum"


def span(line: int, column: int, end_line: int, end_column: int, file: str = FILE) -> Span:
    return Span(file, line, column, end_line, end_column)


HOPS = (
    Hop("guest", "dmz", ("https",), span(4, 1, 4, 26)),
    Hop("dmz", "ehr", ("https", "fhir"), span(5, 1, 5, 24)),
)


def synthetic_report() -> Report:
    lateral = Diagnostic(
        "E502", "assertion 'guest-isolation' fails: guest -> dmz -> ehr in 2 hops", span(4, 1, 4, 26),
        "remove a flow of the chain, or waive it", (Related(span(6, 1, 7, 73), "asserted here"),),
        check="no-path", path=HOPS,
    )
    waived = Diagnostic(
        "E510", "untrusted zone 'guest' reaches 'ehr' without passing a broker: guest -> dmz -> ehr",
        span(5, 1, 5, 24), "route it through a broker zone",
        tuple(Related(h.span, f"{h.source} -> {h.destination}") for h in HOPS),
        check="untrusted-to-sensitive", path=HOPS, waived_by=span(6, 1, 7, 73),
    )
    warning = Diagnostic("W401", "zone 'spare' is defined but never used", span(3, 6, 3, 9),
                         "refer to it from a flow, assertion or device, or remove it")
    return Report([lateral, warning, waived], {FILE: POLICY}, 1, root="site")


# ---- the format registry ----------------------------------------------------------------

def test_every_format_renders():
    assert FORMATS == ("human", "json", "sarif", "markdown", "github")
    report = synthetic_report()
    for fmt in FORMATS:
        assert render(fmt, report).endswith("\n")
    with pytest.raises(ValueError):
        render("xml", report)


# ---- SARIF ------------------------------------------------------------------------------

def test_sarif_clean_run_validates(monkeypatch):
    monkeypatch.chdir(ROOT)
    report = report_for("zones")
    assert report.exit_code == 0
    document = sarif(report)
    assert document["version"] == "2.1.0" and len(document["runs"]) == 1
    run = document["runs"][0]
    assert run["tool"]["driver"]["name"] == "septum"
    assert run["tool"]["driver"]["version"] == __version__
    assert run["invocations"] == [{"executionSuccessful": True, "exitCode": 0}]
    # Clean means no unwaived error: any error the reference hospital has is suppressed by a waiver.
    for result in run["results"]:
        if result["level"] == "error":
            assert result["suppressions"][0]["kind"] == "inSource"
    assert {r["ruleId"] for r in run["results"]} == {rule["id"] for rule in run["tool"]["driver"]["rules"]}


def test_sarif_of_an_empty_report_validates():
    document = sarif(Report([], {"a.septum": ""}, 0))
    run = document["runs"][0]
    assert run["results"] == [] and run["tool"]["driver"]["rules"] == []


def test_sarif_input_errors(monkeypatch):
    monkeypatch.chdir(ROOT)
    report = report_for("tests/golden/names")
    assert report.exit_code == 2
    run = sarif(report)["runs"][0]
    results = run["results"]
    assert [r["ruleId"] for r in results] == [d.code for d in report.diagnostics]
    assert {r["level"] for r in results} == {"error"}
    rules = run["tool"]["driver"]["rules"]
    assert [rule["id"] for rule in rules] == sorted({d.code for d in report.diagnostics})
    assert {rule["id"]: rule["shortDescription"]["text"] for rule in rules}["E201"] == "unknown name"
    for result, diagnostic in zip(results, report.diagnostics):
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["message"]["text"].startswith(diagnostic.message)
        [location] = result["locations"]
        physical = location["physicalLocation"]
        assert physical["artifactLocation"] == {"uri": diagnostic.span.file, "uriBaseId": "%SRCROOT%"}
        s = diagnostic.span
        assert physical["region"] == {"startLine": s.line, "startColumn": s.column, "endLine": s.end_line,
                                      "endColumn": s.end_column}
    duplicate = next(r for r in results if r["ruleId"] == "E202")
    [related] = duplicate["relatedLocations"]
    assert related["id"] == 0 and related["message"]["text"] == "'ehr' is first defined here"
    assert related["physicalLocation"]["region"]["startLine"] == 3


def test_sarif_witness_path_related_and_waiver():
    report = synthetic_report()
    run = sarif(report)["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [rule["id"] for rule in rules] == ["no-path", "untrusted-to-sensitive", "W401"]  # by code
    by_id = {rule["id"]: rule for rule in rules}
    assert by_id["no-path"]["shortDescription"]["text"] == "assertion violated: path exists"
    assert by_id["no-path"]["fullDescription"]["text"].startswith("An `assert no path from X to Y`")
    assert by_id["no-path"]["defaultConfiguration"] == {"level": "error"}
    assert by_id["W401"]["defaultConfiguration"] == {"level": "warning"}

    lateral, warning, waived = run["results"]
    assert (lateral["ruleId"], lateral["level"]) == ("no-path", "error")
    assert (warning["ruleId"], warning["level"]) == ("W401", "warning")
    assert (waived["ruleId"], waived["level"]) == ("untrusted-to-sensitive", "error")  # keeps its level
    assert "suppressions" not in lateral and "suppressions" not in warning
    assert lateral["message"]["text"] == ("assertion 'guest-isolation' fails: guest -> dmz -> ehr in 2 hops\n"
                                          "help: remove a flow of the chain, or waive it")

    [flow] = lateral["codeFlows"]
    assert flow["message"]["text"] == "witness: guest -> dmz -> ehr"
    [thread] = flow["threadFlows"]
    steps = thread["locations"]
    assert [s["location"]["message"]["text"] for s in steps] == ["guest -> dmz : https", "dmz -> ehr : https, fhir"]
    assert [s["location"]["physicalLocation"]["region"]["startLine"] for s in steps] == [4, 5]
    assert [s["executionOrder"] for s in steps] == [1, 2]
    assert steps[0]["location"]["physicalLocation"]["artifactLocation"] == {"uri": FILE, "uriBaseId": "%SRCROOT%"}

    assert [r["id"] for r in waived["relatedLocations"]] == [0, 1]
    [suppression] = waived["suppressions"]
    assert suppression["kind"] == "inSource" and suppression["status"] == "accepted"
    assert suppression["justification"] == 'waived until 2027-03-31: kiosk | *pilot* <b>NET-9</b> "quoted" @alice'
    assert suppression["location"]["physicalLocation"]["region"] == {
        "startLine": 6, "startColumn": 1, "endLine": 7, "endColumn": 73}


def test_sarif_is_deterministic_and_sorted():
    report = synthetic_report()
    first, second = render("sarif", report), render("sarif", synthetic_report())
    assert first == second
    document = json.loads(first)
    assert first == json.dumps(document, indent=2, sort_keys=True) + "\n"
    assert first.isascii()


def test_sarif_uris():
    texts = {}
    diagnostics = [
        Diagnostic("E301", "x", Span("zones/my site/a#1.septum", 1, 1, 1, 2)),
        Diagnostic("E301", "y", Span("<septum>/catalog/clinical.septum", 2, 1, 2, 5)),
        Diagnostic("E301", "z", Span("/srv/zones/b.septum", 3, 1, 3, 5)),
        Diagnostic("E004", "cannot read", None, "check the file"),
    ]
    run = sarif(Report(diagnostics, texts, 2))["runs"][0]
    artifacts = [r.get("locations", [{}])[0].get("physicalLocation", {}).get("artifactLocation")
                 for r in run["results"]]
    assert artifacts == [
        {"uri": "zones/my%20site/a%231.septum", "uriBaseId": "%SRCROOT%"},
        {"uri": "catalog/clinical.septum", "uriBaseId": "SEPTUMCATALOG"},
        {"uri": "file:///srv/zones/b.septum"},
        None,
    ]
    assert set(run["originalUriBaseIds"]) == {"%SRCROOT%", "SEPTUMCATALOG"}


# ---- Markdown ---------------------------------------------------------------------------

def test_markdown_summary():
    text = render("markdown", synthetic_report())
    lines = text.splitlines()
    assert lines[0] == "## Septum: 1 finding, 1 warning, 1 waived finding"
    assert "Result: **failed** (exit status 1): policy findings." in lines[2]
    assert "| `no-path` | E502 | error | 1 | 0 |" in lines
    assert "| `untrusted-to-sensitive` | E510 | error | 1 | 1 |" in lines
    assert "| unused definition | W401 | warning | 1 | 0 |" in lines
    assert "### `no-path` (E502): assertion violated: path exists" in lines
    # The witness path: one numbered line per hop, with the allow statement's line.
    assert "  1. guest -> dmz : https (site/policy.septum:4)" in lines
    assert "  2. dmz -> ehr : https, fhir (site/policy.septum:5)" in lines
    assert "  - help: remove a flow of the chain, or waive it" in lines
    assert "  - note at site/policy.septum:6:1: asserted here" in lines
    # Notes that only repeat the witness path's hops are not listed again.
    assert "note at site/policy.septum:4:1" not in text
    assert "- **waived** at site/policy.septum:5:1:" in text
    # Groups follow code order: W401 after E502 and E510.
    assert text.index("(E502)") < text.index("(E510)") < text.index("### W401")


def test_markdown_escapes_user_text():
    assert escape("a|b") == r"a\|b"
    assert escape("*x* _y_ `z` [l](u) #h ~s~ $m$ \\") == r"\*x\* \_y\_ \`z\` \[l\]\(u\) \#h \~s\~ \$m\$ \\"
    assert escape("<img src=x onerror=alert(1)> & co") == r"&lt;img src=x onerror=alert\(1\)> &amp; co"
    assert escape("ping @alice\nnext") == "ping @&#8203;alice next"
    text = render("markdown", synthetic_report())
    assert "<b>" not in text and "&lt;b>NET-9&lt;/b>" in text
    assert r"kiosk \| \*pilot\*" in text and "@&#8203;alice" in text and "@alice" not in text


def test_markdown_keeps_code_spans_of_help_lines():
    diagnostic = Diagnostic("W402", "service 'x|y' names no protocol", Span("p.septum", 1, 1, 1, 2),
                            "add a protocol clause such as `tcp 443` to 'a_b'")
    text = render("markdown", Report([diagnostic], {"p.septum": ""}, 0))
    assert r"service 'x\|y' names no protocol" in text
    assert r"help: add a protocol clause such as `tcp 443` to 'a\_b'" in text


def test_markdown_clean_run(monkeypatch):
    monkeypatch.chdir(ROOT)
    text = render("markdown", Report([], {"a.septum": "", "b.septum": ""}, 0))
    assert text == "## Septum: no problems\n\nResult: **passed** (exit status 0). 2 files checked.\n"


def test_markdown_is_capped_for_github_comments():
    diagnostics = [
        Diagnostic("E301", f"network {i} overlaps " + "x" * 300, Span(f"z/f{i:04}.septum", i + 1, 1, i + 1, 5),
                   "split the range")
        for i in range(1000)
    ]
    text = render("markdown", Report(diagnostics, {}, 1))
    assert len(text) <= 65_536
    match = re.search(r"\*(\d+) more diagnostics are not shown \(1000 in all\)", text)
    assert match
    shown = text.count("- **error** at ")
    assert shown + int(match.group(1)) == 1000 and shown > 100
    assert "| overlapping zone networks | E301 | error | 1000 | 0 |" in text
    small = render_markdown(Report(diagnostics[:3], {}, 1), limit=1200)
    assert len(small) <= 1200 and "more diagnostic" in small


# ---- GitHub annotations -----------------------------------------------------------------

def test_github_annotations():
    lines = render("github", synthetic_report()).splitlines()
    assert lines[0] == (
        "::error file=site/policy.septum,line=4,col=1,endLine=4,endColumn=25,title=E502 no-path::"
        "assertion 'guest-isolation' fails: guest -> dmz -> ehr in 2 hops%0Awitness path:%0A"
        "  1. guest -> dmz : https (site/policy.septum:4)%0A  2. dmz -> ehr : https, fhir (site/policy.septum:5)%0A"
        "note at site/policy.septum:6:1: asserted here%0Ahelp: remove a flow of the chain, or waive it"
    )
    assert lines[1] == (
        "::warning file=site/policy.septum,line=3,col=6,endLine=3,endColumn=8,title=W401 unused definition::"
        "zone 'spare' is defined but never used%0Ahelp: refer to it from a flow, assertion or device, or remove it"
    )
    assert lines[2].startswith("::notice file=site/policy.septum,line=5,col=1,endLine=5,endColumn=23,"
                               "title=E510 untrusted-to-sensitive (waived)::")
    assert lines[2].endswith("%0Awaived until 2027-03-31: kiosk | *pilot* <b>NET-9</b> \"quoted\" @alice "
                             "(site/policy.septum:6:1)")
    assert lines[3].startswith("septum: ")
    assert len(lines) == 4


def test_github_escaping():
    assert escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert escape_property("a:b,c%d\ne") == "a%3Ab%2Cc%25d%0Ae"
    diagnostic = Diagnostic("E201", "unknown zone 'x'\n::error::forged 50%", Span("dir,1/f:2.septum", 2, 3, 4, 1))
    [line, _summary] = render("github", Report([diagnostic], {}, 2)).splitlines()
    # A multi-line span gets no columns (GitHub allows columns only within one line).
    assert line == ("::error file=dir%2C1/f%3A2.septum,line=2,endLine=4,title=E201 unknown name::"
                    "unknown zone 'x'%0A::error::forged 50%25")


# ---- the GitHub Action's commands, run as the action runs them --------------------------

ACTION = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
EXPRESSION = re.compile(r"^\$\{\{\s*(.*?)\s*\}\}$")


def _evaluate(value: str, context: dict[str, str]) -> str:
    """The few expressions action.yml uses in `env:` — `a.b || c.d` of context names."""
    match = EXPRESSION.match(str(value))
    if not match:
        assert "${{" not in str(value), value
        return str(value)
    for operand in match.group(1).split("||"):
        operand = operand.strip()
        assert re.fullmatch(r"[A-Za-z_][\w.-]*", operand), f"unsupported expression in action.yml: {value}"
        if context.get(operand):
            return context[operand]
    return ""


def _septum_shim(directory: Path) -> Path:
    """`septum` and `python` on PATH that run this interpreter, as setup-python and `pip install`
    of the action would provide them."""
    directory.mkdir()
    for name, command in (("septum", f'"{sys.executable}" -m septum'), ("python", f'"{sys.executable}"')):
        shim = directory / name
        shim.write_text(f'#!/bin/sh\nexec {command} "$@"\n')
        shim.chmod(0o755)
    return directory


def run_action(workspace: Path, tmp: Path, **inputs: str) -> tuple[int, dict[str, subprocess.CompletedProcess]]:
    """Run the `run:` steps of action.yml in order, like a composite action: each with
    `bash --noprofile --norc -eo pipefail`, its `env:`, and the GITHUB_* files. Setting up
    Python and `pip install` of the action are already done (this interpreter, editable);
    `uses:` steps (setup-python, upload-sarif) are GitHub's. Stops at the first failing step."""
    bin_dir = _septum_shim(tmp / "bin")
    output, summary = tmp / "github_output", tmp / "step_summary"
    output.touch()
    summary.touch()
    context = {"github.action_path": str(ROOT)}
    for name, spec in ACTION["inputs"].items():
        context[f"inputs.{name}"] = str(inputs.get(name.replace("-", "_"), spec.get("default", "")))
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "GITHUB_"))}
    base_env.update(PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", GITHUB_OUTPUT=str(output),
                    GITHUB_STEP_SUMMARY=str(summary), GITHUB_WORKSPACE=str(workspace))
    results: dict[str, subprocess.CompletedProcess] = {}
    status = 0
    for step in ACTION["runs"]["steps"]:
        if "run" not in step or step.get("id") == "install":
            continue
        assert step["shell"] == "bash"
        env = dict(base_env)
        env.update({key: _evaluate(value, context) for key, value in step.get("env", {}).items()})
        before = output.read_text()
        completed = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                                   cwd=workspace, env=env, capture_output=True, text=True, timeout=300)
        results[step.get("id") or step["name"]] = completed
        for line in output.read_text()[len(before):].splitlines():
            key, _, value = line.partition("=")
            context[f"steps.{step.get('id')}.outputs.{key}"] = value
        status = completed.returncode
        if status != 0:
            break
    results["summary"] = subprocess.CompletedProcess([], 0, summary.read_text(), "")
    return status, results


def _cli_has_ci_formats() -> bool:
    help_text = run_septum("check", "--help").stdout
    return all(fmt in help_text for fmt in ("sarif", "markdown", "github"))


needs_ci_formats = pytest.mark.skipif(not _cli_has_ci_formats(), reason="septum check --format sarif not wired yet")


def test_action_definition():
    steps = ACTION["runs"]["steps"]
    assert ACTION["runs"]["using"] == "composite"
    assert {"path", "base", "python-version"} <= set(ACTION["inputs"])
    assert ACTION["inputs"]["path"]["default"] == "zones"
    uses = [step["uses"].split("@")[0] for step in steps if "uses" in step]
    assert uses == ["actions/setup-python", "github/codeql-action/upload-sarif"]
    upload = next(step for step in steps if "upload-sarif" in step.get("uses", ""))
    assert upload["with"]["sarif_file"] == "${{ steps.prepare.outputs.upload-file }}"
    install = next(step for step in steps if step.get("id") == "install")
    assert "pip install" in install["run"] and install["env"]["SEPTUM_ACTION_PATH"] == "${{ github.action_path }}"
    scripts = "\n".join(step.get("run", "") for step in steps)
    for command in ("--format sarif", "--format github", "--format markdown", "septum diff --base"):
        assert command in scripts
    for step in steps:  # inputs reach scripts through env only (no script injection)
        assert "${{" not in step.get("run", ""), step["name"]
    assert steps[-1]["run"].strip().endswith('exit "$SEPTUM_EXIT"')


def test_pre_commit_hooks():
    hooks = {hook["id"]: hook for hook in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert hooks["septum-check"]["entry"] == "septum check"
    assert hooks["septum-fmt"]["entry"] == "septum fmt --check"
    for hook in hooks.values():
        assert hook["language"] == "python" and hook["pass_filenames"] is False
        assert re.search(hook["files"], "zones/hospital/imaging.septum")
        assert not re.search(hook["files"], "README.md")


def _workspace(tmp_path: Path) -> Path:
    workspace = tmp_path / "repo"
    shutil.copytree(ZONES, workspace / "zones")
    return workspace


@needs_ci_formats
def test_action_on_the_reference_hospital(tmp_path):
    workspace = _workspace(tmp_path)
    status, steps = run_action(workspace, tmp_path, args=f"--as-of {AS_OF.isoformat()}")
    assert status == 0, {name: (r.returncode, r.stdout[-2000:], r.stderr[-2000:]) for name, r in steps.items()}
    document = json.loads((workspace / "septum.sarif").read_text())
    assert sarif_errors(document) == []
    assert all("suppressions" in result for result in document["runs"][0]["results"] if result["level"] == "error")
    assert any("suppressions" in result for result in document["runs"][0]["results"])  # the hospital's waivers
    # What is uploaded to code scanning leaves the waived findings out (code scanning would open alerts).
    uploaded = json.loads((workspace / "septum.upload.sarif").read_text())
    assert sarif_errors(uploaded) == []
    assert not any("suppressions" in result for result in uploaded["runs"][0]["results"])
    assert "::error " not in steps["Annotate"].stdout
    assert steps["summary"].stdout.startswith("## Septum: ")
    assert "no base revision" in steps["Semantic diff against the base"].stdout


@needs_ci_formats
def test_action_on_a_failing_copy(tmp_path):
    workspace = _workspace(tmp_path)
    imaging = workspace / "zones" / "hospital" / "imaging.septum"
    imaging.write_text(imaging.read_text() + "\nzone shadow-pacs { networks 10.30.0.0/25 }\n")
    status, steps = run_action(workspace, tmp_path, args=f"--as-of {AS_OF.isoformat()}")
    assert status == 1, {name: (r.returncode, r.stdout[-2000:], r.stderr[-2000:]) for name, r in steps.items()}
    assert steps["check"].returncode == 0  # findings do not stop the steps; the last one fails
    document = json.loads((workspace / "septum.sarif").read_text())
    assert sarif_errors(document) == []
    [overlap] = [r for r in document["runs"][0]["results"] if r["ruleId"] == "E301"]
    assert overlap["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "zones/hospital/imaging.septum", "uriBaseId": "%SRCROOT%"}
    assert "::error file=zones/hospital/imaging.septum," in steps["Annotate"].stdout
    assert "| overlapping zone networks | E301 | error |" in steps["summary"].stdout
    uploaded = json.loads((workspace / "septum.upload.sarif").read_text())
    assert "E301" in {result["ruleId"] for result in uploaded["runs"][0]["results"]}


def _git_workspace(tmp_path: Path) -> Path:
    """A copy of the reference hospital committed to a fresh git repository (the PR's base)."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    workspace = _workspace(tmp_path)
    git_env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "base"]):
        subprocess.run(["git", *command], cwd=workspace, env=git_env, check=True, capture_output=True)
    return workspace


@needs_ci_formats
def test_action_on_a_pull_request_that_opens_a_path(tmp_path):
    workspace = _git_workspace(tmp_path)
    perimeter = workspace / "zones" / "hospital" / "perimeter.septum"
    perimeter.write_text(perimeter.read_text() + '\nallow guest -> pacs-web : https "kiosk image viewer"\n')
    line = perimeter.read_text().splitlines().index('allow guest -> pacs-web : https "kiosk image viewer"') + 1
    status, steps = run_action(workspace, tmp_path, base="HEAD", args=f"--as-of {AS_OF.isoformat()}")
    assert status == 1, {name: (r.returncode, r.stdout[-2000:], r.stderr[-2000:]) for name, r in steps.items()}
    document = json.loads((workspace / "septum.upload.sarif").read_text())
    assert sarif_errors(document) == []
    new = [r for r in document["runs"][0]["results"]
           if any(step["location"]["physicalLocation"]["region"]["startLine"] == line
                  and step["location"]["physicalLocation"]["artifactLocation"]["uri"] == "zones/hospital/perimeter.septum"
                  for flow in r.get("codeFlows", []) for step in flow["threadFlows"][0]["locations"])]
    assert new and {r["level"] for r in new} == {"error"}  # the guest Wi-Fi now reaches imaging
    assert f"(zones/hospital/perimeter.septum:{line})" in steps["summary"].stdout  # the witness hop
    diff = steps["Semantic diff against the base"]
    assert diff.returncode == 0
    if run_septum("diff", "--help").returncode == 0:
        assert "guest -> pacs-web" in diff.stdout
        assert "::warning" not in diff.stdout


@needs_ci_formats
def test_action_on_input_errors_with_a_base_revision(tmp_path):
    workspace = _git_workspace(tmp_path)
    imaging = workspace / "zones" / "hospital" / "imaging.septum"
    imaging.write_text(imaging.read_text() + "\nallow modalites -> pacs : dicom-tls\n")
    status, steps = run_action(workspace, tmp_path, base="HEAD", args=f"--as-of {AS_OF.isoformat()}")
    assert status == 2, {name: (r.returncode, r.stdout[-2000:], r.stderr[-2000:]) for name, r in steps.items()}
    assert sarif_errors(json.loads((workspace / "septum.sarif").read_text())) == []
    assert "::error file=zones/hospital/imaging.septum," in steps["Annotate"].stdout
    # The diff step ran (or, where `septum diff` is missing or fails, warned) and did not fail the job.
    diff = steps["Semantic diff against the base"]
    assert diff.returncode == 0
    assert "::stop-commands::" in diff.stdout
