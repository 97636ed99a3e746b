"""The intent graph: zones, hosts and raw address blocks as nodes, one edge per allowed flow.

A `networkx.MultiDiGraph`. Node attributes: ``kind`` (zone | host | address), ``zone`` (a host's
zone), ``trust``, ``broker``, ``holds`` (data types cleared to rest there), ``span``. Edge key: the
flow's index in `Policy.flows`; edge attributes: ``services``, ``datatypes`` (carried by the
services or named with ``carrying``), ``encrypted`` (all services encrypted), ``log``,
``justification``, ``span`` (the `allow` statement). Source and destination endpoints of a flow
are its selectors' members: a tag or group becomes one edge per member, less the members an
``except`` carves out whole (carving a host out of a zone leaves the zone's edge: the rest of the
zone still connects).
"""

from __future__ import annotations

import networkx as nx

from .resolve import Policy


def build_graph(policy: Policy) -> nx.MultiDiGraph:
    graph = nx.MultiDiGraph()
    for zone in policy.zones.values():
        graph.add_node(
            zone.name,
            kind="zone",
            trust=zone.trust.value,
            broker=zone.broker,
            holds=tuple(r.name for r in zone.holds),
            tags=tuple(t.name for t in zone.tags),
            span=zone.span,
        )
    for host in policy.hosts.values():
        zone = policy.zones.get(host.zone.name)
        graph.add_node(
            host.name,
            kind="host",
            zone=host.zone.name,
            trust=zone.trust.value if zone else None,
            broker=zone.broker if zone else False,
            holds=tuple(r.name for r in zone.holds) if zone else (),
            tags=tuple(t.name for t in host.tags),
            span=host.span,
        )
    edges = []
    for index, flow in enumerate(policy.flows):
        services = tuple(r.name for r in flow.services)
        datatypes = tuple(sorted(policy.service_datatypes(services) | {r.name for r in flow.carrying}))
        encrypted = all(policy.services[s].encrypted for s in services if s in policy.services)
        attributes = {
            "services": services,
            "datatypes": datatypes,
            "encrypted": encrypted,
            "log": flow.log,
            "justification": flow.justification,
            "span": flow.span,
        }
        sources = policy.expand(flow.source)
        destinations = policy.expand(flow.destination)
        for address in sources.addresses | destinations.addresses:
            if address not in graph:
                graph.add_node(address, kind="address")
        kept_destinations = [d for d in destinations.endpoints() if not policy.carved(flow.except_to, d)]
        for source in sources.endpoints():
            if policy.carved(flow.except_from, source):
                continue
            edges.extend((source, destination, index, attributes) for destination in kept_destinations)
    graph.add_edges_from(edges)
    return graph
