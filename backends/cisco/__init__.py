"""The Cisco IOS backend: a zone-based policy firewall, stateful, one security zone per interface.

`render` writes the configuration (render.py, templates/config.ios.j2); `prove` reads it back
with a real Cisco configuration parser, evaluates it with an evaluator written from Cisco's
documented semantics (interpret.py, which shares no code with render.py) and proves it equal to
the intent. There is no router here to apply it to: rollout.py writes the sequence that replaces
a running version without a moment unfiltered.
"""

from __future__ import annotations

from septum.compiler.devices.backend import Options, Output
from septum.compiler.devices.intent import DeviceIntent


class CiscoIosBackend:
    kind = "cisco-ios"
    suffix = ".ios"
    apply_elsewhere = ("load the file `septum compile` wrote on the router, in the order docs/backends.md "
                       "(Cisco IOS, rollout) gives; septum.backends.cisco.rollout writes the sequence from the "
                       "running config")

    def render(self, device: DeviceIntent, options: Options) -> Output:
        from .render import render

        return render(device, options)

    def prove(self, device: DeviceIntent, output: Output, options: Options):
        from .prove import prove

        return prove(device, output.config.data)


backend = CiscoIosBackend()
