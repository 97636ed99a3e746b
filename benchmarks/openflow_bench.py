#!/usr/bin/env python3
"""Septum OpenFlow benchmarks: `septum compile` time and memory for openflow switches, the flow
tables it writes (conjunctive match), the flow count a table without conjunctive match would
need for the same intent (the CROSS-PRODUCT encoding), and how long Open vSwitch takes to install
each (`ovs-ofctl --bundle replace-flows`).

Scenarios:

* hospital: the reference hospital (`zones/`), `--device biomed-sw`, `--as-of 2026-11-23` (its
  waivers are judged on a fixed day, as in the tests);
* c1k, c10k, c100k: tests/synthetic.py `generate(path, zones=1000, flows=N, hosts_per_zone=1,
  seed=1)` with N = 1k, 10k, 100k, REWRITTEN as openflow switches: every
  `firewall NAME nftables {` becomes `switch NAME openflow {`, and every `interface IF zone Z` /
  `interface IF link D` inside a device becomes `port K zone Z` / `port K link D`, K = 1, 2,
  3, ... per device in file order (the topology is unchanged: a core, a distribution switch per
  region, a switch per site). Both commands get `--disable empty-flow` (the synthetic policies'
  E522 findings are by design, docs/performance.md). A switch the backend refuses (E603: a
  zone reached through two ports, or a hairpin rule) is counted as "not written" and its
  diagnostics are reported, not hidden.

Per scenario, each measurement in a fresh process:

1. `python -m septum check PATH` and `python -m septum compile PATH --out DIR --format json`:
   wall time (interpreter start included; a new, empty SEPTUM_CACHE_DIR each run) and the
   child's peak RSS (os.wait4), median of --repeat runs (RSS: the maximum), after one untimed
   warm-up check; "compile − check" = the medians' difference.
2. From the JSON summary: flows and conjunctions per written device (all devices summed, and the
   largest device by flows).
3. CROSS-PRODUCT: in a fresh interpreter, `load_and_compile(PATH, (LARGEST,), verify=False)`
   and, for each rule of `intent.devices[LARGEST].rules` and each address family in which it
   has sources, destinations and services: |source CIDR blocks| x |destination CIDR blocks| x
   |service matches| flows (the ingress port is one per rule), with the backend's own
   `address_blocks`, `port_matches` (tcp/udp value/mask) and `icmp_matches` (type/code) —
   what a policy table needs when every flow must match all dimensions at once. Counted
   exactly (and the distinct matches, since rules may repeat a tuple). If the count is at most
   --max-flows, the table is written as text: tables 0, 1 and 3 and table 2's default drop
   copied from the generated file, table 2's conjunction flows replaced by one flow per tuple,
   `table=2,priority=100,tcp,in_port=P,nw_src=S,nw_dst=D,tp_dst=V actions=ct(commit),resubmit(,3)`
   (ipv6_src/ipv6_dst and tcp6/udp6/icmp6 for IPv6). It leaves out the generated table's
   `ct_state=+trk+inv` no-commit variant for untrackable ICMP (one more flow per ICMP tuple):
   the count is a lower bound for an equivalent table.
4. replace-flows: one private Open vSwitch per scenario, started as tool.py's sandbox does
   (ovsdb-server and ovs-vswitchd in a temporary directory of their own, inside
   `unshare --net`, a bridge with datapath_type=netdev, fail_mode=secure, OpenFlow13), kept up
   for the measurement: for (a) the generated flow table of the largest device and (b) the
   cross-product table, the bridge is emptied (`del-flows`, untimed), then
   `ovs-ofctl -O OpenFlow13 --bundle replace-flows` is timed (wall, `date +%s.%N` around it),
   capped at --ovs-timeout s (reported "> N s"); then `dump-flows | wc -l` checks how many
   flows the bridge holds, and ovs-vswitchd's VmHWM (peak RSS so far) is read from /proc. The
   daemons are killed by their pid files at the end (and again from Python if the shell was
   killed); nothing is left running, the namespace disappears with them.

Budgets (as for the nftables backend; exit status 1 if any is OVER):

* 1k zones, 10k flows, every device: compile < 1 s on top of check;
* 1k zones, 100k flows: compile < 10 s on top of check and < 1 GB peak RSS.

Timings on a shared machine are noisy; the calibration line (a 10-million-step Python loop)
says how fast this one was at the time.

    python benchmarks/openflow_bench.py --quick --repeat 1
    python benchmarks/openflow_bench.py --only hospital c1k c10k
    python benchmarks/openflow_bench.py --only c100k --repeat 1 --ovs-timeout 300
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench  # noqa: E402  (the shared runner: fresh processes, wait4 RSS, parse-cache handling)

REPO = bench.REPO
MB = bench.MB
HOSPITAL_AS_OF = "2026-11-23"
HOSPITAL_DEVICE = "biomed-sw"

# name, label, zones, flows, budgets, quick
SCENARIOS = [
    ("hospital", f"reference hospital ({HOSPITAL_DEVICE})", None, None, {}, True),
    ("c1k", "1k zones, 1k flows", 1_000, 1_000, {}, True),
    ("c10k", "1k zones, 10k flows", 1_000, 10_000, {"extra_s": 1.0}, False),
    ("c100k", "1k zones, 100k flows", 1_000, 100_000, {"extra_s": 10.0, "compile_mb": 1024}, False),
]

# Runs in a fresh interpreter: the cross-product encoding of one device's compiled intent.
# Prints one JSON line.
CROSS_CHILD = r"""
import json, os, sys, time
from pathlib import Path
args = json.loads(sys.argv[1])
t0 = time.perf_counter()
from septum.compiler.devices.pipeline import load_and_compile
from septum.backends.openflow.text import address_blocks, port_matches, icmp_matches
_, result = load_and_compile(Path(args["path"]), (args["device"],), verify=False,
                             disabled=frozenset(args["disabled"]))
