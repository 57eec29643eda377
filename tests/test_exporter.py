"""The exporter alone: what it writes for batches of records, its lifecycle, several processes.

What it writes is checked on both destinations (the ``store`` fixture).
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from opentelemetry._logs import LogRecord
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExportResult
from opentelemetry.sdk.resources import Resource

from otel_modeldata import ModelDataLogExporter, Settings, schema
from otel_modeldata.csvfmt import NANOS_PER_DAY, utc_day

from csvfiles import Store, data_files, read_rows

DAY_NS = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z
DAY = datetime(2026, 1, 1, tzinfo=timezone.utc)
RESOURCE = Resource.create({})
#: Where ``record()`` rows go below ``modeldata/``: the default identity, model ``m`` version 2, DAY.
WHERE: dict[str, Any] = {"version": "2", "identity": ("default",) * 4, "day": DAY}
MODEL = "default/default/default/default/m/2"


def record(
    rows: list[list[Any]],
    designation: str = "inputs",
    names: tuple[str, ...] | None = ("a", "b"),
    timestamp: int = DAY_NS,
    **extra: Any,
) -> ReadableLogRecord:
    attributes: dict[str, Any] = {
        schema.DESIGNATION: designation,
        schema.MODEL_NAME: "m",
        schema.MODEL_VERSION: "2",
        schema.CORRELATION_ID: "c-1",
        schema.REQUEST_ID: "r-1",
        **extra,
    }
    if names:
        attributes[schema.FEATURE_NAMES] = names
    return ReadableLogRecord(
        log_record=LogRecord(timestamp=timestamp, body=rows, attributes=attributes), resource=RESOURCE
    )


@pytest.fixture
def exporter(store: Store) -> Iterator[ModelDataLogExporter]:
    exporter = ModelDataLogExporter(Settings.from_env({}, **store.destination))
    yield exporter
    exporter.shutdown()


def test_batch_is_grouped_by_partition_and_date(exporter: ModelDataLogExporter, store: Store) -> None:
    batch = [
        record([[1, 2]]),
        record([[3]], designation="predictions", names=None),
        record([[5, 6]], timestamp=DAY_NS + 86_400 * 10**9),
        record([[7, 8]]),
    ]
    assert exporter.export(batch) is LogRecordExportResult.SUCCESS
    assert store.files() == [
        f"{MODEL}/inputs/2026/01/01/data.csv",
        f"{MODEL}/inputs/2026/01/02/data.csv",
        f"{MODEL}/predictions/2026/01/01/data.csv",
    ]
    _, rows = store.read_rows("m", "inputs", **WHERE)
    assert [(r["a"], r["b"]) for r in rows] == [("1", "2"), ("7", "8")]
    assert rows[0]["$aml_dc_scoring_timestamp"] == "2026-01-01T00:00:00.000000Z"
    header, predictions = store.read_rows("m", "predictions", **WHERE)
    assert header[0] == "prediction_0"
    assert [r["prediction_0"] for r in predictions] == ["3"]
    _, next_day = store.read_rows("m", "inputs", **{**WHERE, "day": DAY.replace(day=2)})
    assert [r["a"] for r in next_day] == ["5"]


def test_records_without_a_designation_are_ignored(exporter: ModelDataLogExporter, store: Store) -> None:
    plain = ReadableLogRecord(log_record=LogRecord(body="hello", attributes={"x": 1}), resource=RESOURCE)
    assert exporter.export([plain]) is LogRecordExportResult.SUCCESS
    assert store.untouched()


def test_a_file_never_mixes_two_headers(exporter: ModelDataLogExporter, store: Store) -> None:
    exporter.export([record([[1, 2]])])
    exporter.export([record([[1, 2, 3]], names=("a", "b", "c"))])
    exporter.export([record([[4, 5]])])
    files = store.files()
    folders, names = zip(*(f.rsplit("/", 1) for f in files), strict=True)
    assert set(folders) == {f"{MODEL}/inputs/2026/01/01"}
    assert names[0] == "data.csv"
    assert len(files) == 2
    assert names[1].startswith("data_")
    assert names[1].endswith(".csv")
    for name in files:
        text = store.read_bytes(name).decode()
        assert text.count("$aml_dc_correlation_id") == 1
    header, _ = store.rows_in(files[1])
    assert header[:3] == ["a", "b", "c"]
    assert len(store.rows_in(files[0])[1]) == 2


def test_a_new_exporter_reuses_the_existing_file_with_the_same_header(store: Store) -> None:
    for value in (1, 2):
        exporter = ModelDataLogExporter(Settings.from_env({}, **store.destination))
        exporter.export([record([[value, value]])])
        exporter.shutdown()
    assert store.files() == [f"{MODEL}/inputs/2026/01/01/data.csv"]
    assert len(store.rows_in(store.files()[0])[1]) == 2


def test_export_after_shutdown_is_refused(exporter: ModelDataLogExporter, store: Store) -> None:
    exporter.shutdown()
    exporter.shutdown()
    assert exporter.export([record([[1, 2]])]) is LogRecordExportResult.FAILURE
    assert store.untouched()


def test_an_unwritable_destination_fails_and_counts(local_root: Path) -> None:
    import otel_modeldata

    local_root.parent.mkdir(parents=True, exist_ok=True)
    local_root.write_text("a file where a folder should be")
    exporter = ModelDataLogExporter(Settings.from_env({}, local_dir=str(local_root)))
    assert exporter.export([record([[1, 2], [3, 4]])]) is LogRecordExportResult.FAILURE
    assert otel_modeldata.stats()["rows_failed"] == 2


def test_zero_argument_construction_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch, store: Store
) -> None:
    monkeypatch.setattr(ModelDataLogExporter, "built_from_environment", False)
    for variable, value in store.environment.items():
        monkeypatch.setenv(variable, value)
    exporter = ModelDataLogExporter()
    exporter.export([record([[1, 2]])])
    assert store.exists("m", "inputs", **WHERE)
    assert ModelDataLogExporter.built_from_environment
    exporter.shutdown()


def _append_many(root: str, worker: int, calls: int) -> None:
    exporter = ModelDataLogExporter(Settings.from_env({}, local_dir=root))
    for call in range(calls):
        rows = [[f"w{worker}", f"{call}-{i}\nline"] for i in range(3)]
        exporter.export([record(rows)])
    exporter.shutdown()


def test_several_processes_append_to_one_partition(local_root: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_append_many, args=(str(local_root), w, 40)) for w in range(4)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(timeout=120)
        assert p.exitcode == 0
    files = data_files(local_root)
    assert [f.name for f in files] == ["data.csv"]
    assert files[0].read_text().count("$aml_dc_correlation_id") == 1
    _, rows = read_rows(files[0])
    assert len(rows) == 4 * 40 * 3
    assert len({(r["a"], r["b"]) for r in rows}) == len(rows)


def _day_of(folder: str) -> date:
    """The day of a partition folder, from its last three components."""
    year, month, day = map(int, folder.rsplit("/", 3)[-3:])
    return date(year, month, day)


def test_caches_keep_only_recent_days(exporter: ModelDataLogExporter, store: Store) -> None:
    """A long-running process does not grow: past days' folders, files and blob cursors are forgotten.

    Checked on the caches' sizes (internals): memory would be too noisy to show 30 entries.
    """
    today = time.time_ns() // NANOS_PER_DAY
    days = range(today - 30, today + 1)
    for day in days:
        at = day * NANOS_PER_DAY
        exporter.export([record([[day, 0]], timestamp=at), record([[day, 1]], "outputs", timestamp=at)])
    exporter.export([record([[today, 2]], timestamp=time.time_ns())])

    assert len(store.files()) == 2 * len(days)
    _, rows = store.read_rows("m", "inputs", **{**WHERE, "day": datetime.now(timezone.utc)})
    assert [(r["a"], r["b"]) for r in rows] == [(str(today), "0"), (str(today), "2")]
    recent = {utc_day(today * NANOS_PER_DAY), utc_day((today - 1) * NANOS_PER_DAY)}
    destination: Any = exporter.destination
    caches = {
        "exporter folders": {
            utc_day(d * NANOS_PER_DAY) for t in exporter._targets.values() for d in t.folders
        },  # type: ignore[union-attr]
        "destination files": {_day_of(folder) for folder, *_ in destination._files},
    }
    for name in ("_cursors", "_blobs", "_path_locks"):
        if hasattr(destination, name):
            caches[name] = {_day_of(path.rpartition("/")[0]) for path in getattr(destination, name)}
    assert caches == dict.fromkeys(caches, recent)


def test_a_sibling_file_is_announced_once_with_its_reason(
    exporter: ModelDataLogExporter, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    wider = ("a", "b", "c")
    with caplog.at_level(logging.INFO, logger="otel_modeldata"):
        exporter.export([record([[1, 2]])])
        exporter.export([record([[1, 2, 3]], names=wider)])
        exporter.export([record([[4, 5, 6]], names=wider), record([[7, 8]])])
    sibling = [name for name in store.files() if not name.endswith("/data.csv")]
    assert len(sibling) == 1
    assert len(store.rows_in(sibling[0])[1]) == 2
    announced = [r for r in caplog.records if "sibling" in r.getMessage()]
    assert len(announced) == 1
    assert announced[0].levelno == logging.WARNING
    assert sibling[0] in announced[0].getMessage()
    assert "columns differ from the header of" in announced[0].getMessage()
