"""Live tests of the nftables backend: compiled rulesets loaded into real kernels (network
namespaces) and probed with real packets (tests/netlab.py), and `septum apply`'s atomicity.

Policies are renumbered into 198.18.0.0/15 first (tests/renumber.py); nothing is sent outside
the lab's own namespaces, and no IPv6 at all. Without root, `ip` or `nft` the tests are skipped,
or fail when CI=true. Figures are printed (pytest -s shows them; a failure shows them anyway).

    .venv/bin/python -m pytest tests/test_nft_live.py -s
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import require_lab
from netlab import Budget, LiveReport, in_namespace, live_check, missing_requirements, namespace_name, \
    remove_leftovers, run, zone_networks
from renumber import compiled, renumber_tree

from septum.compiler.devices.backend import Options
from septum.compiler.devices.pipeline import compile_device

ROOT = Path(__file__).resolve().parent.parent
ZONES = ROOT / "zones"
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable

HOSPITAL_BUDGET = Budget(inside=16, intervals=8, random_per_interface=300, replies_allowed=1500, replies_denied=500)
SYNTHETIC_BUDGET = Budget(rules=250, inside=4, random_per_interface=40, unsolicited=150,
                          replies_allowed=800, replies_denied=200)
SYNTHETIC_DISABLED = frozenset({"empty-flow"})  # the generator makes some empty flows on purpose


@pytest.fixture(scope="module", autouse=True)
def lab_requirements():
    """Skip without root, `ip` or `nft`; with CI=true, fail instead and say what is missing."""
    require_lab(missing_requirements(), "nftables")
    remove_leftovers()


@pytest.fixture(scope="module")
def hospital(tmp_path_factory) -> Path:
    """The reference hospital renumbered into the lab's block."""
    copy = tmp_path_factory.mktemp("live") / "zones"
    renumber_tree(ZONES, copy)
    return copy


def ruleset(device) -> bytes:
    outcome = compile_device(device, Options(), prove=False)
    assert outcome.status == "compiled", [d.message for d in outcome.diagnostics]
    return outcome.artifacts[0].data


def check_report(report: LiveReport, at_least: int) -> None:
    print(report.summary())
    assert len(report.probes) >= at_least, f"only {len(report.probes)} probes for {report.device}"
    assert not report.mismatches, (f"{len(report.mismatches)} of {len(report.probes)} probes of {report.device} "
                                   f"did not do what the intent says:\n{report.describe_mismatches()}")
    assert not report.rule_route_conflicts, "\n".join(report.rule_route_conflicts[:10])
    assert report.figures.stray == 0, report.figures.stray_examples


# ---- (a) the reference hospital ---------------------------------------------------------


def test_hospital_core_fw_forwards_exactly_its_intent(hospital):
    loaded, result = compiled(hospital)
    device = result.intent.devices["core-fw"]
    report = live_check(device, ruleset(device), zone_networks(loaded.policy), HOSPITAL_BUDGET, seed=1)
    check_report(report, at_least=10_000)


# ---- (b) a synthetic policy with linked nftables firewalls ------------------------------

FALLBACK_POLICY = """\
# Two linked nftables firewalls: a core with the internet and three zones, a branch with two.

datatype ephi { sensitivity restricted; description "electronic protected health information" }

service https { tcp 443; encrypted }
service web-range { tcp 8000-8099; encrypted }
service dns { udp 53; tcp 53 }
service ntp { udp 123 }
service ssh { tcp 22; encrypted }
service ping { icmp type 8 }

zone servers { description "data-centre servers"; networks 10.1.0.0/24; trust restricted; holds ephi }
zone clients { description "clinical workstations"; networks 10.2.0.0/23; trust internal }
zone lab { description "laboratory systems"; networks 10.3.0.0/25; trust internal }
zone branch { description "branch workstations"; networks 10.4.0.0/24; trust internal }
zone branch-dev { description "branch devices"; networks 10.5.0.0/26; trust internal }

host web in servers { address 10.1.0.10 }
host resolver in servers { address 10.1.0.53 }
host admin in clients { address 10.2.0.5 }
host analyser in lab { address 10.3.0.7 }
host kiosk in branch { address 10.4.0.200 }

allow clients -> web : https, web-range except from admin "clinical web access"
allow clients, branch -> resolver : dns, ping "name service"
allow admin -> servers, lab, branch-dev : ssh "administration"
allow branch -> web : https "branch web access"
allow branch-dev -> analyser : ntp, ping "device time"
allow lab -> internet : https "lab vendor updates"
allow kiosk -> internet : https "kiosk browsing"
allow resolver -> internet : dns "recursive resolution"

firewall core-fw nftables {
  description "core firewall"
  interface eth0 zone internet
  interface eth1 zone servers
  interface eth2 zone clients
  interface eth3 zone lab
  interface eth9 link branch-fw
}

firewall branch-fw nftables {
  description "branch firewall"
  interface eth0 link core-fw
  interface eth1 zone branch
  interface eth2 zone branch-dev
}
"""


def has_linked_nftables_devices(path: Path) -> bool:
    """Whether the generator bound the zones to nftables firewalls linked to each other."""
    text = "".join(f.read_text() for f in path.glob("*.septum"))
    return " nftables {" in text and " link " in text


