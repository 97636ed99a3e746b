#!/usr/bin/env python3
"""Septum compile benchmarks: `septum compile` time and memory, the rulesets it writes, how long
nftables takes to load them and what they cost per packet, beside a flat encoding of the same
intent.

Scenarios: the reference hospital (`zones/`, `--device core-fw`) and synthetic policies of
tests/synthetic.py with 1k zones and 1k, 10k and 100k flows (every zone bound on linked nftables
firewalls: a core, a distribution firewall per region, a firewall per site). Each measurement
runs in a fresh process:

* `septum check PATH` and `septum compile PATH --out DIR --format json` (all devices; the
  hospital: core-fw): wall time (interpreter start included) and peak RSS (os.wait4), median of
  --repeat runs with an empty parse cache each; "on top of check" = compile − check.
  The synthetic policies have E522 findings by design (docs/performance.md), which stop a
  compile; both commands get `--disable empty-flow` (verification otherwise runs in full). The
  hospital gets `--as-of 2026-11-23` (its waivers are judged on a fixed day, as in the tests).
* the rulesets: chains, rules, sets, elements, bytes (from `--format json`), all devices and the
  largest one;
* nft load: `unshare --net nft -f FILE` (a fresh network namespace), wall time and nft's peak
  RSS, for the largest device's ruleset and for a FLAT encoding of the same device's intent:
  one rule per (ingress, egress, source CIDR, destination CIDR, service run) in one forward
  chain after the same `ct state` verdicts, built from the compiled intent
  (`load_and_compile(...).intent.devices[NAME].rules`), with the same log prefixes and
  comments. Loads are capped at --nft-timeout seconds and --nft-mem-gb of address space;
  a capped load is reported as "> N s" / "out of memory".
* per packet: three network namespaces, src -- fw -- dst, joined by veth pairs named like the
  device's ingress and egress interfaces; the ruleset is loaded in fw (ip_forward on). A
  sender in src sends one UDP stream (new connections as far as conntrack can tell: no reply
  ever comes back, dst drops everything) for --packet-seconds; cost per packet = elapsed /
  packets fw took in. Three packets are tried: permitted by the rule in the middle of the flat
  chain, permitted by the last UDP rule of the flat chain (the flat ruleset's worst case for a
  permit) and denied (same addresses, a port no rule allows: every flat rule is evaluated).
  The same run with a baseline ruleset (the same `ct state` verdicts, then accept; for the
  denied packet, drop) is subtracted: what remains is the rule evaluation, conntrack and
  forwarding excluded.

A Markdown table goes to stdout (or JSON with --json); budgets are marked PASS / OVER and the
exit status is 1 if any is over:

* 1k zones, 10k flows, every device: compile < 1 s on top of check;
* 1k zones, 100k flows: compile < 10 s on top of check and < 1 GB peak RSS.

    python benchmarks/compile_bench.py                    # everything (long: see README.md)
    python benchmarks/compile_bench.py --quick            # hospital and 1k flows
    python benchmarks/compile_bench.py --only c10k --repeat 1
    python benchmarks/compile_bench.py --no-nft           # compile figures only (no root needed)
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import resource
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

# name, label, zones, flows, budgets, quick; budgets: extra_s = compile − check, compile_mb = compile's peak RSS
SCENARIOS = [
    ("hospital", "reference hospital (core-fw)", None, None, {}, True),
    ("c1k", "1k zones, 1k flows", 1_000, 1_000, {}, True),
    ("c10k", "1k zones, 10k flows", 1_000, 10_000, {"extra_s": 1.0}, False),
    ("c100k", "1k zones, 100k flows", 1_000, 100_000, {"extra_s": 10.0, "compile_mb": 1024}, False),
]

# Runs in a fresh interpreter: the flat encoding of one device's compiled intent, and the
# packets the per-packet test sends. Prints one JSON line.
FLAT_CHILD = r"""
import json, sys, time
from pathlib import Path
args = json.loads(sys.argv[1])
t0 = time.perf_counter()
import datetime as dt
from septum.compiler.devices.pipeline import load_and_compile
from septum.compiler.packets.addresses import block_cidrs
from septum.backends.nftables.text import escape, icmp_runs, number_range, address
as_of = dt.date.fromisoformat(args["as_of"]) if args["as_of"] else None
_, result = load_and_compile(Path(args["path"]), (args["device"],), as_of=as_of, disabled=frozenset(args["disabled"]))
if result.intent is None:
    print("BENCH-JSON " + json.dumps({"error": f"not compiled (exit {result.status}) {result.message}"}))
    sys.exit(0)
