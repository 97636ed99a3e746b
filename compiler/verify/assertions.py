"""The statements a policy asserts about itself: `assert` (three kinds) and `require`."""

from __future__ import annotations

from ..diagnostics import Diagnostic, Hop, Related
from ..model import Assertion, NoPath, OnlyEncrypted, OnlyMayConnect, Requirement
from ..packets.flows import policy_packets
from ..printer import assertion_text, selector_text
from ..resolve import Policy
from .common import Tagged, chain_text, hops, intent_of, witnesses
from .names import CHECKS
from .waivers import waived_hops


def assertion_findings(policy: Policy) -> list[Tagged]:
    findings: list[Tagged] = []
    for assertion in policy.assertions:
        targets = {assertion_text(assertion)}
        if assertion.label:
            targets.add(assertion.label.name)
        body = assertion.body
        if isinstance(body, NoPath):
            found = no_path(policy, assertion, body, waived_hops(policy, targets | {"no-path"}))
        elif isinstance(body, OnlyEncrypted):
            found = only_encrypted(policy, assertion, body)
        else:
            found = only_may_connect(policy, assertion, body)
        findings.extend(Tagged(d, frozenset(targets | {d.check})) for d in found)
    for requirement in policy.requirements:
        targets = {requirement.label.name} if requirement.label else set()
        findings.extend(Tagged(d, frozenset(targets | {d.check})) for d in require(policy, requirement))
    return findings


def _label(assertion: Assertion) -> str:
    return f"'{assertion.label.name}'" if assertion.label else f"\"{assertion_text(assertion)}\""


def no_path(policy: Policy, assertion: Assertion, body: NoPath, waived=None) -> list[Diagnostic]:
    """The shortest path that breaks the assertion; past the paths waivers accept, the next ones."""
    intent = intent_of(policy)
    sources = intent.zones_of_members(policy.expand(body.source))
    targets = intent.zones_of_members(policy.expand(body.destination))
    mediators = intent.zones_of_members(policy.expand(body.through)) if body.through else set()
    if sources & targets:
        shared = ", ".join(sorted(sources & targets))
        message = f"assertion {_label(assertion)} fails: {shared} is on both sides"
        return [Diagnostic(CHECKS["no-path"].code, message, assertion.span,
                           "a zone cannot be kept away from itself: narrow the selectors", check="no-path")]
    paths = witnesses(lambda into, edge: intent.shortest_path(sources, into, within=body.within, edge=edge,
                                                              through=lambda zone: zone not in mediators),
                      targets, waived)
    return [
        Diagnostic(
            CHECKS["no-path"].code,
            f"assertion {_label(assertion)} fails: {chain_text(path)} in {len(path)} hop{'s' * (len(path) != 1)}",
            assertion.span,
            "remove or narrow one of the flows on the path, or waive it with a reason and an expiry",
            check="no-path",
            path=hops(path),
        )
        for path in paths
    ]


def only_encrypted(policy: Policy, assertion: Assertion, body: OnlyEncrypted) -> list[Diagnostic]:
    return cleartext_crossings(policy, body.datatype.name, "only-encrypted",
                               f"assertion {_label(assertion)} fails", assertion.span)


def cleartext_crossings(policy: Policy, datatype: str, check: str, lead: str, origin) -> list[Diagnostic]:
    """Flows on which `datatype` crosses a zone boundary on a service that is not encrypted."""
    intent = intent_of(policy)
    findings = []
    clear = {name for name, service in policy.services.items() if not service.encrypted}
    carriers = {name for name in clear if any(r.name == datatype for r in policy.services[name].carries)}
    # the flows that may qualify: a cleartext service carrying it, or any cleartext service with `carrying`
    candidates = set(intent.flows_with_service(carriers)) if carriers else set()
    candidates.update(i for i in intent.flows_carrying(datatype) if not clear.isdisjoint(intent.services[i]))
    for index in sorted(candidates):
        flow = policy.flows[index]
        services = intent.services[index]
        carried_by_flow = any(r.name == datatype for r in flow.carrying)
        cleartext = [s for s in services if s in clear and (carried_by_flow or s in carriers)]
        if not cleartext:
            continue
        crossing = intent.crossing(index)
        if crossing is None:
            continue
        source, destination, zs, zd = crossing
        findings.append(
            Diagnostic(
                CHECKS[check].code,
                f"{lead}: {datatype} crosses from {zs} to {zd} on cleartext {', '.join(cleartext)}",
                flow.span,
                "use an encrypted service (dicom-tls, hl7-mllp-tls, https, ...), or waive with a reason and an expiry",
                (Related(origin, "required here"),),
                check=check,
                path=(Hop(source, destination, services, flow.span),),
            )
        )
    return findings


