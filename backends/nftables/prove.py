"""Proof that a ruleset, as the kernel holds it, is the device's intent: load it into a network
namespace of its own, read it back (`nft -j list table`), interpret the JSON (interpret.py, which
shares no code with render.py) and compare (`septum.compiler.devices.prove`)."""

from __future__ import annotations

from septum.compiler.devices.backend import BackendFailure, Options
from septum.compiler.devices.intent import DeviceIntent
from septum.compiler.devices.prove import DeviceSpace, Proof, compare

from .tool import load_in_sandbox


def prove_document(device: DeviceIntent, document: dict, table: str) -> Proof:
    """Prove a table read back from a kernel (`nft -j list table inet TABLE`) equal to the intent."""
    from .interpret import Unsupported, accepted, interface_names, trace

    names = {interface.name for interface in device.interfaces} | interface_names(document, table)
    space = DeviceSpace(names)
    try:
        accepting = accepted(document, space, table)
    except Unsupported as error:
        raise BackendFailure(f"the ruleset the kernel holds cannot be interpreted exactly: {error}") from error
    proof = compare(device, space, accepting, lambda packet: trace(document, space, packet, table))
    proof.method = "in a kernel"
    return proof


def prove(device: DeviceIntent, config: bytes, options: Options) -> Proof:
    return prove_document(device, load_in_sandbox(config, options.table), options.table)
