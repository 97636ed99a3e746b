#!/usr/bin/env python3
"""Septum Cisco IOS benchmarks: `septum compile` time and memory for cisco-ios routers, the
zone-based firewall configs it writes, beside a FLAT encoding of the same intent (no
object-groups) and beside what Aerleon (the Capirca fork) writes for the same intent.

Scenarios: the reference hospital (`zones/`, `--device dist-rtr`, the hospital's only cisco-ios
router) and synthetic policies of tests/synthetic.py, `generate(path, zones=1000, flows=N,
hosts_per_zone=1, seed=1)` with N = 1k, 10k, 100k (c1k, c10k, c100k). The generator binds every
zone on linked nftables firewalls (core-fw, a dist-fw-N per region, a site-fw-N per site); the
benchmark rewrites every device declaration of the generated files, `firewall NAME nftables {`,
to `router NAME cisco-ios {` (nothing else changes: interface names such as eth1.5 and eth2.3
are valid IOS interface names for the backend). Measured per scenario:

1. `septum check PATH` and `septum compile PATH --out DIR --format json`, each in a fresh
   process: wall time (interpreter start included) and peak RSS (os.wait4), median of --repeat
   runs (RSS: the largest), an empty SEPTUM_CACHE_DIR each run, after one untimed warm-up
   check. Synthetic: both commands with `--disable empty-flow` (their E522 findings are by
   design, docs/performance.md); the hospital: `--as-of 2026-11-23 --device dist-rtr` (check:
   `--as-of` only). "compile − check" = median compile − median check.
2. The configs, from the `--format json` summary (backends/cisco/render.py): lines, ACEs,
   ACLs, object-groups, zone-pairs, bytes, summed over all devices and for the largest device
   (by bytes). ACEs as the backend counts them: every permit entry plus the closing
   `deny ip any any` / `deny ipv6 any any` of each ACL. "ACL part" = the lines and bytes of the
   object-group and access-list sections only (the rest is class-maps, policy-maps, zones,
   zone-pairs, interfaces), counted in the written file.
3. FLAT: in a fresh Septum process, `load_and_compile(PATH, (DEVICE,), verify=False)` (hospital:
   with `as_of`), then the largest device's config rendered by the same backend code with
   `_Writer.acl_v4` replaced in-process (no file of the project is changed): every IPv4 rule
   becomes one ACE per (source CIDR, destination CIDR, service run), i.e. per (ingress, egress,
   source CIDR, destination CIDR, service run) of the device, written `N permit tcp|udp SRC
   DST [eq P | range A B]` or `N permit icmp SRC DST TYPE [CODE]` with SRC/DST `host A` or
   `A WILDCARD`; CIDRs = the fewest prefixes covering each interval (the backend's `blocks`);
   service run = one tcp/udp port run of the rule, or one ICMP test of `icmp_parts` (a whole
   type, or type and code); no object-groups. IPv6 entries are as the backend writes them
   (already one per prefix pair and service run), the remarks, class-maps, policy-maps,
   zone-pairs and closing denies the same: so FLAT differs from the compiled config in the
   IPv4 ACLs only. Its ACEs, lines and bytes are exact (the text is rendered and counted; with
   --keep it is written). The same process times `render` of the compiled and the flat config.
4. Aerleon (not a Septum dependency; `--aerleon PYTHON`, default /tmp/aerleon-venv/bin/python;
   skipped with a note if absent). The same Septum process writes an Aerleon tree for the
   largest device's intent: def/NETWORKS.net (one name per distinct address set of a rule's
   source or destination, both families, the fewest CIDRs), def/SERVICES.svc (one name per
   distinct list of port runs, `P/proto` or `A-B/proto`), and two policies with ONE FILTER PER
   (ingress, egress) INTERFACE PAIR of the device (as the backend has one ACL per zone-pair),
   one term per Septum rule, `action:: accept`, `logging:: true` for logged flows, the flow's
   location as the comment: policies/pol/ext.pol with `target:: cisco Pk mixed` (extended IPv4
   ACL plus an IPv6 ACL) and policies/pol/og.pol with `target:: cisco Pk object-group`
   (Aerleon's cisco object-group mode). A rule becomes more than one term where Aerleon's
   term model needs it, and is counted as "split": Aerleon applies a term's ports to each of
   its protocols, so tcp and udp with different port lists are a term each; ICMP is a term of
   its own (no ports), one term for the whole ICMP types, one per type with `icmp-code` for
   types that are matched only for some codes. A rule with an ICMP type Aerleon has no
   `icmp-type` name for, or codes its `icmp-code` does not accept for that type (Aerleon
   accepts codes only for the types in its Term.ICMP_CODE table), is left out entirely and
   counted as "not expressible" (the tables are read from the installed Aerleon). Then
   `aclgen --policy_file=... --max_renderers=1 --noshade_check` in a fresh Aerleon process
   per policy: wall time (interpreter start included) and peak RSS. In each output: lines,
   ACEs (lines whose first word is permit or deny), ACLs, object-groups, whether the
   object-group output uses IOS-XR syntax (`object-group network ipv4`, `net-group`,
   `port-group`, `object-group port`: IOS has `object-group network NAME` / `object-group
   service NAME` and `permit object-group SVC object-group SRC object-group DST`), whether it
   has IPv6 ACLs, and ACEs repeated within one ACL. Finally the output is read back (addresses,
   protocols, ports, ICMP type/code, object-group contents expanded) and compared with the
   intent of the expressible rules, per (ACL, family, protocol, source CIDR, destination CIDR)
   with merged port runs / ICMP tests: "matches intent" or the number of differing keys.

A Markdown table goes to stdout (or JSON with --json); budgets are marked PASS / OVER and the
exit status is 1 if any is over (as for the nftables backend):

* 1k zones, 10k flows, every device: compile < 1 s on top of check;
* 1k zones, 100k flows: compile < 10 s on top of check and < 1 GB peak RSS.

    python benchmarks/cisco_bench.py --quick --repeat 1          # hospital and c1k
    python benchmarks/cisco_bench.py --only hospital c1k c10k
    python benchmarks/cisco_bench.py --only c100k --repeat 1     # about a minute per compile, ~1 GB
    python benchmarks/cisco_bench.py --aerleon /tmp/aerleon-venv/bin/python --keep /tmp/cisco-bench
"""

