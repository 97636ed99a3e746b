"""`septum diff`: the semantic change between two revisions of a policy (see docs/diff.md).

Registered on the `septum` group in cli.py with `main.add_command(diff)`.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

from .guard import guard as _guard, say


_COLOURS = {"+": "green", "-": "red", "~": "yellow"}


def _paint(text: str, sign: str) -> str:
    return click.style(text, fg=_COLOURS.get(sign))


def _fail(message: str) -> None:
    click.echo(f"septum diff: error: {message}", err=True)
    sys.exit(2)


@click.command("diff")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--base", metavar="REV", help="Take OLD from this git revision of PATH (default PATH: zones).")
@click.option("--head", metavar="REV", help="With --base: take NEW from this revision too (default: the working tree).")
@click.option("--format", "output_format", type=click.Choice(["human", "json", "markdown"]), default="human",
              show_default=True, help="human: grouped +/- lines; json: stable report (docs/diff.md); "
                                      "markdown: a pull-request comment.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are changes (input errors still exit 2).")
@click.option("--as-of", "as_of", metavar="YYYY-MM-DD",
              help="Judge waiver expiry on this date on both sides (default: today).")
@click.option("--disable", "disabled", multiple=True, metavar="CHECK",
              help="Turn a baseline verification check off on both sides (repeatable).")
@click.option("--no-verify", is_flag=True,
              help="Compare flows, data reach, definitions and `septum check` findings only; skip verification.")
@_guard
def diff(paths: tuple[Path, ...], base: str | None, head: str | None, output_format: str, exit_zero: bool,
         as_of: str | None, disabled: tuple[str, ...], no_verify: bool) -> None:
    """Show what a policy change does: flows, data reach, verdicts, definitions.

    \b
      septum diff OLD NEW              two directories (or files) of zone files
      septum diff --base REV [PATH]    PATH (default ./zones) at git revision REV
                                       against the working tree
      septum diff --base A --head B [PATH]   two revisions

    The diff is computed from the resolved policies, never from the text: reordering
    statements, moving them between files or reformatting gives no change.

    Exit codes: 0 no semantic change, 1 changes (0 with --exit-zero), 2 input errors
    in either side (or bad arguments, a bad revision, a missing path), 3 internal error.
    """
    import gc

    from .semdiff import DiffInputError, diff_paths, diff_revisions, render_human, render_json, render_markdown

    # Two loaded policies are millions of objects, kept to the end, and the process ends without
    # freeing them (`cli.run`): a collection would only walk them. (`diff_paths` pauses the
    # collector itself for its own work, and restores it for callers that keep running.)
    gc.disable()

    if base is None:
        if head is not None:
            _fail("--head needs --base (the revision to compare it with)")
        if len(paths) != 2:
            _fail("give two paths, OLD and NEW, or --base REV [PATH] to compare with a git revision")
    elif len(paths) > 1:
        _fail("with --base, give at most one PATH (the zones directory; default ./zones)")
    day = None
    if as_of is not None:
        try:
            day = dt.date.fromisoformat(as_of)
        except ValueError:
            _fail(f"--as-of must be a date written YYYY-MM-DD, not '{as_of}'")
    if disabled:
        try:
            from .verify.names import CHECKS
        except ImportError:
            CHECKS = None
        unknown = [name for name in disabled if CHECKS is not None and name not in CHECKS]
        if unknown:
            _fail(f"unknown check '{unknown[0]}'; checks: {', '.join(sorted(CHECKS))}")
    try:
        if base is None:
            result = diff_paths(paths[0], paths[1], as_of=day, disabled=frozenset(disabled), verify=not no_verify)
        else:
            result = diff_revisions(paths[0] if paths else Path("zones"), base, head, as_of=day,
                                    disabled=frozenset(disabled), verify=not no_verify)
    except DiffInputError as error:
        _fail(str(error))
    status = result.exit_code(exit_zero)
    if output_format == "json":
        say(render_json(result, exit_zero))
    elif output_format == "markdown":
        say(render_markdown(result))
    elif result.has_errors:
        say(render_human(result), err=True)
    else:
        say(render_human(result, _paint))
    sys.exit(status)


if __name__ == "__main__":
    diff()