if result.intent is None:
    print("BENCH-JSON " + json.dumps({"error": f"not compiled (exit {result.status}) {result.message}"}))
    sys.exit(0)
t_intent = time.perf_counter() - t0
device = result.intent.devices[args["device"]]
IP = {4: "ip", 6: "ipv6"}
SRC = {4: "nw_src", 6: "ipv6_src"}
DST = {4: "nw_dst", 6: "ipv6_dst"}
PROTO = {(4, "tcp"): "tcp", (4, "udp"): "udp", (4, "icmp"): "icmp",
         (6, "tcp"): "tcp6", (6, "udp"): "udp6", (6, "icmpv6"): "icmp6"}
block_cache = {}
def blocks(family, intervals):
    key = (family, intervals)
    found = block_cache.get(key)
    if found is None:
        found = block_cache[key] = address_blocks(family, intervals)
    return found
def services(family, rule):
    out = []
    for s in rule.services:
        proto = PROTO.get((family, s.protocol))
        if proto is None:
            continue
        ms = port_matches(s.low, s.high) if s.protocol in ("tcp", "udp") else icmp_matches(s.low, s.high)
        out.extend(f"{proto}{',' + m if m else ''}" for m in ms)
    return out
count = 0
per_rule_max = 0
plan = []
for index, rule in enumerate(device.rules, 1):
    n_rule = 0
    for family in (4, 6):
        src = blocks(family, rule.source.family(family))
        dst = blocks(family, rule.destination.family(family))
        svc = services(family, rule)
        if not (src and dst and svc):
            continue
        n = len(src) * len(dst) * len(svc)
        n_rule += n
        plan.append((index, rule.ingress, family, src, dst, svc))
    count += n_rule
    per_rule_max = max(per_rule_max, n_rule)