def synthetic_policy(base: Path) -> tuple[Path, str]:
    """tests/synthetic.py's policy if it binds its zones to linked nftables devices, else a
    small one written here; (its directory, which one)."""
    out = base / "synthetic"
    subprocess.run([sys.executable, str(ROOT / "tests" / "synthetic.py"), str(out), "--zones", "60", "--flows", "600",
                    "--seed", "3"], check=True, capture_output=True, text=True, timeout=120)
    if has_linked_nftables_devices(out):
        return out, "tests/synthetic.py --zones 60 --flows 600 --seed 3"
    fallback = base / "fallback"
    fallback.mkdir()
    (fallback / "policy.septum").write_text(FALLBACK_POLICY)
    return fallback, "the test's own two-firewall policy (tests/synthetic.py has no linked nftables devices)"


def test_synthetic_nftables_devices_forward_exactly_their_intent(tmp_path):
    source, which = synthetic_policy(tmp_path)
    copy = tmp_path / "renumbered"
    renumber_tree(source, copy, SYNTHETIC_DISABLED)
    loaded, result = compiled(copy, SYNTHETIC_DISABLED)
    devices = [d for d in result.intent.devices.values() if d.kind == "nftables"]
    print(f"policy: {which}; nftables devices: {', '.join(d.name for d in devices)}")
    assert len(devices) >= 2
    reports = [live_check(device, ruleset(device), zone_networks(loaded.policy), SYNTHETIC_BUDGET, seed=3)
               for device in devices]
    for report in reports:
        check_report(report, at_least=2_000)
    print(f"in all: {sum(len(r.probes) for r in reports)} probes, {sum(len(r.mismatches) for r in reports)} "
          f"mismatches, {sum(r.seconds for r in reports):.1f} s")


# ICMP that conntrack cannot admit as new (anything but requests) it calls invalid; a flow that
# allows such messages must still get them through (docs/backends.md, return traffic).
ICMP_POLICY = FALLBACK_POLICY + """
service unreachable { icmp type 3 }
service any-icmp { icmp }
allow lab -> branch-dev : unreachable "the analysers' ICMP errors"
allow branch-dev -> lab : any-icmp "every ICMP message"
"""


def test_icmp_conntrack_cannot_track_is_judged_by_the_policy(tmp_path):
    source = tmp_path / "icmp"
    source.mkdir()
    (source / "policy.septum").write_text(ICMP_POLICY)
    copy = tmp_path / "renumbered"
    renumber_tree(source, copy)
    loaded, result = compiled(copy)
    reports = [live_check(device, ruleset(device), zone_networks(loaded.policy), SYNTHETIC_BUDGET, seed=7)
               for device in result.intent.devices.values()]
    for report in reports:
        check_report(report, at_least=500)
    untracked = [p for r in reports for p in r.probes if p.wire.protocol == "icmp" and p.kind != "reply"
                 and p.wire.icmp_type not in (8, 13, 15, 17) and p.expected is not None]
    assert untracked, "the probes include ICMP messages conntrack cannot track that the policy allows"


# ---- (c) septum apply is atomic ---------------------------------------------------------

CANARY = "table inet other {\n\tchain c {\n\t}\n}\n"


def break_near_the_end(config: bytes, how: str) -> bytes:
    """The config with an error near its end: a bogus set element (nft's parser refuses the
    file), or a jump to a chain that does not exist (the kernel refuses the transaction, after
    it has already read the table's deletion)."""
    text = config.decode()
    if how == "syntax":
        at = text.rindex("elements = {\n") + len("elements = {\n")
        return (text[:at] + "\t\t\tthis is not an element !,\n" + text[at:]).encode()
    at = text.rindex("\n\t}\n")  # the end of the last chain
    return (text[:at] + "\n\t\tjump no-such-chain" + text[at:]).encode()


def septum_apply(namespace: str, config: Path, policy: Path) -> subprocess.CompletedProcess:
    """`septum apply core-fw` run as a user runs it, inside the namespace."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    command = in_namespace(namespace, PYTHON, "-m", "septum", "apply", "core-fw", "--config", str(config),
                           "--path", str(policy))
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)


@pytest.mark.parametrize("how", ["syntax", "kernel"])
def test_apply_changes_nothing_when_the_config_does_not_load(hospital, tmp_path, how):
    loaded, result = compiled(hospital)
    config = ruleset(result.intent.devices["core-fw"])
    good, broken = tmp_path / "core-fw.nft", tmp_path / "core-fw-broken.nft"
    good.write_bytes(config)
    broken.write_bytes(break_near_the_end(config, how))
    namespace = namespace_name("apply")
    run(["ip", "netns", "add", namespace])
    try:
        def nft(*args: str, stdin: str | None = None) -> str:
            return run(in_namespace(namespace, "nft", *args), stdin=stdin).stdout

        nft("-f", "-", stdin=CANARY)
        canary = nft("list", "table", "inet", "other")

        applied = septum_apply(namespace, good, hospital)
        assert applied.returncode == 0, applied.stderr
        loaded_ruleset = nft("list", "ruleset")
        assert "table inet septum {" in loaded_ruleset
        assert nft("list", "table", "inet", "other") == canary

        refused = septum_apply(namespace, broken, hospital)
        print(f"{how} error: exit {refused.returncode}: {refused.stderr.strip()[:300]}")
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert nft("list", "ruleset") == loaded_ruleset
        assert nft("list", "table", "inet", "other") == canary
        print(f"apply: good config loaded ({len(loaded_ruleset):,} bytes listed); broken ({how}) refused, "
              f"ruleset byte-identical, canary table untouched")
    finally:
        run(["ip", "netns", "delete", namespace], check=False)
