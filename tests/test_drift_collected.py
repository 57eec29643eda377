"""Drift of what the collector really wrote, read through ``analysis.read``, from the command line."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import otel_modeldata
from otel_modeldata import analysis
from otel_modeldata.cli import main
from otel_modeldata.csvfmt import RowContext, RowWriter, header_line
from otel_modeldata.layout import Identity, partition_folder

ROWS = 2_000
#: Bytes per block when a test streams a day's files.
BLOCK = 64 * 1024


def collect(root: Path, shift: float, seed: int) -> None:
    """Score ``ROWS`` rows whose ``x`` is shifted by ``shift`` standard deviations."""
    handle = otel_modeldata.configure(local_dir=str(root))
    rng = np.random.default_rng(seed)

    @otel_modeldata.collect_io("shop", feature_names=["x", "zone"], prediction_names=["score"])
    def run(frame: pd.DataFrame) -> list[float]:
        return [0.5] * len(frame)

    for chunk in np.array_split(np.arange(ROWS), 20):
        run(
            pd.DataFrame(
                {"x": rng.normal(shift, 1.0, len(chunk)), "zone": rng.choice(["n", "s"], size=len(chunk))}
            )
        )
    assert handle.force_flush()
    handle.shutdown()


@pytest.fixture(scope="module")
def baseline_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(1)
    train = pd.DataFrame({"x": rng.normal(0.0, 1.0, ROWS), "zone": rng.choice(["n", "s"], size=ROWS)})
    path = tmp_path_factory.mktemp("baseline") / "baseline.json"
    analysis.baseline(train).save(path)
    return path


@pytest.mark.parametrize(("shift", "status"), [(0.0, 0), (0.5, 1)], ids=["unshifted", "shifted"])
def test_drift_of_collected_inputs_sets_the_exit_status(
    tmp_path: Path, baseline_file: Path, shift: float, status: int
) -> None:
    collect(tmp_path, shift, seed=7)
    today = datetime.now(timezone.utc).date().isoformat()
    report = tmp_path / "drift.json"
    chosen = ["--model", "shop", "--source", str(tmp_path), "--start", today, "--end", today]
    result = CliRunner().invoke(
        main, ["drift", "--baseline", str(baseline_file), *chosen, "--json", str(report)]
    )
    assert result.exit_code == status, result.output
    drifted = {f["feature"]: f["drifted"] for f in json.loads(report.read_text())["features"]}
    assert drifted == {"x": bool(status), "zone": False}


def test_drift_over_an_empty_range_exits_2_saying_nothing_was_collected(
    tmp_path: Path, baseline_file: Path
) -> None:
    collect(tmp_path, 0.0, seed=7)
    chosen = ["--model", "shop", "--source", str(tmp_path), "--start", "2020-01-01", "--end", "2020-01-02"]
    result = CliRunner().invoke(main, ["drift", "--baseline", str(baseline_file), *chosen])
    assert result.exit_code == 2
    assert "the current data has no rows (nothing collected for " in result.stderr
    assert "lacks" not in result.stderr


def test_drift_read_day_by_day_counts_each_row_once_and_gives_the_days(tmp_path: Path) -> None:
    """Each day's read is that day alone (``read`` includes ``end``), with its ``$day`` for the series."""
    days = [date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)]
    rng = np.random.default_rng(3)
    for number, day in enumerate(days):
        ctx = RowContext(
            f"c{number}", f"{day.isoformat()}T12:00:00.000000Z", "s/g/w", "svc", "m", "1", "r", "", ""
        )
        writer = RowWriter()
        writer.write([[float(v)] for v in rng.normal(size=100 * (number + 1))], 1, ctx)
        folder = tmp_path / "modeldata" / partition_folder(Identity(), "m", "1", "inputs", day)
        folder.mkdir(parents=True)
        (folder / "data.csv").write_bytes(header_line(["x"]) + writer.payload())
    base = analysis.baseline(pd.DataFrame({"x": rng.normal(size=1_000)}))
    result = analysis.drift(base, {"source": tmp_path, "model": "m", "start": days[0], "end": days[-1]})
    assert result.rows == 100 + 200 + 300
    assert sorted(set(result.daily["day"])) == days


def test_drift_streams_day_files_in_blocks_with_the_baselines_types(tmp_path: Path) -> None:
    """Day files of many blocks give the result of the same rows as one DataFrame: ``x`` is read as
    a float from its first block on (integers first, fractions later) and a later text value in it
    is missing, a guarded category is read back unguarded, and a file without ``zone`` counts its
    rows as missing there."""
    rng = np.random.default_rng(5)
    frames = []
    for number, day in enumerate([date(2026, 11, 1), date(2026, 11, 2)]):
        folder = tmp_path / "modeldata" / partition_folder(Identity(), "m", "1", "inputs", day)
        folder.mkdir(parents=True)
        ctx = RowContext(
            f"c{number}", f"{day.isoformat()}T12:00:00.000000Z", "s/g/w", "svc", "m", "1", "r", "", ""
        )
        whole: list[object] = [int(v) for v in rng.integers(0, 5, 10_000)] + [
            float(v) for v in rng.normal(2.0, 1.0, 60_000)
        ]
        if number:  # text in a later table of a float column: missing, as pandas.to_numeric makes it
            whole[68_000] = "oops"
        zone = list(rng.choice(["n", "s", "=1+1", ""], p=[0.5, 0.3, 0.1, 0.1], size=len(whole)))
        writer = RowWriter()
        written = [
            [x, "'" + z if z.startswith("=") else (z or None)] for x, z in zip(whole, zone, strict=True)
        ]
        writer.write(written, 2, ctx)
        (folder / "data.csv").write_bytes(header_line(["x", "zone"]) + writer.payload())
        assert (folder / "data.csv").stat().st_size > 8 * BLOCK  # many blocks
        other = RowWriter()
        other.write([[float(v)] for v in rng.normal(size=5_000)], 1, ctx)
        (folder / "data_1.csv").write_bytes(header_line(["x"]) + other.payload())
        frames.append(
            pd.DataFrame(
                {
                    "x": pd.to_numeric(pd.Series(whole), errors="coerce"),
                    "zone": [z or None for z in zone],
                    "$day": day,
                }
            )
        )
        frames.append(pd.read_csv(folder / "data_1.csv", usecols=["x"]).assign(zone=None, **{"$day": day}))
    rows = pd.concat(frames, ignore_index=True)
    base = analysis.baseline(
        pd.DataFrame({"x": rng.normal(2.0, 1.0, 2_000), "zone": rng.choice(["n", "s", "=1+1"], size=2_000)})
    )
    read = {
        "source": tmp_path,
        "model": "m",
        "start": "2026-11-01",
        "end": "2026-11-02",
        "block_size": BLOCK,
    }
    streamed = analysis.drift(base, read)
    expected = analysis.drift(base, rows)
    pd.testing.assert_frame_equal(streamed.to_frame(), expected.to_frame())
    pd.testing.assert_frame_equal(streamed.daily, expected.daily)
    assert streamed.rows == len(rows) == 2 * 75_000
    assert streamed["zone"].missing == rows["zone"].isna().sum()
    assert streamed["zone"].new_categories == ()
    assert streamed["x"].missing == 1
