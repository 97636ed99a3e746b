"""Proof that a flow table, as Open vSwitch holds it, is the switch's intent: install it in a
private switch, read it back (`ovs-ofctl dump-flows`), interpret that (interpret.py, which shares
no code with render.py) and compare (`septum.compiler.devices.prove`).

The proof covers packets that leave by another port than they came in by: OpenFlow never sends
a packet back out of its ingress port (render.py refuses rules that would need it).
"""

from __future__ import annotations

from septum.compiler.devices.backend import BackendFailure
from septum.compiler.devices.intent import DeviceIntent
from septum.compiler.devices.prove import DeviceSpace, Proof, compare

from .render import OVS_TRACKED_ICMP
from .tool import load_in_sandbox


def prove_dump(device: DeviceIntent, dump: str) -> Proof:
    from .interpret import Unsupported, accepted, parse, port_names, trace

    try:
        flows = parse(dump)
        space = DeviceSpace({interface.name for interface in device.interfaces} | port_names(flows))
        accepting = accepted(flows, space)
    except Unsupported as error:
        raise BackendFailure(f"the flow table the switch holds cannot be interpreted exactly: {error}") from error
    hairpin = space.false
    for name in space.names:
        hairpin = hairpin | (space.interface("i", name) & space.interface("o", name))
    proof = compare(device, space, accepting, lambda packet: trace(flows, space, packet), scope=~hairpin,
                    tracked=OVS_TRACKED_ICMP)
    proof.method = "in Open vSwitch"
    return proof


def prove(device: DeviceIntent, config: bytes) -> Proof:
    return prove_dump(device, load_in_sandbox(config))
