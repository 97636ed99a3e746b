"""The nftables backend: a stateful forward filter in one `table inet` Septum owns.

`render` writes the ruleset (render.py, templates/ruleset.nft.j2); `prove` loads it into a kernel
in a network namespace of its own, reads it back as JSON and proves it equal to the intent
(interpret.py reads the JSON, independently of render.py); `apply` loads a ruleset into the
current network namespace in one transaction (tool.py).
"""

from __future__ import annotations

from septum.compiler.devices.backend import Options, Output
from septum.compiler.devices.intent import DeviceIntent


class NftablesBackend:
    kind = "nftables"
    suffix = ".nft"

    def render(self, device: DeviceIntent, options: Options) -> Output:
        from .render import render

        return render(device, options)

    def prove(self, device: DeviceIntent, output: Output, options: Options):
        from .prove import prove

        return prove(device, output.config.data, options)

    def apply(self, device_name: str, config: bytes, options: Options) -> str:
        from .tool import apply

        return apply(device_name, config, options.table)


backend = NftablesBackend()
