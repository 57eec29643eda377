"""``otel_modeldata.spark.read`` on files the real collector wrote, over several days.

The catalogue of awkward values, text the formula guard changed, a schema change within a
day and another the day before (a column empty there), and one row a day for four days:
read back with exact values and types, the same rows and join as the README's pandas recipe.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import otel_modeldata
from otel_modeldata import ModelDataCollector, analysis, collect_io
from otel_modeldata import spark as spark_reader
from test_readers import CATALOGUE, COLUMNS, DRIFT, SCORES, assert_rows, read_pandas

from csvfiles import AWKWARD, IDENTITY, LocalStore, days_ago, partition_dir

TODAY = datetime.now(timezone.utc).date()
AWKWARD_NAMES = [f"t{i}" for i in range(len(AWKWARD[0]))]
#: The day before, the drifting model's records have a header of their own, ``b`` all empty.
DRIFT_BEFORE = [{"a": 5, "b": None, "d": None}]
RANGED_DAYS = 4


@collect_io("catalogue", feature_names=COLUMNS, prediction_names=["score"])
def score(rows: list[list[Any]]) -> list[float]:
    return SCORES[: len(rows)]


@collect_io("drifting")
def drifting(records: list[dict[str, Any]]) -> list[int]:
    return [len(r) for r in records]


@collect_io("ranged", feature_names=["day_offset"])
def ranged(rows: list[list[int]]) -> list[int]:
    return [row[0] for row in rows]


@collect_io("textmix")
def textmix(records: list[dict[str, Any]]) -> list[int]:
    return [0] * len(records)


#: ``v`` is numbers in one file and text in its sibling (another header): text, as each file holds it.
TEXTMIX = [[{"v": 5, "w": 1}, {"v": 2**62, "w": 1}, {"v": 1.5, "w": 1}], [{"z": 0, "v": "txt"}]]


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The collector's root after a few days of collection, flushed."""
    root = tmp_path_factory.mktemp("spark") / "collected"
    with pytest.MonkeyPatch.context() as env:
        env.delenv("OTEL_MODELDATA_LOCAL_DIR", raising=False)
        handle = LocalStore(root).configure()
        try:
            score(CATALOGUE)
            ModelDataCollector("awkward", designation="inputs", feature_names=AWKWARD_NAMES).collect(AWKWARD)
            with otel_modeldata.request_id_scope("=cmd"):  # ids a caller chose, starting like a formula
                ModelDataCollector("fid", designation="inputs", feature_names=["text"]).collect(
                    [["=1+1"]], user_correlation_id="@x"
                )
            for records in DRIFT:
                drifting(records)
            for records in TEXTMIX:
                textmix(records)
            with days_ago(1):
                drifting(DRIFT_BEFORE)
            for offset in range(RANGED_DAYS):
                with days_ago(offset):
                    ranged([[offset]])
            assert handle.force_flush()
            assert otel_modeldata.stats()["rows_dropped"] == {}
        finally:
            handle.shutdown()
    return root


def rows(frame: Any, *columns: str, order: str = "$row_index") -> list[list[Any]]:
    return [list(r) for r in frame.orderBy(f"`{order}`").select(*(f"`{c}`" for c in columns)).collect()]


@pytest.mark.spark
def test_read_gives_the_catalogue_with_exact_values_and_types(spark: Any, collected: Path) -> None:
    frame = spark_reader.read(spark, str(collected), model="catalogue")
    types = dict(frame.dtypes)
    assert [types[name] for name in COLUMNS] == ["double", "double", "bigint", "string", "string"]
    assert_rows(rows(frame, *COLUMNS), CATALOGUE)  # "" and None apart, line breaks intact


@pytest.mark.spark
def test_read_types_the_correlation_and_partition_columns(spark: Any, collected: Path) -> None:
    frame = spark_reader.read(
        spark, str(collected / "modeldata"), model="catalogue", designation="predictions"
    )
    types = dict(frame.dtypes)
    assert (types["score"], types["$aml_dc_scoring_timestamp"], types["$row_index"]) == (
        "double",
        "timestamp",
        "int",
    )
    assert (types["$day"], types["$file"], types["$aml_model_version"]) == ("date", "string", "string")
    assert_rows(rows(frame, "score"), [[v] for v in SCORES])
    first = frame.orderBy("`$row_index`").first()
    assert (first["$day"], first["$file"], first["$aml_workspace"]) == (
        TODAY,
        "data.csv",
        "/".join(IDENTITY[:3]),
    )
    stamp = first["$aml_dc_scoring_timestamp"]
    assert abs(stamp - datetime.now()) < timedelta(minutes=10)  # the session and Python both in UTC


@pytest.mark.spark
def test_read_undoes_the_formula_guard(spark: Any, collected: Path) -> None:
    frame = spark_reader.read(spark, str(collected), model="awkward")
    assert_rows(rows(frame, *AWKWARD_NAMES), AWKWARD)


@pytest.mark.spark
def test_read_gives_ids_a_caller_chose_as_sent(spark: Any, collected: Path) -> None:
    (written,) = read_pandas(str(partition_dir(collected, "fid", "inputs") / "*.csv")).to_dict("records")
    assert written["$aml_request_id"] == "'=cmd"  # guarded in the file
    assert written["$aml_dc_correlation_id"].startswith("'@x-")
    frame = spark_reader.read(spark, str(collected), model="fid")
    got = rows(frame, "text", "$aml_request_id", "$aml_dc_correlation_id")
    assert got == [["=1+1", "=cmd", written["$aml_dc_correlation_id"][1:]]]


