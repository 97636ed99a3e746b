"""Statements as canonical text: what a definition or an `allow` means, apart from layout.

Lists are sorted sets, selectors their sorted items, protocol clauses as `fmt` prints them with
ports in order; descriptions, justifications, reasons and positions are left out. Two statements
with the same canonical text mean the same thing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from enum import Enum

from pydantic import BaseModel

from ..model import (
    Assertion,
    Binding,
    DataType,
    Device,
    Group,
    Host,
    Match,
    Network,
    Ref,
    Requirement,
    Selector,
    Service,
    Waiver,
    Zone,
)
from ..printer import binding_text, item_text
from .records import BUILTIN_PREFIX, Definition

# Fields that are documentation or position, not meaning; `name`, `label` and `text` name the
# statement instead. Any other field of the model (including fields added to the language later)
# is compared.
_NOT_MEANING = frozenset({"kind", "name", "label", "text", "span", "name_span", "target_span", "clauses",
                          "description", "justification", "reason", "builtin"})

_FIELD_NAMES = {"selector": "members", "matches": "protocols"}  # as people say it

_KINDS = {Zone: "zone", Host: "host", Group: "group", Service: "service", DataType: "datatype", Device: "device",
          Assertion: "assertion", Requirement: "requirement", Waiver: "waiver"}


def _selector_canonical(selector: Selector) -> str:
    items = selector.items
    if len(items) == 1:
        return item_text(items[0])
    return ", ".join(sorted({item_text(item) for item in items}))


def _match_canonical(match) -> str:
    """A protocol clause as `fmt` prints it, ports in order (their order carries no meaning)."""
    from ..printer import _match_text

    return _match_text(match.model_copy(update={"ports": tuple(sorted(match.ports, key=lambda p: (p.low, p.high)))}))


def _sequence_text(values) -> str:
    if not values:
        return ""
    texts = {_text(v) for v in values}
    separator = "; " if isinstance(next(iter(values)), (Selector, Match, Binding)) else ", "
    return separator.join(sorted(texts))


_TEXT = {
    type(None): lambda value: "",
    bool: lambda value: "yes" if value else "no",
    str: str,
    int: str,
    dt.date: lambda value: value.isoformat(),
    Ref: lambda value: value.name,
    Selector: _selector_canonical,
    Network: lambda value: value.cidr,
    Match: _match_canonical,
    Binding: binding_text,
    tuple: _sequence_text,
    list: _sequence_text,
    frozenset: _sequence_text,
}


def _text(value) -> str:
    """A field's value as canonical text: lists as sorted sets, selectors as sorted items."""
    render = _TEXT.get(type(value))
    if render is not None:
        return render(value)
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, BaseModel):
        return "; ".join(f"{name} {text}" for name, text in fields_of(value) if text)
    return str(value)


_MEANINGFUL: dict[type, tuple[tuple[str, str], ...]] = {}


def fields_of(model) -> tuple[tuple[str, str], ...]:
    """(field, canonical text) for every field of a statement that carries meaning.

    A nested statement part (an assertion's body) is flattened into the statement's fields.
    """
    names = _MEANINGFUL.get(type(model))
    if names is None:
        names = _MEANINGFUL[type(model)] = tuple(
            (name, _FIELD_NAMES.get(name, name)) for name in type(model).model_fields if name not in _NOT_MEANING)
    out: list[tuple[str, str]] = []
    values = model.__dict__
    for name, label in names:
        value = values[name]
        if isinstance(value, BaseModel) and not isinstance(value, Selector) and hasattr(value, "kind"):
            out.append(("form", str(value.kind)))
            out.extend(fields_of(value))
        else:
            out.append((label, _text(value)))
    return tuple(out)


def _sorted_selectors(model):
    """A copy of a statement part whose selectors list their items in one canonical order."""
    update = {}
    for name, value in model:
        if isinstance(value, Selector):
            update[name] = value.model_copy(update={"items": tuple(sorted(value.items, key=item_text))})
    return model.model_copy(update=update) if update else model


def definition_fields(statement) -> tuple[str, str, tuple[tuple[str, str], ...]] | None:
    """(kind, name, fields) of a definition or intent statement other than `allow`."""
    kind = _KINDS.get(type(statement))
    if kind is None:
        return None
    if isinstance(statement, Assertion):
        from ..printer import assertion_text

        name = statement.label.name if statement.label else assertion_text(
            statement.model_copy(update={"body": _sorted_selectors(statement.body)}))
    elif isinstance(statement, Requirement):
        name = statement.label.name if statement.label else (
            f"{_selector_canonical(statement.source)} -> {_selector_canonical(statement.destination)}"
            f" : {_text(statement.services)}")
    elif isinstance(statement, Waiver):
        target = statement.label.name if statement.label else f'"{statement.text}"'
        services = f" : {_text(statement.services)}" if statement.services else ""
        name = (f"{target} for {_selector_canonical(statement.source)} -> "
                f"{_selector_canonical(statement.destination)}{services}")
    else:
        name = statement.name
    return kind, name, fields_of(statement)


