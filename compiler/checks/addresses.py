"""Address-space checks: zones whose networks overlap, hosts outside their zone, empty zones."""

from __future__ import annotations

import re

import netaddr

from ..diagnostics import Diagnostic, Related
from ..resolve import Policy

_DOTTED_QUAD = re.compile(  # no leading zeros: netaddr refuses them, and so must this
    r"(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})(?:/(0|[1-9][0-9]?))?"
)


def address_range(cidr: str) -> tuple[int, int, int]:
    """(IP version, first address, last address) of a CIDR, as `netaddr.IPNetwork` reads it (and
    raising what it raises); dotted-quad IPv4 without netaddr, which takes ten times as long."""
    match = _DOTTED_QUAD.fullmatch(cidr)
    if match is not None:
        a, b, c, d, prefix = match.groups()
        a, b, c, d = int(a), int(b), int(c), int(d)
        length = 32 if prefix is None else int(prefix)
        if a <= 255 and b <= 255 and c <= 255 and d <= 255 and length <= 32:
            host = 0xFFFFFFFF >> length
            first = (a << 24 | b << 16 | c << 8 | d) & ~host
            return 4, first, first | host
    net = netaddr.IPNetwork(cidr)
    return net.version, int(net.first), int(net.last)


def overlapping_networks(policy: Policy) -> list[Diagnostic]:
    """Two zones claiming the same addresses make every rule about either ambiguous."""
    ranges = []
    for zone in policy.zones.values():
        for network in zone.networks:
            ranges.append((*address_range(network.cidr), zone.name, network))
    ranges.sort(key=lambda r: (r[0], r[1], -r[2], r[3]))
    findings = []
    open_ranges: list[tuple] = []  # earlier ranges of the same version that may still overlap
    for current in ranges:
        version, first, _, zone, network = current
        open_ranges = [r for r in open_ranges if r[0] == version and r[2] >= first]
        for other in open_ranges:
            if other[3] == zone:
                findings.append(
                    Diagnostic(
                        "W403",
                        f"network {network.cidr} of zone '{zone}' overlaps its own {other[4].cidr}",
                        network.span,
                        "list each address block once: drop the one the other contains",
                        (Related(other[4].span, f"{other[4].cidr} is listed here"),),
                    )
                )
            else:
                findings.append(
                    Diagnostic(
                        "E301",
                        f"network {network.cidr} of zone '{zone}' overlaps {other[4].cidr} of zone '{other[3]}'",
                        network.span,
                        "every address belongs to one zone: split the range, or move the shared part to one zone",
                        (Related(other[4].span, f"zone '{other[3]}' claims {other[4].cidr} here"),),
                    )
                )
        open_ranges.append(current)
    return findings


def hosts_outside_zone(policy: Policy) -> list[Diagnostic]:
    findings = []
    for host in policy.hosts.values():
        zone = policy.zones.get(host.zone.name)
        if zone is None or zone.builtin or not zone.networks:
            continue
        networks = [address_range(n.cidr) for n in zone.networks]
        for address in host.addresses:
            version, first, last = address_range(address.cidr)
            if not any(version == v and f <= first and last <= l for v, f, l in networks):
                findings.append(
                    Diagnostic(
                        "E302",
                        f"address {address.cidr} of host '{host.name}' is outside zone '{zone.name}' "
                        f"({', '.join(n.cidr for n in zone.networks)})",
                        address.span,
                        f"use an address inside {zone.name}'s networks, or put the host in the zone that holds it",
                        (Related(zone.name_span, f"zone '{zone.name}' is defined here"),),
                    )
                )
    return findings


def empty_zones(policy: Policy) -> list[Diagnostic]:
    return [
        Diagnostic(
            "E303",
            f"zone '{zone.name}' has no networks, so no rule about it can match anything",
            zone.name_span,
            f"add `networks CIDR, ...` to zone '{zone.name}', or remove the zone",
        )
        for zone in policy.zones.values()
        if not zone.builtin and not zone.networks and not any(c.keyword == "networks" for c in zone.clauses)
    ]
