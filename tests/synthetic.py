#!/usr/bin/env python3
"""Seeded generator of synthetic health-system policies for Septum.

The generated tree is meant to be *valid and clean* under ``septum check``:

* every name is unique and none is a language keyword;
* zone networks are deterministic, non-overlapping ``10.A.B.0/24`` blocks (one
  per zone, up to 65,536 zones), and about a quarter of the zones also get an
  IPv6 ``fd00:A:B::/64``; hosts sit at ``.10``, ``.11``, ... of their zone;
* VLAN ids are unique (``1..4094``) and only the first 4,094 zones get one;
* the tree defines its own data types (``ephi`` restricted, ``pii``
  confidential) and services, and does not ``use`` the catalogue;
* every zone, host, group, service and data type is referenced at least once,
  by construction (zones and hosts are dealt out over the flows' sources);
* the assertions hold: guest zones only talk to the internet, every service
  that carries data is encrypted and e-PHI only moves between zones that hold
  it, one service is used by exactly one flow (the ``only ... may connect``
  assertion), and every ``require`` has a matching ``allow``;
* no flow has overlapping source and destination zones, and no two flows
  have the same source and destination text;
* every zone (``internet`` included) is bound to exactly one interface of one
  of several linked ``nftables`` firewalls, and every link is declared at both
  ends (no E305-E308 or W404): a core firewall with ``internet``, the
  data-centre zones of site 1 and the guest zones; a site firewall per site of
  ZONES_PER_SITE zones, linked to the core, or with more than SITES_PER_REGION
  sites to a distribution firewall per region, linked to the core (traffic
  between regions then crosses five devices). Interface names are unique per
  device and valid Linux names of at most 15 bytes (``eth1.VLAN``, ``vlN``
  for zones without a VLAN, ``eth0`` and ``eth2.N`` for links).

It is not lint-clean on purpose: some flows allow nothing (``ping6`` between
IPv4-only zones, E522) and some are covered by broader ones (W521); compile it
with ``septum compile --disable empty-flow`` (or ``--no-verify``).

Output is byte-for-byte deterministic for a given set of arguments: the only
source of randomness is ``random.Random(seed)``, and nothing iterates over a
hash-ordered container of strings.

Usage::

    python tests/synthetic.py OUT --zones 1000 --flows 10000 --seed 1
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import random
import sys

__all__ = ["generate", "main"]

# ---------------------------------------------------------------------------
# fixed vocabulary
# ---------------------------------------------------------------------------

DATATYPES = [
    ("ephi", "restricted", "electronic protected health information"),
    ("pii", "confidential", "personally identifiable information"),
]

# name, clauses (already formatted), carries, encrypted
# Every service that carries a data type is encrypted, so that
# "assert ephi crosses zones only encrypted" holds by construction.
SERVICES = [
    ("https", ["tcp 443"], [], True),
    ("http-alt", ["tcp 80, 8080"], [], False),
    ("ssh", ["tcp 22"], [], True),
    ("dns", ["udp 53", "tcp 53"], [], False),
    ("ntp", ["udp 123"], [], False),
    ("syslog", ["udp 514"], [], False),
    ("snmp", ["udp 161-162"], [], False),
    ("ldaps", ["tcp 636"], [], True),
    ("kerberos-auth", ["tcp 88", "udp 88"], [], False),
    ("smb", ["tcp 445"], [], False),
    ("rdp", ["tcp 3389"], [], True),
    ("ping", ["icmp type 8 code 0"], [], False),
    ("ping6", ["icmpv6 type 128"], [], False),
    ("rtp-voice", ["udp 16384-32767"], [], False),
    ("sip-tls", ["tcp 5061"], [], True),
    ("print-jobs", ["tcp 9100, 631"], [], False),
    ("backup-agent", ["tcp 10000-10010"], [], True),
    ("dicom-tls", ["tcp 2762"], ["ephi"], True),
    ("hl7-tls", ["tcp 6661, 6662"], ["ephi"], True),
    ("fhir-api", ["tcp 8443"], ["ephi", "pii"], True),
    ("sql-tls", ["tcp 1433"], ["pii"], True),
]
# used by exactly one flow: the subject of the "only ... may connect" assertion
PUMP_SERVICE = ("pump-telemetry", ["tcp 7000-7010"], [], True)

GENERAL_SERVICES = [s[0] for s in SERVICES if not s[2]]
SENSITIVE_SERVICES = [s[0] for s in SERVICES if s[2]]
ENCRYPTED_GENERAL = [s[0] for s in SERVICES if not s[2] and s[3]]

# roles: (tag, holds, trust, description)
ROLES = [
    ("ehr", ["ephi", "pii"], "restricted", "electronic health record servers"),
    ("pacs", ["ephi", "pii"], "restricted", "picture archive"),
    ("imaging", ["ephi", "pii"], "restricted", "CT, MR, DR and US scanners"),
    ("lab", ["ephi", "pii"], "restricted", "laboratory information system"),
    ("pharmacy", ["ephi", "pii"], "restricted", "pharmacy systems"),
    ("infusion", [], "restricted", "infusion pumps"),
    ("telemetry", [], "internal", "patient monitoring telemetry"),
    ("clinws", [], "internal", "clinical workstations"),
    ("nursing", [], "internal", "nursing station devices"),
    ("admin", ["pii"], "internal", "administration"),
    ("finance", ["pii"], "internal", "finance and billing"),
    ("hr", ["pii"], "internal", "human resources"),
    ("research", [], "internal", "research network"),
    ("bms", [], "internal", "building management"),
    ("voip", [], "internal", "voice over IP"),
    ("printers", [], "internal", "printers and scanners"),
    ("identity", [], "internal", "directory and authentication"),
    ("backup", [], "internal", "backup infrastructure"),
]
ROLE_INDEX = {r[0]: i for i, r in enumerate(ROLES)}
# the first zones get fixed roles so the special flows and assertions always
# have something to point at, whatever the seed
FIXED_ROLES = ["ehr", "infusion", "telemetry", "clinws", "pacs", "lab", "admin", "identity"]
MIN_ZONES = len(FIXED_ROLES) + 1  # + one guest zone

ZONES_PER_SITE = 40
SITES_PER_REGION = 8  # more sites than this: a distribution firewall per region of sites
# site-1 zones of these roles sit in the data centre, behind the core firewall
DC_ROLES = ("ehr", "pacs", "identity", "backup")
WIDE_SELECTOR_RATE = 0.06  # tag / group / "zones holding" selectors in random flows
HOST_TAGS = ["server", "workstation", "managed"]  # never used as selectors


def _ticket(rng: random.Random) -> str:
    return f'"NET-{rng.randint(100, 99999)}"'


class _Gen:
    def __init__(self, zones: int, flows: int, hosts_per_zone: int, seed: int):
        if zones < MIN_ZONES:
            raise ValueError(f"need at least {MIN_ZONES} zones, got {zones}")
        if zones > 65536:
            raise ValueError("at most 65536 zones (one 10.A.B.0/24 each)")
        if not 0 <= hosts_per_zone <= 245:
            raise ValueError("hosts_per_zone must be in 0..245")
        if flows < 0:
            raise ValueError("flows must be >= 0")
        self.rng = random.Random(seed)
        self.n_zones = zones
        self.n_flows = flows
        self.hpz = hosts_per_zone
        self.n_guest = 1 + zones // 2000
        self.n_regular = zones - self.n_guest
        self._zones()
        self._groups()

    # ---------------------------------------------------------------- zones
    def _zones(self) -> None:
        rng = self.rng
        self.zone_name: list[str] = []
        self.zone_role: list[int] = []
        self.zone_site: list[int] = []
        self.zone_v6: list[bool] = []
        self.hosts: list[tuple[str, int, int]] = []  # (name, zone, index in zone)
        self.zone_hosts: list[list[int]] = []  # host ids per zone
        self.tag_sets: dict[str, list[int]] = {}  # tag -> zone ids (insertion order)
        for k in range(self.n_zones):
            if k >= self.n_regular:
                role = -1
                name = f"guest-wifi-{k - self.n_regular + 1}"
                site = -1
            else:
                if k < len(FIXED_ROLES):
                    role = ROLE_INDEX[FIXED_ROLES[k]]
                else:
                    role = rng.randrange(len(ROLES))
                name = f"{ROLES[role][0]}-{k + 1}"
                site = k // ZONES_PER_SITE
                self.tag_sets.setdefault(f"site-{site + 1}", []).append(k)
                self.tag_sets.setdefault(ROLES[role][0], []).append(k)
            self.zone_name.append(name)
            self.zone_role.append(role)
            self.zone_site.append(site)
            self.zone_v6.append(k % 4 == 1 or rng.random() < 0.1)
            ids = []
            for j in range(self.hpz):
                ids.append(len(self.hosts))
                self.hosts.append((f"{name}-h{j + 1}", k, j))
            self.zone_hosts.append(ids)
        self.ephi_zones = [k for k in range(self.n_regular) if "ephi" in ROLES[self.zone_role[k]][1]]
        self.ephi_set = frozenset(self.ephi_zones)
        self.pump_zone = 1  # infusion
        self.pump_src_zone = 2  # telemetry

    def v4net(self, k: int) -> str:
        return f"10.{k // 256}.{k % 256}.0/24"

    def v6net(self, k: int) -> str:
        return f"fd00:{k // 256:x}:{k % 256:x}::/64"

    def v4host(self, k: int, j: int) -> str:
        return f"10.{k // 256}.{k % 256}.{10 + j}"

    def v6host(self, k: int, j: int) -> str:
        return f"fd00:{k // 256:x}:{k % 256:x}::{10 + j:x}"

    # --------------------------------------------------------------- groups
    def _groups(self) -> None:
        """Groups: (name, selector text, zone set). Guest zones never appear."""
        rng = self.rng
        self.groups: list[tuple[str, str, frozenset]] = []
        self.groups.append(("ephi-estate", "zones holding ephi", self.ephi_set))
        n_sites = (self.n_regular + ZONES_PER_SITE - 1) // ZONES_PER_SITE
        for s in sorted(rng.sample(range(n_sites), min(3, n_sites))):
            members = self.tag_sets[f"site-{s + 1}"]
            self.groups.append((f"campus-{s + 1}", f"tag:site-{s + 1}", frozenset(members)))
        # explicit lists of zones and hosts
        n_explicit = 2 + self.n_regular // 1000
        for g in range(n_explicit):
            zs = sorted(rng.sample(range(self.n_regular), 3))
            items = [self.zone_name[z] for z in zs]
            members = set(zs)
            if self.hpz:
                hz = rng.randrange(self.n_regular)
                items.append(self.hosts[self.zone_hosts[hz][0]][0])
                members.add(hz)
            self.groups.append((f"core-services-{g + 1}", ", ".join(items), frozenset(members)))
        # a mixed one: a role tag plus a zone
        z = rng.randrange(self.n_regular)
        members = set(self.tag_sets["identity"]) | {z}
        self.groups.append(("auth-and-more", f"tag:identity, {self.zone_name[z]}", frozenset(members)))
        # a group of groups
        members = self.groups[1][2] | self.groups[-1][2]
        self.groups.append(("estate-mix", f"{self.groups[1][0]}, {self.groups[-1][0]}", frozenset(members)))

    # ------------------------------------------------------------ selectors
    def zone_item(self, k: int) -> tuple[str, frozenset]:
        return self.zone_name[k], frozenset((k,))

    def random_single(self, pool: list[int] | None = None) -> tuple[str, frozenset]:
        """A zone, host or address selector in one (regular, or pool) zone."""
        rng = self.rng
        k = rng.choice(pool) if pool is not None else rng.randrange(self.n_regular)
        r = rng.random()
        if self.hpz and r < 0.35:
            h = self.zone_hosts[k][rng.randrange(self.hpz)]
            return self.hosts[h][0], frozenset((k,))
        if r > 0.98:
            return self.v4net(k), frozenset((k,))
        return self.zone_name[k], frozenset((k,))

    def random_wide(self) -> tuple[str, frozenset]:
        rng = self.rng
        r = rng.random()
        if r < 0.4:
            tags = self.site_tags
            t = tags[rng.randrange(len(tags))]
            return f"tag:{t}", frozenset(self.tag_sets[t])
        if r < 0.55:
            t = ROLES[rng.randrange(len(ROLES))][0]
            if t in self.tag_sets:
                return f"tag:{t}", frozenset(self.tag_sets[t])
        if r < 0.6:
            return "zones holding ephi", self.ephi_set
        g = self.groups[rng.randrange(len(self.groups))]
        return g[0], g[2]

    def random_selector(self) -> tuple[str, frozenset]:
        if self.rng.random() < WIDE_SELECTOR_RATE:
            return self.random_wide()
        return self.random_single()

    # ---------------------------------------------------------------- flows
    def _flows(self) -> None:
        rng = self.rng
        self.site_tags = sorted((t for t in self.tag_sets if t.startswith("site-")),
                                key=lambda t: int(t[5:]))
        flows: list[str] = []
        seen: set[tuple[str, str]] = set()
        self.requires: list[str] = []

        def add(src: str, dst: str, svcs: list[str], opts: str = "", just: str | None = None) -> None:
            seen.add((src, dst))
            line = f"allow {src} -> {dst} : {', '.join(svcs)}{opts}"
            if just:
                line += f" {just}"
            flows.append(line)

        # --- special flows -------------------------------------------------
        for g in range(self.n_guest):
            k = self.n_regular + g
            add(self.zone_name[k], "internet", ["https", "dns"], "", '"guest internet access"')
            for h in self.zone_hosts[k]:
                add(self.hosts[h][0], "internet", ["ntp"])
        pump_src = (self.hosts[self.zone_hosts[self.pump_src_zone][0]][0] if self.hpz
                    else self.zone_name[self.pump_src_zone])
        self.pump_src = pump_src
        add(pump_src, self.zone_name[self.pump_zone], [PUMP_SERVICE[0]], " log",
            '"pump telemetry collector, ticket NET-7001"')
        # requirements with their matching flows
        a, b = 3, 0  # clinws -> ehr
        add(self.zone_name[a], self.zone_name[b], ["https"], "", '"clinical access to EHR"')
        self.requires.append(f"require ehr-access: {self.zone_name[a]} -> {self.zone_name[b]} : https")
        a, b = 6, 7  # admin -> identity
        src = self.hosts[self.zone_hosts[a][0]][0] if self.hpz else self.zone_name[a]
        add(src, self.zone_name[b], ["ldaps", "kerberos-auth"])
        self.requires.append(f'require {src} -> {self.zone_name[b]} : ldaps "directory lookups"')
        # every group once, as a destination of a zone outside it; a group that
        # covers every regular zone (tiny policies) is referenced by an assertion
        self.group_assertions: list[str] = []
        for gname, _, members in self.groups:
            outside = [k for k in range(self.n_regular) if k not in members]
            if not outside:
                self.group_assertions.append(gname)
                continue
            k = outside[rng.randrange(len(outside))]
            add(self.zone_name[k], gname, [rng.choice(GENERAL_SERVICES)], "", _ticket(rng))

        # --- bulk flows ----------------------------------------------------
        remaining = max(self.n_flows - len(flows), len(SENSITIVE_SERVICES) + len(GENERAL_SERVICES))
        cycle = GENERAL_SERVICES + SENSITIVE_SERVICES
        # coverage: every regular zone and host appears in the source of some
        # general flow; deal them out in contiguous chunks
        cover: list[tuple[str, int]] = []
        for k in range(self.n_regular):
            cover.append((self.zone_name[k], k))
            for h in self.zone_hosts[k]:
                cover.append((self.hosts[h][0], k))
        n_general = sum(1 for i in range(remaining) if cycle[i % len(cycle)] in GENERAL_SERVICES)
        chunk = max(1, math.ceil(len(cover) / max(n_general, 1)))
        chunk = min(chunk, 64)
        extra = max(0, math.ceil(len(cover) / chunk) - n_general)
        remaining += extra * 2  # keep the general/sensitive mix while adding flows
        pos = 0
        for i in range(remaining):
            primary = cycle[i % len(cycle)]
            if primary in SENSITIVE_SERVICES:
                self._sensitive_flow(primary, add, seen)
                continue
            covering = pos < len(cover)
            if covering:
                items = cover[pos:pos + chunk]
                pos += len(items)
                src = ", ".join(it[0] for it in items)
                src_set = frozenset(it[1] for it in items)
                wide_ok = len(items) == 1
            for _ in range(1000):
                if not covering:
                    src, src_set = self.random_selector()
                    wide_ok = len(src_set) == 1
                dst, dst_set = self.random_wide() if (wide_ok and rng.random() < WIDE_SELECTOR_RATE) \
                    else self.random_single()
                if dst_set.isdisjoint(src_set) and (src, dst) not in seen:
                    break
            else:
                raise ValueError("could not find a destination; policy too small")
            svcs = [primary]
            for _ in range(rng.choice((0, 0, 0, 1, 1, 2))):
                s = rng.choice(GENERAL_SERVICES)
                if s not in svcs:
                    svcs.append(s)
            opts = ""
            r = rng.random()
            if (r < 0.05 and self.hpz and len(src_set) == 1 and "," not in src
                    and src == self.zone_name[next(iter(src_set))]):
                k = next(iter(src_set))
                opts += f" except from {self.hosts[self.zone_hosts[k][-1]][0]}"
            elif r < 0.08 and len(dst_set) > 2 and not dst.startswith("10."):
                k = sorted(dst_set)[rng.randrange(len(dst_set))]
                opts += f" except to {self.zone_name[k]}"
            if all(s in ENCRYPTED_GENERAL for s in svcs) and src_set <= self.ephi_set \
                    and dst_set <= self.ephi_set and rng.random() < 0.3:
                opts += " carrying ephi"
            if rng.random() < 0.1:
                opts += " log"
            add(src, dst, svcs, opts, _ticket(rng) if rng.random() < 0.5 else None)
        assert pos >= len(cover), "coverage incomplete"
        self.flows = flows

    def _sensitive_flow(self, primary: str, add, seen) -> None:
        """A flow carrying data: both ends hold ephi (and pii)."""
        rng = self.rng
        pool = self.ephi_zones
        for _ in range(1000):
            src, src_set = self.random_single(pool)
            if rng.random() < 0.02:
                dst, dst_set = "zones holding ephi", self.ephi_set
                k = next(iter(src_set))
                dst_extra = f" except to {self.zone_name[k]}"
                dst_set = dst_set - src_set
                # the source must be the zone itself, so that "except to" removes it
                src = self.zone_name[k]
            else:
                dst, dst_set = self.random_single(pool)
                dst_extra = ""
            if dst_set.isdisjoint(src_set) and (src, dst) not in seen:
                break
        else:
            raise ValueError("could not place a sensitive flow; too few ephi zones")
        svcs = [primary]
        if rng.random() < 0.3:
            s = rng.choice(SENSITIVE_SERVICES + ENCRYPTED_GENERAL)
            if s not in svcs:
                svcs.append(s)
        opts = dst_extra
        if rng.random() < 0.15:
            opts += " carrying ephi"
        if rng.random() < 0.2:
            opts += " log"
        add(src, dst, svcs, opts, _ticket(rng) if rng.random() < 0.7 else None)

    # --------------------------------------------------------------- render
    def render_services(self) -> str:
        out = ["# Synthetic policy: data types and services", ""]
        for name, sens, desc in DATATYPES:
            out.append(f'datatype {name} {{ sensitivity {sens}; description "{desc}" }}')
        out.append("")
        for name, clauses, carries, enc in SERVICES + [PUMP_SERVICE]:
            parts = list(clauses)
            if carries:
                parts.append("carries " + ", ".join(carries))
            if enc:
                parts.append("encrypted")
            out.append(f"service {name} {{ {'; '.join(parts)} }}")
        out.append("")
        return "\n".join(out)

    def render_zone(self, k: int) -> str:
        rng = self.rng
        name = self.zone_name[k]
        role = self.zone_role[k]
        lines = [f"zone {name} {{"]
        if role < 0:
            lines.append('  description "guest wireless"')
        elif rng.random() < 0.3:
            lines.append(f'  description "{ROLES[role][3]}, site {self.zone_site[k] + 1}"')
        nets = self.v4net(k)
        if self.zone_v6[k]:
            nets += ", " + self.v6net(k)
        lines.append(f"  networks {nets}")
        if k < 4094:
            lines.append(f"  vlan {k + 1}")
        if role < 0:
            lines.append("  trust untrusted")
            lines.append("  tags guest")
        else:
            _, holds, trust, _ = ROLES[role]
            lines.append(f"  trust {trust}")
            if holds:
                lines.append(f"  holds {', '.join(holds)}")
            lines.append(f"  tags site-{self.zone_site[k] + 1}, {ROLES[role][0]}")
        lines.append("}")
        for h in self.zone_hosts[k]:
            hname, _, j = self.hosts[h]
            addrs = self.v4host(k, j)
            if self.zone_v6[k]:
                addrs += ", " + self.v6host(k, j)
            clause = f"address {addrs}" if not self.zone_v6[k] else f"addresses {addrs}"
            extra = ""
            if rng.random() < 0.3:
                extra = f"; tags {HOST_TAGS[rng.randrange(len(HOST_TAGS))]}"
            lines.append(f"host {hname} in {name} {{ {clause}{extra} }}")
        return "\n".join(lines)

    def render_groups(self) -> str:
        out = ["# Synthetic policy: groups", ""]
        for name, sel, _ in self.groups:
            out.append(f"group {name} = {sel}")
        out.append("")
        return "\n".join(out)

    def render_assertions(self) -> str:
        guest = self.zone_name[self.n_regular]
        out = ["# Synthetic policy: assertions and requirements", ""]
        out.append(f'assert guest-isolation: no path from {guest} to zones holding ephi '
                   f'"guests never reach patient data"')
        if self.n_guest > 1 or self.hpz:
            src = (self.hosts[self.zone_hosts[self.n_regular][0]][0] if self.hpz
                   else self.zone_name[self.n_regular + 1])
            out.append(f"assert guest-host-isolation: no path from {src} to ephi-estate within 3 hops")
        for i, gname in enumerate(self.group_assertions):
            out.append(f"assert guest-isolation-{i + 1}: no path from {guest} to {gname}")
        out.append("assert ephi crosses zones only encrypted")
        out.append(f"assert pump-control: only {self.pump_src} may connect to "
                   f"{self.zone_name[self.pump_zone]} on {PUMP_SERVICE[0]}")
        out.extend(self.requires)
        out.append("")
        return "\n".join(out)

    def device_plan(self) -> list[tuple[str, str, list[str]]]:
        """The enforcement devices: (name, description, interface lines), core first.

        A star of nftables firewalls: ``core-fw`` holds ``internet`` (eth0), the data-centre zones
        of site 1 and the guest zones; every site has a firewall holding the rest of its zones,
        linked to the core, or for more than SITES_PER_REGION sites to a distribution firewall
        per region of sites, itself linked to the core. A zone sits on sub-interface
        ``eth1.VLAN`` of its device, or ``vlN`` (N = zone number) when it has no VLAN; links
        are ``eth0`` upwards and ``eth2.N`` downwards. Uses no randomness.
        """
        def zone_if(k: int) -> str:
            return f"eth1.{k + 1}" if k < 4094 else f"vl{k + 1}"

        n_sites = (self.n_regular + ZONES_PER_SITE - 1) // ZONES_PER_SITE
        dc = [k for k in range(min(ZONES_PER_SITE, self.n_regular)) if ROLES[self.zone_role[k]][0] in DC_ROLES]
        dc_set = set(dc)
        site_zones: list[list[int]] = [[] for _ in range(n_sites)]
        for k in range(self.n_regular):
            if k not in dc_set:
                site_zones[self.zone_site[k]].append(k)
        sites = [s for s in range(n_sites) if site_zones[s]]
        regions = _split(len(sites), math.ceil(len(sites) / SITES_PER_REGION)) \
            if len(sites) > SITES_PER_REGION else []

        core = ["interface eth0 zone internet"]
        core += [f"interface {zone_if(k)} zone {self.zone_name[k]}" for k in dc]
        core += [f"interface {zone_if(k)} zone {self.zone_name[k]}" for k in range(self.n_regular, self.n_zones)]
        plan = [("core-fw", "core data-centre firewall", core)]
        parent = {s: "core-fw" for s in sites}
        for r, part in enumerate(regions):
            name = f"dist-fw-{r + 1}"
            core.append(f"interface eth2.{r + 1} link {name}")
            lines = ["interface eth0 link core-fw"]
            for i in part:
                s = sites[i]
                parent[s] = name
                lines.append(f"interface eth2.{s + 1} link site-fw-{s + 1}")
            plan.append((name, f"distribution firewall, region {r + 1}", lines))
        if not regions:
            core += [f"interface eth2.{s + 1} link site-fw-{s + 1}" for s in sites]
        for s in sites:
            lines = [f"interface eth0 link {parent[s]}"]
            lines += [f"interface {zone_if(k)} zone {self.zone_name[k]}" for k in site_zones[s]]
            plan.append((f"site-fw-{s + 1}", f"site {s + 1} firewall", lines))
        return plan

    def render_devices(self) -> str:
        out = ["# Synthetic policy: enforcement devices (every zone bound once)", ""]
        for name, description, lines in self.device_plan():
            out.append(f"firewall {name} nftables {{")
            out.append(f'  description "{description}"')
            out.extend(f"  {line}" for line in lines)
            out.append("}")
        out.append("")
        return "\n".join(out)


def _split(n: int, parts: int) -> list[range]:
    parts = max(1, min(parts, n)) if n else 1
    size, rem = divmod(n, parts)
    out, start = [], 0
    for p in range(parts):
        end = start + size + (1 if p < rem else 0)
        out.append(range(start, end))
        start = end
    return out


def generate(out_dir: pathlib.Path, zones: int, flows: int, hosts_per_zone: int = 1,
             files: int | None = None, seed: int = 0) -> dict:
    """Write a synthetic policy tree of ``*.septum`` files into ``out_dir``.

    ``files`` is the number of zone files and of flow files (default: one zone
    file per 500 zones, one flow file per 2,500 flows, at least two flow files).
    Returns counts of what was written. ``flows`` is a target: the actual number
    can be higher when every zone and host must appear in some flow (at most 64
    of them share one flow's source), e.g. 65,536 zones with 1,000 flows.
    """
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    g = _Gen(zones, flows, hosts_per_zone, seed)
    g._flows()

    written: list[pathlib.Path] = []

    def write(name: str, text: str) -> None:
        p = out_dir / name
        p.write_text(text, encoding="utf-8", newline="\n")
        written.append(p)

    write("services.septum", g.render_services())
    zone_parts = _split(zones, files if files else math.ceil(zones / 500))
    width = max(3, len(str(len(zone_parts))))
    for i, part in enumerate(zone_parts):
        body = [f"# Synthetic policy: zones {part.start + 1}..{part.stop}", ""]
        body.extend(g.render_zone(k) for k in part)
        body.append("")
        write(f"zones-{i + 1:0{width}d}.septum", "\n".join(body))
    write("groups.septum", g.render_groups())
    n_flows = len(g.flows)
    flow_parts = _split(n_flows, files if files else max(2, math.ceil(n_flows / 2500)))
    width = max(3, len(str(len(flow_parts))))
    for i, part in enumerate(flow_parts):
        body = [f"# Synthetic policy: flows {part.start + 1}..{part.stop}", ""]
        body.extend(g.flows[j] for j in part)
        body.append("")
        write(f"flows-{i + 1:0{width}d}.septum", "\n".join(body))
    write("assertions.septum", g.render_assertions())
    devices = g.render_devices()
    write("devices.septum", devices)

    return {
        "zones": zones,
        "hosts": len(g.hosts),
        "groups": len(g.groups),
        "datatypes": len(DATATYPES),
        "services": len(SERVICES) + 1,
        "flows": n_flows,
        "assertions": g.render_assertions().count("\nassert "),
        "requires": len(g.requires),
        "devices": devices.count("\nfirewall "),
        "files": len(written),
        "bytes": sum(p.stat().st_size for p in written),
        "seed": seed,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=pathlib.Path, help="output directory (created if missing)")
    ap.add_argument("--zones", type=int, default=100)
    ap.add_argument("--flows", type=int, default=1000)
    ap.add_argument("--hosts-per-zone", type=int, default=1)
    ap.add_argument("--files", type=int, default=None,
                    help="number of zone files and of flow files (default: by size)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    try:
        counts = generate(args.out, args.zones, args.flows, args.hosts_per_zone, args.files, args.seed)
    except ValueError as e:
        print(f"synthetic.py: {e}", file=sys.stderr)
        return 2
    print(json.dumps(counts, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