def identity(statement) -> str:
    if getattr(statement, "kind", None) == "allow":
        return "allow " + "; ".join(f"{name} {text}" for name, text in flow_canonical(statement) if text)
    described = definition_fields(statement)
    if described is not None:
        return f"{described[0]} {described[1]}"
    return str(getattr(statement, "kind", "statement"))


def same_model(old_policy, new_policy) -> bool:
    """Are two resolved policies the same model but for source positions and documentation?

    Then every verdict is the same too, and the diff need not verify either side.
    """
    return model_of(old_policy)[1] == model_of(new_policy)[1]


def model_of(policy, memo: dict | None = None,
             leave_out: frozenset[int] = frozenset()) -> tuple[dict[tuple[str, str], Definition], tuple[Counter, Counter]]:
    """The policy's own definitions (for the diff), and its model key: the canonical forms of its
    definitions and intent statements, and of its `allow`s, each as a multiset (equal keys: the
    same model but for positions and documentation).

    `memo` (id of a statement -> (statement, its canonical form)) lets two sides that share
    statement objects (files equal on both, parsed once) work each out once; `leave_out`: ids of
    `allow`s to leave out of the key (ones the other side has too, as the same objects).
    """
    memo = {} if memo is None else memo
    described: Counter = Counter()
    definitions: dict[tuple[str, str], Definition] = {}
    for statement in [*policy.zones.values(), *policy.hosts.values(), *policy.groups.values(),
                      *policy.services.values(), *policy.datatypes.values(), *policy.devices.values(),
                      *policy.assertions, *policy.requirements, *policy.waivers]:
        hit = memo.get(id(statement))
        if hit is None:
            hit = memo[id(statement)] = (statement, definition_fields(statement))
        fields = hit[1]
        if fields is None:
            continue
        described[fields] += 1
        span = statement.span
        if getattr(statement, "builtin", False) or span.file.startswith(BUILTIN_PREFIX):
            continue  # the catalogue and built-ins: part of the model, not reported as definitions
        kind, name, values = fields
        key = (kind, name)
        if key not in definitions or span < definitions[key].location:
            # the same intent stated twice is one definition, at its first place
            definitions[key] = Definition(kind, name, values, span)
    flows: Counter = Counter()
    for flow in policy.flows:
        if leave_out and id(flow) in leave_out:
            continue
        hit = memo.get(id(flow))
        if hit is None:
            hit = memo[id(flow)] = (flow, flow_canonical(flow))
        flows[hit[1]] += 1
    return definitions, (described, flows)


def model_digest(key: tuple[Counter, Counter]) -> bytes:
    """A digest of a model key (`model_of`): equal for equal keys, and small enough to send."""
    digest = hashlib.blake2b(digest_size=32)
    for part in key:
        lines = sorted(f"{count} {item!r}" for item, count in part.items())
        digest.update("\n".join(lines).encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.digest()


def flow_canonical(flow) -> tuple:
    """`fields_of(flow)`, the common case written out (an `allow` is most of a policy's statements)."""
    fast = _FLOW_CANONICAL.get(type(flow))
    if fast is None:
        # the written-out form, as long as `allow` has the fields it was written for and agrees
        expected = tuple((name, name) for name in _FLOW_FIELDS)
        fields_of(flow)
        agrees = _MEANINGFUL[type(flow)] == expected and _flow_fields(flow) == fields_of(flow)
        fast = _FLOW_CANONICAL[type(flow)] = _flow_fields if agrees else fields_of
    return fast(flow)


_FLOW_FIELDS = ("source", "destination", "services", "carrying", "except_from", "except_to", "log")
_FLOW_CANONICAL: dict[type, object] = {}


def _flow_fields(flow) -> tuple[tuple[str, str], ...]:
    values = flow.__dict__
    return (("source", _selector_canonical(values["source"])),
            ("destination", _selector_canonical(values["destination"])),
            ("services", _names_text(values["services"])),
            ("carrying", _names_text(values["carrying"])),
            ("except_from", _selectors_text(values["except_from"])),
            ("except_to", _selectors_text(values["except_to"])),
            ("log", "yes" if values["log"] else "no"))


def _names_text(refs) -> str:
    if not refs:
        return ""
    if len(refs) == 1:
        return refs[0].name
    return ", ".join(sorted({ref.name for ref in refs}))


def _selectors_text(selectors) -> str:
    if not selectors:
        return ""
    return "; ".join(sorted({_selector_canonical(selector) for selector in selectors}))


def definitions_of(policy) -> dict[tuple[str, str], Definition]:
    return model_of(policy)[0]
