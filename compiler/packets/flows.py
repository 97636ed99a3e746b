"""The packet sets of a policy's endpoints, services and flows.

    packets(flow) = (source − except from) × (destination − except to) × services

where an endpoint's addresses are a zone's networks, a host's addresses, a raw address
selector's CIDR, and for the built-in zone `internet` every address (IPv4 and IPv6) that no zone
owns and that is not private (RFC 1918, RFC 6598, ULA: that is unassigned, E520). Source and destination share the address family; icmp matches only IPv4 packets and icmpv6
only IPv6 ones; a service without a protocol clause matches nothing.

A flow's set is a product of three parts, and the checks use that: each part (`Part`: its
addresses as intervals or its service atoms, the address families it has, the zones that own it,
and a BDD built only if asked for) is made once per distinct selector, carve-out and service
list. Emptiness, overlap and containment in one flow are part-wise interval tests, containment
in several flows a sweep over the intervals (`union_covers`); the BDD space (`space`) is built
only when something asks for a BDD.
"""

from __future__ import annotations

import bisect
import weakref

from ..collector import paused
from ..model import Flow, SelAddress, Selector, SelName
from ..resolve import Members, Policy
from .addresses import (PRIVATE, AddressAtoms, AddressSet, OwnerIndex, _intersect, _merge, cidr_block, covers,
                        intersects)
from .space import PacketSpace

V4, V6 = 1, 2  # family bits
_FAMILIES = {"tcp": V4 | V6, "udp": V4 | V6, "icmp": V4, "icmpv6": V6}  # what each protocol can match


class Part:
    """One factor of a flow's product: a source side, a destination side, or a service list.

    Its BDD (`node`) is built the first time it is asked for; the checks work on the intervals,
    atoms, families and owners, and never ask."""

    __slots__ = ("_node", "_make", "id", "families", "owners", "owner_ids", "addresses")

    def __init__(self, make, id: int, families: int, owners: frozenset = frozenset(),
                 addresses: AddressSet | None = None, owner_ids: tuple[int, ...] = ()) -> None:
        self._node = None
        self._make = make
        self.id = id
        self.families = families  # V4 | V6 bits: the families this part has packets of
        # sides: the zones (and 'internet') owning some of its addresses; services: the service
        # atoms (protocol, piece of the L4 range) it matches. Parts that share no owner or atom
        # share no packet.
        self.owners = owners
        self.owner_ids = owner_ids  # the same, as small integers (`PolicyPackets.ids`)
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

    def __init__(self, space: "_Space", source_all: Part, source: Part, destination_all: Part, destination: Part,
                 services: Part) -> None:
        self._space = space  # the holder of the policy's space, built when a BDD is first needed
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
                self._packets = self._space.space.false
            else:
                self._packets = self.source.node & (self.destination.node & self.services.node)
        return self._packets


_ITEM_FIELD = {"name": "name", "tag": "tag", "holding": "datatype", "address": "cidr"}


def _selector_key(selector: Selector) -> str | tuple:
    """A selector's meaning as a hashable key (its items without their positions): a lone name
    is the name itself (a string, whose hash Python keeps), anything else a tuple."""
    items = selector.items
    if len(items) == 1:
        item = items[0]
        if type(item) is SelName:
            return item.name
        return item.kind, getattr(item, _ITEM_FIELD[item.kind])
    return tuple((item.kind, getattr(item, _ITEM_FIELD[item.kind])) for item in items)


def policy_blocks(policy: Policy) -> list:
    """Every address block the policy names: zone networks, host addresses, and raw addresses in
    flows, groups, assertions, requirements and waivers; and the private ranges, where the
    internet ends."""
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
    blocks.extend(PRIVATE.blocks())  # the internet ends where private space begins
    return blocks


