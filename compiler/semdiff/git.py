"""Materialising a side from a git revision: the zone files of a path as of a commit."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from .records import DiffInputError

def _git(args: list[str], cwd: Path, what: str, input: bytes | None = None) -> bytes:
    if shutil.which("git") is None:
        raise DiffInputError("git is not installed, so revisions cannot be read; compare two paths instead")
    try:
        done = subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True, check=False)
    except OSError as error:
        raise DiffInputError(f"cannot run git: {error}") from None
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise DiffInputError(f"{what}" + (f" (git: {detail[-1]})" if detail else ""))
    return done.stdout


def repository(path: Path) -> tuple[Path, str]:
    """The top of the git work tree holding `path`, and `path` relative to it ('' for the top)."""
    absolute = Path(os.path.abspath(path))
    anchor = absolute
    while not anchor.exists() and anchor != anchor.parent:
        anchor = anchor.parent
    if anchor.is_file():
        anchor = anchor.parent
    top = _git(["rev-parse", "--show-toplevel"], anchor, f"{path} is not inside a git repository")
    top_path = Path(os.path.realpath(top.decode("utf-8").strip()))
    real = Path(os.path.realpath(absolute))
    try:
        relative = real.relative_to(top_path)
    except ValueError:
        raise DiffInputError(f"{path} is not inside the git repository at {top_path}") from None
    return top_path, relative.as_posix() if str(relative) != "." else ""


def materialise(repo: Path, revision: str, relative: str, destination: Path) -> Path:
    """Write the zone files of `relative` as of `revision` under `destination`; return the side's root."""
    if revision.startswith("-"):
        raise DiffInputError(f"'{revision}' is not a revision")
    commit = _git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{revision}^{{commit}}"], repo,
                  f"unknown revision '{revision}'").decode().strip()
    spec = f"{commit}:{relative}" if relative else f"{commit}^{{tree}}"
    kind = _git(["cat-file", "-t", spec], repo,
                f"{relative or '.'} does not exist in revision '{revision}'").decode().strip()
    if kind not in ("tree", "blob"):
        raise DiffInputError(f"{relative} in revision '{revision}' is a {kind}, not zone files")
    listing = _git(["ls-tree", "-r", "-z", "--full-tree", commit, "--", relative or "."], repo,
                   f"cannot list {relative or '.'} in revision '{revision}'")
    blobs = []
    for entry in listing.split(b"\0"):
        if not entry:
            continue
        meta, _, name = entry.partition(b"\t")
        mode, type_, sha = meta.split(b" ")
        file = name.decode("utf-8", "surrogateescape")
        if type_ != b"blob" or mode == b"120000" or not file.endswith(".septum"):
            continue
        blobs.append((file, sha.decode()))
    if blobs:
        contents = _cat_files(repo, [sha for _, sha in blobs])
        for file, sha in blobs:
            target = destination / file
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(contents[sha])
    root = destination / relative if relative else destination
    if kind == "tree":
        root.mkdir(parents=True, exist_ok=True)
        return root
    if not root.exists():  # a single file that is not a .septum file: take it anyway
        root.parent.mkdir(parents=True, exist_ok=True)
        root.write_bytes(_git(["cat-file", "blob", spec], repo, f"cannot read {relative} in '{revision}'"))
    return root


def _cat_files(repo: Path, shas: list[str]) -> dict[str, bytes]:
    unique = list(dict.fromkeys(shas))
    out = _git(["cat-file", "--batch"], repo, "cannot read files from git", input=("\n".join(unique) + "\n").encode())
    contents: dict[str, bytes] = {}
    position = 0
    for sha in unique:
        newline = out.index(b"\n", position)
        header = out[position:newline].split(b" ")
        size = int(header[2])
        contents[sha] = out[newline + 1:newline + 1 + size]
        position = newline + 1 + size + 1
    return contents
