"""``analysis.read`` on files the real collector wrote: exact rows, values and types, day by day."""

from __future__ import annotations

import io
import math
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

import otel_modeldata
from _analysis_data import CALLS, DAY1, DAY2, DAY3, FAILING, TEXTS, collect_shop
from otel_modeldata import ModelDataCollector, analysis
from otel_modeldata.csvfmt import RowContext, RowWriter, header_line
from otel_modeldata.layout import Identity, parse_file_name, partition_folder
from otel_modeldata.policy import guard, unguard

from csvfiles import LocalStore

#: Day 1's rows in call order: the two calls, then the failed one.
DAY1_ROWS = [row for call in CALLS for row in call] + FAILING


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The collector's root holding model ``shop`` (see ``_analysis_data``)."""
    collected = tmp_path_factory.mktemp("analysis") / "collected"
    collect_shop(collected)
    return collected


def same(got: Any, expected: Any) -> bool:
    """Equal, NaN to NaN, -0.0 apart from 0.0; ``None`` expected is a missing value (NaN/NA)."""
    if expected is None:
        return got is None or got is pd.NA or (isinstance(got, float) and math.isnan(got))
    if isinstance(expected, float):
        if math.isnan(expected):
            return isinstance(got, float) and math.isnan(got)
        return got == expected and math.copysign(1, got) == math.copysign(1, expected)
    return type(got) is type(expected) and got == expected


def test_reads_every_row_of_a_day_with_exact_values(root: Path) -> None:
    frame = analysis.read(root, model="shop", version="1", start=DAY1, end=DAY1)
    assert len(frame) == len(DAY1_ROWS) == 6
    got = frame[["x", "n", "text", "maybe"]].astype(object).values.tolist()
    expected = [[x, n, unguard(guard(t)), m] for x, n, t, m in DAY1_ROWS]
    for got_row, expected_row in zip(got, expected, strict=True):
        assert all(map(same, got_row, expected_row)), f"{got_row!r} != {expected_row!r}"
    # "" stays apart from None (missing).
    assert frame["maybe"].tolist()[2] == ""
    assert frame["maybe"].isna().tolist() == [True, False, False, True, False, False]


def test_columns_are_typed(root: Path) -> None:
    frame = analysis.read(root, model="shop", version="1", start=DAY1, end=DAY1)
    assert str(frame["x"].dtype) == "float64"
    assert str(frame["n"].dtype) == "int64"
    assert pd.api.types.is_string_dtype(frame["text"])
    assert str(frame["$aml_dc_scoring_timestamp"].dtype) == "datetime64[us, UTC]"
    assert frame["$aml_dc_scoring_timestamp"].iloc[0] == datetime(2026, 11, 1, 12, tzinfo=timezone.utc)
    assert frame["$day"].dt.date.tolist() == [DAY1] * 6


def test_the_formula_guard_is_undone(root: Path) -> None:
    frame = analysis.read(root, model="shop", version="1", start=DAY1, end=DAY1)
    texts = frame["text"].tolist()
    assert texts[:5] == TEXTS  # "=1+1" was written '=1+1, "'-5" as ''-5
    assert (root / "modeldata").rglob("*.csv")
    written = b"".join(p.read_bytes() for p in (root / "modeldata").rglob("inputs/2026/11/01/*.csv"))
    assert b"'=1+1" in written
    assert b"''-5" in written


def test_a_schema_change_day_reads_every_file_aligned_by_name(root: Path) -> None:
    frame = analysis.read(root, model="shop", start=DAY2, end=DAY2)
    assert frame.sort_values("n")[["x", "n"]].values.tolist() == [[1.0, 1], [2.0, 2], [3.0, 3]]
    assert frame.sort_values("n")["z"].tolist()[2] == "new"
    assert frame.sort_values("n")["z"].isna().tolist() == [True, True, False]
    names = [Path(f).name for f in frame["$file"]]
    assert len(set(names)) == 3
    assert all(parse_file_name(n) is not None for n in names)


def test_days_outside_the_range_are_not_read(root: Path) -> None:
    frame = analysis.read(root, model="shop", start="2026-11-02", end="2026-11-03")
    assert sorted(set(frame["$day"].dt.date)) == [DAY2, DAY3]
    assert len(frame) == 3 + 2 + 1
    assert len(analysis.read(root, model="shop", start=DAY3)) == 3
    assert len(analysis.read(root, model="shop", end=DAY1)) == 6


