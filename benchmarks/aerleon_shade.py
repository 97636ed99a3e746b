#!/usr/bin/env python3
"""Aerleon's shade check against Septum's redundant-rule check, on policies of the same size.

Aerleon (the Capirca fork) is NOT a dependency of Septum: install it into a separate virtual
environment and point this script at that interpreter::

    python3 -m venv /tmp/aerleon-venv && /tmp/aerleon-venv/bin/pip install aerleon
    python benchmarks/aerleon_shade.py                       # N = 250 .. 4000 (+ 10000 if cheap)
    python benchmarks/aerleon_shade.py --sizes 250,500 --json
    python benchmarks/aerleon_shade.py --keep /tmp/shade     # keep the generated trees

For every N the script

* writes an Aerleon tree into a temporary directory: ``def/NETWORKS.net`` (1,000 zone /24s
  ``10.A.B.0/24``, 40 site groups of 25 zones, one group per role, four campus /16s),
  ``def/SERVICES.svc`` (hospital services, tcp and udp ports) and ``policies/pol/hospital.pol``,
  one filter of N ``accept`` terms for one target (juniper by default). Terms are drawn from
  ``random.Random(seed)``: mostly zone -> zone on one or two services, some site, role-group and
  campus sources; about 3 % are duplicates of an earlier term and about 7 % are a narrower copy of
  an earlier term (a member zone of its group, a subset of its services), so they are shaded;
  broad terms shade some others by chance as well;
* runs ``aclgen --shade_check`` on it in a subprocess of the Aerleon interpreter and times it
  (wall clock, interpreter start included), records the exit status and counts the
  ``X is shaded by Y`` warnings; runs the same ``aclgen`` without ``--shade_check`` as the
  baseline; and, in a third subprocess, parses the policy with the shade check off and times
  Aerleon's ``Policy._DetectShading`` alone (the check the flag turns on);
* makes a Septum policy of the same number of flows with
  ``tests/synthetic.py OUT --zones 1000 --flows N --seed SEED`` and times, in a fresh process,
  ``load_policy(OUT, graph=False)`` and then ``PACKET_CHECKS["redundant-rule"](policy)``.

Every subprocess has a timeout (``--timeout``, 600 s). N = 10000 is measured for Aerleon only if
N = 4000 took under 60 s; otherwise a least-squares quadratic fitted to the measured points is
extrapolated and marked as such. The output is a Markdown table (``--json`` for the figures).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_AERLEON_PYTHON = "/tmp/aerleon-venv/bin/python"
DEFAULT_SIZES = [250, 500, 1000, 2000, 4000]
BIG = 10000
BIG_IF_UNDER = 60.0  # seconds for the largest default size
ZONES = 1000
SITE_SIZE = 25

ROLES = ["ehr", "pacs", "lab", "pharmacy", "clinws", "nursing", "infusion", "telemetry", "imaging",
         "admin", "identity", "finance", "hr", "printers", "voip", "backup", "bms", "research"]

# name, port/protocol clauses; every term takes services of one protocol group only, because an
# Aerleon term's ports apply to each of its protocols
SERVICES = {
    "tcp": [
        ("HTTPS", ["443/tcp"]), ("HTTP_ALT", ["80/tcp", "8080/tcp"]), ("SSH", ["22/tcp"]),
        ("LDAPS", ["636/tcp"]), ("SMB", ["445/tcp"]), ("RDP", ["3389/tcp"]), ("SIP_TLS", ["5061/tcp"]),
        ("PRINT_JOBS", ["9100/tcp", "631/tcp"]), ("BACKUP_AGENT", ["10000-10010/tcp"]),
        ("DICOM_TLS", ["2762/tcp"]), ("HL7_TLS", ["6661-6662/tcp"]), ("FHIR_API", ["8443/tcp"]),
        ("SQL_TLS", ["1433/tcp"]), ("PUMP_TELEMETRY", ["7000-7010/tcp"]),
    ],
    "udp": [
        ("NTP", ["123/udp"]), ("SYSLOG", ["514/udp"]), ("SNMP", ["161-162/udp"]),
        ("RTP_VOICE", ["16384-32767/udp"]),
    ],
    "tcp udp": [("DNS", ["53/udp", "53/tcp"]), ("KERBEROS", ["88/tcp", "88/udp"])],
}
PROTOCOL_WEIGHTS = [("tcp", 0.70), ("udp", 0.20), ("tcp udp", 0.10)]
# IPv4 filter type per target (the header's option after the filter name)
FILTER_TYPE = {"juniper": "inet", "juniperevo": "inet", "srxlo": "inet", "cisco": "extended",
               "ciscoxr": "inet", "cisconx": "extended", "arista": "extended", "brocade": "extended"}


# ---------------------------------------------------------------------------------------------
# Aerleon tree
# ---------------------------------------------------------------------------------------------


def _zone(i: int) -> str:
    return f"{ROLES[(i - 1) % len(ROLES)].upper()}_{i:04d}"


def _zone_net(i: int) -> str:
    return f"10.{i >> 8}.{i & 255}.0/24"


def _pick(rng: random.Random, weighted):
    r = rng.random()
    for value, w in weighted:
        if r < w:
            return value
        r -= w
    return weighted[-1][0]


def aerleon_tree(out: pathlib.Path, n: int, seed: int, target: str = "juniper") -> dict:
    """Write def/ and policies/pol/hospital.pol for n terms; return a summary."""
    rng = random.Random(seed)
    (out / "def").mkdir(parents=True, exist_ok=True)
    (out / "policies" / "pol").mkdir(parents=True, exist_ok=True)

    members: dict[str, list[int]] = {}  # address object -> zone numbers it covers
    net_lines = ["# Synthetic hospital networks: one /24 per zone", ""]
    for i in range(1, ZONES + 1):
        net_lines.append(f"{_zone(i)} = {_zone_net(i)}")
        members[_zone(i)] = [i]
    net_lines.append("")
    sites = []
    for s in range(ZONES // SITE_SIZE):
        name = f"SITE_{s + 1:02d}"
        zs = list(range(s * SITE_SIZE + 1, (s + 1) * SITE_SIZE + 1))
        net_lines.append(f"{name} = {_zone(zs[0])}")
        net_lines.extend(f"    {_zone(z)}" for z in zs[1:])
        members[name] = zs
        sites.append(name)
    net_lines.append("")
    role_groups = []
    for k, role in enumerate(ROLES):
        name = f"{role.upper()}_ALL"
        zs = list(range(k + 1, ZONES + 1, len(ROLES)))
        net_lines.append(f"{name} = {_zone(zs[0])}")
        net_lines.extend(f"    {_zone(z)}" for z in zs[1:])
        members[name] = zs
        role_groups.append(name)
    net_lines.append("")
    campuses = []
    for c in range((ZONES >> 8) + 1):
        name = f"CAMPUS_{c}"
        net_lines.append(f"{name} = 10.{c}.0.0/16")
        members[name] = [i for i in range(1, ZONES + 1) if i >> 8 == c]
        campuses.append(name)
    (out / "def" / "NETWORKS.net").write_text("\n".join(net_lines) + "\n")

    svc_lines = ["# Synthetic hospital services", ""]
    for group in SERVICES.values():
        for name, clauses in group:
            svc_lines.append(f"{name} = {clauses[0]}")
            svc_lines.extend(f"    {c}" for c in clauses[1:])
    (out / "def" / "SERVICES.svc").write_text("\n".join(svc_lines) + "\n")

    def address(kinds) -> str:
        kind = _pick(rng, kinds)
        if kind == "zone":
            return _zone(rng.randint(1, ZONES))
        if kind == "site":
            return rng.choice(sites)
        if kind == "role":
            return rng.choice(role_groups)
        return rng.choice(campuses)

    def narrower(name: str) -> str:
        zs = members[name]
        return name if len(zs) == 1 else _zone(rng.choice(zs))

    terms: list[dict] = []
    kinds = {"base": 0, "duplicate": 0, "narrower": 0}
    for i in range(n):
        r = rng.random()
        if i >= 10 and r < 0.03:
            t = dict(rng.choice(terms))
            kind = "duplicate"
        elif i >= 10 and r < 0.10:
            prior = rng.choice(terms)
            services = list(prior["services"])
            if len(services) > 1 and rng.random() < 0.5:
                services = [rng.choice(services)]
            t = {"src": narrower(prior["src"]), "dst": narrower(prior["dst"]),
                 "protocol": prior["protocol"], "services": services}
            kind = "narrower"
        else:
            protocol = _pick(rng, PROTOCOL_WEIGHTS)
            pool = [name for name, _ in SERVICES[protocol]]
            services = sorted(rng.sample(pool, 2 if len(pool) > 1 and rng.random() < 0.2 else 1))
            t = {"src": address([("zone", 0.75), ("site", 0.12), ("role", 0.08), ("campus", 0.05)]),
                 "dst": address([("zone", 0.90), ("site", 0.07), ("campus", 0.03)]),
                 "protocol": protocol, "services": services}
            kind = "base"
        kinds[kind] += 1
        t["ticket"] = f"NET-{rng.randint(1000, 99999)}"
        terms.append(t)

    pol = [f"# Synthetic hospital policy: {n} terms, seed {seed}", "",
           "header {", '  comment:: "synthetic hospital core filter"',
           f"  target:: {target} hospital-core {FILTER_TYPE.get(target, '')}".rstrip(), "}", ""]
    for i, t in enumerate(terms, 1):
        pol += [f"term t{i:05d} {{", f'  comment:: "{t["ticket"]}"',
                f"  source-address:: {t['src']}", f"  destination-address:: {t['dst']}",
                f"  protocol:: {t['protocol']}", f"  destination-port:: {' '.join(t['services'])}",
                "  action:: accept", "}", ""]
    (out / "policies" / "pol" / "hospital.pol").write_text("\n".join(pol))
    return {"terms": n, "kinds": kinds}


# ---------------------------------------------------------------------------------------------
# runs
# ---------------------------------------------------------------------------------------------

SHADED = re.compile(r"\] (\S+) is shaded by (\S+)")

# Parse with the shade check off, then time the check alone (Policy._DetectShading is what
# Policy.AddFilter calls when the check is on). Runs under the Aerleon interpreter.
DETECT_ONLY = r"""
import json, sys, time
from aerleon.lib import naming, policy
base, defs, pol = sys.argv[1:4]
definitions = naming.Naming(defs)
text = open(pol).read()
t0 = time.perf_counter()
p = policy.ParsePolicy(text, definitions, optimize=False, base_dir=base, shade_check=False)
t1, c1 = time.perf_counter(), time.process_time()
for _header, terms in p.filters:
    p._DetectShading(terms)