from __future__ import annotations

import argparse
import ipaddress
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
from collections import defaultdict

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench  # noqa: E402  (the shared runner: fresh processes, wait4 RSS, parse-cache handling)

REPO = bench.REPO
MB = bench.MB
HOSPITAL_AS_OF = "2026-11-23"
HOSPITAL_DEVICE = "dist-rtr"
DEFAULT_AERLEON = "/tmp/aerleon-venv/bin/python"

# name, label, flows, budgets, quick; budgets: extra_s = compile − check, compile_mb = compile's peak RSS
SCENARIOS = [
    ("hospital", f"reference hospital ({HOSPITAL_DEVICE})", None, {}, True),
    ("c1k", "1k zones, 1k flows", 1_000, {}, True),
    ("c10k", "1k zones, 10k flows", 10_000, {"extra_s": 1.0}, False),
    ("c100k", "1k zones, 100k flows", 100_000, {"extra_s": 10.0, "compile_mb": 1024}, False),
]

DEVICE_LINE = re.compile(r"(?m)^firewall (\S+) nftables \{")

# The Aerleon tables this benchmark depends on, read from the installed Aerleon.
AERLEON_INFO = r"""
import json, sys
from importlib.metadata import version
from aerleon.lib.policy import Term
print(json.dumps({"version": version("aerleon"), "python": sys.version.split()[0],
                  "icmp_type": {str(k): v for k, v in Term.ICMP_TYPE.items()},
                  "icmp_code": Term.ICMP_CODE}))
"""

