"""Finding and reading zone files: a directory tree is one policy, `use` pulls in modules.

A module name `catalog.clinical` is the file `catalog/clinical.septum`, looked up first in the
policy's own tree, then in the built-in catalogue shipped with Septum, then relative to the
directories above the tree (up to the repository root), so that checking one part of a larger
tree (`septum check zones/hospital`) finds the modules it names by their full path
(`use hospital.clinical`). Every file of the tree
is part of the policy whether or not it is `use`d; `use` declares a dependency (and brings in
catalogue modules from outside the tree). Cycles of `use` are reported.
"""

from __future__ import annotations

import difflib
import functools
import graphlib
import os
from dataclasses import dataclass, field
from pathlib import Path


from .diagnostics import Diagnostic, Related
from .model import SourceFile, Span, Use
from .parser import parse_text

BUILTIN_PREFIX = "<septum>/"
SUFFIX = ".septum"


@dataclass
class LoadedFiles:
    files: list[SourceFile] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    broken_names: set[str] = field(default_factory=set)
    modules: set[str] = field(default_factory=set)  # display paths of catalogue modules (`use catalog.x`)


def builtin_root():
    return Path(__file__).resolve().parent.parent / "zones"


def _builtin_modules() -> dict[str, object]:
    found = {}
    catalog = builtin_root().joinpath("catalog")
    if catalog.is_dir():
        for entry in catalog.iterdir():
            if entry.name.endswith(SUFFIX):
                found[f"catalog.{entry.name[: -len(SUFFIX)]}"] = entry
    return found


def discover(path: Path) -> tuple[Path, list[Path]]:
    """The root used for module names, and the zone files of the policy, sorted."""
    if path.is_file():
        return path.parent, [path]
    return path, sorted(p for p in path.rglob(f"*{SUFFIX}") if p.is_file())


def _module_of(root: Path, file: Path) -> str:
    return ".".join(file.relative_to(root).with_suffix("").parts)


def load_files(path: Path) -> LoadedFiles:
    loaded = LoadedFiles()
    root, paths = discover(path)
    tree: dict[str, tuple[str, object]] = {}
    for file in paths:
        tree[_module_of(root, file)] = (str(file), file)
    builtin = _builtin_modules()
    find = functools.partial(_find_module, tree=tree, builtin=builtin, root=root)

    by_display: dict[str, SourceFile] = {}
    module_of_display: dict[str, str] = {}
    pending = [(display, source) for display, source in tree.values()]
    for module, (display, _) in tree.items():
        module_of_display[display] = module
    while pending:
        display, source = pending.pop(0)
        if display in by_display:
            continue
        try:
            text = source.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            loaded.diagnostics.append(
                Diagnostic("E004", f"cannot read {display}: {error}", Span(display, 1, 1, 1, 1),
                           "check the file exists, is readable and is UTF-8 text")
            )
            continue
        parsed, diagnostics, broken = parse_text(display, text)
        parsed = parsed.model_copy(update={"module": module_of_display.get(display)})
        by_display[display] = parsed
        loaded.texts[display] = text
        loaded.diagnostics.extend(diagnostics)
        loaded.broken_names |= broken
        for use in (s for s in parsed.statements if isinstance(s, Use)):
            target = find(use.module)
            if target is None:
                loaded.diagnostics.append(_unknown_module(use, tree, builtin))
                continue
            target_display, target_source = target
            module_of_display[target_display] = use.module
            if use.module.startswith("catalog."):
                loaded.modules.add(target_display)
            if target_display not in by_display:
                pending.append((target_display, target_source))
    loaded.files = [by_display[d] for d in sorted(by_display)]
    loaded.files = [f.model_copy(update={"module": module_of_display.get(f.path)}) for f in loaded.files]
    loaded.diagnostics.extend(_use_cycles(loaded.files, find))
    return loaded


ANCESTOR_LEVELS = 8


def _find_module(module: str, tree: dict, builtin: dict, root: Path) -> tuple[str, object] | None:
    if module in tree:
        return tree[module]
    if module in builtin:
        return f"{BUILTIN_PREFIX}{module.replace('.', '/')}{SUFFIX}", builtin[module]
    return _above(module, root)


def _above(module: str, root: Path) -> tuple[str, object] | None:
    """The module's file relative to a directory above the tree: the nearest one that has it,
    no higher than the repository root (a directory holding `.git`)."""
    relative = Path(*module.split(".")).with_suffix(SUFFIX)
    directory = root
    for _ in range(ANCESTOR_LEVELS):
        if (directory / ".git").exists() or directory.resolve() == directory.resolve().parent:
            return None
        directory = directory / ".."
        candidate = Path(os.path.normpath(directory / relative))
        if candidate.is_file():
            return str(candidate), candidate
    return None


def _unknown_module(use: Use, tree: dict, builtin: dict) -> Diagnostic:
    known = sorted(set(tree) | set(builtin))
    close = difflib.get_close_matches(use.module, known, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    listing = ", ".join(m for m in known if m.startswith("catalog.")) or "none"
    return Diagnostic(
        "E204",
        f"no module named '{use.module}'",
        use.span,
        f"{hint}a module is a .septum file named by its path (a/b.septum is 'a.b'); catalogue modules: {listing}",
    )


def _use_cycles(files: list[SourceFile], find) -> list[Diagnostic]:
    """One diagnostic per cycle of `use`, at the `use` that closes it."""
    edges: dict[str, set[str]] = {}
    uses: dict[tuple[str, str], Use] = {}
    for source in files:
        edges.setdefault(source.path, set())
        for use in (s for s in source.statements if isinstance(s, Use)):
            target = find(use.module)
            if target is not None:
                edges[source.path].add(target[0])
                uses.setdefault((source.path, target[0]), use)
    diagnostics = []
    while True:
        try:
            graphlib.TopologicalSorter(edges).prepare()
            return diagnostics
        except graphlib.CycleError as error:
            cycle = _canonical_cycle(error.args[1])
        pairs = list(zip(cycle, cycle[1:]))
        # graphlib lists a cycle against the dependency direction: a user of b appears as b, a
        closing = uses[(pairs[0][1], pairs[0][0])]
        chain = " -> ".join(reversed(cycle))
        related = tuple(Related(uses[(b, a)].span, "part of the cycle") for a, b in pairs[1:])
        diagnostics.append(
            Diagnostic(
                "E205",
                f"'use' forms a cycle: {chain}",
                closing.span,
                "modules must form a hierarchy: move the shared definitions into a module both can use",
                related,
            )
        )
        edges[pairs[0][1]].discard(pairs[0][0])


def _canonical_cycle(cycle: list[str]) -> list[str]:
    """The same cycle however graphlib happened to enter it: rotated to start at its least node."""
    ring = cycle[:-1]
    start = ring.index(min(ring))
    ring = ring[start:] + ring[:start]
    return ring + [ring[0]]


@functools.cache
def catalogue_index() -> dict[str, str]:
    """Name -> catalogue module that defines it, to suggest the `use` an unknown name needs."""
    index: dict[str, str] = {}
    for module, entry in sorted(_builtin_modules().items()):
        source, _, _ = parse_text(module, entry.read_text(encoding="utf-8"))
        for statement in source.statements:
            name = getattr(statement, "name", None)
            if name is not None:
                index.setdefault(name, module)
    return index
