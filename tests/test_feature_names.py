"""Declared feature names pick values by name from data that carries names, in files and in stats().

JSON key order is arbitrary, so taking columns by position would silently swap them. The
rows are read back from both destinations (the ``store`` fixture).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pytest

import otel_modeldata
from otel_modeldata import CollectionError, ModelDataCollector, collect_io
from otel_modeldata.schema import CORRELATION_COLUMNS

from csvfiles import Store


@collect_io("named", feature_names=["age", "income"], prediction_names=["label", "proba"])
def run(data: object) -> pd.DataFrame:
    return pd.DataFrame({"proba": [0.5], "label": ["yes"], "model_debug": ["x"]})


def test_every_named_shape_lands_under_its_own_column(
    store_collector: otel_modeldata.ModelDataHandle, store: Store
) -> None:
    run([{"income": 50000, "age": 30}])
    run({"income": [60000], "age": [40]})
    run(pd.DataFrame({"income": [70000], "age": [50]}))
    run('{"data": [{"income": 80000, "age": 60}]}')
    run(pd.DataFrame({"income": [90000], "age": [70]}).iloc[0])
    assert store_collector.force_flush()
    header, rows = store.read_rows("named", "inputs")
    assert header == ["age", "income", *CORRELATION_COLUMNS]
    assert [(r["age"], r["income"]) for r in rows] == [
        ("30", "50000"),
        ("40", "60000"),
        ("50", "70000"),
        ("60", "80000"),
        ("70", "90000"),
    ]
    assert otel_modeldata.stats()["rows_adjusted"] == {"extra_feature": 5}  # model_debug, in each prediction


def test_prediction_names_pick_from_a_dataframe_result(
    store_collector: otel_modeldata.ModelDataHandle, store: Store
) -> None:
    run([{"age": 1, "income": 2}])
    assert store_collector.force_flush()
    header, rows = store.read_rows("named", "predictions")
    assert header == ["label", "proba", *CORRELATION_COLUMNS]
    assert [(r["label"], r["proba"]) for r in rows] == [("yes", "0.5")]


def test_missing_and_extra_names_are_written_counted_and_logged_once(
    store_collector: otel_modeldata.ModelDataHandle, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    collector = ModelDataCollector("loans", designation="inputs", feature_names=["age", "income"])
    with caplog.at_level(logging.WARNING, logger="otel_modeldata"):
        collector.collect(json.dumps([{"income": 1, "zip": "A"}, {"age": 2, "income": 3}]))
        collector.collect(pd.DataFrame({"income": [4, 5], "zip": ["B", "C"]}))
        assert store_collector.force_flush()
    _, rows = store.read_rows("loans", "inputs")
    assert [(r["age"], r["income"]) for r in rows] == [("", "1"), ("2", "3"), ("", "4"), ("", "5")]
    stats = otel_modeldata.stats()
    assert stats["rows_adjusted"] == {"missing_feature": 3, "extra_feature": 3}
    assert stats["rows_written"] == 4
    assert stats["rows_dropped"] == {}
    messages = [r.getMessage() for r in caplog.records]
    missing = [m for m in messages if "cause=missing_feature" in m]
    extra = [m for m in messages if "cause=extra_feature" in m]
    assert len(missing) == len(extra) == 1
    assert "model=loans" in missing[0]
    assert "columns=age" in missing[0]
    assert "columns=zip" in extra[0]


def test_a_column_called_data_is_not_the_request_wrapper(
    store_collector: otel_modeldata.ModelDataHandle, store: Store
) -> None:
    collector = ModelDataCollector("wrapped", designation="inputs", feature_names=["age", "data"])
    collector.collect({"data": [1, 2], "age": [30, 40]})
    assert store_collector.force_flush()
    _, rows = store.read_rows("wrapped", "inputs")
    assert [(r["age"], r["data"]) for r in rows] == [("30", "1"), ("40", "2")]
    assert otel_modeldata.stats()["rows_adjusted"] == {}


def test_strict_mode_refuses_names_that_do_not_match(
    monkeypatch: pytest.MonkeyPatch, local_root: Path
) -> None:
    monkeypatch.setenv("OTEL_MODELDATA_STRICT", "true")
    otel_modeldata.configure(local_dir=str(local_root))
    with pytest.raises(CollectionError, match="missing_feature: age"):
        run([{"income": 1}])
    with pytest.raises(CollectionError, match="extra_feature: zip"):
        run([{"income": 1, "age": 2, "zip": 3}])