@pytest.mark.spark
def test_read_aligns_every_file_by_name_and_keeps_numbers_numeric(spark: Any, collected: Path) -> None:
    """Four headers over two days, ``b`` empty in one of them: still a double column."""
    assert len(list(partition_dir(collected, "drifting", "inputs").glob("*.csv"))) == 3
    frame = spark_reader.read(spark, str(collected), model="drifting", start=TODAY - timedelta(days=1))
    types = dict(frame.dtypes)
    assert (types["a"], types["b"], types["c"], types["d"]) == ("int", "double", "string", "string")
    got = rows(frame, "a", "b", "c", "d", "$day", order="a")
    yesterday = TODAY - timedelta(days=1)
    expected = [[1, 2.5, None, None, TODAY], [2, 3.5, None, None, TODAY], [3, 4.5, "new", None, TODAY]]
    assert_rows(got, [*expected, [5, None, None, None, yesterday]])


@pytest.mark.spark
def test_a_column_of_numbers_and_text_across_files_is_each_file_s_text(spark: Any, collected: Path) -> None:
    frame = spark_reader.read(spark, str(collected), model="textmix")
    assert dict(frame.dtypes)["v"] == "string"
    expected = ["5", "4611686018427387904", "1.5", "txt"]
    assert sorted(r.v for r in frame.select("v").collect()) == sorted(expected)
    assert sorted(analysis.read(collected, model="textmix")["v"].tolist()) == sorted(expected)


@pytest.mark.spark
def test_read_gives_the_rows_and_join_of_the_pandas_recipe(spark: Any, collected: Path) -> None:
    glob = str(partition_dir(collected, "catalogue", "inputs").parents[2] / "*" / "*" / "*" / "*.csv")
    inputs = read_pandas(glob)
    predictions = read_pandas(glob.replace("/inputs/", "/predictions/"))
    keys = ["$aml_dc_correlation_id", "$row_index"]
    expected = inputs.merge(predictions, on=keys).sort_values("$row_index")[[*keys, "big", "score"]]
    spark_inputs = spark_reader.read(spark, str(collected), model="catalogue")
    spark_predictions = spark_reader.read(spark, str(collected), model="catalogue", designation="predictions")
    joined = spark_inputs.join(spark_predictions.select(*(f"`{k}`" for k in [*keys, "score"])), on=keys)
    got = rows(joined, *keys, "big", "score")
    assert len(got) == len(CATALOGUE)
    assert_rows(got, expected.values.tolist())


@pytest.mark.spark
def test_read_only_the_days_asked_for(spark: Any, collected: Path) -> None:
    def offsets(**bounds: Any) -> list[int]:
        frame = spark_reader.read(spark, str(collected), model="ranged", **bounds)
        return sorted(row.day_offset for row in frame.select("day_offset").collect())

    two_days_ago, yesterday = TODAY - timedelta(days=2), TODAY - timedelta(days=1)
    assert offsets(start=two_days_ago, end=yesterday) == [1, 2]
    assert offsets(start=yesterday.isoformat()) == [0, 1]
    assert offsets(end=two_days_ago) == [2, 3]
    assert offsets() == [0, 1, 2, 3]
    with pytest.raises(FileNotFoundError, match="no model data files"):
        spark_reader.read(spark, str(collected), model="ranged", start=TODAY + timedelta(days=1))
    with pytest.raises(FileNotFoundError):
        spark_reader.read(spark, str(collected), model="ranged", version="2")


@pytest.mark.spark
def test_both_ways_of_reading_headers_agree(spark: Any, collected: Path) -> None:
    """Spark Connect has no JVM handle: the headers come from ``binaryFile`` there."""
    files = sorted(f"file:{p}" for p in collected.rglob("*.csv"))
    assert spark._jvm is not None  # a classic session: _headers reads through the JVM
    by_jvm = spark_reader._headers(spark, files)
    assert by_jvm == spark_reader._headers_by_spark(spark, files)
    assert ("a", "b", "c", *otel_modeldata.schema.CORRELATION_COLUMNS) in by_jvm


def test_day_globs_collapse_whole_months_and_years() -> None:
    assert spark_reader.day_globs(date(2025, 12, 30), date(2027, 2, 2)) == [
        "2025/12/30",
        "2025/12/31",
        "2026/*/*",
        "2027/01/*",
        "2027/02/01",
        "2027/02/02",
    ]
    assert spark_reader.day_globs(date(2026, 3, 2), date(2026, 3, 1)) == []


def test_data_glob_follows_the_layout_for_azure_urls() -> None:
    pattern = spark_reader.data_glob(
        "abfss://modeldata@acct.dfs.core.windows.net/",
        "m[1]",
        "labels",
        version=3,
        start="2026-11-30",
        end="2026-12-01",
    )
    assert pattern == (
        "abfss://modeldata@acct.dfs.core.windows.net/*/*/*/*/m\\[1\\]/3/labels/{2026/11/30,2026/12/01}/*.csv"
    )
    with pytest.raises(ValueError, match="after end"):
        spark_reader.data_glob("/x", "m", "inputs", start="2026-12-02", end="2026-12-01")
    with pytest.raises(otel_modeldata.InvalidNameError):
        spark_reader.data_glob("/x", "../m", "inputs")


def test_the_collector_does_not_import_pyspark(tmp_path: Path) -> None:
    code = "import sys, otel_modeldata; otel_modeldata.configure(); print('pyspark' in sys.modules)"
    env = {"OTEL_MODELDATA_LOCAL_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "False"
