"""A device's compiled intent as a Cisco IOS zone-based policy firewall (templates/config.ios.j2).

IOS access lists are stateless, and a stateless filter cannot be exact for replies: a permit for
the answers of a UDP or ICMP flow admits the same packets unasked. The zone-based firewall is
stateful (`inspect` admits a session's replies and its ICMP errors) and maps onto Septum's model
one to one:

* every interface Septum knows is a member of a security zone of its own, named after the zone
  bound to it (or `link-PEER` for a link to another device);
* for every (ingress, egress) pair of interfaces with rules there is a zone-pair whose inspect
  policy admits exactly those rules' new connections, through class-maps over named ACLs
  (IPv4 extended and IPv6), logged flows in a class of their own whose inspection keeps an audit
  trail (a log line per session); everything else meets `class-default` and is dropped; a pair
  of zones with no zone-pair drops everything, as ZBF does by default;
* every security zone also has its intra-zone pair (traffic in and out by one interface), which
  ZBF would otherwise pass unfiltered: its policy is the rules for that, or drop.

In the ACLs, an IPv4 rule is one entry per service group: `permit object-group SERVICES
object-group SOURCE object-group DESTINATION`, the zone's addresses (or the hosts, after
carve-outs) as `object-group network` and the tcp/udp ports as `object-group service`, shared
across the device; ICMP by type (and code where the rule names codes). IPv6 ACLs have no
object-groups in IOS, so an IPv6 rule is an entry per source prefix, destination prefix and
service run. Rules only permit (the compiled intent's pieces are exact and permit-only), so their
order does not matter; each ACL ends with an explicit deny.

Every object carries the config's version (a hash of its content), so a new config loads beside
the running one and takes effect per zone-pair in one command (rollout.py).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache

from septum.compiler.devices.backend import Artifact, Options, Output
from septum.compiler.devices.intent import DeviceIntent, Rule
from septum.compiler.diagnostics import Diagnostic
from septum.compiler.packets.addresses import prefix_blocks

from .text import DESCRIPTION_CHARS, REMARK_CHARS, escape, icmp_parts, interface_problem, mask, ports, v4, v6

VERSION = "@VERSION@"  # stands for the content hash while the text is made
PREFIX = f"SEPTUM-{VERSION}"


@dataclass
class _Group:
    name: str
    description: str
    lines: list[str]


@dataclass
class _Acl:
    header: str
    lines: list[str] = field(default_factory=list)


@dataclass
class _Class:
    name: str
    acls: list[str]
    action: str


@dataclass
class _Pair:
    name: str
    source: str
    destination: str
    policy: str
    classes: list[_Class] = field(default_factory=list)


@dataclass
class _Zone:
    name: str
    interface: str
    description: str


@lru_cache(maxsize=1)
def _template():
    import jinja2

    environment = jinja2.Environment(loader=jinja2.PackageLoader("septum.backends.cisco", "templates"),
                                     autoescape=False, keep_trailing_newline=True, trim_blocks=True,
                                     lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    return environment.get_template("config.ios.j2")


def limits(device: DeviceIntent) -> list[Diagnostic]:
    """E602: what of this device IOS cannot hold (interface names, remarks); E603: switch ports."""
    found = []
    for interface in device.interfaces:
        if interface.port is not None:
            found.append(Diagnostic(
                "E603", f"device '{device.name}' is a cisco-ios router, which has interfaces, not switch ports",
                interface.span, "bind an interface (`interface GigabitEthernet0/1 zone NAME`), or make the device "
                "an openflow switch"))
            continue
        problem = interface_problem(interface.name)
        if problem:
            found.append(Diagnostic("E602", f"interface name '{interface.name}' {problem}", interface.span,
                                    "use the name IOS gives the interface (`show ip interface brief` lists them)"))
    for index in sorted({rule.flow for rule in device.rules}):
        flow = device.flows[index]
        remark = escape(flow.location)
        if len(remark) > REMARK_CHARS - len("remark "):
            found.append(Diagnostic(
                "E602", f"this flow's location '{remark}' is {len(remark)} characters; an IOS remark citing it "
                f"holds at most {REMARK_CHARS - len('remark ')}", flow.span,
                "move the zone file to a shorter path (relative to the policy directory)"))
    return found


def security_zones(device: DeviceIntent) -> dict[str, _Zone]:
    """Interface -> its security zone: the zone bound to it, or `link-PEER`; a name taken twice
    gets the interface's position as a suffix."""
    out: dict[str, _Zone] = {}
    taken: set[str] = set()
    for position, interface in enumerate(device.interfaces, 1):
        name = interface.zone or f"link-{interface.peer}"
        what = f"zone {interface.zone}" if interface.zone else f"link to {interface.peer}"
        if name in taken:
            name = f"{name}-{position}"
        taken.add(name)
        out[interface.name] = _Zone(name, interface.name, escape(f"{what} ({interface.name})")[:DESCRIPTION_CHARS])
    return out


