"""The fan-out behind parallel appends: results in order, never more than ``width`` calls at once."""

from __future__ import annotations

import contextvars
import threading

import pytest

from otel_modeldata.fanout import FanOut
from outage import wait_until


def test_results_come_back_in_call_order_whatever_thread_ran_them() -> None:
    fanout = FanOut(3, "test-fanout")
    assert fanout.run([lambda n=n: n * n for n in range(10)]) == [n * n for n in range(10)]
    fanout.close()


def test_at_most_width_calls_run_at_once_and_the_caller_is_one_of_them() -> None:
    width, calls = 4, 9
    fanout = FanOut(width, "test-fanout")
    go = threading.Event()
    lock = threading.Lock()
    running: list[str] = []
    most = 0

    def call() -> str:
        nonlocal most
        name = threading.current_thread().name
        with lock:
            running.append(name)
            most = max(most, len(running))
        go.wait(30)
        with lock:
            running.remove(name)
        return name

    results: list[list[str]] = []
    caller = threading.Thread(target=lambda: results.append(fanout.run([call] * calls)), name="caller")
    caller.start()
    wait_until(lambda: len(running) == width, 10, f"{width} calls running")
    assert len(running) == width  # the fifth waits for a free thread
    go.set()
    caller.join(30)
    assert most == width
    assert len(results[0]) == calls
    assert "caller" in results[0]
    fanout.close()


def test_an_exception_is_raised_once_every_call_has_returned() -> None:
    fanout = FanOut(3, "test-fanout")
    finished: list[int] = []

    def fail() -> None:
        raise ValueError("boom")

    def record(n: int) -> None:
        finished.append(n)

    with pytest.raises(ValueError, match="boom"):
        fanout.run([fail, *[lambda n=n: record(n) for n in range(5)]])
    assert sorted(finished) == list(range(5))
    fanout.close()


def test_width_one_runs_everything_on_the_calling_thread() -> None:
    fanout = FanOut(1, "test-fanout")
    names = fanout.run([lambda: threading.current_thread().name] * 3)
    assert set(names) == {threading.current_thread().name}


def test_every_call_sees_the_callers_context() -> None:
    """The exporting thread suppresses instrumentation through the context; helpers must too."""
    marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="unset")
    fanout = FanOut(4, "test-fanout")
    pairs = threading.Barrier(2, timeout=10)  # each call waits for another: helpers run some

    def call() -> tuple[str, str]:
        pairs.wait()
        return threading.current_thread().name, marker.get()

    token = marker.set("caller's")
    try:
        seen = fanout.run([call] * 8)
    finally:
        marker.reset(token)
    assert {value for _, value in seen} == {"caller's"}
    assert len({name for name, _ in seen}) > 1
    fanout.close()
