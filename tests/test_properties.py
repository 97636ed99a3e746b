"""Hypothesis properties: fmt round-trips the model; no input produces anything but diagnostics."""

from __future__ import annotations

import datetime as dt
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ZONES, run_septum
from helpers import examples, parse_both_ways
from septum.compiler import load_policy
from septum.compiler.model import (
    Assertion, BackendKind, Binding, Comment, DataType, Device, DeviceRole, Flow, Group, Host, Match, Network, NoPath,
    OnlyEncrypted, OnlyMayConnect, PortRange, Ref, Requirement, SelAddress, SelHolding, Selector, SelName, SelTag,
    Sensitivity, Service, SourceFile, Span, Trust, Use, Waiver, Zone,
)
from septum.compiler.parser import parse_text, tables
from septum.compiler.printer import format_file
from septum.compiler.verify import verify

SPAN = Span("gen.septum", 1, 1, 1, 1)
KEYWORDS = set(tables().words)

names = st.from_regex(r"[a-z][a-z0-9_-]{0,8}[a-z0-9]", fullmatch=True).filter(lambda n: n not in KEYWORDS)
refs = st.builds(lambda n: Ref(name=n, span=SPAN), names)
ref_lists = st.lists(refs, min_size=1, max_size=3).map(tuple)
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")) | st.sampled_from('"\\\n\t'), max_size=30)


def ipv4_networks():
    return st.builds(lambda a, b, p: f"10.{a}.{b & (0xFF << (24 - p) & 0xFF if p < 24 else 0xFF)}.0/{p}",
                     st.integers(0, 255), st.integers(0, 255), st.integers(16, 24))


def ipv6_networks():
    return st.builds(lambda a, p: f"fd00:{a:x}::/{p}", st.integers(1, 0xFFFF), st.sampled_from([48, 64]))


cidrs = st.one_of(ipv4_networks(), ipv6_networks(), st.builds(lambda d: f"10.9.8.{d}/32", st.integers(0, 255)))
networks = st.lists(st.builds(lambda c: Network(cidr=c, span=SPAN), cidrs), min_size=1, max_size=3).map(tuple)

selector_items = st.one_of(
    st.builds(lambda n: SelName(name=n, span=SPAN), names),
    st.builds(lambda n: SelTag(tag=n, span=SPAN), names),
    st.builds(lambda n: SelHolding(datatype=n, span=SPAN), names),
    st.builds(lambda c: SelAddress(cidr=c, span=SPAN), cidrs),
)
selectors = st.builds(lambda items: Selector(items=tuple(items), span=SPAN), st.lists(selector_items, min_size=1, max_size=3))

ports = st.builds(lambda a, b: PortRange(low=min(a, b), high=max(a, b)), st.integers(0, 65535), st.integers(0, 65535))
matches = st.one_of(
    st.builds(lambda p, ps: Match(protocol=p, ports=tuple(ps), span=SPAN), st.sampled_from(["tcp", "udp"]),
              st.lists(ports, min_size=1, max_size=3)),
    st.builds(lambda p, t, c: Match(protocol=p, icmp_type=t, icmp_code=c if t is not None else None, span=SPAN),
              st.sampled_from(["icmp", "icmpv6"]), st.none() | st.integers(0, 255), st.none() | st.integers(0, 255)),
)

zones = st.builds(
    lambda n, d, nets, v, t, b, h, tags: Zone(name=n, description=d, networks=nets, vlan=v, trust=t, broker=b,
                                             holds=h, tags=tags, span=SPAN, name_span=SPAN),
    names, st.none() | text, networks, st.none() | st.integers(1, 4094), st.sampled_from(list(Trust)), st.booleans(),
    st.just(()) | ref_lists, st.just(()) | ref_lists,
)
hosts = st.builds(
    lambda n, z, d, nets, tags: Host(name=n, zone=z, description=d, addresses=nets, tags=tags, span=SPAN,
                                     name_span=SPAN),
    names, refs, st.none() | text, networks, st.just(()) | ref_lists,
)
services = st.builds(
    lambda n, d, m, c, e, old: Service(name=n, description=d, matches=tuple(m), carries=c, encrypted=e, legacy=old,
                                       span=SPAN, name_span=SPAN),
    names, st.none() | text, st.lists(matches, max_size=3), st.just(()) | ref_lists, st.booleans(), st.booleans(),
)
datatypes = st.builds(lambda n, s, d: DataType(name=n, sensitivity=s, description=d, span=SPAN, name_span=SPAN),
                      names, st.sampled_from(list(Sensitivity)), st.none() | text)
