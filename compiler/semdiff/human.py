"""The diff for people: grouped `+` / `-` / `~` lines citing the statements they come from."""

from __future__ import annotations

from .records import PolicyDiff
from .text import cite, covered_words, facts_words, flow_line, grouped, headline, message_text, render_errors, verdict_text


def render_human(diff: PolicyDiff, style=None) -> str:
    """Grouped `+`/`-`/`~` lines. `style(text, sign)` may colour a line (the CLI passes click.style)."""
    if diff.has_errors:
        return render_errors(diff)
    paint = style or (lambda text, sign: text)
    old, new = diff.old, diff.new
    working_tree = " (working tree)" if old.revision and not new.revision else ""
    out = [f"septum diff: {old.label} -> {new.label}{working_tree}"]

    def section(title: str, lines: list[str]) -> None:
        if lines:
            out.append("")
            out.append(f"{title}:")
            out.extend(lines)

    section("Flows newly allowed", [
        paint(f"  + {flow_line(e, e.facts, sources)}  [{cite(e.facts.rules, new)}]{covered_words(e, 'already')}",
              "+") for sources, e in grouped(diff.flows_added)])
    section("Flows no longer allowed", [
        paint(f"  - {flow_line(e, e.facts, sources)}  [was {cite(e.facts.rules, old)}]{covered_words(e, 'still')}",
              "-") for sources, e in grouped(diff.flows_removed)])
    changed = []
    for c in diff.flows_changed:
        changed.append(paint(f"  ~ {c.source} -> {c.destination} : {c.service}  [{cite(c.new.rules, new)}]", "~"))
        changed.append(paint(f"      - {facts_words(c.old) or 'no carve-outs, no data, no log'}", "-"))
        changed.append(paint(f"      + {facts_words(c.new) or 'no carve-outs, no data, no log'}", "+"))
    section("Flows changed", changed)
    section("Data newly reaching", [
        paint(f"  + {r.datatype} reaches {r.place_kind} {r.place}"
              f"{'' if r.cleared or r.place_kind != 'zone' else ' (not cleared to hold it)'}  [{cite(r.rules, new)}]", "+")
        for r in diff.reach_added])
    section("Data no longer reaching", [
        paint(f"  - {r.datatype} reaches {r.place_kind} {r.place}  [was {cite(r.rules, old)}]", "-")
        for r in diff.reach_removed])
    verdicts = [paint(f"  + {verdict_text(v, new)}  [{cite(v.locations, new)}]", "+") for v in diff.verdicts_added]
    verdicts += [paint(f"  - {verdict_text(v, old)}  [was {cite(v.locations, old)}]", "-")
                 for v in diff.verdicts_removed]
    verdicts += [paint(f"  ~ {c.old.status} -> {c.new.status} [{c.code}]{' ' + c.check if c.check else ''}: "
                       f"{message_text(c.new.message, new)}  [{cite(c.new.locations, new)}]", "~")
                 for c in diff.verdicts_changed]
    section("Verdicts", verdicts)
    definitions = [paint(f"  + {d.kind} {d.name}  [{cite((d.location,), new) if d.location else ''}]", "+")
                   for d in diff.definitions_added]
    definitions += [paint(f"  - {d.kind} {d.name}  [was {cite((d.location,), old) if d.location else ''}]", "-")
                    for d in diff.definitions_removed]
    for c in diff.definitions_changed:
        where = cite((c.new.location,), new) if c.new.location else ""
        details = "; ".join(f"{f}: {o or '(none)'} -> {n or '(none)'}" for f, o, n in c.changes)
        definitions.append(paint(f"  ~ {c.kind} {c.name}: {details}  [{where}]", "~"))
    section("Definitions", definitions)
    for note in diff.notes:
        out.append("")
        out.append(f"note: {note}")
    out.append("")
    out.append(f"septum diff: {headline(diff)}")
    return "\n".join(out) + "\n"