t_intent = time.perf_counter() - t0
device = result.intent.devices[args["device"]]
cidr_cache = {}
def cidrs(family, intervals):
    found = cidr_cache.get((family, intervals))
    if found is None:
        found = cidr_cache[(family, intervals)] = [c for a, b in intervals for c in block_cidrs(family, a, b)]
    return found
out = ["#!/usr/sbin/nft -f", f"# FLAT encoding of the compiled intent of device {device.name} (benchmark only)",
       "table inet septumflat {}", "delete table inet septumflat", "table inet septumflat {", "\tchain forward {",
       "\t\ttype filter hook forward priority filter; policy drop;",
       "\t\tct state vmap { invalid : drop, established : accept, related : accept }"]
udp = []  # (position in the chain, rule) of flat rules matching one udp run, unlogged
n = 0
for rule in device.rules:
    location = escape(device.flows[rule.flow].location)
    tail = (f'log prefix "septum {location}: " ' if rule.log else "") + f'accept comment "{location}"'
    for family, word, icmp in ((4, "ip", "icmp"), (6, "ip6", "icmpv6")):
        sources, destinations = rule.source.family(family), rule.destination.family(family)
        if not sources or not destinations:
            continue
        matches = []
        for s in rule.services:
            if s.protocol in ("tcp", "udp"):
                matches.append((s, f"{s.protocol} dport {number_range(s.low, s.high)}"))
            elif s.protocol == icmp:
                matches.extend((s, f"{icmp} type {t} {icmp} code {c}") for t, c in icmp_runs(s.low, s.high))
        head = f'\t\tiifname "{rule.ingress}" oifname "{rule.egress}" '
        for a in cidrs(family, sources):
            for b in cidrs(family, destinations):
                for s, match in matches:
                    out.append(f"{head}{word} saddr {a} {word} daddr {b} {match} {tail}")
                    if family == 4 and s.protocol == "udp" and not rule.log:
                        udp.append((n, rule, sources, destinations, s))
                    n += 1
out += ["\t}", "}", ""]
data = "\n".join(out).encode()
Path(args["out"]).write_bytes(data)

