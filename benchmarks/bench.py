#!/usr/bin/env python3
"""Septum benchmarks: wall time and peak memory of `septum check` and its phases.

For each scenario (the reference hospital in zones/, and synthetic policies of
growing size made by tests/synthetic.py) this measures, each in a fresh
subprocess so that peak memory is per scenario:

  (a) the whole `python -m septum check PATH` command, interpreter start
      included: wall time and the child's peak RSS (from os.wait4);
  (b) the phases in-process through the Python API: parse, resolve (validate)
      and graph, and the peak RSS of that process.

Synthetic policies are generated into a temporary directory before timing.
A Markdown table goes to stdout (or JSON with --json); budgets are marked
PASS / OVER.

    python benchmarks/bench.py            # all scenarios
    python benchmarks/bench.py --quick    # the small ones only
    python benchmarks/bench.py --json > figures.json
    python benchmarks/bench.py --only diff10k   # `septum diff` of two 10k-flow revisions (< 3 s)

`septum compile` (time on top of check, ruleset sizes, nft load time and per-packet cost beside a
flat encoding) is measured by benchmarks/compile_bench.py, which reuses this module's runner.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
MB = 1024 * 1024

# name, label, zones, flows, budgets, quick
# budgets: check_s = wall of the whole `septum check` command; check_mb = its peak RSS
SCENARIOS = [
    # budgets of the full `septum check` (verification included): issue 3
    ("hospital", "reference hospital", None, None, {"check_s": 1.0}, True),
    ("z100", "100 zones, 1k flows", 100, 1_000, {}, True),
    ("z1k", "1k zones, 1k flows", 1_000, 1_000, {}, True),
    ("z10k", "10k zones, 1k flows", 10_000, 1_000, {}, False),
    ("f10k", "1k zones, 10k flows", 1_000, 10_000, {"check_s": 2.0}, False),
    ("f100k", "1k zones, 100k flows", 1_000, 100_000, {"check_s": 20.0, "check_mb": 1024}, False),
]

# Runs in a fresh interpreter: time the API phases, print one JSON line.
# Adapts to the API that exists: load_policy(path) -> result with .timings
# ('parse', 'resolve', 'graph') and .diagnostics; build_graph(policy) if the
# graph phase is not already in the timings.
PHASES_CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import septum.compiler as C
t_import = time.perf_counter() - t0
path = sys.argv[1]
out = {"import": t_import}
t1 = time.perf_counter()
res = C.load_policy(path)
out["load"] = time.perf_counter() - t1
timings = dict(getattr(res, "timings", None) or {})
policy = getattr(res, "policy", None)
graph = getattr(res, "graph", None)
if "graph" not in timings and hasattr(C, "build_graph") and policy is not None:
    t2 = time.perf_counter()
    graph = C.build_graph(policy)
    timings["graph"] = time.perf_counter() - t2
out["edges"] = graph.number_of_edges() if hasattr(graph, "number_of_edges") else None
out["timings"] = {k: float(v) for k, v in timings.items()}
diags = list(getattr(res, "diagnostics", None) or [])
out["diagnostics"] = len(diags)
sev = {}
for d in diags:
    s = str(getattr(d, "severity", "?"))
    s = s.rsplit(".", 1)[-1].lower()
    sev[s] = sev.get(s, 0) + 1
out["severity"] = sev
out["sample"] = [str(d)[:200] for d in diags[:5]]
out["rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print("BENCH-JSON " + json.dumps(out))
"""


def _child_env(shim: pathlib.Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(shim), env.get("PYTHONPATH", "")) if p)
    env.pop("PYTHONSTARTUP", None)
    return env


def _make_shim(tmp: pathlib.Path) -> pathlib.Path:
    """A directory on PYTHONPATH where `septum` is importable.

    The repository root is itself the `septum` package; if it is not
    installed, link it under its package name.
    """
    shim = tmp / "shim"
    shim.mkdir()
    probe = subprocess.run([sys.executable, "-c", "import septum, os; print(os.path.dirname(septum.__file__))"],
                           capture_output=True, text=True, cwd=tmp)
    if probe.returncode != 0 or pathlib.Path(probe.stdout.strip()).resolve() != REPO:
        (shim / "septum").symlink_to(REPO, target_is_directory=True)
    return shim


