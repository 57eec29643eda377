"""Pre-forking servers: a forked child writes its own rows once, and never the parent's."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

import otel_modeldata
from otel_modeldata import ModelDataCollector

from csvfiles import LocalStore
from gates import WAIT, Gate, hold, written

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
CHILD_ROWS = [f"child-{i}" for i in range(3)]


def fork_and_collect(handle: otel_modeldata.ModelDataHandle, collector: ModelDataCollector) -> int:
    """Fork; the child collects ``CHILD_ROWS`` and exits 0 only if its books show exactly those, written."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            for row in CHILD_ROWS:
                collector.collect([[row]])
            flushed = handle.force_flush(timeout_millis=int(WAIT * 1000))
            stats = otel_modeldata.stats()
            if flushed and stats["rows_accepted"] == stats["rows_written"] == len(CHILD_ROWS):
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_rows_queued_at_the_fork_are_written_once_by_the_parent(local_root: Path, gate: Gate) -> None:
    store = LocalStore(local_root)
    handle = store.configure()
    collector = ModelDataCollector("forked", designation="inputs", feature_names=["x"])
    hold(handle, gate, collector)
    parent_rows = [f"parent-{i}" for i in range(1, 5)]
    for row in parent_rows:
        collector.collect([[row]])  # queued in the parent when it forks

    child_exit = fork_and_collect(handle, collector)
    gate.opened.set()
    assert handle.force_flush(timeout_millis=int(WAIT * 1000))

    assert child_exit == 0, "the child's books did not show exactly its own rows, written"
    assert sorted(written(store, "forked")) == sorted(["0", *parent_rows, *CHILD_ROWS])
    stats = otel_modeldata.stats()
    assert (stats["rows_accepted"], stats["rows_written"], stats["rows_unaccounted"]) == (5, 5, 0)


def test_a_child_forked_while_the_parent_was_writing_can_write(local_root: Path) -> None:
    store = LocalStore(local_root)
    handle = store.configure()
    assert handle.exporter is not None
    collector = ModelDataCollector("busy", designation="inputs", feature_names=["x"])
    collector.collect([["parent"]])
    assert handle.force_flush(timeout_millis=int(WAIT * 1000))

    # The parent's exporting thread is inside a write, holding the destination's lock, at fork().
    writing, forked = threading.Event(), threading.Event()

    def write_in_parent() -> None:
        with handle.exporter.destination._lock:  # type: ignore[union-attr]
            writing.set()
            forked.wait(WAIT)

    exporter_thread = threading.Thread(target=write_in_parent)
    exporter_thread.start()
    assert writing.wait(WAIT)
    try:
        child_exit = fork_and_collect(handle, collector)
    finally:
        forked.set()
        exporter_thread.join(WAIT)

    assert child_exit == 0, "the child could not write: a lock held at fork() stayed locked"
    assert sorted(written(store, "busy")) == sorted(["parent", *CHILD_ROWS])