def only_may_connect(policy: Policy, assertion: Assertion, body: OnlyMayConnect) -> list[Diagnostic]:
    intent = intent_of(policy)
    allowed = policy.expand(body.allowed)
    target = policy.expand(body.target)
    target_zones = intent.zones_of_members(target)
    named = [r.name for r in body.services]
    services = _sharing_packets(policy, named) if named else []
    target_mask = intent.mask_of(target_zones)
    findings = []
    for index in (intent.flows_with_service(services) if named else range(len(policy.flows))):
        if not intent.destination_sides[index].mask & target_mask:
            continue  # no destination in (or covered by) the target
        flow = policy.flows[index]
        flow_services = intent.services[index]
        alias = [s for s in flow_services if s in services and s not in named]
        on = "" if not named or any(s in named for s in flow_services) else \
            f" on {', '.join(alias)} (the same packets as {', '.join(named)})"
        for source, destination, zs, zd in intent.pairs(index):
            if zd not in target_zones and not intent.covers(target, destination):
                continue
            if intent.covers(allowed, source) or (zs == zd and zd in target.zones):
                continue  # an allowed source, or traffic inside a target zone (zones filter between them)
            findings.append(
                Diagnostic(
                    CHECKS["only-may-connect"].code,
                    f"assertion {_label(assertion)} fails: {source} may connect to {destination}{on}",
                    flow.span,
                    f"only {selector_text(body.allowed)} may connect to {selector_text(body.target)}: "
                    "narrow this flow, or waive it with a reason and an expiry",
                    (Related(assertion.span, "asserted here"),),
                    check="only-may-connect",
                    path=(Hop(source, destination, flow_services, flow.span),),
                )
            )
            break
    return findings


def _sharing_packets(policy: Policy, names: list[str]) -> list[str]:
    """The services that share a packet (protocol and port) with any of `names`: an assertion
    `on fhir` is about fhir's packets, whatever name a flow allows them under."""
    memo = policy._members.setdefault("verify-sharing-packets", {})
    key = tuple(names)
    found = memo.get(key)
    if found is None:
        packets = policy_packets(policy)
        wanted = packets.services(key)
        found = memo[key] = sorted(name for name in policy.services
                                   if name in names or packets.meet(packets.services((name,)), wanted))
    return found


def require(policy: Policy, requirement: Requirement) -> list[Diagnostic]:
    intent = intent_of(policy)
    sources = policy.expand(requirement.source).endpoints()
    destinations = policy.expand(requirement.destination).endpoints()
    missing: list[str] = []
    carved: list[Related] = []
    for source in sources:
        for destination in destinations:
            for service in (r.name for r in requirement.services):
                covered, carve = _covered(policy, intent, source, destination, service)
                if not covered:
                    missing.append(f"{source} -> {destination} : {service}")
                    if carve is not None:
                        carved.append(Related(carve, f"this carve-out removes {source} -> {destination}"))
    if not missing:
        return []
    shown = "; ".join(missing[:5]) + (f"; and {len(missing) - 5} more" if len(missing) > 5 else "")
    label = f"'{requirement.label.name}'" if requirement.label else "requirement"
    help = ("a carve-out removes it: narrow the `except`" if carved
            else "add an `allow` for it, or remove the requirement if it no longer holds")
    return [Diagnostic(CHECKS["require"].code, f"{label} is not met: no allow rule permits {shown}",
                       requirement.span, help, tuple(carved[:5]), check="require")]


def _covered(policy: Policy, intent, source: str, destination: str, service: str):
    """Whether some flow allows source -> destination on all of service's packets (under its
    name or another); else the carve-out that removed it, if one did."""
    carve = None
    packets = policy_packets(policy)
    wanted = packets.services((service,)).owners
    for index in intent.flows_with_service(_sharing_packets(policy, [service])):
        flow = policy.flows[index]
        if service not in intent.services[index] and not wanted <= packets.services(intent.services[index]).owners:
            continue  # another name for only part of the service's packets
        if not (intent.covers(policy.expand(flow.source), source)
                and intent.covers(policy.expand(flow.destination), destination)):
            continue
        removed_by = _carve_out(policy, intent, flow, source, destination)
        if removed_by is None:
            return True, None
        carve = removed_by
    return False, carve


def _carve_out(policy: Policy, intent, flow, source: str, destination: str):
    for selectors, endpoint in ((flow.except_from, source), (flow.except_to, destination)):
        for selector in selectors:
            if intent.covers(policy.expand(selector), endpoint):
                return selector.span
    return None
