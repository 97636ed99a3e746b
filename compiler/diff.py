"""The semantic diff of two revisions of a policy (`septum diff`): the public names.

The work is done in `septum.compiler.semdiff` (one module per step; see its docstring and
docs/diff.md). This module keeps `from septum.compiler.diff import diff_paths, ...` working.
"""

from __future__ import annotations

from .semdiff import *  # noqa: F403 - the public API, re-exported
from .semdiff import __all__  # noqa: F401
