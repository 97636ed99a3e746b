"""Two zones on one VLAN share a broadcast domain: nothing between them can be enforced."""

from __future__ import annotations

from ..diagnostics import Diagnostic, Related
from ..resolve import Policy


def shared_vlans(policy: Policy) -> list[Diagnostic]:
    first_by_vlan: dict[int, object] = {}
    findings = []
    for zone in sorted(policy.zones.values(), key=lambda z: z.name):  # the first by name: not file order
        if zone.vlan is None:
            continue
        clause = next((c for c in zone.clauses if c.keyword == "vlan"), None)
        span = clause.span if clause else zone.name_span
        first = first_by_vlan.get(zone.vlan)
        if first is None:
            first_by_vlan[zone.vlan] = (zone, span)
            continue
        findings.append(
            Diagnostic(
                "E304",
                f"VLAN {zone.vlan} is used by zone '{zone.name}' and zone '{first[0].name}'",
                span,
                "zones on one VLAN share a broadcast domain and cannot be separated; give each its own VLAN",
                (Related(first[1], f"zone '{first[0].name}' uses VLAN {zone.vlan} here"),),
            )
        )
    return findings
