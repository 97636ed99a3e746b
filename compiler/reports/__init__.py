"""Report formats for `septum check`: human, json, sarif, markdown, github.

`render(fmt, report)` returns the text; `Report` carries what every format needs.

* human: snippets with carets (`render.render_human`).
* json: the stable machine-readable report (`render.render_json`).
* sarif: SARIF 2.1.0 for code scanning (`sarif.py`).
* markdown: a summary for a pull-request comment or job summary (`markdown.py`).
* github: GitHub Actions workflow-command annotations (`github.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..diagnostics import Diagnostic

FORMATS = ("human", "json", "sarif", "markdown", "github")


@dataclass
class Report:
    diagnostics: list[Diagnostic]  # sorted; verification findings carry .check, .path, .waived_by
    texts: dict[str, str]  # file display path -> text, for snippets
    exit_code: int
    stats: dict = field(default_factory=dict)  # zones, hosts, flows, assertions, devices
    root: str = "."  # the PATH that was checked, as given


def render(fmt: str, report: Report) -> str:
    from ..render import render_human, render_json

    if fmt == "human":
        return render_human(report.diagnostics, report.texts)
    if fmt == "json":
        return render_json(report.diagnostics, report.texts, report.exit_code, report.stats)
    if fmt == "sarif":
        from .sarif import render_sarif

        return render_sarif(report)
    if fmt == "markdown":
        from .markdown import render_markdown

        return render_markdown(report)
    if fmt == "github":
        from .github import render_github

        return render_github(report)
    raise ValueError(f"unknown format {fmt!r}")