# Runs in a fresh Septum interpreter: the compiled intent of one device; render times of the
# compiled and the FLAT config; the Aerleon tree and the expected ACEs. Prints one JSON line.
CHILD = r"""
import json, sys, time
from pathlib import Path
args = json.loads(sys.argv[1])
t0 = time.perf_counter()
import datetime as dt
from septum.compiler.devices.pipeline import load_and_compile
from septum.compiler.devices.backend import Options
import septum.backends.cisco.render as R
from septum.backends.cisco.text import blocks, escape, icmp_parts, ports, v4, v6
as_of = dt.date.fromisoformat(args["as_of"]) if args["as_of"] else None
_, result = load_and_compile(Path(args["path"]), (args["device"],), verify=False, as_of=as_of)
if result.intent is None:
    print("BENCH-JSON " + json.dumps({"error": f"not compiled (exit {result.status}) {result.message}"}))
    sys.exit(0)
device = result.intent.devices[args["device"]]
out = {"intent_s": time.perf_counter() - t0, "rules": len(device.rules),
       "pairs": len({(r.ingress, r.egress) for r in device.rules})}

def acl_part(data):
    # lines and bytes of the object-group and access-list sections (up to the first class-map),
    # and the ACEs (permit / deny entries) of the IPv4 and the IPv6 ACLs
    text = data.decode()
    start = min((i for i in (text.find("\nobject-group "), text.find("\nip access-list "),
                             text.find("\nipv6 access-list ")) if i >= 0), default=-1)
    end = text.find("\nclass-map ")
    if start < 0:
        return {"lines": 0, "bytes": 0, "aces_v4": 0, "aces_v6": 0}
    part = text[start + 1:end + 1 if end >= 0 else len(text)]
    aces, family = {4: 0, 6: 0}, 4
    for line in part.splitlines():
        if line.startswith("ip access-list "):
            family = 4
        elif line.startswith("ipv6 access-list "):
            family = 6
        elif line.startswith(" "):
            words = line.split(None, 2)
            if words and (words[0] in ("permit", "deny") or (len(words) > 1 and words[1] in ("permit", "deny"))):
                aces[family] += 1
    return {"lines": part.count("\n"), "bytes": len(part.encode()), "aces_v4": aces[4], "aces_v6": aces[6]}

t = time.perf_counter()
compiled = R.render(device, Options())
out["render_s"] = time.perf_counter() - t
out["compiled_part"] = acl_part(compiled.config.data)
del compiled

def wildcard(length):
    return v4((1 << (32 - length)) - 1)

def v4_address(network, length):
    return f"host {v4(network)}" if length == 32 else f"{v4(network)} {wildcard(length)}"

class FlatWriter(R._Writer):
    # one ACE per (source CIDR, destination CIDR, service run); no object-groups
    def acl_v4(self, name, rules):
        acl = R._Acl(f"ip access-list extended {name}")
        sequence = 0
        for rule in rules:
            source, destination = rule.source.v4, rule.destination.v4
            if not (source and destination):
                continue
            tests = [f"{s.protocol} {{}} {{}} {ports(s.low, s.high)}".rstrip() for s in rule.services
                     if s.protocol in ("tcp", "udp")]
            tests += [f"icmp {{}} {{}} {part}" for s in rule.services if s.protocol == "icmp"
                      for part in icmp_parts(s.low, s.high)]
            if not tests:
                continue
            sources = [v4_address(*b) for first, last in source for b in blocks(first, last, 32)]
            destinations = [v4_address(*b) for first, last in destination for b in blocks(first, last, 32)]
            acl.lines.append(self.remark(rule))
            for src in sources:
                for dst in destinations:
                    for test in tests:
                        sequence += 10
                        acl.lines.append(f"{sequence} permit {test.format(src, dst)}")
        return self._close(acl, sequence, f"{sequence + 10} deny ip any any")

original = R._Writer
R._Writer = FlatWriter
try:
    t = time.perf_counter()
    flat = R.render(device, Options())
    out["flat_render_s"] = time.perf_counter() - t
finally:
    R._Writer = original
if flat.diagnostics:
    out["flat_error"] = str(flat.diagnostics[0])[:300]
else:
    data = flat.config.data
    out["flat"] = dict(flat.summary)
    out["flat_part"] = acl_part(data)
    if args["flat_out"]:
        Path(args["flat_out"]).write_bytes(data)
    del data
del flat

aer = args.get("aerleon")
if aer:
    tree = Path(aer["tree"])
    (tree / "def").mkdir(parents=True, exist_ok=True)
    (tree / "policies" / "pol").mkdir(parents=True, exist_ok=True)
    type_names = {int(f): {n: t for n, t in names.items()} for f, names in aer["icmp_type"].items()}
    name_of = {f: {t: n for n, t in names.items()} for f, names in type_names.items()}
    code_ok = aer["icmp_code"]
    networks, services = {}, {}
    net_lines, svc_lines = ["# Septum benchmark: address sets of " + device.name, ""], \
                           ["# Septum benchmark: port lists of " + device.name, ""]

    def cidr_text(family, network, length):
        return f"{v4(network) if family == 4 else v6(network).lower()}/{length}"

    def network(addresses):
        found = networks.get(addresses)
        if found is None:
            found = networks[addresses] = f"N{len(networks) + 1}"
            cidrs = [cidr_text(f, *b) for f in (4, 6) for first, last in addresses.family(f)
                     for b in blocks(first, last, 32 if f == 4 else 128)]
            net_lines.append(f"{found} = {cidrs[0]}")
            net_lines.extend(f"    {c}" for c in cidrs[1:])
        return found

    def service(protocols, runs):
        key = (protocols, runs)
        found = services.get(key)
        if found is None:
            found = services[key] = f"S{len(services) + 1}"
            items = [(f"{a}/{p}" if a == b else f"{a}-{b}/{p}") for p in protocols for a, b in runs]
            svc_lines.append(f"{found} = {items[0]}")
            svc_lines.extend(f"    {i}" for i in items[1:])
        return found

    def terms_for(rule):
        # [(suffix, protocols, runs or None, icmp type names, icmp codes)] or (None, reason)
        terms = []
        tcp = tuple((s.low, s.high) for s in rule.services if s.protocol == "tcp")
        udp = tuple((s.low, s.high) for s in rule.services if s.protocol == "udp")
        if tcp and tcp == udp:
            terms.append(("tu", ("tcp", "udp"), tcp))
        else:
            terms += [(p, (p,), runs) for p, runs in (("tcp", tcp), ("udp", udp)) if runs]
        terms = [(s, p, None if runs == ((0, 65535),) else runs, (), ()) for s, p, runs in terms]
        for family, protocol in ((4, "icmp"), (6, "icmpv6")):
            whole, partial = [], {}
            for s in rule.services:
                if s.protocol != protocol:
                    continue
                for part in icmp_parts(s.low, s.high):
                    bits = part.split()
                    if len(bits) == 1:
                        whole.append(int(bits[0]))
                    else:
                        partial.setdefault(int(bits[0]), []).append(int(bits[1]))
            for kind in whole + list(partial):
                if kind not in name_of[family]:
                    return None, f"{protocol} type {kind}: no Aerleon icmp-type name"
            if whole:
                terms.append((protocol, (protocol,), None, tuple(name_of[family][k] for k in whole), ()))
            for kind, codes in partial.items():
                name = name_of[family][kind]
                allowed = code_ok.get(name)
                if allowed is None or any(c not in allowed for c in codes):
                    return None, (f"{protocol} type {kind} code {','.join(map(str, codes))}: Aerleon's "
                                  f"icmp-code does not take {'codes for ' + name if allowed is None else 'these codes'}")
                terms.append((f"{protocol}-{kind}", (protocol,), None, (name,), tuple(codes)))
        return terms, None

    order = {i.name: k for k, i in enumerate(device.interfaces)}
    by_pair = {}
    for index, rule in enumerate(device.rules):
        by_pair.setdefault((rule.ingress, rule.egress), []).append((index, rule))
    ext, og = [f"# Septum benchmark: {device.name}, one filter per (ingress, egress) pair", ""], []
    expected = []  # ACL family protocol src dst service, one line per ACE of an exact encoding
    stats = {"rules": len(device.rules), "expressed": 0, "split": 0, "terms": 0, "not_expressible": 0,
             "reasons": {}}
    filters = []
    for k, (ingress, egress) in enumerate(sorted(by_pair, key=lambda p: (order[p[0]], order[p[1]])), 1):
        name = f"P{k}"
        filters.append({"name": name, "ingress": ingress, "egress": egress})
        body = []
        for index, rule in by_pair[(ingress, egress)]:
            terms, reason = terms_for(rule)
            if terms is None:
                stats["not_expressible"] += 1
                stats["reasons"][reason] = stats["reasons"].get(reason, 0) + 1
                continue
            stats["expressed"] += 1
            stats["terms"] += len(terms)
            stats["split"] += len(terms) > 1
            src, dst = network(rule.source), network(rule.destination)
            comment = escape(f"{device.flows[rule.flow].location} {rule.source_zone} -> "
                             f"{', '.join(rule.destination_zones)}")[:200]
            for suffix, protocols, runs, icmp_types, icmp_codes in terms:
                body += [f"term r{index + 1}-{suffix} {{", f'  comment:: "{comment}"',
                         f"  source-address:: {src}", f"  destination-address:: {dst}",
                         f"  protocol:: {' '.join(protocols)}"]
                if runs:
                    body.append(f"  destination-port:: {service(protocols, runs)}")
                if icmp_types:
                    body.append(f"  icmp-type:: {' '.join(icmp_types)}")
                if icmp_codes:
                    body.append(f"  icmp-code:: {' '.join(map(str, icmp_codes))}")
                if rule.log:
                    body.append("  logging:: true")
                body += ["  action:: accept", "}", ""]
            # the ACEs an exact encoding has for this rule
            for family, icmp in ((4, "icmp"), (6, "icmpv6")):
                width = 32 if family == 4 else 128
                tests = []
                for s in rule.services:
                    if s.protocol in ("tcp", "udp"):
                        tests.append(f"{s.protocol} {s.low}-{s.high}")
                    elif s.protocol == icmp:
                        tests += [f"{icmp} {'/'.join(p.split()) if ' ' in p else p + '/*'}"
                                  for p in icmp_parts(s.low, s.high)]
                sources = [f"{n}/{l}" for a, b in rule.source.family(family) for n, l in blocks(a, b, width)]
                destinations = [f"{n}/{l}" for a, b in rule.destination.family(family)
                                for n, l in blocks(a, b, width)]
                for s_ in sources:
                    for d_ in destinations:
                        for t_ in tests:
                            expected.append(f"{name} {family} {t_.split()[0]} {s_} {d_} {t_.split()[1]}")
        if not body:  # every rule of this pair left out: Aerleon refuses a filter without terms
            stats["empty_filters"] = stats.get("empty_filters", 0) + 1
            continue
        header = f'  comment:: "{escape(ingress)} -> {escape(egress)}"'
        ext += ["header {", header, f"  target:: cisco {name} mixed", "}", ""] + body
        og += ["header {", header, f"  target:: cisco {name} object-group", "}", ""] + body
    (tree / "def" / "NETWORKS.net").write_text("\n".join(net_lines) + "\n")
    (tree / "def" / "SERVICES.svc").write_text("\n".join(svc_lines) + "\n")
    (tree / "policies" / "pol" / "ext.pol").write_text("\n".join(ext) + "\n")
    (tree / "policies" / "pol" / "og.pol").write_text("\n".join(og) + "\n")
    (tree / "expected.txt").write_text("\n".join(expected) + "\n")
    two_port = 0
    for line in expected:
        test = line.rsplit(" ", 1)[1]
        if "-" in test:
            low, high = test.split("-")
            two_port += int(high) == int(low) + 1
    stats["two_port_aces"] = two_port
    stats.update(networks=len(networks), services=len(services), filters=len(filters) - stats.get("empty_filters", 0),
                 expected_aces=len(expected))
    out["aerleon_tree"] = stats
print("BENCH-JSON " + json.dumps(out))
"""


