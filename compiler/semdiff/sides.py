"""Reading one side of a diff: where its files are, and loading them with a shared parse cache."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Location:
    """Where a side's files are on disk: load `target` (a directory or file) from `cwd`."""

    cwd: Path
    target: str


def location(path: Path) -> Location:
    path = Path(os.path.abspath(path))
    if path.is_dir():
        return Location(path, ".")
    return Location(path.parent, path.name)


class ParseCache:
    """Parse each distinct (file name, text) once per diff: most files of two revisions are equal.

    Both sides are loaded from their own root with file names relative to it, so an unchanged
    file has the same name and text on both sides, and its parsed model (immutable) is shared.
    """

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], tuple] = {}

    @contextlib.contextmanager
    def installed(self):
        from .. import loader

        original = loader.parse_text

        def cached(path: str, text: str):
            key = (path, text)
            hit = self.entries.get(key)
            if hit is None:
                hit = original(path, text)
                self.entries[key] = hit
            source, diagnostics, broken = hit
            return source, list(diagnostics), set(broken)

        loader.parse_text = cached
        try:
            yield
        finally:
            loader.parse_text = original


def load_side(location: Location, cache: ParseCache | None = None):
    """Parse, resolve and check one side (`load_policy`, with file names relative to its root)."""
    from ..api import load_policy

    cache = cache or ParseCache()
    with contextlib.chdir(location.cwd), cache.installed():
        return load_policy(Path(location.target), graph=False)
