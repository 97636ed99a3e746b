"""The compiled intent: per device, exactly what it must permit, in terms every backend can read.

For every device: its interfaces (bound to a zone, or linked to another device), the zones whose
traffic it sees with their addresses (so a backend classifies a packet's zones once), which zones
it accepts as sources on which interface (anti-spoofing), which zones it reaches through which
interface (its routing, in zone terms), and its rules: one per allowed flow, zone pair and
crossing of this device, with the exact source and destination addresses (IPv4 and IPv6, after
`except` carve-outs, restricted to the families the flow's services and both sides share), the
exact service packets, ingress and egress, the `log` flag and the flow's location.

The union of a device's rules is exactly its share of the intent; each rule only permits, so a
backend may emit them in any order and never needs a deny before a permit (docs/backends.md).
It is computed once per policy (`compiled_intent`) and is all a backend sees.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Mapping, NamedTuple

from ..model import Span
from ..packets.addresses import AddressSet, _merge
from ..packets.flows import _l4_ranges
from ..resolve import Policy
from .placement import placement
from .revision import Revision


class L4(NamedTuple):
    """A run of service packets: tcp/udp destination ports low..high, or for icmp/icmpv6 the
    values type * 256 + code from low to high."""

    protocol: str
    low: int
    high: int


def icmp_pieces(low: int, high: int) -> list[tuple[int, int | None]]:
    """An ICMP run (values type * 256 + code) as (type, code) pieces, code None for every code of
    the type: what targets that match ICMP by type and code write one match each for."""
    out: list[tuple[int, int | None]] = []
    value = low
    while value <= high:
        kind, code = divmod(value, 256)
        if code == 0 and value + 255 <= high:
            out.append((kind, None))
            value += 256
        else:
            out.append((kind, code))
            value += 1
    return out


class Interface(NamedTuple):
    """An interface or switch port of a device, as the zone files bind it."""

    name: str  # the interface name, or the switch port number as text
    port: int | None  # the switch port, if it is one
    zone: str | None  # the zone behind it, or
    peer: str | None  # the device it links to
    span: Span


class Rule(NamedTuple):
    """Traffic one device permits: new connections from `source` (in `source_zone`, arriving on
    `ingress`) to `destination` (in `destination_zones`, leaving by `egress`) on `services`.

    One rule per flow, source zone, ingress and egress: a flow from one zone to several zones the
    device reaches through the same interface is one rule (the union of the destinations; exact,
    since the source is the same)."""

    flow: int  # index into `CompiledIntent.flows`
    ingress: str
    egress: str
    source_zone: str
    destination_zones: tuple[str, ...]
    source: AddressSet
    destination: AddressSet
    services: tuple[L4, ...]
    log: bool


class FlowInfo(NamedTuple):
    """An allowed flow, as the devices' comments and log prefixes name it."""

    location: str  # `hospital/imaging.septum:64`: the zone file relative to the policy root, and line
    span: Span
    log: bool
    justification: str | None


@dataclass(frozen=True)
class DeviceIntent:
    name: str
    kind: str  # the backend: nftables, cisco-ios, openflow
    role: str
    span: Span
    interfaces: tuple[Interface, ...]
    zones: Mapping[str, AddressSet]  # every zone this device's rules or bindings name, with its addresses
    arrivals: Mapping[str, tuple[str, ...]]  # interface -> zones whose sources its rules accept there
    reach: Mapping[str, tuple[str, ...]]  # interface -> zones this device reaches through it
    rules: tuple[Rule, ...]
    flows: tuple[FlowInfo, ...]  # the policy's flows (rules refer to them by index)
    revision: Revision

    def interface(self, name: str) -> Interface:
        return next(i for i in self.interfaces if i.name == name)


@dataclass(frozen=True)
class CompiledIntent:
    devices: Mapping[str, DeviceIntent]
    flows: tuple[FlowInfo, ...]
    revision: Revision


def _frozen(mapping: dict) -> Mapping:
    return types.MappingProxyType(dict(sorted(mapping.items())))


def service_packets(policy: Policy, names: tuple[str, ...]) -> tuple[L4, ...]:
    """The packets of a list of services: merged runs per protocol, in protocol order."""
    by_protocol: dict[str, list[tuple[int, int]]] = {}
    for name in names:
        service = policy.services.get(name)
        for match in service.matches if service is not None else ():
            by_protocol.setdefault(match.protocol, []).extend(_l4_ranges(match))
    return tuple(L4(protocol, low, high) for protocol in sorted(by_protocol)
                 for low, high in _merge(by_protocol[protocol]))


def _location(policy: Policy) -> dict[str, str]:
    """File path -> its path relative to the policy root (from its module name)."""
    out = {}
    for file in policy.files:
        if file.module:
            out[file.path] = file.module.replace(".", "/") + ".septum"
        else:
            out[file.path] = file.path.rsplit("/", 1)[-1]
    return out


