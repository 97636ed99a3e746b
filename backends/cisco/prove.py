"""Proof that a Cisco IOS config is the device's intent: read it back with a real Cisco
configuration parser and evaluate it (interpret.py, which shares no code with render.py), then
compare (`septum.compiler.devices.prove`).

The proof covers every packet between interfaces the config makes zone members, and between those
and any other interface (ZBF drops those). A packet between two interfaces that neither the zone
files nor the config name is outside it: ZBF passes such traffic, and no config Septum writes can
change that (docs/backends.md: declare every routed interface of the router).
"""

from __future__ import annotations

from septum.compiler.devices.backend import BackendFailure, ProofUnavailable
from septum.compiler.devices.intent import DeviceIntent
from septum.compiler.devices.prove import OTHER, DeviceSpace, Proof, compare


def prove(device: DeviceIntent, config: bytes) -> Proof:
    try:
        import ciscoconfparse2  # noqa: F401 - the parser the evaluator reads with
    except ImportError as error:
        raise ProofUnavailable("the Cisco configuration parser is not installed "
                               "(pip install 'septum[cisco]')") from error
    from .interpret import Unsupported, accepted, interface_names, read, trace

    try:
        parsed = read(config.decode("utf-8"))
        names = {interface.name for interface in device.interfaces} | interface_names(parsed)
        space = DeviceSpace(names)
        accepting = accepted(parsed, space)
    except Unsupported as error:
        raise BackendFailure(f"the config cannot be evaluated exactly: {error}") from error
    outside = space.interface("i", OTHER) & space.interface("o", OTHER)
    proof = compare(device, space, accepting, lambda packet: trace(parsed, space, packet), scope=~outside)
    proof.method = "by a Cisco config parser and evaluator"
    if proof.detail is not None:
        proof.detail["outside"] = "packets between two interfaces the config does not name (ZBF passes them)"
    return proof