# ---- running things ------------------------------------------------------------------------------

def _rewrite_devices(path: pathlib.Path) -> int:
    """`firewall NAME nftables {` -> `router NAME cisco-ios {` in every generated file."""
    changed = 0
    for file in sorted(path.glob("*.septum")):
        text = file.read_text(encoding="utf-8")
        new, n = DEVICE_LINE.subn(r"router \1 cisco-ios {", text)
        if n:
            file.write_text(new, encoding="utf-8", newline="\n")
            changed += n
    return changed


def _commands(path: pathlib.Path, name: str, out: pathlib.Path) -> tuple[list[str], list[str], str | None]:
    if name == "hospital":
        flags, devices, as_of = ["--as-of", HOSPITAL_AS_OF], ["--device", HOSPITAL_DEVICE], HOSPITAL_AS_OF
    else:
        flags, devices, as_of = ["--disable", "empty-flow"], [], None
    check = [sys.executable, "-m", "septum", "check", str(path), *flags]
    compile_ = [sys.executable, "-m", "septum", "compile", str(path), "--out", str(out), "--format", "json",
                *devices, *flags]
    return check, compile_, as_of


def _bench_json(r: dict) -> dict:
    line = next((l for l in r["stdout"].splitlines() if l.startswith("BENCH-JSON ")), None)
    if line is None:
        return {"error": (r["stderr"].strip().splitlines() or ["no output"])[-1][:300]}
    return json.loads(line[len("BENCH-JSON "):])


def aerleon_info(py: str | None) -> dict | None:
    if not py or not os.path.exists(py):
        return None
    r = subprocess.run([py, "-c", AERLEON_INFO], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or ["failed"])[-1][:300]}
    return json.loads(r.stdout)


def aclgen(py: str, tree: pathlib.Path, policy: str, timeout: float) -> dict:
    script = pathlib.Path(py).parent / "aclgen"
    head = [str(script)] if script.exists() else [py, "-m", "aerleon"]
    out_dir = tree / f"out-{policy}"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir()
    cmd = head + [f"--base_directory={tree / 'policies'}", f"--definitions_directory={tree / 'def'}",
                  f"--output_directory={out_dir}", f"--policy_file={tree / 'policies' / 'pol' / (policy + '.pol')}",
                  "--max_renderers=1", "--noshade_check"]
    r = bench._run(cmd, dict(os.environ), tree, timeout)
    (tree / f"aclgen-{policy}.log").write_text(r["stderr"])
    files = sorted(out_dir.glob("*"))
    row = {"aclgen_s": r["wall"], "aclgen_mb": r["rss"] / MB, "rc": r["rc"], "timed_out": r["timed_out"],
           "file": str(files[0]) if files else None}
    if r["rc"] != 0 or not files:
        lines = [l.strip() for l in r["stderr"].splitlines() if l.strip()]
        row["error"] = next((l for l in lines if "<class" in l or "Error" in l), (lines or ["no output"])[-1])[:300]
    warnings = [l.split("] ", 1)[-1] for l in r["stderr"].splitlines() if re.match(r"W\d{4} ", l)]  # absl: W
    row["warnings"] = len(warnings)
    row["warning_sample"] = warnings[:3]
    return row


# ---- reading Aerleon's cisco output back --------------------------------------------------------

_ADDR_CACHE: dict = {}


def _net(text: str, family: int) -> str:
    """`network/length` with the network as an integer (the expected file's form)."""
    found = _ADDR_CACHE.get(text)
    if found is None:
        net = ipaddress.ip_network(text, strict=True)
        found = _ADDR_CACHE[text] = f"{int(net.network_address)}/{net.prefixlen}"
    return found


PROTOCOLS = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "tcp": "tcp", "udp": "udp", "icmp": "icmp",
             "icmpv6": "icmpv6"}


