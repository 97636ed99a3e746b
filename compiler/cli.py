"""The `septum` command line.

Exit codes (every command): 0 clean; 1 policy findings (or, with --strict, warnings; for
`fmt --check`, files that need formatting); 2 input errors (the zone files cannot be read as a
policy, or bad arguments); 3 an internal error in Septum itself (please report it).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .files import write_atomically
from .cli_options import AS_OF_OPTION, DISABLE_OPTION, PATH_ARG, as_of_date
from .guard import guard as _guard, say


def _version() -> str:
    from septum import __version__

    return __version__




@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=_version(), prog_name="septum", message="%(prog)s %(version)s")
def main() -> None:
    """Septum: segmentation policy compiler for clinical networks.

    Zone files (*.septum) in a directory tree say which zones exist and which data may move
    between them. Septum checks and verifies them, formats them, draws the intent graph,
    compiles them into device configurations and applies those.

    Exit codes: 0 clean, 1 findings, 2 input errors, 3 internal error.
    """


def _formats() -> list[str]:
    from .reports import FORMATS

    return list(FORMATS)


@main.command()
@PATH_ARG
@click.option("--format", "output_format", type=click.Choice(_formats()), default="human", show_default=True,
              help="human: snippets with carets; json: stable report; sarif: SARIF 2.1.0 for code scanning; "
                   "markdown: a pull-request comment; github: workflow annotations.")
@click.option("--strict", is_flag=True, help="Fail (exit 1) on warnings too.")
@AS_OF_OPTION
@DISABLE_OPTION
@click.option("--no-verify", is_flag=True, help="Only parse and validate; skip assertions and checks.")
@_guard
def check(path: Path, output_format: str, strict: bool, as_of: str | None, disabled: tuple[str, ...],
          no_verify: bool) -> None:
    """Parse, validate and verify the policy under PATH (default ./zones).

    Verification proves the assertions, requirements and baseline checks over the intent
    (where sensitive data can go, who can reach whom) and applies waivers.

    Exit 0 if clean (warnings and waived findings allowed), 1 on findings, 2 on input errors.
    """
    from .api import load_policy
    from .reports import Report, render

    import gc

    when = as_of_date(as_of)
    result = load_policy(path, graph=False)
    if not no_verify and result.exit_status() != 2:
        from .verify import verify

        gc.disable()  # as while loading: many small objects, no cycles worth collecting mid-run
        result.diagnostics = sorted(result.diagnostics + verify(result.policy, when, set(disabled)),
                                    key=lambda d: d.sort_key())
    status = result.exit_status(strict)
    policy = result.policy
    stats = {
        "zones": sum(1 for z in policy.zones.values() if not z.builtin),
        "hosts": len(policy.hosts),
        "flows": len(policy.flows),
        "assertions": len(policy.assertions) + len(policy.requirements),
        "devices": len(policy.devices),
    }
    report = Report(result.diagnostics, result.texts, status, stats, str(path))
    say(render(output_format, report))
    sys.exit(status)


@main.command()
@PATH_ARG
@click.option("--check", "check_only", is_flag=True, help="Change nothing; exit 1 if any file would be reformatted.")
@click.option("--diff", "show_diff", is_flag=True, help="Change nothing; print what would change as a unified diff.")
@_guard
def fmt(path: Path, check_only: bool, show_diff: bool) -> None:
    """Rewrite zone files under PATH in the one canonical layout.

    Formatting never changes the meaning: the formatted files parse to the same model (and
    every comment is kept). Files with syntax errors are left alone and reported (exit 2).
    """
    import difflib

    from .loader import discover
    from .parser import parse_text
    from .printer import format_file
    from .render import render_diagnostic

    _, files = discover(path)
    changed, broken = [], False
    for file in files:
        text = file.read_text(encoding="utf-8")
        source, diagnostics, _ = parse_text(str(file), text)
        if any(d.exit_class == "input" for d in diagnostics):
            broken = True
            for diagnostic in diagnostics:
                click.echo(render_diagnostic(diagnostic, {str(file): text}) + "\n", err=True)
            continue
        formatted = format_file(source)
        if formatted == text:
            continue
        changed.append(file)
        if show_diff:
            click.echo("".join(difflib.unified_diff(
                text.splitlines(True), formatted.splitlines(True), f"a/{file}", f"b/{file}")), nl=False)
        if not (check_only or show_diff):
            write_atomically(file, formatted)
    dry_run = check_only or show_diff
    for file in changed:
        click.echo(f"{'would reformat' if dry_run else 'reformatted'} {file}", err=True)
    outcome = "would be reformatted" if dry_run else "reformatted"
    click.echo(f"septum fmt: {len(changed)} of {len(files)} file{'s' * (len(files) != 1)} {outcome}", err=True)
    if broken:
        sys.exit(2)
    sys.exit(1 if (check_only or show_diff) and changed else 0)


@main.command()
@PATH_ARG
@click.option("--format", "output_format", type=click.Choice(["dot", "json"]), default="dot", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of stdout.")
@_guard
def graph(path: Path, output_format: str, output: Path | None) -> None:
    """Print the intent graph: zones and hosts, one edge per allowed flow."""
    from .api import load_policy
    from .export import graph_dot, graph_json
    from .render import render_human

    result = load_policy(path)
    if result.exit_status() == 2:
        say(render_human(result.diagnostics, result.texts), err=True)
        sys.exit(2)
    text = graph_dot(result.graph) if output_format == "dot" else graph_json(result.graph)
    if output is None:
        say(text)
    else:
        write_atomically(output, text)
    sys.exit(0)


@main.command()
@click.argument("source")
@click.argument("destination")
@click.argument("service", required=False)
@click.option("--path", "path", default="zones", show_default=True,
              type=click.Path(exists=True, path_type=Path), help="The policy tree.")
@click.option("--format", "output_format", type=click.Choice(["human", "json"]), default="human", show_default=True)
@_guard
def explain(source: str, destination: str, service: str | None, path: Path, output_format: str) -> None:
    """Explain whether SOURCE may connect to DESTINATION (zones, hosts or addresses), optionally
    on SERVICE: the rules that allow it (with lines), the data that may move, the assertions that
    cover the pair, and a lateral path when there is no direct rule.

    Exit 0 if allowed, 1 if denied, 2 on input errors or an unknown name.
    """
    from .api import load_policy
    from .explain import UnknownEndpoint, explain as run, render_json, render_text
    from .render import render_human

    result = load_policy(path, graph=False)
    if result.exit_status() == 2:
        say(render_human(result.diagnostics, result.texts), err=True)
        sys.exit(2)
    try:
        explanation = run(result.policy, source, destination, service)
    except UnknownEndpoint as error:
        click.echo(f"septum explain: {error}", err=True)
        sys.exit(2)
    say((render_text if output_format == "human" else render_json)(explanation))
    sys.exit(0 if explanation.allowed else 1)


def _add_diff_command() -> None:
    try:
        from .cli_diff import diff
    except ImportError:  # pragma: no cover - the diff command is optional while it is built
        return
    main.add_command(diff)


_add_diff_command()


def _add_compile_commands() -> None:
    from .cli_compile import apply_command, compile_command

    main.add_command(compile_command)
    main.add_command(apply_command)


_add_compile_commands()


if __name__ == "__main__":
    main()


def run() -> None:
    """The console entry point. A loaded policy is millions of objects, and freeing them one
    by one at exit takes seconds and changes nothing, so once the output is flushed the
    process ends without that teardown."""
    import os

    try:
        main()
        status = 0
    except SystemExit as leaving:
        code = leaving.code
        if code is None or isinstance(code, int):
            status = code or 0
        else:
            print(code, file=sys.stderr)
            status = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # the reader went away (`septum check | head`): nothing left to say
        pass
    os._exit(status)
