"""The packet sets of a policy's endpoints, services and flows.

    packets(flow) = (source − except from) × (destination − except to) × services

where an endpoint's addresses are a zone's networks, a host's addresses, a raw address
selector's CIDR, and for the built-in zone `internet` every address (IPv4 and IPv6) that no zone
owns. Source and destination share the address family; icmp matches only IPv4 packets and icmpv6
only IPv6 ones; a service without a protocol clause matches nothing.

A flow's set is a product of three parts, and the checks use that: each part (`Part`: a BDD, the
address families it has, the zones that own it) is built once per distinct selector, carve-out
and service list, two flows can share a packet only if their parts meet pairwise in a common
family, and the product BDD of a flow is built only when a containment question needs it.
"""

from __future__ import annotations

from ..model import Flow, SelAddress, Selector, SelName
from ..resolve import Members, Policy
from .addresses import EVERYTHING, AddressSet, OwnerIndex, cidr_block
from .space import PacketSpace

V4, V6 = 1, 2  # family bits


class Part:
    """One factor of a flow's product: a source side, a destination side, or a service list."""

    __slots__ = ("node", "id", "families", "owners")

    def __init__(self, node, id: int, families: int, owners: frozenset[str] = frozenset()) -> None:
        self.node = node
        self.id = id
        self.families = families  # V4 | V6 bits: the families this part has packets of
        self.owners = owners  # zones (and 'internet') owning some of its addresses; sides only


class FlowPackets:
    """A flow's parts before and after carve-outs, and (lazily) its packet set."""

    __slots__ = ("source_all", "source", "destination_all", "destination", "services", "families", "_space",
                 "_packets")

    def __init__(self, space, source_all: Part, source: Part, destination_all: Part, destination: Part,
                 services: Part) -> None:
        self._space = space
        self.source_all = source_all
        self.source = source
        self.destination_all = destination_all
        self.destination = destination
        self.services = services
        self.families = source.families & destination.families & services.families
        self._packets = None

    @property
    def empty(self) -> bool:
        return not self.families

    @property
    def packets(self):
        """The flow's packet set as one BDD."""
        if self._packets is None:
            if self.empty:
                self._packets = self._space.false
            else:
                self._packets = self.source.node & (self.destination.node & self.services.node)
        return self._packets


def _selector_key(selector: Selector) -> tuple:
    return tuple((item.kind, getattr(item, "name", None) or getattr(item, "cidr", None) or
                  getattr(item, "tag", None) or getattr(item, "datatype", None)) for item in selector.items)


