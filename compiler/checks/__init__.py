"""Validation checks over a resolved policy. Each is a small named function returning findings.

`CHECKS` maps a stable check name to its function; `run_checks` runs them all.
"""

from __future__ import annotations

from typing import Callable

from ..devices.placement import topology_findings, unenforceable_flows
from ..diagnostics import Diagnostic
from ..resolve import Policy
from .addresses import empty_zones, hosts_outside_zone, overlapping_networks
from .services import services_without_protocol
from .unused import unused_definitions
from .vlans import shared_vlans

Check = Callable[[Policy], list[Diagnostic]]

CHECKS: dict[str, Check] = {
    "overlapping-networks": overlapping_networks,
    "host-outside-zone": hosts_outside_zone,
    "empty-zone": empty_zones,
    "shared-vlan": shared_vlans,
    "service-without-protocol": services_without_protocol,
    "unused-definition": unused_definitions,
    "device-topology": topology_findings,
    "unenforceable-flow": unenforceable_flows,
}


def run_checks(policy: Policy) -> list[Diagnostic]:
    findings: list[Diagnostic] = []
    for check in CHECKS.values():
        findings.extend(check(policy))
    return findings
