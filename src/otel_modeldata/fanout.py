"""Runs the appends of one export side by side: each file on its own thread, a bounded number at once.

Against a storage account every Append Block waits a network round trip; one file after another,
an export to 16 partitions waits 16 of them. The exporting thread takes part itself, and up to
``width - 1`` helper threads (started when first needed, then idle on a queue) take the other
calls. ``run()`` returns when every call has returned, so an export still ends with its rows
written or spooled. Two exports may run at once (on two threads, sharing the helpers); the
exporter makes an append to a file wait for the previous export's append to it.

Each call runs in a copy of the caller's context (``contextvars``): the exporting thread's
suppression of instrumentation then also covers the helpers' requests, so an instrumented HTTP
client does not trace our own appends.

Not ``concurrent.futures``: its executors refuse new work once the interpreter starts exiting,
and the rows still queued at exit are written from an ``atexit`` hook, after that point.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from . import lifecycle
from .forking import after_fork_in_child

T = TypeVar("T")


class _Round(Generic[T]):
    """One ``run()``: its calls, taken in order by whichever thread is free, and their results."""

    def __init__(self, calls: Sequence[Callable[[], T]]) -> None:
        self.calls = calls
        self.context = contextvars.copy_context()
        self.results: list[T | None] = [None] * len(calls)
        self.error: BaseException | None = None
        self._next = 0
        self._left = len(calls)
        self._lock = threading.Lock()
        self._finished = threading.Condition(self._lock)

    def work(self) -> None:
        """Take calls until none is left to start."""
        while True:
            with self._lock:
                index = self._next
                if index >= len(self.calls):
                    return
                self._next += 1
            try:
                result: T | None = self.context.copy().run(self.calls[index])
            except BaseException as exc:  # handed to the caller of run(), which re-raises it
                result = None
                self.error = self.error or exc
            with self._lock:
                self.results[index] = result
                self._left -= 1
                if not self._left:
                    self._finished.notify_all()

    def wait(self) -> None:
        with self._lock:
            while self._left:
                self._finished.wait()


class FanOut:
    """Calls a list of independent functions on up to ``width`` threads, the caller's included."""

    def __init__(self, width: int, name: str) -> None:
        if width < 1:
            raise ValueError("width must be at least 1")
        self.width = width
        self._name = name
        self._reset()
        after_fork_in_child(self._reset)

    def _reset(self) -> None:
        """No helpers (also in a forked child: the parent's threads did not follow)."""
        self._rounds: queue.SimpleQueue[_Round[object] | None] = queue.SimpleQueue()
        self._helpers: list[threading.Thread] = []
        self._lock = threading.Lock()

    def run(self, calls: Sequence[Callable[[], T]]) -> list[T]:
        """Every call's result, in order, once all have returned; the first exception is re-raised."""
        if self.width == 1 or len(calls) <= 1:
            return [call() for call in calls]
        wanted = self._grow(min(self.width, len(calls)) - 1)
        if not wanted:
            return [call() for call in calls]
        work: _Round[T] = _Round(calls)
        for _ in range(wanted):
            self._rounds.put(work)  # type: ignore[arg-type]  # helpers only call work()
        work.work()
        work.wait()
        if work.error is not None:
            raise work.error
        return work.results  # type: ignore[return-value]  # every slot was filled

    def _grow(self, wanted: int) -> int:
        """Start helpers up to ``wanted``; how many there are for this run (fewer if none may start)."""
        with self._lock:
            while len(self._helpers) < wanted:
                thread = threading.Thread(
                    target=self._help, name=f"{self._name}-{len(self._helpers) + 1}", daemon=True
                )
                try:
                    thread.start()
                except RuntimeError:  # no new threads this late in the interpreter's exit
                    break
                self._helpers.append(thread)
            return min(wanted, len(self._helpers))

    def _help(self) -> None:
        lifecycle.shield_this_thread()
        rounds = self._rounds
        while (work := rounds.get()) is not None:
            work.work()

    def close(self) -> None:
        """Let the helper threads end (they are idle: every ``run()`` has returned)."""
        with self._lock:
            for _ in self._helpers:
                self._rounds.put(None)
            self._helpers = []
