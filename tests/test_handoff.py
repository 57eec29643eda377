"""The queue between run() and the exporter: bounded in rows, refusals counted, flushed, fork-safe."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk._logs import LogRecordProcessor, ReadWriteLogRecord

import otel_modeldata
from otel_modeldata import ModelDataCollector

from csvfiles import LocalStore, Store

WAIT = 30.0


class Gate(LogRecordProcessor):
    """Holds the exporting thread inside ``emit`` until released, in the process that made it."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.entered = threading.Event()
        self.opened = threading.Event()

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        if os.getpid() == self.pid:
            self.entered.set()
            self.opened.wait(WAIT)

    def shutdown(self) -> None:
        self.opened.set()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


@pytest.fixture
def gate() -> Iterator[Gate]:
    opened = Gate()
    yield opened
    opened.opened.set()


def hold(handle: otel_modeldata.ModelDataHandle, gate: Gate, collector: ModelDataCollector) -> None:
    """Collect row ``0`` and wait until the exporting thread is stuck on it: later rows stay queued."""
    assert handle.logger_provider is not None
    handle.logger_provider.add_log_record_processor(gate)
    collector.collect([[0]])
    assert gate.entered.wait(WAIT)


def written(store: Store, model: str) -> list[str]:
    return [row["x"] for row in store.read_rows(model, "inputs")[1]]


def test_a_full_queue_refuses_whole_values_and_counts_every_row(store: Store, gate: Gate) -> None:
    handle = store.configure(max_queue_rows=10, max_rows_per_call=10)
    collector = ModelDataCollector("queued", designation="inputs", feature_names=["x"])
    hold(handle, gate, collector)
    collector.collect([[i] for i in range(1, 10)])  # 9 rows: with row 0 the queue holds 10
    collector.collect([[10]])  # one more row does not fit: refused, run() unaffected
    collector.collect([[11], [12]])
    gate.opened.set()
    assert handle.force_flush(timeout_millis=int(WAIT * 1000))

    assert written(store, "queued") == [str(i) for i in range(10)]
    stats = otel_modeldata.stats()
    assert stats["rows_accepted"] == 13
    assert stats["rows_written"] == 10
    assert stats["rows_dropped"] == {"queue_full": 3}
    assert stats["rows_unaccounted"] == 0


def test_the_providers_own_force_flush_writes_queued_rows(store: Store) -> None:
    handle = store.configure(schedule_delay_millis=600_000)
    collector = ModelDataCollector("flushed", designation="inputs", feature_names=["x"])
    collector.collect([[1], [2]])
    assert handle.logger_provider is not None
    assert handle.logger_provider.force_flush(int(WAIT * 1000))
    assert written(store, "flushed") == ["1", "2"]


def test_shutdown_writes_what_is_queued(store: Store) -> None:
    handle = store.configure(schedule_delay_millis=600_000)
    ModelDataCollector("closing", designation="inputs", feature_names=["x"]).collect([[7]])
    handle.shutdown()
    assert written(store, "closing") == ["7"]
    assert otel_modeldata.stats()["rows_written"] == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_writes_its_own_rows_once_and_never_the_parents(local_root: Path, gate: Gate) -> None:
    store = LocalStore(local_root)
    handle = store.configure()
    collector = ModelDataCollector("forked", designation="inputs", feature_names=["x"])
    hold(handle, gate, collector)
    for i in range(1, 5):
        collector.collect([[f"parent-{i}"]])  # queued in the parent when it forks

    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            for i in range(3):
                collector.collect([[f"child-{i}"]])
            flushed = handle.force_flush(timeout_millis=int(WAIT * 1000))
            stats = otel_modeldata.stats()
            if flushed and stats["rows_accepted"] == stats["rows_written"] == 3:
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    gate.opened.set()
    assert handle.force_flush(timeout_millis=int(WAIT * 1000))

    assert os.waitstatus_to_exitcode(status) == 0, "the child's books did not show exactly its 3 rows"
    rows = written(store, "forked")
    assert sorted(rows) == sorted(
        ["0"] + [f"parent-{i}" for i in range(1, 5)] + [f"child-{i}" for i in range(3)]
    )
    stats = otel_modeldata.stats()
    assert (stats["rows_accepted"], stats["rows_written"], stats["rows_unaccounted"]) == (5, 5, 0)
