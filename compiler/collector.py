"""When Python's cyclic garbage collector runs.

A loaded policy is millions of small objects and no reference cycles (it is freed by reference
counting), so a collection in the middle of loading, verifying or diffing would walk them all
for nothing. The work pauses the collector (`paused`). Objects made while it was paused are all
in its youngest generation, so the first collections after it resumes would go through every
one of them (0.3 s after loading 10k flows); after a large load they are moved out of its sight
instead (`settle`, `gc.freeze`); small loads, as in tests, are left to it.
"""

from __future__ import annotations

import contextlib
import gc

FREEZE_AFTER = 50_000  # objects made while paused


@contextlib.contextmanager
def paused(*, settle_after: bool = False):
    """The collector paused for the block; with `settle_after`, the objects the block made are
    settled (see `settle`) when it resumes. Nested use leaves the outer pause in charge."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            if settle_after:
                settle()
            gc.enable()


def settle() -> None:
    """Move the objects made since the collector last ran out of its sight, if there are many."""
    if gc.get_count()[0] >= FREEZE_AFTER:
        gc.freeze()
