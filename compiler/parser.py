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
import os
import pickle
import re
from pathlib import Path
from typing import Any, NamedTuple


from .builder import ModelBuilder, Tok
from .files import write_atomically
from .diagnostics import Diagnostic
from .model import Comment, SourceFile, Span

GRAMMAR = Path(__file__).resolve().parent.parent / "grammar" / "septum.lark"

STATEMENT_KEYWORDS = frozenset(
    {"USE", "ZONE", "HOST", "GROUP", "DATATYPE", "SERVICE", "ALLOW", "ASSERT", "REQUIRE", "WAIVE", "DEVICE_ROLE"}
)

# One match per token, blanks before it included; every character is matched by something.
_MASTER = re.compile(
    r"""
    [ \t\r\f\n]*
    (?:
      (?P<COMMENT>\#[^\n]*)
    | (?P<STRING>"(?:[^"\\\n]|\\.)*")
    | (?P<BADSTRING>"[^\n]*)
    | (?P<IPV6>(?:[0-9A-Fa-f]{0,4}:){2,}[0-9A-Fa-f.:]*(?:/[0-9]*)?)
    | (?P<IPV4>[0-9]+(?:\.[0-9]*)+(?:/[0-9]*)?)
    | (?P<DATE>[0-9]+-[0-9]+-[0-9]+)
    | (?P<INT>[0-9]+)
    | (?P<WORD>[A-Za-z_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?)
    | (?P<PUNCT>->|[{}:;,=.\-])
    | (?P<BAD>.)
    | (?P<EOF>$)
    )
    """,
    re.VERBOSE | re.DOTALL,
)
_IFNAME = re.compile(r"[A-Za-z][A-Za-z0-9_./:-]*")
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


