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
(`_allow`, `_zone`, `_host`). Either way the model, spans and diagnostics are exactly what the
table alone gives: `DIRECT_STATEMENTS = False` turns all of it off, and the property tests
compare the two on generated and mutated policies.
"""

from __future__ import annotations

import re
from sys import intern
from typing import Any, Callable


from .builder import (
    _TRUST, SINGLE_CLAUSES, ModelBuilder, Tok, _Clause, _Flow, _Host, _Network, _Ref, _Selector, _SelName, _Zone)
from .tables import EXPAND, GRAMMAR, INLINE, _by_type, _describe_type, tables  # noqa: F401 - GRAMMAR, tables re-exported
from .diagnostics import Diagnostic
from .model import Comment, SourceFile, Span, Trust, constructor
from .values import ValueProblem, parse_cidr, parse_vlan

_Comment = constructor(Comment, "text", "line", "column")
_SourceFile = constructor(SourceFile, "path", "module", "statements", "comments")


STATEMENT_KEYWORDS = frozenset(
    {"USE", "ZONE", "HOST", "GROUP", "DATATYPE", "SERVICE", "ALLOW", "ASSERT", "REQUIRE", "WAIVE", "DEVICE_ROLE"}
)

# One match per token, blanks before it included; every character is matched by something.
_NAME_PATTERN = r"[A-Za-z_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?"
_TOKENS = r"""
      (?P<COMMENT>\#[^\n]*)
    | (?P<STRING>"(?:[^"\\\n]|\\.)*")
    | (?P<BADSTRING>"[^\n]*)
    | (?P<IPV6>(?:[0-9A-Fa-f]{0,4}:){2,}[0-9A-Fa-f.:]*(?:/[0-9]*)?)
    | (?P<IPV4>[0-9]+(?:\.[0-9]*)+(?:/[0-9]*)?)
    | (?P<DATE>[0-9]+-[0-9]+-[0-9]+)
    | (?P<INT>[0-9]+)
    | (?P<WORD>NAME)
    | (?P<PUNCT>->|[{}:;,=.\-])
    | (?P<BAD>.)
    | (?P<EOF>$)
"""
# The usual one-line flow, `allow a -> b : s1, s2 log "why"` (names only, a plain string), as
# one LINE token: the parser makes its model straight from the match (FileParser._line), or
# splits it into the tokens above when anything about it is unusual.
_LINE_TOKEN = r"""
      (?P<LINE>allow[ \t]+(?P<L_SOURCE>NAME)[ \t]*->[ \t]*(?P<L_DESTINATION>NAME)[ \t]*:[ \t]*
               (?P<L_SERVICES>NAME(?:[ \t]*,[ \t]*NAME)*)(?:[ \t]+(?P<L_LOG>log))?(?:[ \t]*(?P<L_WHY>"[^"\\\n]*"))?)
      (?=[ \t\r\f]*(?:\#|\n|$))
"""
# Likewise a whole `zone` or `host` block written plainly (its clauses in their usual forms, no
# comments inside, no escapes in strings), as one ZONE_BLOCK or HOST_BLOCK token
# (FileParser._block_token). Each clause is matched atomically, so a block that does not fit
# fails fast.
_ADDRESS = r"(?:[0-9A-Fa-f]{0,4}:){2,}[0-9A-Fa-f.:]*(?:/[0-9]*)?|[0-9]+(?:\.[0-9]*)+(?:/[0-9]*)?"
_NAMES = r"NAME(?:[ \t]*,[ \t]*NAME)*"
_ADDRESSES = rf"(?:{_ADDRESS})(?:[ \t]*,[ \t]*(?:{_ADDRESS}))*"
_CLAUSE_FORMS = {
    "description": r'description[ \t]+"[^"\\\n]*"',
    "networks": rf"networks[ \t]+{_ADDRESSES}",
    "addresses": rf"address(?:es)?[ \t]+{_ADDRESSES}",
    "vlan": r"vlan[ \t]+[0-9]+",
    "trust": r"trust[ \t]+NAME",
    "broker": r"broker(?![A-Za-z0-9_-])",
    "holds": rf"holds[ \t]+{_NAMES}",
    "tags": rf"tags[ \t]+{_NAMES}",
}


def _block_body(*clauses: str) -> str:
    forms = "|".join(_CLAUSE_FORMS[clause] for clause in clauses)
    return r"(?:(?>[ \t\r\f\n]*(?:" + forms + r")[ \t]*;?))*[ \t\r\f\n]*\}"


_BLOCK_TOKENS = (
    r"(?P<ZONE_BLOCK>zone[ \t]+(?P<Z_ID>NAME)[ \t]*\{"
    + _block_body("description", "networks", "vlan", "trust", "broker", "holds", "tags")
    + r")(?=[ \t\r\f]*(?:\#|\n|$))"
    + r"|(?P<HOST_BLOCK>host[ \t]+(?P<H_ID>NAME)[ \t]+in[ \t]+(?P<H_ZONE>NAME)[ \t]*\{"
    + _block_body("description", "addresses", "tags")
    + r")(?=[ \t\r\f]*(?:\#|\n|$))"
)
# One clause of such a block: its keyword, then a string, addresses, a number, a name or names.
_CLAUSE = re.compile(
    r"""[ \t\r\f\n]*(?:
      (?P<keyword>description|networks|addresses|address|vlan|trust|holds|tags)
      [ \t]+(?:(?P<string>"[^"\\\n]*")|(?P<addresses>ADDRESSES)|(?P<int>[0-9]+)|(?P<names>NAMES))
    | (?P<flag>broker)
    )[ \t]*;?""".replace("ADDRESSES", _ADDRESSES).replace("NAMES", _NAMES).replace("NAME", _NAME_PATTERN),
    re.VERBOSE,
)
_C_KEYWORD, _C_STRING, _C_ADDRESSES, _C_INT, _C_NAMES, _C_FLAG = (
    _CLAUSE.groupindex[name] for name in ("keyword", "string", "addresses", "int", "names", "flag"))
_ADDRESS_ITEM = re.compile(_ADDRESS)

_TOKENS, _LINE_TOKEN, _BLOCK_TOKENS = (
    pattern.replace("NAME", _NAME_PATTERN) for pattern in (_TOKENS, _LINE_TOKEN, _BLOCK_TOKENS))
_MASTER = re.compile(r"[ \t\r\f\n]*(?:" + _TOKENS + ")", re.VERBOSE | re.DOTALL)
_MASTER_LINES = re.compile(
    r"[ \t\r\f\n]*(?:" + _LINE_TOKEN + "|" + _BLOCK_TOKENS + "|" + _TOKENS + ")", re.VERBOSE | re.DOTALL)
_NAME = re.compile(_NAME_PATTERN)
_L_LINE, _L_SOURCE, _L_DESTINATION, _L_SERVICES, _L_LOG, _L_WHY = (
    _MASTER_LINES.groupindex[name] for name in ("LINE", "L_SOURCE", "L_DESTINATION", "L_SERVICES", "L_LOG", "L_WHY"))
# A token standing for a whole statement: the keyword it starts with, and its group.
_WHOLE = {"LINE": "ALLOW", "ZONE_BLOCK": "ZONE", "HOST_BLOCK": "HOST"}
_WHOLE_GROUP = {kind: _MASTER_LINES.groupindex[kind] for kind in _WHOLE}
_IFNAME = re.compile(r"[A-Za-z][A-Za-z0-9_./:-]*")


# Read `allow`, `zone` and `host` statements straight from the tokens where they are written in
# the usual way (see FileParser._allow); False makes the table read everything (for tests).
DIRECT_STATEMENTS = True

# How the clauses of a block are read directly: a flag, a name list, an address list, or one
# token of a type (the builder method is named after the clause).
_ZONE_CLAUSES = {"description": "STRING", "networks": "addresses", "vlan": "INT", "holds": "names", "trust": "NAME",
                 "broker": "flag", "tags": "names"}
_HOST_CLAUSES = {"description": "STRING", "address": "addresses", "addresses": "addresses", "tags": "names"}

# Positions are single integers `line << 32 | column` (1-based): the lexer makes them as it goes
# down the text (one addition per token), a span is four shifts and masks away, and they order
# like offsets. Offsets are needed only on rare paths (errors, interface names).
_LINE = 32
_COLUMN = (1 << _LINE) - 1
_new_tuple = tuple.__new__


class FileParser:
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

    def _block_token(self, index: int, token: Tok) -> tuple[Any, int, int] | None:
        """The zone or host of a ZONE_BLOCK or HOST_BLOCK token before `index`, made as the builder
        makes it, or None to read its tokens: always when the builder would report something
        (a bad address or VLAN, an unknown trust level, a clause given twice) or when a name is
        spelled like a keyword, so that every diagnostic comes from the builder."""
        if not self._statement_ends(index):
            return None
        text, path, numbers, words = self.text, self.path, self.numbers, tables().words
        whole, match = token[0], token[1]
        opening, close = match.span(_WHOLE_GROUP[whole])
        close -= 1  # the closing brace
        # going down the block line by line: the line of an offset, and where that line starts
        line = token[2] >> _LINE
        line_start = opening - (token[2] & _COLUMN) + 1
        newline = text.find("\n", opening)
        if newline < 0:
            newline = len(text)
        heads = []
        for group in ("Z_ID",) if whole == "ZONE_BLOCK" else ("H_ID", "H_ZONE"):
            name = match.group(group)
            if name in words:
                return None
            first, last = match.span(group)
            heads.append((intern(name), _new_tuple(Span, (path, numbers[line], first - line_start + 1, numbers[line],
                                                          last - line_start + 1))))
        fields: dict[str, Any] = {}
        clauses = []
        cursor = text.index("{", first) + 1
        while True:
            clause = _CLAUSE.match(text, cursor, close)
            if clause is None:
                break
            cursor = clause.end()
            keyword = clause.group(_C_KEYWORD) or "broker"
            first = clause.start(_C_KEYWORD if keyword != "broker" else _C_FLAG)
            while first > newline:
                line += 1
                line_start = newline + 1
                newline = text.find("\n", line_start)
                if newline < 0:
                    newline = len(text)
            number, column = numbers[line], 1 - line_start
            if keyword == "description":
                value = clause.group(_C_STRING)[1:-1]
                last = clause.end(_C_STRING)
            elif keyword == "vlan":
                try:
                    value = parse_vlan(clause.group(_C_INT))
                except ValueProblem:
                    return None
                last = clause.end(_C_INT)
            elif keyword == "broker":
                value = True
                last = clause.end(_C_FLAG)
            elif keyword == "trust":
                value = _TRUST.get(clause.group(_C_NAMES))
                if value is None or "," in clause.group(_C_NAMES):
                    return None
                last = clause.end(_C_NAMES)
            elif keyword in ("holds", "tags"):
                value = []
                for item in _NAME.finditer(text, *clause.span(_C_NAMES)):
                    name = item.group()
                    if name in words:
                        return None
                    start, last = item.span()
                    value.append(_Ref(intern(name), _new_tuple(Span, (path, number, column + start, number,
                                                                      column + last))))
            else:  # networks, address, addresses
                value = []
                for item in _ADDRESS_ITEM.finditer(text, *clause.span(_C_ADDRESSES)):
                    try:
                        cidr = parse_cidr(item.group())
                    except ValueProblem:
                        return None
                    start, last = item.span()
                    value.append(_Network(cidr, _new_tuple(Span, (path, number, column + start, number,
                                                                  column + last))))
                if keyword != "networks":
                    keyword = "addresses"
            clauses.append(_Clause(keyword, _new_tuple(Span, (path, number, column + first, number, column + last))))
            if keyword in SINGLE_CLAUSES:
                if keyword in fields:
                    return None  # given twice: the builder reports it
                fields[keyword] = value
            elif keyword in fields:
                fields[keyword].extend(value)
            else:
                fields[keyword] = value
        if text[cursor:close].strip():
            return None  # not read to the brace: a clause this reader does not know
        while close > newline:
            line += 1
            line_start = newline + 1
            newline = text.find("\n", line_start)
            if newline < 0:
                newline = len(text)
        end = line << _LINE | (close + 2 - line_start)
        span = self.span(token[2], end)
        name, name_span = heads[0]
        if whole == "ZONE_BLOCK":
            zone = _Zone(name, fields.get("description"), tuple(fields.get("networks", ())), fields.get("vlan"),
                         fields.get("trust") or Trust.internal, fields.get("broker", False),
                         tuple(fields.get("holds", ())), tuple(fields.get("tags", ())), False, span, name_span,
                         tuple(clauses))
            return zone, index, end
        host = _Host(name, _Ref(*heads[1]), fields.get("description"), tuple(fields.get("addresses", ())),
                     tuple(fields.get("tags", ())), span, name_span, tuple(clauses))
        return host, index, end

    # ---- the common statements, read without the table -----------------------------
    #
    # `allow`, `zone` and `host` are most of a large policy. Where one is written in the usual way
    # (names that are not spelled like keywords, no stray characters, nothing unexpected), these
    # read it straight from the tokens, calling the builder exactly as the table-driven loop
    # would (same children, same spans, same order), and the loop takes the result as if it had
    # reduced the statement itself. Anything else returns None, with any diagnostic already made
    # withdrawn, and the loop reads the statement token by token: errors are always its own.

    def _statement_ends(self, index: int) -> bool:
        """Whether the token at `index` ends a statement (the table would reduce it there)."""
        kind, value, _, _ = self.tokens[index]
        if kind == "WORD":
            return tables().words[value] in STATEMENT_KEYWORDS
        return kind in _WHOLE or kind == "SEMICOLON" or kind == "$END"

    def _split(self, index: int) -> Tok:
        """Replace the whole-statement token at `index` by its tokens; returns the first (the
        statement's keyword) typed as that keyword."""
        whole, match, start = self.tokens[index][:3]
        text, t = self.text, tables()
        first_offset, last_offset = match.span(_WHOLE_GROUP[whole])
        line = start >> _LINE
        base = start - first_offset  # position = base + offset, on the current line
        newline = text.find("\n", first_offset)
        if newline < 0:
            newline = len(text)
        parts = []
        for m in _MASTER.finditer(text, first_offset, last_offset):
            kind = m.lastgroup
            if kind == "EOF":
                break
            first, last = m.span(kind)
            if first > newline:
                line += text.count("\n", newline, first)
                base = (line << _LINE) + 1 - (text.rfind("\n", newline, first) + 1)
                newline = text.find("\n", first)
                if newline < 0:
                    newline = len(text)
            value = m.group(kind)
            if kind == "WORD":
                value = intern(value)
                kind = "WORD" if value in t.words else "NAME"
            elif kind == "PUNCT":
                kind = t.punct[value]
            parts.append(_new_tuple(Tok, (kind, value, base + first, base + last)))
        self.tokens[index:index + 1] = parts
        return _new_tuple(Tok, (_WHOLE[whole], parts[0][1], parts[0][2], parts[0][3]))

    def _whole(self, index: int, token: Tok) -> tuple[Any, int, int] | None:
        """The statement of the whole-statement token before `index`, or None to read its tokens."""
        if token[0] == "LINE":
            return self._line(index, token)
        return self._block_token(index, token)

    def _line(self, index: int, token: Tok) -> tuple[Any, int, int] | None:
        """The flow of the LINE token before `index`, as the builder would make it (a one-item
        selector shares its item's span), or None to read its tokens instead."""
        kind, value = self.tokens[index][:2]
        words = tables().words
        if not (kind in _WHOLE or kind == "$END" or kind == "SEMICOLON"
                or (kind == "WORD" and words[value] in STATEMENT_KEYWORDS)):
            return None  # the statement goes on, or something unexpected follows it
        match = token[1]
        source, destination, services, why = match.group(_L_SOURCE, _L_DESTINATION, _L_SERVICES, _L_WHY)
        if source in words or destination in words:
            return None
        path, line = self.path, self.numbers[token[2] >> _LINE]
        column = (token[2] & _COLUMN) - match.start(_L_LINE)  # + offset: the column of an offset
        if "," in services:
            names = []
            for m in _NAME.finditer(self.text, *match.span(_L_SERVICES)):
                name = m.group()
                if name in words:
                    return None
                first, last = m.span()
                names.append(_Ref(intern(name), _new_tuple(Span, (path, line, column + first, line, column + last))))
            refs = tuple(names)
        else:
            if services in words:
                return None
            first, last = match.span(_L_SERVICES)
            refs = (_Ref(intern(services), _new_tuple(Span, (path, line, column + first, line, column + last))),)
        first, last = match.span(_L_SOURCE)
        where = _new_tuple(Span, (path, line, column + first, line, column + last))
        source = _Selector((_SelName(intern(source), where),), where)
        first, last = match.span(_L_DESTINATION)
        where = _new_tuple(Span, (path, line, column + first, line, column + last))
        destination = _Selector((_SelName(intern(destination), where),), where)
        last = match.end()
        end = token[3]
        flow = _Flow(source, destination, refs, (), (), (), match.start(_L_LOG) >= 0,
                     None if why is None else why[1:-1], _new_tuple(Span, (path, line, token[2] & _COLUMN, line,
                                                                           column + last)))
        return flow, index, end

    def _selector(self, index: int) -> tuple[Any, int, int] | None:
        """`sel_item ("," sel_item)*` from `index`: (Selector, next index, end) or None."""
        tokens, span, builder = self.tokens, self.span, self.builder
        items = []
        first = tokens[index][2]
        while True:
            token = tokens[index]
            kind = token[0]
            if kind == "NAME":
                end = token[3]
                where = span(token[2], end)
                items.append(builder.sel_name([token], where))
                index += 1
            elif kind == "IPV4" or kind == "IPV6":
                end = token[3]
                where = span(token[2], end)
                items.append(builder.sel_address([builder.address([token], where)], where))
                index += 1
            elif kind == "WORD" and token[1] == "tag" and tokens[index + 1][0] == "COLON" \
                    and tokens[index + 2][0] == "NAME":
                name = tokens[index + 2]
                end = name[3]
                where = span(token[2], end)
                items.append(builder.sel_tag([name], where))
                index += 3
            elif kind == "WORD" and token[1] == "zones" and tokens[index + 1][:2] == ("WORD", "holding") \
                    and tokens[index + 2][0] == "NAME":
                name = tokens[index + 2]
                end = name[3]
                where = span(token[2], end)
                items.append(builder.sel_holding([name], where))
                index += 3
            else:
                return None
            if tokens[index][0] != "COMMA":
                # one item: the selector's span is the item's (the same value, kept once)
                return builder.selector(items, where if len(items) == 1 else span(first, end)), index, end
            index += 1

    def _names(self, index: int, make: Callable) -> tuple[Any, int, int] | None:
        """`NAME ("," NAME)*` from `index`, made into a Piece by `make` (the builder's name_list)."""
        tokens = self.tokens
        names = []
        while True:
            token = tokens[index]
            if token[0] != "NAME":
                return None
            names.append(token)
            index += 1
            if tokens[index][0] != "COMMA":
                end = token[3]
                return make(names, self.span(names[0][2], end)), index, end
            index += 1

    def _addresses(self, index: int) -> tuple[Any, int, int] | None:
        """`address ("," address)*` from `index`: (Piece, next index, end) or None."""
        tokens, span, address = self.tokens, self.span, self.builder.address
        networks = []
        first = tokens[index][2]
        while True:
            token = tokens[index]
            kind = token[0]
            if kind != "IPV4" and kind != "IPV6":
                return None
            end = token[3]
            networks.append(address([token], span(token[2], end)))
            index += 1
            if tokens[index][0] != "COMMA":
                return self.builder.address_list(networks, span(first, end)), index, end
            index += 1

    def _allow(self, index: int, start: int) -> tuple[Any, int, int] | None:
        """`allow SELECTOR -> SELECTOR : NAMES OPTIONS*`, from the token after `allow`."""
        made = len(self.diagnostics)
        tokens, span, builder = self.tokens, self.span, self.builder
        children = []
        for separator in ("__ANON_0", "COLON"):
            read = self._selector(index)
            if read is None or tokens[read[1]][0] != separator:
                del self.diagnostics[made:]
                return None
            children.append(read[0])
            index = read[1] + 1
        read = self._names(index, builder.name_list)
        if read is None:
            del self.diagnostics[made:]
            return None
        piece, index, end = read
        children.append(piece)
        while True:
            token = tokens[index]
            kind, value = token[0], token[1]
            if kind == "STRING":
                end = token[3]
                children.append(builder.justification([token], span(token[2], end)))
                index += 1
                continue
            if kind == "WORD":
                if value == "log":
                    end = token[3]
                    children.append(builder.log([], span(token[2], end)))
                    index += 1
                    continue
                if value == "carrying":
                    read = self._names(index + 1, builder.name_list)
                    if read is not None:
                        piece, index, end = read
                        children.append(builder.carrying([piece], span(token[2], end)))
                        continue
                elif value == "except" and tokens[index + 1][0] == "WORD" and tokens[index + 1][1] in ("from", "to"):
                    make = builder.except_from if tokens[index + 1][1] == "from" else builder.except_to
                    read = self._selector(index + 2)
                    if read is not None:
                        selector, index, end = read
                        children.append(make([selector], span(token[2], end)))
                        continue
            break
        if not self._statement_ends(index):
            del self.diagnostics[made:]
            return None
        return builder.allow(children, span(start, end)), index, end

    def _block(self, index: int, clauses: dict) -> tuple[list, int, int] | None:
        """`"{" (CLAUSE ";"?)* "}"` from `index`: (clause pieces, index after the brace, its end)."""
        tokens, span, builder = self.tokens, self.span, self.builder
        if tokens[index][0] != "LBRACE":
            return None
        index += 1
        pieces = []
        while True:
            token = tokens[index]
            kind = token[0]
            if kind == "RBRACE":
                return pieces, index + 1, token[3]
            if kind != "WORD" or token[1] not in clauses:
                return None
            clause = token[1]
            form = clauses[clause]
            nxt = tokens[index + 1]
            if form == "flag":
                end = token[3]
                piece = getattr(builder, clause)([], span(token[2], end))
                index += 1
            elif form == "names":
                read = self._names(index + 1, builder.name_list)
                if read is None:
                    return None
                inner, index, end = read
                piece = getattr(builder, clause)([inner], span(token[2], end))
            elif form == "addresses":
                read = self._addresses(index + 1)
                if read is None:
                    return None
                inner, index, end = read
                if clause == "networks":
                    piece = builder.networks([inner], span(token[2], end))
                else:  # `address` or `addresses`: the keyword is a named token
                    keyword = _new_tuple(Tok, ("ADDRESS_KW", token[1], token[2], token[3]))
                    piece = builder.addresses([keyword, inner], span(token[2], end))
            elif nxt[0] == form:  # one token of this type
                end = nxt[3]
                piece = getattr(builder, clause)([nxt], span(token[2], end))
                index += 2
            else:
                return None
            pieces.append(piece)
            if tokens[index][0] == "SEMICOLON":
                index += 1

    def _zone(self, index: int, start: int) -> tuple[Any, int, int] | None:
        """`zone NAME { ... }`, from the token after `zone`."""
        made = len(self.diagnostics)
        name = self.tokens[index]
        read = self._block(index + 1, _ZONE_CLAUSES) if name[0] == "NAME" else None
        if read is None or not self._statement_ends(read[1]):
            del self.diagnostics[made:]
            return None
        pieces, index, end = read
        return self.builder.zone([name, *pieces], self.span(start, end)), index, end

    def _host(self, index: int, start: int) -> tuple[Any, int, int] | None:
        """`host NAME in NAME { ... }`, from the token after `host`."""
        made = len(self.diagnostics)
        tokens = self.tokens
        read = None
        if index + 3 < len(tokens) and tokens[index][0] == "NAME" and tokens[index + 1][:2] == ("WORD", "in") \
                and tokens[index + 2][0] == "NAME":
            name, zone = tokens[index], tokens[index + 2]
            read = self._block(index + 3, _HOST_CLAUSES)
        if read is None or not self._statement_ends(read[1]):
            del self.diagnostics[made:]
            return None
        pieces, index, end = read
        return self.builder.host([name, zone, *pieces], self.span(start, end)), index, end

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
