"""The packet sets of a policy's endpoints, services and flows.

    packets(flow) = (source − except from) × (destination − except to) × services

where an endpoint's addresses are a zone's networks, a host's addresses, a raw address
selector's CIDR, and for the built-in zone `internet` every address (IPv4 and IPv6) that no zone
owns. Source and destination share the address family; icmp matches only IPv4 packets and icmpv6
only IPv6 ones; a service without a protocol clause matches nothing.

Everything is computed once per endpoint, selector and service list, so a policy of 10,000 flows
costs a few BDD operations per flow.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model import Flow, Selector
from ..resolve import Members, Policy
from .addresses import AddressSet, OwnerIndex, cidr_block
from .space import PacketSpace


@dataclass(frozen=True)
class FlowPackets:
    """A flow's sets: its sides before and after carve-outs, its services, and the product."""

    source_all: object
    source: object
    destination_all: object
    destination: object
    services: object
    packets: object


class PolicyPackets:
    """Packet sets of one policy, built lazily and memoised."""

    def __init__(self, policy: Policy, space: PacketSpace | None = None) -> None:
        self.policy = policy
        self.space = space or PacketSpace()
        self.index = OwnerIndex(
            (zone.name, [n.cidr for n in zone.networks]) for zone in policy.zones.values() if not zone.builtin
        )
        self._endpoints: dict[tuple[str, str], object] = {}
        self._members: dict[tuple[str, Members], object] = {}
        self._services: dict[tuple[str, ...], object] = {}
        self._owners: dict[Members, frozenset[str]] = {}
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

    def members(self, side: str, members: Members):
        key = (side, members)
        node = self._members.get(key)
        if node is None:
            node = self.space.false
            for name in sorted(members.zones | members.hosts):
                node = node | self.endpoint(side, name)
            for cidr in sorted(members.addresses):
                node = node | self.space.cidr(side, cidr)
            self._members[key] = node
        return node

    def selectors(self, side: str, selectors: tuple[Selector, ...] | list[Selector]):
        node = self.space.false
        for selector in selectors:
            node = node | self.members(side, self.policy.expand(selector))
        return node

    def address_set(self, members: Members) -> AddressSet:
        """The addresses a selector denotes, as intervals (for describing them to people)."""
        blocks = []
        for name in members.zones | members.hosts:
            cidrs = self.endpoint_cidrs(name)
            if cidrs is None:
                from .addresses import EVERYTHING

                blocks.extend((EVERYTHING - self.index.owned).blocks())
            else:
                blocks.extend(cidr_block(c) for c in cidrs)
        blocks.extend(cidr_block(c) for c in members.addresses)
        return AddressSet.of(blocks)

    # ---- services and flows ----------------------------------------------------------------

    def service(self, name: str):
        return self.services((name,))

    def services(self, names: tuple[str, ...]):
        node = self._services.get(names)
        if node is None:
            node = self.space.false
            for name in names:
                service = self.policy.services.get(name)
                if service is None:
                    continue
                for m in service.matches:
                    node = node | self.space.match(m.protocol, [(r.low, r.high) for r in m.ports], m.icmp_type,
                                                   m.icmp_code)
            self._services[names] = node
        return node

    def flow(self, index: int) -> FlowPackets:
        cached = self._flows.get(index)
        if cached is None:
            cached = self.flow_packets(self.policy.flows[index])
            self._flows[index] = cached
        return cached

    def flow_packets(self, flow: Flow) -> FlowPackets:
        expand = self.policy.expand
        source_all = self.members("s", expand(flow.source))
        destination_all = self.members("d", expand(flow.destination))
        source = source_all
        if flow.except_from:
            source = source & ~self.selectors("s", flow.except_from)
        destination = destination_all
        if flow.except_to:
            destination = destination & ~self.selectors("d", flow.except_to)
        services = self.services(tuple(r.name for r in flow.services))
        return FlowPackets(source_all, source, destination_all, destination, services,
                           source & destination & services)

    # ---- who owns what --------------------------------------------------------------------------

    def owners(self, members: Members) -> frozenset[str]:
        """Zones (and `internet`) owning some address the selector denotes."""
        found = self._owners.get(members)
        if found is None:
            owners: set[str] = set()
            for name in members.zones | members.hosts:
                cidrs = self.endpoint_cidrs(name)
                if cidrs is None:
                    owners.add("internet")
                    continue
                for cidr in cidrs:
                    owners.update(self.index.owners(*cidr_block(cidr)))
            for cidr in members.addresses:
                owners.update(self.index.owners(*cidr_block(cidr)))
            found = frozenset(owners)
            self._owners[members] = found
        return found


def policy_packets(policy: Policy) -> PolicyPackets:
    """The policy's packet sets, built once and kept with the policy."""
    cached = policy._members.get("packet-sets")
    if cached is None:
        cached = PolicyPackets(policy)
        policy._members["packet-sets"] = cached
    return cached