def read_cisco(path: pathlib.Path) -> dict:
    """Counts, syntax flags and the ACEs of an Aerleon cisco output, as
    {(acl, family, protocol, src, dst): set of tests}; ports as (low, high), ICMP as (type, code|None)."""
    counts = {"lines": 0, "bytes": path.stat().st_size, "aces": 0, "aces_v4": 0, "aces_v6": 0, "acls": 0,
              "acls_v6": 0, "object_groups": 0, "object_groups_v6": 0, "repeated_aces": 0, "unparsed": 0,
              "numeric_icmp": 0, "xr_tokens": set(), "unparsed_sample": []}
    groups: dict[tuple, list[str]] = {}  # (name, family) -> CIDRs
    aces: dict[tuple, set] = defaultdict(set)
    acl, family, group, group_family = None, 4, None, 4
    seen: set = set()
    with path.open(encoding="utf-8", errors="replace") as handle:
        for raw in handle:
            counts["lines"] += 1
            line = raw.strip()
            if not line or line.startswith("!"):
                continue
            if line.startswith("remark"):
                seen = set()  # every term starts with its remarks: repeats are counted within a term
                continue
            words = line.split()
            if words[0] == "object-group":
                counts["object_groups"] += 1
                if words[1] == "network":
                    if words[2] in ("ipv4", "ipv6"):
                        counts["xr_tokens"].add(f"object-group network {words[2]}")
                        group_family = 4 if words[2] == "ipv4" else 6
                        counts["object_groups_v6"] += group_family == 6
                        group = words[3]
                    else:
                        group, group_family = words[2], 4
                    group = (group, group_family)
                    groups[group] = []
                else:
                    counts["xr_tokens"].add(f"object-group {words[1]}")
                    group = None
                continue
            if words[0] == "exit":
                group = None
                continue
            if words[0] == "no":
                continue
            if words[:3] == ["ip", "access-list", "extended"] or words[:2] == ["ipv6", "access-list"]:
                family = 6 if words[0] == "ipv6" else 4
                acl = words[-1]
                if family == 6 and acl.startswith("ipv6-"):
                    acl = acl[len("ipv6-"):]
                counts["acls"] += 1
                counts["acls_v6"] += family == 6
                group = None
                seen = set()
                continue
            if group is not None and words[0] not in ("permit", "deny"):
                groups[group].append(_net(words[0], group_family) if "/" in words[0] else words[0])
                continue
            if words[0] not in ("permit", "deny") and not (words[0].isdigit() and len(words) > 1
                                                          and words[1] in ("permit", "deny")):
                continue
            counts["aces"] += 1
            counts[f"aces_v{family}"] += 1
            if line in seen:
                counts["repeated_aces"] += 1
            seen.add(line)
            if words[0].isdigit():
                words = words[1:]
            if family == 6 and words[1].isdigit() and words[-1].isdigit():
                counts["numeric_icmp"] += 1  # `permit 58 SRC DST TYPE`: an ICMP type after a protocol number
            try:
                _read_ace(words, acl, family, groups, aces, counts)
            except (ValueError, IndexError, KeyError):
                counts["unparsed"] += 1
                if len(counts["unparsed_sample"]) < 3:
                    counts["unparsed_sample"].append(line[:160])
    counts["xr_tokens"] = sorted(counts["xr_tokens"])
    return {"counts": counts, "aces": aces}


def _read_ace(words, acl, family, groups, aces, counts) -> None:
    if words[0] != "permit":
        raise ValueError("not a permit")
    protocol = PROTOCOLS[words[1]]
    i = 2

    def address():
        nonlocal i
        w = words[i]
        if w == "any":
            i += 1
            return ["0/0"]
        if w == "host":
            i += 2
            return [_net(words[i - 1], family)]
        if w == "net-group":
            counts["xr_tokens"].add("net-group")
            i += 2
            return groups[(words[i - 1], family)]
        if w == "object-group":
            i += 2
            return groups[(words[i - 1], family)]
        if "/" in w:
            i += 1
            return [_net(w, family)]
        # A WILDCARD
        i += 2
        length = 32 - bin(int(ipaddress.IPv4Address(words[i - 1]))).count("1")
        return [_net(f"{w}/{length}", family)]

    def port():
        nonlocal i
        if i >= len(words):
            return None
        w = words[i]
        if w == "eq":
            i += 2
            return int(words[i - 1]), int(words[i - 1])
        if w == "range":
            i += 3
            return int(words[i - 2]), int(words[i - 1])
        if w == "port-group":
            counts["xr_tokens"].add("port-group")
            i += 2
            low, high = words[i - 1].split("-")
            return int(low), int(high)
        return None

    sources = address()
    if protocol in ("tcp", "udp"):
        sport = port()
        if sport is not None:
            raise ValueError("source port")
    destinations = address()
    if protocol in ("tcp", "udp"):
        test = port() or (0, 65535)
    else:
        rest = [w for w in words[i:] if w.isdigit()]
        test = (int(rest[0]), int(rest[1]) if len(rest) > 1 else None) if rest else (None, None)
    for s in sources:
        for d in destinations:
            aces[(acl, family, protocol, s, d)].add(test)


def _merge_runs(runs) -> tuple:
    out = []
    for low, high in sorted(runs):
        if out and low <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], high))
        else:
            out.append((low, high))
    return tuple(out)


def _canonical(aces: dict) -> dict:
    out = {}
    for key, tests in aces.items():
        if key[2] in ("tcp", "udp"):
            out[key] = _merge_runs(tests)
        else:
            types = {t for t, c in tests if c is None}
            out[key] = tuple(sorted((t, c) for t, c in tests if c is None or t not in types))
    return out


def read_expected(path: pathlib.Path) -> dict:
    aces: dict[tuple, set] = defaultdict(set)
    with path.open() as handle:
        for line in handle:
            if not line.strip():
                continue
            acl, family, protocol, src, dst, test = line.split()
            family = int(family)
            if protocol in ("tcp", "udp"):
                low, high = test.split("-")
                value = (int(low), int(high))
            else:
                kind, code = test.split("/")
                value = (int(kind), None if code == "*" else int(code))
            aces[(acl, family, protocol, src, dst)].add(value)
    return _canonical(aces)


def _key_text(key: tuple) -> str:
    acl, family, protocol, src, dst = key

    def text(net):
        value, length = net.split("/")
        return str((ipaddress.IPv4Network if family == 4 else ipaddress.IPv6Network)((int(value), int(length))))
    return f"ACL {acl} IPv{family} {protocol} {text(src)} -> {text(dst)}"


def compare(expected: dict, got: dict, family: int | None = None) -> dict:
    if family is not None:
        expected = {k: v for k, v in expected.items() if k[1] == family}
        got = {k: v for k, v in got.items() if k[1] == family}
    missing = [k for k in expected if k not in got]
    extra = [k for k in got if k not in expected]
    differ = [k for k in expected if k in got and got[k] != expected[k]]
    sample = None
    for what, keys in (("missing", missing), ("extra", extra), ("different", differ)):
        if keys:
            k = keys[0]
            sample = f"{what}: {_key_text(k)} expected {expected.get(k)} got {got.get(k)}"
            break
    return {"keys": len(expected), "missing": len(missing), "extra": len(extra), "different": len(differ),
            "ok": not (missing or extra or differ), "sample": sample}


