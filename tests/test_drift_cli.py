"""``baseline`` and ``drift`` on the command line: files written, exit status 0, 1 and 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from otel_modeldata import analysis
from otel_modeldata.analysis.drift_cli import baseline_command, drift_command

ROWS = 5_000


def sample(seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(shift, 1.0, ROWS),
            "y": rng.exponential(2.0, ROWS),
            "zone": rng.choice(["n", "s", "e", "w"], size=ROWS),
        }
    )


def cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("otel-modeldata")), *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def baseline_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``baseline --data train.csv -o baseline.json`` run as a user would, in a new process."""
    folder = tmp_path_factory.mktemp("cli")
    sample(1).to_csv(folder / "train.csv", index=False)
    done = cli("baseline", "--data", str(folder / "train.csv"), "-o", str(folder / "baseline.json"))
    assert done.returncode == 0, done.stderr
    assert "3 features from 5,000 rows" in done.stdout
    return folder / "baseline.json"


@pytest.fixture
def collected(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A stand-in ``analysis.read`` that serves one frame and records how it was called."""
    served: dict[str, Any] = {"frame": sample(2), "calls": []}

    def fake_read(**arguments: Any) -> pd.DataFrame:
        served["calls"].append(arguments)
        frame: pd.DataFrame = served["frame"]
        return frame

    monkeypatch.setattr(analysis, "read", fake_read, raising=False)
    return served


def test_no_drift_exits_0(baseline_file: Path, collected: dict[str, Any]) -> None:
    result = CliRunner().invoke(drift_command, ["--baseline", str(baseline_file), "--model", "m"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("no drift (5,000 rows;")
    assert collected["calls"][0]["model"] == "m"
    assert collected["calls"][0]["designation"] == "inputs"


def test_drift_exits_1_and_writes_reports(
    baseline_file: Path, collected: dict[str, Any], tmp_path: Path
) -> None:
    collected["frame"] = sample(3, shift=0.5)
    arguments = ["--baseline", str(baseline_file), "--model", "m", "--designation", "predictions"]
    arguments += ["--source", "/data", "--html", str(tmp_path / "r.html"), "--json", str(tmp_path / "r.json")]
    result = CliRunner().invoke(drift_command, arguments)
    assert result.exit_code == 1, result.output
    assert result.output.startswith("drift in 1 of 3 features")
    rows = [line.split() for line in result.output.splitlines()[1:]]
    assert rows[0] == ["feature", "kind", "method", "statistic", "threshold", "drifted"]
    assert [r[0] for r in rows[1:]] == ["x", "y", "zone"]  # most drifted first
    assert rows[1][5] == "True"
    assert json.loads((tmp_path / "r.json").read_text())["drifted_features"] == ["x"]
    assert "Drift detected in 1 of 3 features" in (tmp_path / "r.html").read_text()
    assert collected["calls"][0]["source"] == "/data"
    assert collected["calls"][0]["designation"] == "predictions"


def test_errors_exit_2_with_one_line(tmp_path: Path, baseline_file: Path) -> None:
    """A bad baseline file or a missing option: status 2, one line of error, no traceback."""
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    done = cli("drift", "--baseline", str(bad), "--model", "m")
    assert done.returncode == 2
    assert done.stderr.startswith("otel-modeldata drift: error: ")
    assert len(done.stderr.strip().splitlines()) == 1
    assert cli("drift", "--baseline", str(baseline_file)).returncode == 2  # --model missing
    missing = cli("baseline", "--data", str(tmp_path / "nope.csv"), "-o", str(tmp_path / "b.json"))
    assert missing.returncode == 2
    assert not (tmp_path / "b.json").exists()


def test_baseline_categorical_option(tmp_path: Path) -> None:
    sample(4).assign(code=lambda f: np.arange(ROWS) % 7).to_csv(tmp_path / "t.csv", index=False)
    result = CliRunner().invoke(
        baseline_command,
        ["--data", str(tmp_path / "t.csv"), "--categorical", "code", "-o", str(tmp_path / "b.json")],
    )
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "b.json").read_text())["features"]["code"]["type"] == "categorical"
