"""Name resolution across a policy's files: symbol tables, duplicates, unknown names, selectors.

The result is a `Policy`: every definition by name, every intent statement, and selectors
expanded to the zones, hosts and addresses they denote. File and statement order never change it:
definitions are keyed by name, intent lists are sorted by source span.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from functools import cached_property

from .diagnostics import Diagnostic, Related
from .loader import catalogue_index
from .verify.names import BASELINE
from .model import (
    constructor,
    Assertion,
    DataType,
    Device,
    Flow,
    Group,
    Host,
    NoPath,
    OnlyEncrypted,
    OnlyMayConnect,
    Ref,
    Requirement,
    SelAddress,
    SelHolding,
    Selector,
    SelName,
    SelTag,
    Service,
    SourceFile,
    Span,
    Trust,
    Waiver,
    Zone,
)

INTERNET = constructor(Zone, "name", "description", "trust", "builtin", "span", "name_span")(
    name="internet",
    description="everything outside the hospital's own address space",
    trust=Trust.untrusted,
    builtin=True,
    span=Span("<septum>/builtin", 1, 1, 1, 1),
    name_span=Span("<septum>/builtin", 1, 1, 1, 1),
)  # built without validation: validating at import would build pydantic's validator on every start


@dataclass(frozen=True)
class Members:
    """What a selector denotes: zone and host names, and raw CIDRs."""

    zones: frozenset[str] = frozenset()
    hosts: frozenset[str] = frozenset()
    addresses: frozenset[str] = frozenset()

    def endpoints(self) -> list[str]:
        return list(self.sorted_endpoints)

    @cached_property
    def sorted_endpoints(self) -> tuple[str, ...]:
        """`endpoints()`, computed once (a selector's members are shared by every flow using it)."""
        return tuple(sorted(self.zones | self.hosts)) + tuple(sorted(self.addresses))


def selector_key(selector: Selector) -> tuple:
    """What a selector says, without where it says it: equal for equal selectors in different
    statements (a name, `tag:T`, `zones holding D`, an address; in order)."""
    key = []
    for item in selector.items:
        kind = type(item)
        if kind is SelName:
            key.append(item.name)
        elif kind is SelTag:
            key.append(("tag", item.tag))
        elif kind is SelHolding:
            key.append(("holding", item.datatype))
        elif kind is SelAddress:
            key.append(("address", item.cidr))
        else:  # a subclass (never made by the parser): the same, more slowly
            key.append(item.name if isinstance(item, SelName) else
                       ("tag", item.tag) if isinstance(item, SelTag) else
                       ("holding", item.datatype) if isinstance(item, SelHolding) else ("address", item.cidr))
    return tuple(key)


@dataclass
class Policy:
    files: list[SourceFile]
    zones: dict[str, Zone] = field(default_factory=dict)
    hosts: dict[str, Host] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    datatypes: dict[str, DataType] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)
    devices: dict[str, Device] = field(default_factory=dict)
    flows: list[Flow] = field(default_factory=list)
    assertions: list[Assertion] = field(default_factory=list)
    requirements: list[Requirement] = field(default_factory=list)
    waivers: list[Waiver] = field(default_factory=list)
    library_files: frozenset[str] = frozenset()
    references: set[tuple[str, str]] = field(default_factory=set)  # (namespace, name) used somewhere
    _members: dict = field(default_factory=dict, repr=False)
    _expanded: dict = field(default_factory=dict, repr=False, compare=False)  # selector_key -> Members

    def expand(self, selector: Selector) -> Members:
        """Zones, hosts and addresses a selector denotes (unknown names contribute nothing).

        Memoised by what the selector says (`selector_key`), not where: every flow naming the
        same zone shares one `Members`."""
        key = selector_key(selector)
        cached = self._expanded.get(key)
        if cached is None:
            zones: set[str] = set()
            hosts: set[str] = set()
            addresses: set[str] = set()
            for item in selector.items:
                self._expand_item(item, zones, hosts, addresses, set())
            cached = Members(frozenset(zones), frozenset(hosts), frozenset(addresses))
            self._expanded[key] = cached
        return cached

    def covers(self, members: Members, endpoint: str) -> bool:
        """Whether a selector's members include this endpoint: itself, or the zone a host is in."""
        if endpoint in members.zones or endpoint in members.hosts or endpoint in members.addresses:
            return True
        host = self.hosts.get(endpoint)
        return host is not None and host.zone.name in members.zones

    def carved(self, selectors, endpoint: str) -> bool:
        """Whether `except` carve-outs remove this endpoint whole."""
        for selector in selectors:
            if self.covers(self.expand(selector), endpoint):
                return True
        return False

    def _expand_item(self, item, zones: set, hosts: set, addresses: set, seen: set) -> None:
        if isinstance(item, SelName):
            name = item.name
            if name in self.zones:
                zones.add(name)
            elif name in self.hosts:
                hosts.add(name)
            elif name in self.groups and name not in seen:
                seen.add(name)
                for inner in self.groups[name].selector.items:
                    self._expand_item(inner, zones, hosts, addresses, seen)
        elif isinstance(item, SelTag):
            zones.update(self.tagged_zones().get(item.tag, ()))
            hosts.update(self.tagged_hosts().get(item.tag, ()))
        elif isinstance(item, SelHolding):
            zones.update(self.holding_zones().get(item.datatype, ()))
        elif isinstance(item, SelAddress):
            addresses.add(item.cidr)

    def _index(self, key: str, definitions, refs_of) -> dict[str, list[str]]:
        """Name -> definitions that list it (by tag, by held data type), built once."""
        if key not in self._members:
            index: dict[str, list[str]] = {}
            for definition in definitions:
                for ref in refs_of(definition):
                    index.setdefault(ref.name, []).append(definition.name)
            self._members[key] = index
        return self._members[key]

    def tagged_zones(self) -> dict[str, list[str]]:
        return self._index("zones-by-tag", self.zones.values(), lambda zone: zone.tags)

    def tagged_hosts(self) -> dict[str, list[str]]:
        return self._index("hosts-by-tag", self.hosts.values(), lambda host: host.tags)

    def holding_zones(self) -> dict[str, list[str]]:
        return self._index("zones-by-datatype", self.zones.values(), lambda zone: zone.holds)

    def service_datatypes(self, names) -> set[str]:
        carried: set[str] = set()
        for name in names:
            service = self.services.get(name)
            if service is not None:
                carried.update(r.name for r in service.carries)
        return carried


