"""Replacing the Septum config a router runs with a new one, with no moment unfiltered or
half-filtered.

Every object a Septum config defines is named after its version (`SEPTUM-<version>-...`), except
the security zones, the zone-pairs and the interfaces' memberships, which stay. So the sequence is:

1. the new config as it is: it defines the new version's object-groups, ACLs, class-maps and
   policy-maps beside the running ones (nothing refers to them yet, so nothing changes), then
   points each zone-pair at its new policy-map, one `service-policy type inspect` command per
   zone-pair: each pair switches from the whole old policy to the whole new one at once;
2. what the new version no longer has: the zone-pairs it does not define are removed (a pair of
   zones without a zone-pair drops everything: the new intent has no rule there), the
   memberships of interfaces it does not name, then the zones nothing is a member of;
3. the old version's objects, users before what they use: policy-maps, class-maps, ACLs,
   object-groups, the parameter-map.

Should a router refuse to replace a zone-pair's policy in place, the window between `no
service-policy` and the new one drops that pair's traffic (ZBF's default for a zone-pair without a
policy): closed, never open.
"""

from __future__ import annotations

import re

_OBJECT = re.compile(r"^(object-group network|object-group service|ip access-list extended|ipv6 access-list|"
                     r"class-map type inspect match-any|class-map type inspect match-all|policy-map type inspect|"
                     r"parameter-map type inspect) (SEPTUM-([0-9a-f]{8})-\S+)$")
_REMOVAL_ORDER = ("policy-map type inspect", "class-map type inspect match-any", "class-map type inspect match-all",
                  "ip access-list extended", "ipv6 access-list", "object-group service", "object-group network",
                  "parameter-map type inspect")
_VERSION = re.compile(r"^! version ([0-9a-f]{8}):", re.MULTILINE)


def version_of(config: str) -> str | None:
    found = _VERSION.search(config)
    return found.group(1) if found else None


def _top_level(config: str) -> list[tuple[str, list[str]]]:
    """The config's top-level commands with their indented lines."""
    blocks: list[tuple[str, list[str]]] = []
    for line in config.splitlines():
        if not line or line.startswith("!"):
            continue
        if line.startswith(" "):
            if blocks:
                blocks[-1][1].append(line.strip())
            continue
        blocks.append((line.rstrip(), []))
    return blocks


def _zone_pairs(blocks) -> dict[str, str]:
    return {header.split()[2]: header for header, _ in blocks if header.startswith("zone-pair security ")}


def _memberships(blocks) -> dict[str, str]:
    """Interface -> the security zone it is a member of."""
    out = {}
    for header, lines in blocks:
        if header.startswith("interface "):
            for line in lines:
                if line.startswith("zone-member security "):
                    out[header.split(None, 1)[1]] = line.split()[2]
    return out


def rollout(running: str, new: str) -> str:
    """The commands that turn a router running `running` (its configuration, or just the Septum
    part) into one running `new` (a config `septum compile` wrote)."""
    version = version_of(new)
    if version is None:
        raise ValueError("the new config has no Septum version line: it was not written by `septum compile`")
    old, fresh = _top_level(running), _top_level(new)
    lines = [line for line in new.splitlines() if line != "end"]
    lines.append("! septum rollout: what the new version no longer has")
    kept_pairs = _zone_pairs(fresh)
    for name, header in sorted(_zone_pairs(old).items()):
        if name not in kept_pairs:
            lines.append(f"no {header}")
    members = _memberships(fresh)
    for interface, zone in sorted(_memberships(old).items()):
        if interface not in members:
            lines += [f"interface {interface}", f" no zone-member security {zone}"]
    used = set(members.values())
    for header, _ in old:
        if header.startswith("zone security ") and header.split()[2] not in used:
            lines.append(f"no {header}")
    lines.append("! septum rollout: the objects of the versions replaced")
    stale: dict[str, list[str]] = {kind: [] for kind in _REMOVAL_ORDER}
    for header, _ in old:
        found = _OBJECT.match(header)
        if found and found.group(3) != version:
            stale[found.group(1)].append(header)
    for kind in _REMOVAL_ORDER:
        lines += [f"no {header}" for header in stale[kind]]
    lines.append("end")
    return "\n".join(lines) + "\n"
