"""The policy model: immutable pydantic objects, each remembering its source span.

The parser builds one `SourceFile` per zone file; `resolve` merges them into a `Policy`.
Backends and checks read these objects, never the parse tree.
"""

from __future__ import annotations

import datetime as _dt
from enum import Enum
from typing import Annotated, Any, Callable, Literal, NamedTuple, Union

from pydantic import BaseModel, ConfigDict, Field


class Frozen(BaseModel):
    # The parser builds models with `constructor` (its values are checked where they are read),
    # so a class's validator is built only when something calls the class itself: deferring it
    # takes creating these classes from about 0.1 s to 0.02 s of every command's start-up.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class Span(NamedTuple):
    """A region of a zone file; lines and columns are 1-based, the end column exclusive.

    A tuple rather than a model: a policy has millions of them, and they are made by the parser.
    """

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class Ref(Frozen):
    """A use of a name, with where it was written."""

    name: str
    span: Span


class Clause(Frozen):
    """One clause of a block (`vlan 308`), kept for duplicate detection and formatting."""

    keyword: str
    span: Span


class Trust(str, Enum):
    untrusted = "untrusted"
    internal = "internal"
    restricted = "restricted"


class Sensitivity(str, Enum):
    public = "public"
    internal = "internal"
    confidential = "confidential"
    restricted = "restricted"


class BackendKind(str, Enum):
    nftables = "nftables"
    cisco_ios = "cisco-ios"
    openflow = "openflow"


class DeviceRole(str, Enum):
    firewall = "firewall"
    router = "router"
    switch = "switch"


class Network(Frozen):
    """A CIDR in canonical text form (`10.30.0.0/24`, `fd00:30::/64`); a bare address is a /32 or /128."""

    cidr: str
    span: Span


# ---- selectors -------------------------------------------------------------


class SelName(Frozen):
    kind: Literal["name"] = "name"
    name: str
    span: Span


class SelTag(Frozen):
    kind: Literal["tag"] = "tag"
    tag: str
    span: Span


class SelHolding(Frozen):
    kind: Literal["holding"] = "holding"
    datatype: str
    span: Span


class SelAddress(Frozen):
    kind: Literal["address"] = "address"
    cidr: str
    span: Span


class SelAll(Frozen):
    """`all`: every zone, the built-in `internet` included."""

    kind: Literal["all"] = "all"
    span: Span


SelectorItem = Annotated[Union[SelName, SelTag, SelHolding, SelAddress, SelAll], Field(discriminator="kind")]


class Selector(Frozen):
    """`A, B except C, D`: the members of the items less the members of `excluded` (whole zones,
    hosts and addresses; removing part of a member is an error, E211)."""

    items: tuple[SelectorItem, ...]
    span: Span
    excluded: tuple[SelectorItem, ...] = ()


# ---- definitions -----------------------------------------------------------


class Use(Frozen):
    kind: Literal["use"] = "use"
    module: str
    span: Span


class DataType(Frozen):
    kind: Literal["datatype"] = "datatype"
    name: str
    sensitivity: Sensitivity = Sensitivity.confidential
    description: str | None = None
    span: Span
    name_span: Span
    clauses: tuple[Clause, ...] = ()


class PortRange(Frozen):
    low: int
    high: int


class Match(Frozen):
    """One protocol clause of a service: `tcp 104, 11112` or `icmp type 8`."""

    protocol: Literal["tcp", "udp", "icmp", "icmpv6"]
    ports: tuple[PortRange, ...] = ()
    icmp_type: int | None = None
    icmp_code: int | None = None
    span: Span


class Service(Frozen):
    kind: Literal["service"] = "service"
    name: str
    description: str | None = None
    matches: tuple[Match, ...] = ()
    carries: tuple[Ref, ...] = ()
    carries_none: bool = False  # `carries none`: declared to carry no data type (silences W524)
    encrypted: bool = False
    legacy: bool = False  # a legacy-risk protocol (SMB, RDP, Telnet, FTP, VNC): flagged when it crosses zones
    span: Span
    name_span: Span
    clauses: tuple[Clause, ...] = ()


