"""Disjoint boxes (compiler/devices/boxes.py): no two boxes of one kind share a packet, and their
union is exactly the union of the rules — checked in the packet-set engine on random rules."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from helpers import examples
from septum.compiler.devices.boxes import disjoint_boxes
from septum.compiler.devices.intent import L4, Rule
from septum.compiler.devices.prove import DeviceSpace, services_set
from septum.compiler.packets.addresses import AddressSet

ZONE = AddressSet(((1000, 1999),), ((5000, 5999),))
EGRESSES = ("e1", "e2", "e3")


def _intervals(draw, low: int, high: int) -> tuple[tuple[int, int], ...]:
    cuts = sorted(draw(st.sets(st.integers(low, high), min_size=2, max_size=6)))
    pairs = [(cuts[i], cuts[i + 1]) for i in range(0, len(cuts) - 1, 2)]
    return tuple(pairs)


def _addresses(v4, v6) -> AddressSet:
    return AddressSet.of([(4, a, b) for a, b in v4] + [(6, a, b) for a, b in v6])


@st.composite
def rules(draw):
    out = []
    for flow in range(draw(st.integers(1, 7))):
        wide = draw(st.booleans())
        source = ZONE if wide else _addresses(_intervals(draw, 1000, 1999), _intervals(draw, 5000, 5999))
        destination = _addresses(_intervals(draw, 0, 900), _intervals(draw, 0, 900) if draw(st.booleans()) else ())
        services = []
        for protocol in draw(st.sets(st.sampled_from(["tcp", "udp", "icmp", "icmpv6"]), min_size=1, max_size=3)):
            low = draw(st.integers(0, 60))
            services.append(L4(protocol, low, low + draw(st.integers(0, 20))))
        services.sort()
        out.append(Rule(flow, "i1", draw(st.sampled_from(EGRESSES)), "z", ("d",), source, destination,
                        tuple(services), False))
    return out


def _box_set(ds, box):
    space = ds.space
    source = space.addresses("s", AddressSet.of([(box.family, a, b) for a, b in box.source]))
    destination = space.addresses("d", AddressSet.of([(box.family, a, b) for a, b in box.destination]))
    return ds.interface("o", box.egress) & source & destination & services_set(space, box.services)


@settings(max_examples=examples(150), deadline=None)
@given(rules())
def test_boxes_are_disjoint_and_exact(rules):
    ds = DeviceSpace(EGRESSES)
    space = ds.space
    wanted = ds.false
    for rule in rules:
        wanted |= (ds.interface("o", rule.egress) & space.addresses("s", rule.source)
                   & space.addresses("d", rule.destination) & services_set(space, rule.services))
    boxes = disjoint_boxes(rules, ZONE)
    got = ds.false
    seen = {True: ds.false, False: ds.false}
    for box in boxes:
        piece = _box_set(ds, box)
        assert box.wide == (box.source == ZONE.family(box.family))
        assert seen[box.wide] & piece & space.true == ds.false, box  # disjoint from its kind
        seen[box.wide] |= piece
        got |= piece
        assert set(box.flows) <= {r.flow for r in rules}
    assert got & space.true == wanted & space.true


def test_a_host_rule_does_not_split_the_zone_wide_ones():
    wide = Rule(0, "i1", "e1", "z", ("d",), ZONE, AddressSet(((10, 20),)), (L4("tcp", 443, 443),), False)
    host = Rule(1, "i1", "e1", "z", ("d",), AddressSet(((1500, 1500),)), AddressSet(((10, 20),)),
                (L4("tcp", 22, 22),), False)
    boxes = disjoint_boxes([wide, host], ZONE)
    assert [(b.wide, b.source, b.services) for b in boxes] == [
        (True, ((1000, 1999),), (L4("tcp", 443, 443),)), (False, ((1500, 1500),), (L4("tcp", 22, 22),))]
