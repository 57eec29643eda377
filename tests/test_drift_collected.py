"""Drift of what the collector really wrote, read through ``analysis.read``, from the command line."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import otel_modeldata
from otel_modeldata import analysis
from otel_modeldata.cli import main

ROWS = 2_000


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