def test_a_column_empty_on_one_day_stays_numeric(root: Path) -> None:
    frame = analysis.read(root, model="shop", version="1", start=DAY3, end=DAY3)
    assert frame["x"].isna().all()
    everything = analysis.read(root, model="shop", version="1")
    assert str(everything["x"].dtype) == "float64"
    assert str(everything["n"].dtype) == "int64"
    assert len(everything) == 6 + 3 + 2


def test_every_version_is_read_unless_one_is_asked_for(root: Path) -> None:
    every = analysis.read(root, model="shop", start=DAY3, end=DAY3)
    assert sorted(every["$model_version"]) == ["1", "1", "2"]
    assert set(every["$webservice"]) == {"svc-1"}
    two = analysis.read(root, model="shop", version="2", webservice="svc-1")
    assert two["text"].tolist() == ["v2"]
    assert "$model_version" not in two.columns
    assert "$webservice" not in two.columns


def test_an_empty_or_missing_range_gives_an_empty_frame(root: Path) -> None:
    assert analysis.read(root, model="shop", start=date(2026, 10, 1), end=date(2026, 10, 31)).empty
    assert analysis.read(root, model="shop", designation="labels").empty
    assert analysis.read(root, model="shop", version="9").empty


def test_an_unknown_model_lists_the_models_found(root: Path) -> None:
    with pytest.raises(analysis.UnknownModelError, match=r"no model 'shp' .*models found: shop\)"):
        analysis.read(root, model="shp")


def test_a_range_that_ends_before_it_starts_is_refused(root: Path) -> None:
    with pytest.raises(ValueError, match="before it starts"):
        analysis.read(root, model="shop", start=DAY2, end=DAY1)
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        analysis.read(root, model="shop", start="yesterday")


def test_columns_chosen_are_the_columns_read(root: Path) -> None:
    frame = analysis.read(root, model="shop", version="1", start=DAY1, end=DAY1, columns=["n", "$day"])
    assert list(frame.columns) == ["n", "$day"]
    assert frame["n"].tolist() == [row[1] for row in DAY1_ROWS]
    with pytest.raises(ValueError, match="no column 'nope'"):
        analysis.read(root, model="shop", columns=["nope"])


