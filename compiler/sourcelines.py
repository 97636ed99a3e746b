"""The lines of a zone file's text, split once however many findings quote it."""

from __future__ import annotations

_SPLIT: dict[int, tuple[str, list[str]]] = {}


def lines_of(texts: dict[str, str], file: str) -> list[str] | None:
    text = texts.get(file)
    if text is None:
        return None
    cached = _SPLIT.get(id(text))
    if cached is None or cached[0] is not text:
        if len(_SPLIT) > 1024:
            _SPLIT.clear()
        cached = _SPLIT[id(text)] = (text, text.splitlines())
    return cached[1]
