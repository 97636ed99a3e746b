"""A disk cache of parsed files: a large file is parsed once, and read back on later runs.

An entry holds what `parser.parse_text` returns for one file (the `SourceFile`, its
diagnostics, the names of broken definitions), pickled, under a key that hashes the file's
text, its path as given (spans and diagnostics name it), Septum's version, the grammar and the
source of every module that shapes a parse. Editing any of them makes a new key; stale entries
are never read, only pruned.

Only files of at least `parser.CACHE_MIN_BYTES` (16 KiB) are cached. Reading an entry back
takes a third to a half of the parse at any size, but below that size the gain is a few
milliseconds a file, against the cost of consulting the cache at all (importing this module,
hashing the code that shapes a parse, a file lookup) and of filling it with small entries; the
reference hospital, whose largest file is 7 KB, never touches it. Writing an entry costs about
half of what parsing the file did, so an entry is written the second time the same text is
parsed (a marker remembers the first): a one-off check, as in CI, never pays for a cache it
will not use.

Entries live in `$SEPTUM_CACHE_DIR/parse`, else in `$XDG_CACHE_HOME/septum/parse` or
`~/.cache/septum/parse`; `SEPTUM_NO_CACHE=1` turns the cache off. The cache never fails a
command: an entry that cannot be read, or is corrupt, is ignored (the file is parsed again and
the entry rewritten), and a directory that cannot be written is simply not written. Writes are
atomic. When it writes, a process prunes once: entries and markers not used for
`MAX_AGE_DAYS` go, then the least recently used entries until the cache is under `MAX_BYTES`.

An entry is read with an unpickler that makes only Septum's model and diagnostics, a few
built-in types and dates: a planted file cannot run code through the cache.
"""

from __future__ import annotations

import copyreg
import functools
import hashlib
import io
import os
import pickle
import sys
import time
import zlib
from pathlib import Path
from typing import Any

from . import model
from .diagnostics import Diagnostic, Hop, Related, Severity

MAX_AGE_DAYS = 30
MAX_BYTES = 512 * 1024 * 1024
FORMAT = 1  # of the entries; part of the key

_MAGIC = b"SEPTUM-PARSE\x01\n"
_CHECK = 4  # bytes of CRC-32 over the pickle, checked before unpickling
_SUFFIX = ".pickle"
_SEEN = ".seen"  # a marker: parsed once, not cached yet

# The modules whose source decides what a parse returns.
_SHAPING = ("parser.py", "lexicon.py", "statements.py", "tables.py", "builder.py", "model.py", "values.py",
            "diagnostics.py", "parse_cache.py")


def enabled() -> bool:
    """Unless `SEPTUM_NO_CACHE` is set (to anything but 0), or there is no home to cache in."""
    return os.environ.get("SEPTUM_NO_CACHE", "") in ("", "0") and directory() is not None


def directory() -> Path | None:
    """Where entries live: a `parse` folder in `$SEPTUM_CACHE_DIR`, else in Septum's user cache
    folder (next to the LALR tables); None without a home directory."""
    configured = os.environ.get("SEPTUM_CACHE_DIR")
    if configured:
        return Path(configured) / "parse"
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        home = os.path.expanduser("~")
        if home.startswith("~"):
            return None
        base = os.path.join(home, ".cache")
    return Path(base) / "septum" / "parse"


@functools.cache
def _salt() -> bytes:
    """What, besides the file, decides a parse: Septum's version and code, the grammar, the
    versions of Python and pydantic (whose objects are pickled)."""
    import pydantic

    from septum import __version__

    from .parser import GRAMMAR

    digest = hashlib.sha256(f"{FORMAT}|{__version__}|{sys.version}|{pydantic.VERSION}|".encode())
    here = Path(__file__).resolve().parent
    for source in [GRAMMAR, *(here / name for name in _SHAPING)]:
        digest.update(source.read_bytes())
        digest.update(b"\0")
    return digest.digest()