t_count = time.perf_counter() - t0 - t_intent
generated_policy = sum(1 for l in open(args["generated"]) if l.startswith(("table=2,", "cookie=")) and "table=2," in l and "priority=0 " not in l)
report = {"generated_policy": generated_policy, "flows": count, "rules": len(device.rules), "largest_rule": per_rule_max, "intent_s": t_intent,
          "count_s": t_count, "written": False}
if count <= args["max_flows"]:
    generated = Path(args["generated"]).read_text().splitlines()
    head, tail = [], []
    for line in generated:
        if not line or line.startswith("#"):
            continue
        table = line.split("table=", 1)[1].split(",", 1)[0] if "table=" in line else ""
        if table in ("0", "1"):
            head.append(line)
        elif table == "3" or (table == "2" and "priority=0 " in line):
            tail.append(line)
    seen = set()
    with open(args["out"], "w") as f:
        f.write(f"# CROSS-PRODUCT encoding of the compiled intent of {device.name} (benchmark only)\n")
        f.write("\n".join(head) + "\n")
        for index, port, family, src, dst, svc in plan:
            for s in src:
                for d in dst:
                    for m in svc:
                        match = f"in_port={port},{SRC[family]}={s},{DST[family]}={d},{m}"
                        if match in seen:
                            continue
                        seen.add(match)
                        f.write(f"cookie={index:#x},table=2,priority=100,{m.split(',', 1)[0]},in_port={port},"
                                f"{SRC[family]}={s},{DST[family]}={d}{',' + m.split(',', 1)[1] if ',' in m else ''} "
                                f"actions=ct(commit),resubmit(,3)\n")
        f.write("\n".join(tail) + "\n")
    report.update(written=True, distinct=len(seen), table_flows=len(head) + len(seen) + len(tail),
                  bytes=os.path.getsize(args["out"]), build_s=time.perf_counter() - t0 - t_intent - t_count)