class _Space:
    """The packet space of a `PolicyPackets`, made the first time a BDD is asked for: the checks
    never ask (they work on intervals and atoms), and the atoms cost a pass over every address
    the policy writes. Parts and flows hold this, not the policy, so nothing refers back."""

    __slots__ = ("policy", "extra", "given", "_space")

    def __init__(self, policy: Policy, space, extra_cidrs) -> None:
        self.policy = policy
        self.extra = tuple(extra_cidrs)
        self.given = space is not None  # the caller's space: unions are computed in it
        self._space = space

    @property
    def space(self):
        space = self._space
        if space is None:
            blocks = policy_blocks(self.policy)
            blocks.extend(cidr_block(c) for c in self.extra)
            space = self._space = PacketSpace(AddressAtoms(blocks))
        return space


class PolicyPackets:
    """Packet sets of one policy, built lazily and memoised.

    By default the space encodes addresses as the policy's atoms (`space.PacketSpace`), built on
    first use; pass `extra_cidrs` to make other addresses representable too, or a `space` of your
    own (an exact `PacketSpace()`, or `boxes.BoxSpace()`), in which unions of flows are then
    computed too (`union_covers`).
    """

    def __init__(self, policy: Policy, space=None, extra_cidrs=()) -> None:
        self.policy = policy
        self._space = _Space(policy, space, extra_cidrs)
        self.index = OwnerIndex(
            (zone.name, [n.cidr for n in zone.networks]) for zone in policy.zones.values() if not zone.builtin
        )
        self.ids: dict = {}  # owner names and service atoms -> small integers (`Part.owner_ids`)
        self._blocks: dict[str, list] = {}
        self._described: dict[Members, tuple] = {}
        self._named: dict[str, tuple] = {}
        self._by_service: dict[str, tuple] = {}
        self._endpoints: dict[tuple[str, str], object] = {}
        self._parts: dict[tuple, Part] = {}
        self._meets: dict[tuple[int, int], int] = {}
        self._within: dict[tuple[int, int], int] = {}
        self._clips: dict[tuple[int, int, int], tuple] = {}
        self._all: list[FlowPackets] | None = None
        self._cuts: dict[str, list[int]] | None = None
        self.sweep_limit = SWEEP_LIMIT

    @property
    def space(self):
        """The packet space (BDDs over the policy's address atoms unless one was given)."""
        return self._space.space

    def __del__(self) -> None:
        # Drop every BDD before the manager. Freed by reference counting this happens anyway; but
        # should this object ever be part of a reference cycle, the cycle collector would clear
        # BDD nodes and their manager in any order, and CUDD complains ("Still N nodes
        # referenced upon shutdown"). Finalizers run before the collector clears anything.
        self.__dict__.clear()

    # ---- addresses of endpoints ----------------------------------------------------------

    def endpoint_blocks(self, name: str) -> list:
        """Address blocks (family, first, last) of a zone or host; for `internet`, every address
        no zone owns that is not private."""
        found = self._blocks.get(name)
        if found is None:
            zone = self.policy.zones.get(name)
            if zone is not None and zone.builtin:
                found = list(self.index.internet.blocks())
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

    def _numbers(self, names) -> tuple[int, ...]:
        ids = self.ids
        return tuple([ids.setdefault(x, len(ids)) for x in names])

    def _side_part(self, side: str, addresses: AddressSet, owners: frozenset[str],
                   owner_ids: tuple[int, ...] | None = None) -> Part:
        holder = self._space
        families = (V4 if addresses.v4 else 0) | (V6 if addresses.v6 else 0)
        return Part(lambda: holder.space.addresses(side, addresses), len(self._parts), families, owners, addresses,
                    self._numbers(owners) if owner_ids is None else owner_ids)

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

    def raw_addresses(self) -> set[str]:
        """Every raw address (CIDR) in the selectors of the parts made so far, directly or
        through groups: after `flows()`, every address the flows' sides and carve-outs name."""
        out: set[str] = set()
        for members in self._described:
            out.update(members.addresses)
        return out

    def members(self, side: str, members: Members) -> Part:
        """The part a selector's members denote on one side."""
        key = (side, "members", members)
        part = self._parts.get(key)
        if part is None:
            part = self._parts[key] = self._side_part(side, *self._addresses(members))
        return part

    def side(self, side: str, selector: Selector, key: str | tuple | None = None) -> Part:
        """The part a selector denotes on one side (memoised by its text, not its position;
        `key` is its `_selector_key` if known)."""
        key = (side, _selector_key(selector) if key is None else key)
        part = self._parts.get(key)
        if part is None:
            items = selector.items
            if len(items) == 1 and isinstance(items[0], SelName) and items[0].name not in self.policy.groups:
                name = items[0].name  # a zone or host: described once for both sides
                found = self._named.get(name)
                if found is None:
                    addresses = AddressSet.of(self.endpoint_blocks(name))
                    owners: set[str] = set()
                    for block in addresses.blocks():
                        owners |= self.index.owners(*block)
                    found = self._named[name] = (addresses, frozenset(owners), self._numbers(owners))
                part = self._side_part(side, *found)
            else:
                if len(items) == 1 and isinstance(items[0], SelAddress):
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
            matches: list = []
            atoms: set[tuple[str, int]] = set()
            families = 0
            for name in names:
                found = self._service(name)
                matches.extend(found[0])
                atoms |= found[1]
                families |= found[2]
            holder = self._space

            def make():
                space = holder.space
                node = space.false
                for m in matches:
                    node = node | space.match(m.protocol, _l4_ranges(m) if m.protocol in ("tcp", "udp") else (),
                                              m.icmp_type, m.icmp_code)
                return node

            part = self._parts[key] = Part(make, len(self._parts), families, frozenset(atoms),
                                           owner_ids=self._numbers(atoms))
        return part

    def _service(self, name: str) -> tuple[tuple, frozenset, int]:
        """One service's protocol clauses, service atoms and families (nothing if unknown)."""
        found = self._by_service.get(name)
        if found is None:
            service = self.policy.services.get(name)
            matches = service.matches if service is not None else ()
            atoms: set[tuple[str, int]] = set()
            families = 0
            for m in matches:
                atoms.update(self._service_atoms(m.protocol, _l4_ranges(m)))
                families |= _FAMILIES[m.protocol]
            found = self._by_service[name] = (matches, frozenset(atoms), families)
        return found

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
        """Every flow's packets, in `policy.flows` order (built once, in one pass over the flows)."""
        if self._all is None:
            holder = self._space
            sources: dict = {}
            destinations: dict = {}
            services: dict = {}
            out = []
            append = out.append
            key_of = _selector_key
            for flow in self.policy.flows:
                selector = flow.source
                items = selector.items
                key = items[0].name if len(items) == 1 and type(items[0]) is SelName else key_of(selector)
                source = sources.get(key)
                if source is None:
                    source = sources[key] = self.side("s", selector, key)
                selector = flow.destination
                items = selector.items
                key = items[0].name if len(items) == 1 and type(items[0]) is SelName else key_of(selector)
                destination = destinations.get(key)
                if destination is None:
                    destination = destinations[key] = self.side("d", selector, key)
                refs = flow.services
                names = refs[0].name if len(refs) == 1 else tuple([r.name for r in refs])
                part = services.get(names)
                if part is None:
                    part = services[names] = self.services((names,) if type(names) is str else names)
                carve = flow.except_from
                source_left = self.carved("s", source, carve) if carve else source
                carve = flow.except_to
                destination_left = self.carved("d", destination, carve) if carve else destination
                append(FlowPackets(holder, source, source_left, destination, destination_left, part))
            self._all = out
        return self._all

    def product(self, source: Part, destination: Part, services: Part) -> FlowPackets:
        """The packets of source × destination × services, as a flow without carve-outs."""
        return FlowPackets(self._space, source, source, destination, destination, services)

    def flow_packets(self, flow: Flow) -> FlowPackets:
        """The packets of any flow (also one that is not in the policy) over this policy's zones."""
        source_all = self.side("s", flow.source)
        destination_all = self.side("d", flow.destination)
        return FlowPackets(
            self._space,
            source_all, self.carved("s", source_all, flow.except_from),
            destination_all, self.carved("d", destination_all, flow.except_to),
            self.services(tuple(r.name for r in flow.services)),
        )

    # ---- relations between flows ---------------------------------------------------------------

    def meet(self, a: Part, b: Part) -> int:
        """The families in which two parts of the same kind share something (V4 | V6 bits).

        Exact and without BDDs: sides are interval sets, and a service list is exactly the union
        of its service atoms (icmp atoms are IPv4, icmpv6 atoms IPv6, tcp and udp both)."""
        if a is b:
            return a.families
        key = (a.id, b.id) if a.id < b.id else (b.id, a.id)
        found = self._meets.get(key)
        if found is None:
            common = a.families & b.families
            if common and a.addresses is not None:
                x, y = a.addresses, b.addresses
                common = (V4 if common & V4 and intersects(x.v4, y.v4) else 0) | \
                         (V6 if common & V6 and intersects(x.v6, y.v6) else 0)
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
            elif a.addresses is not None:
                found = (V4 if covers(b.addresses.v4, a.addresses.v4) else 0) | \
                        (V6 if covers(b.addresses.v6, a.addresses.v6) else 0)
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
        memo = self._within
        # services first: the cheapest test, and the one that fails most
        a, b = x.services, y.services
        if a is not b:
            found = memo.get((a.id, b.id))
            if families & ~(self.within_part(a, b) if found is None else found):
                return False
        a, b = x.source, y.source
        if a is not b:
            found = memo.get((a.id, b.id))
            if families & ~(self.within_part(a, b) if found is None else found):
                return False
        a, b = x.destination, y.destination
        if a is not b:
            found = memo.get((a.id, b.id))
            if families & ~(self.within_part(a, b) if found is None else found):
                return False
        return True

    def union_covers(self, x: FlowPackets, ys: list[FlowPackets]) -> bool:
        """Whether the flows `ys` together allow every packet of `x`.

        Per family: x's service atoms must be among the ys', and each side of x inside the union
        of the ys' sides (where most candidates fail). Then each y's product is cut down to x's
        (an intersection per factor), and a
        sweep along x's source intervals finds the distinct sets of ys present over each piece;
        for each such set, a sweep along the destination intervals does the same, and each set
        found there must hold all of x's service atoms. Exact, and linear in the intervals when
        the ys are few. A union too fragmented for that (more than `sweep_limit` steps) is
        computed with BDDs; when the caller gave a space of its own, every union that passes the
        necessary conditions is computed in it."""
        in_space = self._space.given
        budget = [self.sweep_limit]
        try:
            for bit, family, foreign in ((V4, 4, "icmpv6"), (V6, 6, "icmp")):
                if not x.families & bit:
                    continue
                atoms = frozenset([a for a in x.services.owners if a[0] != foreign])
                here = []  # the ys with packets of this family, and the atoms of x they have
                found: set = set()
                for y in ys:
                    if y.families & bit:
                        v = atoms & y.services.owners
                        if v:
                            here.append((y, v))
                            found |= v
                if found != atoms:
                    return False
                # each side of x must lie in the union of the ys' sides (cheap, and where most
                # unions fail), then the sweep
                sources = x.source.addresses.family(family)
                clipped = []
                for y, v in here:
                    s = self._clip(x.source, y.source, family)
                    if s:
                        clipped.append((y, s, v))
                if not clipped or not covers(_union(s for _, s, _ in clipped), sources):
                    return False
                destinations = x.destination.addresses.family(family)
                boxes = []
                for y, s, v in clipped:
                    d = self._clip(x.destination, y.destination, family)
                    if d:
                        boxes.append((s, d, v))
                if not boxes or not covers(_union(d for _, d, _ in boxes), destinations):
                    return False
                if not in_space and not _product_covered(sources, destinations, atoms, boxes, budget):
                    return False
            return self._union_covers_in_space(x, ys) if in_space else True
        except _TooFragmented:
            return self._union_covers_in_space(x, ys)

    def _clip(self, a: Part, b: Part, family: int) -> tuple:
        """The addresses of family `family` two side parts share (memoised)."""
        key = (a.id, b.id, family)
        found = self._clips.get(key)
        if found is None:
            found = self._clips[key] = _intersect(a.addresses.family(family), b.addresses.family(family))
        return found

    def _union_covers_in_space(self, x: FlowPackets, ys: list[FlowPackets]) -> bool:
        space = self.space
        union = space.false
        for y in ys:
            union = union | y.packets
        return space.is_empty(space.diff(x.packets, union))


