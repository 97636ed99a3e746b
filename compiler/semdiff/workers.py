"""The two ways to analyse a side: in this process, or in a forked one (the two sides in parallel).

Either way a side is asked, in order: `facts()` (what it says, `SideFacts`), `ask(wanted)`
(whether the rest is wanted: only when the two models differ), then, if so, `contributions()`
and `verdicts()`, and at last `close()`. A forked side sends its facts as soon as it has loaded,
waits to be told whether to go on, and sends its contributions and then its verdicts; only plain
data crosses the pipe, never the loaded model (its model key goes as a digest).
"""

from __future__ import annotations

import dataclasses
import os
import pickle

from .canonical import model_digest
from ..collector import paused
from .load import Location, ParseCache, load_side
from .records import SideFacts, SideInfo
from .summary import Shared, contributions_of, describe, judge


class LocalSide:
    """A side loaded and analysed in this process."""

    def __init__(self, location: Location, info: SideInfo, cache: ParseCache, options: dict,
                 shared: Shared | None = None) -> None:
        self.result = load_side(location, cache)
        self.info = info
        self.options = options
        self.shared = shared
        self._facts: SideFacts | None = None
        self.wanted = False

    def facts(self) -> SideFacts:
        if self._facts is None:
            self._facts = describe(self.result, self.info, self.shared)
        return self._facts

    def ask(self, wanted: bool) -> None:
        self.wanted = wanted

    def contributions(self) -> dict:
        return contributions_of(self.result, self.shared) if self.wanted else {}

    def verdicts(self) -> tuple[dict, list[str]]:
        return judge(self.result, **self.options) if self.wanted else ({}, [])

    def close(self) -> None:
        pass


class ForkedSide:
    """A side loaded and analysed in a forked process (it inherits the parse cache)."""

    def __init__(self, location: Location, info: SideInfo, cache: ParseCache, options: dict) -> None:
        from_child, to_parent = os.pipe()
        from_parent, to_child = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: analyse, answer, and leave without running the parent's exit handlers
            status = 0
            try:
                os.close(from_child)
                os.close(to_child)
                with os.fdopen(to_parent, "wb") as out, os.fdopen(from_parent, "rb") as questions:
                    _serve(lambda: LocalSide(location, info, cache, options), out, questions)
            except BaseException:  # noqa: BLE001 - the parent sees the pipe close without an answer
                status = 1
            finally:
                os._exit(status)
        os.close(to_parent)
        os.close(from_parent)
        self.pid: int | None = pid
        self.answers = os.fdopen(from_child, "rb")
        self.questions = os.fdopen(to_child, "wb")
        self._facts: SideFacts | None = None
        self.wanted = False

    def _receive(self):
        try:
            outcome, value = pickle.load(self.answers)
        except EOFError:
            self.close()
            raise RuntimeError("the process analysing the OLD side ended without a result") from None
        if outcome != "ok":
            self.close()
            raise RuntimeError(f"analysing the OLD side failed:\n{value}")
        return value

    def facts(self) -> SideFacts:
        if self._facts is None:
            self._facts = self._receive()
        return self._facts

    def ask(self, wanted: bool) -> None:
        self.facts()
        self.wanted = wanted
        try:
            pickle.dump(wanted, self.questions, protocol=pickle.HIGHEST_PROTOCOL)
            self.questions.flush()
        except BrokenPipeError:  # the child is gone: the next answer says so
            pass

    def contributions(self) -> dict:
        return self._receive() if self.wanted else {}

    def verdicts(self) -> tuple[dict, list[str]]:
        value = self._receive() if self.wanted else ({}, [])
        self.close()
        return value

    def close(self) -> None:
        if self.pid is None:
            return
        for stream in (self.questions, self.answers):
            try:
                stream.close()
            except OSError:
                pass
        os.waitpid(self.pid, 0)
        self.pid = None


def _serve(open_side, out, questions) -> None:
    """The child's side of the conversation: facts, then (if asked) verdicts; errors as tracebacks."""
    import traceback

    def send(outcome: str, value) -> None:
        pickle.dump((outcome, value), out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()

    try:
        side = open_side()
        with paused():
            facts = side.facts()
            send("ok", dataclasses.replace(facts, model=model_digest(facts.model)) if not facts.errors else facts)
        wanted = pickle.load(questions)
        if wanted:
            side.ask(wanted)
            with paused():
                send("ok", side.contributions())
                send("ok", side.verdicts())
    except BaseException:  # noqa: BLE001 - reported to the parent
        send("error", traceback.format_exc())
