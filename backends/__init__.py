"""Backends: one module per enforcement target.

A backend turns the compiled intent of one device (`septum.compiler.devices.intent.DeviceIntent`)
into that device's files. Each registers itself by kind under the entry-point group
`septum.backends` (pyproject.toml); the compiler finds them there and never imports this package
(the protocol: `septum.compiler.devices.backend`).
"""
