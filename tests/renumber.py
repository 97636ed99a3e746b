"""Renumber a policy tree's IPv4 addresses into 198.18.0.0/15, the block reserved for network
benchmarking (RFC 2544), so that the live tests (tests/netlab.py) can configure and send real
packets that never mean anything to any other network.

The address plan of the copy:

* every IPv4 network of a zone gets a block of its own, of the same size and aligned to it,
  allocated biggest first from 198.18.0.0 upwards (`ZONE_REGION`); hosts and raw addresses
  inside a zone network keep their offset in it, so hosts stay in their zones and carve-outs
  keep their shape;
* raw addresses outside every zone network (the hospital's internet partners 203.0.113.0/24 and
  198.51.100.0/24) get blocks of their own in `INTERNET_REGION`, which no zone gets, so they
  stay `internet` in the copy;
* `LINK_NETWORK` (198.19.255.0/24) is left to the lab's link addresses;
* IPv6 is kept as it is.

The rewrite is done on the text (each IPv4 literal is replaced in place, so lines and columns
keep their meaning), with the mapping taken from the parsed model's zone networks. Literals in
comments and quoted strings are mapped when they fall inside a mapped block and left alone
otherwise (a comment's `10.10.0.0/16` summary of several zones has no single image); a literal
in the policy itself that cannot be mapped is an error. `renumber_tree` then checks the copy:
it must compile (verification included) and have exactly as many zones, hosts and flows, and
every device as many rules, as the original.

Usage: python tests/renumber.py SOURCE DEST [--disable CHECK ...]
"""

from __future__ import annotations

import argparse
import ipaddress
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

LAB_NETWORK = ipaddress.IPv4Network("198.18.0.0/15")
ZONE_REGION = (int(ipaddress.IPv4Address("198.18.0.0")), int(ipaddress.IPv4Address("198.19.127.255")))
INTERNET_REGION = (int(ipaddress.IPv4Address("198.19.128.0")), int(ipaddress.IPv4Address("198.19.254.255")))
LINK_NETWORK = ipaddress.IPv4Network("198.19.255.0/24")

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4_LITERAL = re.compile(rf"(?<![\w.:])({_OCTET}(?:\.{_OCTET}){{3}})(?:/(3[0-2]|[12]?[0-9]))?(?![\w.:]|/\d)")
# What the lexer skips or keeps as text (grammar/septum.lark: STRING, COMMENT), and everything else.
_TOKENS = re.compile(r'(?P<string>"(?:[^"\\\n]|\\.)*")|(?P<comment>#[^\n]*)')


class RenumberError(ValueError):
    """The tree cannot be renumbered faithfully (a literal straddles blocks, or they do not fit)."""


@dataclass(frozen=True)
class Block:
    """An IPv4 block of the original tree, [first, first + size), and where it goes."""

    first: int
    size: int
    new_first: int

    @property
    def last(self) -> int:
        return self.first + self.size - 1

    def holds(self, first: int, last: int) -> bool:
        return self.first <= first and last <= self.last


@dataclass
class Renumbering:
    """The address plan: zone blocks and internet blocks, old -> new."""

    zone_blocks: list[Block] = field(default_factory=list)
    internet_blocks: list[Block] = field(default_factory=list)

    def image(self, first: int, prefix: int) -> int | None:
        """The new address of `first` (a literal of length `prefix`), or None if no block holds it whole."""
        last = first | ((1 << (32 - prefix)) - 1)
        for block in self.zone_blocks + self.internet_blocks:
            if block.holds(first & ~((1 << (32 - prefix)) - 1), last):
                return block.new_first + (first - block.first)
        return None

    def describe(self) -> str:
        def line(block: Block) -> str:
            size = 32 - (block.size.bit_length() - 1)
            return f"  {ipaddress.IPv4Address(block.first)}/{size} -> {ipaddress.IPv4Address(block.new_first)}/{size}"

        return "\n".join(["zone networks:"] + [line(b) for b in self.zone_blocks]
                         + ["internet addresses:"] + [line(b) for b in self.internet_blocks])


def _literal_block(address: str, prefix: str | None) -> tuple[int, int]:
    """(address as int, prefix length) of a literal such as `10.2.0.10` or `10.2.0.0/24`."""
    return int(ipaddress.IPv4Address(address)), 32 if prefix is None else int(prefix)


def _network(first: int, prefix: int) -> tuple[int, int]:
    """(first, size) of the CIDR block holding `first`."""
    size = 1 << (32 - prefix)
    return first & ~(size - 1), size


def _outermost(blocks: set[tuple[int, int]]) -> list[tuple[int, int]]:
    """The (first, size) blocks no other block of the set contains (CIDR blocks nest or are disjoint)."""
    out: list[tuple[int, int]] = []
    for first, size in sorted(blocks, key=lambda b: (b[0], -b[1])):
        if out and first + size - 1 <= out[-1][0] + out[-1][1] - 1:
            continue
        out.append((first, size))
    return out


def _allocate(blocks: list[tuple[int, int]], region: tuple[int, int], what: str) -> list[Block]:
    """Give each block a new one of its size, biggest first and consecutive from the start of
    `region` (sizes are powers of two, so each new block is aligned to its size)."""
    cursor = region[0]
    out = []
    for first, size in sorted(blocks, key=lambda b: (-b[1], b[0])):
        if cursor + size - 1 > region[1]:
            raise RenumberError(f"the {what} do not fit into {ipaddress.IPv4Address(region[0])}-"
                                f"{ipaddress.IPv4Address(region[1])}")
        out.append(Block(first, size, cursor))
        cursor += size
    return sorted(out, key=lambda b: b.first)


