"""A switch's compiled intent as an Open vSwitch flow table (OpenFlow 1.3, `ovs-ofctl` syntax;
templates/flows.of.j2).

The switch forwards an IP packet to the port through which its destination zone is reached
(chosen by destination address, never by MAC learning), and only if connection tracking and the
policy admit it. ARP and IPv6 neighbour discovery (ICMPv6 133-136 with hop limit 255, which no
router forwards) are switched normally, and nothing else is. Four tables:

* 0, admission: ARP and ND to NORMAL; untracked IPv4 and IPv6 through `ct(table=1)`; drop;
* 1, connection state: established and related packets to output; invalid ICMP requests
  dropped, other invalid ICMP (messages conntrack cannot track) judged by the policy without
  being committed; other invalid packets dropped; new connections to the policy;
* 2, policy: each rule is a conjunction of three dimensions — ingress port and source addresses,
  destination addresses, services — so a rule costs flows in the sum of its sources,
  destinations and services, not their product, and a flow shared by several rules lists each
  of their conjunctions; a satisfied conjunction commits the connection and goes to output;
* 3, output: each zone's addresses to its port, longest prefix first; drop.

Every rule's flows carry a cookie that names it; `NAME.cookies.json` beside the flows maps each
cookie to the rule's zone-file line, zones, ports and `log` flag (OVS has no log action: a logged
flow's connections are counted per cookie, `ovs-ofctl dump-flows BRIDGE cookie=C/-1`).

Fail closed (E603): a zone reached through two ports (a switch forwards by destination, so it
could not choose), a rule whose traffic must leave by the port it came in by (OpenFlow never
sends a packet back out of its ingress port), an `interface` binding (a switch has ports).
"""

from __future__ import annotations

import json
from functools import lru_cache

from septum.compiler.devices.backend import Artifact, Options, Output
from septum.compiler.devices.intent import DeviceIntent
from septum.compiler.diagnostics import Diagnostic
from septum.compiler.packets.addresses import WIDTH, prefix_blocks

from .text import address_blocks, block_text, icmp_matches, port_matches

_IP = {4: "ip", 6: "ipv6"}
_SOURCE = {4: "nw_src", 6: "ipv6_src"}
_DESTINATION = {4: "nw_dst", 6: "ipv6_dst"}
_PROTOCOL = {(4, "tcp"): "tcp", (4, "udp"): "udp", (4, "icmp"): "icmp",
             (6, "tcp"): "tcp6", (6, "udp"): "udp6", (6, "icmpv6"): "icmp6"}
ND_TYPES = (133, 134, 135, 136)
# A flow's actions travel in one OpenFlow message (at most 64 KiB): a clause flow many rules share
# lists at most this many conjunctions. The next conjunctions' clause flows go one priority lower;
# a packet that satisfies no conjunction at one priority is tried at the next (OVS's classifier),
# so any satisfied conjunction admits it, as one priority would. The flows that act on a
# satisfied conjunction sit above every clause priority.
CONJUNCTIONS_PER_PRIORITY = 3_000  # 16 bytes each in the message
CLAUSE_PRIORITY = 30_000
SATISFIED_PRIORITY = 40_000
# The ICMP Open vSwitch's connection tracker (userspace datapath, measured) admits as new: the
# requests with code 0 (not the kernel's address-mask request, nor requests with another code);
# every other ICMP message it cannot relate to a session is invalid, and the policy judges it.
OVS_TRACKED_ICMP = {"icmp": ((8, 0), (13, 0), (15, 0)), "icmpv6": ((128, 0),)}


