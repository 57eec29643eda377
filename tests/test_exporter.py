"""The exporter alone: what it writes for batches of records, its lifecycle, several processes."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry._logs import LogRecord
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExportResult
from opentelemetry.sdk.resources import Resource

from otel_modeldata import ModelDataLogExporter, Settings, schema

from csvfiles import data_files, read_rows

DAY_NS = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z
RESOURCE = Resource.create({})


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
def exporter(local_root: Path) -> Iterator[ModelDataLogExporter]:
    exporter = ModelDataLogExporter(Settings.from_env({}, local_dir=str(local_root)))
    yield exporter
    exporter.shutdown()


def folder(root: Path, designation: str = "inputs", day: str = "2026/01/01") -> Path:
    return root / "modeldata/default/default/default/default/m/2" / designation / day


def test_batch_is_grouped_by_partition_and_date(exporter: ModelDataLogExporter, local_root: Path) -> None:
    batch = [
        record([[1, 2]]),
        record([[3]], designation="predictions", names=None),
        record([[5, 6]], timestamp=DAY_NS + 86_400 * 10**9),
        record([[7, 8]]),
    ]
    assert exporter.export(batch) is LogRecordExportResult.SUCCESS
    _, rows = read_rows(folder(local_root) / "data.csv")
    assert [(r["a"], r["b"]) for r in rows] == [("1", "2"), ("7", "8")]
    assert rows[0]["$aml_dc_scoring_timestamp"] == "2026-01-01T00:00:00.000000Z"
    header, predictions = read_rows(folder(local_root, "predictions") / "data.csv")
    assert header[0] == "prediction_0"
    assert [r["prediction_0"] for r in predictions] == ["3"]
    _, next_day = read_rows(folder(local_root, day="2026/01/02") / "data.csv")
    assert [r["a"] for r in next_day] == ["5"]


def test_records_without_a_designation_are_ignored(exporter: ModelDataLogExporter, local_root: Path) -> None:
    plain = ReadableLogRecord(log_record=LogRecord(body="hello", attributes={"x": 1}), resource=RESOURCE)
    assert exporter.export([plain]) is LogRecordExportResult.SUCCESS
    assert not local_root.exists()


def test_a_file_never_mixes_two_headers(exporter: ModelDataLogExporter, local_root: Path) -> None:
    exporter.export([record([[1, 2]])])
    exporter.export([record([[1, 2, 3]], names=("a", "b", "c"))])
    exporter.export([record([[4, 5]])])
    files = data_files(local_root)
    assert files[0].name == "data.csv"
    assert len(files) == 2
    assert files[1].name.startswith("data_")
    assert files[1].name.endswith(".csv")
    for path in files:
        text = path.read_text()
        assert text.count("$aml_dc_correlation_id") == 1
    header, _ = read_rows(files[1])
    assert header[:3] == ["a", "b", "c"]
    assert len(read_rows(files[0])[1]) == 2


def test_a_new_exporter_reuses_the_existing_file_with_the_same_header(local_root: Path) -> None:
    for value in (1, 2):
        exporter = ModelDataLogExporter(Settings.from_env({}, local_dir=str(local_root)))
        exporter.export([record([[value, value]])])
        exporter.shutdown()
    assert [f.name for f in data_files(local_root)] == ["data.csv"]
    assert len(read_rows(data_files(local_root)[0])[1]) == 2


def test_export_after_shutdown_is_refused(exporter: ModelDataLogExporter, local_root: Path) -> None:
    exporter.shutdown()
    exporter.shutdown()
    assert exporter.export([record([[1, 2]])]) is LogRecordExportResult.FAILURE
    assert not local_root.exists()


def test_an_unwritable_destination_fails_and_counts(local_root: Path) -> None:
    import otel_modeldata

    local_root.parent.mkdir(parents=True, exist_ok=True)
    local_root.write_text("a file where a folder should be")
    exporter = ModelDataLogExporter(Settings.from_env({}, local_dir=str(local_root)))
    assert exporter.export([record([[1, 2], [3, 4]])]) is LogRecordExportResult.FAILURE
    assert otel_modeldata.stats()["rows_failed"] == 2


def test_zero_argument_construction_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch, local_root: Path
) -> None:
    monkeypatch.setattr(ModelDataLogExporter, "built_from_environment", False)
    monkeypatch.setenv("OTEL_MODELDATA_LOCAL_DIR", str(local_root))
    exporter = ModelDataLogExporter()
    exporter.export([record([[1, 2]])])
    assert (folder(local_root) / "data.csv").exists()
    assert ModelDataLogExporter.built_from_environment


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
