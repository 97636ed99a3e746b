"""A service with no protocol clause matches no packet: every flow using it allows nothing."""

from __future__ import annotations

from ..diagnostics import Diagnostic
from ..resolve import Policy


def services_without_protocol(policy: Policy) -> list[Diagnostic]:
    return [
        Diagnostic(
            "W402",
            f"service '{service.name}' names no protocol, so it matches no traffic",
            service.name_span,
            "add a protocol clause such as `tcp 443`, `udp 53` or `icmp type 8`",
        )
        for service in policy.services.values()
        if not service.matches
    ]
