"""Text -> model for one zone file.

The grammar and its LALR tables come from lark (`grammar/septum.lark`). Lark's own lexer and
tree builder cost about 12 microseconds a token, too slow for 100k-flow policies, so this module
drives lark's parse table directly: a contextual regex lexer feeds the table, and each reduction
calls `ModelBuilder` with the exact source positions of the rule. On a syntax error the parser
reports what it expected, skips to the next statement that starts a line, and goes on, so one
run reports every broken statement.

Most of a large policy is `allow`, `zone` and `host` statements written the usual way, and
reading them token by token through the table costs more than making their model. So the lexer
takes a plain one-line flow or zone or host block as a single token (one regex match) and the
parser makes its model straight from the match; a statement with anything unusual (a keyword
spelled name, a bad value, a comment inside, an unexpected neighbour) is split back into its
tokens and read by the table, and `allow`/`zone`/`host` read from tokens skip the table too
(the readers are in `statements.py`; the token patterns in `lexicon.py`). Either way the model, spans and diagnostics are exactly what the
table alone gives: `DIRECT_STATEMENTS = False` turns all of it off, and the property tests
compare the two on generated and mutated policies.
"""

from __future__ import annotations

import re
from sys import intern
from typing import Any

from .builder import ModelBuilder, Tok
from .tables import EXPAND, GRAMMAR, INLINE, _by_type, _describe_type, tables  # noqa: F401 - GRAMMAR, tables re-exported
from .diagnostics import Diagnostic
from .model import Comment, SourceFile, Span, constructor
from .lexicon import (_COLUMN, _IFNAME, _LINE, _MASTER, _MASTER_LINES, _WHOLE, STATEMENT_KEYWORDS,
                      _new_tuple)
from .statements import StatementReaders

_Comment = constructor(Comment, "text", "line", "column")
_SourceFile = constructor(SourceFile, "path", "module", "statements", "comments")


# Read `allow`, `zone` and `host` statements straight from the tokens where they are written in
# the usual way (statements.py); False makes the table read everything (for tests).
DIRECT_STATEMENTS = True

