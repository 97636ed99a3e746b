"""`septum compile` and `septum apply` (registered on the `septum` group in cli.py).

Exit codes: 0 every asked-for device written (and proven, with --prove); 1 policy findings, or
some device could not be compiled exactly (nothing written for it: fail closed) or proven here;
2 input errors or bad arguments; 3 a config not proven equal to its intent, or another internal
error (a bug in Septum).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .cli_options import AS_OF_OPTION, DISABLE_OPTION, PATH_ARG, as_of_date
from .guard import guard as _guard, say

# the figures of a device's summary a line shows, in this order (each backend has some of them)
FIGURES = {"chains": "chains", "rules": "rules", "sets": "sets", "elements": "elements", "acls": "ACLs", "aces": "ACEs",
           "object_groups": "object-groups", "zone_pairs": "zone-pairs", "flows": "flows", "conjunctions": "conjunctions",
           "lines": "lines", "bytes": "bytes"}


def _device_line(outcome) -> str:
    s = outcome.summary
    figures = ", ".join(f"{s[k]:,} {label}" for k, label in FIGURES.items() if k in s)
    if outcome.status == "written":
        text = f"{outcome.name} ({outcome.kind}): wrote {', '.join(outcome.files)}: {figures}"
    elif outcome.status == "compiled":
        text = f"{outcome.name} ({outcome.kind}): compiled (not written): {figures}"
    else:
        text = f"{outcome.name} ({outcome.kind}): not compiled, nothing written"
    if outcome.proof is not None and outcome.proof.equal:
        text += f"; proven equal to the intent {outcome.proof.method}".rstrip()
    return text


def _result_json(result) -> str:
    from .render import diagnostic_json

    devices = []
    for outcome in result.devices:
        proof = None
        if outcome.proof is not None:
            proof = {"equal": outcome.proof.equal, "problem": outcome.proof.problem or None,
                     "counterexample": outcome.proof.counterexample.describe() if outcome.proof.counterexample else None,
                     "target_rule": outcome.proof.target_rule or None, "intent_rule": outcome.proof.intent_rule or None}
        devices.append({"name": outcome.name, "kind": outcome.kind, "status": outcome.status, "files": outcome.files,
                        **outcome.summary, "proof": proof,
                        "diagnostics": [diagnostic_json(d) for d in outcome.diagnostics]})
    revision = result.revision
    document = {
        "version": 1,
        "exit_code": result.status,
        "policy": {"path": str(result.path),
                   "revision": None if revision is None else {"sha256": revision.digest, "git": revision.commit,
                                                              "uncommitted_changes": revision.dirty}},
        "devices": devices,
        "diagnostics": [diagnostic_json(d) for d in result.diagnostics],
        "message": result.message or None,
    }
    return json.dumps(document, indent=2) + "\n"


@click.command("compile")
@PATH_ARG
@click.option("--device", "devices", multiple=True, metavar="NAME", help="Compile only this device (repeatable).")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("build/septum"),
              show_default=True, help="Write one config per device into this directory.")
@click.option("--format", "output_format", type=click.Choice(["human", "json"]), default="human", show_default=True,
              help="human: a line per device and the diagnostics; json: a summary (devices, rules, elements, sizes).")
@click.option("--prove", is_flag=True,
              help="Load each config into the real target in a sandbox (nftables: a network namespace of its own), "
                   "read it back and prove it equal to the intent before writing it. Needs the target's tools and root.")
@click.option("--no-verify", is_flag=True,
              help="Compile even though verification finds problems (assertions, baseline checks). Input errors, "
                   "overlapping zones, hosts outside their zone and topology errors still stop it.")
@AS_OF_OPTION
@DISABLE_OPTION
@_guard
def compile_command(path: Path, devices: tuple[str, ...], out: Path, output_format: str, prove: bool, no_verify: bool,
                    as_of: str | None, disabled: tuple[str, ...]) -> None:
    """Compile the policy under PATH (default ./zones) into one configuration per device.

    Configs are deterministic byte for byte and written atomically; each rule cites its zone-file
    line, and the header names the policy revision. A policy that fails `septum check` is not
    compiled (unless --no-verify); a device whose backend cannot express its intent exactly
    gets no file (fail closed).

    Exit 0 all written; 1 findings, or a device not compiled; 2 input errors; 3 a config not
    proven equal to its intent (a bug in Septum).
    """
    from .devices.pipeline import compile_policy
    from .render import render_diagnostic, render_human

    result = compile_policy(path, out, devices, verify=not no_verify, as_of=as_of_date(as_of),
                            disabled=frozenset(disabled), prove=prove)
    if output_format == "json":
        say(_result_json(result))
        sys.exit(result.status)
    if result.message:
        click.echo(f"septum compile: error: {result.message}", err=True)
        sys.exit(result.status)
    if result.intent is None:
        say(render_human(result.diagnostics, result.texts), err=True)
        click.echo("septum compile: nothing written: fix the problems above first"
                   + ("" if no_verify else " (or skip verification with --no-verify)"), err=True)
        sys.exit(result.status)
    if not result.devices:
        say("septum compile: the policy declares no device, so there is nothing to compile "
            "(declare them with `firewall NAME nftables { interface IFNAME zone ZONE }`)\n")
        sys.exit(result.status)
    blocks = []
    for outcome in result.devices:
        blocks.extend(render_diagnostic(d, result.texts) for d in outcome.diagnostics)
        if outcome.proof is not None and not outcome.proof.equal:
            blocks.append(outcome.proof.describe())
    if blocks:
        say("\n\n".join(blocks) + "\n\n", err=True)
    say("".join(f"septum compile: {_device_line(o)}\n" for o in result.devices))
    written = sum(1 for o in result.devices if o.status == "written")
    failed = len(result.devices) - written
    tail = f"; {failed} not compiled (fail closed)" if failed else ""
    say(f"septum compile: {written} of {len(result.devices)} device{'s' * (len(result.devices) != 1)} "
        f"written to {out}{tail}\n", err=bool(failed))
    sys.exit(result.status)


@click.command("apply")
@click.argument("device")
@click.option("--config", "config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The config `septum compile` wrote (default: compile DEVICE from --path now).")
@click.option("--path", "path", default="zones", show_default=True, type=click.Path(exists=True, path_type=Path),
              help="The policy tree (it says which backend DEVICE has).")
@click.option("--no-verify", is_flag=True, help="As for compile: apply even though verification finds problems.")
@click.option("--bridge", default="septum", show_default=True, help="openflow: the local Open vSwitch bridge.")
@AS_OF_OPTION
@_guard
def apply_command(device: str, config: Path | None, path: Path, no_verify: bool, bridge: str,
                  as_of: str | None) -> None:
    """Apply DEVICE's configuration to the target on this machine, atomically.

    nftables: `nft -f` in the current network namespace, one transaction that recreates Septum's
    table; a config that fails to load leaves the running ruleset exactly as it was. openflow:
    `ovs-ofctl --bundle replace-flows` on a local bridge, one transaction likewise. cisco-ios:
    there is no router here; load the file on the router (docs/backends.md, rollout).

    Exit 0 applied; 1 not applied (the target refused it, or the device cannot be compiled);
    2 input errors or bad arguments; 3 internal error.
    """
    from .devices.backend import BackendFailure, Options, ProofUnavailable, backend_for
    from .devices.pipeline import compile_device, load_and_compile
    from .render import render_diagnostic, render_human

    _, result = load_and_compile(path, (device,), verify=not no_verify, as_of=as_of_date(as_of))
    if result.message:
        click.echo(f"septum apply: error: {result.message}", err=True)
        sys.exit(result.status)
    if result.intent is None:
        say(render_human(result.diagnostics, result.texts), err=True)
        click.echo("septum apply: nothing applied: fix the problems above first", err=True)
        sys.exit(result.status)
    intent = result.intent.devices[device]
    backend = backend_for(intent.kind)
    options = Options(bridge=bridge)
    if backend is None or not hasattr(backend, "apply"):
        hint = getattr(backend, "apply_elsewhere", "")
        click.echo(f"septum apply: the {intent.kind} backend cannot apply a config on this machine"
                   + (f": {hint}" if hint else ""), err=True)
        sys.exit(1)
    if config is not None:
        data = config.read_bytes()
    else:
        outcome = compile_device(intent, options, prove=False)
        if outcome.status != "compiled":
            say("\n\n".join(render_diagnostic(d, result.texts) for d in outcome.diagnostics) + "\n", err=True)
            sys.exit(1)
        data = next(a.data for a in outcome.artifacts if a.role == "config")
    try:
        message = backend.apply(device, data, options)
    except (BackendFailure, ProofUnavailable) as error:
        click.echo(f"septum apply: {error}", err=True)
        sys.exit(1)
    say(f"septum apply: {message}\n")
    sys.exit(0)
