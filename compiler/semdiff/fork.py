"""Running work in a forked process and taking its (pickled) result back."""

from __future__ import annotations

import os


def in_child(work):
    """Run `work()` in a forked process; return a function that waits for its (pickled) result."""
    import pickle
    import traceback

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: compute, send, and leave without running the parent's exit handlers
        status = 0
        try:
            os.close(read_end)
            try:
                payload = pickle.dumps(("ok", work()), protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException:  # noqa: BLE001 - reported to the parent
                payload = pickle.dumps(("error", traceback.format_exc()), protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(payload)
        except BaseException:  # noqa: BLE001
            status = 1
        finally:
            os._exit(status)
    os.close(write_end)

    def wait():
        with os.fdopen(read_end, "rb") as pipe:
            payload = pipe.read()
        os.waitpid(pid, 0)
        if not payload:
            raise RuntimeError("the process analysing the OLD side ended without a result")
        outcome, value = pickle.loads(payload)
        if outcome != "ok":
            raise RuntimeError(f"analysing the OLD side failed:\n{value}")
        return value

    return wait
