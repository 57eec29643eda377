"""The queue between run() and the exporter: bounded in rows, refusals counted, flushed."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence

from opentelemetry.context import Context
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor, ReadableLogRecord, ReadWriteLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult

import otel_modeldata
from otel_modeldata import ModelDataCollector, providers
from otel_modeldata.handoff import Handoff, Pending
from outage import wait_until

from csvfiles import Store
from gates import WAIT, Gate, hold, written


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


class _Exports(LogRecordExporter):
    """Counts what it is given; ``exported`` is set at the first export."""

    def __init__(self) -> None:
        self.records = 0
        self.exported = threading.Event()

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        self.records += len(batch)
        self.exported.set()
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing to release."""

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


class _RacingQueue(deque[Pending]):
    """The queue of a Handoff that lets one more ``put()`` in, from another thread, at the worst moment.

    When the test thread reads the length of a just-filled batch while not holding the
    Handoff's lock (the lock can be taken), a second thread's ``put()`` runs to completion
    first: exactly the interleaving two request threads can produce. Reading it under the
    lock (the lock cannot be taken within a second) lets nothing in.
    """

    def __init__(self, handoff: Handoff, extra: Pending) -> None:
        super().__init__()
        self._handoff = handoff
        self._extra: Pending | None = extra
        self._reader = threading.get_ident()
        self.raced = False

    def __len__(self) -> int:
        length = super().__len__()
        extra = self._extra
        if extra is not None and length == self._handoff.batch_size and threading.get_ident() == self._reader:
            self._extra = None
            if self._handoff._lock.acquire(timeout=1):
                self._handoff._lock.release()
                other = threading.Thread(target=self._handoff.put, args=(extra,))
                other.start()
                other.join()
                self.raced = True
                length = super().__len__()
        return length


def _wait_until_idle(handoff: Handoff) -> None:
    """Until the exporting thread waits for work (internals: the condition's waiters)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        with handoff._lock:
            if handoff._has_work._waiters:  # type: ignore[attr-defined]
                return
        time.sleep(0.001)
    raise AssertionError("the exporting thread never waited for work")


def test_a_batch_filled_by_racing_threads_is_exported_without_waiting_for_the_delay() -> None:
    exporter = _Exports()
    handoff = Handoff(exporter, max_rows=100, batch_size=4, delay_millis=600_000)
    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(handoff)
    handoff.bind(provider.get_logger("test"))
    item = Pending(0, Context(), [[1]], {})
    try:
        handoff.put(item)  # starts the exporting thread
        assert handoff.force_flush(int(WAIT * 1000))
        _wait_until_idle(handoff)
        exporter.records = 0
        exporter.exported.clear()
        racing = handoff._queue = _RacingQueue(handoff, item)
        for _ in range(4):
            assert handoff.put(item) is None
        assert exporter.exported.wait(10), "a full batch waited for the schedule delay"
    finally:
        handoff.shutdown(timeout_millis=int(WAIT * 1000))
    assert exporter.records == 4 + racing.raced


def test_a_queue_holding_an_eighth_of_a_batch_is_exported_within_a_tenth_of_the_delay(store: Store) -> None:
    """The crash bound: 64 queued rows (batch 512) wait 1 s for export, not the 10 s delay."""
    store.configure(schedule_delay_millis=10_000)
    collector = ModelDataCollector("busy", designation="inputs", feature_names=["x"])
    collector.collect([[i] for i in range(63)])
    collector.collect([[63]])
    stored = lambda: store.exists("busy", "inputs") and len(written(store, "busy")) == 64  # noqa: E731
    wait_until(stored, 5, "64 rows written before the 10 s delay")


class _Seen(LogRecordProcessor):
    """Another processor on the provider: the attributes of each record it is given."""

    def __init__(self) -> None:
        self.attributes: list[dict[str, object]] = []

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        self.attributes.append(dict(log_record.log_record.attributes or {}))

    def shutdown(self) -> None:
        """Nothing to release."""

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def test_records_carry_collected_attributes_as_they_are_and_others_as_the_sdk_makes_them() -> None:
    exporter = _Exports()
    seen = _Seen()
    handoff = Handoff(exporter, max_rows=100, batch_size=4, delay_millis=600_000)
    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(handoff)
    provider.add_log_record_processor(seen)
    handoff.bind(provider.get_logger("test"), providers._no_limits())
    collected = {
        "modeldata.designation": "inputs",
        "modeldata.row_count": 2,
        "modeldata.feature_names": ("a", "b"),
    }
    odd = {
        "modeldata.designation": "inputs",
        "modeldata.feature_names": ["a", 3],
        "modeldata.request_id": 1.5,
    }
    try:
        for attributes in (collected, odd):
            assert handoff.put(Pending(0, Context(), [[1, 2], [3, 4]], attributes)) is None
        assert handoff.force_flush(int(WAIT * 1000))
    finally:
        handoff.shutdown(timeout_millis=int(WAIT * 1000))
    assert exporter.records == 2
    assert seen.attributes == [
        collected,
        {"modeldata.designation": "inputs", "modeldata.feature_names": ("a", 3), "modeldata.request_id": 1.5},
    ]
