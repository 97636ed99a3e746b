"""Where the enforcement devices are: the device graph their links make, where each zone is
attached, and the devices traffic between two zones crosses.

A device's interface (or switch port) is either bound to a zone (`interface eth1 zone pacs`) or
linked to another device (`interface eth9 link dist-rtr`). Both ends of a link declare it. Traffic
from zone A to zone B enters the device network at an attachment of A and leaves at the nearest
attachment of B: from every device A is attached to, the shortest device path (fewest devices;
at each device, the next is the first by name of the neighbours nearer to the destination) to
each nearest device B is attached to. Every device on such a
path enforces the traffic, from the interface it arrives on to the one it leaves by; a device
enforces nothing else. Traffic inside one zone crosses no device.
"""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

from ..diagnostics import Diagnostic, Related
from ..model import Binding, Device
from ..resolve import Policy


class Attachment(NamedTuple):
    """A zone bound to an interface or port of a device."""

    device: str
    binding: Binding


class Crossing(NamedTuple):
    """Traffic crossing one device: in by one interface or port, out by another (their names,
    `Binding.key`)."""

    device: str
    ingress: str
    egress: str


class Topology:
    """The devices of a policy, their links and the zones attached to them.

    `diagnostics` holds what is wrong with the topology itself (a link declared at one end only,
    two links between the same devices, a zone bound on devices no links connect, a zone bound to
    no device); `crossings(a, b)` gives the devices traffic from zone a to zone b crosses."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.devices: dict[str, Device] = dict(sorted(policy.devices.items()))
        self.links: dict[str, dict[str, Binding]] = {name: {} for name in self.devices}  # device -> peer -> binding
        self.attachments: dict[str, list[Attachment]] = {}
        self.diagnostics: list[Diagnostic] = []
        declared: dict[str, dict[str, Binding]] = {name: {} for name in self.devices}
        for name, device in self.devices.items():
            for binding in device.bindings:
                if binding.zone is not None:
                    if binding.zone.name in policy.zones:
                        self.attachments.setdefault(binding.zone.name, []).append(Attachment(name, binding))
                    continue
                peer = binding.link.name
                if peer not in self.devices or peer == name:
                    continue  # E201 / E210, from the resolver
                first = declared[name].get(peer)
                if first is not None:
                    self.diagnostics.append(Diagnostic(
                        "E306", f"device '{name}' is linked to '{peer}' twice", binding.span,
                        "Septum models one link between two devices; remove one, or bundle them into one "
                        "interface (a port channel) and link that",
                        (Related(first.span, "first linked here"),)))
                    continue
                declared[name][peer] = binding
        for name, peers in declared.items():
            for peer, binding in peers.items():
                if name in declared[peer]:
                    self.links[name][peer] = binding
                else:
                    self.diagnostics.append(Diagnostic(
                        "E305", f"device '{name}' is linked to '{peer}', but '{peer}' declares no link back",
                        binding.span,
                        f"add the interface or port of '{peer}' that faces '{name}' to it: "
                        f"`interface IFNAME link {name}` (or `port N link {name}`)"))
        for attachments in self.attachments.values():
            attachments.sort(key=lambda a: (a.device, a.binding.key))
        self.component = self._components()
        self._nearest: dict[tuple[str, str], tuple[tuple[str, ...], ...]] = {}
        self._crossings: dict[tuple[str, str], tuple[Crossing, ...]] = {}
        self._routes: dict[tuple[str, str], tuple] = {}
        self._towards: dict[str, tuple[dict[str, int], dict[str, str]]] = {}
        self._check_attachments()

    # ---- the device graph -------------------------------------------------------------

    def neighbours(self, device: str) -> list[str]:
        return sorted(self.links[device])

    def _components(self) -> dict[str, int]:
        component: dict[str, int] = {}
        for start in self.devices:
            if start in component:
                continue
            number = len(set(component.values()))
            queue = deque([start])
            component[start] = number
            while queue:
                here = queue.popleft()
                for peer in self.neighbours(here):
                    if peer not in component:
                        component[peer] = number
                        queue.append(peer)
        return component

    def _check_attachments(self) -> None:
        for zone_name, attachments in sorted(self.attachments.items()):
            first = attachments[0]
            for other in attachments[1:]:
                if self.component[other.device] != self.component[first.device]:
                    self.diagnostics.append(Diagnostic(
                        "E307",
                        f"zone '{zone_name}' is bound on devices '{first.device}' and '{other.device}', "
                        "which no links connect",
                        other.binding.span,
                        f"link the two devices (`interface IFNAME link {first.device}` on '{other.device}' and "
                        f"the same back), or bind the zone on one of them",
                        (Related(first.binding.span, f"bound on '{first.device}' here"),)))
                    break
        if not self.devices:
            return
        for zone in sorted(self.policy.zones.values(), key=lambda z: z.name):
            if zone.name not in self.attachments and not zone.builtin and zone.span.file not in self.policy.library_files:
                self.diagnostics.append(Diagnostic(
                    "W404", f"zone '{zone.name}' is bound to no device", zone.name_span,
                    "bind it to the interface or port it sits behind (`interface IFNAME zone "
                    f"{zone.name}` in a device), or no device can enforce traffic to or from it"))

    # ---- paths -------------------------------------------------------------------------

    def _components_of(self, zone: str) -> set[int]:
        return {self.component[a.device] for a in self.attachments.get(zone, ())}

    def _toward(self, target: str) -> tuple[dict[str, int], dict[str, str]]:
        """Distances to device `target` over links, and each device's next hop towards it: of the
        neighbours one step nearer, the first by name."""
        found = self._towards.get(target)
        if found is None:
            distance = {target: 0}
            queue = deque([target])
            while queue:
                here = queue.popleft()
                for peer in self.neighbours(here):
                    if peer not in distance:
                        distance[peer] = distance[here] + 1
                        queue.append(peer)
            step = {}
            for device, d in distance.items():
                if d:
                    step[device] = next(p for p in self.neighbours(device) if distance.get(p) == d - 1)
            found = self._towards[target] = (distance, step)
        return found

    def nearest(self, start: str, zone: str) -> tuple[tuple[str, ...], ...]:
        """Device paths from `start` to the devices nearest to it that `zone` is attached to (one
        path each, stepping at each device to the first by name of the neighbours nearer)."""
        key = (start, zone)
        found = self._nearest.get(key)
        if found is None:
            reach = []
            for target in sorted({a.device for a in self.attachments.get(zone, ())}):
                distance, _ = self._toward(target)
                if start in distance:
                    reach.append((distance[start], target))
            paths = []
            for d, target in reach:
                if d != min(reach)[0]:
                    continue
                step = self._toward(target)[1]
                path = [start]
                while path[-1] != target:
                    path.append(step[path[-1]])
                paths.append(tuple(path))
            found = self._nearest[key] = tuple(paths)
        return found

    def crossings(self, source: str, destination: str) -> tuple[Crossing, ...]:
        """Every device crossing of traffic from zone `source` to zone `destination`, sorted; none
        for a zone to itself, or when no device path connects them (`unplaced` says why)."""
        key = (source, destination)
        found = self._crossings.get(key)
        if found is None:
            out: set[Crossing] = set()
            if source != destination:
                for attachment in self.attachments.get(source, ()):
                    first = attachment.binding.key
                    for device, ingress, egress in self._route(attachment.device, destination):
                        out.add(Crossing(device, first if ingress is None else ingress, egress))
            found = self._crossings[key] = tuple(sorted(out))
        return found

    def crossings_uncached(self, source: str, destination: str):
        """`crossings` for one pass over many zone pairs: nothing kept per pair, unsorted, and a
        crossing may come more than once (from two attachments on one device)."""
        if source == destination:
            return
        for attachment in self.attachments.get(source, ()):
            first = attachment.binding.key
            for device, ingress, egress in self._route(attachment.device, destination):
                yield device, first if ingress is None else ingress, egress

    def _route(self, start: str, destination: str) -> tuple[tuple[str, str | None, str], ...]:
        """The crossings from device `start` to zone `destination`, the first ingress left open
        (None: it is the binding the traffic enters by)."""
        key = (start, destination)
        found = self._routes.get(key)
        if found is None:
            out = []
            for path in self.nearest(start, destination):
                last = path[-1]
                exits = [a.binding.key for a in self.attachments[destination] if a.device == last]
                for i, device in enumerate(path):
                    ingress = None if i == 0 else self.links[device][path[i - 1]].key
                    for egress in (exits if i == len(path) - 1 else [self.links[device][path[i + 1]].key]):
                        out.append((device, ingress, egress))
            found = self._routes[key] = tuple(out)
        return found

    def unplaced(self, source: str, destination: str) -> str | None:
        """Why no device path carries traffic from zone `source` to zone `destination`, or None."""
        if source == destination:
            return None
        unbound = [z for z in (source, destination) if z not in self.attachments]
        if not unbound and self._components_of(source) & self._components_of(destination):
            return None
        if unbound:
            return " and ".join(f"zone '{z}'" for z in unbound) + (" is" if len(unbound) == 1 else " are") + \
                " bound to no device"
        here = sorted({a.device for a in self.attachments[source]})
        there = sorted({a.device for a in self.attachments[destination]})
        return (f"zone '{source}' is bound on {_devices(here)} and zone '{destination}' on {_devices(there)}, "
                "which no links connect")


def _devices(names: list[str]) -> str:
    return ("device " if len(names) == 1 else "devices ") + ", ".join(f"'{n}'" for n in names)


def topology(policy: Policy) -> Topology:
    """The policy's topology, built once and kept with the policy."""
    found = policy._members.get("topology")
    if found is None:
        found = policy._members["topology"] = Topology(policy)
    return found