def _run(cmd: list[str], env: dict, cwd: pathlib.Path, timeout: float) -> dict:
    """Run cmd, returning wall seconds, the child's own peak RSS, rc and output."""
    out_f = tempfile.TemporaryFile()
    err_f = tempfile.TemporaryFile()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=out_f, stderr=err_f, env=env, cwd=cwd)
    deadline = t0 + timeout
    while True:
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            proc.kill()
            pid, status, ru = os.wait4(proc.pid, 0)
            break
        time.sleep(0.002)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    out_f.seek(0)
    err_f.seek(0)
    return {
        "wall": wall,
        "rss": ru.ru_maxrss * 1024,  # Linux: KiB
        "rc": proc.returncode,
        "stdout": out_f.read().decode("utf-8", "replace"),
        "stderr": err_f.read().decode("utf-8", "replace"),
        "timed_out": wall > timeout,
    }


def _cold(env: dict, cwd: pathlib.Path) -> dict:
    """The environment with a new, empty parse cache directory."""
    return {**env, "SEPTUM_CACHE_DIR": tempfile.mkdtemp(prefix="parse-cache-", dir=cwd)}


def _load_synthetic():
    spec = importlib.util.spec_from_file_location("septum_synthetic", REPO / "tests" / "synthetic.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _reference_path() -> pathlib.Path:
    # the whole tree: hospital modules `use` each other by their path under zones/
    return REPO / "zones"


def measure(name, label, path, counts, budgets, env, cwd, repeat, warmup, timeout) -> dict:
    check_cmd = [sys.executable, "-m", "septum", "check", str(path)]
    phases_cmd = [sys.executable, "-c", PHASES_CHILD, str(path)]
    row = {"scenario": name, "label": label, "path": str(path), **counts}
    for _ in range(warmup):
        _run(check_cmd, _cold(env, cwd), cwd, timeout)
    # cold: an empty parse cache each run (every file new, as on a fresh CI machine); budgets judge this
    checks = [_run(check_cmd, _cold(env, cwd), cwd, timeout) for _ in range(repeat)]
    # warm: the parse cache filled by earlier runs (a re-check, or CI that keeps ~/.cache/septum)
    warm_env = _cold(env, cwd)
    for _ in range(2):  # the first run marks large files, the second writes their entries
        _run(check_cmd, warm_env, cwd, timeout)
    warm = [_run(check_cmd, warm_env, cwd, timeout) for _ in range(repeat)]
    row["check_warm_s"] = statistics.median(c["wall"] for c in warm)
    row["check_warm_mb"] = max(c["rss"] for c in warm) / MB
    row["check_s"] = statistics.median(c["wall"] for c in checks)
    row["check_s_min"] = min(c["wall"] for c in checks)
    row["check_mb"] = max(c["rss"] for c in checks) / MB
    row["check_rc"] = checks[-1]["rc"]
    row["check_timed_out"] = any(c["timed_out"] for c in checks)
    # exit 0 clean, 1 policy findings, 2 input errors, 3 internal error (a crash)
    row["check_crashed"] = any(c["rc"] == 3 or "Traceback (most recent call last)" in c["stderr"]
                               or "septum: internal error" in c["stderr"] for c in checks)
    tail = (checks[-1]["stdout"] + checks[-1]["stderr"]).strip().splitlines()
    row["check_output_lines"] = len(tail)
    row["check_output_tail"] = tail[-5:]

    phases = []
    for _ in range(repeat):
        r = _run(phases_cmd, _cold(env, cwd), cwd, timeout)
        line = next((l for l in r["stdout"].splitlines() if l.startswith("BENCH-JSON ")), None)
        if line is None:
            row["phases_error"] = (r["stderr"].strip().splitlines() or ["no output"])[-1][:300]
            break
        data = json.loads(line[len("BENCH-JSON "):])
        data["child_rss"] = r["rss"]
        phases.append(data)
    if phases:
        keys = sorted({k for p in phases for k in p["timings"]})
        row["phases_s"] = {k: statistics.median(p["timings"].get(k, 0.0) for p in phases) for k in keys}
        row["import_s"] = statistics.median(p["import"] for p in phases)
        row["load_s"] = statistics.median(p["load"] for p in phases)
        row["phases_mb"] = max(max(p["rss"], p["child_rss"]) for p in phases) / MB
        row["edges"] = phases[-1].get("edges")
        row["diagnostics"] = phases[-1]["diagnostics"]
        row["severity"] = phases[-1]["severity"]
        row["diagnostic_sample"] = phases[-1]["sample"]

    verdicts = {}
    ran = not (row["check_timed_out"] or row["check_crashed"])
    for key, limit in budgets.items():
        value = row.get(key)
        verdicts[key] = {"limit": limit, "value": value, "ran": ran,
                         "ok": ran and value is not None and value < limit}
    row["budgets"] = verdicts
    return row


def _fmt_s(v):
    return "—" if v is None else (f"{v:.3f}" if v < 10 else f"{v:.1f}")


def count(v) -> str:
    return "—" if v is None else f"{v:,}"


def compile_table(rows: list[dict], devices: str = "devices") -> list[str]:
    """The compile benchmarks' first table (compile_bench.py, cisco_bench.py, openflow_bench.py):
    `septum check` and `septum compile` per scenario, and the budgets."""
    out = [f"| scenario | {devices} | `septum check` s | check RSS MB | `septum compile` s | compile RSS MB "
           "| compile − check s | budget |", "|---|--:|--:|--:|--:|--:|--:|---|"]
    for r in rows:
        budget = []
        for key, v in r["budgets"].items():
            what = "compile − check" if key == "extra_s" else "compile RSS"
            unit = " s" if key == "extra_s" else " MB"
            verdict = ("PASS" if v["ok"] else "OVER") if v["ran"] else "FAIL (did not run)"
            budget.append(f"{what} < {v['limit']:g}{unit}: {verdict}")
        rc = r["compile_rc"]
        out.append(f"| {r['label']} | {r['written']} of {r['devices']} | {_fmt_s(r['check_s'])}"
                   f"{'' if r['check_rc'] == 0 else ' (rc ' + str(r['check_rc']) + ')'} | {r['check_mb']:.0f} "
                   f"| {_fmt_s(r['compile_s'])}{'' if rc == 0 else ' (rc ' + str(rc) + ')'} | {r['compile_mb']:.0f} "
                   f"| {_fmt_s(r['extra_s'])} | {'; '.join(budget) or '—'} |")
    return out


def _fmt_mb(v):
    return "—" if v is None else f"{v:.0f}"


def markdown(rows: list[dict], meta: dict) -> str:
    out = [f"Septum benchmarks — Python {meta['python']} on {meta['platform']}, "
           f"{meta['cpus']} CPUs; median of {meta['repeat']} run(s), fresh process each.",
           f"Calibration: a 10-million-step Python loop takes {meta['calibration_s']} s here "
           "(to scale the figures to another machine).", ""]
    out.append("| scenario | zones | hosts | flows | files | `septum check` s (cold) | check RSS MB "
               "| warm cache s | parse s | resolve s | graph s | graph edges | API RSS MB | diagnostics | budget |")
    out.append("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|")
    for r in rows:
        ph = r.get("phases_s", {})
        budget = []
        for key, v in r["budgets"].items():
            unit = "s" if key.endswith("_s") else " MB"
            what = "check" if key == "check_s" else "RSS"
            verdict = ("PASS" if v["ok"] else "OVER") if v["ran"] else "FAIL (did not run)"
            budget.append(f"{what} < {v['limit']:g}{unit}: {verdict}")
        diag = r.get("diagnostics")
        if diag is None:
            diag_s = "—"
        else:
            sev = r.get("severity") or {}
            diag_s = str(diag) + (" (" + ", ".join(f"{k} {v}" for k, v in sorted(sev.items())) + ")" if sev else "")
        rc = r["check_rc"]
        check = (_fmt_s(r["check_s"]) + ("" if rc == 0 else f" (rc {rc})")
                 + (" TIMEOUT" if r["check_timed_out"] else "") + (" CRASH" if r["check_crashed"] else ""))
        out.append(f"| {r['label']} | {r.get('zones', '—')} | {r.get('hosts', '—')} | {r.get('flows', '—')} "
                   f"| {r.get('files', '—')} | {check} | {_fmt_mb(r['check_mb'])} | {_fmt_s(r.get('check_warm_s'))} "
                   f"| {_fmt_s(ph.get('parse'))} | {_fmt_s(ph.get('resolve'))} | {_fmt_s(ph.get('graph'))} "
                   f"| {r.get('edges') if r.get('edges') is not None else '—'} "
                   f"| {_fmt_mb(r.get('phases_mb'))} | {diag_s} | {'; '.join(budget) or '—'} |")
    notes = []
    for r in rows:
        if "phases_error" in r:
            notes.append(f"- {r['label']}: API phases failed: `{r['phases_error']}`")
        if r["check_rc"] != 0:
            notes.append(f"- {r['label']}: `septum check` exited {r['check_rc']}; last output: "
                         + " / ".join(f"`{l[:160]}`" for l in r["check_output_tail"]))
        elif r.get("diagnostics"):
            notes.append(f"- {r['label']}: {r['diagnostics']} diagnostic(s), e.g. "
                         + " / ".join(f"`{s[:160]}`" for s in r.get("diagnostic_sample", [])[:3]))
    if notes:
        out += ["", *notes]
    out += ["", "Wall time of `septum check` includes interpreter start; cold = an empty parse cache "
            "(SEPTUM_CACHE_DIR new each run), warm = the cache filled by earlier runs; budgets judge cold. RSS is the peak resident set "
            "of that process (os.wait4). Phase times come from the Python API in a separate fresh process."]
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Septum benchmarks (wall time and peak RSS).")
    ap.add_argument("--quick", action="store_true", help="only the small scenarios")
    ap.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    ap.add_argument("--only", nargs="+", metavar="NAME", choices=[s[0] for s in SCENARIOS] + [DIFF_SCENARIO],
                    help="run only these scenarios: " + ", ".join([s[0] for s in SCENARIOS] + [DIFF_SCENARIO]))
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per scenario (median); default 3")
    ap.add_argument("--no-warmup", action="store_true", help="skip the untimed warm-up run")
    ap.add_argument("--seed", type=int, default=1, help="seed for the synthetic policies")
    ap.add_argument("--hosts-per-zone", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per command")
    ap.add_argument("--keep", type=pathlib.Path, help="generate into this directory and keep it")
    args = ap.parse_args(argv)

    chosen = [s for s in SCENARIOS
              if (args.only is None or s[0] in args.only) and (not args.quick or s[5] or args.only)]
    synthetic = _load_synthetic()
    rows = []
    with tempfile.TemporaryDirectory(prefix="septum-bench-") as tmp:
        tmp = pathlib.Path(tmp)
        shim = _make_shim(tmp)
        env = _child_env(shim)
        work = args.keep or tmp / "policies"
        for name, label, zones, flows, budgets, _ in chosen:
            if zones is None:
                path = _reference_path()
                counts = {"zones": None, "hosts": None, "flows": None,
                          "files": len(list(path.rglob("*.septum")))}
                counts.update(_count_reference(path))
            else:
                path = pathlib.Path(work) / name
                t0 = time.perf_counter()
                gen = synthetic.generate(path, zones=zones, flows=flows,
                                         hosts_per_zone=args.hosts_per_zone, seed=args.seed)
                counts = {k: gen[k] for k in ("zones", "hosts", "flows", "files", "bytes")}
                counts["generate_s"] = time.perf_counter() - t0
            print(f"[bench] {label} ...", file=sys.stderr, flush=True)
            row = measure(name, label, path, counts, budgets, env, tmp, max(1, args.repeat),
                          0 if args.no_warmup else 1, args.timeout)
            rows.append(row)
            print(f"[bench] {label}: check {row['check_s']:.3f} s, {row['check_mb']:.0f} MB, rc {row['check_rc']}",
                  file=sys.stderr, flush=True)

        diff_rows = []
        if args.only is None and not args.quick or args.only and DIFF_SCENARIO in args.only:
            print(f"[bench] {DIFF_LABEL} ...", file=sys.stderr, flush=True)
            diff_rows = measure_diff(pathlib.Path(work) / DIFF_SCENARIO, synthetic, env, tmp, max(1, args.repeat),
                                     0 if args.no_warmup else 1, args.timeout, args.seed, args.hosts_per_zone)
            for r in diff_rows:
                print(f"[bench] {r['label']}: {r['diff_s']:.3f} s, {r['diff_mb']:.0f} MB, rc {r['diff_rc']}",
                      file=sys.stderr, flush=True)

    meta = {"python": platform.python_version(), "platform": platform.platform(terse=True),
            "cpus": os.cpu_count(), "repeat": max(1, args.repeat), "seed": args.seed,
            "calibration_s": calibration()}
    if args.json:
        document = {"meta": meta, "scenarios": rows}
        if diff_rows:
            document["diff"] = diff_rows
        print(json.dumps(document, indent=2))
    else:
        print(markdown(rows, meta) if rows else markdown_meta(meta))
        if diff_rows:
            print()
            print(diff_markdown(diff_rows))
    over = [r for r in rows + diff_rows if any(not v["ok"] for v in r["budgets"].values())]
    return 1 if over else 0


# ---- `septum diff` of two revisions of a 10k-flow policy ----------------------------------------

DIFF_SCENARIO = "diff10k"
DIFF_LABEL = "diff: 1k zones, 10k flows, two revisions"
DIFF_BUDGET_S = 3.0


def edit_revision(path: pathlib.Path) -> list[str]:
    """Make a second revision of a synthetic policy: a few flows edited, removed and added.

    Deterministic: works on the `allow` lines of the second flow file by position.
    """
    import re

    flows = sorted(path.glob("flows-*.septum"))
    target = flows[1] if len(flows) > 1 else flows[0]
    lines = target.read_text(encoding="utf-8").splitlines()
    allows = [i for i, line in enumerate(lines) if line.startswith("allow ")]
    head = re.compile(r"^allow (.+?) -> (.+?) : ([^\"]+?)(?: (carrying|except|log)\b.*?)?(?: \"[^\"]*\")?$")
    edits = []
    removed = lines[allows[10]]
    changed = head.match(lines[allows[40]])
    extra = head.match(lines[allows[30]])
    lines[allows[40]] = f"allow {changed.group(1)} -> {changed.group(2)} : https \"bench: service changed\""
    edits.append(f"changed service: {lines[allows[40]]}")
    lines[allows[20]] = lines[allows[20]] + " log" if " log" not in lines[allows[20]] else lines[allows[20]]
    edits.append(f"log added: {lines[allows[20]]}")
    lines.append(f"allow {extra.group(1)} -> {extra.group(2)} : ssh \"bench: new flow\"")
    edits.append(f"added: {lines[-1]}")
    del lines[allows[10]]
    edits.append(f"removed: {removed}")
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return edits


def reorder_revision(path: pathlib.Path) -> None:
    """The same policy laid out differently: flows reversed in each file, flow files' contents rotated."""
    flows = sorted(path.glob("flows-*.septum"))
    texts = []
    for file in flows:
        lines = file.read_text(encoding="utf-8").splitlines()
        allows = [line for line in lines if line.startswith("allow ")]
        others = [line for line in lines if not line.startswith("allow ")]
        texts.append("\n".join(others + allows[::-1]) + "\n")
    for file, text in zip(flows, texts[1:] + texts[:1]):
        file.write_text(text, encoding="utf-8")


def measure_diff(work: pathlib.Path, synthetic, env, cwd, repeat, warmup, timeout, seed, hosts_per_zone) -> list[dict]:
    """Wall time and peak RSS of `septum diff OLD NEW` and of `septum diff --base HEAD PATH`."""
    import shutil

    old, new, repo, moved = work / "old", work / "new", work / "repo", work / "moved"
    for p in (old, new, repo, moved):
        if p.exists():
            shutil.rmtree(p)
    gen = synthetic.generate(old, zones=1_000, flows=10_000, hosts_per_zone=hosts_per_zone, seed=seed)
    shutil.copytree(old, new)
    edits = edit_revision(new)
    shutil.copytree(old, moved)
    reorder_revision(moved)
    # a git repository whose HEAD is OLD and whose working tree is NEW
    git_env = {**env, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.org",
               "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.org",
               "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    repo.mkdir(parents=True)
    shutil.copytree(old, repo / "zones")
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "old"]):
        subprocess.run(["git", *args], cwd=repo, env=git_env, check=True, capture_output=True)
    shutil.rmtree(repo / "zones")
    shutil.copytree(new, repo / "zones")

    rows = []
    commands = [
        ("two directories", [sys.executable, "-m", "septum", "diff", str(old), str(new)], cwd),
        ("git --base HEAD", [sys.executable, "-m", "septum", "diff", "--base", "HEAD", "zones"], repo),
        ("same policy reordered", [sys.executable, "-m", "septum", "diff", str(old), str(moved)], cwd),
    ]
    for label, cmd, where in commands:
        for _ in range(warmup):
            _run(cmd, _cold(env, cwd), where, timeout)
        runs = [_run(cmd, _cold(env, cwd), where, timeout) for _ in range(repeat)]  # empty parse cache
        crashed = any(r["rc"] not in (0, 1) or "Traceback" in r["stderr"] for r in runs)
        row = {
            "scenario": DIFF_SCENARIO, "label": f"diff 10k flows: {label}", "flows": gen["flows"],
            "zones": gen["zones"], "edits": edits,
            "diff_s": statistics.median(r["wall"] for r in runs), "diff_s_min": min(r["wall"] for r in runs),
            "diff_mb": max(r["rss"] for r in runs) / MB, "diff_rc": runs[-1]["rc"], "crashed": crashed,
            "summary": (runs[-1]["stdout"].strip().splitlines() or [""])[-1][:200],
            "stderr_tail": runs[-1]["stderr"].strip().splitlines()[-3:],
        }
        ran = not crashed and not any(r["timed_out"] for r in runs)
        row["budgets"] = {"diff_s": {"limit": DIFF_BUDGET_S, "value": row["diff_s"], "ran": ran,
                                     "ok": ran and row["diff_s"] < DIFF_BUDGET_S}}
        rows.append(row)
    return rows


def markdown_meta(meta: dict) -> str:
    return (f"Septum benchmarks — Python {meta['python']} on {meta['platform']}, {meta['cpus']} CPUs; "
            f"median of {meta['repeat']} run(s), fresh process each.\n"
            f"Calibration: a 10-million-step Python loop takes {meta['calibration_s']} s here.")


def diff_markdown(rows: list[dict]) -> str:
    out = ["| `septum diff` (1k zones, 10k flows; second revision: "
           f"{len(rows[0]['edits'])} flow edits) | wall s | min s | RSS MB | exit | output | budget |",
           "|---|--:|--:|--:|--:|---|---|"]
    for r in rows:
        v = r["budgets"]["diff_s"]
        verdict = ("PASS" if v["ok"] else "OVER") if v["ran"] else "FAIL (did not run)"
        out.append(f"| {r['label']} | {_fmt_s(r['diff_s'])} | {_fmt_s(r['diff_s_min'])} | {_fmt_mb(r['diff_mb'])} "
                   f"| {r['diff_rc']} | {r['summary'].replace('|', '/')} | < {v['limit']:g} s: {verdict} |")
    out += ["", "Wall time of the whole command, interpreter start included (exit 1: changes found). "
            "Edits: " + "; ".join(f"`{e[:90]}`" for e in rows[0]["edits"])]
    return "\n".join(out)


def calibration() -> float:
    """Seconds for a plain 10-million-step Python loop, to scale the figures to another machine."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(10_000_000):
            total += i
        best = min(best, time.perf_counter() - started)
    return round(best, 3)


def _count_reference(path: pathlib.Path) -> dict:
    """Rough counts of zones, hosts and flows in a policy tree (text scan)."""
    import re
    zones = hosts = flows = 0
    for f in sorted(path.rglob("*.septum")):
        text = re.sub(r"#[^\n]*", "", f.read_text(encoding="utf-8"))
        zones += len(re.findall(r"(?<![\w-])zone\s+[A-Za-z_][\w-]*\s*\{", text))
        hosts += len(re.findall(r"(?<![\w-])host\s+[A-Za-z_][\w-]*\s+in\s", text))
        flows += len(re.findall(r"(?<![\w-])allow\s", text))
    return {"zones": zones, "hosts": hosts, "flows": flows}


if __name__ == "__main__":
    sys.exit(main())