def pick(intervals):
    first, last = intervals[0]
    return first + min(10, (last - first) // 2)

def allowed(src, dst, port, ingress, egress):
    for r in device.rules:
        if r.ingress != ingress or r.egress != egress or (4, src) not in r.source or (4, dst) not in r.destination:
            continue
        if any(s.protocol == "udp" and s.low <= port <= s.high for s in r.services):
            return True
    return False

packets = []
if udp:
    for label, (position, rule, sources, destinations, s) in (("permit, middle of flat chain", udp[len(udp) // 2]),
                                                            ("permit, end of flat chain", udp[-1])):
        src, dst = pick(sources), pick(destinations)
        packets.append({"label": label, "ingress": rule.ingress, "egress": rule.egress, "src": address(4, src),
                        "dst": address(4, dst), "port": s.low, "flat_position": position + 1,
                        "permitted": allowed(src, dst, s.low, rule.ingress, rule.egress)})
    last = packets[-1]
    _, rule, sources, destinations, _ = udp[-1]
    src, dst = pick(sources), pick(destinations)
    port = next((p for p in (9, 7, 19, 13, 37, 1, 2, 3, 4, 5, 6, 8, 10, 11, 12)
                 if not allowed(src, dst, p, rule.ingress, rule.egress)), None)
    if port is not None:
        packets.append({**last, "label": "deny (no rule allows it)", "port": port, "flat_position": n,
                        "permitted": False})
print("BENCH-JSON " + json.dumps({"rules": n, "bytes": len(data), "intent_s": t_intent,
                                  "build_s": time.perf_counter() - t0 - t_intent, "packets": packets}))
"""

# the baselines: the same ct state verdicts, then the packet's fate without any rule (accept for
# permitted packets, which then cross to the next namespace; drop for denied ones)
BASELINE_RULESET = """table inet septumbase {}
delete table inet septumbase
table inet septumbase {
\tchain forward {
\t\ttype filter hook forward priority filter; policy POLICY;
\t\tct state vmap { invalid : drop, established : accept, related : accept }
\t}
}
"""

SENDER = r"""
import socket, sys, time
src, dst, port, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, 40000))
payload = b"septum-bench" * 4
for _ in range(3):  # neighbour discovery before timing
    try:
        s.sendto(payload, (dst, port))
    except OSError:
        pass
    time.sleep(0.2)
sent = errors = 0
t0 = time.perf_counter()
end = t0 + seconds
while True:
    for _ in range(64):
        try:
            s.sendto(payload, (dst, port))
        except OSError:
            errors += 1
        sent += 1
    if time.perf_counter() >= end:
        break
print(sent, errors, time.perf_counter() - t0)
"""


# ---- running things ------------------------------------------------------------------------------

def _tool(name: str) -> str | None:
    return shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/sbin/{name}", f"/usr/bin/{name}")
                                       if os.path.exists(p)), None)


def _run_limited(cmd: list[str], timeout: float, mem_bytes: int | None = None, env: dict | None = None,
                 cwd=None) -> dict:
    """Run cmd (its peak RSS from os.wait4), killed after `timeout` s, with an address-space cap."""
    def limit():
        if mem_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (mem_bytes, mem_bytes))
    out_f, err_f = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=out_f, stderr=err_f, env=env, cwd=cwd, preexec_fn=limit)
    timed_out = False
    while True:
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() - t0 > timeout:
            proc.kill()
            pid, status, ru = os.wait4(proc.pid, 0)
            timed_out = True
            break
        time.sleep(0.005)
    wall = time.perf_counter() - t0
    out_f.seek(0)
    err_f.seek(0)
    return {"wall": wall, "rss": ru.ru_maxrss * 1024, "rc": os.waitstatus_to_exitcode(status), "timed_out": timed_out,
            "stdout": out_f.read().decode("utf-8", "replace"), "stderr": err_f.read().decode("utf-8", "replace")}


def nft_load(path: pathlib.Path, timeout: float, mem_bytes: int) -> dict:
    """`unshare --net nft -f FILE`: load into a fresh, empty network namespace."""
    r = _run_limited([_tool("unshare"), "--net", _tool("nft"), "-f", str(path)], timeout, mem_bytes)
    err = r["stderr"].strip()
    oom = r["rc"] != 0 and any(w in err.lower() for w in ("memory", "cannot allocate", "enomem"))
    return {"load_s": r["wall"], "nft_mb": r["rss"] / MB, "rc": r["rc"], "timed_out": r["timed_out"],
            "out_of_memory": oom, "error": err.splitlines()[-1][:200] if r["rc"] and err else None}


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([_tool("ip"), *args], capture_output=True, text=True, timeout=60)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result


class Rig:
    """A firewall namespace whose interfaces carry the device's interface names, each the end of
    a veth pair to a host namespace of its own that holds the test addresses behind it."""

    def __init__(self, packets: list[dict]) -> None:
        tag = f"{os.getpid()}-{int(time.time() * 1000) % 100000}"
        self.fw_ns = f"sb-fw-{tag}"
        self.made: list[str] = []
        self.hosts: dict[str, str] = {}  # fw interface -> host namespace behind it
        behind: dict[str, list[str]] = {}  # fw interface -> addresses behind it
        for p in packets:
            for dev, addr in ((p["ingress"], p["src"]), (p["egress"], p["dst"])):
                if addr not in behind.setdefault(dev, []):
                    behind[dev].append(addr)
        try:
            self._netns(self.fw_ns)
            for i, (dev, addresses) in enumerate(behind.items()):
                ns = self.hosts[dev] = self._netns(f"sb-h{i}-{tag}")
                gw = f"169.254.{i + 1}.1"
                _ip("-n", self.fw_ns, "link", "add", dev, "type", "veth", "peer", "name", "h0", "netns", ns)
                _ip("-n", self.fw_ns, "addr", "add", f"{gw}/32", "dev", dev)
                _ip("-n", self.fw_ns, "link", "set", dev, "up")
                _ip("-n", ns, "link", "set", "h0", "up")
                for addr in addresses:
                    _ip("-n", ns, "addr", "add", f"{addr}/32", "dev", "h0")
                    _ip("-n", self.fw_ns, "route", "add", f"{addr}/32", "dev", dev)
                _ip("-n", ns, "route", "add", gw, "dev", "h0")
                _ip("-n", ns, "route", "add", "default", "via", gw, "dev", "h0")
                # the hosts answer nothing (no ICMP port unreachable): conntrack never sees a reply
                self.nft(ns, b"table inet sink { chain input { type filter hook input priority 0; policy drop; } }\n")
            for ns in self.made:
                self.sysctl(ns, "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0")
            self.sysctl(self.fw_ns, "net.ipv4.ip_forward=1")
        except Exception:
            self.close()
            raise

    def _netns(self, name: str) -> str:
        _ip("netns", "add", name)
        self.made.append(name)
        _ip("-n", name, "link", "set", "lo", "up")
        return name

    def sysctl(self, ns: str, *settings: str) -> None:
        subprocess.run([_tool("ip"), "netns", "exec", ns, "sysctl", "-q", "-w", *settings], capture_output=True,
                       timeout=30)

    def nft(self, ns: str, ruleset: bytes | None = None, path: pathlib.Path | None = None, timeout: float = 600,
            mem_bytes: int | None = None) -> dict:
        if ruleset is not None:
            handle = tempfile.NamedTemporaryFile("wb", suffix=".nft", delete=False)
            with handle:
                handle.write(ruleset)
            path = pathlib.Path(handle.name)
        try:
            return _run_limited([_tool("ip"), "netns", "exec", ns, _tool("nft"), "-f", str(path)], timeout, mem_bytes)
        finally:
            if ruleset is not None:
                os.unlink(path)

    def flush(self) -> None:
        subprocess.run([_tool("ip"), "netns", "exec", self.fw_ns, _tool("nft"), "flush", "ruleset"],
                       capture_output=True, timeout=1800)

    def _stats(self, ns: str, dev: str) -> dict:
        data = json.loads(_ip("-n", ns, "-s", "-j", "link", "show", "dev", dev).stdout)[0]["stats64"]
        return {"rx": data["rx"]["packets"], "rx_dropped": data["rx"]["dropped"], "tx": data["tx"]["packets"],
                "tx_dropped": data["tx"]["dropped"]}

    def send(self, packet: dict, seconds: float) -> dict:
        ingress, egress, src_ns = packet["ingress"], packet["egress"], self.hosts[packet["ingress"]]

        def stats():
            return self._stats(self.fw_ns, ingress), self._stats(self.fw_ns, egress), self._stats(src_ns, "h0")

        before = stats()
        r = subprocess.run([_tool("ip"), "netns", "exec", src_ns, sys.executable, "-c", SENDER, packet["src"],
                            packet["dst"], str(packet["port"]), str(seconds)], capture_output=True, text=True,
                           timeout=seconds * 20 + 60)
        if r.returncode != 0:
            raise RuntimeError(f"sender failed: {r.stderr.strip()[-300:]}")
        after = stats()
        sent, errors, elapsed = r.stdout.split()
        # packets the firewall namespace took in: received on the ingress veth, less those dropped on the way in
        taken = (after[0]["rx"] - before[0]["rx"]) - (after[0]["rx_dropped"] - before[0]["rx_dropped"]) \
            - (after[2]["tx_dropped"] - before[2]["tx_dropped"])
        forwarded = after[1]["tx"] - before[1]["tx"]
        return {"sent": int(sent), "errors": int(errors), "elapsed": float(elapsed), "taken": taken,
                "forwarded": forwarded, "us_per_packet": float(elapsed) / taken * 1e6 if taken > 0 else None}

    def close(self) -> None:
        for ns in self.made:
            _ip("netns", "del", ns, check=False)
        self.made = []


def _median_send(rig: Rig, packet: dict, seconds: float, repeat: int) -> dict:
    runs = [rig.send(packet, seconds) for _ in range(repeat)]
    runs.sort(key=lambda r: r["us_per_packet"] or float("inf"))
    return runs[len(runs) // 2]


def packet_costs(packets: list[dict], compiled: pathlib.Path, flat: pathlib.Path | None, seconds: float,
                 repeat: int, timeout: float, mem_bytes: int) -> list[dict]:
    """Per-packet cost of each test packet through the baseline, compiled and flat rulesets, each
    loaded once into the same firewall namespace."""
    rig = Rig(packets)
    results: dict[str, dict] = {}
    try:
        for permitted in (True, False):
            wanted = [p for p in packets if p["permitted"] == permitted]
            if wanted:
                rig.flush()
                rig.nft(rig.fw_ns, BASELINE_RULESET.replace("POLICY", "accept" if permitted else "drop").encode())
                for p in wanted:
                    results.setdefault("baseline", {})[p["label"]] = _median_send(rig, p, seconds, repeat)
        for name, path in (("compiled", compiled), ("flat", flat)):
            rig.flush()
            if path is None:
                results[name] = {"error": "not loaded"}
                continue
            load = rig.nft(rig.fw_ns, path=path, timeout=timeout, mem_bytes=mem_bytes)
            if load["rc"] != 0 or load["timed_out"]:
                results[name] = {"error": "did not load" + (" (timeout)" if load["timed_out"] else "")}
                continue
            results[name] = {p["label"]: _median_send(rig, p, seconds, repeat) for p in packets}
    finally:
        rig.flush()
        rig.close()
    rows = []
    for p in packets:
        row = {**p}
        for name in ("baseline", "compiled", "flat"):
            got = results.get(name, {})
            row[name] = {"error": got["error"]} if "error" in got else got.get(p["label"])
        rows.append(row)
    return rows


# ---- measuring one scenario ----------------------------------------------------------------------

def _commands(path: pathlib.Path, name: str, out: pathlib.Path) -> tuple[list[str], list[str], dict]:
    if name == "hospital":
        flags, devices, as_of, disabled = ["--as-of", HOSPITAL_AS_OF], ["--device", "core-fw"], HOSPITAL_AS_OF, []
    else:
        flags, devices, as_of, disabled = ["--disable", "empty-flow"], [], None, ["empty-flow"]
    check = [sys.executable, "-m", "septum", "check", str(path), *flags]
    compile_ = [sys.executable, "-m", "septum", "compile", str(path), "--out", str(out), "--format", "json",
                *devices, *flags]
    return check, compile_, {"as_of": as_of, "disabled": disabled}


def measure(name, label, path, counts, budgets, env, cwd, args) -> dict:
    out = cwd / f"out-{name}"
    check_cmd, compile_cmd, child = _commands(path, name, out)
    row = {"scenario": name, "label": label, "path": str(path), **counts}
    for _ in range(0 if args.no_warmup else 1):
        bench._run(check_cmd, bench._cold(env, cwd), cwd, args.timeout)
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
    row["compile_s_min"] = min(c["wall"] for c in compiles)
    row["compile_mb"] = max(c["rss"] for c in compiles) / MB
    row["compile_rc"] = compiles[-1]["rc"]
    row["extra_s"] = row["compile_s"] - row["check_s"]
    ran = all(c["rc"] == 0 and not c["timed_out"] for c in compiles) and not any(c["timed_out"] for c in checks)
    row["compile_error"] = None if ran else (compiles[-1]["stderr"].strip().splitlines() or ["timeout"])[-1][:300]
    devices = []
    try:
        devices = json.loads(compiles[-1]["stdout"])["devices"]
    except (json.JSONDecodeError, KeyError):
        pass
    written = [d for d in devices if d.get("status") == "written"]
    row["devices"] = len(devices)
    row["written"] = len(written)
    row["ruleset"] = {k: sum(d.get(k, 0) for d in written) for k in ("chains", "rules", "sets", "elements", "bytes")}
    largest = max(written, key=lambda d: d.get("bytes", 0), default=None)
    row["largest"] = {k: largest.get(k) for k in ("name", "chains", "rules", "sets", "elements", "bytes")} \
        if largest else None
    verdicts = {}
    for key, limit in budgets.items():
        value = row.get(key)
        verdicts[key] = {"limit": limit, "value": value, "ran": ran, "ok": ran and value is not None and value < limit}
    row["budgets"] = verdicts
    print(f"[compile-bench] {label}: check {row['check_s']:.2f} s, compile {row['compile_s']:.2f} s "
          f"({row['compile_mb']:.0f} MB), rc {row['compile_rc']}", file=sys.stderr, flush=True)

    if args.no_nft or not largest:
        return row
    missing = [t for t in ("nft", "unshare", "ip") if _tool(t) is None]
    if missing or os.geteuid() != 0:
        row["nft_skipped"] = f"needs root and {', '.join(missing or ['nft'])}"
        return row
    mem = int(args.nft_mem_gb * 1024 ** 3)
    file = out / f"{largest['name']}.nft"
    row["load"] = nft_load(file, args.nft_timeout, mem)
    print(f"[compile-bench] {label}: nft -f {file.name} {_fmt_load(row['load'])}", file=sys.stderr, flush=True)
    if args.load_all and len(written) > 1:
        loads = [nft_load(out / f"{d['name']}.nft", args.nft_timeout, mem) for d in written]
        row["load_all"] = {"load_s": sum(l["load_s"] for l in loads), "nft_mb": max(l["nft_mb"] for l in loads),
                           "failed": sum(1 for l in loads if l["rc"] != 0)}
    flat_file = cwd / f"flat-{name}-{largest['name']}.nft"
    spec = {"path": str(path), "device": largest["name"], "out": str(flat_file), **child}
    r = _run_limited([sys.executable, "-c", FLAT_CHILD, json.dumps(spec)], args.timeout, None, env, cwd)
    line = next((l for l in r["stdout"].splitlines() if l.startswith("BENCH-JSON ")), None)
    flat = json.loads(line[len("BENCH-JSON "):]) if line else {"error": (r["stderr"].strip().splitlines()
                                                                          or ["no output"])[-1][:300]}
    row["flat"] = flat
    if "error" in flat:
        return row
    print(f"[compile-bench] {label}: flat {flat['rules']:,} rules, {flat['bytes'] / MB:.1f} MB; loading ...",
          file=sys.stderr, flush=True)
    flat["load"] = nft_load(flat_file, args.nft_timeout, mem)
    print(f"[compile-bench] {label}: nft -f flat {_fmt_load(flat['load'])}", file=sys.stderr, flush=True)
    if args.no_packets or not flat["packets"]:
        return row
    flat_ok = flat["load"]["rc"] == 0 and not flat["load"]["timed_out"]
    try:
        row["packets"] = packet_costs(flat["packets"], file, flat_file if flat_ok else None, args.packet_seconds,
                                      args.packet_repeat, args.nft_timeout, mem)
    except (RuntimeError, subprocess.SubprocessError, OSError) as error:
        row["packets_error"] = str(error)[:300]
    if not args.keep:
        flat_file.unlink(missing_ok=True)
    return row


# ---- output --------------------------------------------------------------------------------------

def _fmt_s(v):
    return bench._fmt_s(v)


def _fmt_load(load: dict | None) -> str:
    if not load:
        return "—"
    if load["timed_out"]:
        return f"> {load['load_s']:.0f} s"
    if load["rc"] != 0:
        return "out of memory" if load["out_of_memory"] else f"failed (rc {load['rc']})"
    return f"{_fmt_s(load['load_s'])} s"


_n = bench.count


def _mb(v) -> str:
    return "—" if v is None else (f"{v / MB:.2f}" if v < 10 * MB else f"{v / MB:.0f}")


def _us(cost: dict | None, base: dict | None = None) -> str:
    if not cost:
        return "—"
    if "error" in cost:
        return cost["error"]
    value = cost.get("us_per_packet")
    if value is None:
        return "nothing taken in"
    text = f"{value:.2f}" if value < 100 else f"{value:,.0f}"
    if base and base.get("us_per_packet") is not None:
        delta = value - base["us_per_packet"]
        text += f" ({delta:+.2f})" if abs(delta) < 100 else f" ({delta:+,.0f})"
    return text


def markdown(rows: list[dict], meta: dict) -> str:
    out = [f"Septum compile benchmarks — Python {meta['python']} on {meta['platform']}, {meta['cpus']} CPUs, "
           f"nft {meta['nft']}; median of {meta['repeat']} run(s), fresh process each.",
           f"Calibration: a 10-million-step Python loop takes {meta['calibration_s']} s here.", ""]
    out += bench.compile_table(rows)
    out += ["", "| scenario | ruleset | chains | rules | sets | elements | MB | `nft -f` load | nft RSS MB "
            "| flat rules | flat MB | flat `nft -f` load | flat nft RSS MB |",
            "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r in rows:
        t = r["ruleset"]
        all_load = r.get("load_all")
        load_all = "—" if not all_load else f"{_fmt_s(all_load['load_s'])} s (sum)" + (
            f", {all_load['failed']} failed" if all_load["failed"] else "")
        out.append(f"| {r['label']} | all devices ({r['written']}) | {_n(t['chains'])} | {_n(t['rules'])} "
                   f"| {_n(t['sets'])} | {_n(t['elements'])} | {_mb(t['bytes'])} | {load_all} "
                   f"| {_mb(all_load['nft_mb'] * MB) + ' (max)' if all_load else '—'} | | | | |")
        lg = r.get("largest")
        if not lg:
            continue
        flat = r.get("flat") or {}
        load = r.get("load")
        fl = flat.get("load")
        out.append(f"| | largest: {lg['name']} | {_n(lg['chains'])} | {_n(lg['rules'])} | {_n(lg['sets'])} "
                   f"| {_n(lg['elements'])} | {_mb(lg['bytes'])} | {_fmt_load(load)} "
                   f"| {_mb(load['nft_mb'] * MB) if load else '—'} | {_n(flat.get('rules'))} "
                   f"| {_mb(flat.get('bytes'))} | {_fmt_load(fl)} | {_mb(fl['nft_mb'] * MB) if fl else '—'} |")
    packet_rows = [(r, p) for r in rows for p in r.get("packets", [])]
    if packet_rows:
        out += ["", "| scenario | device: ingress → egress | packet | flat rule # | compiled µs/pkt (+ over baseline) "
                "| flat µs/pkt (+ over baseline) | baseline µs/pkt |", "|---|---|---|--:|--:|--:|--:|"]
        for r, p in packet_rows:
            base = p.get("baseline")
            out.append(f"| {r['label']} | {r['largest']['name']}: {p['ingress']} → {p['egress']} "
                       f"| {p['label']}: udp {p['src']} → {p['dst']}:{p['port']} | {_n(p['flat_position'])} "
                       f"| {_us(p.get('compiled'), base)} | {_us(p.get('flat'), base)} | {_us(base)} |")
    notes = []
    for r in rows:
        if r.get("compile_error"):
            notes.append(f"- {r['label']}: compile did not finish cleanly: `{r['compile_error']}`")
        if r.get("nft_skipped"):
            notes.append(f"- {r['label']}: nft measurements skipped: {r['nft_skipped']}")
        flat = r.get("flat") or {}
        if flat.get("error"):
            notes.append(f"- {r['label']}: flat encoding failed: `{flat['error']}`")
        for key, load in (("compiled", r.get("load")), ("flat", flat.get("load"))):
            if load and load.get("error"):
                notes.append(f"- {r['label']}: {key} load: `{load['error']}`")
        if r.get("packets_error"):
            notes.append(f"- {r['label']}: per-packet test failed: `{r['packets_error']}`")
        for p in r.get("packets", []):
            for name in ("compiled", "flat"):
                c = p.get(name) or {}
                # a stray neighbour-discovery packet may leave by the egress too: judge by the majority
                if c.get("us_per_packet") is not None and (c["forwarded"] > c["taken"] // 2) != p["permitted"]:
                    notes.append(f"- {r['label']}: {name} {'dropped' if p['permitted'] else 'forwarded'} the "
                                 f"'{p['label']}' packet, the intent {'permits' if p['permitted'] else 'denies'} it")
    if notes:
        out += ["", *notes]
    out += ["", "Times of `septum check` / `septum compile` include interpreter start; empty parse cache each run. "
            "Synthetic policies: both with `--disable empty-flow` (their E522 findings are by design); the hospital: "
            f"`--as-of {HOSPITAL_AS_OF}`, `--device core-fw`. Load = `unshare --net nft -f FILE`, capped at "
            f"{meta['nft_timeout']:g} s and {meta['nft_mem_gb']:g} GB. Flat = one rule per (ingress, egress, "
            "source CIDR, destination CIDR, service run) of the same device's compiled intent, in one chain. "
            "µs/pkt = sender's elapsed time / packets the firewall namespace took in, one UDP stream of new "
            f"connections for {meta['packet_seconds']:g} s (median of {meta['packet_repeat']}); "
            "(+x) = over the baseline ruleset (the same ct state verdicts, then accept, or for the denied packet drop): "
            "the rule evaluation alone."]
    return "\n".join(out)


def _nft_version() -> str:
    nft = _tool("nft")
    if not nft:
        return "missing"
    r = subprocess.run([nft, "--version"], capture_output=True, text=True)
    return r.stdout.strip().replace("nftables ", "") or "?"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Septum compile benchmarks (compile time, rulesets, nft load, per packet).")
    ap.add_argument("--quick", action="store_true", help="only the hospital and 1k flows")
    ap.add_argument("--only", nargs="+", metavar="NAME", choices=[s[0] for s in SCENARIOS],
                    help="run only these scenarios: " + ", ".join(s[0] for s in SCENARIOS))
    ap.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    ap.add_argument("--repeat", type=int, default=3, help="timed check and compile runs per scenario (median)")
    ap.add_argument("--no-warmup", action="store_true", help="skip the untimed warm-up check")
    ap.add_argument("--seed", type=int, default=1, help="seed for the synthetic policies")
    ap.add_argument("--hosts-per-zone", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per septum command")
    ap.add_argument("--no-nft", action="store_true", help="skip the nft loads and the per-packet test")
    ap.add_argument("--no-packets", action="store_true", help="skip the per-packet test")
    ap.add_argument("--load-all", action="store_true", help="also load every device's ruleset (sum of the times)")
    ap.add_argument("--nft-timeout", type=float, default=600.0, help="cap on one nft load, seconds")
    ap.add_argument("--nft-mem-gb", type=float, default=12.0, help="address-space cap of one nft load, GB")
    ap.add_argument("--packet-seconds", type=float, default=2.0, help="length of one packet stream")
    ap.add_argument("--packet-repeat", type=int, default=3, help="packet streams per measurement (median)")
    ap.add_argument("--keep", type=pathlib.Path, help="work in this directory and keep it (policies, rulesets)")
    args = ap.parse_args(argv)
    args.repeat = max(1, args.repeat)

    chosen = [s for s in SCENARIOS if (args.only is None or s[0] in args.only) and (not args.quick or s[5] or args.only)]
    synthetic = bench._load_synthetic()
    rows = []
    with tempfile.TemporaryDirectory(prefix="septum-compile-bench-") as tmp:
        tmp = pathlib.Path(tmp)
        work = args.keep or tmp
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
                gen = synthetic.generate(path, zones=zones, flows=flows, hosts_per_zone=args.hosts_per_zone,
                                         seed=args.seed)
                counts = {k: gen[k] for k in ("zones", "hosts", "flows", "files", "bytes", "devices")}
            print(f"[compile-bench] {label} ...", file=sys.stderr, flush=True)
            rows.append(measure(name, label, path, counts, budgets, env, work, args))
    meta = {"python": platform.python_version(), "platform": platform.platform(terse=True), "cpus": os.cpu_count(),
            "nft": _nft_version(), "repeat": args.repeat, "seed": args.seed, "calibration_s": bench.calibration(),
            "nft_timeout": args.nft_timeout, "nft_mem_gb": args.nft_mem_gb, "packet_seconds": args.packet_seconds,
            "packet_repeat": args.packet_repeat}
    if args.json:
        print(json.dumps({"meta": meta, "scenarios": rows}, indent=2))
    else:
        print(markdown(rows, meta))
    over = [r for r in rows if any(not v["ok"] for v in r["budgets"].values())]
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
