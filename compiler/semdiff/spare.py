"""Whether the machine has a CPU to spare: analysing the second side in parallel pays only then.

A forked side costs more CPU in all (the two sides share nothing: parsed files aside, each
works out its own canonical forms and contributions, and they are pickled across), so on a
machine whose CPUs are busy with other work it is slower than one process. `IdleMeter` reads
how much of the machine was idle while this process was busy (Linux `/proc/stat`; elsewhere
the load average), between `IdleMeter()` and `spare()`.
"""

from __future__ import annotations

import os


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


class IdleMeter:
    def __init__(self) -> None:
        self.start = _times()

    def spare(self) -> float:
        """CPUs idle on average since the meter started (this process keeps one of them busy);
        over too short a time to tell (under 5 clock ticks a CPU), from the load average."""
        end = _times()
        if self.start is not None and end is not None:
            idle, total, cpus = end[0] - self.start[0], end[1] - self.start[1], end[2]
            if total >= 5 * cpus:
                return idle / total * cpus
        try:
            return max(0.0, cpu_count() - 1 - os.getloadavg()[0])
        except (OSError, AttributeError):
            return 0.0


def _times() -> tuple[int, int, int] | None:
    """(idle, total) clock ticks of all CPUs since boot, and how many CPUs; None where there is
    no `/proc/stat`."""
    try:
        with open("/proc/stat", "rb") as stat:
            lines = stat.read().split(b"\n")
    except OSError:
        return None
    fields = lines[0].split()
    if len(fields) < 5 or fields[0] != b"cpu":
        return None
    ticks = [int(f) for f in fields[1:9]]  # user nice system idle iowait irq softirq steal
    cpus = sum(1 for line in lines[1:] if line.startswith(b"cpu"))
    return ticks[3] + (ticks[4] if len(ticks) > 4 else 0), sum(ticks), max(cpus, 1)