class Zone(Frozen):
    kind: Literal["zone"] = "zone"
    name: str
    description: str | None = None
    networks: tuple[Network, ...] = ()
    vlan: int | None = None
    trust: Trust = Trust.internal
    broker: bool = False
    holds: tuple[Ref, ...] = ()
    handles: tuple[Ref, ...] = ()  # data types the zone receives and passes on without storing them
    tags: tuple[Ref, ...] = ()
    builtin: bool = False
    span: Span
    name_span: Span
    clauses: tuple[Clause, ...] = ()


class Host(Frozen):
    kind: Literal["host"] = "host"
    name: str
    zone: Ref
    description: str | None = None
    addresses: tuple[Network, ...] = ()
    tags: tuple[Ref, ...] = ()
    span: Span
    name_span: Span
    clauses: tuple[Clause, ...] = ()


class Group(Frozen):
    kind: Literal["group"] = "group"
    name: str
    selector: Selector
    span: Span
    name_span: Span


# ---- intent ------------------------------------------------------------------


class Flow(Frozen):
    """`allow SRC -> DST : SERVICES ...`: one entry of the order-independent allow-list."""

    kind: Literal["allow"] = "allow"
    source: Selector
    destination: Selector
    services: tuple[Ref, ...]
    carrying: tuple[Ref, ...] = ()
    except_from: tuple[Selector, ...] = ()
    except_to: tuple[Selector, ...] = ()
    log: bool = False
    justification: str | None = None
    span: Span


class NoPath(Frozen):
    kind: Literal["no-path"] = "no-path"
    source: Selector
    destination: Selector
    within: int | None = None
    through: Selector | None = None  # `except through X`: paths via these zones are mediated, not counted
    replies: bool = False  # `including replies`: a server also attacks its clients through their connections


class OnlyEncrypted(Frozen):
    kind: Literal["only-encrypted"] = "only-encrypted"
    datatype: Ref


class OnlyMayConnect(Frozen):
    kind: Literal["only-may-connect"] = "only-may-connect"
    allowed: Selector
    target: Selector
    services: tuple[Ref, ...] = ()


class MayConnectOnlyTo(Frozen):
    """`from X may connect only to Y [on S]`: an egress limit (on S's packets, if given)."""

    kind: Literal["may-connect-only-to"] = "may-connect-only-to"
    source: Selector
    allowed: Selector
    services: tuple[Ref, ...] = ()


class ReachesOnlyOn(Frozen):
    """`X reaches Y only on S`: every connection from X to Y is on S's packets."""

    kind: Literal["reaches-only-on"] = "reaches-only-on"
    source: Selector
    destination: Selector
    services: tuple[Ref, ...]


class FlowsLogged(Frozen):
    """`flows into Y are logged`: every flow that enters Y from another zone has `log`."""

    kind: Literal["flows-logged"] = "flows-logged"
    destination: Selector


class NoHostsTagged(Frozen):
    """`no hosts tagged T in X`: no host with one of the tags is in (a zone of) X."""

    kind: Literal["no-hosts-tagged"] = "no-hosts-tagged"
    tags: tuple[Ref, ...]
    zones: Selector


AssertionBody = Annotated[
    Union[NoPath, OnlyEncrypted, OnlyMayConnect, MayConnectOnlyTo, ReachesOnlyOn, FlowsLogged, NoHostsTagged],
    Field(discriminator="kind"),
]


class Assertion(Frozen):
    kind: Literal["assert"] = "assert"
    label: Ref | None = None
    body: AssertionBody
    justification: str | None = None
    span: Span


class Requirement(Frozen):
    kind: Literal["require"] = "require"
    label: Ref | None = None
    source: Selector
    destination: Selector
    services: tuple[Ref, ...]
    justification: str | None = None
    span: Span


