"""The README's reading recipes, run on files the collector wrote: pandas, DuckDB and Spark.

One module-scoped collection writes a catalogue of awkward values (non-finite floats,
-0.0, None next to "", strings that look like missing values, quotes, commas, line
breaks, CJK and emoji, 64-bit integers) and a schema change mid-day (records whose keys
come in another order, then a new key: three files in one day's folder). Each reader
must give back exact values with numeric types, every row, and columns aligned by name.
"""

from __future__ import annotations

import glob
import inspect
import math
from functools import reduce
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

import otel_modeldata
from otel_modeldata import collect_io

from csvfiles import LocalStore, partition_dir

INF, NAN = math.inf, math.nan
COLUMNS = ["inf_first", "floats", "big", "text", "maybe"]
#: Column by column: floats starting with Inf, floats starting with NaN, int64 bounds,
#: strings a reader could mistake for missing values or break on, None next to "".
CATALOGUE: list[list[Any]] = [
    [INF, NAN, 2**63 - 1, "nan", None],
    [1.5, -0.0, -(2**63), "NULL", ""],
    [-INF, INF, 0, 'quote " and, comma', "x"],
    [NAN, -INF, 42, "cr\r\nlf\nline", None],
    [-0.0, 2.5, -1, "模型 😀", ""],
]
SCORES = [INF, -0.0, NAN, -INF, 0.25]
#: Three calls whose records change the header: keys in another order, then a new key.
DRIFT = [[{"a": 1, "b": 2.5}], [{"b": 3.5, "a": 2}], [{"a": 3, "b": 4.5, "c": "new"}]]


@collect_io("catalogue", feature_names=COLUMNS, prediction_names=["score"])
def score(rows: list[list[Any]]) -> list[float]:
    return SCORES[: len(rows)]


@collect_io("drifting")
def drifting(records: list[dict[str, Any]]) -> list[int]:
    return [len(r) for r in records]


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The collector's root after one catalogue call and three drifting calls, flushed."""
    root = tmp_path_factory.mktemp("readers") / "collected"
    with pytest.MonkeyPatch.context() as env:
        env.delenv("OTEL_MODELDATA_LOCAL_DIR", raising=False)
        handle = LocalStore(root).configure()
        try:
            score(CATALOGUE)
            for records in DRIFT:
                drifting(records)
            assert handle.force_flush()
            stats = otel_modeldata.stats()
            assert (stats["rows_written"], stats["rows_dropped"]) == (len(CATALOGUE) * 2 + 6, {})
        finally:
            handle.shutdown()
    return root


def days(root: Path, model: str, designation: str) -> str:
    """The glob of every file of every day of a designation, as the recipes take it."""
    return str(partition_dir(root, model, designation).parents[2] / "*" / "*" / "*" / "*.csv")


# The recipes, as the README gives them.


def read_pandas(pattern: str) -> pd.DataFrame:
    options = {"keep_default_na": False, "na_values": ["", "NaN"]}
    files = sorted(glob.glob(pattern))
    return pd.concat([pd.read_csv(f, **options) for f in files], ignore_index=True)


def read_duckdb(pattern: str) -> duckdb.DuckDBPyRelation:
    return duckdb.sql(
        f"""
        SELECT * FROM read_csv('{pattern}',
            union_by_name = true, allow_quoted_nulls = false, sample_size = -1,
            auto_type_candidates = ['BOOLEAN', 'BIGINT', 'DOUBLE', 'VARCHAR'],
            types = {{'$aml_dc_scoring_timestamp': 'TIMESTAMPTZ',
                      '$otel_trace_id': 'VARCHAR', '$otel_span_id': 'VARCHAR'}})
        """
    )


def read_spark(spark: Any, pattern: str) -> Any:
    options = {
        "header": True,
        "inferSchema": True,
        "multiLine": True,
        "escape": '"',
        "lineSep": "\r\n",
        "nullValue": "\u0000",
    }
    paths = [row.path for row in spark.read.format("binaryFile").load(pattern).select("path").collect()]
    frames = [spark.read.options(**options).csv(path) for path in paths]
    return reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), frames)


def _code(line: str) -> str:
    """A recipe line as both places write it: the README assigns what the test function returns."""
    code = line.strip().removeprefix("return ").removeprefix("inputs = ")
    return code.replace("{{", "{").replace("}}", "}")


def test_the_readme_gives_these_recipes() -> None:
    readme = set(map(_code, (Path(__file__).parents[1] / "README.md").read_text().splitlines()))
    checked = 0
    for recipe in (read_pandas, read_duckdb, read_spark):
        for line in inspect.getsource(recipe).splitlines()[1:]:
            code = _code(line)
            # The lines that name the files, and the Python around the DuckDB query, differ.
            if code and "pattern}" not in code and code not in {'f"""', '"""', ")", "duckdb.sql("}:
                assert code in readme, f"{recipe.__name__}: {code!r} is not in the README"
                checked += 1
    assert checked == 18


# Comparing what came back.


def same(got: Any, expected: Any) -> bool:
    """Equal, with NaN equal to NaN, -0.0 apart from 0.0, and a float never equal to a string."""
    if isinstance(expected, float):
        if not isinstance(got, float):
            return False
        if math.isnan(expected):
            return math.isnan(got)
        return got == expected and math.copysign(1, got) == math.copysign(1, expected)
    return type(got) is type(expected) and got == expected


def assert_rows(got: list[list[Any]], expected: list[list[Any]]) -> None:
    assert len(got) == len(expected), got
    for got_row, expected_row in zip(got, expected, strict=True):
        assert all(map(same, got_row, expected_row)), f"{got_row!r} != {expected_row!r}"