print("BENCH-JSON " + json.dumps(report))
"""

# One shell script in a fresh network namespace (tool.py's recipe, the daemons kept up while the
# files are loaded one after the other). Prints "LOAD <i> <rc> <seconds> <flows on bridge> <vswitchd VmHWM kB>".
_SANDBOX = r"""
set -u
D=$1; SCHEMA=$2; CAP=$3; shift 3
export OVS_RUNDIR=$D OVS_LOGDIR=$D OVS_DBDIR=$D OVS_SYSCONFDIR=$D OVS_PKGDATADIR=$(dirname $SCHEMA)
stop() { for p in "$D"/*.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done; }
trap stop EXIT
trap 'exit 143' TERM INT
ovsdb-tool create "$D/conf.db" "$SCHEMA" >/dev/null || exit 10
ovsdb-server "$D/conf.db" --remote=punix:"$D/db.sock" --pidfile="$D/ovsdb-server.pid" --detach \
  --log-file="$D/ovsdb-server.log" || exit 11
ovs-vsctl --db=unix:"$D/db.sock" --no-wait init || exit 12
ovs-vswitchd unix:"$D/db.sock" --pidfile="$D/ovs-vswitchd.pid" --detach --log-file="$D/ovs-vswitchd.log" || exit 13
ovs-vsctl --db=unix:"$D/db.sock" --timeout=30 add-br septum -- set bridge septum datapath_type=netdev \
  fail_mode=secure protocols=OpenFlow13 || exit 14
i=0
for F in "$@"; do
  i=$((i + 1))
  ovs-ofctl -O OpenFlow13 del-flows unix:"$D/septum.mgmt" || exit 15
  t0=$(date +%s.%N)
  timeout "$CAP" ovs-ofctl -O OpenFlow13 --bundle replace-flows unix:"$D/septum.mgmt" "$F" 2>"$D/load$i.err"
  rc=$?
  t1=$(date +%s.%N)
  if [ $rc -eq 0 ]; then
    n=$(ovs-ofctl -O OpenFlow13 dump-flows --no-stats --no-names unix:"$D/septum.mgmt" | grep -c 'actions=')
  else
    n=-1; head -c 300 "$D/load$i.err" | tr '\n' ' ' >&2; echo >&2
  fi
  hwm=$(awk '/VmHWM/ {print $2}' /proc/$(cat "$D/ovs-vswitchd.pid")/status)
  echo "LOAD $i $rc $(echo "$t1 - $t0" | bc) $n $hwm"
  [ $rc -eq 124 ] && break   # the switch may still be busy with the capped bundle
done
exit 0
"""

SCHEMA = ("/usr/share/openvswitch/vswitch.ovsschema", "/usr/local/share/openvswitch/vswitch.ovsschema")


def _kill_by_pidfiles(directory: pathlib.Path) -> list[int]:
    """Kill any daemon still running from this sandbox's pid files (by id, checked to be OVS)."""
    killed = []
    for pidfile in directory.glob("*.pid"):
        try:
            pid = int(pidfile.read_text().strip())
            cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if b"ovs" in cmdline:
            try:
                os.kill(pid, 9)
                killed.append(pid)
            except OSError:
                pass
    return killed


def ovs_loads(files: list[pathlib.Path], cap: float) -> dict:
    """Install each file on one private switch in turn; the timings, or why there are none."""
    missing = [t for t in ("ovsdb-tool", "ovsdb-server", "ovs-vsctl", "ovs-vswitchd", "ovs-ofctl", "unshare",
                           "timeout", "bc") if shutil.which(t) is None]
    if missing or os.geteuid() != 0:
        return {"error": f"needs root and {', '.join(missing or ['ovs'])}"}
    schema = next((s for s in SCHEMA if pathlib.Path(s).exists()), None)
    if schema is None:
        return {"error": "vswitch.ovsschema not installed"}
    directory = pathlib.Path(tempfile.mkdtemp(prefix="septum-ofbench-ovs-"))
    proc = None
    try:
        proc = subprocess.Popen(["unshare", "--net", "--", "sh", "-c", _SANDBOX, "sh", str(directory), schema,
                                 f"{cap:g}", *map(str, files)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=cap * len(files) + 300)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 15)
            out, err = proc.communicate()
        loads = {}
        for line in out.splitlines():
            if line.startswith("LOAD "):
                _, i, rc, seconds, n, hwm = (line.split() + ["0"] * 6)[:6]
                loads[int(i) - 1] = {"rc": int(rc), "load_s": float(seconds), "timed_out": int(rc) == 124,
                                     "bridge_flows": int(n), "vswitchd_mb": int(hwm or 0) / 1024}
        if proc.returncode not in (0, None) or not loads:
            return {"error": f"private Open vSwitch failed (step {proc.returncode}): {err.strip()[:300]}"}
        errors = [l for l in err.splitlines() if l.strip()]
        for i, load in loads.items():
            if load["rc"] not in (0, 124):
                load["error"] = errors.pop(0)[:200] if errors else f"rc {load['rc']}"
        return {"loads": [loads.get(i) for i in range(len(files))]}
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait()
        _kill_by_pidfiles(directory)
        time.sleep(0.2)
        _kill_by_pidfiles(directory)
        shutil.rmtree(directory, ignore_errors=True)


# ---- the synthetic policies as switches ----------------------------------------------------------

_DEVICE = re.compile(r"^(\s*)firewall\s+(\S+)\s+nftables\s*\{")
_BINDING = re.compile(r"^(\s*)interface\s+\S+\s+(zone|link)\s+(.*)$")


def to_openflow(path: pathlib.Path) -> dict:
    """Rewrite every nftables firewall of the tree as an openflow switch with numbered ports."""
    devices = ports = 0
    for file in sorted(path.rglob("*.septum")):
        text = file.read_text()
        if "nftables" not in text:
            continue
        out, port, inside = [], 0, False
        for line in text.splitlines(keepends=True):
            m = _DEVICE.match(line)
            if m:
                inside, port = True, 0
                devices += 1
                out.append(f"{m.group(1)}switch {m.group(2)} openflow {{\n")
                continue
            if inside and line.strip() == "}":
                inside = False
            m = _BINDING.match(line) if inside else None
            if m:
                port += 1
                ports += 1
                out.append(f"{m.group(1)}port {port} {m.group(2)} {m.group(3)}\n")
                continue
            out.append(line)
        file.write_text("".join(out))
    return {"switches": devices, "ports": ports}


# ---- measuring one scenario ----------------------------------------------------------------------

def _commands(path: pathlib.Path, name: str, out: pathlib.Path) -> tuple[list[str], list[str], list[str]]:
    if name == "hospital":
        flags, devices, disabled = ["--as-of", HOSPITAL_AS_OF], ["--device", HOSPITAL_DEVICE], []
    else:
        flags, devices, disabled = ["--disable", "empty-flow"], [], ["empty-flow"]
    check = [sys.executable, "-m", "septum", "check", str(path), *flags]
    compile_ = [sys.executable, "-m", "septum", "compile", str(path), "--out", str(out), "--format", "json",
                *devices, *flags]
    return check, compile_, disabled


def _log(msg: str) -> None:
    print(f"[openflow-bench] {msg}", file=sys.stderr, flush=True)


def measure(name, label, path, counts, budgets, env, cwd, args) -> dict:
    out = cwd / f"out-{name}"
    check_cmd, compile_cmd, disabled = _commands(path, name, out)
    row = {"scenario": name, "label": label, "path": str(path), **counts}
    bench._run(check_cmd, bench._cold(env, cwd), cwd, args.timeout)  # warm-up (disk cache), untimed
    checks = [bench._run(check_cmd, bench._cold(env, cwd), cwd, args.timeout) for _ in range(args.repeat)]
    compiles = []
    for _ in range(args.repeat):
        if out.exists():
            shutil.rmtree(out)
        compiles.append(bench._run(compile_cmd, bench._cold(env, cwd), cwd, args.timeout))
    row["check_s"] = statistics.median(c["wall"] for c in checks)
    row["check_mb"] = max(c["rss"] for c in checks) / MB
    row["check_rc"] = checks[-1]["rc"]
    row["compile_s"] = statistics.median(c["wall"] for c in compiles)
    row["compile_runs"] = [round(c["wall"], 3) for c in compiles]
    row["compile_mb"] = max(c["rss"] for c in compiles) / MB
    row["compile_rc"] = compiles[-1]["rc"]
    row["extra_s"] = row["compile_s"] - row["check_s"]
    devices = []
    try:
        report = json.loads(compiles[-1]["stdout"])
        devices = report["devices"]
    except (json.JSONDecodeError, KeyError):
        report = {}
    written = [d for d in devices if d.get("status") == "written"]
    ran = (all(not c["timed_out"] for c in compiles + checks) and bool(devices)
           and all(c["rc"] in (0, compiles[-1]["rc"]) for c in compiles))
    row["compile_error"] = None if compiles[-1]["rc"] == 0 else (
        compiles[-1]["stderr"].strip().splitlines() or ["no output"])[-1][:300]
    row["devices"] = len(devices)
    row["written"] = len(written)
    refused = []
    for d in devices:
        if d.get("status") != "written":
            codes = sorted({g.get("code") for g in d.get("diagnostics", [])} - {None})
            first = next((g.get("message") for g in d.get("diagnostics", [])), None)
            refused.append({"name": d.get("name"), "status": d.get("status"), "codes": codes, "first": first,
                            "count": len(d.get("diagnostics", []))})
    top_e603 = [g for g in report.get("diagnostics", []) if g.get("code") == "E603"]
    row["refused"] = refused
    row["e603_diagnostics"] = len(top_e603) + sum(r["count"] for r in refused if "E603" in r["codes"])
    row["tables"] = {"flows": sum(d.get("flows", 0) for d in written),
                     "conjunctions": sum(d.get("conjunctions", 0) for d in written),
                     "bytes": sum(d.get("bytes", 0) for d in written)}
    largest = max(written, key=lambda d: d.get("flows", 0), default=None)
    row["largest"] = {k: largest.get(k) for k in ("name", "flows", "conjunctions", "bytes")} if largest else None
    # all devices: a budget is only meaningful when the whole compile ran (refused switches are
    # still compiled up to the backend, so the time counts; the verdict says so in the table)
    verdicts = {}
    for key, limit in budgets.items():
        value = row.get(key)
        verdicts[key] = {"limit": limit, "value": value, "ran": ran,
                         "ok": ran and value is not None and value < limit}
    row["budgets"] = verdicts
    _log(f"{label}: check {row['check_s']:.2f} s, compile {row['compile_s']:.2f} s ({row['compile_mb']:.0f} MB), "
         f"rc {row['compile_rc']}, {len(written)} of {len(devices)} devices written, "
         f"{row['tables']['flows']:,} flows")
    if not largest:
        return row

    generated = out / f"{largest['name']}.flows"
    cross_file = cwd / f"cross-{name}-{largest['name']}.flows"
    spec = {"path": str(path), "device": largest["name"], "out": str(cross_file), "generated": str(generated),
            "max_flows": args.max_flows, "disabled": disabled}
    r = bench._run([sys.executable, "-c", CROSS_CHILD, json.dumps(spec)], env, cwd, args.timeout)
    line = next((l for l in r["stdout"].splitlines() if l.startswith("BENCH-JSON ")), None)
    cross = json.loads(line[len("BENCH-JSON "):]) if line else {"error": (r["stderr"].strip().splitlines()
                                                                           or ["no output"])[-1][:300]}
    cross["child_mb"] = r["rss"] / MB
    row["cross"] = cross
    _log(f"{label}: cross-product of {largest['name']}: {cross.get('flows', '?'):,} policy flows"
         + (f", {cross['bytes'] / MB:.1f} MB written" if cross.get("written") else "") if "error" not in cross
         else f"{label}: cross-product failed: {cross['error']}")
    if args.no_ovs:
        return row
    files = [generated] + ([cross_file] if cross.get("written") else [])
    _log(f"{label}: replace-flows on a private Open vSwitch ({len(files)} file(s)) ...")
    ovs = ovs_loads(files, args.ovs_timeout)
    if "error" in ovs:
        row["ovs_error"] = ovs["error"]
    else:
        row["load"] = ovs["loads"][0]
        if cross.get("written"):
            cross["load"] = ovs["loads"][1] if len(ovs["loads"]) > 1 else None
    _log(f"{label}: generated {_fmt_load(row.get('load'))}, cross-product {_fmt_load(cross.get('load'))}")
    if not args.keep:
        cross_file.unlink(missing_ok=True)
    return row


# ---- output --------------------------------------------------------------------------------------

def _fmt_s(v):
    return bench._fmt_s(v)


def _fmt_load(load: dict | None) -> str:
    if not load:
        return "—"
    if load.get("timed_out"):
        return f"> {load['load_s']:.0f} s"
    if load["rc"] != 0:
        return f"failed (rc {load['rc']})"
    return f"{_fmt_s(load['load_s'])} s"


_n = bench.count


def _mb(v) -> str:
    return "—" if v is None else (f"{v / MB:.2f}" if v < 10 * MB else f"{v / MB:.0f}")


def markdown(rows: list[dict], meta: dict) -> str:
    out = [f"Septum OpenFlow benchmarks — Python {meta['python']} on {meta['platform']}, {meta['cpus']} CPUs, "
           f"{meta['ovs']}; median of {meta['repeat']} run(s), fresh process each.",
           f"Calibration: a 10-million-step Python loop takes {meta['calibration_s']} s here.", ""]
    out += bench.compile_table(rows, "switches written")
    out += ["", "| scenario | flow table | flows | conjunctions | MB | `replace-flows` | flows on bridge "
            "| vswitchd peak RSS MB |", "|---|---|--:|--:|--:|--:|--:|--:|"]
    for r in rows:
        t = r["tables"]
        out.append(f"| {r['label']} | all switches ({r['written']}) | {_n(t['flows'])} | {_n(t['conjunctions'])} "
                   f"| {_mb(t['bytes'])} | — | — | — |")
        lg = r.get("largest")
        if not lg:
            continue
        load = r.get("load")
        gp = (r.get("cross") or {}).get("generated_policy")
        out.append(f"| | largest: {lg['name']}, generated | {_n(lg['flows'])}{f' ({gp:,} policy)' if gp else ''} | {_n(lg['conjunctions'])} "
                   f"| {_mb(lg['bytes'])} | {_fmt_load(load)} "
                   f"| {_n(load.get('bridge_flows')) if load and load['rc'] == 0 else '—'} "
                   f"| {('%.0f' % load['vswitchd_mb']) if load else '—'} |")
        c = r.get("cross") or {}
        if "error" in c:
            out.append(f"| | largest: {lg['name']}, cross-product | failed | | | | | |")
            continue
        cl = c.get("load")
        flows = f"{c['flows']:,} policy" + (f" ({c['distinct']:,} distinct; {c['table_flows']:,} in all)"
                                            if c.get("written") else "")
        loaded = _fmt_load(cl) if c.get("written") else f"skipped (> {meta['max_flows']:,} flows)"
        out.append(f"| | largest: {lg['name']}, cross-product | {flows} | 0 | {_mb(c.get('bytes'))} | {loaded} "
                   f"| {_n(cl.get('bridge_flows')) if cl and cl['rc'] == 0 else '—'} "
                   f"| {('%.0f' % cl['vswitchd_mb']) if cl else '—'} |")
    notes = []
    for r in rows:
        if r.get("compile_error"):
            notes.append(f"- {r['label']}: `septum compile` exit {r['compile_rc']}: `{r['compile_error']}`")
        for d in r["refused"][:5]:
            notes.append(f"- {r['label']}: switch {d['name']} {d['status']} ({', '.join(d['codes']) or 'no code'}, "
                         f"{d['count']} diagnostic(s)){': ' + d['first'][:200] if d['first'] else ''}")
        if len(r["refused"]) > 5:
            notes.append(f"- {r['label']}: ... and {len(r['refused']) - 5} more switches refused")
        if r.get("ovs_error"):
            notes.append(f"- {r['label']}: replace-flows not measured: {r['ovs_error']}")
        c = r.get("cross") or {}
        if c.get("error"):
            notes.append(f"- {r['label']}: cross-product failed: `{c['error']}`")
        elif "flows" in c and r.get("largest"):
            ratio = c["flows"] / max(1, c.get("generated_policy") or r["largest"]["flows"])
            notes.append(f"- {r['label']}: {r['largest']['name']}: {c['rules']:,} rules; cross-product "
                         f"{c['flows']:,} policy flows = {ratio:,.2f}x the generated table's {c.get('generated_policy', 0):,} "
                         f"policy (table 2) flows (largest single rule: {c['largest_rule']:,}); counted in {c['count_s']:.2f} s "
                         f"after {c['intent_s']:.1f} s to compile the intent")
        for key, load in (("generated", r.get("load")), ("cross-product", c.get("load"))):
            if load and load.get("error"):
                notes.append(f"- {r['label']}: {key} load: `{load['error']}`")
    if notes:
        out += ["", *notes]
    out += ["", "Times of `septum check` / `septum compile` include interpreter start; empty parse cache each run; "
            "the machine is shared with other work (2 CPUs), so timings are noisy. Synthetic policies: the "
            "generator's nftables firewalls rewritten as openflow switches (ports 1, 2, ... in file order), "
            "both commands with `--disable empty-flow`; the hospital: `--as-of "
            f"{HOSPITAL_AS_OF}`, `--device {HOSPITAL_DEVICE}`. `replace-flows` = `ovs-ofctl -O OpenFlow13 --bundle "
            "replace-flows` onto an empty bridge of a private Open vSwitch (userspace datapath, own namespace), "
            f"one run, capped at {meta['ovs_timeout']:g} s. Cross-product = one table-2 flow per (ingress port, "
            "source CIDR block, destination CIDR block, service match) of each rule of the same device's compiled "
            "intent, with the generated file's tables 0, 1, 3."]
    return "\n".join(out)


def _ovs_version() -> str:
    if shutil.which("ovs-ofctl") is None:
        return "Open vSwitch missing"
    r = subprocess.run(["ovs-ofctl", "--version"], capture_output=True, text=True)
    first = r.stdout.splitlines()[0] if r.stdout else "?"
    return "Open vSwitch " + first.split()[-1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Septum OpenFlow benchmarks (compile, flow tables, replace-flows).")
    ap.add_argument("--quick", action="store_true", help="only the hospital and 1k flows")
    ap.add_argument("--only", nargs="+", metavar="NAME", choices=[s[0] for s in SCENARIOS],
                    help="run only these scenarios: " + ", ".join(s[0] for s in SCENARIOS))
    ap.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    ap.add_argument("--repeat", type=int, default=3, help="timed check and compile runs per scenario (median)")
    ap.add_argument("--seed", type=int, default=1, help="seed for the synthetic policies")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per septum command")
    ap.add_argument("--no-ovs", action="store_true", help="skip the replace-flows loads")
    ap.add_argument("--ovs-timeout", type=float, default=600.0, help="cap on one replace-flows load, seconds")
    ap.add_argument("--max-flows", type=int, default=2_000_000,
                    help="do not write or load a cross-product table with more policy flows than this")
    ap.add_argument("--keep", type=pathlib.Path, help="work in this directory and keep it (policies, tables)")
    args = ap.parse_args(argv)
    args.repeat = max(1, args.repeat)

    chosen = [s for s in SCENARIOS if (args.only is None or s[0] in args.only) and (not args.quick or s[5] or args.only)]
    synthetic = bench._load_synthetic()
    rows = []
    with tempfile.TemporaryDirectory(prefix="septum-openflow-bench-") as tmp:
        tmp = pathlib.Path(tmp)
        work = args.keep.resolve() if args.keep else tmp
        work.mkdir(parents=True, exist_ok=True)
        shim = bench._make_shim(tmp)
        env = bench._child_env(shim)
        for name, label, zones, flows, budgets, _ in chosen:
            if zones is None:
                path = bench._reference_path()
                counts = {"zones": None, "flows": None}
            else:
                path = work / f"policy-{name}"
                if path.exists():
                    shutil.rmtree(path)
                gen = synthetic.generate(path, zones=zones, flows=flows, hosts_per_zone=1, seed=args.seed)
                counts = {k: gen[k] for k in ("zones", "hosts", "flows", "files", "bytes", "devices")}
                counts.update(to_openflow(path))
            _log(f"{label} ...")
            rows.append(measure(name, label, path, counts, budgets, env, work, args))
    meta = {"python": platform.python_version(), "platform": platform.platform(terse=True), "cpus": os.cpu_count(),
            "ovs": _ovs_version(), "repeat": args.repeat, "seed": args.seed, "calibration_s": bench.calibration(),
            "ovs_timeout": args.ovs_timeout, "max_flows": args.max_flows}
    if args.json:
        print(json.dumps({"meta": meta, "scenarios": rows}, indent=2))
    else:
        print(markdown(rows, meta))
    over = [r for r in rows if any(not v["ok"] for v in r["budgets"].values())]
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