# ---- measuring one scenario ----------------------------------------------------------------------

def measure(name, label, path, counts, budgets, env, work, args, info) -> dict:
    out = work / f"out-{name}"
    check_cmd, compile_cmd, as_of = _commands(path, name, out)
    row = {"scenario": name, "label": label, "path": str(path), **counts}
    for _ in range(1):
        bench._run(check_cmd, bench._cold(env, args.cache_root), work, args.timeout)
    checks = []
    for i in range(args.repeat):
        checks.append(bench._run(check_cmd, bench._cold(env, args.cache_root), work, args.timeout))
        print(f"[cisco-bench] {label}: check {i + 1}/{args.repeat} {checks[-1]['wall']:.2f} s", file=sys.stderr,
              flush=True)
    compiles = []
    for i in range(args.repeat):
        if out.exists():
            shutil.rmtree(out)
        compiles.append(bench._run(compile_cmd, bench._cold(env, args.cache_root), work, args.timeout))
        print(f"[cisco-bench] {label}: compile {i + 1}/{args.repeat} {compiles[-1]['wall']:.2f} s "
              f"({compiles[-1]['rss'] / MB:.0f} MB, rc {compiles[-1]['rc']})", file=sys.stderr, flush=True)
    row["check_s"] = statistics.median(c["wall"] for c in checks)
    row["check_mb"] = max(c["rss"] for c in checks) / MB
    row["check_rc"] = checks[-1]["rc"]
    row["compile_s"] = statistics.median(c["wall"] for c in compiles)
    row["compile_runs_s"] = [c["wall"] for c in compiles]
    row["check_runs_s"] = [c["wall"] for c in checks]
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
    keys = ("lines", "aces", "acls", "object_groups", "zone_pairs", "bytes")
    row["config"] = {k: sum(d.get(k, 0) for d in written) for k in keys}
    largest = max(written, key=lambda d: d.get("bytes", 0), default=None)
    row["largest"] = {k: largest.get(k) for k in ("name",) + keys} if largest else None
    verdicts = {}
    for key, limit in budgets.items():
        value = row.get(key)
        verdicts[key] = {"limit": limit, "value": value, "ran": ran, "ok": ran and value is not None and value < limit}
    row["budgets"] = verdicts
    print(f"[cisco-bench] {label}: check {row['check_s']:.2f} s, compile {row['compile_s']:.2f} s "
          f"({row['compile_mb']:.0f} MB), rc {row['compile_rc']}; largest "
          f"{largest['name'] if largest else '—'}", file=sys.stderr, flush=True)
    if not largest:
        return row

    # FLAT and the Aerleon tree, in a fresh Septum process
    device = largest["name"]
    tree = work / f"aerleon-{name}-{device}"
    use_aerleon = bool(info) and "error" not in info
    if use_aerleon:
        shutil.rmtree(tree, ignore_errors=True)
    spec = {"path": str(path), "device": device, "as_of": as_of,
            "flat_out": str(work / f"flat-{name}-{device}.ios") if args.keep else None,
            "aerleon": {"tree": str(tree), "icmp_type": info["icmp_type"], "icmp_code": info["icmp_code"]}
            if use_aerleon else None}
    print(f"[cisco-bench] {label}: flat encoding of {device}{' and Aerleon tree' if use_aerleon else ''} ...",
          file=sys.stderr, flush=True)
    r = bench._run([sys.executable, "-c", CHILD, json.dumps(spec)], env, work, args.timeout)
    child = _bench_json(r)
    child["child_s"], child["child_mb"] = r["wall"], r["rss"] / MB
    row["child"] = child
    if "error" in child:
        return row
    print(f"[cisco-bench] {label}: flat {child.get('flat', {}).get('aces', 0):,} ACEs "
          f"({child['child_s']:.1f} s)", file=sys.stderr, flush=True)
    if not use_aerleon:
        row["aerleon_skipped"] = ("no Aerleon interpreter at " + str(args.aerleon)) if not info \
            else f"Aerleon not usable: {info['error']}"
        return row

    expected = read_expected(tree / "expected.txt") if not args.no_aerleon_check else None
    row["aerleon"] = {}
    for policy in ("ext", "og"):
        print(f"[cisco-bench] {label}: aclgen {policy}.pol ({child['aerleon_tree']['terms']:,} terms) ...",
              file=sys.stderr, flush=True)
        res = aclgen(args.aerleon, tree, policy, args.aerleon_timeout)
        if res["file"] and res["rc"] == 0:
            read = read_cisco(pathlib.Path(res["file"]))
            res.update(read["counts"])
            if expected is not None:
                got = _canonical(read["aces"])
                res["check"] = compare(expected, got)
                res["check_v4"] = compare(expected, got, 4)
                res["check_v6"] = compare(expected, got, 6)
            del read
        row["aerleon"][policy] = res
        print(f"[cisco-bench] {label}: aclgen {policy}: {res['aclgen_s']:.1f} s, rc {res['rc']}, "
              f"{res.get('aces', 0):,} ACEs", file=sys.stderr, flush=True)
    if not args.keep:
        shutil.rmtree(tree, ignore_errors=True)
    return row


# ---- output --------------------------------------------------------------------------------------

def _s(v) -> str:
    return bench._fmt_s(v)


_n = bench.count


def _mb(v) -> str:
    return "—" if v is None else (f"{v / MB:.3f}" if v < MB else f"{v / MB:.2f}" if v < 10 * MB else f"{v / MB:.0f}")


def _check(res: dict) -> str:
    c = res.get("check")
    if not c:
        return "—"
    parts = []
    for fam in (4, 6):
        cf = res.get(f"check_v{fam}")
        if not cf or not cf["keys"] and cf["ok"]:
            continue
        parts.append(f"IPv{fam} " + ("yes" if cf["ok"] else
                                     f"NO ({cf['missing']:,} missing, {cf['extra']:,} extra, "
                                     f"{cf['different']:,} different of {cf['keys']:,})"))
    return "; ".join(parts) or ("yes" if c["ok"] else "NO")


