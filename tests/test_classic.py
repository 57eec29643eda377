"""The classic API as azureml-monitoring's users call it: constructor arguments, the returned
correlation dict, ``add_correlations``, unique user correlation ids and Spark DataFrames."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pytest

import otel_modeldata
from otel_modeldata import ModelDataCollector
from otel_modeldata.context import new_id, sampling_key, user_id
from otel_modeldata.policy import sampled

from csvfiles import IDENTITY, LocalStore, Store

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
CLASSIC_KEYS = [
    "$aml_dc_correlation_id",
    "$aml_dc_scoring_timestamp",
    "$aml_request_id",
    "$aml_dc_boundary",
    "$aml_workspace",
    "$aml_service_name",
    "$aml_model_name",
    "$aml_model_version",
]
OWN_IDENTITY = ("sub-9", "rg-9", "ws-9", "svc-9")


def test_workspace_and_webservice_name_place_this_collectors_rows(store_collector: Any, store: Store) -> None:
    own = ModelDataCollector(
        "m", "inputs", ["x"], workspace="sub-9/rg-9/ws-9", webservice_name="svc-9", model_version="default"
    )
    configured = ModelDataCollector("m", designation="inputs", feature_names=["x"])
    corr = own.collect([[1]])
    configured.collect([[2]])
    assert store_collector.force_flush()

    _, rows = store.read_rows("m", "inputs", identity=OWN_IDENTITY)
    assert [(r["x"], r["$aml_workspace"], r["$aml_service_name"]) for r in rows] == [
        ("1", "sub-9/rg-9/ws-9", "svc-9")
    ]
    assert corr["$aml_workspace"] == "sub-9/rg-9/ws-9"
    assert corr["$aml_service_name"] == "svc-9"
    _, rows = store.read_rows("m", "inputs")
    assert [(r["x"], r["$aml_workspace"], r["$aml_service_name"]) for r in rows] == [
        ("2", "/".join(IDENTITY[:3]), IDENTITY[3])
    ]


def test_model_version_default_means_the_configured_version(store_collector: Any, store: Store) -> None:
    ModelDataCollector("m", "predictions", ["y"], model_version="default").collect([[1]])
    ModelDataCollector("m", "predictions", ["y"], model_version=7).collect([[2]])
    assert store_collector.force_flush()
    assert [r["y"] for r in store.read_rows("m", "predictions", version="1")[1]] == ["1"]
    assert [r["y"] for r in store.read_rows("m", "predictions", version="7")[1]] == ["2"]


def test_identifier_is_the_old_name_of_designation(store_collector: Any, store: Store) -> None:
    ModelDataCollector("m", identifier="inputs", feature_names=["x"]).collect([[3]])
    assert store_collector.force_flush()
    assert [r["x"] for r in store.read_rows("m", "inputs")[1]] == ["3"]
    with pytest.raises(TypeError, match="identifier"):
        ModelDataCollector("m", designation="inputs", identifier="labels")


def test_collection_name_names_the_file_of_signals_and_general(store_collector: Any, store: Store) -> None:
    ModelDataCollector("m", "signals", ["latency"], collection_name="latency").collect([[12]])
    ModelDataCollector("m", "general", ["note"], collection_name="notes").collect([["ok"]])
    ModelDataCollector("m", "inputs", ["x"], collection_name="ignored").collect([[1]])
    assert store_collector.force_flush()
    assert [r["latency"] for r in store.read_rows("m", "signals", file="latency.csv")[1]] == ["12"]
    assert [r["note"] for r in store.read_rows("m", "general", file="notes.csv")[1]] == ["ok"]
    assert not store.exists("m", "signals")
    assert not store.exists("m", "general")
    assert [r["x"] for r in store.read_rows("m", "inputs")[1]] == ["1"], "other designations keep data.csv"


def test_classic_arguments_that_cannot_be_path_levels_are_refused_at_init() -> None:
    with pytest.raises(otel_modeldata.InvalidNameError, match="workspace"):
        ModelDataCollector("m", workspace="only-one-level")
    with pytest.raises(otel_modeldata.InvalidNameError, match="workspace"):
        ModelDataCollector("m", workspace="sub/../ws")
    with pytest.raises(otel_modeldata.InvalidNameError, match="webservice_name"):
        ModelDataCollector("m", webservice_name="a/b")
    with pytest.raises(otel_modeldata.InvalidNameError, match="collection_name"):
        ModelDataCollector("m", "signals", collection_name="..")


def test_the_returned_dict_has_the_csv_column_names_and_either_form_ties_records(
    store_collector: Any, store: Store
) -> None:
    inputs_dc = ModelDataCollector("m", designation="inputs", feature_names=["x"])
    labels_dc = ModelDataCollector("m", designation="labels", feature_names=["label"])
    corr = inputs_dc.collect([[1], [2]])
    assert set(CLASSIC_KEYS) | {"correlation_id", "request_id"} == set(corr)
    assert corr["$aml_dc_correlation_id"] == corr["correlation_id"]
    assert corr["$aml_request_id"] == corr["request_id"]
    assert corr["$aml_model_name"] == "m"
    assert corr["$aml_model_version"] == "1"
    assert corr["$aml_dc_boundary"] == "1440"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", corr["$aml_dc_scoring_timestamp"])
    labels_dc.collect([["a"]], {"$aml_dc_correlation_id": corr["$aml_dc_correlation_id"]})
    labels_dc.collect([["b"]], {"correlation_id": corr["correlation_id"]})
    assert store_collector.force_flush()

    _, inputs = store.read_rows("m", "inputs")
    _, labels = store.read_rows("m", "labels")
    assert {r["$aml_dc_correlation_id"] for r in inputs} == {corr["$aml_dc_correlation_id"]}
    assert [(r["label"], r["$aml_dc_correlation_id"]) for r in labels] == [
        ("a", corr["$aml_dc_correlation_id"]),
        ("b", corr["$aml_dc_correlation_id"]),
    ]
    assert {k: inputs[0][k] for k in CLASSIC_KEYS if k != "$aml_dc_scoring_timestamp"} == {
        k: corr[k] for k in CLASSIC_KEYS if k != "$aml_dc_scoring_timestamp"
    }


def test_user_correlation_ids_stay_unique_and_a_returned_dict_reuses_its_id(
    store_collector: Any, store: Store
) -> None:
    inputs_dc = ModelDataCollector("loans", designation="inputs", feature_names=["amount"])
    labels_dc = ModelDataCollector("loans", designation="labels", feature_names=["repaid"])
    first = inputs_dc.collect([[1000]], user_correlation_id="LOAN-42")
    retried = inputs_dc.collect([[1000]], user_correlation_id="LOAN-42")
    labels_dc.collect([[True]], first)
    assert store_collector.force_flush()

    ids = [r["$aml_dc_correlation_id"] for r in store.read_rows("loans", "inputs")[1]]
    assert ids == [first["correlation_id"], retried["correlation_id"]]
    assert ids[0] != ids[1], "a retried request must not collide with the first on (id, row index)"
    assert all(re.fullmatch(f"LOAN-42-{UUID}", i) for i in ids)
    assert [r["$aml_dc_correlation_id"] for r in store.read_rows("loans", "labels")[1]] == [ids[0]]


def test_sampling_of_a_user_id_is_decided_by_the_id_the_user_gave() -> None:
    for i in range(200):
        made = user_id(f"LOAN-{i}")
        assert sampling_key(made) == f"LOAN-{i}"
        assert sampled(sampling_key(made), 0.5) == sampled(f"LOAN-{i}", 0.5)
    generated = new_id()
    assert sampling_key(generated) == generated
    assert sampling_key(f"{generated}-{generated}") == generated


def _as_list(values: np.ndarray) -> Any:
    return values.tolist()


def _as_frame(values: np.ndarray) -> Any:
    return pd.DataFrame({"species": values})


@pytest.mark.parametrize("kind", [_as_list, np.asarray, _as_frame, lambda v: pd.Series(v, name="species")])
def test_add_correlations_ties_predictions_to_inputs_once_without_extra_columns(
    kind: Any, store_collector: Any, store: Store
) -> None:
    inputs_dc = ModelDataCollector("m", designation="inputs", feature_names=["x"])
    prediction_dc = ModelDataCollector("m", designation="predictions", feature_names=["species"])
    corr = inputs_dc.collect(np.array([[1.0], [2.0]]))
    inputs_dc.collect(np.array([[9.0]]))  # a later request: its correlation is not the one passed
    predictions = prediction_dc.add_correlations(kind(np.array(["setosa", "virginica"])), corr)
    assert len(predictions) == 2
    prediction_dc.collect(predictions)
    assert store_collector.force_flush()

    header, rows = store.read_rows("m", "predictions")
    assert header[0] == "species"
    assert header.count("$aml_dc_correlation_id") == 1
    assert len(header) == 1 + len(otel_modeldata.schema.CORRELATION_COLUMNS)
    assert [(r["species"], r["$aml_dc_correlation_id"], r["$row_index"]) for r in rows] == [
        ("setosa", corr["correlation_id"], "0"),
        ("virginica", corr["correlation_id"], "1"),
    ]


def test_add_correlations_keeps_the_data_it_is_given(collector: Any) -> None:
    corr = ModelDataCollector("m", designation="inputs").collect([[1]])
    prediction_dc = ModelDataCollector("m", designation="predictions")
    rows = [[1, 2]]
    frame = pd.DataFrame({"a": [1]})
    assert prediction_dc.add_correlations(rows, corr)[0][:2] == [1, 2]
    assert rows == [[1, 2]]
    assert list(prediction_dc.add_correlations(frame, corr).columns) == ["a", *CLASSIC_KEYS]
    assert list(frame.columns) == ["a"]
    assert prediction_dc.add_correlations({"a": 1}, corr) == {"a": 1}, "unsupported data comes back as it was"


@pytest.mark.spark
@pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas")
@pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")
def test_a_spark_dataframe_is_collected_as_its_rows(collector: Any, local_root: Any) -> None:
    pyspark_sql = pytest.importorskip("pyspark.sql")
    spark = pyspark_sql.SparkSession.builder.master("local[1]").appName("classic").getOrCreate()
    try:
        frame = spark.createDataFrame([(1.5, "a"), (2.5, "b")], ["amount", "kind"])
        ModelDataCollector("m", designation="inputs").collect(frame)
        assert collector.force_flush()
    finally:
        spark.stop()
    header, rows = LocalStore(local_root).read_rows("m", "inputs")
    assert header[:2] == ["amount", "kind"]
    assert [(r["amount"], r["kind"]) for r in rows] == [("1.5", "a"), ("2.5", "b")]
