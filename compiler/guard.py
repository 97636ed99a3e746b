"""The last line of defence for every command: no traceback reaches the user."""

from __future__ import annotations

import functools
import sys

import click

EXIT_INTERNAL = 3


def guard(command):
    """An unexpected exception is an internal error: a one-line message and exit 3."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except BrokenPipeError:
            sys.exit(0)
        except Exception as error:  # noqa: BLE001 - the last line of defence
            click.echo(f"septum: internal error: {type(error).__name__}: {error}", err=True)
            click.echo("septum: this is a bug in Septum, not in your zone files; please report it", err=True)
            sys.exit(EXIT_INTERNAL)

    return wrapper