def markdown(rows: list[dict], meta: dict) -> str:
    out = [f"Septum Cisco IOS benchmarks — Python {meta['python']} on {meta['platform']}, {meta['cpus']} CPUs; "
           f"median of {meta['repeat']} run(s), fresh process each; {meta['aerleon']}.",
           f"Calibration: a 10-million-step Python loop takes {meta['calibration_s']} s here.", ""]
    out += bench.compile_table(rows, "devices written")

    out += ["", "| scenario | config | lines | ACEs | IPv4 / IPv6 ACEs | ACLs | object-groups | zone-pairs | MB "
            "| ACL part: lines | ACL part: MB | generated in s |", "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r in rows:
        t = r["config"]
        out.append(f"| {r['label']} | all devices ({r['written']}) | {_n(t['lines'])} | {_n(t['aces'])} | "
                   f"| {_n(t['acls'])} | {_n(t['object_groups'])} | {_n(t['zone_pairs'])} | {_mb(t['bytes'])} "
                   f"| | | {_s(r['compile_s'])} (`septum compile`) |")
        lg = r.get("largest")
        if not lg:
            continue
        child = r.get("child") or {}
        part = child.get("compiled_part") or {}
        out.append(f"| | largest: {lg['name']} | {_n(lg['lines'])} | {_n(lg['aces'])} "
                   f"| {_n(part.get('aces_v4'))} / {_n(part.get('aces_v6'))} | {_n(lg['acls'])} "
                   f"| {_n(lg['object_groups'])} | {_n(lg['zone_pairs'])} | {_mb(lg['bytes'])} "
                   f"| {_n(part.get('lines'))} | {_mb(part.get('bytes'))} | {_s(child.get('render_s'))} (`render`) |")
        flat = child.get("flat")
        if flat:
            part = child["flat_part"]
            out.append(f"| | FLAT {lg['name']} (no object-groups) | {_n(flat['lines'])} | {_n(flat['aces'])} "
                       f"| {_n(part['aces_v4'])} / {_n(part['aces_v6'])} | {_n(flat['acls'])} "
                       f"| {_n(flat['object_groups'])} | {_n(flat['zone_pairs'])} | {_mb(flat['bytes'])} "
                       f"| {_n(part['lines'])} | {_mb(part['bytes'])} | {_s(child.get('flat_render_s'))} (`render`) |")
        for policy, what in (("ext", "Aerleon `cisco … mixed`"), ("og", "Aerleon `cisco … object-group`")):
            a = (r.get("aerleon") or {}).get(policy)
            if not a:
                continue
            if a.get("error") or a.get("timed_out"):
                why = "timed out" if a.get("timed_out") else f"failed (rc {a['rc']})"
                out.append(f"| | {what} {lg['name']} | {why} | | | | | | | | | {_s(a['aclgen_s'])} (`aclgen`) |")
                continue
            out.append(f"| | {what} {lg['name']} | {_n(a['lines'])} | {_n(a['aces'])} "
                       f"| {_n(a['aces_v4'])} / {_n(a['aces_v6'])} | {_n(a['acls'])} "
                       f"| {_n(a['object_groups'])} | — | {_mb(a['bytes'])} | {_n(a['lines'])} | {_mb(a['bytes'])} "
                       f"| {_s(a['aclgen_s'])} (`aclgen`) |")

    arows = [r for r in rows if r.get("aerleon")]
    if arows:
        out += ["", "| scenario | device: rules → Aerleon terms | rules split | not expressible "
                "| exact ACEs of the expressible rules | output | aclgen s | aclgen RSS MB | ACEs written "
                "| IPv6 ACLs / ACEs | ACEs repeated within a term | IOS-XR syntax | matches intent |",
                "|---|---|--:|--:|--:|---|--:|--:|--:|--:|--:|---|---|"]
        for r in arows:
            tree = r["child"]["aerleon_tree"]
            first = True
            for policy, what in (("ext", "`mixed`"), ("og", "`object-group`")):
                a = r["aerleon"][policy]
                head = (f"| {r['label']} | {r['largest']['name']}: {_n(tree['rules'])} → {_n(tree['terms'])} "
                        f"in {_n(tree['filters'])} filters | {_n(tree['split'])} | {_n(tree['not_expressible'])} "
                        f"| {_n(tree['expected_aces'])} " if first else "| | | | | ")
                first = False
                if a.get("error") or a.get("timed_out"):
                    out.append(head + f"| {what} | {_s(a['aclgen_s'])} | {a['aclgen_mb']:.0f} | "
                               f"{'timed out' if a.get('timed_out') else 'failed: ' + a['error']} | | | | |")
                    continue
                xr = ", ".join(f"`{t}`" for t in a["xr_tokens"]) or "no"
                out.append(head + f"| {what} | {_s(a['aclgen_s'])} | {a['aclgen_mb']:.0f} | {_n(a['aces'])} "
                           f"| {_n(a['acls_v6'])} / {_n(a['aces_v6'])} | {_n(a['repeated_aces'])} | {xr} "
                           f"| {_check(a)} |")

    notes = []
    for r in rows:
        if r.get("compile_error"):
            notes.append(f"- {r['label']}: compile did not finish cleanly: `{r['compile_error']}`")
        child = r.get("child") or {}
        if child.get("error"):
            notes.append(f"- {r['label']}: flat encoding / Aerleon tree failed: `{child['error']}`")
        if child.get("flat_error"):
            notes.append(f"- {r['label']}: flat render failed: `{child['flat_error']}`")
        if r.get("aerleon_skipped"):
            notes.append(f"- {r['label']}: Aerleon skipped: {r['aerleon_skipped']}")
        tree = child.get("aerleon_tree")
        if tree and tree["reasons"]:
            notes.append(f"- {r['label']}: rules Aerleon cannot express (left out): " +
                         "; ".join(f"{n:,} × {why}" for why, n in sorted(tree["reasons"].items())))
        if tree and tree.get("two_port_aces"):
            notes.append(f"- {r['label']}: {tree['two_port_aces']:,} of the exact ACEs are a two-port run (`range P P+1`), "
                         "which Aerleon's cisco generator writes as two `eq` ACEs (`_FixConsecutivePorts`)")
        if tree and tree.get("empty_filters"):
            notes.append(f"- {r['label']}: {tree['empty_filters']} (ingress, egress) pairs have no expressible rule "
                         "and get no Aerleon filter (Aerleon rejects a filter without terms: NoTermsError)")
        for policy, a in (r.get("aerleon") or {}).items():
            if a.get("unparsed"):
                notes.append(f"- {r['label']}: {policy}: {a['unparsed']:,} ACEs not read back, e.g. "
                             f"`{a['unparsed_sample'][0]}`")
            v6 = a.get("check_v6")
            if v6 and v6["keys"] and not a.get("acls_v6"):
                notes.append(f"- {r['label']}: {policy}: no IPv6 ACL at all: all {v6['keys']:,} IPv6 (ACL, protocol, "
                             "source, destination) entries of the intent are missing from the output")
            if a.get("check") and not a["check"]["ok"]:
                notes.append(f"- {r['label']}: {policy}: first difference from the intent: {a['check']['sample']}")
            if a.get("numeric_icmp"):
                notes.append(f"- {r['label']}: {policy}: {a['numeric_icmp']:,} IPv6 ACEs are `permit 58 SRC DST TYPE` "
                             "(ICMPv6 as protocol number 58, then the ICMP type): IOS's ipv6 access-list takes ICMP "
                             "types only after the `icmp` keyword (read back here as ICMPv6 TYPE; not tried on a router)")
            if a.get("warnings"):
                notes.append(f"- {r['label']}: {policy}: aclgen logged {a['warnings']:,} warnings, e.g. "
                             f"`{a['warning_sample'][0][:200]}`")
    if notes:
        out += ["", *notes]
    out += ["", "Times include interpreter start; empty parse cache each run. Synthetic policies: the generator's "
            "devices rewritten to `router NAME cisco-ios`, check and compile with `--disable empty-flow`; the hospital: "
            f"`--as-of {HOSPITAL_AS_OF}`, compile `--device {HOSPITAL_DEVICE}`. ACEs = permit and deny entries (the "
            "Septum configs close every ACL with an explicit deny; Aerleon writes none, IOS's implicit deny ends its "
            "ACLs). ACL part = object-group and access-list sections only (Aerleon's output is nothing else: no "
            "class-maps, policy-maps or zone-pairs). FLAT = the same config with one IPv4 ACE per (ingress, egress, "
            "source CIDR, destination CIDR, service run), no object-groups. Aerleon: one filter per (ingress, egress) "
            "pair, one term per rule (split where a term cannot hold it; see the docstring); `ACEs repeated within a term` = "
            "lines identical to an earlier line of the same term's output; `exact ACEs` = one per (ACL, source CIDR, "
            "destination CIDR, port run or ICMP test) of the expressible rules, no closing deny; `matches intent` = the output read back equals the "
            "expressible rules, per (ACL, family, protocol, source CIDR, destination CIDR)."]
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Septum Cisco IOS benchmarks (compile, configs, flat, Aerleon).")
    ap.add_argument("--quick", action="store_true", help="only the hospital and 1k flows")
    ap.add_argument("--only", nargs="+", metavar="NAME", choices=[s[0] for s in SCENARIOS],
                    help="run only these scenarios: " + ", ".join(s[0] for s in SCENARIOS))
    ap.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    ap.add_argument("--repeat", type=int, default=3, help="timed check and compile runs per scenario (median)")
    ap.add_argument("--seed", type=int, default=1, help="seed for the synthetic policies")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per septum command")
    ap.add_argument("--aerleon", default=DEFAULT_AERLEON, metavar="PYTHON",
                    help="the Python of a venv with aerleon installed (default %(default)s)")
    ap.add_argument("--aerleon-timeout", type=float, default=1800.0, help="seconds per aclgen run")
    ap.add_argument("--no-aerleon-check", action="store_true", help="do not read Aerleon's output back")
    ap.add_argument("--keep", type=pathlib.Path, help="work in this directory and keep it (policies, configs, "
                    "the flat config, the Aerleon trees and outputs)")
    args = ap.parse_args(argv)
    args.repeat = max(1, args.repeat)

    chosen = [s for s in SCENARIOS if (args.only is None or s[0] in args.only) and (args.only or not args.quick or s[4])]
    info = aerleon_info(args.aerleon)
    if not info:
        print(f"[cisco-bench] no Aerleon interpreter at {args.aerleon}: Aerleon part skipped "
              "(python3 -m venv /tmp/aerleon-venv && /tmp/aerleon-venv/bin/pip install aerleon)", file=sys.stderr)
    synthetic = bench._load_synthetic()
    rows = []
    with tempfile.TemporaryDirectory(prefix="septum-cisco-bench-") as tmp:
        tmp = pathlib.Path(tmp)
        work = args.keep.resolve() if args.keep else tmp
        work.mkdir(parents=True, exist_ok=True)
        args.cache_root = tmp
        shim = bench._make_shim(tmp)
        env = bench._child_env(shim)
        for name, label, flows, budgets, _ in chosen:
            if flows is None:
                path = bench._reference_path()
                counts = {"zones": None, "flows": None}
            else:
                path = work / f"policy-{name}"
                if path.exists():
                    shutil.rmtree(path)
                gen = synthetic.generate(path, zones=1000, flows=flows, hosts_per_zone=1, seed=args.seed)
                routers = _rewrite_devices(path)
                counts = {k: gen[k] for k in ("zones", "hosts", "flows", "files", "bytes", "devices")}
                counts["routers"] = routers
                if routers != gen["devices"]:
                    print(f"[cisco-bench] warning: {routers} of {gen['devices']} devices rewritten", file=sys.stderr)
            print(f"[cisco-bench] {label} ...", file=sys.stderr, flush=True)
            rows.append(measure(name, label, path, counts, budgets, env, work, args, info))
    aerleon = ("Aerleon " + info["version"] + f" (Python {info['python']})") if info and "error" not in info \
        else "Aerleon not available"
    meta = {"python": platform.python_version(), "platform": platform.platform(terse=True), "cpus": os.cpu_count(),
            "repeat": args.repeat, "seed": args.seed, "calibration_s": bench.calibration(), "aerleon": aerleon}
    if args.json:
        print(json.dumps({"meta": meta, "scenarios": rows}, indent=2, default=str))
    else:
        print(markdown(rows, meta))
    over = [r for r in rows if any(not v["ok"] for v in r["budgets"].values())]
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
