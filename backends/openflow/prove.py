"""Proof that a flow table, as Open vSwitch holds it, is the switch's intent: install it in a
private switch, read it back (`ovs-ofctl dump-flows`), interpret that (interpret.py, which shares
no code with render.py) and compare (`septum.compiler.devices.prove`).

The intent is held to what a switch can do at all: send a packet to the port its destination is
reached through, never back out of the port it came in by (render.py refuses rules that would
need that). What the switch accepts is compared in full: a packet it sends anywhere else is a
counterexample.
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
    proof = compare(device, space, accepting, lambda packet: trace(flows, space, packet),
                    tracked=OVS_TRACKED_ICMP, feasible=_forwardable(device, space))
    proof.method = "in Open vSwitch"
    return proof


def _forwardable(device: DeviceIntent, space: DeviceSpace):
    """What a switch can forward at all: a packet to the port its destination zone is reached
    through (by the intent's own routing, `device.reach`), never back out of its ingress port.
    Replies to destinations no zone of the device's rules owns cannot belong to a connection it
    admitted."""
    node = space.false
    for port, zones in device.reach.items():
        for zone in zones:
            addresses = device.zones.get(zone)
            if addresses is not None:
                node = node | (space.interface("o", port) & space.addresses("d", addresses))
    for name in space.names:
        node = node & ~(space.interface("i", name) & space.interface("o", name))
    return node


def prove(device: DeviceIntent, config: bytes) -> Proof:
    return prove_dump(device, load_in_sandbox(config))
