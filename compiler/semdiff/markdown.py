"""The diff as Markdown: a table of counts and ```diff blocks, for a pull-request comment."""

from __future__ import annotations

from .records import PolicyDiff
from .text import cite, covered_words, flow_line, grouped, render_errors, verdict_text


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(diff: PolicyDiff, limit: int = 200) -> str:
    """A summary fit for a pull-request comment: a table of counts, then ```diff blocks."""
    old, new = diff.old, diff.new
    out = [f"### Septum: semantic diff of `{old.label}` → `{new.label}`", ""]
    if diff.has_errors:
        out.append("**The policy cannot be compared: input errors.**")
        out.append("")
        out.append("```")
        out.append(render_errors(diff).rstrip("\n"))
        out.append("```")
        return "\n".join(out) + "\n"
    if diff.empty:
        out.append("No semantic change: the same flows are allowed, the same data reaches the same zones, "
                   "and every verdict is unchanged.")
        for note in diff.notes:
            out += ["", f"_Note: {_md(note)}_"]
        return "\n".join(out) + "\n"
    c = diff.counts()
    out += ["| | added | removed | changed |", "|---|--:|--:|--:|",
            f"| flows (source, destination, service) | {c['flows_added']} | {c['flows_removed']} | {c['flows_changed']} |",
            f"| data reaching a zone | {c['reach_added']} | {c['reach_removed']} | — |",
            f"| verdicts (findings) | {c['verdicts_added']} | {c['verdicts_removed']} | {c['verdicts_changed']} |",
            f"| definitions | {c['definitions_added']} | {c['definitions_removed']} | {c['definitions_changed']} |"]

    def block(title: str, lines: list[str]) -> None:
        if not lines:
            return
        shown = lines[:limit]
        out.extend(["", f"#### {title}", "", "```diff", *shown, "```"])
        if len(lines) > limit:
            out.append(f"_…and {len(lines) - limit} more (see `septum diff --format json`)._")

    block("Flows", [f"+ {flow_line(e, e.facts, sources)}  # {cite(e.facts.rules, new)}{covered_words(e, 'already')}"
                    for sources, e in grouped(diff.flows_added)]
          + [f"- {flow_line(e, e.facts, sources)}  # was {cite(e.facts.rules, old)}{covered_words(e, 'still')}"
             for sources, e in grouped(diff.flows_removed)]
          + [line for ch in diff.flows_changed for line in (
              f"- {flow_line(ch, ch.old)}  # was {cite(ch.old.rules, old)}",
              f"+ {flow_line(ch, ch.new)}  # {cite(ch.new.rules, new)}")])
    block("Data reaching zones",
          [f"+ {r.datatype} reaches {r.place_kind} {r.place}"
           f"{'' if r.cleared or r.place_kind != 'zone' else ' (not cleared to hold it)'}  # {cite(r.rules, new)}"
           for r in diff.reach_added]
          + [f"- {r.datatype} reaches {r.place_kind} {r.place}  # was {cite(r.rules, old)}" for r in diff.reach_removed])
    block("Verdicts",
          [f"+ {verdict_text(v, new)}  # {cite(v.locations, new)}" for v in diff.verdicts_added]
          + [f"- {verdict_text(v, old)}  # was {cite(v.locations, old)}" for v in diff.verdicts_removed]
          + [line for ch in diff.verdicts_changed for line in (
              f"- {verdict_text(ch.old, old)}", f"+ {verdict_text(ch.new, new)}  # {cite(ch.new.locations, new)}")])
    block("Definitions",
          [f"+ {d.kind} {d.name}" for d in diff.definitions_added]
          + [f"- {d.kind} {d.name}" for d in diff.definitions_removed]
          + [f"! {ch.kind} {ch.name}: " + "; ".join(f"{f}: {o or '(none)'} -> {n or '(none)'}" for f, o, n in ch.changes)
             for ch in diff.definitions_changed])
    for note in diff.notes:
        out += ["", f"_Note: {_md(note)}_"]
    return "\n".join(out) + "\n"
