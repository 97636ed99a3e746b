"""The OpenFlow backend: an Open vSwitch flow table, stateful (conntrack), conjunctive match.

`render` writes the flows and a cookie map (render.py, templates/flows.of.j2); `prove` installs
them in a private Open vSwitch (userspace datapath, in a network namespace of its own), reads the
table back (`ovs-ofctl dump-flows`), interprets it independently of render.py (interpret.py) and
proves it equal to the intent; `apply` installs flows on a local bridge in one bundle (tool.py).
"""

from __future__ import annotations

from septum.compiler.devices.backend import Options, Output
from septum.compiler.devices.intent import DeviceIntent


class OpenFlowBackend:
    kind = "openflow"
    suffix = ".flows"

    def render(self, device: DeviceIntent, options: Options) -> Output:
        from .render import render

        return render(device, options)

    def prove(self, device: DeviceIntent, output: Output, options: Options):
        from .prove import prove

        return prove(device, output.config.data)

    def apply(self, device_name: str, config: bytes, options: Options) -> str:
        from .tool import apply

        return apply(device_name, config, options.bridge)


backend = OpenFlowBackend()
