"""Text -> model for one zone file.

The grammar and its LALR tables come from lark (`grammar/septum.lark`). Lark's own lexer and
tree builder cost about 12 microseconds a token, too slow for 100k-flow policies, so this module
drives lark's parse table directly: a contextual regex lexer feeds the table, and each reduction
calls `ModelBuilder` with the exact source offsets of the rule. On a syntax error the parser
reports what it expected, skips to the next statement that starts a line, and goes on, so one
run reports every broken statement.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import importlib.resources
import os
import pickle
import re
import tempfile
from pathlib import Path
from dataclasses import dataclass
from typing import Any, NamedTuple


from .builder import ModelBuilder, Tok
from .diagnostics import Diagnostic
from .model import Comment, SourceFile, Span

STATEMENT_KEYWORDS = frozenset(
    {"USE", "ZONE", "HOST", "GROUP", "DATATYPE", "SERVICE", "ALLOW", "ASSERT", "REQUIRE", "WAIVE", "DEVICE_ROLE"}
)

_MASTER = re.compile(
    r"""
    (?P<WS>[ \t\r\f\n]+)
  | (?P<COMMENT>\#[^\n]*)
  | (?P<STRING>"(?:[^"\\\n]|\\.)*")
  | (?P<BADSTRING>"[^\n]*)
  | (?P<IPV6>(?:[0-9A-Fa-f]{0,4}:){2,}[0-9A-Fa-f.:]*(?:/[0-9]*)?)
  | (?P<IPV4>[0-9]+(?:\.[0-9]*)+(?:/[0-9]*)?)
  | (?P<INT>[0-9]+)
  | (?P<WORD>[A-Za-z_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?)
  | (?P<PUNCT>->|[{}:;,=.\-])
    """,
    re.VERBOSE,
)
SHIFT, REDUCE = 0, 1
_IFNAME = re.compile(r"[A-Za-z][A-Za-z0-9_./:-]*")
_DATE = re.compile(r"[0-9]+-[0-9]+-[0-9]+")
_WORD_ALTERNATION = re.compile(r"\(\?:([a-z0-9|-]+)\)")


@dataclass(frozen=True)
class _Rule:
    name: str  # callback name: alias or rule name
    size: int
    keep: tuple[int, ...]  # child positions that survive (named tokens and rules)
    splice: frozenset[int]  # positions holding an inlined list (internal `_` rules)
    expand1: bool
    inline: bool  # internal rule: its children are spliced into the parent
    origin: str


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


_TABLE_FORMAT = 1


@functools.cache
def tables() -> _Tables:
    """The LALR tables, built by lark from the grammar and cached on disk (importing lark and
    building the tables costs more than checking a whole hospital)."""
    grammar = importlib.resources.files("septum.grammar").joinpath("septum.lark").read_text()
    cache = _cache_file(grammar)
    try:
        with open(cache, "rb") as handle:
            return pickle.load(handle)
    except (OSError, pickle.PickleError, EOFError, AttributeError, TypeError):
        pass
    built = _build_tables(grammar)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=cache.parent, prefix=".tables-")
        with os.fdopen(fd, "wb") as handle:
            pickle.dump(built, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, cache)
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
        rules[index] = _Rule(
            name=rule.alias or rule.origin.name,
            size=len(rule.expansion),
            keep=tuple(keep),
            splice=frozenset(splice),
            expand1=bool(rule.options.expand1) and not rule.alias,
            inline=rule.origin.name.startswith("_"),
            origin=rule.origin.name,
        )
    states = {
        state: {
            kind: (SHIFT, arg) if action is Shift else (REDUCE, rule_ids[arg])
            for kind, (action, arg) in actions.items()
        }
        for state, actions in table.states.items()
    }
    words, punct = {}, {}
    for term in lark.terminals:
        pattern = term.pattern
        if type(pattern).__name__ == "PatternStr":
            (words if pattern.value[0].isalpha() else punct)[pattern.value] = term.name
        else:
            alternation = _WORD_ALTERNATION.fullmatch(pattern.value)
            if alternation:
                for word in alternation.group(1).split("|"):
                    words[word] = term.name
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


def _describe_type(kind: str, by_type: dict[str, str]) -> str:
    if kind in _DESCRIBE:
        return _DESCRIBE[kind]
    return f"'{by_type.get(kind, kind)}'"


class _Lines:
    """Offsets -> (line, column)."""

    def __init__(self, text: str) -> None:
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def position(self, offset: int) -> tuple[int, int]:
        index = bisect.bisect_right(self.starts, offset) - 1
        return index + 1, offset - self.starts[index] + 1


class FileParser:
    """Parses the text of one file into a `SourceFile` and diagnostics."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self.lines = _Lines(text)
        self.diagnostics: list[Diagnostic] = []
        self.comments: list[Comment] = []
        self.broken_names: set[str] = set()
        self.builder = ModelBuilder(self.span, self.diagnostics)
        t = tables()
        self.by_type = {v: k for k, v in {**t.words, **t.punct}.items()}

    def span(self, start: int, end: int) -> Span:
        line, column = self.lines.position(start)
        end_line, end_column = self.lines.position(end)
        return Span(file=self.path, line=line, column=column, end_line=end_line, end_column=end_column)

    # ---- lexing -------------------------------------------------------------

    def _tokens(self, accepts_of):
        """Yield tokens; `accepts_of()` gives the terminal types the parser accepts now."""
        text, words, punct = self.text, tables().words, tables().punct
        pos, length = 0, len(self.text)
        master = _MASTER.match
        while pos < length:
            accepts = accepts_of()
            if "IFNAME" in accepts and (m := _IFNAME.match(text, pos)):
                yield Tok("IFNAME", m.group(), pos, m.end())
                pos = m.end()
                continue
            if "DATE" in accepts and (m := _DATE.match(text, pos)):
                yield Tok("DATE", m.group(), pos, m.end())
                pos = m.end()
                continue
            m = master(text, pos)
            if m is None:
                self._error("E002", f"unexpected character {text[pos]!r}", pos, pos + 1,
                            "remove it; names use letters, digits, '-' and '_'")
                pos += 1
                continue
            kind, value, end = m.lastgroup, m.group(), m.end()
            if kind == "WS":
                pass
            elif kind == "COMMENT":
                line, column = self.lines.position(pos)
                self.comments.append(Comment(text=value, line=line, column=column))
            elif kind == "BADSTRING":
                self._error("E003", "this string is not closed before the end of the line", pos, end,
                            'close it with a double quote (") on the same line')
            elif kind == "WORD":
                word_type = words.get(value)
                if word_type is not None and (
                    word_type in accepts
                    or "NAME" not in accepts
                    or (word_type in STATEMENT_KEYWORDS and not text[text.rfind("\n", 0, pos) + 1:pos].strip())
                ):
                    yield Tok(word_type, value, pos, end)
                else:
                    yield Tok("NAME", value, pos, end)
            elif kind == "PUNCT":
                yield Tok(punct[value], value, pos, end)
            else:
                yield Tok(kind, value, pos, end)
            pos = end
        yield Tok("$END", "", length, length)

    def _error(self, code: str, message: str, start: int, end: int, help: str | None) -> None:
        self.diagnostics.append(Diagnostic(code, message, self.span(start, end), help))

    # ---- parsing ------------------------------------------------------------

    def parse(self) -> SourceFile:
        t = tables()
        states, rules, builder = t.states, t.rules, self.builder
        state_stack: list[int] = [t.start]
        value_stack: list[Any] = []
        start_stack: list[int] = []
        end_stack: list[int] = []
        tokens = self._tokens(lambda: states[state_stack[-1]])
        statements: list = []
        recovering_from: int | None = None
        for token in tokens:
            if recovering_from is not None:
                if not self._is_sync(token, states, state_stack, value_stack, start_stack, end_stack):
                    continue
                recovering_from = None
            while True:
                action = states[state_stack[-1]].get(token.type)
                if action is None:
                    self._syntax_error(token, state_stack)
                    self._remember_broken_name(value_stack)
                    recovering_from = token.start
                    if self._is_sync(token, states, state_stack, value_stack, start_stack, end_stack) \
                            and states[state_stack[-1]].get(token.type) is not None:
                        recovering_from = None
                        continue
                    break
                kind, arg = action
                if kind == SHIFT:
                    state_stack.append(arg)
                    value_stack.append(token)
                    start_stack.append(token.start)
                    end_stack.append(token.end)
                    break
                rule = rules[arg]
                size = rule.size
                if size:
                    children = value_stack[-size:]
                    start, end = start_stack[-size], end_stack[-1]
                    del state_stack[-size:], value_stack[-size:], start_stack[-size:], end_stack[-size:]
                else:
                    children, start, end = [], token.start, token.start
                kept: list = []
                for i in rule.keep:
                    if i in rule.splice:
                        if not kept and rule.inline:
                            kept = children[i]  # left recursion: extend the list in place
                        else:
                            kept.extend(children[i])
                    else:
                        kept.append(children[i])
                if rule.inline:
                    value = kept
                elif rule.expand1 and len(kept) == 1:
                    value = kept[0]
                else:
                    value = builder.build(rule.name, kept, start, end)
                state_stack.append(states[state_stack[-1]][rule.origin][1])
                value_stack.append(value)
                start_stack.append(start)
                end_stack.append(end)
                if state_stack[-1] == t.end:
                    statements = value
                    break
            if token.type == "$END":
                break
        if state_stack[-1] != t.end:
            statements = self._completed_statements(value_stack)
        return SourceFile(
            path=self.path, module=None, statements=tuple(statements), comments=tuple(self.comments)
        )

    def _is_sync(self, token, states, state_stack, value_stack, start_stack, end_stack) -> bool:
        """After an error: resume at end of file or at a statement keyword that starts its line.

        Pops the partial statement off the stacks, back to a state that can take the token.
        """
        if token.type != "$END":
            if token.type not in STATEMENT_KEYWORDS:
                return False
            line_start = self.text.rfind("\n", 0, token.start) + 1
            if self.text[line_start:token.start].strip():
                return False
        while len(state_stack) > 1:
            action = states[state_stack[-1]].get(token.type)
            if action is not None and (action[0] == SHIFT or token.type == "$END"):
                return True
            state_stack.pop()
            value_stack.pop()
            start_stack.pop()
            end_stack.pop()
        return True

    def _completed_statements(self, value_stack: list) -> list:
        done: list = []
        for value in value_stack:
            if isinstance(value, list):
                done.extend(v for v in value if v is not None and not isinstance(v, Tok))
            elif value is not None and not isinstance(value, Tok) and getattr(value, "kind", None):
                done.append(value)
        return done

    def _remember_broken_name(self, value_stack: list) -> None:
        """The name a broken definition was giving, so later stages do not call it unknown."""
        for first, second in zip(value_stack, value_stack[1:]):
            if isinstance(first, Tok) and first.type in STATEMENT_KEYWORDS and isinstance(second, Tok) \
                    and second.type == "NAME":
                self.broken_names.add(second.value)
        if len(value_stack) >= 3 and isinstance(value_stack[-3], Tok) and value_stack[-3].type == "DEVICE_ROLE":
            self.broken_names.add(value_stack[-2].value)

    def _syntax_error(self, token: Tok, state_stack: list[int]) -> None:
        accepted = {k for k in tables().states[state_stack[-1]] if (k.isupper() or k == "$END")}
        accepted = {k for k in accepted if _can_shift(state_stack, k)}
        starts_statement = accepted & STATEMENT_KEYWORDS
        expected = sorted({_describe_type(k, self.by_type) for k in accepted - STATEMENT_KEYWORDS})
        if len(expected) > 12:
            expected = expected[:12] + ["..."]
        if starts_statement:
            expected.append("a new statement")
        found = "end of file" if token.type == "$END" else f"'{token.value}'"
        help = _syntax_help(token, accepted)
        self.diagnostics.append(
            Diagnostic(
                "E001",
                f"unexpected {found}; expected {_join(expected)}",
                self.span(token.start, max(token.end, token.start + (0 if token.type == '$END' else 1))),
                help,
            )
        )


def _can_shift(state_stack: list[int], kind: str) -> bool:
    """Whether the parser, from this stack, would shift a token of this type (LALR lookaheads
    over-approximate, so the table alone would list tokens that are wrong here)."""
    t = tables()
    stack = list(state_stack)
    while True:
        action = t.states[stack[-1]].get(kind)
        if action is None:
            return False
        if action[0] == SHIFT or stack[-1] == t.end:
            return True
        rule = t.rules[action[1]]
        if rule.size:
            del stack[-rule.size:]
        goto = t.states[stack[-1]].get(rule.origin)
        if goto is None:
            return kind == "$END"
        stack.append(goto[1])
        if stack[-1] == t.end:
            return kind == "$END"


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]


def _syntax_help(token: Tok, accepts: dict) -> str:
    if "RBRACE" in accepts and token.type in STATEMENT_KEYWORDS | {"$END"}:
        return "is a '}' missing to close the block above?"
    if token.type in STATEMENT_KEYWORDS:
        return f"the statement before this line is not finished; complete it before '{token.value}'"
    if token.type == "NAME" and "NAME" not in accepts and "COMMA" in accepts:
        return "separate list items with ','"
    if token.type == "$END":
        return "the file ends in the middle of a statement; finish or remove it"
    if token.type != "NAME" and "NAME" in accepts and token.value.isalpha():
        return f"'{token.value}' is a keyword and cannot be used as a name here; choose another name"
    return "see docs/language.md for the statement's form"


def parse_text(path: str, text: str) -> tuple[SourceFile, list[Diagnostic], set[str]]:
    parser = FileParser(path, text)
    source = parser.parse()
    return source, parser.diagnostics, parser.broken_names