class _Writer:
    def __init__(self, device: DeviceIntent) -> None:
        self.device = device
        self.networks: dict[tuple, _Group] = {}
        self.services: dict[tuple, _Group] = {}
        self.acls: list[_Acl] = []
        self.entries = 0

    def network(self, intervals: tuple, description: str) -> str:
        found = self.networks.get(intervals)
        if found is None:
            lines = []
            for first, last in intervals:
                for network, length in prefix_blocks(first, last, 32):
                    lines.append(f"host {v4(network)}" if length == 32 else f"{v4(network)} {mask(length)}")
            found = self.networks[intervals] = _Group(f"{PREFIX}-N{len(self.networks) + 1}", description, lines)
        return found.name

    def service(self, runs: tuple) -> str:
        found = self.services.get(runs)
        if found is None:
            lines = [f"{s.protocol} {ports(s.low, s.high)}".rstrip() for s in runs]
            found = self.services[runs] = _Group(f"{PREFIX}-S{len(self.services) + 1}", "", lines)
        return found.name

    def describe(self, addresses: tuple, zones: tuple[str, ...]) -> str:
        whole = [z for z in zones if self.device.zones[z].v4 == addresses]
        if whole:
            return escape(f"zone {whole[0]}")
        text = escape(f"part of {'zone' if len(zones) == 1 else 'zones'} {', '.join(zones)}")
        return text if len(text) <= DESCRIPTION_CHARS else escape(f"part of {len(zones)} zones")

    def remark(self, rule: Rule) -> str:
        location = self.device.flows[rule.flow].location
        text = escape(f"{location} {rule.source_zone} -> {', '.join(rule.destination_zones)}")
        return f"remark {text if len('remark ' + text) <= REMARK_CHARS else escape(location)}"

    def acl_v4(self, name: str, rules: list[Rule]) -> bool:
        acl = _Acl(f"ip access-list extended {name}")
        sequence = 0
        for rule in rules:
            source, destination = rule.source.v4, rule.destination.v4
            if not (source and destination):
                continue
            tcp_udp = tuple(s for s in rule.services if s.protocol in ("tcp", "udp"))
            icmp = [part for s in rule.services if s.protocol == "icmp" for part in icmp_parts(s.low, s.high)]
            if not (tcp_udp or icmp):
                continue
            src = self.network(source, self.describe(source, (rule.source_zone,)))
            dst = self.network(destination, self.describe(destination, rule.destination_zones))
            acl.lines.append(self.remark(rule))
            if tcp_udp:
                sequence += 10
                acl.lines.append(f"{sequence} permit object-group {self.service(tcp_udp)} object-group {src} "
                                 f"object-group {dst}")
            for part in icmp:
                sequence += 10
                acl.lines.append(f"{sequence} permit icmp object-group {src} object-group {dst} {part}")
        return self._close(acl, sequence, f"{sequence + 10} deny ip any any")

    def acl_v6(self, name: str, rules: list[Rule]) -> bool:
        acl = _Acl(f"ipv6 access-list {name}")
        sequence = 0
        for rule in rules:
            tests = [f"{s.protocol} {{}} {{}} {ports(s.low, s.high)}".rstrip() for s in rule.services
                     if s.protocol in ("tcp", "udp")]
            tests += [f"icmp {{}} {{}} {part}" for s in rule.services if s.protocol == "icmpv6"
                      for part in icmp_parts(s.low, s.high)]
            sources = [_v6_prefix(*b) for first, last in rule.source.v6 for b in prefix_blocks(first, last, 128)]
            destinations = [_v6_prefix(*b) for first, last in rule.destination.v6 for b in prefix_blocks(first, last, 128)]
            if not (tests and sources and destinations):
                continue
            acl.lines.append(self.remark(rule))
            for src in sources:
                for dst in destinations:
                    for test in tests:
                        sequence += 10
                        acl.lines.append(f"permit {test.format(src, dst)} sequence {sequence}")
        return self._close(acl, sequence, f"deny ipv6 any any sequence {sequence + 10}")

    def _close(self, acl: _Acl, sequence: int, deny: str) -> bool:
        if not sequence:
            return False
        acl.lines.append(deny)
        self.acls.append(acl)
        self.entries += sequence // 10 + 1
        return True

    def classes(self, k: int, rules: list[Rule]) -> list[_Class]:
        out = []
        for kind, wanted, action in (("L", True, f"inspect {PREFIX}-LOG"), ("C", False, "inspect")):
            chosen = [r for r in rules if r.log == wanted]
            acls = []
            for family, write in (("4", self.acl_v4), ("6", self.acl_v6)):
                name = f"{PREFIX}-{kind}{family}-{k}"
                if chosen and write(name, chosen):
                    acls.append(name)
            if acls:
                out.append(_Class(f"{PREFIX}-{kind}{k}", acls, action))
        return out


