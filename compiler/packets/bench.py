"""Measure the packet-set representations on real policies: BDDs (`space`) against boxes (`boxes`).

    python -m septum.compiler.packets.bench PATH [PATH ...] [--scatter] [--checks-only] [--only REPR] [--json]

For each policy and each representation, in one process (CPU seconds, `time.process_time`):

* `checks`: the three packet checks (product-aware: parts, meets, containment part by part, and
  a union of flows tested only where one flow is not enough: by an interval sweep, or in the
  representation's own sets);
* `naive`: the textbook algorithm on the same candidates: build every flow's full packet set,
  then test each flow against the union of the flows that overlap it;
* `size`: the total size of all flows' packet sets (BDD nodes, or boxes).

The representations: `intervals` (what Septum uses: unions tested by sweeping the flows'
address intervals, BDDs over atoms only for unions too fragmented for that), `bdd-atoms` (unions
as BDDs over the policy's address atoms), `bdd-exact` (BDDs over 128-bit addresses) and `boxes`
(lists of interval boxes). `naive` and `size` of `intervals` are those of `bdd-atoms`.

`--scatter` first rewrites each policy so that no two zone networks are adjacent (every
`10.A.B.` becomes `10.(2A + B // 128).(2 (B mod 128)).`), the way real address plans look:
the internet is then one interval per gap, not a handful. A 10-million-step Python loop is timed
in each process, to compare machines and moments. Each measurement runs in a fresh interpreter.
Figures are in docs/packets.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _calibrate() -> float:
    start = time.process_time()
    x = 0
    for i in range(10_000_000):
        x += i
    return time.process_time() - start


def _scatter(source: Path, target: Path) -> Path:
    pattern = re.compile(r"\b10\.(\d+)\.(\d+)\.")

    def move(m: re.Match) -> str:
        a, b = int(m.group(1)), int(m.group(2))
        return f"10.{2 * a + b // 128}.{2 * (b % 128)}."

    for path in source.rglob("*.septum"):
        out = target / path.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(pattern.sub(move, path.read_text()))
    return target


def _naive(packets, candidates_of) -> float:
    space = packets.space
    start = time.process_time()
    flows = packets.flows()
    sets = [f.packets for f in flows]
    redundant = 0
    for i, mine in enumerate(sets):
        if space.is_empty(mine):
            continue
        union = space.false
        for j in candidates_of(i):
            union = union | sets[j]
        if space.is_empty(space.diff(mine, union)):
            redundant += 1
    return time.process_time() - start


REPRESENTATIONS = ("intervals", "bdd-atoms", "bdd-exact", "boxes")


def measure(path: Path, name: str, naive: bool = True) -> dict:
    """One policy, one representation, in this process."""
    import weakref

    from ..api import load_policy
    from ..verify.packet_checks import PACKET_CHECKS, _overlaps
    from .addresses import AddressAtoms
    from .boxes import BoxSpace
    from .flows import PolicyPackets, policy_blocks
    from .space import PacketSpace

    result = load_policy(path, graph=False)
    policy = result.policy
    make = {"intervals": lambda: None, "bdd-atoms": lambda: PacketSpace(AddressAtoms(policy_blocks(policy))),
            "bdd-exact": PacketSpace, "boxes": BoxSpace}[name]
    row = {"policy": str(path), "flows": len(policy.flows), "representation": name,
           "calibration s": round(_calibrate(), 3)}
    collecting = gc.isenabled()
    gc.disable()
    try:
        wall = time.perf_counter()
        start = time.process_time()
        packets = PolicyPackets(weakref.proxy(policy), make())  # weakly: the policy holds it
        policy._members["packet-sets"] = packets
        counts = {}
        for check, function in PACKET_CHECKS.items():
            t = time.process_time()
            counts[check] = len(function(policy))
            row[f"{check} s"] = round(time.process_time() - t, 3)
        row["checks s"] = round(time.process_time() - start, 3)
        row["checks wall s"] = round(time.perf_counter() - wall, 3)
        row["findings"] = counts
        if naive:
            flows = packets.flows()
            live = [i for i in range(len(flows)) if not flows[i].empty]
            known = _overlaps(packets, flows, live)
            start = time.process_time()
            fresh = PolicyPackets(policy, make())
            row["naive s"] = round(time.process_time() - start + _naive(fresh, lambda i: sorted(known.get(i, ()))), 3)
            row["size"] = sum(fresh.space.size(f.packets) for f in fresh.flows())
    finally:
        if collecting:
            gc.enable()
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--scatter", action="store_true", help="spread zone networks apart first")
    parser.add_argument("--only", choices=REPRESENTATIONS, action="append", help="measure only these")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--checks-only", action="store_true", help="skip `naive` and `size`")
    parser.add_argument("--one", nargs=2, metavar=("PATH", "REPRESENTATION"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(Path(args.one[0]), args.one[1], not args.checks_only)))
        return 0
    if not args.paths:
        parser.error("give at least one policy PATH")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, path in enumerate(args.paths):
            if args.scatter:
                path = _scatter(path, Path(tmp) / f"p{k}")
            for name in args.only or REPRESENTATIONS:  # each in a fresh interpreter
                command = [sys.executable, "-m", "septum.compiler.packets.bench", "--one", str(path), name]
                done = subprocess.run(command + ["--checks-only"] * args.checks_only, capture_output=True, text=True,
                                      check=True)
                rows.append(json.loads(done.stdout.splitlines()[-1]))
                if not args.json:
                    print(json.dumps(rows[-1]), flush=True)
            if args.scatter:
                shutil.rmtree(path)
    if args.json:
        print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