groups = st.builds(lambda n, s: Group(name=n, selector=s, span=SPAN, name_span=SPAN), names, selectors)
flows = st.builds(
    lambda s, d, sv, c, ef, et, log, j: Flow(source=s, destination=d, services=sv, carrying=c, except_from=tuple(ef),
                                             except_to=tuple(et), log=log, justification=j, span=SPAN),
    selectors, selectors, ref_lists, st.just(()) | ref_lists, st.lists(selectors, max_size=2),
    st.lists(selectors, max_size=2), st.booleans(), st.none() | text,
)
bodies = st.one_of(
    st.builds(lambda s, d, w, t: NoPath(source=s, destination=d, within=w, through=t), selectors, selectors,
              st.none() | st.integers(1, 9), st.none() | selectors),
    st.builds(lambda r: OnlyEncrypted(datatype=r), refs),
    st.builds(lambda a, t, s: OnlyMayConnect(allowed=a, target=t, services=s), selectors, selectors,
              st.just(()) | ref_lists),
)
labels = st.none() | refs
assertions = st.builds(lambda l, b, j: Assertion(label=l, body=b, justification=j, span=SPAN), labels, bodies,
                       st.none() | text)
requirements = st.builds(
    lambda l, s, d, sv, j: Requirement(label=l, source=s, destination=d, services=sv, justification=j, span=SPAN),
    labels, selectors, selectors, ref_lists, st.none() | text)
waivers = st.builds(
    lambda l, t, s, d, sv, u, r: Waiver(label=l if t is None else None, text=t, source=s, destination=d, services=sv,
                                        until=u, reason=r, span=SPAN),
    refs, st.none() | text, selectors, selectors, st.just(()) | ref_lists,
    st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31)), text.filter(lambda reason: reason.strip()))
bindings = st.one_of(
    st.builds(lambda i, z: Binding(interface=i, zone=z, span=SPAN),
              st.from_regex(r"[A-Za-z][A-Za-z0-9./:-]{0,12}", fullmatch=True), refs),
    st.builds(lambda p, z: Binding(port=p, zone=z, span=SPAN), st.integers(1, 4096), refs),
    st.builds(lambda i, d: Binding(interface=i, link=d, span=SPAN),
              st.from_regex(r"[A-Za-z][A-Za-z0-9./:-]{0,12}", fullmatch=True), refs),
    st.builds(lambda p, d: Binding(port=p, link=d, span=SPAN), st.integers(1, 4096), refs),
)
devices = st.builds(
    lambda r, n, k, d, b: Device(role=r, name=n, backend=k, description=d, bindings=tuple(b), span=SPAN, name_span=SPAN),
    st.sampled_from(list(DeviceRole)), names, st.sampled_from(list(BackendKind)), st.none() | text,
    st.lists(bindings, max_size=3))
uses = st.builds(lambda parts: Use(module=".".join(parts), span=SPAN), st.lists(names, min_size=1, max_size=3))

statements = st.one_of(zones, hosts, services, datatypes, groups, flows, assertions, requirements, waivers, devices, uses)


def semantic(value):
    """The model without source positions: what a statement means."""
    if isinstance(value, dict):
        return {k: semantic(v) for k, v in value.items() if not k.endswith("span") and k != "clauses"}
    if isinstance(value, (list, tuple)):
        return [semantic(v) for v in value]
    return value


def with_lines(items: list) -> list:
    """Give generated statements increasing line numbers, as parsed ones have."""
    return [s.model_copy(update={"span": Span("gen.septum", i * 10 + 1, 1, i * 10 + 1, 2)}) for i, s in enumerate(items)]


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(statements, max_size=8))
def test_fmt_round_trips_the_model(items):
    source = SourceFile(path="gen.septum", statements=tuple(with_lines(items)))
    text_out = format_file(source)
    parsed, diagnostics, _ = parse_text("gen.septum", text_out)
    assert diagnostics == [], text_out
    assert semantic([s.model_dump() for s in parsed.statements]) == semantic([s.model_dump() for s in source.statements])
    assert format_file(parsed) == text_out  # idempotent


