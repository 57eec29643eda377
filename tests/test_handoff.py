"""The queue between run() and the exporter: bounded in rows, refusals counted, flushed."""

from __future__ import annotations

import otel_modeldata
from otel_modeldata import ModelDataCollector

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