class Waiver(Frozen):
    kind: Literal["waive"] = "waive"
    label: Ref | None = None
    text: str | None = None
    target_span: Span | None = None  # where the label or quoted text is written
    source: Selector
    destination: Selector
    services: tuple[Ref, ...] = ()
    until: _dt.date
    reason: str
    span: Span


class Binding(Frozen):
    """An interface (`interface eth1 zone x`) or switch port (`port 3 zone x`) bound to a zone, or
    linked to another device (`interface eth2 link dist-rtr`): exactly one of `zone` and `link`."""

    interface: str | None = None
    port: int | None = None
    zone: Ref | None = None
    link: Ref | None = None
    span: Span

    @property
    def where(self) -> str:
        """`interface eth1` or `port 3`, as written."""
        return f"interface {self.interface}" if self.interface is not None else f"port {self.port}"

    @property
    def key(self) -> str:
        """The interface name, or the port number as text: what a device config calls it."""
        return self.interface if self.interface is not None else str(self.port)


class Device(Frozen):
    kind: Literal["device"] = "device"
    role: DeviceRole
    name: str
    backend: BackendKind
    description: str | None = None
    bindings: tuple[Binding, ...] = ()
    span: Span
    name_span: Span
    clauses: tuple[Clause, ...] = ()


Statement = Annotated[
    Union[Use, DataType, Service, Zone, Host, Group, Flow, Assertion, Requirement, Waiver, Device],
    Field(discriminator="kind"),
]


class Comment(Frozen):
    text: str
    line: int
    column: int


class SourceFile(Frozen):
    """One parsed zone file: its statements in written order, and its comments (for `fmt`)."""

    path: str
    module: str | None = None
    statements: tuple[Statement, ...] = ()
    comments: tuple[Comment, ...] = ()


# ---- fast construction -------------------------------------------------------

_new = object.__new__
_setattr = object.__setattr__


def constructor(cls: type[Frozen], *given: str) -> Callable[..., Any]:
    """A function that makes a `cls` from the fields named in `given` (positional or keyword, in
    that order), the other fields taking their defaults, without validating anything.

    For the parser, which makes a million models for a large policy and has checked every
    value it passes (as `cls(...)` would: a tuple where the field is a tuple, an enum member,
    a `Span`): the result is the same frozen model `cls(...)` gives, equal and with the same
    hash, `model_fields_set` the given fields (one set shared by the models this function
    makes: pydantic only ever changes a copy of it).
    """
    return constructors((cls, *given))[0]


def constructors(*specs: tuple) -> list[Callable[..., Any]]:
    """`constructor(*spec)` for each spec, compiled together (one compilation is cheaper)."""
    namespace: dict[str, Any] = {"_new": _new, "_setattr": _setattr}
    sources, names = [], []
    for number, (cls, *given) in enumerate(specs):
        fields = cls.model_fields
        unknown = [name for name in given if name not in fields]
        missing = [name for name, info in fields.items() if info.is_required() and name not in given]
        if unknown or missing:
            raise TypeError(f"constructor({cls.__name__}): unknown fields {unknown}, missing {missing}")
        prefix = f"_{number}_"
        namespace[f"{prefix}cls"] = cls
        namespace[f"{prefix}fields_set"] = set(given)
        items = []
        for name, info in fields.items():
            if name in given:
                items.append(f"{name!r}: {name}")
            else:
                namespace[f"{prefix}default_{name}"] = info.default
                items.append(f"{name!r}: {prefix}default_{name}")
        function = f"make_{cls.__name__}{prefix}"
        names.append(function)
        sources.append(
            f"def {function}({', '.join(given)}):\n"
            f"    obj = _new({prefix}cls)\n"
            f"    _setattr(obj, '__dict__', {{{', '.join(items)}}})\n"
            f"    _setattr(obj, '__pydantic_fields_set__', {prefix}fields_set)\n"
            "    _setattr(obj, '__pydantic_extra__', None)\n"
            "    _setattr(obj, '__pydantic_private__', None)\n"
            "    return obj\n"
        )
    exec("".join(sources), namespace)  # noqa: S102 - generated from the models' own field names
    return [namespace[name] for name in names]