_TABLE_FORMAT = 3


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
        self.builder = ModelBuilder(self.span, self.diagnostics, self.broken_names)
        t = tables()
        self.by_type = {v: k for k, v in {**t.words, **t.punct}.items()}

    def span(self, start: int, end: int) -> Span:
        line, column = self.lines.position(start)
        end_line, end_column = self.lines.position(end)
        return Span(file=self.path, line=line, column=column, end_line=end_line, end_column=end_column)

    # ---- lexing and parsing, in one loop (this is the hot path) ---------------------

    def _error(self, code: str, message: str, start: int, end: int, help: str | None) -> None:
        self.diagnostics.append(Diagnostic(code, message, self.span(start, end), help))

    def _pretokens(self) -> list[tuple[str, str, int, int]]:
        """Context-free tokens (kind, text, start, end); the parser settles words and interface
        names against its state, and reports stray characters (an interface name may hold some)."""
        out = []
        append = out.append
        for m in _MASTER.finditer(self.text):
            kind = m.lastgroup
            if kind is None:
                continue
            start, end = m.start(kind), m.end()
            if kind == "COMMENT":
                line, column = self.lines.position(start)
                self.comments.append(Comment(text=m.group(kind), line=line, column=column))
            elif kind == "EOF":
                break
            else:
                append((kind, m.group(kind), start, end))
        length = len(self.text)
        append(("$END", "", length, length))
        return out

    def _lexical_error(self, kind: str, value: str, start: int, end: int) -> None:
        if kind == "BAD":
            self._error("E002", f"unexpected character {value!r}", start, end,
                        "remove it; names use letters, digits, '-' and '_'")
        else:
            self._error("E003", "this string is not closed before the end of the line", start, end,
                        'close it with a double quote (") on the same line')

    def _word(self, value: str, start: int, accepts: dict) -> str:
        """A word is a keyword where the parser takes that keyword, or where it cannot take a
        name, or when it starts a statement at the start of a line; otherwise it is a name."""
        word_type = tables().words.get(value)
        if word_type is None:
            return "NAME"
        if word_type in accepts or "NAME" not in accepts:
            return word_type
        if word_type in STATEMENT_KEYWORDS and not self.text[self.text.rfind("\n", 0, start) + 1:start].strip():
            return word_type
        return "NAME"

    def parse(self) -> SourceFile:
        t = tables()
        states, rules, end_state = t.states, t.rules, t.end
        span, text = self.span, self.text
        callbacks = [getattr(self.builder, rules[i].name, None) for i in range(len(rules))]
        punct, words = t.punct, t.words
        pretokens = self._pretokens()
        index = 0
        # one stack of (state, value, start offset, end offset)
        stack: list[tuple[int, Any, int, int]] = [(t.start, None, 0, 0)]
        state = t.start
        statements: list = []
        recovering = False
        while True:
            kind, value, start, end = pretokens[index]
            index += 1
            actions = states[state]
            if kind == "WORD":
                kind = "NAME" if value not in words else self._word(value, start, actions)
            elif kind == "PUNCT":
                kind = punct[value]
            elif kind == "BAD" or kind == "BADSTRING":
                self._lexical_error(kind, value, start, end)
                continue
            if "IFNAME" in actions and kind != "$END" and (m := _IFNAME.match(text, start)):
                kind, value, end = "IFNAME", m.group(), m.end()
                while pretokens[index][2] < end:
                    index += 1
            token = Tok(kind, value, start, end)
            if recovering:
                if not self._resync(token, stack):
                    continue
                recovering = False
                state = stack[-1][0]
                actions = states[state]
            while True:
                action = actions.get(kind)
                if action is None:
                    self._syntax_error(token, stack)
                    self._remember_broken_name(stack)
                    recovering = not (self._resync(token, stack) and kind in states[stack[-1][0]])
                    state = stack[-1][0]
                    actions = states[state]
                    if recovering:
                        break
                    continue
                if action >= 0:
                    state = action
                    stack.append((state, token, start, end))
                    break
                rule_index = -1 - action
                size, keep, splice, mode, origin, _ = rules[rule_index]
                if mode == EXPAND and size == 1 and keep == (0,):  # `?a: b`: relabel the top entry
                    top = stack[-1]
                    state = states[stack[-2][0]][origin]
                    stack[-1] = (state, top[1], top[2], top[3])
                    actions = states[state]
                    continue
                if size:
                    entries = stack[-size:]
                    del stack[-size:]
                    rule_start, rule_end = entries[0][2], entries[-1][3]
                    if splice:
                        kept: list = []
                        for i in keep:
                            if i in splice:
                                if not kept and mode == INLINE:
                                    kept = entries[i][1]  # left recursion: extend the list in place
                                else:
                                    kept.extend(entries[i][1])
                            else:
                                kept.append(entries[i][1])
                    else:
                        kept = [entries[i][1] for i in keep]
                else:
                    kept, rule_start, rule_end = [], start, start
                if mode == INLINE:
                    result = kept
                elif mode == EXPAND and len(kept) == 1:
                    result = kept[0]
                else:
                    result = callbacks[rule_index](kept, span(rule_start, rule_end))
                state = states[stack[-1][0]][origin]
                stack.append((state, result, rule_start, rule_end))
                if state == end_state:
                    statements = result
                    break
                actions = states[state]
            if kind == "$END":
                break
        if state != end_state:
            statements = self._completed_statements(stack)
        return SourceFile(path=self.path, module=None, statements=tuple(statements), comments=tuple(self.comments))

    def _resync(self, token: Tok, stack: list) -> bool:
        """After an error: resume at end of file or at a statement keyword that starts its line,
        popping the partial statement off the stack, back to a state that can take the token."""
        states = tables().states
        if token.type != "$END":
            if token.type not in STATEMENT_KEYWORDS:
                return False
            line_start = self.text.rfind("\n", 0, token.start) + 1
            if self.text[line_start:token.start].strip():
                return False
        while len(stack) > 1:
            if token.type == "$END":
                if _can_shift([entry[0] for entry in stack], "$END"):
                    return True
            elif states[stack[-1][0]].get(token.type, -1) >= 0:
                return True
            stack.pop()
        return True

    def _completed_statements(self, stack: list) -> list:
        done: list = []
        for _, value, _, _ in stack:
            if isinstance(value, list):
                done.extend(v for v in value if v is not None and not isinstance(v, Tok))
            elif value is not None and not isinstance(value, Tok) and getattr(value, "kind", None):
                done.append(value)
        return done

    def _remember_broken_name(self, stack: list) -> None:
        """The name a broken definition was giving, so later stages do not call it unknown."""
        values = [entry[1] for entry in stack]
        for first, second in zip(values, values[1:]):
            if isinstance(first, Tok) and first.type in STATEMENT_KEYWORDS and isinstance(second, Tok) \
                    and second.type == "NAME":
                self.broken_names.add(second.value)

    def _syntax_error(self, token: Tok, stack: list) -> None:
        state_stack = [entry[0] for entry in stack]
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
        if action >= 0 or stack[-1] == t.end:
            return True
        rule = t.rules[-1 - action]
        if rule.size:
            del stack[-rule.size:]
        goto = t.states[stack[-1]].get(rule.origin)
        if goto is None:
            return kind == "$END"
        stack.append(goto)
        if goto == t.end:
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
