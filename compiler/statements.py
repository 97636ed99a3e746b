"""`allow`, `zone` and `host` statements read without the LALR table.

They are most of a large policy. Where one is written in the usual way (names that are not
spelled like keywords, no stray characters, nothing unexpected), these readers make it straight
from one whole-statement token (`_line`, `_block_token`) or from its tokens (`_allow`, `_zone`,
`_host`), calling the builder exactly as the table-driven loop in `parser.FileParser` would (same
children, same spans, same order), and the loop takes the result as if it had reduced the
statement itself. Anything else returns None, with any diagnostic already made withdrawn, and the
loop reads the statement token by token: errors are always its own.
"""

from __future__ import annotations

from sys import intern
from typing import Any, Callable

from .builder import (
    _TRUST, SINGLE_CLAUSES, Tok, _Clause, _Flow, _Host, _Network, _Ref, _Selector, _SelName, _Zone)
from .lexicon import (
    _ADDRESS_ITEM, _C_ADDRESSES, _C_FLAG, _C_INT, _C_KEYWORD, _C_NAMES, _C_STRING, _CLAUSE, _COLUMN, _L_DESTINATION,
    _L_LINE, _L_LOG, _L_SERVICES, _L_SOURCE, _L_WHY, _LINE, _MASTER, _NAME, _WHOLE, _WHOLE_GROUP, STATEMENT_KEYWORDS,
    _new_tuple)
from .model import Span, Trust
from .tables import tables
from .values import ValueProblem, parse_cidr, parse_vlan

# How the clauses of a block are read directly: a flag, a name list, an address list, or one
# token of a type (the builder method is named after the clause).
_ZONE_CLAUSES = {"description": "STRING", "networks": "addresses", "vlan": "INT", "holds": "names", "trust": "NAME",
                 "broker": "flag", "tags": "names"}
_HOST_CLAUSES = {"description": "STRING", "address": "addresses", "addresses": "addresses", "tags": "names"}


def _down_to(text: str, offset: int, line: int, newline: int) -> tuple[int, int, int]:
    """From `line`, which ends at `newline`, down to the line holding `offset`: that line's
    number, where it starts, and where it ends."""
    while True:
        line += 1
        line_start = newline + 1
        newline = text.find("\n", line_start)
        if newline < 0:
            newline = len(text)
        if offset <= newline:
            return line, line_start, newline


class StatementReaders:
    """The direct readers, mixed into `parser.FileParser` (they use its tokens, text, builder,
    spans and diagnostics)."""

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
            if first > newline:
                line, line_start, newline = _down_to(text, first, line, newline)
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
        if close > newline:
            line, line_start, newline = _down_to(text, close, line, newline)
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