def drift_rows(got: list[list[Any]]) -> list[list[Any]]:
    """Rows of the drifting model by ``a``; the third column is the one only the last call had."""
    return sorted(got, key=lambda row: row[0])


DRIFT_EXPECTED: list[list[Any]] = [[1, 2.5, None], [2, 3.5, None], [3, 4.5, "new"]]


# pandas


def test_pandas_reads_the_catalogue_with_exact_values_and_types(collected: Path) -> None:
    frame = read_pandas(days(collected, "catalogue", "inputs")).sort_values("$row_index")
    assert [str(frame[name].dtype) for name in COLUMNS[:3]] == ["float64", "float64", "int64"]
    assert pd.api.types.is_string_dtype(frame["text"])
    assert pd.api.types.is_string_dtype(frame["maybe"])
    got = [[*row[:4], None if row[4] != row[4] else row[4]] for row in frame[COLUMNS].values.tolist()]
    # pandas cannot tell None from "": both are missing (NaN) once "" is a missing value.
    expected = [[*row[:4], row[4] or None] for row in CATALOGUE]
    assert_rows(got, expected)


def test_pandas_reads_predictions_starting_with_inf(collected: Path) -> None:
    frame = read_pandas(days(collected, "catalogue", "predictions")).sort_values("$row_index")
    assert frame["score"].dtype == "float64"
    assert_rows([[v] for v in frame["score"].tolist()], [[v] for v in SCORES])


def test_pandas_reads_every_file_of_a_day_aligned_by_name(collected: Path) -> None:
    pattern = days(collected, "drifting", "inputs")
    assert len(glob.glob(pattern)) == 3
    frame = read_pandas(pattern)
    assert frame["a"].dtype == "int64"
    assert frame["b"].dtype == "float64"
    got = [[a, b, None if c != c else c] for a, b, c in frame[["a", "b", "c"]].values.tolist()]
    assert_rows(drift_rows(got), DRIFT_EXPECTED)


# DuckDB


def test_duckdb_reads_the_catalogue_with_exact_values_and_types(collected: Path) -> None:
    relation = read_duckdb(days(collected, "catalogue", "inputs"))
    types = dict(zip(relation.columns, map(str, relation.types), strict=True))
    assert [types[name] for name in COLUMNS] == ["DOUBLE", "DOUBLE", "BIGINT", "VARCHAR", "VARCHAR"]
    got = relation.order('"$row_index"').select(*COLUMNS).fetchall()
    assert_rows([list(row) for row in got], CATALOGUE)


def test_duckdb_reads_predictions_starting_with_inf(collected: Path) -> None:
    relation = read_duckdb(days(collected, "catalogue", "predictions"))
    assert str(relation.select("score").types[0]) == "DOUBLE"
    got = relation.order('"$row_index"').select("score").fetchall()
    assert_rows([list(row) for row in got], [[v] for v in SCORES])


def test_duckdb_without_the_type_candidates_reads_a_column_starting_with_inf_as_text(collected: Path) -> None:
    """Why the recipe lists its type candidates: DuckDB's sniffer tries ``Inf`` as a date first."""
    plain = duckdb.sql(f"SELECT score FROM read_csv('{days(collected, 'catalogue', 'predictions')}')")
    assert str(plain.types[0]) != "DOUBLE"


def test_duckdb_reads_every_file_of_a_day_aligned_by_name(collected: Path) -> None:
    relation = read_duckdb(days(collected, "drifting", "inputs"))
    assert [str(t) for t in relation.select("a", "b").types] == ["BIGINT", "DOUBLE"]
    assert_rows(drift_rows([list(row) for row in relation.select("a", "b", "c").fetchall()]), DRIFT_EXPECTED)


# Spark


@pytest.mark.spark
def test_spark_reads_the_catalogue_with_exact_values_and_types(spark: Any, collected: Path) -> None:
    frame = read_spark(spark, days(collected, "catalogue", "inputs"))
    types = dict(frame.dtypes)
    assert [types[name] for name in COLUMNS] == ["double", "double", "bigint", "string", "string"]
    got = frame.orderBy("`$row_index`").select(*COLUMNS).collect()
    assert_rows([list(row) for row in got], CATALOGUE)


@pytest.mark.spark
def test_spark_reads_predictions_starting_with_inf(spark: Any, collected: Path) -> None:
    frame = read_spark(spark, days(collected, "catalogue", "predictions"))
    assert dict(frame.dtypes)["score"] == "double"
    got = frame.orderBy("`$row_index`").select("score").collect()
    assert_rows([list(row) for row in got], [[v] for v in SCORES])


@pytest.mark.spark
def test_spark_reads_every_file_of_a_day_aligned_by_name(spark: Any, collected: Path) -> None:
    frame = read_spark(spark, days(collected, "drifting", "inputs"))
    types = dict(frame.dtypes)
    assert (types["a"], types["b"]) == ("int", "double")
    got = [list(row) for row in frame.select("a", "b", "c").collect()]
    assert_rows(drift_rows(got), DRIFT_EXPECTED)


def test_duckdb_reads_a_late_fraction_after_many_whole_numbers(local_root: Path) -> None:
    handle = LocalStore(local_root).configure()
    otel_modeldata.ModelDataCollector("late", designation="inputs", feature_names=["x"]).collect(
        [[i] for i in range(30_000)] + [[1.5]]
    )
    assert handle.force_flush()
    values = read_duckdb(days(local_root, "late", "inputs")).df()["x"].tolist()
    assert values[-1] == 1.5
    handle.shutdown()