def _v6_prefix(network: int, length: int) -> str:
    return f"host {v6(network)}" if length == 128 else f"{v6(network)}/{length}"


def render(device: DeviceIntent, options: Options) -> Output:
    problems = limits(device)
    if problems:
        return Output(diagnostics=problems)
    zones = security_zones(device)
    by_pair: dict[tuple[str, str], list[Rule]] = defaultdict(list)
    for rule in device.rules:
        by_pair[(rule.ingress, rule.egress)].append(rule)
    for interface in zones:
        by_pair.setdefault((interface, interface), [])
    writer = _Writer(device)
    pairs = []
    order = {name: k for k, name in enumerate(zones)}
    for k, (ingress, egress) in enumerate(sorted(by_pair, key=lambda p: (order[p[0]], order[p[1]])), 1):
        source, destination = zones[ingress].name, zones[egress].name
        classes = writer.classes(k, by_pair[(ingress, egress)])
        pairs.append(_Pair(f"{source}--{destination}", source, destination,
                           f"{PREFIX}-P{k}" if classes else f"{PREFIX}-DROP", classes))
    draft = _template().render(
        role=device.role, device=device.name, revision=device.revision.describe(), septum=device.revision.septum,
        version=VERSION, prefix=PREFIX, networks=list(writer.networks.values()),
        services=list(writer.services.values()), acls=writer.acls, pairs=pairs, zones=list(zones.values()))
    # the version names the config's content, not the revision of the zone files it came from: a
    # commit that changes nothing on this router needs no rollout
    content = "".join(line for line in draft.splitlines(True) if not line.startswith("! policy "))
    version = hashlib.sha256(content.encode("utf-8")).hexdigest()[:8]
    data = draft.replace(VERSION, version).encode("utf-8")
    summary = {"version": version, "lines": data.count(b"\n"), "aces": writer.entries, "acls": len(writer.acls),
               "object_groups": len(writer.networks) + len(writer.services), "zone_pairs": len(pairs),
               "bytes": len(data)}
    return Output([Artifact(f"{device.name}.ios", data)], summary, [])