def key(path: str, text: str) -> str:
    digest = hashlib.sha256(_salt())
    digest.update(path.encode("utf-8", "surrogatepass"))
    digest.update(b"\0")
    digest.update(text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def entry_path(path: str, text: str) -> Path:
    return directory() / f"{key(path, text)}{_SUFFIX}"


# ---- reading -------------------------------------------------------------------------


def load(path: str, text: str) -> tuple | None:
    """The cached parse of this text, or None (nothing cached, or anything wrong with it)."""
    try:
        entry = entry_path(path, text)
        with open(entry, "rb") as handle:
            data = handle.read()
        result = _decode(data)
        source, diagnostics, broken = result
        if not (type(source) is model.SourceFile and source.path == path and type(diagnostics) is list
                and type(broken) is set):
            return None
    except Exception:  # missing, unreadable, truncated, corrupt, from another version: parse again
        return None
    try:
        os.utime(entry)  # used: pruned last
    except OSError:
        pass
    return result


def _decode(data: bytes) -> Any:
    header = len(_MAGIC) + _CHECK
    if data[:len(_MAGIC)] != _MAGIC or len(data) <= header:
        raise ValueError("not a parse cache entry")
    payload = memoryview(data)[header:]
    if zlib.crc32(payload).to_bytes(_CHECK, "big") != data[len(_MAGIC):header]:
        raise ValueError("damaged parse cache entry")
    return _Unpickler(io.BytesIO(payload)).load()


def _rebuild(cls: type, fields: dict, fields_set: set) -> Any:
    """A model from its pickled fields, as `model.constructor` makes it (no validation)."""
    obj = _new(cls)
    _setattr(obj, "__dict__", fields)
    _setattr(obj, "__pydantic_fields_set__", fields_set)
    _setattr(obj, "__pydantic_extra__", None)
    _setattr(obj, "__pydantic_private__", None)
    return obj


_new = object.__new__
_setattr = object.__setattr__


def _tuple_new_only(owner: Any, name: str) -> Any:
    """`getattr` for the unpickler: `tuple.__new__` (which makes spans) and nothing else."""
    if owner is tuple and name == "__new__":
        return tuple.__new__
    raise pickle.UnpicklingError(f"parse cache: getattr({owner!r}, {name!r}) refused")


def _allowed() -> dict[tuple[str, str], Any]:
    allowed: dict[tuple[str, str], Any] = {
        ("builtins", "getattr"): _tuple_new_only,
        ("builtins", "tuple"): tuple,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("datetime", "date"): __import__("datetime").date,
        (__name__, "_rebuild"): _rebuild,
    }
    for value in vars(model).values():
        if isinstance(value, type) and value.__module__ == model.__name__:
            allowed[(model.__name__, value.__name__)] = value
    for value in (Diagnostic, Related, Hop, Severity):
        allowed[(value.__module__, value.__name__)] = value
    return allowed


class _Unpickler(pickle.Unpickler):
    allowed = _allowed()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"parse cache: {module}.{name} refused") from None


# ---- writing -------------------------------------------------------------------------


def _reduce_model(obj: model.Frozen) -> tuple:
    return _rebuild, (type(obj), obj.__dict__, obj.__pydantic_fields_set__)


def _reduce_span(span: model.Span) -> tuple:
    return tuple.__new__, (model.Span, tuple(span))


def _dispatch_table() -> dict:
    table = copyreg.dispatch_table.copy()
    for value in vars(model).values():
        if isinstance(value, type) and issubclass(value, model.Frozen) and value is not model.Frozen:
            table[value] = _reduce_model
    table[model.Span] = _reduce_span
    return table


_DISPATCH = _dispatch_table()


def _encode(result: tuple) -> bytes:
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _DISPATCH
    pickler.dump(result)
    payload = buffer.getbuffer()
    return b"".join((_MAGIC, zlib.crc32(payload).to_bytes(_CHECK, "big"), payload))


def store(path: str, text: str, result: tuple, *, now: bool = False) -> bool:
    """Cache a parse the second time this text is parsed (or `now`); whether it was written.
    Quietly does nothing when the cache cannot be written."""
    try:
        folder = directory()
        name = key(path, text)
        # a first parse leaves a marker; an entry that could not be read is replaced at once
        if not now and not (folder / f"{name}{_SUFFIX}").exists():
            seen = folder / f"{name}{_SEEN}"
            if not seen.exists():
                folder.mkdir(parents=True, exist_ok=True)
                seen.touch()
                _prune_once(folder)
                return False
        from .files import write_atomically

        folder.mkdir(parents=True, exist_ok=True)
        write_atomically(folder / f"{name}{_SUFFIX}", _encode(result))
        try:
            os.unlink(folder / f"{name}{_SEEN}")
        except OSError:
            pass
    except Exception:  # read-only or full disk, no home: the cache only ever costs speed
        return False
    _prune_once(folder)
    return True


_pruned: set[str] = set()


def _prune_once(folder: Path) -> None:
    if str(folder) not in _pruned:
        _pruned.add(str(folder))
        prune(folder)


def prune(folder: Path, now: float | None = None) -> None:
    """Delete entries and markers unused for `MAX_AGE_DAYS`, then the least recently used
    entries beyond `MAX_BYTES`, and temporary files left by interrupted writes."""
    now = time.time() if now is None else now
    kept = []
    try:
        with os.scandir(folder) as scan:
            for entry in scan:
                try:
                    name = entry.name
                    if name.startswith(".") and _SUFFIX in name:  # a write that never finished
                        if now - entry.stat().st_mtime > 3600:
                            os.unlink(entry.path)
                    elif name.endswith(_SUFFIX) or name.endswith(_SEEN):
                        stat = entry.stat()
                        if now - stat.st_mtime > MAX_AGE_DAYS * 86400:
                            os.unlink(entry.path)
                        elif name.endswith(_SUFFIX):
                            kept.append((stat.st_mtime, stat.st_size, entry.path))
                except OSError:
                    continue
    except OSError:
        return
    total = sum(size for _, size, _ in kept)
    for _, size, entry in sorted(kept):
        if total <= MAX_BYTES:
            break
        try:
            os.unlink(entry)
            total -= size
        except OSError:
            continue
