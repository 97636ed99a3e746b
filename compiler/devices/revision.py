"""Which policy a generated config came from: a digest of the zone files' contents, and the git
commit of the tree when it is in a repository."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import NamedTuple


class Revision(NamedTuple):
    digest: str  # sha256 of the zone files (relative paths and contents, in path order)
    commit: str | None  # HEAD of the git repository holding the policy, if any
    dirty: bool  # the repository has changes to the policy that HEAD does not
    septum: str  # the Septum version that compiled it

    def describe(self) -> str:
        text = f"sha256:{self.digest}"
        if self.commit:
            text += f", git {self.commit}" + (" with uncommitted changes" if self.dirty else "")
        return text


def policy_revision(root: Path, texts: dict[str, str], locations: dict[str, str]) -> Revision:
    """`texts`: display path -> text of every file read; `locations`: display path -> path
    relative to the policy root (what the digest names, so that it does not depend on where the
    command runs from)."""
    from septum import __version__

    digest = hashlib.sha256()
    for location, text in sorted((locations.get(path, path), text) for path, text in texts.items()):
        data = text.encode("utf-8")
        digest.update(f"{location}\0{len(data)}\0".encode("utf-8"))
        digest.update(data)
    commit, dirty = _git(root)
    return Revision(digest.hexdigest(), commit, dirty, __version__)


def _git(root: Path) -> tuple[str | None, bool]:
    directory = root if root.is_dir() else root.parent
    try:
        head = subprocess.run(["git", "-C", str(directory), "rev-parse", "--verify", "-q", "HEAD"],
                              capture_output=True, text=True, timeout=20)
        if head.returncode != 0:
            return None, False
        status = subprocess.run(["git", "-C", str(directory), "status", "--porcelain", "--", "."],
                                capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None, False
    commit = head.stdout.strip()
    if not commit or any(c not in "0123456789abcdef" for c in commit):
        return None, False
    return commit, bool(status.stdout.strip())
