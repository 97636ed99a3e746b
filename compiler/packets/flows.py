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

import bisect
import gc
from contextlib import contextmanager

from ..model import Flow, SelAddress, Selector, SelName
from ..resolve import Members, Policy
from .addresses import EVERYTHING, AddressAtoms, AddressSet, OwnerIndex, cidr_block, covers, intersects
from .space import PacketSpace

V4, V6 = 1, 2  # family bits


class Part:
    """One factor of a flow's product: a source side, a destination side, or a service list.

    Its BDD (`node`) is built the first time it is asked for: the families and owners come from
    intervals, and most parts never meet another part that could share a packet with them."""

    __slots__ = ("_node", "_make", "id", "families", "owners", "addresses")

    def __init__(self, make, id: int, families: int, owners: frozenset = frozenset(),
                 addresses: AddressSet | None = None) -> None:
        self._node = None
        self._make = make
        self.id = id
        self.families = families  # V4 | V6 bits: the families this part has packets of
        # sides: the zones (and 'internet') owning some of its addresses; services: the service
        # atoms (protocol, piece of the L4 range) it matches. Parts that share no owner or atom
        # share no packet.
        self.owners = owners
        self.addresses = addresses  # sides: the addresses, as intervals

    @property
    def node(self):
        if self._node is None:
            self._node = self._make()
            self._make = None
        return self._node


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


_ITEM_FIELD = {"name": "name", "tag": "tag", "holding": "datatype", "address": "cidr"}


def _selector_key(selector: Selector) -> tuple:
    """A selector's meaning as a hashable key (its items without their positions)."""
    items = selector.items
    if len(items) == 1:
        item = items[0]
        return item.kind, getattr(item, _ITEM_FIELD[item.kind])
    return tuple((item.kind, getattr(item, _ITEM_FIELD[item.kind])) for item in items)


def policy_blocks(policy: Policy) -> list:
    """Every address block the policy names: zone networks, host addresses, and raw addresses in
    flows, groups, assertions, requirements and waivers."""
    blocks = []
    for zone in policy.zones.values():
        blocks.extend(cidr_block(n.cidr) for n in zone.networks)
    for host in policy.hosts.values():
        blocks.extend(cidr_block(a.cidr) for a in host.addresses)
    selectors: list[Selector] = [group.selector for group in policy.groups.values()]
    for flow in policy.flows:
        selectors.append(flow.source)
        selectors.append(flow.destination)
        selectors.extend(flow.except_from)
        selectors.extend(flow.except_to)
    for statement in (*policy.requirements, *policy.waivers):
        selectors.append(statement.source)
        selectors.append(statement.destination)
    for assertion in policy.assertions:
        body = assertion.body
        for name in ("source", "destination", "allowed", "target", "through"):
            selector = getattr(body, name, None)
            if isinstance(selector, Selector):
                selectors.append(selector)
    for selector in selectors:
        for item in selector.items:
            if item.kind == "address":
                blocks.append(cidr_block(item.cidr))
    return blocks


