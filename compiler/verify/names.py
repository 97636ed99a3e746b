"""The named verification checks: name (SARIF rule id, `--disable NAME`, waiver target), the
diagnostic code it reports with, whether it is a baseline check on by default, and what it says.
"""

from __future__ import annotations

from typing import NamedTuple


class CheckInfo(NamedTuple):
    code: str
    baseline: bool  # on by default and can be turned off by name; False: driven by statements
    description: str


CHECKS: dict[str, CheckInfo] = {
    "data-flow": CheckInfo("E501", True,
        "A sensitive data type (confidential or restricted) reaches a zone not cleared to hold it."),
    "no-path": CheckInfo("E502", False, "An `assert no path from X to Y` assertion: a path exists."),
    "only-encrypted": CheckInfo("E503", False,
        "An `assert D crosses zones only encrypted` assertion: D crosses a zone boundary in cleartext."),
    "only-may-connect": CheckInfo("E504", False,
        "An `assert only X may connect to Y` assertion: something else connects to Y."),
    "require": CheckInfo("E505", False, "A `require X -> Y : S` statement: the connection is not allowed."),
    "expired-waiver": CheckInfo("E506", False, "A waiver's expiry date has passed."),
    "unused-waiver": CheckInfo("W507", False, "A waiver matches no finding."),
    "untrusted-to-sensitive": CheckInfo("E510", True,
        "An untrusted zone (or the internet) reaches a zone holding restricted data, other than "
        "through a broker zone."),
    "sensitive-cleartext": CheckInfo("E511", True,
        "Restricted data (such as ePHI) crosses a zone boundary on a service that is not encrypted."),
    "internet-inbound": CheckInfo("E512", True,
        "A connection from the internet to a zone that is not a broker (DMZ-like) zone."),
    "legacy-service": CheckInfo("E513", True,
        "A legacy-risk service (SMB, RDP, Telnet, FTP, VNC: `legacy` in the catalogue) crosses a zone boundary."),
    "unassigned-address": CheckInfo("E520", True,
        "A flow's addresses include private address space that no zone owns."),
    "redundant-rule": CheckInfo("W521", True, "A flow allows nothing that broader flows do not already allow."),
    "empty-flow": CheckInfo("E522", True, "A flow allows no packet once its carve-outs are removed."),
    "idle-carve-out": CheckInfo("W523", True,
        "A carve-out (`except from` / `except to`) removes nothing: it shares no address with the side of "
        "the flow it is carved from."),
}

BASELINE = sorted(name for name, info in CHECKS.items() if info.baseline)