@lru_cache(maxsize=1)
def _template():
    import jinja2

    environment = jinja2.Environment(loader=jinja2.PackageLoader("septum.backends.openflow", "templates"),
                                     autoescape=False, keep_trailing_newline=True, trim_blocks=True,
                                     lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    return environment.get_template("flows.of.j2")


def output_ports(device: DeviceIntent) -> tuple[dict[str, str], list[Diagnostic]]:
    """Zone -> the port the switch sends its traffic to, and E603 for a zone reached two ways."""
    found: dict[str, str] = {}
    problems = []
    for port in sorted(device.reach, key=int):
        for zone in device.reach[port]:
            if found.setdefault(zone, port) != port:
                problems.append(Diagnostic(
                    "E603", f"zone '{zone}' is reached through ports {found[zone]} and {port} of switch "
                    f"'{device.name}', which forwards by destination and cannot choose", device.span,
                    "link the devices so that each zone is reached one way (a tree), or bind the zone once"))
    return found, problems


def limits(device: DeviceIntent) -> list[Diagnostic]:
    found = []
    for interface in device.interfaces:
        if interface.port is None:
            found.append(Diagnostic(
                "E603", f"device '{device.name}' is an openflow switch, which has ports, not interfaces",
                interface.span, "bind a port (`port 3 zone NAME`), or make the device a firewall or router"))
    for rule in device.rules:
        if rule.ingress == rule.egress:
            flow = device.flows[rule.flow]
            found.append(Diagnostic(
                "E603", f"flow {rule.source_zone} -> {', '.join(rule.destination_zones)} must leave switch "
                f"'{device.name}' by port {rule.egress}, the port it arrives by; OpenFlow never sends a packet "
                "back out of its ingress port", flow.span, "bind the zones to different ports"))
    return found


class _Table:
    """Flows of one table: match -> actions, in the order first written."""

    def __init__(self) -> None:
        self.flows: dict[str, dict[str, None]] = {}  # match -> its actions, in order, once each
        self.rules: dict[str, set[int]] = {}

    def add(self, match: str, action: str, rule: int) -> None:
        self.flows.setdefault(match, {})[action] = None
        self.rules.setdefault(match, set()).add(rule)

    def lines(self) -> list[str]:
        """A flow one rule owns carries its cookie; one that several rules share, cookie 0."""
        out = []
        for match, actions in self.flows.items():
            owners = self.rules[match]
            cookie = f"cookie={next(iter(owners)):#x}," if len(owners) == 1 else ""
            out.append(f"{cookie}{match} actions={','.join(actions)}")
        return out


def _policy(device: DeviceIntent) -> tuple[_Table, list[str], dict[str, dict]]:
    clauses = _Table()
    satisfied: list[str] = []
    cookies: dict[str, dict] = {}
    conjunction = 0
    for index, rule in enumerate(device.rules, 1):
        info = device.flows[rule.flow]
        cookies[f"{index:#x}"] = {"location": info.location, "source_zone": rule.source_zone,
                                  "destination_zones": list(rule.destination_zones), "ingress": rule.ingress,
                                  "egress": rule.egress, "log": rule.log}
        for family in (4, 6):
            sources, destinations = rule.source.family(family), rule.destination.family(family)
            services = [m for s in rule.services if (family, s.protocol) in _PROTOCOL for m in _service(family, s)]
            if not (sources and destinations and services):
                continue
            conjunction += 1
            priority = CLAUSE_PRIORITY - (conjunction - 1) // CONJUNCTIONS_PER_PRIORITY
            for block in address_blocks(family, sources):
                clauses.add(f"priority={priority},{_IP[family]},in_port={rule.ingress},{_SOURCE[family]}={block}",
                            f"conjunction({conjunction},1/3)", index)
            for block in address_blocks(family, destinations):
                clauses.add(f"priority={priority},{_IP[family]},{_DESTINATION[family]}={block}",
                            f"conjunction({conjunction},2/3)", index)
            for match in services:
                clauses.add(f"priority={priority},{match}", f"conjunction({conjunction},3/3)", index)
            ip = _IP[family]  # ct needs the family in the match
            satisfied.append(f"cookie={index:#x},table=2,priority={SATISFIED_PRIORITY + 1},conj_id={conjunction},{ip},"
                             f"ct_state=+trk+inv "
                             f"actions=resubmit(,3)")
            satisfied.append(f"cookie={index:#x},table=2,priority={SATISFIED_PRIORITY},conj_id={conjunction},{ip} "
                             f"actions=ct(commit),resubmit(,3)")
    return clauses, satisfied, cookies


@lru_cache(maxsize=1 << 14)
def _service(family: int, service) -> list[str]:
    protocol = _PROTOCOL[(family, service.protocol)]
    if service.protocol in ("tcp", "udp"):
        return [f"{protocol}{',' + m if m else ''}" for m in port_matches(service.low, service.high)]
    return [f"{protocol}{',' + m if m else ''}" for m in icmp_matches(service.low, service.high)]


def _outputs(device: DeviceIntent, outputs: dict[str, str]) -> list[str]:
    flows = []
    for zone, port in sorted(outputs.items(), key=lambda item: (int(item[1]), item[0])):
        addresses = device.zones.get(zone)
        if addresses is None:
            continue
        for family in (4, 6):
            for first, last in addresses.family(family):
                for network, length in prefix_blocks(first, last, WIDTH[family]):
                    flows.append((100 + length, f"table=3,priority={100 + length},{_IP[family]},{_DESTINATION[family]}="
                                                f"{block_text(family, network, length)} actions=output:{port}"))
    flows.sort(key=lambda f: -f[0])
    return [text for _, text in flows]


def _cookie_map(device: DeviceIntent, cookies: dict[str, dict]) -> bytes:
    """The cookie map as JSON, a line per cookie (json's C encoder: an indented dump of 100k
    entries would take seconds)."""
    lines = [f"  {json.dumps(cookie)}: {json.dumps(entry, sort_keys=True)}" for cookie, entry in cookies.items()]
    head = f'{{\n  "device": {json.dumps(device.name)},\n  "revision": {json.dumps(device.revision.describe())},\n'
    return (head + '  "cookies": {\n' + ",\n".join("  " + line for line in lines) + "\n  }\n}\n").encode("utf-8")


def render(device: DeviceIntent, options: Options) -> Output:
    problems = limits(device)
    if problems:
        return Output(diagnostics=problems)
    outputs, problems = output_ports(device)
    if problems:
        return Output(diagnostics=problems)
    clauses, satisfied, cookies = _policy(device)
    text = _template().render(
        role=device.role, device=device.name, revision=device.revision.describe(), septum=device.revision.septum,
        nd_types=ND_TYPES, tracked=[(_PROTOCOL[(4 if p == "icmp" else 6, p)], kind, code) for p, admitted in OVS_TRACKED_ICMP.items()
                 for kind, code in admitted],
        clauses=[line.replace("priority=", "table=2,priority=", 1) for line in clauses.lines()], satisfied=satisfied,
        outputs=_outputs(device, outputs))
    data = text.encode("utf-8")
    flows = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    cookie_map = _cookie_map(device, cookies)
    summary = {"flows": flows, "conjunctions": len(satisfied) // 2, "bytes": len(data)}
    return Output([Artifact(f"{device.name}.flows", data),
                   Artifact(f"{device.name}.cookies.json", cookie_map, role="cookies")], summary, [])
