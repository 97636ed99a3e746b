"""Which zones each flow connects, exactly, and whether a device path carries it.

A flow's packets are `(source − except from) × (destination − except to) × services`
(`packets.flows`). Its sides are cut by which zone owns each address (the built-in `internet`
owns what no zone owns outside private space; private space no zone owns belongs to nobody, E520),
and every pair of different zones whose pieces share an address family with the services is
traffic some device must carry: `zone_pairs`. `unenforceable_flows` (E308) reports the flows for
which no device path connects such a pair.
"""

from __future__ import annotations

from typing import NamedTuple

from ..diagnostics import Diagnostic
from ..packets.addresses import UNASSIGNED, AddressSet
from ..packets.flows import V4, V6, FlowPackets, Part, PolicyPackets, policy_packets
from ..resolve import Policy
from .topology import Topology, topology


class ZonePair(NamedTuple):
    """The part of a flow between two zones: its source addresses in one, destination in the other."""

    source_zone: str
    destination_zone: str
    source: AddressSet
    destination: AddressSet
    families: int  # V4 | V6 bits in which the pair has packets


def _families(addresses: AddressSet) -> int:
    return (V4 if addresses.v4 else 0) | (V6 if addresses.v6 else 0)


def _only(addresses: AddressSet, families: int) -> AddressSet:
    if families == V4 | V6:
        return addresses
    return AddressSet(addresses.v4 if families & V4 else (), addresses.v6 if families & V6 else ())


class Shares:
    """A side's addresses cut by owning zone, memoised per side part."""

    def __init__(self, packets: PolicyPackets) -> None:
        self.packets = packets
        self._zone_addresses: dict[str, AddressSet] = {}
        self._shares: dict[int, tuple[tuple[str, AddressSet], ...]] = {}
        self._only: dict[tuple[int, int], tuple[AddressSet, AddressSet]] = {}  # keeps the source alive

    def zone_addresses(self, zone: str) -> AddressSet:
        found = self._zone_addresses.get(zone)
        if found is None:
            found = self._zone_addresses[zone] = AddressSet.of(self.packets.endpoint_blocks(zone))
        return found

    def only(self, addresses: AddressSet, families: int) -> AddressSet:
        """The addresses of these families (one object per set and families: they are shared)."""
        if families == V4 | V6:
            return addresses
        key = (id(addresses), families)
        found = self._only.get(key)
        if found is None:
            found = self._only[key] = (_only(addresses, families), addresses)
        return found[0]

    def of(self, part: Part) -> tuple[tuple[str, AddressSet], ...]:
        """(zone, the part's addresses in it), by zone name."""
        found = self._shares.get(part.id)
        if found is None:
            addresses = part.addresses
            owners: set[str] = set()
            for block in addresses.blocks():
                owners |= self.packets.index.owners(*block)
            owners.discard(UNASSIGNED)
            out = []
            for zone in sorted(owners):
                inside = addresses & self.zone_addresses(zone)
                if inside:
                    out.append((zone, inside))
            found = self._shares[part.id] = tuple(out)
        return found


class Placement:
    """Zone pairs of every flow, and the device crossings of each pair."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.packets = policy_packets(policy)
        self.topology: Topology = topology(policy)
        self.shares = Shares(self.packets)
        self._pairs: dict[tuple[int, int, int], list[ZonePair]] = {}

    def zone_pairs(self, flow: FlowPackets) -> list[ZonePair]:
        """The zone pairs of a flow (memoised: flows naming the same sides share them)."""
        if flow.empty:
            return []
        key = (flow.source.id, flow.destination.id, flow.services.families)
        found = self._pairs.get(key)
        if found is None:
            found = self._pairs[key] = self._zone_pairs(flow)
        return found

    def _zone_pairs(self, flow: FlowPackets) -> list[ZonePair]:
        """`zone_pairs`, not memoised (for one pass over the flows: the pairs are not kept)."""
        only = self.shares.only
        services = flow.services.families
        pairs = []
        for zs, source in self.shares.of(flow.source):
            source_families = _families(source) & services
            if not source_families:
                continue
            for zd, destination in self.shares.of(flow.destination):
                if zd == zs:
                    continue
                families = source_families & _families(destination)
                if families:
                    pairs.append(ZonePair(zs, zd, only(source, families), only(destination, families), families))
        return pairs


def placement(policy: Policy) -> Placement:
    """The policy's placement, built once and kept with the policy."""
    found = policy._members.get("placement")
    if found is None:
        found = policy._members["placement"] = Placement(policy)
    return found


def unenforceable_flows(policy: Policy) -> list[Diagnostic]:
    """E308: flows between zones that no device path connects, once the policy has devices."""
    if not policy.devices:
        return []
    place = placement(policy)
    where = place.topology
    findings = []
    unplaced: dict[tuple[str, str], str | None] = {}
    connected = len(set(where.component.values())) <= 1
    unattached = {name for name in policy.zones if name not in where.attachments}
    for flow, packets in zip(policy.flows, place.packets.flows()):
        if connected and not (unattached & (packets.source.owners | packets.destination.owners)):
            continue  # every zone the flow can touch is on one connected device graph (owners: a superset)
        problems = []
        for pair in place.zone_pairs(packets):
            key = (pair.source_zone, pair.destination_zone)
            reason = unplaced[key] if key in unplaced else unplaced.setdefault(key, where.unplaced(*key))
            if reason is not None:
                problems.append((pair, reason))
        if not problems:
            continue
        pair, reason = problems[0]
        more = f" (and {len(problems) - 1} more zone pair{'s' * (len(problems) > 2)})" if len(problems) > 1 else ""
        findings.append(Diagnostic(
            "E308",
            f"no device can enforce this flow from zone '{pair.source_zone}' to zone '{pair.destination_zone}': "
            f"{reason}{more}",
            flow.span,
            "bind both zones to devices (`interface IFNAME zone NAME`) and link those devices "
            "(`interface IFNAME link DEVICE` at both ends)",
        ))
    return findings


def topology_findings(policy: Policy) -> list[Diagnostic]:
    """E305, E306, E307, W404: what is wrong with the devices' links and bindings."""
    if not policy.devices:
        return []
    return list(topology(policy).diagnostics)