def compile_intent(policy: Policy, revision: Revision) -> CompiledIntent:
    place = placement(policy)
    where = place.topology
    files = _location(policy)
    flows = tuple(FlowInfo(f"{files.get(f.span.file, f.span.file)}:{f.span.line}", f.span, f.log, f.justification)
                  for f in policy.flows)
    rules: dict[str, list[Rule]] = {name: [] for name in where.devices}
    services_of: dict[tuple, tuple[L4, ...]] = {}  # (service names, families) -> packets
    crossings = where.crossings_uncached
    make = Rule._make
    alone: dict[str, tuple[str]] = {}  # zone -> (zone,): one tuple for every rule to one zone
    for index, (flow, packets) in enumerate(zip(policy.flows, place.packets.flows())):
        if packets.empty:
            continue
        pairs = place._zone_pairs(packets)
        if not pairs:
            continue
        names = tuple([r.name for r in flow.services])
        groups: dict[tuple[str, str, str, str], list] = {}  # (device, source zone, ingress, egress) -> pairs
        for pair in pairs:
            zs = pair.source_zone
            for device, ingress, egress in crossings(zs, pair.destination_zone):  # may repeat a crossing
                key = (device, zs, ingress, egress)
                found = groups.get(key)
                if found is None:
                    groups[key] = [pair]
                else:
                    found.append(pair)
        for (device, zs, ingress, egress), members in groups.items():
            families = 0
            for pair in members:
                families |= pair.families
            key = (names, families)
            services = services_of.get(key)
            if services is None:
                services = services_of[key] = _in_families(service_packets(policy, names), families)
            if len(members) == 1:
                pair = members[0]
                zd = pair.destination_zone
                single = alone.get(zd)
                if single is None:
                    single = alone[zd] = (zd,)
                rules[device].append(make((index, ingress, egress, zs, single, pair.source,
                                           pair.destination, services, flow.log)))
                continue
            sources = {id(pair.source): pair.source for pair in members}
            source = members[0].source if len(sources) == 1 else AddressSet.union(sources.values())
            destination = AddressSet.union(pair.destination for pair in members)
            rules[device].append(make((index, ingress, egress, zs, tuple(sorted({p.destination_zone for p in members})),
                                       source, destination, services, flow.log)))
    devices = {}
    for name, device in where.devices.items():
        own = rules[name]
        own.sort(key=lambda r: (r.ingress, r.source_zone, r.egress, r.destination_zones, r.flow))
        interfaces = tuple(Interface(b.key, b.port, b.zone.name if b.zone else None, b.link.name if b.link else None,
                                     b.span) for b in device.bindings)
        zones = {i.zone for i in interfaces if i.zone}
        arrivals: dict[str, set[str]] = {}
        for rule in own:
            zones.add(rule.source_zone)
            zones.update(rule.destination_zones)
            arrivals.setdefault(rule.ingress, set()).add(rule.source_zone)
        devices[name] = DeviceIntent(
            name=name, kind=device.backend.value, role=device.role.value, span=device.span,
            interfaces=interfaces,
            zones=_frozen({z: place.shares.zone_addresses(z) for z in zones if z in policy.zones}),
            arrivals=_frozen({i: tuple(sorted(z)) for i, z in arrivals.items()}),
            reach=_frozen(_reach(where, name)),
            rules=tuple(own), flows=flows, revision=revision)
    return CompiledIntent(types.MappingProxyType(devices), flows, revision)


def _in_families(services: tuple[L4, ...], families: int) -> tuple[L4, ...]:
    """Services less icmp where the pair has no IPv4, or icmpv6 where it has no IPv6."""
    from ..packets.flows import V4, V6

    if families == V4 | V6:
        return services
    foreign = "icmpv6" if families == V4 else "icmp"
    return tuple(s for s in services if s.protocol != foreign)


def _reach(where, device: str) -> dict[str, tuple[str, ...]]:
    """Interface -> the zones this device sends traffic for through it: the zones bound to it, and
    for a link the zones whose nearest attachment lies that way."""
    out: dict[str, set[str]] = {}
    for zone, attachments in where.attachments.items():
        local = [a.binding.key for a in attachments if a.device == device]
        if local:
            for key in local:
                out.setdefault(key, set()).add(zone)
            continue
        for path in where.nearest(device, zone):
            if len(path) > 1:
                out.setdefault(where.links[device][path[1]].key, set()).add(zone)
    return {key: tuple(sorted(zones)) for key, zones in out.items()}


def compiled_intent(policy: Policy, revision: Revision) -> CompiledIntent:
    """The compiled intent of a policy, built once and kept with it."""
    found = policy._members.get("compiled-intent")
    if found is None or found.revision != revision:
        found = policy._members["compiled-intent"] = compile_intent(policy, revision)
    return found
