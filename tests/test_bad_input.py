"""Bad input never breaks run(): it is logged once per cause, counted, and the rest is kept.

The scenarios that write rows run on both destinations (the ``store`` fixture).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pytest

import otel_modeldata
from otel_modeldata import CollectionError, InvalidNameError, collect_io
from otel_modeldata.policy import unguard

from csvfiles import LocalStore, Store


@collect_io("guarded", feature_names=["a", "b"])
def run(data: object) -> str:
    return "result unchanged"


def test_wrong_feature_count_drops_only_those_rows(
    store_collector: otel_modeldata.ModelDataHandle, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="otel_modeldata"):
        assert run([[1, 2], [1, 2, 3], [3, 4]]) == "result unchanged"
        assert run([[5]]) == "result unchanged"
        store_collector.force_flush()
    _, rows = store.read_rows("guarded", "inputs")
    assert [(r["a"], r["b"]) for r in rows] == [("1", "2"), ("3", "4")]
    stats = otel_modeldata.stats()
    assert stats["rows_dropped"] == {"wrong_feature_count": 2}
    assert stats["rows_unaccounted"] == 0
    messages = [r.getMessage() for r in caplog.records if "wrong_feature_count" in r.getMessage()]
    assert len(messages) == 1
    assert "model=guarded" in messages[0]
    assert "designation=inputs" in messages[0]


def test_nested_objects_are_dropped_and_counted(
    store_collector: otel_modeldata.ModelDataHandle, store: Store
) -> None:
    run([[1, {"nested": True}], [2, [3, 4]], [5, 6]])
    store_collector.force_flush()
    _, rows = store.read_rows("guarded", "inputs")
    assert [(r["a"], r["b"]) for r in rows] == [("5", "6")]
    assert otel_modeldata.stats()["rows_dropped"] == {"nested_value": 2}


@pytest.mark.parametrize(
    "bad", [b"\xff\xfe\x00", object(), 3 + 4j, {"data": object()}], ids=["bytes", "obj", "complex", "data"]
)
def test_unsupported_values_do_not_break_run(collector: otel_modeldata.ModelDataHandle, bad: object) -> None:
    assert run(bad) == "result unchanged"
    collector.force_flush()
    assert otel_modeldata.stats()["rows_dropped"].get("unsupported_input") == 1  # type: ignore[union-attr]


def test_nan_is_data_not_an_error(store_collector: otel_modeldata.ModelDataHandle, store: Store) -> None:
    run(json.dumps({"data": [[float("nan"), float("inf")]]}))
    store_collector.force_flush()
    _, rows = store.read_rows("guarded", "inputs")
    assert math.isnan(float(rows[0]["a"]))
    assert float(rows[0]["b"]) == math.inf
    assert otel_modeldata.stats()["rows_dropped"] == {}


def test_huge_payloads_are_capped_and_the_excess_counted(store: Store) -> None:
    handle = otel_modeldata.configure(**store.destination, max_rows_per_call=100)
    run([[i, i] for i in range(250)])
    handle.force_flush()
    _, rows = store.read_rows("guarded", "inputs", identity=("default",) * 4)
    assert len(rows) == 100
    assert otel_modeldata.stats()["rows_dropped"] == {"too_many_rows": 150}


def test_odd_strings_are_written_faithfully(
    store_collector: otel_modeldata.ModelDataHandle, store: Store
) -> None:
    odd = ["=cmd|' /C calc'!A0", 'a,b\n"c"', "\u202e reversed", "x" * 10_000, "\x1b[31mred", "null\x00byte"]
    run([[s, i] for i, s in enumerate(odd)])
    store_collector.force_flush()
    _, rows = store.read_rows("guarded", "inputs")
    assert [r["a"] for r in rows] == ["'" + odd[0], *odd[1:]]  # the formula guard
    assert [unguard(r["a"]) for r in rows] == odd


def test_strict_mode_raises_for_development(monkeypatch: pytest.MonkeyPatch, local_root: Path) -> None:
    monkeypatch.setenv("OTEL_MODELDATA_STRICT", "true")
    otel_modeldata.configure(local_dir=str(local_root))
    with pytest.raises(CollectionError, match="wrong_feature_count"):
        run([[1, 2, 3]])
    with pytest.raises(CollectionError, match="guarded/inputs"):
        run(object())
    with pytest.raises(CollectionError, match="nested_value"):
        run([[1, [2]]])


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", "", "x\ny"])
def test_path_traversal_names_are_refused_at_decoration(name: str) -> None:
    with pytest.raises(InvalidNameError):
        collect_io(name)
    with pytest.raises(InvalidNameError):
        otel_modeldata.ModelDataCollector("ok", designation=name)
    with pytest.raises(InvalidNameError):
        collect_io("ok", model_version=name)


def test_nothing_is_written_outside_the_root(
    store_collector: otel_modeldata.ModelDataHandle, store: Store
) -> None:
    """Records from other emitters with unsafe names are dropped by the exporter, not written."""
    from opentelemetry._logs import LogRecord
    from opentelemetry.sdk._logs import ReadableLogRecord
    from opentelemetry.sdk.resources import Resource

    from otel_modeldata import schema

    record = LogRecord(
        timestamp=1, body=[[1]], attributes={schema.DESIGNATION: "../../../outside", schema.MODEL_NAME: "m"}
    )
    exporter = store_collector.exporter
    assert exporter is not None
    exporter.export([ReadableLogRecord(log_record=record, resource=Resource.create({}))])
    assert not any("outside" in name.split("/") for name in store.everything())
    assert otel_modeldata.stats()["rows_dropped"] == {"bad_record": 1}


@pytest.mark.parametrize(
    "names", [["a", "a"], ["a", "$aml_dc_correlation_id"], ["$row_index"], ["$day"]], ids=str
)
def test_repeated_or_reserved_column_names_are_refused_at_decoration(names: list[str]) -> None:
    """Each would name a column of the file twice (or hide a column the readers add)."""
    with pytest.raises(InvalidNameError, match="feature_names"):
        collect_io("ok", feature_names=names)
    with pytest.raises(InvalidNameError, match="prediction_names"):
        collect_io("ok", prediction_names=names)
    with pytest.raises(InvalidNameError, match="feature_names"):
        otel_modeldata.ModelDataCollector("ok", feature_names=names)


@collect_io("named")
def named(data: object) -> str:
    return "result unchanged"


def test_data_with_repeated_or_reserved_column_names_is_dropped_and_the_rest_stays_readable(
    collector: otel_modeldata.ModelDataHandle, local_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Rows read back by ``analysis.read`` carry the correlation columns: scored again through a
    decorator without ``feature_names``, they are dropped (counted, logged once), not written
    under a header that names those columns twice."""
    import pandas as pd

    from otel_modeldata import analysis

    with caplog.at_level(logging.ERROR, logger="otel_modeldata"):
        assert named(pd.DataFrame({"a": [1], "b": [2]})) == "result unchanged"
        assert named(pd.DataFrame([[3, 4]], columns=["a", "a"])) == "result unchanged"
        assert named(pd.DataFrame([[5, 6]], columns=["a", "a"])) == "result unchanged"
        assert named([{"a": 7, "$aml_dc_correlation_id": "x"}]) == "result unchanged"
        collector.force_flush()
        back = analysis.read(local_root, model="named")
        assert named(back) == "result unchanged"  # every $ column of the reader's rows
        collector.force_flush()
    assert otel_modeldata.stats()["rows_dropped"] == {"duplicate_column": 2, "reserved_column": 2}
    frame = analysis.read(local_root, model="named")
    assert frame[["a", "b"]].values.tolist() == [[1, 2]]
    messages = [r.getMessage() for r in caplog.records if "model data dropped" in r.getMessage()]
    assert len(messages) == 2
    assert "reason=duplicate_column" in messages[0]
    assert "'a'" in messages[0]
    assert "reason=reserved_column" in messages[1]
    assert "'$aml_dc_correlation_id'" in messages[1]


def test_strict_mode_refuses_repeated_column_names(local_root: Path) -> None:
    import pandas as pd

    handle = LocalStore(local_root).configure(strict=True)
    try:
        with pytest.raises(CollectionError, match="'a' appear more than once"):
            named(pd.DataFrame([[3, 4]], columns=["a", "a"]))
    finally:
        handle.shutdown()
