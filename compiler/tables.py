"""The LALR tables of the zone grammar: built by lark from `grammar/septum.lark`, cached on disk,
and the words the parser uses to say what it expected."""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import re
from pathlib import Path
from typing import NamedTuple

from .files import write_atomically

GRAMMAR = Path(__file__).resolve().parent.parent / "grammar" / "septum.lark"
_WORD_ALTERNATION = re.compile(r"\(\?:([a-z0-9|-]+)\)")


class _Rule(NamedTuple):
    size: int
    keep: tuple[int, ...]  # child positions that survive (named tokens and rules)
    splice: frozenset[int]  # positions holding an inlined list (internal `_` rules)
    mode: int  # INLINE: a list spliced into the parent; EXPAND: `?rule` with one child; BUILD
    origin: str
    name: str  # the builder method: alias or rule name


INLINE, EXPAND, BUILD = 0, 1, 2


class _Tables(NamedTuple):
    states: dict
    start: int
    end: int
    rules: dict
    words: dict  # word -> terminal type, for keywords and word alternations
    punct: dict  # punctuation text -> terminal type


def _cache_file(grammar: str) -> Path:
    digest = hashlib.sha256(f"{grammar}|{_TABLE_FORMAT}".encode()).hexdigest()[:16]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "septum" / f"tables-{digest}.pickle"


_TABLE_FORMAT = 4  # bumped when the pickled classes change (moved to tables.py)


@functools.cache
def tables() -> _Tables:
    """The LALR tables, built by lark from the grammar and cached on disk (importing lark and
    building the tables costs more than checking a whole hospital)."""
    grammar = GRAMMAR.read_text(encoding="utf-8")
    cache = _cache_file(grammar)
    try:
        with open(cache, "rb") as handle:
            return pickle.load(handle)
    except (OSError, pickle.PickleError, EOFError, AttributeError, TypeError):
        pass
    built = _build_tables(grammar)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(cache, pickle.dumps(built, protocol=pickle.HIGHEST_PROTOCOL))
    except OSError:
        pass  # a read-only home only costs speed
    return built


def _build_tables(grammar: str) -> _Tables:
    from lark import Lark
    from lark.parsers.lalr_analysis import Shift

    lark = Lark(grammar, parser="lalr")
    table = lark.parser.parser.parser.parse_table
    rule_ids = {rule: index for index, rule in enumerate(lark.rules)}
    rules = {}
    for rule, index in rule_ids.items():
        keep, splice = [], set()
        for i, sym in enumerate(rule.expansion):
            if sym.is_term and sym.filter_out:
                continue
            keep.append(i)
            if not sym.is_term and sym.name.startswith("_"):
                splice.add(i)
        inline = rule.origin.name.startswith("_")
        expand = bool(rule.options.expand1) and not rule.alias
        rules[index] = _Rule(
            size=len(rule.expansion),
            keep=tuple(keep),
            splice=frozenset(splice),
            mode=INLINE if inline else EXPAND if expand else BUILD,
            origin=str(rule.origin.name),
            name=str(rule.alias or rule.origin.name),
        )
    # actions: a shift to state N is N; a reduction by rule R is -1 - R; gotos are shifts
    states = {
        state: {str(kind): arg if action is Shift else -1 - rule_ids[arg] for kind, (action, arg) in actions.items()}
        for state, actions in table.states.items()
    }
    words, punct = {}, {}
    for term in lark.terminals:
        pattern = term.pattern
        if type(pattern).__name__ == "PatternStr":
            (words if pattern.value[0].isalpha() else punct)[str(pattern.value)] = str(term.name)
        else:
            alternation = _WORD_ALTERNATION.fullmatch(pattern.value)
            if alternation:
                for word in alternation.group(1).split("|"):
                    words[word] = str(term.name)
    return _Tables(states, table.start_states["start"], table.end_states["start"], rules, words, punct)


_DESCRIBE = {
    "NAME": "a name",
    "INT": "a number",
    "STRING": 'a quoted string ("...")',
    "IPV4": "an address",
    "IPV6": "an address",
    "DATE": "a date (YYYY-MM-DD)",
    "IFNAME": "an interface name",
    "$END": "end of file",
    "ADDRESS_KW": "'address'",
    "PORT_PROTOCOL": "'tcp' or 'udp'",
    "ICMP_PROTOCOL": "'icmp' or 'icmpv6'",
    "DEVICE_ROLE": "'firewall', 'router' or 'switch'",
}


@functools.cache
def _by_type() -> dict[str, str]:
    """Terminal type -> how it is written, for the punctuation and keywords."""
    t = tables()
    return {v: k for k, v in {**t.words, **t.punct}.items()}


def _describe_type(kind: str, by_type: dict[str, str]) -> str:
    if kind in _DESCRIBE:
        return _DESCRIBE[kind]
    return f"'{by_type.get(kind, kind)}'"