class FileParser(StatementReaders):
    """Parses the text of one file into a `SourceFile` and diagnostics."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self.diagnostics: list[Diagnostic] = []
        self.comments: list[Comment] = []
        self.broken_names: set[str] = set()
        self.builder = ModelBuilder(self.span, self.diagnostics, self.broken_names)
        self._line_starts: list[int] | None = None
        self.numbers: list[int] = []  # one int object per line number, shared by the spans

    def span(self, start: int, end: int) -> Span:
        numbers = self.numbers
        return _new_tuple(Span, (self.path, numbers[start >> _LINE], start & _COLUMN, numbers[end >> _LINE],
                                 end & _COLUMN))

    def offset(self, position: int) -> int:
        """The text offset of a position."""
        if self._line_starts is None:
            self._line_starts = [0] + [m.end() for m in re.finditer("\n", self.text)]
        return self._line_starts[(position >> _LINE) - 1] + (position & _COLUMN) - 1

    def position(self, offset: int) -> int:
        """The position of a text offset."""
        line_start = self.text.rfind("\n", 0, offset) + 1
        return (self.text.count("\n", 0, line_start) + 1) << _LINE | (offset - line_start + 1)

    # ---- lexing and parsing, in one loop (this is the hot path) ---------------------

    def _error(self, code: str, message: str, start: int, end: int, help: str | None) -> None:
        self.diagnostics.append(Diagnostic(code, message, self.span(start, end), help))

    def _pretokens(self) -> list[Tok]:
        """The tokens of the text, with positions. Punctuation has its terminal type; a word is a
        NAME, or WORD when it is spelled like a keyword (the parser settles those against its
        state, and takes interface names, which may hold other tokens); stray characters and
        unclosed strings are BAD and BADSTRING, reported by the parser. Comments are collected."""
        text = self.text
        t = tables()
        words, punct = t.words, t.punct
        tokens: list[Tok] = []
        append = tokens.append
        comments = self.comments
        length = len(text)
        line = 1
        base = (1 << _LINE) + 1  # position = base + offset, on the current line
        newline = text.find("\n")  # the next line break (length when there is none)
        if newline < 0:
            newline = length
        for m in (_MASTER_LINES if DIRECT_STATEMENTS else _MASTER).finditer(text):
            kind = m.lastgroup
            if kind is None:
                continue
            start, end = m.span(kind)
            if start > newline:  # a new line (or more)
                line += text.count("\n", newline, start)
                base = (line << _LINE) + 1 - (text.rfind("\n", newline, start) + 1)
                newline = text.find("\n", start)
                if newline < 0:
                    newline = length
            if kind == "WORD":
                value = intern(m.group(kind))  # names repeat: a policy keeps one copy of each
                append(_new_tuple(Tok, ("WORD" if value in words else "NAME", value, base + start, base + end)))
            elif kind == "PUNCT":
                value = m.group(kind)
                append(_new_tuple(Tok, (punct[value], value, base + start, base + end)))
            elif kind in _WHOLE:  # a whole statement (a block may go over lines)
                first = base + start
                if end > newline:
                    line += text.count("\n", newline, end)
                    base = (line << _LINE) + 1 - (text.rfind("\n", newline, end) + 1)
                    newline = text.find("\n", end)
                    if newline < 0:
                        newline = length
                append(_new_tuple(Tok, (kind, m, first, base + end)))
            elif kind == "COMMENT":
                comments.append(_Comment(m.group(kind), line, start + base & _COLUMN))
            elif kind == "EOF":
                break
            elif end > newline:  # a string with an escaped line break
                first = base + start
                line += text.count("\n", newline, end)
                base = (line << _LINE) + 1 - (text.rfind("\n", newline, end) + 1)
                newline = text.find("\n", end)
                if newline < 0:
                    newline = length
                append(_new_tuple(Tok, (kind, m.group(kind), first, base + end)))
            else:
                append(_new_tuple(Tok, (kind, m.group(kind), base + start, base + end)))
        end = self.position(length)
        append(_new_tuple(Tok, ("$END", "", end, end)))
        self.numbers = list(range((end >> _LINE) + 1))
        return tokens

    def _lexical_error(self, kind: str, value: str, start: int, end: int) -> None:
        if kind == "BAD":
            self._error("E002", f"unexpected character {value!r}", start, end,
                        "remove it; names use letters, digits, '-' and '_'")
        else:
            self._error("E003", "this string is not closed before the end of the line", start, end,
                        'close it with a double quote (") on the same line')

    def _starts_line(self, position: int) -> bool:
        """Whether only blanks precede this position on its line."""
        offset = self.offset(position)
        return not self.text[offset - (position & _COLUMN) + 1:offset].strip()

    def _word(self, value: str, start: int, accepts: dict) -> str:
        """A word is a keyword where the parser takes that keyword, or where it cannot take a
        name, or when it starts a statement at the start of a line; otherwise it is a name."""
        word_type = tables().words[value]
        if word_type in accepts or "NAME" not in accepts:
            return word_type
        if word_type in STATEMENT_KEYWORDS and self._starts_line(start):
            return word_type
        return "NAME"

    def parse(self) -> SourceFile:
        t = tables()
        states, rules, end_state = t.states, t.rules, t.end
        span = self.span
        callbacks = [getattr(self.builder, rules[i].name, None) for i in range(len(rules))]
        tokens = self._pretokens()
        self.tokens = tokens
        direct = {"ALLOW": ("allow", self._allow), "ZONE": ("zone", self._zone), "HOST": ("host", self._host)}
        if not DIRECT_STATEMENTS:
            direct = {}
        listed = states[t.start]["__start_star_0"]  # the state over the statements read so far
        index = 0
        # one stack of (state, value, start position, end position)
        stack: list[tuple[int, Any, int, int]] = [(t.start, None, 0, 0)]
        state = t.start
        statements: list = []
        recovering = False
        while True:
            token = tokens[index]
            kind, value, start, end = token
            index += 1
            actions = states[state]
            if kind == "WORD":
                kind = self._word(value, start, actions)
                token = _new_tuple(Tok, (kind, value, start, end))
            elif kind in _WHOLE:  # a whole statement: taken whole at its shift, else as its tokens
                if recovering or _WHOLE[kind] not in actions:
                    self._split(index - 1)
                    index -= 1
                    continue
                kind = _WHOLE[kind]
            elif kind == "BAD" or kind == "BADSTRING":
                self._lexical_error(kind, value, start, end)
                continue
            if "IFNAME" in actions and kind != "$END" and (m := _IFNAME.match(self.text, self.offset(start))):
                kind, value, end = "IFNAME", m.group(), start + m.end() - m.start()
                token = _new_tuple(Tok, (kind, value, start, end))
                while tokens[index][2] < end:
                    index += 1
            if recovering:
                if not self._resync(token, stack):
                    continue
                recovering = False
                state = stack[-1][0]
                actions = states[state]
            while True:
                action = actions.get(kind)
                if action is None:
                    if token[0] in _WHOLE:
                        token = self._split(index - 1)
                        end = token[3]
                    self._syntax_error(token, stack)
                    self._remember_broken_name(stack)
                    recovering = not (self._resync(token, stack) and kind in states[stack[-1][0]])
                    state = stack[-1][0]
                    actions = states[state]
                    if recovering:
                        break
                    continue
                if action >= 0:
                    if kind in direct and direct[kind][0] not in actions:
                        # the keyword, but not a statement here (`zone` in a device binding)
                        if token[0] in _WHOLE:
                            token = self._split(index - 1)
                            end = token[3]
                    elif kind in direct:  # a whole statement read directly, as if the table had reduced it
                        rule, read = direct[kind]
                        if token[0] in _WHOLE:
                            done = self._whole(index, token)
                            if done is None:
                                token = self._split(index - 1)
                                end = token[3]
                                done = read(index, start)
                            elif len(stack) == 2 and stack[1][0] == listed and tokens[done[1]][0] != "SEMICOLON":
                                # whole statements after other statements: each goes straight into the
                                # list of statements, as the table's next reductions would put it
                                items = stack[1][1]
                                while True:
                                    result, index, end = done
                                    items.append(result)
                                    token = tokens[index]
                                    if token[0] not in _WHOLE:
                                        break
                                    done = self._whole(index + 1, token)
                                    if done is None or tokens[done[1]][0] == "SEMICOLON":
                                        break
                                stack[1] = (listed, items, stack[1][2], end)
                                state = listed
                                break
                        else:
                            done = read(index, start)
                        if done is not None:
                            result, index, end = done
                            state = states[stack[-1][0]][rule]
                            stack.append((state, result, start, end))
                            break
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
        return _SourceFile(self.path, None, tuple(statements), tuple(self.comments))

    def _resync(self, token: Tok, stack: list) -> bool:
        """After an error: resume at end of file or at a statement keyword that starts its line,
        popping the partial statement off the stack, back to a state that can take the token."""
        states = tables().states
        if token.type != "$END":
            if token.type not in STATEMENT_KEYWORDS:
                return False
            if not self._starts_line(token.start):
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
        expected = sorted({_describe_type(k, _by_type()) for k in accepted - STATEMENT_KEYWORDS})
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


# Files from this size on are cached on disk (`parse_cache`): below it, parsing costs about what
# reading an entry back does (measured: docs/performance.md).
CACHE_MIN_BYTES = 16_384


def parse_text(path: str, text: str) -> tuple[SourceFile, list[Diagnostic], set[str]]:
    """The model of one file's text, its diagnostics, and the names of definitions dropped for
    a bad value. A large file's result is cached on disk (`parse_cache`)."""
    if len(text) < CACHE_MIN_BYTES:
        return _parse_text(path, text)
    from . import parse_cache

    if not parse_cache.enabled():
        return _parse_text(path, text)
    cached = parse_cache.load(path, text)
    if cached is not None:
        return cached
    result = _parse_text(path, text)
    parse_cache.store(path, text, result)
    return result


def _parse_text(path: str, text: str) -> tuple[SourceFile, list[Diagnostic], set[str]]:
    parser = FileParser(path, text)
    try:
        source = parser.parse()
    finally:
        # the parser and its builder refer to each other: without this, its tokens would wait
        # for the garbage collector, which is paused while a policy loads
        parser.tokens = parser.builder = None
    return source, parser.diagnostics, parser.broken_names
