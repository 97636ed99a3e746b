"""Hostile strings cannot inject anything into a generated config: quotes, semicolons, newlines,
braces, `#` and non-ASCII in file names, descriptions and justifications. Proven with the real
`nft`: the config loads beside a canary table, the kernel then holds exactly Septum's table
(named as expected) and the untouched canary, and Septum's table is proven equal to the intent."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from helpers import require_live
from septum.compiler.devices.pipeline import compile_policy

HOSTILE = '\\"; flush ruleset; table inet x { chain y { } } #\\n}\\t{ é ☃'
POLICY = f"""
datatype ephi {{ sensitivity restricted }}
service https {{ tcp 443; encrypted; description "{HOSTILE}" }}
zone a {{ networks 198.18.1.0/24; holds ephi; description "{HOSTILE}" }}
zone b {{ networks 198.18.2.0/24; description "{HOSTILE}" }}
host b1 in b {{ address 198.18.2.7; description "{HOSTILE}" }}
firewall fw nftables {{
  description "{HOSTILE}"
  interface eth1 zone a
  interface eth2 zone b
}}
"""
FLOWS = f"""
allow a -> b1 : https "{HOSTILE}"
allow b1 -> a : https log "{HOSTILE}"
"""
# a directory and a file name with everything a shell, nft or a comment could trip on
DIRECTORY = 'we"ird;dir {x}#é'
FILE = 'fl"ows;\n{}#☃.septum'


def _policy(tmp_path: Path) -> Path:
    root = tmp_path / "policy"
    (root / DIRECTORY).mkdir(parents=True)
    (root / "base.septum").write_text(POLICY)
    (root / DIRECTORY / FILE).write_text(FLOWS)
    return root


def test_hostile_strings_are_escaped_in_the_config(tmp_path):
    result = compile_policy(_policy(tmp_path), None, verify=False)
    [device] = result.devices
    assert device.status == "compiled", [(d.code, d.message) for d in device.diagnostics + result.diagnostics]
    text = device.artifacts[0].data.decode("utf-8")
    assert "flush" not in text and "☃" not in text and "é" not in text
    escaped = "we%22ird%3Bdir %7Bx%7D%23%C3%A9/fl%22ows%3B%0A%7B%7D%23%E2%98%83.septum"
    assert f'comment "{escaped}:2"' in text
    assert f'log prefix "septum {escaped}:3: "' in text
    for line in text.splitlines():  # every quoted string on a line is closed on that line
        assert line.count('"') % 2 == 0, line


def test_hostile_strings_cannot_add_a_statement_the_kernel_runs(tmp_path):
    require_live("nft", "unshare")
    result = compile_policy(_policy(tmp_path), tmp_path / "out", verify=False, prove=True)
    [device] = result.devices
    assert device.proof is not None and device.proof.equal, device.proof and device.proof.describe()
    config = tmp_path / "out" / "fw.nft"
    script = ('nft -f - <<"EOF" || exit 9\ntable inet canary {\n chain keep {\n  type filter hook forward priority 10; '
              'policy accept;\n  counter\n }\n}\nEOF\n'
              'nft -f "$1" && nft -j list ruleset')
    listing = subprocess.run(["unshare", "--net", "--", "sh", "-c", script, "sh", str(config)], capture_output=True,
                             text=True, timeout=120)
    assert listing.returncode == 0, listing.stderr
    objects = json.loads(listing.stdout)["nftables"]
    tables = sorted((o["table"]["family"], o["table"]["name"]) for o in objects if "table" in o)
    assert tables == [("inet", "canary"), ("inet", "septum")]
    canary = [o for o in objects if "rule" in o and o["rule"]["table"] == "canary"]
    assert len(canary) == 1 and [o for o in objects if "chain" in o and o["chain"]["table"] == "canary"][0][
        "chain"]["name"] == "keep"
    chains = sorted(o["chain"]["name"] for o in objects if "chain" in o and o["chain"]["table"] == "septum")
    assert chains == ["forward", "from-b.eth2", "shard-0", "stateless"]  # b1 logs: a chain of its own
