"""Size bounds: a cell over ``max_cell_bytes`` drops its row, a value over ``max_value_bytes`` drops
the whole value; both counted by reason, never cut and never split across files."""

from __future__ import annotations

from pathlib import Path

import pytest

import otel_modeldata
from otel_modeldata import CollectionError, collect_io
from otel_modeldata.csvfmt import PLAIN_CELL_BYTES, RowContext, RowWriter, measure
from otel_modeldata.settings import ConfigurationError, Settings

from csvfiles import LocalStore, Store


@collect_io("bounded", feature_names=["text", "n"])
def run(data: object) -> str:
    return "own result"


def test_a_cell_over_the_bound_drops_its_row_only(store: Store) -> None:
    handle = store.configure(max_cell_bytes=100)
    rows = [["a" * 100, 1], ["a" * 101, 2], ["é" * 50, 3], ["é" * 51, 4]]
    assert run(rows) == "own result"
    handle.force_flush()
    _, written = store.read_rows("bounded", "inputs")
    # Bytes, not characters: 50 "é" are 100 UTF-8 bytes, 51 are 102.
    assert [(r["text"], r["n"]) for r in written] == [("a" * 100, "1"), ("é" * 50, "3")]
    stats = otel_modeldata.stats()
    assert stats["rows_dropped"] == {"cell_too_large": 2}
    assert stats["rows_unaccounted"] == 0


def test_a_value_over_the_bound_is_dropped_whole_and_the_next_one_kept(store: Store) -> None:
    handle = store.configure(max_value_bytes=1000)
    assert run([["x" * 60, i] for i in range(20)]) == "own result"  # 20 * (60 + 8) bytes
    assert run([["small", 1], ["small", 2]]) == "own result"
    handle.force_flush()
    assert store.files() == [name for name in store.files() if name.endswith("/data.csv")]
    _, written = store.read_rows("bounded", "inputs")
    assert [(r["text"], r["n"]) for r in written] == [("small", "1"), ("small", "2")]
    stats = otel_modeldata.stats()
    assert stats["rows_dropped"] == {"value_too_large": 20}
    assert stats["rows_written"] == 2 + 2  # the two calls' predictions are one row each
    assert stats["rows_unaccounted"] == 0


def test_the_default_cell_bound_is_64_kib(
    collector: otel_modeldata.ModelDataHandle, local_root: Path
) -> None:
    run([["y" * 65_536, 1], ["y" * 65_537, 2]])
    collector.force_flush()
    _, written = LocalStore(local_root).read_rows("bounded", "inputs")
    assert [len(r["text"]) for r in written] == [65_536]
    assert otel_modeldata.stats()["rows_dropped"] == {"cell_too_large": 1}


def test_bounds_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_MODELDATA_MAX_CELL_BYTES", "10")
    monkeypatch.setenv("OTEL_MODELDATA_MAX_VALUE_BYTES", "20")
    settings = Settings.from_env()
    assert (settings.max_cell_bytes, settings.max_value_bytes) == (10, 20)
    assert Settings.from_env({}).max_value_bytes == 8 * 1024 * 1024
    with pytest.raises(ConfigurationError, match="max_cell_bytes"):
        Settings.from_env({}, max_cell_bytes=0)


def test_strict_mode_raises_for_a_cell_over_the_bound(local_root: Path) -> None:
    LocalStore(local_root).configure(strict=True, max_cell_bytes=10)
    with pytest.raises(CollectionError, match="cell_too_large"):
        run([["z" * 11, 1]])


def test_measure_counts_text_bytes_and_a_fixed_size_for_other_cells() -> None:
    assert measure([1.5, None, True], 3) == 3 * PLAIN_CELL_BYTES
    assert measure(["abc", "ü", 2], 3) == 3 + 2 + PLAIN_CELL_BYTES
    assert measure(["abcd"], 1, max_cell_bytes=3) == "cell_too_large"
    assert measure([[1]], 1) == "nested_value"
    assert measure([1, 2], 1) == "wrong_feature_count"


def test_a_row_writer_never_keeps_part_of_a_value() -> None:
    ctx = RowContext("c", "t", "w", "s", "m", "1", "r", "", "")
    writer = RowWriter(max_value_bytes=100)
    assert writer.write([[1, "a"]], 2, ctx) == []
    big = [["x" * 40, "y"]] * 3
    assert writer.write(big, 2, ctx) == ["value_too_large"] * 3
    assert writer.rows == 1
    assert writer.payload().count(b"\r\n") == 1
