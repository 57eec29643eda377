"""End to end on the local default: a decorated run() or the classic collector writes the right files."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import otel_modeldata
from otel_modeldata import ModelDataCollector, collect_io
from otel_modeldata.schema import CORRELATION_COLUMNS

from csvfiles import data_files, partition_dir, read_rows

FEATURES = ["f1", "f2", "f3"]


@collect_io("best_model", feature_names=FEATURES, prediction_names=["score"])
def run(raw_data: str) -> list[float]:
    """Sum the features of each row."""
    rows = json.loads(raw_data)["data"]
    return [float(sum(r)) for r in rows]


def test_inputs_and_predictions_land_at_the_exact_path_with_the_header(
    collector: otel_modeldata.ModelDataHandle, local_root: Path
) -> None:
    assert run(json.dumps({"data": [[1, 2, 3], [4, 5, 6]]})) == [6.0, 15.0]
    assert collector.force_flush()

    header, inputs = read_rows(partition_dir(local_root, "best_model", "inputs") / "data.csv")
    assert header == [*FEATURES, *CORRELATION_COLUMNS]
    assert [[r["f1"], r["f2"], r["f3"]] for r in inputs] == [["1", "2", "3"], ["4", "5", "6"]]
    header, predictions = read_rows(partition_dir(local_root, "best_model", "predictions") / "data.csv")
    assert header == ["score", *CORRELATION_COLUMNS]
    assert [r["score"] for r in predictions] == ["6.0", "15.0"]
    row = inputs[0]
    assert row["$aml_workspace"] == "sub-1/rg-1/ws-1"
    assert row["$aml_service_name"] == "svc-1"
    assert row["$aml_model_name"] == "best_model"
    assert row["$aml_model_version"] == "1"
    assert row["$aml_dc_boundary"] == "1440"
    assert row["$aml_dc_scoring_timestamp"].endswith("Z")
    assert len(row["$otel_trace_id"]) == 32
    assert len(row["$otel_span_id"]) == 16


def test_inputs_join_predictions_on_correlation_id_and_row_index(
    collector: otel_modeldata.ModelDataHandle, local_root: Path
) -> None:
    for n in range(1, 6):
        run(json.dumps({"data": [[n, i, 0] for i in range(n)]}))
    collector.force_flush()
    inputs = pd.read_csv(partition_dir(local_root, "best_model", "inputs") / "data.csv")
    predictions = pd.read_csv(partition_dir(local_root, "best_model", "predictions") / "data.csv")
    joined = inputs.merge(predictions, on=["$aml_dc_correlation_id", "$row_index"], validate="one_to_one")
    assert len(joined) == len(inputs) == 15
    assert (joined["f1"] + joined["f2"] == joined["score"]).all()
    assert inputs["$aml_dc_correlation_id"].nunique() == 5
    assert (joined["$otel_trace_id_x"] == joined["$otel_trace_id_y"]).all()


def test_one_record_per_call_not_per_row(collector: otel_modeldata.ModelDataHandle, local_root: Path) -> None:
    run(json.dumps({"data": [[1, 2, 3]] * 50}))
    collector.force_flush()
    assert otel_modeldata.stats()["rows_accepted"] == 100
    assert otel_modeldata.stats()["rows_written"] == 100


def test_wraps_keeps_signature_and_docstring() -> None:
    assert run.__name__ == "run"
    assert run.__doc__ == "Sum the features of each row."
    assert list(inspect.signature(run).parameters) == ["raw_data"]


def test_async_run_is_collected(collector: otel_modeldata.ModelDataHandle, local_root: Path) -> None:
    @collect_io("async_model")
    async def arun(data: list[list[int]]) -> list[int]:
        await asyncio.sleep(0)
        return [sum(r) for r in data]

    assert inspect.iscoroutinefunction(arun)

    async def main() -> list[list[int]]:
        return await asyncio.gather(*(arun([[i, i]]) for i in range(20)))

    assert asyncio.run(main()) == [[2 * i] for i in range(20)]
    collector.force_flush()
    inputs = pd.read_csv(partition_dir(local_root, "async_model", "inputs") / "data.csv")
    predictions = pd.read_csv(partition_dir(local_root, "async_model", "predictions") / "data.csv")
    joined = inputs.merge(predictions, on=["$aml_dc_correlation_id", "$row_index"])
    assert len(joined) == 20
    assert (joined["feature_0"] * 2 == joined["prediction_0"]).all()


def test_when_run_raises_inputs_are_collected_and_the_exception_propagates(
    collector: otel_modeldata.ModelDataHandle, local_root: Path
) -> None:
    class ModelError(RuntimeError):
        pass

    @collect_io("failing_model")
    def failing(data: list[list[int]]) -> None:
        raise ModelError("boom")

    with pytest.raises(ModelError, match="boom"):
        failing([[7, 8]])
    collector.force_flush()
    _, rows = read_rows(partition_dir(local_root, "failing_model", "inputs") / "data.csv")
    assert [(r["feature_0"], r["feature_1"]) for r in rows] == [("7", "8")]
    assert not partition_dir(local_root, "failing_model", "predictions").exists()


def test_numpy_and_pandas_inputs(collector: otel_modeldata.ModelDataHandle, local_root: Path) -> None:
    @collect_io("np_model")
    def predict(frame: pd.DataFrame) -> np.ndarray:
        return frame.to_numpy().sum(axis=1)

    predict(pd.DataFrame({"age": [30, 40], "income": [1.5, 2.5]}))
    collector.force_flush()
    header, _ = read_rows(partition_dir(local_root, "np_model", "inputs") / "data.csv")
    assert header[:2] == ["age", "income"]
    _, predictions = read_rows(partition_dir(local_root, "np_model", "predictions") / "data.csv")
    assert [r["prediction_0"] for r in predictions] == ["31.5", "42.5"]


def test_methods_collect_their_data_argument(
    collector: otel_modeldata.ModelDataHandle, local_root: Path
) -> None:
    class Model:
        @collect_io("method_model")
        def run(self, data: list[int]) -> int:
            return sum(data)

    assert Model().run(data=[1, 2]) == 3
    collector.force_flush()
    _, rows = read_rows(partition_dir(local_root, "method_model", "inputs") / "data.csv")
    assert [(r["feature_0"], r["feature_1"]) for r in rows] == [("1", "2")]


def test_classic_collector_shares_the_correlation_id(
    collector: otel_modeldata.ModelDataHandle, local_root: Path
) -> None:
    inputs_dc = ModelDataCollector("best_model", designation="inputs", feature_names=["a", "b"])
    prediction_dc = ModelDataCollector("best_model", designation="predictions", feature_names=["p"])
    context = inputs_dc.collect(np.array([[1, 2], [3, 4]]))
    prediction_dc.collect(np.array([0.5, 0.7]))
    assert set(context) >= {"correlation_id", "request_id"}
    collector.force_flush()
    _, inputs = read_rows(partition_dir(local_root, "best_model", "inputs") / "data.csv")
    _, predictions = read_rows(partition_dir(local_root, "best_model", "predictions") / "data.csv")
    assert {r["$aml_dc_correlation_id"] for r in inputs} == {context["correlation_id"]}
    assert {r["$aml_dc_correlation_id"] for r in predictions} == {context["correlation_id"]}
    assert [r["p"] for r in predictions] == ["0.5", "0.7"]


def test_classic_collector_accepts_a_passed_context_and_user_ids(
    collector: otel_modeldata.ModelDataHandle, local_root: Path
) -> None:
    inputs_dc = ModelDataCollector("loans", designation="inputs")
    labels_dc = ModelDataCollector("loans", designation="labels")
    context = inputs_dc.collect([[1, 2]], user_correlation_id="LOAN-42")
    assert context["correlation_id"] == "LOAN-42"
    result: dict[str, str] = {}
    worker = threading.Thread(target=lambda: result.update(labels_dc.collect([[1]], context)))
    worker.start()
    worker.join()
    assert result["correlation_id"] == "LOAN-42"
    collector.force_flush()
    _, labels = read_rows(partition_dir(local_root, "loans", "labels") / "data.csv")
    assert labels[0]["$aml_dc_correlation_id"] == "LOAN-42"


def test_correlations_do_not_leak_between_threads(
    collector: otel_modeldata.ModelDataHandle, local_root: Path
) -> None:
    inputs_dc = ModelDataCollector("threads", designation="inputs")
    prediction_dc = ModelDataCollector("threads", designation="predictions")
    barrier = threading.Barrier(8)

    def request(i: int) -> None:
        inputs_dc.collect([[i]])
        barrier.wait()
        prediction_dc.collect([[i * 10]])

    threads = [threading.Thread(target=request, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    collector.force_flush()
    inputs = pd.read_csv(partition_dir(local_root, "threads", "inputs") / "data.csv")
    predictions = pd.read_csv(partition_dir(local_root, "threads", "predictions") / "data.csv")
    joined = inputs.merge(predictions, on=["$aml_dc_correlation_id", "$row_index"])
    assert len(joined) == 8
    assert (joined["feature_0"] * 10 == joined["prediction_0"]).all()


def test_request_id_is_written_and_defaults_to_the_correlation_id(
    collector: otel_modeldata.ModelDataHandle, local_root: Path
) -> None:
    with otel_modeldata.request_id_scope("req-123"):
        run(json.dumps({"data": [[1, 1, 1]]}))
    run(json.dumps({"data": [[2, 2, 2]]}))
    collector.force_flush()
    _, rows = read_rows(partition_dir(local_root, "best_model", "inputs") / "data.csv")
    assert rows[0]["$aml_request_id"] == "req-123"
    assert rows[1]["$aml_request_id"] == rows[1]["$aml_dc_correlation_id"]


def test_disabled_collection_writes_nothing(monkeypatch: pytest.MonkeyPatch, local_root: Path) -> None:
    monkeypatch.setenv("OTEL_MODELDATA_ENABLED", "false")
    handle = otel_modeldata.configure(local_dir=str(local_root))
    assert run(json.dumps({"data": [[1, 2, 3]]})) == [6.0]
    assert ModelDataCollector("m", designation="inputs").collect([[1]])["correlation_id"]
    handle.force_flush()
    assert not local_root.exists()


def test_configure_twice_does_not_export_twice(local_root: Path, caplog: pytest.LogCaptureFixture) -> None:
    first = otel_modeldata.configure(local_dir=str(local_root))
    with caplog.at_level(logging.WARNING):
        second = otel_modeldata.configure(local_dir=str(local_root / "other"))
    assert second is first
    assert "already called" in caplog.text
    run(json.dumps({"data": [[1, 2, 3]]}))
    first.force_flush()
    files = data_files(local_root)
    assert len(files) == 2
    assert all(len(read_rows(f)[1]) == 1 for f in files)


def test_collection_configures_itself_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OTEL_MODELDATA_LOCAL_DIR", str(tmp_path))
    monkeypatch.setenv("OTEL_SERVICE_NAME", "my-service")
    run(json.dumps({"data": [[1, 2, 3]]}))
    otel_modeldata.providers._handle.force_flush()  # type: ignore[union-attr]
    identity = ("default", "default", "default", "my-service")
    assert (partition_dir(tmp_path, "best_model", "inputs", identity=identity) / "data.csv").exists()


def test_model_version_from_code_and_environment(monkeypatch: pytest.MonkeyPatch, local_root: Path) -> None:
    monkeypatch.setenv("OTEL_MODELDATA_MODEL_VERSION", "7")
    handle = otel_modeldata.configure(local_dir=str(local_root))

    @collect_io("versioned", model_version=3)
    def pinned(data: list[int]) -> int:
        return 1

    @collect_io("unversioned")
    def floating(data: list[int]) -> int:
        return 1

    pinned([1])
    floating([1])
    handle.force_flush()
    ident = ("default",) * 4
    assert (partition_dir(local_root, "versioned", "inputs", "3", ident) / "data.csv").exists()
    assert (partition_dir(local_root, "unversioned", "inputs", "7", ident) / "data.csv").exists()
