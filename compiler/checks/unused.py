"""Definitions nothing refers to: often a typo elsewhere, or dead intent. Catalogue modules are exempt."""

from __future__ import annotations

from ..diagnostics import Diagnostic
from ..resolve import Policy


def unused_definitions(policy: Policy) -> list[Diagnostic]:
    used = policy.references
    bound_zones = {b.zone.name for d in policy.devices.values() for b in d.bindings if b.zone is not None}
    host_zones = {h.zone.name for h in policy.hosts.values()}
    findings = []

    def report(kind: str, namespace: str, definition, extra_used: bool = False) -> None:
        if definition.span.file in policy.library_files or extra_used:
            return
        if (namespace, definition.name) in used:
            return
        findings.append(
            Diagnostic(
                "W401",
                f"{kind} '{definition.name}' is defined but never used",
                definition.name_span,
                "refer to it from a flow, assertion or device, or remove it",
            )
        )

    for zone in policy.zones.values():
        if not zone.builtin:
            tagged = any(("tag", t.name) in used for t in zone.tags)
            report("zone", "endpoint", zone, zone.name in bound_zones or zone.name in host_zones or tagged
                   or _held_selected(policy, zone))
    for host in policy.hosts.values():
        report("host", "endpoint", host, any(("tag", t.name) in used for t in host.tags))
    for group in policy.groups.values():
        report("group", "endpoint", group)
    for service in policy.services.values():
        report("service", "service", service)
    for datatype in policy.datatypes.values():
        report("data type", "datatype", datatype)
    return findings


def _held_selected(policy: Policy, zone) -> bool:
    return any(("datatype-selected", r.name) in policy.references for r in zone.holds)