@settings(max_examples=examples(200), deadline=None)
@given(st.lists(statements, min_size=1, max_size=6), st.lists(st.text(max_size=20).map(lambda t: "# " + t.replace("\n", " ")), max_size=4), st.randoms())
def test_fmt_keeps_every_comment(items, comments, rng):
    text_in = format_file(SourceFile(path="gen.septum", statements=tuple(with_lines(items))))
    lines = text_in.splitlines()
    for comment in comments:
        lines.insert(rng.randint(0, len(lines)), comment)
    text_in = "\n".join(lines) + "\n"
    parsed, diagnostics, _ = parse_text("gen.septum", text_in)
    if diagnostics:  # a comment line inserted inside a string is not a comment: nothing to check
        return
    formatted = format_file(parsed)
    reparsed, diagnostics, _ = parse_text("gen.septum", formatted)
    assert diagnostics == []
    assert sorted(c.text.rstrip() for c in reparsed.comments) == sorted(c.text.rstrip() for c in parsed.comments)
    assert semantic([s.model_dump() for s in reparsed.statements]) == semantic([s.model_dump() for s in parsed.statements])


HOSPITAL = {p.relative_to(ZONES): p.read_text() for p in sorted(ZONES.rglob("*.septum"))}
ALPHABET = list('{}:;,=.-># "\\\n\t/0123456789abcdefxyz') + ["zone", "allow", "->", "10.1.2.3/33", "host", "tag:", "use "]


def mutate(text_in: str, rng: random.Random) -> str:
    for _ in range(rng.randint(1, 6)):
        position = rng.randrange(len(text_in) + 1)
        choice = rng.random()
        if choice < 0.4:
            text_in = text_in[:position] + text_in[position + rng.randint(1, 12):]
        elif choice < 0.8:
            text_in = text_in[:position] + rng.choice(ALPHABET) + text_in[position:]
        else:
            other = rng.randrange(len(text_in) + 1)
            text_in = text_in[:position] + text_in[other:other + 40] + text_in[position:]
    return text_in


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.randoms(use_true_random=False), st.sampled_from(sorted(HOSPITAL)))
def test_mutated_hospital_gives_only_diagnostics(tmp_path_factory, rng, victim):
    base = tmp_path_factory.mktemp("mutant")
    for relative, content in HOSPITAL.items():
        target = base / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(mutate(content, rng) if relative == victim else content)
    result = load_policy(base)  # must not raise
    if result.exit_status() != 2:  # it still reads as a policy: verifying it must not raise either
        result.diagnostics += verify(result.policy, dt.date(2026, 11, 23), set())
    for diagnostic in result.diagnostics:
        assert diagnostic.span is not None and diagnostic.help and diagnostic.message


@settings(max_examples=examples(300), deadline=None)
@given(st.text(max_size=200))
def test_random_text_gives_only_diagnostics(garbage):
    parse_text("r.septum", garbage)  # must not raise


def test_mutated_inputs_through_the_cli_exit_2_without_traceback(tmp_path):
    rng = random.Random(7)
    for index in range(5):
        base = tmp_path / f"m{index}"
        for relative, content in HOSPITAL.items():
            target = base / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        victim = base / rng.choice(sorted(HOSPITAL))
        broken = mutate(victim.read_text(), rng) + "\nzone }"
        victim.write_text(broken)
        result = run_septum("check", str(base))
        assert result.returncode == 2
        assert "Traceback" not in result.stdout + result.stderr
        assert "error[E001]" in result.stdout


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(statements, max_size=8), st.randoms(use_true_random=False))
def test_direct_statement_readers_are_the_table(items, rng):
    """`allow`, `zone` and `host` read straight from the tokens give exactly what the LALR table
    gives (model, spans, diagnostics and their order), on valid and on mutated text."""
    text_out = format_file(SourceFile(path="gen.septum", statements=tuple(with_lines(items))))
    direct, table = parse_both_ways(text_out)
    assert direct == table
    mutant = mutate(text_out or "zone a { }", rng)
    direct, table = parse_both_ways(mutant)
    assert direct == table, mutant


def test_zone_keyword_inside_a_device_is_not_a_zone_statement():
    """Found by CI: `zone NAME {}` where a binding expects `zone NAME` must not be read as a statement."""
    mutant = "dype a0 {}\n\nfirewall a0 nftables {\n  interface A zone a00 {}\n\nfirewall a0 nftables {\n  interface\n"
    direct, table = parse_both_ways(mutant)
    assert direct == table


@settings(max_examples=examples(200), deadline=None)
@given(st.randoms(use_true_random=False), st.sampled_from(sorted(HOSPITAL)))
def test_direct_statement_readers_on_the_mutated_hospital(rng, victim):
    mutant = mutate(HOSPITAL[victim], rng)
    direct, table = parse_both_ways(mutant)
    assert direct == table, mutant


