"""End to end on both destinations: a decorated run() or the classic collector writes the right files.

Each scenario runs on the local default folder and on Azure Blob Storage (Azurite), read back
from disk or with azure-storage-blob (the ``store`` fixture).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import math
import threading
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest
from opentelemetry.sdk.trace import TracerProvider

import otel_modeldata
from otel_modeldata import ModelDataCollector, collect_io
from otel_modeldata.policy import unguard
from otel_modeldata.schema import CORRELATION_COLUMNS

from csvfiles import AWKWARD, Store

FEATURES = ["f1", "f2", "f3"]


@collect_io("best_model", feature_names=FEATURES, prediction_names=["score"])
def run(raw_data: str) -> list[float]:
    """Sum the features of each row."""
    rows = json.loads(raw_data)["data"]
    return [float(sum(r)) for r in rows]


def test_inputs_and_predictions_land_at_the_exact_path_with_the_header(
    store_collector: otel_modeldata.ModelDataHandle, store: Store
) -> None:
    assert run(json.dumps({"data": [[1, 2, 3], [4, 5, 6]]})) == [6.0, 15.0]
    assert store_collector.force_flush()

    today = datetime.now(timezone.utc)
    assert store.files() == [
        f"sub-1/rg-1/ws-1/svc-1/best_model/1/{designation}/{today:%Y/%m/%d}/data.csv"
        for designation in ("inputs", "predictions")
    ]
    header, inputs = store.read_rows("best_model", "inputs")
    assert header == [*FEATURES, *CORRELATION_COLUMNS]
    assert [[r["f1"], r["f2"], r["f3"]] for r in inputs] == [["1", "2", "3"], ["4", "5", "6"]]
    header, predictions = store.read_rows("best_model", "predictions")
    assert header == ["score", *CORRELATION_COLUMNS]
    assert [r["score"] for r in predictions] == ["6.0", "15.0"]
    row = inputs[0]
    assert row["$aml_workspace"] == "sub-1/rg-1/ws-1"
    assert row["$aml_service_name"] == "svc-1"
    assert row["$aml_model_name"] == "best_model"
    assert row["$aml_model_version"] == "1"
    assert row["$aml_dc_boundary"] == "1440"
    assert row["$aml_dc_scoring_timestamp"].endswith("Z")
    # No tracing in this process: no span is recorded, so there is no trace to point to.
    assert row["$otel_trace_id"] == ""
    assert row["$otel_span_id"] == ""


def test_inputs_join_predictions_on_correlation_id_and_row_index(
    store_collector: otel_modeldata.ModelDataHandle, store: Store
) -> None:
    tracer = TracerProvider().get_tracer("app")
    for n in range(1, 6):
        with tracer.start_as_current_span("app.request"):
            run(json.dumps({"data": [[n, i, 0] for i in range(n)]}))
    store_collector.force_flush()
    inputs = store.read_frame("best_model", "inputs")
    predictions = store.read_frame("best_model", "predictions")
    joined = inputs.merge(predictions, on=["$aml_dc_correlation_id", "$row_index"], validate="one_to_one")
    assert len(joined) == len(inputs) == 15
    assert (joined["f1"] + joined["f2"] == joined["score"]).all()
    assert inputs["$aml_dc_correlation_id"].nunique() == 5
    assert joined["$otel_trace_id_x"].nunique() == 5
    assert (joined["$otel_trace_id_x"] == joined["$otel_trace_id_y"]).all()


def test_one_record_per_call_not_per_row(store_collector: otel_modeldata.ModelDataHandle) -> None:
    run(json.dumps({"data": [[1, 2, 3]] * 50}))
    store_collector.force_flush()
    assert otel_modeldata.stats()["rows_accepted"] == 100
    assert otel_modeldata.stats()["rows_written"] == 100


def test_wraps_keeps_signature_and_docstring() -> None:
    assert run.__name__ == "run"
    assert run.__doc__ == "Sum the features of each row."
    assert list(inspect.signature(run).parameters) == ["raw_data"]


def test_async_run_is_collected(store_collector: otel_modeldata.ModelDataHandle, store: Store) -> None:
    @collect_io("async_model")
    async def arun(data: list[list[int]]) -> list[int]:
        await asyncio.sleep(0)
        return [sum(r) for r in data]

    assert inspect.iscoroutinefunction(arun)

    async def main() -> list[list[int]]:
        return await asyncio.gather(*(arun([[i, i]]) for i in range(20)))

    assert asyncio.run(main()) == [[2 * i] for i in range(20)]
    store_collector.force_flush()
    inputs = store.read_frame("async_model", "inputs")
    predictions = store.read_frame("async_model", "predictions")
    joined = inputs.merge(predictions, on=["$aml_dc_correlation_id", "$row_index"])
    assert len(joined) == 20
    assert (joined["feature_0"] * 2 == joined["prediction_0"]).all()


def test_rows_are_written_as_collected_when_run_changes_them_afterwards(
    store_collector: otel_modeldata.ModelDataHandle, store: Store
) -> None:
    @collect_io("inplace_model")
    def preprocess_in_place(rows: list[list[float]]) -> list[list[float]]:
        for row in rows:
            row[0] = 0.0
        return [[1.0] for _ in rows]

    result = preprocess_in_place([[5.0, 6.0]])
    result[0][0] = 99.0  # the caller reuses the list it got back
    store_collector.force_flush()
    _, inputs = store.read_rows("inplace_model", "inputs")
    assert [(r["feature_0"], r["feature_1"]) for r in inputs] == [("5.0", "6.0")]
    _, predictions = store.read_rows("inplace_model", "predictions")
    assert [r["prediction_0"] for r in predictions] == ["1.0"]


def test_when_run_raises_inputs_are_collected_and_the_exception_propagates(
    store_collector: otel_modeldata.ModelDataHandle, store: Store
) -> None:
    class ModelError(RuntimeError):
        pass

    @collect_io("failing_model")
    def failing(data: list[list[int]]) -> None:
        raise ModelError("boom")

    with pytest.raises(ModelError, match="boom"):
        failing([[7, 8]])
    store_collector.force_flush()
    _, rows = store.read_rows("failing_model", "inputs")
    assert [(r["feature_0"], r["feature_1"]) for r in rows] == [("7", "8")]
    assert not store.exists("failing_model", "predictions", file=None)


def test_numpy_and_pandas_inputs(store_collector: otel_modeldata.ModelDataHandle, store: Store) -> None:
    @collect_io("np_model")
    def predict(frame: pd.DataFrame) -> np.ndarray:
        return frame.to_numpy().sum(axis=1)

    predict(pd.DataFrame({"age": [30, 40], "income": [1.5, 2.5]}))
    store_collector.force_flush()
    header, _ = store.read_rows("np_model", "inputs")
    assert header[:2] == ["age", "income"]
    _, predictions = store.read_rows("np_model", "predictions")
    assert [r["prediction_0"] for r in predictions] == ["31.5", "42.5"]


def test_methods_collect_their_data_argument(
    store_collector: otel_modeldata.ModelDataHandle, store: Store
) -> None:
    class Model:
        @collect_io("method_model")
        def run(self, data: list[int]) -> int:
            return sum(data)

    assert Model().run(data=[1, 2]) == 3
    store_collector.force_flush()
    _, rows = store.read_rows("method_model", "inputs")
    assert [(r["feature_0"], r["feature_1"]) for r in rows] == [("1", "2")]


def test_awkward_values_round_trip_through_pandas_from_the_written_files(
    store_collector: otel_modeldata.ModelDataHandle, store: Store
) -> None:
    @collect_io("awkward_text", feature_names=[f"c{i}" for i in range(6)])
    def text(rows: list[list[str]]) -> list[int]:
        return [len(r) for r in rows]

    @collect_io("awkward_numbers", feature_names=[f"n{i}" for i in range(5)])
    def numbers(rows: list[list[float | None]]) -> list[int]:
        return [len(r) for r in rows]

    text([list(r) for r in AWKWARD])
    numbers([[math.nan, math.inf, -math.inf, None, 1.5]])
    assert store_collector.force_flush()
    frame = store.read_frame("awkward_text", "inputs", read_csv={"dtype": str, "keep_default_na": False})
    written = frame.iloc[:, :6].values.tolist()
    assert (written[0][5], written[1][3]) == ("'=1+1", "'-5")  # the formula guard, on by default
    assert [[unguard(v) for v in row] for row in written] == AWKWARD
    assert frame["$row_index"].tolist() == ["0", "1"]
    values = store.read_frame("awkward_numbers", "inputs").iloc[0, :5].tolist()
    assert math.isnan(values[0])
    assert values[1] == math.inf
    assert values[2] == -math.inf
    assert math.isnan(values[3])
    assert values[4] == 1.5
    assert otel_modeldata.stats()["rows_dropped"] == {}


def test_classic_collector_shares_the_correlation_id(
    store_collector: otel_modeldata.ModelDataHandle, store: Store
) -> None:
    inputs_dc = ModelDataCollector("best_model", designation="inputs", feature_names=["a", "b"])
    prediction_dc = ModelDataCollector("best_model", designation="predictions", feature_names=["p"])
    context = inputs_dc.collect(np.array([[1, 2], [3, 4]]))
    prediction_dc.collect(np.array([0.5, 0.7]))
    assert set(context) >= {"correlation_id", "request_id"}
    store_collector.force_flush()
    _, inputs = store.read_rows("best_model", "inputs")
    _, predictions = store.read_rows("best_model", "predictions")
    assert {r["$aml_dc_correlation_id"] for r in inputs} == {context["correlation_id"]}
    assert {r["$aml_dc_correlation_id"] for r in predictions} == {context["correlation_id"]}
    assert [r["p"] for r in predictions] == ["0.5", "0.7"]


def test_classic_collector_accepts_a_passed_context_and_user_ids(
    store_collector: otel_modeldata.ModelDataHandle, store: Store
) -> None:
    inputs_dc = ModelDataCollector("loans", designation="inputs")
    labels_dc = ModelDataCollector("loans", designation="labels")
    context = inputs_dc.collect([[1, 2]], user_correlation_id="LOAN-42")
    assert context["correlation_id"].startswith("LOAN-42-"), "made unique as the classic package did"
    result: dict[str, str] = {}
    worker = threading.Thread(target=lambda: result.update(labels_dc.collect([[1]], context)))
    worker.start()
    worker.join()
    assert result["correlation_id"] == context["correlation_id"]
    store_collector.force_flush()
    _, labels = store.read_rows("loans", "labels")
    assert labels[0]["$aml_dc_correlation_id"] == context["correlation_id"]


def test_correlations_do_not_leak_between_threads(
    store_collector: otel_modeldata.ModelDataHandle, store: Store
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
    store_collector.force_flush()
    inputs = store.read_frame("threads", "inputs")
    predictions = store.read_frame("threads", "predictions")
    joined = inputs.merge(predictions, on=["$aml_dc_correlation_id", "$row_index"])
    assert len(joined) == 8
    assert (joined["feature_0"] * 10 == joined["prediction_0"]).all()


def test_request_id_is_written_and_defaults_to_the_correlation_id(
    store_collector: otel_modeldata.ModelDataHandle, store: Store
) -> None:
    with otel_modeldata.request_id_scope("req-123"):
        run(json.dumps({"data": [[1, 1, 1]]}))
    run(json.dumps({"data": [[2, 2, 2]]}))
    store_collector.force_flush()
    _, rows = store.read_rows("best_model", "inputs")
    assert rows[0]["$aml_request_id"] == "req-123"
    assert rows[1]["$aml_request_id"] == rows[1]["$aml_dc_correlation_id"]


def test_disabled_collection_writes_nothing(monkeypatch: pytest.MonkeyPatch, store: Store) -> None:
    monkeypatch.setenv("OTEL_MODELDATA_ENABLED", "false")
    handle = otel_modeldata.configure(**store.destination)
    assert run(json.dumps({"data": [[1, 2, 3]]})) == [6.0]
    assert ModelDataCollector("m", designation="inputs").collect([[1]])["correlation_id"]
    handle.force_flush()
    assert store.untouched()


def test_configure_twice_does_not_export_twice(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    first = otel_modeldata.configure(**store.destination)
    with caplog.at_level(logging.WARNING):
        second = otel_modeldata.configure(**store.elsewhere)
    assert second is first
    assert "already called" in caplog.text
    run(json.dumps({"data": [[1, 2, 3]]}))
    first.force_flush()
    files = store.files()
    assert len(files) == 2
    assert all(len(store.rows_in(f)[1]) == 1 for f in files)


def test_collection_configures_itself_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, store: Store
) -> None:
    for variable, value in store.environment.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "my-service")
    run(json.dumps({"data": [[1, 2, 3]]}))
    otel_modeldata.providers._handle.force_flush()  # type: ignore[union-attr]
    identity = ("default", "default", "default", "my-service")
    assert store.exists("best_model", "inputs", identity=identity)


def test_model_version_from_code_and_environment(monkeypatch: pytest.MonkeyPatch, store: Store) -> None:
    monkeypatch.setenv("OTEL_MODELDATA_MODEL_VERSION", "7")
    handle = otel_modeldata.configure(**store.destination)

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
    assert store.exists("versioned", "inputs", version="3", identity=ident)
    assert store.exists("unversioned", "inputs", version="7", identity=ident)