def _code_literals(text: str):
    """The IPv4 literals outside comments and strings: (match of IPV4_LITERAL)."""
    position = 0
    for skipped in _TOKENS.finditer(text):
        yield from IPV4_LITERAL.finditer(text, position, skipped.start())
        position = skipped.end()
    yield from IPV4_LITERAL.finditer(text, position)


def plan(policy, texts: dict[str, str]) -> Renumbering:
    """The address plan for a parsed policy and the texts of its files."""
    zone_networks: set[tuple[int, int]] = set()
    for zone in policy.zones.values():
        for network in zone.networks:
            parsed = ipaddress.ip_network(network.cidr, strict=False)
            if parsed.version == 4:
                zone_networks.add((int(parsed.network_address), parsed.num_addresses))
    zone_blocks = _allocate(_outermost(zone_networks), ZONE_REGION, "zone networks")
    outside: set[tuple[int, int]] = set()
    for text in texts.values():
        for match in _code_literals(text):
            first, prefix = _literal_block(*match.groups())
            network = _network(first, prefix)
            if not any(b.holds(network[0], network[0] + network[1] - 1) for b in zone_blocks):
                if any(b.first <= network[0] + network[1] - 1 and network[0] <= b.last for b in zone_blocks):
                    raise RenumberError(f"{match.group(0)} holds zone networks and more: it has no image")
                outside.add(network)
    return Renumbering(zone_blocks, _allocate(_outermost(outside), INTERNET_REGION, "addresses outside the zones"))


def rewrite(text: str, renumbering: Renumbering, name: str = "") -> str:
    """The text with every IPv4 literal replaced by its image (see the module's docstring)."""

    def replace(match: re.Match, strict: bool) -> str:
        first, prefix = _literal_block(*match.groups())
        new = renumbering.image(first, prefix)
        if new is None:
            if strict:
                raise RenumberError(f"{name}: {match.group(0)} has no image")
            return match.group(0)
        return str(ipaddress.IPv4Address(new)) + ("" if match.group(2) is None else f"/{prefix}")

    out = []
    position = 0
    for skipped in _TOKENS.finditer(text):
        out.append(IPV4_LITERAL.sub(lambda m: replace(m, True), text[position:skipped.start()]))
        out.append(IPV4_LITERAL.sub(lambda m: replace(m, False), skipped.group(0)))
        position = skipped.end()
    out.append(IPV4_LITERAL.sub(lambda m: replace(m, True), text[position:]))
    return "".join(out)


@dataclass
class Counts:
    zones: int
    hosts: int
    flows: int
    rules: dict[str, int]  # device -> rules of its compiled intent


def compiled(path: Path, disabled: frozenset[str] = frozenset()):
    """(loaded policy, compile result) of a tree; fails unless it compiles with verification."""
    from septum.compiler.devices.pipeline import load_and_compile

    loaded, result = load_and_compile(path, verify=True, disabled=disabled)
    if result.intent is None:
        problems = "; ".join(f"{d.code} {d.message}" for d in result.diagnostics if not d.waived_by)[:2000]
        raise RenumberError(f"{path} does not compile (exit {result.status}): {result.message or problems}")
    return loaded, result


def counts(loaded, result) -> Counts:
    policy = loaded.policy
    return Counts(len(policy.zones), len(policy.hosts), len(policy.flows),
                  {name: len(device.rules) for name, device in result.intent.devices.items()})


def renumber_tree(source: Path, dest: Path, disabled: frozenset[str] = frozenset()) -> Renumbering:
    """Copy the policy tree `source` to `dest` with its IPv4 addresses renumbered, and check the copy."""
    loaded, result = compiled(source, disabled)
    before = counts(loaded, result)
    files = sorted(source.rglob("*.septum"))
    texts = {str(f): f.read_text() for f in files}
    renumbering = plan(loaded.policy, texts)
    shutil.copytree(source, dest)
    for file in files:
        target = dest / file.relative_to(source)
        target.write_text(rewrite(texts[str(file)], renumbering, str(file)))
    after_loaded, after_result = compiled(dest, disabled)
    after = counts(after_loaded, after_result)
    if after != before:
        raise RenumberError(f"the copy is not the same policy: {before} before, {after} after")
    _check_zone_addresses(loaded.policy, after_loaded.policy)
    return renumbering


def _check_zone_addresses(before, after) -> None:
    """Every zone's IPv4 networks lie in ZONE_REGION in the copy, and its IPv6 networks are unchanged."""
    for name, zone in after.zones.items():
        for network in zone.networks:
            parsed = ipaddress.ip_network(network.cidr, strict=False)
            if parsed.version == 4 and not (ZONE_REGION[0] <= int(parsed.network_address)
                                            and int(parsed.broadcast_address) <= ZONE_REGION[1]):
                raise RenumberError(f"zone {name}: {network.cidr} is outside the zone region")
        old = [n.cidr for n in before.zones[name].networks if ":" in n.cidr]
        new = [n.cidr for n in zone.networks if ":" in n.cidr]
        if old != new:
            raise RenumberError(f"zone {name}: its IPv6 networks changed ({old} -> {new})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("dest", type=Path, help="created; must not exist")
    parser.add_argument("--disable", action="append", default=[], metavar="CHECK")
    args = parser.parse_args(argv)
    try:
        renumbering = renumber_tree(args.source, args.dest, frozenset(args.disable))
    except RenumberError as error:
        print(f"renumber: {error}", file=sys.stderr)
        return 1
    print(renumbering.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