class PolicyPackets:
    """Packet sets of one policy, built lazily and memoised.

    By default the space encodes addresses as the policy's atoms (`space.PacketSpace`); pass
    `extra_cidrs` to make other addresses representable too, or a `space` of your own (an exact
    `PacketSpace()`, or `boxes.BoxSpace()`).
    """

    def __init__(self, policy: Policy, space=None, extra_cidrs=()) -> None:
        self.policy = policy
        if space is None:
            blocks = policy_blocks(policy)
            blocks.extend(cidr_block(c) for c in extra_cidrs)
            space = PacketSpace(AddressAtoms(blocks))
        self.space = space
        self.index = OwnerIndex(
            (zone.name, [n.cidr for n in zone.networks]) for zone in policy.zones.values() if not zone.builtin
        )
        self._blocks: dict[str, list] = {}
        self._described: dict[Members, tuple] = {}
        self._endpoints: dict[tuple[str, str], object] = {}
        self._parts: dict[tuple, Part] = {}
        self._meets: dict[tuple[int, int], int] = {}
        self._within: dict[tuple[int, int], int] = {}
        self._all: list[FlowPackets] | None = None
        self._cuts: dict[str, list[int]] | None = None

    # ---- addresses of endpoints ----------------------------------------------------------

    def endpoint_blocks(self, name: str) -> list:
        """Address blocks (family, first, last) of a zone or host; for `internet`, every address
        no zone owns."""
        found = self._blocks.get(name)
        if found is None:
            zone = self.policy.zones.get(name)
            if zone is not None and zone.builtin:
                found = list((EVERYTHING - self.index.owned).blocks())
            elif zone is not None:
                found = [cidr_block(n.cidr) for n in zone.networks]
            else:
                host = self.policy.hosts.get(name)
                found = [cidr_block(a.cidr) for a in host.addresses] if host is not None else []
            self._blocks[name] = found
        return found

    def endpoint(self, side: str, name: str):
        """The packets whose source (`side` "s") or destination ("d") is the zone or host."""
        key = (side, name)
        node = self._endpoints.get(key)
        if node is None:
            node = self._endpoints[key] = self.space.addresses(side, AddressSet.of(self.endpoint_blocks(name)))
        return node

    def address_set(self, members: Members) -> AddressSet:
        """The addresses a selector denotes, as intervals."""
        blocks = []
        for name in members.zones | members.hosts:
            blocks.extend(self.endpoint_blocks(name))
        blocks.extend(cidr_block(c) for c in members.addresses)
        return AddressSet.of(blocks)

    def _side_part(self, side: str, addresses: AddressSet, owners: frozenset[str]) -> Part:
        space = self.space
        families = (V4 if addresses.v4 else 0) | (V6 if addresses.v6 else 0)
        return Part(lambda: space.addresses(side, addresses), len(self._parts), families, owners, addresses)

    def _addresses(self, members: Members) -> tuple[AddressSet, frozenset[str]]:
        """A selector's addresses and the zones owning them (for both sides)."""
        found = self._described.get(members)
        if found is None:
            addresses = self.address_set(members)
            owners: set[str] = set()
            for block in addresses.blocks():
                owners |= self.index.owners(*block)
            found = self._described[members] = (addresses, frozenset(owners))
        return found

    def members(self, side: str, members: Members) -> Part:
        """The part a selector's members denote on one side."""
        key = (side, "members", members)
        part = self._parts.get(key)
        if part is None:
            part = self._parts[key] = self._side_part(side, *self._addresses(members))
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
            removed = AddressSet()
            for selector in selectors:
                removed = removed | self.side(side, selector).addresses
            part = self._parts[key] = self._side_part(side, base.addresses - removed, base.owners)
        return part

    # ---- services and flows ----------------------------------------------------------------

    def services(self, names: tuple[str, ...]) -> Part:
        key = ("services", names)
        part = self._parts.get(key)
        if part is None:
            matches = [m for name in names if name in self.policy.services for m in self.policy.services[name].matches]
            atoms: set[tuple[str, int]] = set()
            families = 0
            for m in matches:
                atoms.update(self._service_atoms(m.protocol, _l4_ranges(m)))
                families |= {"tcp": V4 | V6, "udp": V4 | V6, "icmp": V4, "icmpv6": V6}[m.protocol]
            space = self.space

            def make():
                node = space.false
                for m in matches:
                    node = node | space.match(m.protocol, _l4_ranges(m) if m.protocol in ("tcp", "udp") else (),
                                              m.icmp_type, m.icmp_code)
                return node

            part = self._parts[key] = Part(make, len(self._parts), families, frozenset(atoms))
        return part

    def _service_atoms(self, protocol: str, ranges: list[tuple[int, int]]):
        """The pieces of the L4 range, cut at every boundary any service of the policy uses."""
        if self._cuts is None:
            cuts: dict[str, set[int]] = {p: {0, 65536} for p in ("tcp", "udp", "icmp", "icmpv6")}
            for service in self.policy.services.values():
                for m in service.matches:
                    for low, high in _l4_ranges(m):
                        cuts[m.protocol].update((low, high + 1))
            self._cuts = {p: sorted(c) for p, c in cuts.items()}
        cuts = self._cuts[protocol]
        for low, high in ranges:
            first = bisect.bisect_right(cuts, low) - 1
            last = bisect.bisect_right(cuts, high) - 1
            for k in range(first, last + 1):
                yield protocol, k

    def flow(self, index: int) -> FlowPackets:
        return self.flows()[index]

    def flows(self) -> list[FlowPackets]:
        """Every flow's packets, in `policy.flows` order (built once)."""
        if self._all is None:
            space = self.space
            sources: dict = {}
            destinations: dict = {}
            services: dict = {}
            out = []
            for flow in self.policy.flows:
                key = _selector_key(flow.source)
                source_all = sources.get(key)
                if source_all is None:
                    source_all = sources[key] = self.side("s", flow.source)
                key = _selector_key(flow.destination)
                destination_all = destinations.get(key)
                if destination_all is None:
                    destination_all = destinations[key] = self.side("d", flow.destination)
                refs = flow.services
                names = (refs[0].name,) if len(refs) == 1 else tuple([r.name for r in refs])
                part = services.get(names)
                if part is None:
                    part = services[names] = self.services(names)
                source = self.carved("s", source_all, flow.except_from) if flow.except_from else source_all
                destination = self.carved("d", destination_all, flow.except_to) if flow.except_to \
                    else destination_all
                out.append(FlowPackets(space, source_all, source, destination_all, destination, part))
            self._all = out
        return self._all

    def flow_packets(self, flow: Flow) -> FlowPackets:
        """The packets of any flow (also one that is not in the policy) over this policy's zones."""
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
        """The families in which two parts of the same kind share something (V4 | V6 bits).

        Exact and without BDDs: sides are interval sets, and a service list is exactly the union
        of its service atoms (icmp atoms are IPv4, icmpv6 atoms IPv6, tcp and udp both)."""
        if a.id > b.id:
            a, b = b, a
        key = (a.id, b.id)
        found = self._meets.get(key)
        if found is None:
            common = a.families & b.families
            if common and a.addresses is not None and _small(a, b):
                common = (V4 if common & V4 and intersects(a.addresses.v4, b.addresses.v4) else 0) | \
                         (V6 if common & V6 and intersects(a.addresses.v6, b.addresses.v6) else 0)
            elif common and a.addresses is not None:  # long interval lists: the BDDs are faster
                space = self.space
                both = a.node & b.node
                common = (V4 if common & V4 and not space.is_empty(both & space.family[4]) else 0) | \
                         (V6 if common & V6 and not space.is_empty(both & space.family[6]) else 0)
            elif common:
                shared = {protocol for protocol, _ in a.owners & b.owners}
                common &= (V4 if shared - {"icmpv6"} else 0) | (V6 if shared - {"icmp"} else 0)
            found = self._meets[key] = common
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

    def within_part(self, a: Part, b: Part) -> int:
        """The families f in which a's packets of family f are all in b (V4 | V6 bits)."""
        key = (a.id, b.id)
        found = self._within.get(key)
        if found is None:
            if a is b:
                found = V4 | V6
            elif a.addresses is not None and _small(a, b):
                found = (V4 if covers(b.addresses.v4, a.addresses.v4) else 0) | \
                        (V6 if covers(b.addresses.v6, a.addresses.v6) else 0)
            elif a.addresses is not None:
                space = self.space
                rest = space.diff(a.node, b.node)
                found = (V4 if space.is_empty(rest & space.family[4]) else 0) | \
                        (V6 if space.is_empty(rest & space.family[6]) else 0)
            else:
                found = (V4 if {x for x in a.owners if x[0] != "icmpv6"} <= b.owners else 0) | \
                        (V6 if {x for x in a.owners if x[0] != "icmp"} <= b.owners else 0)
            self._within[key] = found
        return found

    def within(self, x: FlowPackets, y: FlowPackets) -> bool:
        """Whether every packet of x is a packet of y, without building either product: per
        family, a product of non-empty factors is inside another product exactly when each factor
        is inside the other's (and products of different families are disjoint)."""
        families = x.families
        if families & ~y.families:
            return False
        families &= self.within_part(x.source, y.source)
        families &= self.within_part(x.destination, y.destination)
        families &= self.within_part(x.services, y.services)
        return families == x.families


SMALL = 16  # interval lists up to this long are compared in Python; longer ones as BDDs


def _small(a: Part, b: Part) -> bool:
    return len(a.addresses.v4) + len(a.addresses.v6) + len(b.addresses.v4) + len(b.addresses.v6) <= SMALL


def _l4_ranges(m) -> list[tuple[int, int]]:
    """The L4 values a protocol clause matches, as inclusive ranges."""
    if m.protocol in ("tcp", "udp"):
        return [(r.low, r.high) for r in m.ports] or [(0, 65535)]
    if m.icmp_type is None:
        return [(0, 65535)]
    if m.icmp_code is None:
        return [(m.icmp_type * 256, m.icmp_type * 256 + 255)]
    return [(m.icmp_type * 256 + m.icmp_code,) * 2]


@contextmanager
def no_gc():
    """Pause Python's cyclic garbage collector: a loaded policy is millions of objects with no
    cycles, and a collection in the middle of thousands of BDD operations would walk them all."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def policy_packets(policy: Policy) -> PolicyPackets:
    """The policy's packet sets, built once and kept with the policy."""
    cached = policy._members.get("packet-sets")
    if cached is None:
        with no_gc():
            cached = PolicyPackets(policy)
        policy._members["packet-sets"] = cached
    return cached
