"""`septum compile`: load and verify the policy, compile each device's intent, hand it to its
backend, prove it where asked, and write the files atomically.

Fail closed at every step: a policy with input errors (exit 2) or findings (exit 1) is not
compiled unless verification is skipped explicitly; problems that make the compiled intent itself
wrong or ambiguous (overlapping zones, a host outside its zone, the topology's errors, flows no
device can enforce) stop it even then; a device whose backend is missing or cannot express its
intent exactly gets no file, and the others are still written.
"""

from __future__ import annotations

import datetime as dt
import difflib
import multiprocessing
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..collector import paused
from ..diagnostics import Diagnostic, exit_status
from ..files import write_atomically
from .backend import BackendFailure, Options, ProofUnavailable, backend_for, known_kinds
from .intent import CompiledIntent, _location, compiled_intent
from .prove import Proof
from .revision import policy_revision

# Problems that make the compiled intent wrong or ambiguous: never compiled through, verified or not.
BLOCKING = frozenset({"E301", "E302", "E305", "E306", "E307", "E308"})
EXIT_INTERNAL = 3


@dataclass
class DeviceResult:
    name: str
    kind: str
    status: str  # written, failed (fail closed), skipped (not asked for)
    files: list[str] = field(default_factory=list)
    artifacts: list = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    proof: Proof | None = None


@dataclass
class CompileResult:
    path: Path
    status: int
    diagnostics: list[Diagnostic]  # of the policy: why nothing was compiled, or the warnings
    texts: dict[str, str]
    devices: list[DeviceResult] = field(default_factory=list)
    revision: object = None
    intent: CompiledIntent | None = None
    message: str = ""  # a problem with the command itself (an unknown --device)


def load_and_compile(path: Path, devices: tuple[str, ...] = (), verify: bool = True, as_of: dt.date | None = None,
                     disabled: frozenset[str] = frozenset()):
    """The loaded policy and its compiled intent, or a result saying why there is none."""
    from ..api import load_policy

    loaded = load_policy(path, graph=False)
    diagnostics = list(loaded.diagnostics)
    if verify and loaded.exit_status() != 2:
        from ..verify import verify as run_verify

        diagnostics = sorted(diagnostics + run_verify(loaded.policy, as_of, set(disabled)), key=Diagnostic.sort_key)
    result = CompileResult(path, exit_status(diagnostics), diagnostics, loaded.texts)
    if result.status == 2:
        return loaded, result
    if result.status == 1 and verify:
        return loaded, result
    blocking = [d for d in diagnostics if d.code in BLOCKING and not d.waived_by]
    if blocking:
        result.status = 1
        return loaded, result
    policy = loaded.policy
    unknown = [name for name in devices if name not in policy.devices]
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(policy.devices), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; the policy's devices: {', '.join(sorted(policy.devices))}"
        result.status, result.message = 2, f"no device named '{unknown[0]}'{hint}"
        return loaded, result
    result.revision = policy_revision(path, loaded.texts, _location(policy))
    result.intent = compiled_intent(policy, result.revision)
    result.status = 0
    return loaded, result


def compile_policy(path: Path, out: Path | None, devices: tuple[str, ...] = (), verify: bool = True,
                   as_of: dt.date | None = None, disabled: frozenset[str] = frozenset(), prove: bool = False,
                   options: Options | None = None) -> CompileResult:
    """Compile the policy under `path`; write each device's files into `out` (None: write nothing)."""
    with paused(settle_after=True):  # millions of small objects and no cycles: a collection would walk them for nothing
        return _compile_policy(path, out, devices, verify, as_of, disabled, prove, options or Options())


def _compile_policy(path: Path, out: Path | None, devices: tuple[str, ...], verify: bool, as_of: dt.date | None,
                    disabled: frozenset[str], prove: bool, options: Options) -> CompileResult:
    _, result = load_and_compile(path, devices, verify, as_of, disabled)
    if result.intent is None:
        return result
    wanted = [name for name in result.intent.devices if not devices or name in devices]
    global _JOB
    _JOB = (result.intent, options, prove, out)
    try:
        rules = sum(len(result.intent.devices[name].rules) for name in wanted)
        workers = min(len(wanted), os.cpu_count() or 1) if rules >= PARALLEL_RULES else 1
        if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                result.devices = pool.map(_device_job, wanted, chunksize=1)
        else:
            result.devices = [_device_job(name) for name in wanted]
    finally:
        _JOB = None
    statuses = [0]
    for outcome in result.devices:
        if outcome.proof is not None and not outcome.proof.equal:
            statuses.append(EXIT_INTERNAL)
        elif outcome.status == "failed":
            statuses.append(1)
    result.status = max(statuses)
    return result


# Devices are compiled in parallel (forked workers that share the compiled intent and write their
# own files) once there is this much to render: below it, starting workers costs more.
PARALLEL_RULES = 20_000
_JOB = None  # (compiled intent, options, prove, output directory) for `_device_job`


def _device_job(name: str) -> DeviceResult:
    """Compile one device of `_JOB` and write its files; what comes back is small (no bytes)."""
    intent, options, prove, out = _JOB
    outcome = compile_device(intent.devices[name], options, prove)
    if outcome.status == "compiled" and out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for artifact in outcome.artifacts:
            target = out / artifact.name
            write_atomically(target, artifact.data)
            outcome.files.append(str(target))
        outcome.status = "written"
        outcome.artifacts = []  # written: a large policy's configs need not all be held at once
    return outcome


def compile_device(device, options: Options, prove: bool) -> DeviceResult:
    outcome = DeviceResult(device.name, device.kind, "failed")
    backend = backend_for(device.kind)
    if backend is None:
        known = ", ".join(known_kinds()) or "none"
        outcome.diagnostics.append(Diagnostic(
            "E601", f"no {device.kind} backend is installed: device '{device.name}' is not compiled",
            device.span, f"backends available: {known}; compile the others with `--device NAME`"))
        return outcome
    rendered = backend.render(device, options)
    outcome.diagnostics.extend(rendered.diagnostics)
    if any(d.severity.value == "error" for d in rendered.diagnostics) or not rendered.files:
        return outcome
    outcome.summary = dict(rendered.summary)
    outcome.artifacts = rendered.files
    if prove:
        prover = getattr(backend, "prove", None)
        if prover is None:
            outcome.diagnostics.append(Diagnostic(
                "E604", f"the {device.kind} backend cannot prove its output here", device.span,
                "compile without --prove"))
            return outcome
        try:
            outcome.proof = prover(device, rendered, options)
        except ProofUnavailable as error:
            outcome.diagnostics.append(Diagnostic(
                "E604", f"device '{device.name}' cannot be proven here: {error}", device.span,
                "run on a machine with the target's tools, as root, or compile without --prove"))
            return outcome
        except BackendFailure as error:
            outcome.proof = Proof(device.name, False, problem=str(error))
        if not outcome.proof.equal:
            outcome.diagnostics.append(Diagnostic(
                "E605", f"the {device.kind} config of device '{device.name}' is not proven equal to its intent: "
                f"{outcome.proof.problem}", device.span,
                "this is a bug in Septum, not in your zone files; please report it with the counterexample"))
            return outcome
    outcome.status = "compiled"
    return outcome
