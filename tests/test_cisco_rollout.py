"""The Cisco rollout sequence, replayed on the text: from a router running one version to the
next, command by command, the config after every command is evaluated, and every zone-pair
filters exactly as the old version or exactly as the new one — never unfiltered, never by half a
policy — and at the end the router holds the new version and nothing of the old."""

from __future__ import annotations

import re

from septum.backends.cisco.interpret import accepted, read
from septum.backends.cisco.rollout import rollout, version_of
from septum.compiler.devices.pipeline import compile_policy
from septum.compiler.devices.prove import DeviceSpace

ZONES = """
datatype ephi { sensitivity restricted }
service https { tcp 443; encrypted }
service dns { udp 53; tcp 53 }
zone a { networks 10.0.1.0/24, fd00:1::/64; holds ephi }
zone b { networks 10.0.2.0/24, fd00:2::/64 }
zone c { networks 10.0.3.0/24 }
host b1 in b { address 10.0.2.7 }
"""
OLD = ZONES + """
allow a -> b : https
allow c -> b1 : dns
allow b -> c : https log
router r cisco-ios {
  interface GigabitEthernet0/1 zone a
  interface GigabitEthernet0/2 zone b
  interface GigabitEthernet0/3 zone c
}
"""
NEW = ZONES + """
allow a -> b : https, dns
allow b1 -> a : https log
router r cisco-ios {
  interface GigabitEthernet0/1 zone a
  interface GigabitEthernet0/2 zone b
}
zone d { networks 10.0.4.0/24 }
"""
INTERFACES = ["GigabitEthernet0/1", "GigabitEthernet0/2", "GigabitEthernet0/3"]


def _config(tree, text: str) -> str:
    path = tree({"p.septum": text})
    result = compile_policy(path, None, verify=False)
    [device] = result.devices
    assert device.status == "compiled", [(d.code, d.message) for d in device.diagnostics]
    return device.artifacts[0].data.decode("utf-8")


class Running:
    """A router's running config as IOS keeps it: top-level commands with their lines."""

    REPLACING = ("service-policy type inspect ", "zone-member security ")

    def __init__(self, text: str) -> None:
        self.blocks: dict[str, list[str]] = {}
        for command in _commands(text):
            self.enter(command)

    def enter(self, command: list[str]) -> None:
        header, lines = command[0], command[1:]
        if header.startswith("no "):
            removed = self.blocks.pop(header[3:], None)
            assert removed is not None, f"removes what is not there: {header}"
            return
        block = self.blocks.setdefault(header, [])
        for line in lines:  # each without the one space of its block (a class's action keeps one more)
            if line.startswith("no "):
                block.remove(line[3:])
                continue
            for replaced in self.REPLACING:
                if line.startswith(replaced):
                    block[:] = [old for old in block if not old.startswith(replaced)]
            if line not in block:
                block.append(line)

    def text(self) -> str:
        out = []
        for header, lines in self.blocks.items():
            out.append(header)
            out += [f" {line}" for line in lines]
            out.append("!")
        return "\n".join(out + ["end"]) + "\n"


def _commands(text: str) -> list[list[str]]:
    commands: list[list[str]] = []
    for line in text.splitlines():
        if not line or line.startswith("!") or line == "end":
            continue
        if line.startswith(" "):
            commands[-1].append(line[1:])
        else:
            commands.append([line])
    return commands


def _per_pair(text: str, ds: DeviceSpace) -> dict[tuple[str, str], object]:
    allowed = accepted(read(text), ds)
    return {(i, o): allowed & ds.interface("i", i) & ds.interface("o", o) for i in ds.names for o in ds.names}


def test_every_moment_of_the_rollout_filters_by_one_whole_version(tree):
    old, new = _config(tree, OLD), _config(tree, NEW)
    assert version_of(old) != version_of(new)
    ds = DeviceSpace(INTERFACES)
    before, after = _per_pair(old, ds), _per_pair(new, ds)
    running = Running(old)
    commands = _commands(rollout(old, new))
    mixed = 0
    for step, command in enumerate(commands):
        running.enter(command)
        now = _per_pair(running.text(), ds)  # refuses a config naming an object not (or no longer) defined
        for pair, packets in now.items():
            assert packets in (before[pair], after[pair]), f"after command {step} {command[0]!r}: {pair} is neither"
        mixed += any(now[p] != before[p] for p in now) and any(now[p] != after[p] for p in now)
    assert mixed > 0  # some moments have switched some pairs and not yet others: each pair whole
    assert _per_pair(running.text(), ds) == after
    final = running.text()
    assert version_of(old) not in final.replace(f"! version {version_of(old)}", "")
    assert not re.search(rf"SEPTUM-{version_of(old)}-", final)
    assert "zone-member security c" not in final and "zone security c" not in final


def test_a_rollout_to_the_same_version_removes_nothing(tree):
    old = _config(tree, OLD)
    sequence = rollout(old, old)
    assert not [line for line in sequence.splitlines() if line.startswith("no ")]


def test_a_config_not_written_by_septum_is_refused(tree):
    import pytest

    with pytest.raises(ValueError, match="no Septum version line"):
        rollout("", "interface Gi0/1\n shutdown\n")