SWEEP_LIMIT = 200_000  # steps of one `union_covers` sweep before the union is left to BDDs


class _TooFragmented(Exception):
    pass


def _sweep(region, pieces: list, covered, budget: list[int]) -> bool:
    """Whether every point of `region` (sorted, disjoint intervals) lies in some of the pieces
    (`pieces[k][0]`: intervals inside the region) and each distinct set of pieces found over one
    stretch of the region satisfies `covered(frozenset of k)`, asked once per set."""
    events = [(first, 1, -1) for first, _ in region]
    events += [(last + 1, -1, -1) for _, last in region]
    for k, piece in enumerate(pieces):
        for first, last in piece[0]:
            events.append((first, 1, k))
            events.append((last + 1, -1, k))
    budget[0] -= len(events)
    if budget[0] < 0:
        raise _TooFragmented
    events.sort()
    inside = 0
    active: set[int] = set()
    asked: set[frozenset] = set()
    n = len(events)
    e = 0
    while e < n:
        position = events[e][0]
        while e < n and events[e][0] == position:
            _, delta, k = events[e]
            if k < 0:
                inside += delta
            elif delta > 0:
                active.add(k)
            else:
                active.discard(k)
            e += 1
        if inside:
            if not active:
                return False
            key = frozenset(active)
            if key not in asked:
                asked.add(key)
                budget[0] -= len(key)
                if not covered(key):
                    return False
    return True