t2, c2 = time.perf_counter(), time.process_time()
print(json.dumps({"parse": t1 - t0, "detect": t2 - t1, "detect_cpu": c2 - c1}))
"""

SEPTUM_RUN = r"""
import json, sys, time
from septum.compiler import load_policy
from septum.compiler.verify.packet_checks import PACKET_CHECKS
t0 = time.perf_counter()
r = load_policy(sys.argv[1], graph=False)
t1, c1 = time.perf_counter(), time.process_time()
found = PACKET_CHECKS["redundant-rule"](r.policy)
t2, c2 = time.perf_counter(), time.process_time()
print(json.dumps({"flows": len(r.policy.flows), "load": t1 - t0, "check": t2 - t1, "check_cpu": c2 - c1,
                  "findings": len(found)}))
"""


def _run(cmd, timeout, cwd=None, stderr_path=None):
    """(wall seconds, CPU seconds of the child, returncode or None on timeout, stdout text).

    CPU time (user + system, from the children's rusage) is reported next to wall time because
    on a shared machine the wall time of a long CPU-bound run grows with the other load."""
    err = open(stderr_path, "w") if stderr_path else subprocess.DEVNULL
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=err, text=True, timeout=timeout)
        rc, out = p.returncode, p.stdout
    except subprocess.TimeoutExpired:
        rc, out = None, ""
    finally:
        if stderr_path:
            err.close()
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, rc, out


def aclgen_cmd(py: str, tree: pathlib.Path, shade: bool) -> list[str]:
    """The ``aclgen`` console script installed next to the interpreter (what users run)."""
    script = pathlib.Path(py).parent / "aclgen"
    head = [str(script)] if script.exists() else [py, "-m", "aerleon"]
    return head + [f"--base_directory={tree / 'policies'}",
            f"--definitions_directory={tree / 'def'}", f"--output_directory={tree / 'out'}",
            f"--policy_file={tree / 'policies' / 'pol' / 'hospital.pol'}", "--max_renderers=1",
            "--shade_check" if shade else "--noshade_check"]


def measure_aerleon(py: str, n: int, seed: int, work: pathlib.Path, timeout: float, target: str,
                    detect: bool) -> dict:
    tree = work / f"aerleon-{n}"
    summary = aerleon_tree(tree, n, seed, target)
    row = {"n": n, **summary}
    t, cpu, rc, _ = _run(aclgen_cmd(py, tree, False), timeout, cwd=tree, stderr_path=tree / "plain.log")
    row["plain"], row["plain_cpu"], row["plain_rc"] = (t if rc is not None else None), cpu, rc
    t, cpu, rc, _ = _run(aclgen_cmd(py, tree, True), timeout, cwd=tree, stderr_path=tree / "shade.log")
    row["shade"], row["shade_cpu"], row["shade_rc"] = (t if rc is not None else None), cpu, rc
    row["timed_out"] = rc is None
    if row["plain_rc"] not in (0, None):
        print(f"warning: aclgen without --shade_check exited {row['plain_rc']} at N={n}: see "
              f"{tree / 'plain.log'} (use --keep DIR to inspect)", file=sys.stderr)
    pairs = SHADED.findall((tree / "shade.log").read_text(errors="replace"))
    row["shaded_terms"] = len({a for a, _ in pairs})
    row["shade_warnings"] = len(pairs)
    row["output_written"] = any((tree / "out").glob("*")) if (tree / "out").exists() else False
    row["detect"] = row["parse"] = row["detect_cpu"] = None
    if detect and rc is not None:
        t, _, rc2, out = _run([py, "-c", DETECT_ONLY, str(tree / "policies"), str(tree / "def"),
                            str(tree / "policies" / "pol" / "hospital.pol")], timeout, cwd=tree)
        if rc2 == 0:
            row.update(json.loads(out))
    return row


def measure_septum(n: int, seed: int, work: pathlib.Path, timeout: float, repeat: int) -> dict:
    out = work / f"septum-{n}"
    subprocess.run([sys.executable, str(ROOT / "tests" / "synthetic.py"), str(out), "--zones", str(ZONES),
                    "--flows", str(n), "--seed", str(seed)], check=True, stdout=subprocess.DEVNULL)
    runs = []
    for _ in range(repeat):
        _, _, rc, text = _run([sys.executable, "-c", SEPTUM_RUN, str(out)], timeout, cwd=ROOT,
                           stderr_path=work / f"septum-{n}.log")
        if rc != 0:
            return {"n": n, "error": (work / f"septum-{n}.log").read_text()[-2000:] if rc is not None
                    else f"timed out after {timeout:g} s"}
        runs.append(json.loads(text))
    return {"n": n, "flows": runs[0]["flows"], "findings": runs[0]["findings"],
            "load": statistics.median(r["load"] for r in runs),
            "check": statistics.median(r["check"] for r in runs),
            "check_cpu": statistics.median(r["check_cpu"] for r in runs),
            "check_runs": [r["check"] for r in runs]}


# ---------------------------------------------------------------------------------------------
# quadratic fit (least squares, no numpy)
# ---------------------------------------------------------------------------------------------


def fit_quadratic(points: list[tuple[float, float]]):
    """Coefficients (a, b, c) of t = a + b*n + c*n^2 minimising the squared error."""
    s = [sum(x ** k for x, _ in points) for k in range(5)]
    rhs = [sum(y * x ** k for x, y in points) for k in range(3)]
    m = [[s[i + j] for j in range(3)] + [rhs[i]] for i in range(3)]
    for col in range(3):  # Gauss-Jordan with partial pivoting
        piv = max(range(col, 3), key=lambda r: abs(m[r][col]))
        m[col], m[piv] = m[piv], m[col]
        for r in range(3):
            if r != col:
                f = m[r][col] / m[col][col]
                m[r] = [a - f * b for a, b in zip(m[r], m[col])]
    return tuple(m[i][3] / m[i][i] for i in range(3))


def _q(coef, n):
    a, b, c = coef
    return a + b * n + c * n * n


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------


def _s(x):
    if x is None:
        return "—"
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"


def calibrate() -> float:
    """Seconds for a 10-million-step Python loop: the machine's speed at the time of the run."""
    t0 = time.perf_counter()
    x = 0
    for i in range(10_000_000):
        x += i
    return time.perf_counter() - t0


def machine() -> str:
    return (f"{platform.system()} {platform.machine()}, nproc {os.cpu_count()}, "
            f"Python {platform.python_version()} (Septum)")


def aerleon_version(py: str) -> str:
    try:
        out = subprocess.run([py, "-c", "from importlib.metadata import version as v; "
                              "import sys; print(v('aerleon'), sys.version.split()[0])"],
                             capture_output=True, text=True, timeout=60).stdout.split()
        return f"aerleon {out[0]} (Python {out[1]})"
    except Exception:  # noqa: BLE001 - reported, not fatal
        return "aerleon (version unknown)"


def markdown(aer: list[dict], sep: list[dict], extra: dict | None) -> str:
    by_n = {r["n"]: r for r in aer}
    sep_n = {r["n"]: r for r in sep}
    sizes = sorted(set(by_n) | set(sep_n) | ({extra["n"]} if extra else set()))
    lines = ["| N | Aerleon shaded terms (warnings) | `aclgen` s | `aclgen --shade_check` s (CPU) | "
             "shade check alone s (CPU) | exit status | Septum flows | Septum load s | "
             "`redundant-rule` s (CPU) | redundant flows |",
             "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for n in sizes:
        a, s = by_n.get(n), sep_n.get(n)
        if a:
            shade = _s(a["shade"]) if not a["timed_out"] else "timeout"
            if not a["timed_out"]:
                shade += f" ({_s(a['shade_cpu'])})"
            detect = _s(a["detect"]) + (f" ({_s(a['detect_cpu'])})" if a["detect_cpu"] is not None else "")
            acols = [f"{a['shaded_terms']} ({a['shade_warnings']})", _s(a["plain"]), shade, detect,
                     str(a["shade_rc"])]
        elif extra and extra["n"] == n:
            acols = ["—", "—", f"~{_s(extra['shade'])} (~{_s(extra['shade_cpu'])}) extrapolated",
                     f"~{_s(extra['detect'])} (~{_s(extra['detect_cpu'])}) extrapolated", "—"]
        else:
            acols = ["—"] * 5
        if s and "error" not in s:
            scols = [f"{s['flows']}", _s(s["load"]), f"{_s(s['check'])} ({_s(s['check_cpu'])})",
                     str(s["findings"])]
        elif s:
            scols = ["error", "—", "—", "—"]
        else:
            scols = ["—"] * 4
        lines.append(f"| {n} | " + " | ".join(acols + scols) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                    help="comma-separated N (default %(default)s; 10000 is added per the 60 s rule)")
    ap.add_argument("--big", type=int, default=BIG, help="the size measured only if the largest took "
                    f"under {BIG_IF_UNDER:g} s, else extrapolated (0: neither)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=600.0, help="per-subprocess timeout, seconds")
    ap.add_argument("--aerleon-python", default=DEFAULT_AERLEON_PYTHON)
    ap.add_argument("--target", default="juniper")
    ap.add_argument("--septum-repeat", type=int, default=3, help="runs per Septum size (median)")
    ap.add_argument("--no-detect", action="store_true", help="skip the isolated _DetectShading timing")
    ap.add_argument("--no-aerleon", action="store_true")
    ap.add_argument("--no-septum", action="store_true")
    ap.add_argument("--keep", metavar="DIR", help="generate into DIR and keep it")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    sizes = [int(x) for x in args.sizes.split(",") if x]

    if args.keep:
        work = pathlib.Path(args.keep)
        work.mkdir(parents=True, exist_ok=True)
    else:
        work = pathlib.Path(tempfile.mkdtemp(prefix="aerleon-shade-"))
    aer, sep, extra, fits = [], [], None, {}
    loops = [calibrate()]
    try:
        if not args.no_aerleon:
            if not pathlib.Path(args.aerleon_python).exists():
                sys.exit(f"no Aerleon interpreter at {args.aerleon_python}: see the module docstring")
            for n in sizes:
                row = measure_aerleon(args.aerleon_python, n, args.seed, work, args.timeout, args.target,
                                      not args.no_detect)
                aer.append(row)
                print(f"aerleon N={n}: shade {row['shade']} s, rc {row['shade_rc']}, "
                      f"shaded {row['shaded_terms']}", file=sys.stderr, flush=True)
                if row["timed_out"]:
                    break
            done = [r for r in aer if not r["timed_out"]]
            largest = max(done, key=lambda r: r["n"]) if done else None
            if args.big and args.big not in sizes and largest:
                if largest["shade"] < BIG_IF_UNDER:
                    row = measure_aerleon(args.aerleon_python, args.big, args.seed, work, args.timeout,
                                          args.target, not args.no_detect)
                    aer.append(row)
                    print(f"aerleon N={args.big}: shade {row['shade']} s", file=sys.stderr, flush=True)
                elif len(done) >= 3:
                    for key in ("shade", "shade_cpu", "detect", "detect_cpu"):
                        pts = [(r["n"], r[key]) for r in done if r.get(key) is not None]
                        fits[key] = fit_quadratic(pts) if len(pts) >= 3 else None
                    extra = {"n": args.big, **{k: _q(c, args.big) if c else None for k, c in fits.items()}}
        if not args.no_septum:
            for n in sorted(set(sizes) | ({args.big} if args.big else set())):
                row = measure_septum(n, args.seed, work, args.timeout, args.septum_repeat)
                sep.append(row)
                print(f"septum N={n}: {row}", file=sys.stderr, flush=True)
        loops.append(calibrate())
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    if args.json:
        print(json.dumps({"machine": machine(), "aerleon": aerleon_version(args.aerleon_python),
                          "seed": args.seed, "loop_10M_s": loops, "aerleon_runs": aer, "septum_runs": sep,
                          "extrapolated": extra, "fits": fits}, indent=2))
    else:
        print(f"{machine()}; {aerleon_version(args.aerleon_python)}; seed {args.seed}; "
              f"10M-step loop {' / '.join(f'{x:.2f}' for x in loops)} s (start / end)\n")
        print(markdown(aer, sep, extra))
        if extra:
            print(f"\nAerleon at N={extra['n']} is extrapolated from a least-squares quadratic "
                  f"t = a + b·N + c·N² over the measured sizes (`aclgen --shade_check`: "
                  f"wall c = {fits['shade'][2]:.3g} s/N², CPU c = {fits['shade_cpu'][2]:.3g} s/N²).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
