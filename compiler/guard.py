"""The last line of defence for every command: no traceback reaches the user."""

from __future__ import annotations

import functools
import os
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


def say(text: str, *, err: bool = False) -> None:
    """Write a command's output. A reader that stops reading (`septum check | head`) ends the
    output, not the verdict: what is left goes nowhere and the exit status still tells."""
    stream = sys.stderr if err else sys.stdout
    try:
        click.echo(text, nl=False, err=err)
        stream.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