class PolicyPackets:
    """Packet sets of one policy, built lazily and memoised."""

    def __init__(self, policy: Policy, space: PacketSpace | None = None) -> None:
        self.policy = policy
        self.space = space or PacketSpace()
        self.index = OwnerIndex(
            (zone.name, [n.cidr for n in zone.networks]) for zone in policy.zones.values() if not zone.builtin
        )
        self._endpoints: dict[tuple[str, str], object] = {}
        self._parts: dict[tuple, Part] = {}
        self._owners: dict[str, frozenset[str]] = {}
        self._meets: dict[tuple[int, int], int] = {}
        self._flows: dict[int, FlowPackets] = {}

    # ---- addresses of endpoints ----------------------------------------------------------

    def endpoint_cidrs(self, name: str) -> list[str] | None:
        """CIDRs of a zone or host; None for `internet` (everything no zone owns)."""
        zone = self.policy.zones.get(name)
        if zone is not None:
            return None if zone.builtin else [n.cidr for n in zone.networks]
        host = self.policy.hosts.get(name)
        return [a.cidr for a in host.addresses] if host is not None else []

    def endpoint(self, side: str, name: str):
        """The packets whose source (`side` "s") or destination ("d") is the zone or host."""
        key = (side, name)
        node = self._endpoints.get(key)
        if node is None:
            cidrs = self.endpoint_cidrs(name)
            if cidrs is None:
                node = self.space.complement_addresses(self.owned(side))
            else:
                node = self.space.cidrs(side, cidrs)
            self._endpoints[key] = node
        return node

    def owned(self, side: str):
        key = (side, "\0owned")
        node = self._endpoints.get(key)
        if node is None:
            node = self.space.addresses(side, self.index.owned)
            self._endpoints[key] = node
        return node

    def endpoint_owners(self, name: str) -> frozenset[str]:
        found = self._owners.get(name)
        if found is None:
            cidrs = self.endpoint_cidrs(name)
            if cidrs is None:
                found = frozenset(("internet",))
            else:
                owners: set[str] = set()
                for cidr in cidrs:
                    owners.update(self.index.owners(*cidr_block(cidr)))
                found = frozenset(owners)
            self._owners[name] = found
        return found

    def endpoint_owners_of_cidr(self, cidr: str) -> frozenset[str]:
        key = "\0" + cidr
        found = self._owners.get(key)
        if found is None:
            found = frozenset(self.index.owners(*cidr_block(cidr)))
            self._owners[key] = found
        return found

    def _new_part(self, node, owners: frozenset[str] = frozenset()) -> Part:
        space = self.space
        families = (V4 if (node & space.family[4]) != space.false else 0) | \
                   (V6 if (node & space.family[6]) != space.false else 0)
        return Part(node, len(self._parts), families, owners)

    def members(self, side: str, members: Members) -> Part:
        """The part a selector's members denote on one side."""
        key = (side, "members", members)
        part = self._parts.get(key)
        if part is None:
            node = self.space.false
            owners: set[str] = set()
            for name in sorted(members.zones | members.hosts):
                node = node | self.endpoint(side, name)
                owners |= self.endpoint_owners(name)
            for cidr in sorted(members.addresses):
                node = node | self.space.cidr(side, cidr)
                owners |= self.endpoint_owners_of_cidr(cidr)
            part = self._new_part(node, frozenset(owners))
            self._parts[key] = part
        return part

    def side(self, side: str, selector: Selector) -> Part:
        """The part a selector denotes on one side (memoised by its text, not its position)."""
        key = (side, _selector_key(selector))
        part = self._parts.get(key)
        if part is None:
            items = selector.items
            if len(items) == 1 and isinstance(items[0], SelName) and items[0].name not in self.policy.groups:
                name = items[0].name
                is_zone = name in self.policy.zones
                members = Members(zones=frozenset((name,)) if is_zone else frozenset(),
                                  hosts=frozenset() if is_zone else frozenset((name,)))
            elif len(items) == 1 and isinstance(items[0], SelAddress):
                members = Members(addresses=frozenset((items[0].cidr,)))
            else:
                members = self.policy.expand(selector)
            part = self.members(side, members)
            self._parts[key] = part
        return part

    def carved(self, side: str, base: Part, selectors: tuple[Selector, ...]) -> Part:
        """A side minus the carve-outs (`except from` / `except to`)."""
        if not selectors:
            return base
        keys = tuple(_selector_key(s) for s in selectors)
        key = (side, "carved", base.id, keys)
        part = self._parts.get(key)
        if part is None:
            removed = self.space.false
            for selector in selectors:
                removed = removed | self.side(side, selector).node
            part = self._new_part(base.node & ~removed, base.owners)
            self._parts[key] = part
        return part

    def address_set(self, members: Members) -> AddressSet:
        """The addresses a selector denotes, as intervals (for describing them to people)."""
        blocks = []
        for name in members.zones | members.hosts:
            cidrs = self.endpoint_cidrs(name)
            if cidrs is None:
                blocks.extend((EVERYTHING - self.index.owned).blocks())
            else:
                blocks.extend(cidr_block(c) for c in cidrs)
        blocks.extend(cidr_block(c) for c in members.addresses)
        return AddressSet.of(blocks)

    # ---- services and flows ----------------------------------------------------------------

    def services(self, names: tuple[str, ...]) -> Part:
        key = ("services", names)
        part = self._parts.get(key)
        if part is None:
            node = self.space.false
            for name in names:
                service = self.policy.services.get(name)
                if service is None:
                    continue
                for m in service.matches:
                    node = node | self.space.match(m.protocol, [(r.low, r.high) for r in m.ports], m.icmp_type,
                                                   m.icmp_code)
            part = self._new_part(node)
            self._parts[key] = part
        return part

    def flow(self, index: int) -> FlowPackets:
        cached = self._flows.get(index)
        if cached is None:
            cached = self.flow_packets(self.policy.flows[index])
            self._flows[index] = cached
        return cached

    def flow_packets(self, flow: Flow) -> FlowPackets:
        source_all = self.side("s", flow.source)
        destination_all = self.side("d", flow.destination)
        return FlowPackets(
            self.space,
            source_all, self.carved("s", source_all, flow.except_from),
            destination_all, self.carved("d", destination_all, flow.except_to),
            self.services(tuple(r.name for r in flow.services)),
        )

    # ---- relations between flows ---------------------------------------------------------------

    def meet(self, a: Part, b: Part) -> int:
        """The families in which two parts of the same kind share something (V4 | V6 bits)."""
        if a.id > b.id:
            a, b = b, a
        key = (a.id, b.id)
        found = self._meets.get(key)
        if found is None:
            common = a.families & b.families
            if common:
                both = a.node & b.node
                space = self.space
                common = (V4 if common & V4 and (both & space.family[4]) != space.false else 0) | \
                         (V6 if common & V6 and (both & space.family[6]) != space.false else 0)
            found = common
            self._meets[key] = found
        return found

    def overlap(self, x: FlowPackets, y: FlowPackets) -> bool:
        """Whether two flows share a packet: their parts meet pairwise in one family."""
        families = x.families & y.families
        if not families:
            return False
        families &= self.meet(x.source, y.source)
        if not families:
            return False
        families &= self.meet(x.destination, y.destination)
        if not families:
            return False
        return bool(families & self.meet(x.services, y.services))


def policy_packets(policy: Policy) -> PolicyPackets:
    """The policy's packet sets, built once and kept with the policy."""
    cached = policy._members.get("packet-sets")
    if cached is None:
        cached = PolicyPackets(policy)
        policy._members["packet-sets"] = cached
    return cached