_SHARED_NAMES = "zones, hosts and groups share one namespace; rename or remove one definition"

_KIND_WORDS = {
    "endpoint": "zone, host or group",
    "service": "service",
    "datatype": "data type",
    "device": "device",
    "label": "assertion label or check name",
}


class Resolver:
    def __init__(self, files: list[SourceFile], library_files: set[str], broken_names: set[str]) -> None:
        self.policy = Policy(files=files, library_files=frozenset(library_files))
        self.broken = broken_names
        self.diagnostics: list[Diagnostic] = []
        self.labels: dict[str, Span] = {}
        self.assertion_texts: dict[str, Assertion] = {}

    def resolve(self) -> tuple[Policy, list[Diagnostic]]:
        self._collect()
        self._check_references()
        return self.policy, self.diagnostics

    # ---- symbol tables -------------------------------------------------------

    def _collect(self) -> None:
        policy = self.policy
        policy.zones["internet"] = INTERNET
        statements = sorted(
            (s for f in policy.files for s in f.statements), key=lambda s: (s.span.file, s.span.line, s.span.column)
        )
        endpoints: dict[str, object] = {"internet": INTERNET}
        tables = {"service": {}, "datatype": {}, "device": {}}
        for statement in statements:
            if isinstance(statement, (Zone, Host, Group)):
                if self._define(endpoints, statement, _SHARED_NAMES):
                    {Zone: policy.zones, Host: policy.hosts, Group: policy.groups}[type(statement)][statement.name] = statement
            elif isinstance(statement, Service):
                if self._define(tables["service"], statement, "each service needs its own name; rename or remove one"):
                    policy.services[statement.name] = statement
            elif isinstance(statement, DataType):
                if self._define(tables["datatype"], statement, "each data type needs its own name; rename or remove one"):
                    policy.datatypes[statement.name] = statement
            elif isinstance(statement, Device):
                if self._define(tables["device"], statement, "each device needs its own name; rename or remove one"):
                    policy.devices[statement.name] = statement
            elif isinstance(statement, Flow):
                policy.flows.append(statement)
            elif isinstance(statement, Assertion):
                policy.assertions.append(statement)
                self._define_label(statement.label)
            elif isinstance(statement, Requirement):
                policy.requirements.append(statement)
                self._define_label(statement.label)
            elif isinstance(statement, Waiver):
                policy.waivers.append(statement)
        from .printer import assertion_text

        self.assertion_texts = {assertion_text(a): a for a in policy.assertions}
        self.namespaces = {"endpoint": endpoints, **tables}

    def _define(self, table: dict, statement, help: str) -> bool:
        name = statement.name
        if name == "internet" and not getattr(statement, "builtin", False):
            self.diagnostics.append(
                Diagnostic("E209", "'internet' is a built-in zone and cannot be redefined", statement.name_span,
                           "choose another name; 'internet' always means everything outside your networks")
            )
            return False
        if name in table:
            first = table[name]
            self.diagnostics.append(
                Diagnostic(
                    "E202",
                    f"'{name}' is defined twice",
                    statement.name_span,
                    help,
                    (Related(first.name_span, f"'{name}' is first defined here"),),
                )
            )
            return False
        table[name] = statement
        return True

    def _define_label(self, label: Ref | None) -> None:
        if label is None:
            return
        if label.name in self.labels:
            self.diagnostics.append(
                Diagnostic("E202", f"assertion label '{label.name}' is used twice", label.span,
                           "each assertion or requirement label names one statement; rename one",
                           (Related(self.labels[label.name], "first used here"),))
            )
        else:
            self.labels[label.name] = label.span

    # ---- references ------------------------------------------------------------

    def _check_references(self) -> None:
        policy = self.policy
        for zone in policy.zones.values():
            for ref in zone.holds:
                self._lookup("datatype", ref.name, ref.span)
        for host in policy.hosts.values():
            target = self._lookup("endpoint", host.zone.name, host.zone.span)
            if target is not None and not isinstance(target, Zone):
                self._wrong_kind(host.zone.name, host.zone.span, "zone", target)
        for group in policy.groups.values():
            self._selector(group.selector)
        self._group_cycles()
        for service in policy.services.values():
            for ref in service.carries:
                self._lookup("datatype", ref.name, ref.span)
        for flow in policy.flows:
            self._selector(flow.source)
            self._selector(flow.destination)
            for selector in flow.except_from + flow.except_to:
                self._selector(selector)
            for ref in flow.services:
                self._lookup("service", ref.name, ref.span)
            for ref in flow.carrying:
                self._lookup("datatype", ref.name, ref.span)
        for assertion in policy.assertions:
            body = assertion.body
            if isinstance(body, NoPath):
                self._selector(body.source)
                self._selector(body.destination)
                if body.through is not None:
                    self._selector(body.through)
            elif isinstance(body, OnlyEncrypted):
                self._lookup("datatype", body.datatype.name, body.datatype.span)
            elif isinstance(body, OnlyMayConnect):
                self._selector(body.allowed)
                self._selector(body.target)
                for ref in body.services:
                    self._lookup("service", ref.name, ref.span)
        for requirement in policy.requirements:
            self._selector(requirement.source)
            self._selector(requirement.destination)
            for ref in requirement.services:
                self._lookup("service", ref.name, ref.span)
        for waiver in policy.waivers:
            self._waiver_target(waiver)
            self._selector(waiver.source)
            self._selector(waiver.destination)
            for ref in waiver.services:
                self._lookup("service", ref.name, ref.span)
        for device in policy.devices.values():
            self._device(device)

    def _lookup(self, namespace: str, name: str, span: Span):
        table = self.namespaces[namespace]
        found = table.get(name)
        if found is not None:
            self.policy.references.add((namespace, name))
            return found
        if name in self.broken:
            return None
        for other, other_table in self.namespaces.items():
            if other != namespace and name in other_table:
                self._wrong_kind(name, span, _KIND_WORDS[namespace], other_table[name])
                return None
        self._unknown(name, span, namespace, sorted(table))
        return None

    def _unknown(self, name: str, span: Span, namespace: str, known: list[str]) -> None:
        what = _KIND_WORDS[namespace]
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        module = catalogue_index().get(name) if namespace in ("service", "datatype") else None
        if module is not None:
            help = f"'{name}' is defined in the catalogue: add `use {module}` to this file"
        elif close:
            help = f"did you mean '{close[0]}'?"
        else:
            help = "define it, or `use` the module that defines it"
        self.diagnostics.append(Diagnostic("E201", f"unknown {what} '{name}'", span, help))

    def _wrong_kind(self, name: str, span: Span, wanted: str, found) -> None:
        kind = {"zone": "zone", "host": "host", "group": "group", "service": "service", "datatype": "data type",
                "device": "device"}[found.kind]
        self.diagnostics.append(
            Diagnostic("E203", f"'{name}' is a {kind}, but a {wanted} is needed here", span,
                       f"name a {wanted} here; '{name}' is defined at {found.name_span}")
        )

    def _selector(self, selector: Selector) -> None:
        for item in selector.items:
            if isinstance(item, SelName):
                self._lookup("endpoint", item.name, item.span)
            elif isinstance(item, SelTag):
                self._tag(item)
            elif isinstance(item, SelHolding):
                if self._lookup("datatype", item.datatype, item.span) is not None:
                    self.policy.references.add(("datatype-selected", item.datatype))

    def _tag(self, item: SelTag) -> None:
        tags = set(self.policy.tagged_zones()) | set(self.policy.tagged_hosts())
        if item.tag in tags:
            self.policy.references.add(("tag", item.tag))
            return
        close = difflib.get_close_matches(item.tag, sorted(tags), n=1)
        help = f"did you mean 'tag:{close[0]}'?" if close else "add the tag to a zone or host with `tags`"
        self.diagnostics.append(Diagnostic("E201", f"no zone or host is tagged '{item.tag}'", item.span, help))

    def _group_cycles(self) -> None:
        groups = self.policy.groups
        reported: set[str] = set()

        def visit(name: str, path: list[str]) -> None:
            for item in groups[name].selector.items:
                if isinstance(item, SelName) and item.name in groups:
                    if item.name in path:
                        cycle = path[path.index(item.name):] + [item.name]
                        if not reported & set(cycle):
                            reported.update(cycle)
                            self.diagnostics.append(
                                Diagnostic("E207", f"group '{item.name}' contains itself: {' -> '.join(cycle)}",
                                           item.span, "a group may name other groups, but not in a circle")
                            )
                    else:
                        visit(item.name, path + [item.name])

        for name in sorted(groups):
            visit(name, [name])

    def _waiver_target(self, waiver: Waiver) -> None:
        if waiver.label is not None:
            if waiver.label.name in self.labels or waiver.label.name in BASELINE:
                self.policy.references.add(("label", waiver.label.name))
                return
            self._unknown(waiver.label.name, waiver.label.span, "label", sorted(self.labels) + BASELINE)
            return
        if waiver.text in self.assertion_texts:
            return
        close = difflib.get_close_matches(waiver.text or "", sorted(self.assertion_texts), n=1)
        help = f'did you mean "{close[0]}"?' if close else "quote an assertion's text exactly, or label it and name the label"
        self.diagnostics.append(Diagnostic("E201", f'no assertion reads "{waiver.text}"', waiver.target_span or waiver.span, help))

    def _device(self, device: Device) -> None:
        seen: dict[object, Span] = {}
        for binding in device.bindings:
            if binding.zone is not None:
                target = self._lookup("endpoint", binding.zone.name, binding.zone.span)
                if target is not None and not isinstance(target, Zone):
                    self._wrong_kind(binding.zone.name, binding.zone.span, "zone", target)
            elif binding.link.name == device.name:
                self.diagnostics.append(
                    Diagnostic("E210", f"device '{device.name}' is linked to itself", binding.link.span,
                               "a link names the other device this interface or port connects to"))
            else:
                self._lookup("device", binding.link.name, binding.link.span)
            key = binding.interface if binding.interface is not None else binding.port
            if key in seen:
                self.diagnostics.append(
                    Diagnostic("E208", f"{binding.where} of device '{device.name}' is bound twice", binding.span,
                               "an interface or port belongs to exactly one zone or link; remove one binding",
                               (Related(seen[key], "first bound here"),))
                )
            else:
                seen[key] = binding.span


def resolve(files: list[SourceFile], library_files: set[str], broken_names: set[str]) -> tuple[Policy, list[Diagnostic]]:
    return Resolver(files, library_files, broken_names).resolve()
