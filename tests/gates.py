"""Holding the exporting thread still, so a test knows exactly which rows are queued."""

from __future__ import annotations

import os
import threading

from opentelemetry.sdk._logs import LogRecordProcessor, ReadWriteLogRecord

import otel_modeldata
from otel_modeldata import ModelDataCollector

from csvfiles import Store

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


def hold(handle: otel_modeldata.ModelDataHandle, gate: Gate, collector: ModelDataCollector) -> None:
    """Collect row ``0`` and wait until the exporting thread is stuck on it: later rows stay queued."""
    assert handle.logger_provider is not None
    handle.logger_provider.add_log_record_processor(gate)
    collector.collect([[0]])
    assert gate.entered.wait(WAIT)


def written(store: Store, model: str) -> list[str]:
    return [row["x"] for row in store.read_rows(model, "inputs")[1]]
