"""SARIF 2.1.0 for code scanning (GitHub, GitLab, Azure DevOps, SARIF viewers).

One run. Rule ids are check names for verification findings (`data-flow`) and codes otherwise
(`E102`); rules list exactly the ids that occur. Locations are zone-file spans: the file as
Septum names it (relative to the directory `septum check` ran in, which in CI is the
repository root) under `uriBaseId` `%SRCROOT%`; regions have 1-based code-point columns with
an exclusive `endColumn`, as Septum's own spans do. A witness path is a code flow whose steps
are the `allow` statements of its hops; waived findings carry an in-source suppression at
their waiver. The output is deterministic: keys sorted, rules by id, results in report order.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from ..diagnostics import Diagnostic
from ..model import Span
from ..verify.names import CHECKS
from . import common

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SRCROOT = "%SRCROOT%"
CATALOG = "SEPTUMCATALOG"


def _artifact(file: str) -> dict:
    path = common.posix(file)
    if common.is_builtin(path):
        return {"uri": quote(path[len(common.BUILTIN_PREFIX):], safe="/"), "uriBaseId": CATALOG}
    if path.startswith("/"):
        return {"uri": "file://" + quote(path, safe="/")}
    if len(path) > 2 and path[1] == ":" and path[2] == "/":  # a Windows drive
        return {"uri": "file:///" + quote(path, safe="/:")}
    if path.startswith("./"):
        path = path[2:]
    return {"uri": quote(path, safe="/"), "uriBaseId": SRCROOT}


def _region(span: Span) -> dict:
    end_line = max(span.end_line, span.line)
    end_column = span.end_column
    if end_line == span.line:
        end_column = max(end_column, span.column)
    return {
        "startLine": span.line,
        "startColumn": span.column,
        "endLine": end_line,
        "endColumn": max(end_column, 1),
    }


def _location(span: Span, message: str | None = None, **extra) -> dict:
    location = {"physicalLocation": {"artifactLocation": _artifact(span.file), "region": _region(span)}}
    if message:
        location["message"] = {"text": message}
    location.update(extra)
    return location


def _rule(diagnostic: Diagnostic) -> dict:
    code = diagnostic.code
    rule: dict = {
        "id": diagnostic.rule_id,
        "shortDescription": {"text": common.code_title(code)},
        "defaultConfiguration": {"level": common.rule_level(code)},
        "properties": {"code": code},
    }
    info = CHECKS.get(diagnostic.check) if diagnostic.check else None
    if info is not None:
        rule["name"] = diagnostic.check
        rule["fullDescription"] = {"text": info.description}
        switch = (f" It is a baseline check, on by default; `--disable {diagnostic.check}` turns it off."
                  if info.baseline else "")
        rule["help"] = {
            "text": f"{info.description}{switch} Code {code}; see docs/diagnostics.md.",
            "markdown": f"{info.description}{switch} Code `{code}`; see `docs/diagnostics.md`.",
        }
        rule["properties"]["tags"] = ["security", "network-segmentation"]
    else:
        rule["fullDescription"] = {"text": f"{code}: {common.code_title(code)}"}
        rule["help"] = {
            "text": f"See docs/diagnostics.md, section {code}.",
            "markdown": f"See `docs/diagnostics.md`, section **{code}**.",
        }
    return rule


def _result(diagnostic: Diagnostic, rule_index: int, texts: dict[str, str]) -> dict:
    text = diagnostic.message
    if diagnostic.help:
        text += f"\nhelp: {diagnostic.help}"
    result: dict = {
        "ruleId": diagnostic.rule_id,
        "ruleIndex": rule_index,
        "level": diagnostic.severity.value,
        "message": {"text": text},
        "properties": {"code": diagnostic.code},
    }
    if diagnostic.span is not None:
        result["locations"] = [_location(diagnostic.span)]
    if diagnostic.related:
        result["relatedLocations"] = [
            _location(related.span, related.message or None, id=index)
            for index, related in enumerate(diagnostic.related)
        ]
    if diagnostic.path:
        steps = [
            {
                "location": _location(hop.span, common.hop_text(hop)),
                "executionOrder": order,
                "nestingLevel": 0,
            }
            for order, hop in enumerate(diagnostic.path, start=1)
        ]
        chain = " -> ".join([diagnostic.path[0].source] + [hop.destination for hop in diagnostic.path])
        result["codeFlows"] = [{"message": {"text": f"witness: {chain}"}, "threadFlows": [{"locations": steps}]}]
    if diagnostic.waived_by is not None:
        result["suppressions"] = [
            {
                "kind": "inSource",
                "status": "accepted",
                "justification": common.waiver_justification(texts, diagnostic.waived_by),
                "location": _location(diagnostic.waived_by),
            }
        ]
    return result


def sarif_document(report) -> dict:
    from septum import __version__

    rules: dict[str, dict] = {}
    for diagnostic in report.diagnostics:
        rules.setdefault(diagnostic.rule_id, _rule(diagnostic))
    order = sorted(rules, key=lambda rule_id: (rules[rule_id]["properties"]["code"], rule_id))
    index = {rule_id: position for position, rule_id in enumerate(order)}
    results = [_result(d, index[d.rule_id], report.texts) for d in report.diagnostics]
    run = {
        "tool": {
            "driver": {
                "name": "septum",
                "fullName": "Septum segmentation policy compiler",
                "version": __version__,
                "semanticVersion": __version__,
                "rules": [rules[rule_id] for rule_id in order],
            }
        },
        "originalUriBaseIds": {
            SRCROOT: {"description": {"text": "The directory septum check ran in (in CI, the repository root); "
                                              "zone files are named relative to it."}},
            CATALOG: {"description": {"text": "Septum's built-in catalogue (zones/catalog/ in the Septum package)."}},
        },
        "columnKind": "unicodeCodePoints",
        "invocations": [{"executionSuccessful": True, "exitCode": report.exit_code}],
        "results": results,
    }
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def render_sarif(report) -> str:
    return json.dumps(sarif_document(report), indent=2, sort_keys=True, ensure_ascii=True) + "\n"