def test_no_source_reads_where_the_collector_writes(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_MODELDATA_LOCAL_DIR", str(root))
    assert len(analysis.read(model="shop", version="1")) == 11


def test_partitions_count_rows_and_bytes_per_day(root: Path) -> None:
    found = analysis.partitions(root, model="shop", designation="inputs")
    assert found[["version", "day", "files", "rows"]].values.tolist() == [
        ["1", DAY1, 1, 6],
        ["1", DAY2, 3, 3],
        ["1", DAY3, 1, 2],
        ["2", DAY3, 1, 1],
    ]
    sizes = {p.parent.name: 0 for p in (root / "modeldata").rglob("shop/1/inputs/*/*/*/*.csv")}
    for p in (root / "modeldata").rglob("shop/1/inputs/*/*/*/*.csv"):
        sizes[p.parent.name] += p.stat().st_size
    assert found["bytes"].tolist()[:3] == [sizes["01"], sizes["02"], sizes["03"]]


def test_importing_the_collector_does_not_import_analysis() -> None:
    import subprocess
    import sys

    code = "import sys, otel_modeldata; otel_modeldata.configure; print('duckdb' in sys.modules, "
    code += "'otel_modeldata.analysis' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]


def test_a_fraction_after_many_integers_makes_the_column_float(tmp_path: Path) -> None:
    """DuckDB types a column from a sample unless told otherwise, and would round 1.5 to 2."""
    ctx = RowContext("c", "2026-11-01T12:00:00.000000Z", "s/g/w", "svc", "late", "1", "r", "", "")
    writer = RowWriter()
    writer.write([[i] for i in range(50_000)] + [[1.5]], 1, ctx)
    folder = tmp_path / "modeldata" / partition_folder(Identity(), "late", "1", "inputs", DAY1)
    folder.mkdir(parents=True)
    (folder / "data.csv").write_bytes(header_line(["v"]) + writer.payload())
    frame = analysis.read(tmp_path, model="late")
    assert str(frame["v"].dtype) == "float64"
    assert frame["v"].iloc[-1] == 1.5


def test_the_named_files_of_classic_signals_and_general_are_read(tmp_path: Path) -> None:
    """The classic ``signals`` and ``general`` collectors name their files ``<collection_name>.csv``."""
    with pytest.MonkeyPatch.context() as env:
        env.delenv("OTEL_MODELDATA_LOCAL_DIR", raising=False)
        env.setattr(otel_modeldata.providers, "_stopped", None)
        handle = LocalStore(tmp_path).configure()
        try:
            ModelDataCollector("m", "signals", ["latency"], collection_name="latency").collect([[12], [13]])
            ModelDataCollector("m", "signals", ["latency"]).collect([[14]])
            ModelDataCollector("m", "general", ["note"], collection_name="notes").collect([["ok"]])
            assert handle.force_flush()
        finally:
            handle.shutdown()
    assert {p.name for p in (tmp_path / "modeldata").rglob("*.csv")} == {
        "latency.csv",
        "data.csv",
        "notes.csv",
    }
    signals = analysis.read(tmp_path, model="m", designation="signals")
    assert sorted(signals["latency"].tolist()) == [12, 13, 14]
    assert sorted(Path(f).name for f in signals["$file"]) == ["data.csv", "latency.csv", "latency.csv"]
    assert analysis.read(tmp_path, model="m", designation="general")["note"].tolist() == ["ok"]
    days = analysis.partitions(tmp_path, model="m")
    assert days.set_index("designation")["rows"].to_dict() == {"general": 1, "signals": 3}


def test_progress_is_drawn_on_stderr_only_when_asked_or_on_a_terminal(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    analysis.read(root, model="shop")
    assert capsys.readouterr().err == ""  # stderr is no terminal here
    analysis.read(root, model="shop", progress=True)
    drawn = capsys.readouterr().err
    assert "reading" in drawn
    assert "6/6" in drawn  # every file of every day and version


def test_a_big_integer_and_a_fraction_in_different_files_meet_as_floats(tmp_path: Path) -> None:
    """pyarrow's checked cast refuses an integer beyond 2**53 as a float; within one file its CSV
    reader takes the nearest float, so across files (a sibling file, another day) the readers do too."""
    from otel_modeldata.cli import main

    def write(day: date, name: str, values: list[Any]) -> None:
        ctx = RowContext(f"c{day}{name}", f"{day}T12:00:00.000000Z", "s/g/w", "svc", "big", "1", "r", "", "")
        writer = RowWriter()
        writer.write([[v] for v in values], 1, ctx)
        folder = tmp_path / "modeldata" / partition_folder(Identity(), "big", "1", "inputs", day)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(header_line(["v"]) + writer.payload())

    write(DAY1, "data.csv", [2**62, 5])
    write(DAY1, "data_0a1b2c3d.csv", [1.5])  # a sibling file of the same day
    write(DAY2, "data.csv", [2**62 + 1])
    write(DAY3, "data.csv", [2.5])
    expected = [float(2**62), 5.0, 1.5, float(2**62 + 1), 2.5]
    frame = analysis.read(tmp_path, model="big")
    assert str(frame["v"].dtype) == "float64"
    assert sorted(frame["v"].tolist()) == sorted(expected)
    # The same as one file holding every value.
    assert pd.read_csv(io.StringIO("v\n" + "\n".join(map(str, [2**62, 5, 1.5, 2**62 + 1, 2.5]))))[
        "v"
    ].tolist() == [float(2**62), 5.0, 1.5, float(2**62 + 1), 2.5]
    assert analysis.join_to(tmp_path / "joined.parquet", tmp_path, model="big") == 5
    joined = pd.read_parquet(tmp_path / "joined.parquet")
    assert sorted(joined["v"].tolist()) == sorted(expected)
    result = CliRunner().invoke(
        main, ["read", "--source", str(tmp_path), "--model", "big", "-o", str(tmp_path / "r.csv")]
    )
    assert result.exit_code == 0, result.stderr
    assert sorted(pd.read_csv(tmp_path / "r.csv")["v"].tolist()) == sorted(expected)
