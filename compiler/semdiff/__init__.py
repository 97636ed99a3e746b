"""The semantic diff of two revisions of a policy (`septum diff`; see docs/diff.md).

Both sides are loaded and resolved, and compared as models, never as text: reordering
statements, moving them between files or reformatting them (`septum fmt`) gives an empty diff.
What is compared: flows (source, destination, service), data reach, verdicts (the findings of
`septum check` and of verification, keyed by meaning) and definitions.

One job per module:

* `records`: the dataclasses of a diff (`PolicyDiff`, `Summary`, `SideFacts`, entries, changes).
* `load`: where a side's files are; loading it with a parse cache shared by both sides.
* `git`: the zone files of a path as of a git revision, written to a scratch directory.
* `canonical`: statements as canonical text (definitions, `allow`s, the model digest).
* `flows`: what each `allow` contributes, folded into (source, destination, service) triples
  and data reach.
* `focus`: only the triples and reach entries that can differ between two sides.
* `verdicts`: findings keyed by (check, code, message), positions replaced by meaning.
* `summary`: one loaded side reduced to its facts, its verdicts, or a whole `Summary`.
* `workers`: a side analysed in this process or in a forked one; `spare`: whether a CPU is free
  for the second; `collector`: when the garbage collector runs.
* `compare`: two summaries to a `PolicyDiff`.
* `run`: `diff_paths` and `diff_revisions`, which tie the steps together.
* `text`, `human`, `report_json`, `markdown`: the renderings.
"""

from __future__ import annotations

from .compare import compare
from .human import render_human
from .markdown import render_markdown
from .records import (
    DiffInputError,
    Definition,
    DefinitionChange,
    FlowChange,
    FlowEntry,
    FlowFacts,
    PolicyDiff,
    ReachEntry,
    SideInfo,
    Summary,
    Verdict,
    VerdictChange,
)
from .report_json import render_json, to_json
from .run import diff_paths, diff_revisions
from .summary import analyse, summarize
from .text import render_errors

__all__ = [
    "Definition", "DefinitionChange", "DiffInputError", "FlowChange", "FlowEntry", "FlowFacts", "PolicyDiff",
    "ReachEntry", "SideInfo", "Summary", "Verdict", "VerdictChange", "analyse", "compare", "diff_paths",
    "diff_revisions", "render_errors", "render_human", "render_json", "render_markdown", "summarize", "to_json",
]