def _union(lists) -> list[tuple[int, int]]:
    """The union of sorted interval lists, sorted and merged."""
    out: list[tuple[int, int]] = []
    for intervals in lists:
        out.extend(intervals)
    return _merge(out)


def _product_covered(sources, destinations, atoms: frozenset, boxes: list, budget: list[int]) -> bool:
    """Whether the boxes (source intervals, destination intervals, service atoms), each inside
    sources × destinations × atoms, cover it."""
    if not boxes or not atoms <= frozenset().union(*(v for _, _, v in boxes)):
        return False

    def over_destinations(over_source: frozenset) -> bool:
        sub = [(boxes[k][1], boxes[k][2]) for k in over_source]
        return _sweep(destinations, sub, lambda here: atoms <= frozenset().union(*(sub[k][1] for k in here)), budget)

    return _sweep(sources, boxes, over_destinations, budget)


def _l4_ranges(m) -> list[tuple[int, int]]:
    """The L4 values a protocol clause matches, as inclusive ranges."""
    if m.protocol in ("tcp", "udp"):
        return [(r.low, r.high) for r in m.ports] or [(0, 65535)]
    if m.icmp_type is None:
        return [(0, 65535)]
    if m.icmp_code is None:
        return [(m.icmp_type * 256, m.icmp_type * 256 + 255)]
    return [(m.icmp_type * 256 + m.icmp_code,) * 2]


def policy_packets(policy: Policy) -> PolicyPackets:
    """The policy's packet sets, built once and kept with the policy."""
    cached = policy._members.get("packet-sets")
    if cached is None:
        with paused():
            cached = PolicyPackets(_weak(policy))
        policy._members["packet-sets"] = cached
    return cached


def _weak(policy: Policy):
    """The policy as the cache on it sees it: weakly. The policy holds its packet sets; if they
    held it strongly, the two would make a reference cycle, which the cycle collector frees in
    any order, BDD manager before BDD nodes."""
    if isinstance(policy, weakref.ProxyTypes):
        return policy
    try:
        return weakref.proxy(policy)
    except TypeError:  # not weakly referenceable: PolicyPackets.__del__ still releases the BDDs first
        return policy
