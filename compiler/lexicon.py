"""The zone-file lexicon: token patterns, the whole-statement patterns, and source positions.

`parser.FileParser` lexes with the patterns here; `statements.StatementReaders` reads the
whole-statement tokens (`LINE`, `ZONE_BLOCK`, `HOST_BLOCK`) they match.
"""

from __future__ import annotations

import re

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
# one LINE token: the parser makes its model straight from the match (statements.py, `_line`),
# or splits it into the tokens above when anything about it is unusual.
_LINE_TOKEN = r"""
      (?P<LINE>allow[ \t]+(?P<L_SOURCE>NAME)[ \t]*->[ \t]*(?P<L_DESTINATION>NAME)[ \t]*:[ \t]*
               (?P<L_SERVICES>NAME(?:[ \t]*,[ \t]*NAME)*)(?:[ \t]+(?P<L_LOG>log))?(?:[ \t]*(?P<L_WHY>"[^"\\\n]*"))?)
      (?=[ \t\r\f]*(?:\#|\n|$))
"""
# Likewise a whole `zone` or `host` block written plainly (its clauses in their usual forms, no
# comments inside, no escapes in strings), as one ZONE_BLOCK or HOST_BLOCK token
# (StatementReaders._block_token). Each clause is matched atomically, so a block that does not fit
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


# Positions are single integers `line << 32 | column` (1-based): the lexer makes them as it goes
# down the text (one addition per token), a span is four shifts and masks away, and they order
# like offsets. Offsets are needed only on rare paths (errors, interface names).
_LINE = 32
_COLUMN = (1 << _LINE) - 1
_new_tuple = tuple.__new__
