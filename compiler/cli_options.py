"""Arguments and option values the `septum` commands share."""

from __future__ import annotations

from pathlib import Path

import click

PATH_ARG = click.argument(
    "path", required=False, default="zones", type=click.Path(exists=True, file_okay=True, dir_okay=True, path_type=Path)
)


def as_of_date(value: str | None):
    """The date of `--as-of YYYY-MM-DD`, or None for today."""
    import datetime as dt

    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a date; write YYYY-MM-DD", param_hint="--as-of") from None


def check_names() -> list[str]:
    from .verify.names import BASELINE

    return BASELINE


DISABLE_OPTION = click.option(
    "--disable", "disabled", multiple=True, type=click.Choice(check_names()), metavar="CHECK",
    help="Turn off a baseline check by name (repeatable): " + ", ".join(check_names()) + ".")

AS_OF_OPTION = click.option("--as-of", "as_of", metavar="YYYY-MM-DD",
                            help="Judge waiver expiry as of this date (default: today).")
