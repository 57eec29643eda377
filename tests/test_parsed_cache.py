"""The parsed-file cache: a second read gives the same rows without parsing, a changed file is read again."""

from __future__ import annotations

import multiprocessing
import os
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

import otel_modeldata
from _analysis_data import DAY1, DAY3, collect_shop, on_day
from otel_modeldata import analysis, collect_io
from otel_modeldata.analysis import parsed
from otel_modeldata.csvfmt import RowContext, RowWriter, header_line
from otel_modeldata.layout import Identity, partition_folder

from csvfiles import LocalStore


@pytest.fixture
def root(tmp_path: Path) -> Path:
    collected = tmp_path / "collected"
    collect_shop(collected)
    return collected


def cache_entries(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "analysis-cache" / "parsed").glob("*.arrow"))


def read_all(root: Path) -> dict[str, pd.DataFrame]:
    return {
        designation: analysis.read(root, model="shop", designation=designation)
        for designation in ("inputs", "predictions")
    }


def test_a_second_read_gives_the_same_frames_as_parsing_and_as_no_cache(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Awkward values, a schema change, two versions, a column empty on one day: cold, warm, off."""
    cold = read_all(root)
    assert len(cache_entries(tmp_path)) == len([p for p in root.rglob("*.csv") if "errors" not in p.parts])
    warm = read_all(root)
    monkeypatch.setenv("OTEL_MODELDATA_PARSED_CACHE_MB", "0")
    off = read_all(root)
    for designation, frame in cold.items():
        assert len(frame) > 0
        pd.testing.assert_frame_equal(warm[designation], frame)
        pd.testing.assert_frame_equal(off[designation], frame)
    joined = analysis.join(warm["inputs"], warm["predictions"])
    pd.testing.assert_frame_equal(joined, analysis.join(off["inputs"], off["predictions"]))


def test_join_to_after_a_read_writes_the_same_file(root: Path, tmp_path: Path) -> None:
    analysis.join_to(tmp_path / "cold.parquet", root, model="shop")
    assert cache_entries(tmp_path)
    analysis.join_to(tmp_path / "warm.parquet", root, model="shop")
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "warm.parquet"), pd.read_parquet(tmp_path / "cold.parquet")
    )


def test_an_unchanged_file_is_not_parsed_again(root: Path) -> None:
    """The cache is used: a file altered behind the reader's back, keeping its size and times,
    still reads as it was."""
    before = analysis.read(root, model="shop", start=DAY1, end=DAY1)
    alter_behind_the_readers_back(root, b"boom", b"BOOM")
    again = analysis.read(root, model="shop", start=DAY1, end=DAY1)
    assert "boom" in again["text"].tolist()
    pd.testing.assert_frame_equal(again, before)


def test_rows_collected_after_a_read_are_in_the_next_read(root: Path) -> None:
    first = analysis.read(root, model="shop", version="1", start=DAY3, end=DAY3)
    later = collect_io("shop", model_version=1, feature_names=["x", "n", "text", "maybe"])(lambda rows: rows)
    with pytest.MonkeyPatch.context() as env:
        env.delenv("OTEL_MODELDATA_LOCAL_DIR", raising=False)
        env.setattr(otel_modeldata.providers, "_stopped", None)
        handle = LocalStore(root).configure()
        try:
            with pytest.MonkeyPatch.context() as clock, on_day(clock, DAY3):
                later([[2.5, 7, "late", "z"]])
            assert handle.force_flush()
        finally:
            handle.shutdown()
    second = analysis.read(root, model="shop", version="1", start=DAY3, end=DAY3)
    assert len(second) == len(first) + 1
    assert second["text"].tolist()[-1] == "late"
    for column in ("n", "text", "maybe", "$aml_dc_correlation_id"):
        assert second[column].tolist()[: len(first)] == first[column].tolist()


def test_text_and_numbers_across_files_stay_the_files_text(tmp_path: Path) -> None:
    """``007`` in one file and integers in another are text as written, read cold or warm."""
    write_day(tmp_path, date(2026, 11, 1), [["007"], ["8"]])
    write_day(tmp_path, date(2026, 11, 2), [["x1"]])
    cold = analysis.read(tmp_path, model="zips")
    warm = analysis.read(tmp_path, model="zips")
    assert cold["zip"].tolist() == warm["zip"].tolist() == ["007", "8", "x1"]
    only_numbers = analysis.read(tmp_path, model="zips", end="2026-11-01")
    assert only_numbers["zip"].tolist() == [7, 8]
    as_text = analysis.read(tmp_path, model="zips", end="2026-11-01", types={"zip": "string"})
    assert as_text["zip"].tolist() == ["007", "8"]


def test_the_cache_stays_within_its_limit_and_can_be_turned_off(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_MODELDATA_PARSED_CACHE_MB", "0.004")  # about 4 KB: a file or two
    expected = analysis.read(root, model="shop")
    kept = cache_entries(tmp_path)
    assert sum(p.stat().st_size for p in kept) <= 0.004 * 2**20
    pd.testing.assert_frame_equal(analysis.read(root, model="shop"), expected)
    monkeypatch.setenv("OTEL_MODELDATA_PARSED_CACHE_MB", "0")
    for entry in cache_entries(tmp_path):
        entry.unlink()
    pd.testing.assert_frame_equal(analysis.read(root, model="shop"), expected)
    assert cache_entries(tmp_path) == []
    monkeypatch.setenv("OTEL_MODELDATA_PARSED_CACHE_MB", "lots")
    with pytest.raises(ValueError, match="OTEL_MODELDATA_PARSED_CACHE_MB"):
        analysis.read(root, model="shop")


def test_a_damaged_or_unwritable_cache_never_fails_a_read(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = analysis.read(root, model="shop")
    for entry in cache_entries(tmp_path):
        entry.write_bytes(entry.read_bytes()[:100])
    pd.testing.assert_frame_equal(analysis.read(root, model="shop"), expected)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setenv("OTEL_MODELDATA_CACHE_DIR", str(blocked))
    pd.testing.assert_frame_equal(analysis.read(root, model="shop"), expected)


def write_day(root: Path, day: date, rows: list[list[str]]) -> None:
    ctx = RowContext("c", f"{day}T12:00:00.000000Z", "s/g/w", "svc", "zips", "1", "r", "", "")
    writer = RowWriter()
    writer.write(rows, 1, ctx)
    folder = root / "modeldata" / partition_folder(Identity(), "zips", "1", "inputs", day)
    folder.mkdir(parents=True)
    (folder / "data.csv").write_bytes(header_line(["zip"]) + writer.payload())


def _day(path: Path) -> date:
    year, month, day = (int(p) for p in path.parts[-4:-1])
    return date(year, month, day)


def test_partitions_count_the_same_rows_cold_warm_and_without_the_cache(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Quoted line breaks are inside one row whichever way the rows are counted."""
    cold = analysis.partitions(root, model="shop")
    assert cache_entries(tmp_path) == []  # counting converts one column: nothing worth keeping
    read_all(root)
    warm = analysis.partitions(root, model="shop")
    monkeypatch.setenv("OTEL_MODELDATA_PARSED_CACHE_MB", "0")
    off = analysis.partitions(root, model="shop")
    pd.testing.assert_frame_equal(warm, cold)
    pd.testing.assert_frame_equal(off, cold)
    inputs = cold[cold["designation"] == "inputs"].set_index(["version", "day"])["rows"]
    assert inputs.to_dict() == {
        ("1", date(2026, 11, 1)): 6,
        ("1", date(2026, 11, 2)): len(
            analysis.read(root, model="shop", version="1", start="2026-11-02", end="2026-11-02")
        ),
        ("1", date(2026, 11, 3)): 2,
        ("2", date(2026, 11, 3)): 1,
    }


def test_a_forked_child_reads_as_its_parent_did(root: Path) -> None:
    """Readers forked by multiprocessing after the parent read (the parsing threads are the parent's)."""
    expected = len(analysis.read(root, model="shop"))
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.apply_async(count_rows, (root,)).get(timeout=30) == expected


def count_rows(root: Path) -> int:
    return len(analysis.read(root, model="shop"))


def test_a_read_of_some_columns_keeps_nothing_but_uses_what_a_whole_read_kept(
    root: Path, tmp_path: Path
) -> None:
    some = analysis.read(root, model="shop", columns=["n", "text"])
    assert cache_entries(tmp_path) == []  # only two columns were converted: nothing worth keeping
    whole = analysis.read(root, model="shop")
    assert cache_entries(tmp_path)
    alter_behind_the_readers_back(root, b"boom", b"BOOM")
    again = analysis.read(root, model="shop", columns=["n", "text"])
    assert "boom" in again["text"].tolist()  # taken from what the whole read kept
    pd.testing.assert_frame_equal(again, some)
    pd.testing.assert_frame_equal(again, whole[["n", "text"]])


def alter_behind_the_readers_back(root: Path, old: bytes, new: bytes) -> None:
    """Change bytes of the day-1 inputs keeping the file's size and times (the collector only ever
    appends, which changes the size): a reader that does not parse it again still sees ``old``."""
    (path,) = [p for p in root.rglob("data.csv") if "inputs" in p.parts and _day(p) == DAY1]
    status = path.stat()
    path.write_bytes(path.read_bytes().replace(old, new))
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))


def test_entries_made_by_other_reader_rules_are_not_used(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new release (or a reader being changed) parses again rather than trust an older table."""
    analysis.read(root, model="shop", start=DAY1, end=DAY1)
    alter_behind_the_readers_back(root, b"boom", b"BOOM")
    monkeypatch.setattr(parsed, "_rules", lambda: "the rules of another release")
    assert "BOOM" in analysis.read(root, model="shop", start=DAY1, end=DAY1)["text"].tolist()
