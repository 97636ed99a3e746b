"""Packet sets: the algebra the packet-level checks use (see `verify.packet_checks`, docs/packets.md).

* `space.PacketSpace`: packet sets as BDDs (CUDD via `dd.cudd`) over the address family, source
  and destination address, protocol and L4 value (port, or icmp type and code); addresses
  exact (128 bits) or as a policy's address atoms.
* `flows.PolicyPackets` / `flows.policy_packets(policy)`: the packet sets of a policy's endpoints,
  services and flows, `(source − except from) × (destination − except to) × services`, as parts
  (address intervals, service atoms) with relations between flows computed on them, and BDDs
  made on demand.
* `addresses`: interval arithmetic on addresses (`AddressSet`), the private ranges, atoms, and
  the index of which zone owns which addresses.
* `boxes.BoxSpace`: the interval-box representation measured against the BDDs (`bench`).
"""

from .addresses import PRIVATE, AddressAtoms, AddressSet, OwnerIndex
from .flows import FlowPackets, Part, PolicyPackets, policy_packets
from .space import Packet, PacketSpace, atoms_for

__all__ = [
    "PRIVATE",
    "AddressAtoms",
    "AddressSet",
    "FlowPackets",
    "OwnerIndex",
    "Packet",
    "PacketSpace",
    "Part",
    "PolicyPackets",
    "atoms_for",
    "policy_packets",
]
