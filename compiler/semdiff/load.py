"""Loading one side of a diff: where its files are, and a parse cache shared by both sides."""

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

    def parse(self, path: str, text: str, parse_text=None) -> tuple:
        key = (path, text)
        hit = self.entries.get(key)
        if hit is None:
            if parse_text is None:
                from ..loader import parse_text
            hit = self.entries[key] = parse_text(path, text)
        return hit

    @contextlib.contextmanager
    def installed(self):
        from .. import loader

        original = loader.parse_text

        def cached(path: str, text: str):
            source, diagnostics, broken = self.parse(path, text, original)
            return source, list(diagnostics), set(broken)

        loader.parse_text = cached
        try:
            yield
        finally:
            loader.parse_text = original

    def parse_common(self, old: Location, new: Location) -> int:
        """Parse now the files both sides have (same name, same text); return the size of OLD's files.

        The files are found as the loader finds them (`loader.discover`, names relative to each
        side's root), so loading a side afterwards finds them here. Catalogue modules are left
        to the loader; files that cannot be read are left to it too (it reports them).
        """
        old_files, new_files = _files(old), _files(new)
        for key in old_files.keys() & new_files.keys():
            if old_files[key] == new_files[key]:
                self.parse(key, old_files[key])
        return sum(len(text) for text in old_files.values())


def _files(location: Location) -> dict[str, str]:
    from ..loader import discover

    files = {}
    with contextlib.chdir(location.cwd):
        for path in discover(Path(location.target))[1]:
            try:
                files[str(path)] = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
    return files


def load_side(location: Location, cache: ParseCache | None = None):
    """Parse, resolve and check one side (`load_policy`, with file names relative to its root)."""
    from ..api import load_policy

    cache = cache or ParseCache()
    with contextlib.chdir(location.cwd), cache.installed():
        return load_policy(Path(location.target), graph=False)
