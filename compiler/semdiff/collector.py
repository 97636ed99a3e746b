"""When the cyclic garbage collector runs during a diff.

A loaded policy is millions of small objects and no cycles worth collecting: the diff pauses the
collector for its own work, and leaves loading to `api.load_policy`, which pauses it too and then
moves a large policy out of the collector's sight (`gc.freeze`), which it does only if the
collector was running.
"""

from __future__ import annotations

import contextlib
import gc


@contextlib.contextmanager
def paused():
    """The collector paused for the diff's own work (never around a load: see above)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def settle() -> None:
    """After making many long-lived objects with the collector paused, move them out of its
    sight, as `api.load_policy` does after a large load: else the first collections after it
    resumes would go through every one of them, for nothing."""
    from ..api import FREEZE_AFTER

    if gc.get_count()[0] >= FREEZE_AFTER:
        gc.freeze()