octets = st.one_of(st.integers(0, 300).map(str), st.sampled_from(["00", "01", "010", "255", "256", ""]))
ipv4_texts = st.builds(
    lambda parts, slash, prefix: ".".join(parts) + (f"/{prefix}" if slash else ""),
    st.lists(octets, min_size=3, max_size=5), st.booleans(),
    st.one_of(st.integers(0, 40).map(str), st.sampled_from(["", "024", "00", "1x"])),
)


groups = st.one_of(st.just("0"), st.just(""), st.integers(0, 0xFFFF).map(lambda g: f"{g:x}"),
                   st.integers(0, 0xFFFF).map(lambda g: f"{g:04X}"), st.sampled_from(["00000", "g1", "1.2.3.4"]))
ipv6_texts = st.builds(
    lambda parts, slash, prefix: ":".join(parts) + (f"/{prefix}" if slash else ""),
    st.lists(groups, min_size=2, max_size=9), st.booleans(),
    st.one_of(st.integers(0, 140).map(str), st.sampled_from(["", "064", "1x"])),
)


@settings(max_examples=examples(1000), deadline=None)
@given(ipv4_texts | ipv6_texts | cidrs)
def test_address_shortcuts_are_netaddr(text_in):
    """IPv4 and IPv6 are read without netaddr where that is exact: same value, same error."""
    from septum.compiler.values import ValueProblem, parse_cidr, parse_cidr_netaddr

    def outcome(parse):
        try:
            return parse(text_in)
        except ValueProblem as problem:
            return (problem.code, problem.message, problem.help)

    assert outcome(parse_cidr) == outcome(parse_cidr_netaddr)


@settings(max_examples=examples(150), deadline=None)
@given(st.randoms(use_true_random=False), st.sampled_from(sorted(HOSPITAL)))
def test_parse_cache_entries_round_trip(rng, victim):
    from septum.compiler import parse_cache

    parsed = parse_text("c.septum", mutate(HOSPITAL[victim], rng))
    again = parse_cache._decode(parse_cache._encode(parsed))
    assert repr(again[:2]) == repr(parsed[:2]) and again == parsed  # (a set's repr has no fixed order)


block_names = st.sampled_from(["a", "ehr-1", "x_y", "log", "tags", "zone", "internal", "broker", "in", "tag"])
block_addresses = st.sampled_from(["10.0.0.0/24", "10.0.0.1", "10.0.0.1/24", "fd00::/64", "fd00::1/64", "FD00:0::/48",
                                   "300.1.1.1", "10.0.0.0/33", "10.0.0.", "::ffff:1.2.3.4", "1.2.3.4/"])
name_lists = st.lists(block_names, min_size=1, max_size=3).map(", ".join)
address_lists = st.lists(block_addresses, min_size=1, max_size=3).map(", ".join)
zone_clauses = st.one_of(
    st.sampled_from(['description "x"', 'description "a}b # c"', 'description "e\\\\q"', "broker", "vlan 7",
                     "vlan 5000", "vlan 007", "trust internal", "trust restricted", "trust sideways", "trust log"]),
    name_lists.map("holds {}".format), name_lists.map("tags {}".format), address_lists.map("networks {}".format),
)
host_clauses = st.one_of(
    st.sampled_from(['description "h"', "vlan 3"]), name_lists.map("tags {}".format),
    address_lists.map("address {}".format), address_lists.map("addresses {}".format),
)
separators = st.sampled_from(["\n  ", "; ", " ", ";\n", "\n\n  ", " # c\n  ", ";;", "\t"])


@st.composite
def blocks(draw):
    if draw(st.booleans()):
        body = draw(st.lists(zone_clauses, max_size=6))
        head = f"zone {draw(block_names)} {{"
    else:
        body = draw(st.lists(host_clauses, max_size=3))
        head = f"host {draw(block_names)} in {draw(block_names)} {{"
    parts = [head]
    for clause in body:
        parts += [draw(separators), clause]
    return "".join(parts) + draw(st.sampled_from([" }", "\n}", "}"]))


@settings(max_examples=examples(400), deadline=None)
@given(st.lists(blocks(), min_size=1, max_size=4), st.sampled_from(["\n", " ", ";\n", " # k\n"]), st.booleans(),
       st.integers(0, 10_000))
def test_direct_block_readers_are_the_table(items, separator, cut, at):
    """Zone and host blocks read whole (statements._block_token) give what the table gives, with
    every diagnostic of the builder (bad values, repeated clauses) and the table's own."""
    text_in = separator.join(items) + "\nallow a -> b : c\n"
    if cut:
        text_in = text_in[: at % len(text_in)]
    direct, table = parse_both_ways(text_in)
    assert direct == table, text_in
