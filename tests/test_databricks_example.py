"""``examples/databricks_analysis.py`` run as a notebook would, on two days the collector wrote."""

from __future__ import annotations

import math
import runpy
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from otel_modeldata import collect_io

from csvfiles import LocalStore, days_ago

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "databricks_analysis.py"
TODAY = datetime.now(timezone.utc).date()
YESTERDAY = TODAY - timedelta(days=1)


@collect_io("shop", feature_names=["x", "y"], prediction_names=["label"])
def classify(rows: list[list[Any]]) -> list[str]:
    if rows[0][0] is None:
        raise ValueError("no x")
    return ["big" if x > 4 else "small" for x, _ in rows]


@pytest.mark.spark
def test_the_databricks_example_joins_and_summarises_drift(
    spark: Any, local_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    handle = LocalStore(local_root).configure()
    with days_ago(1):
        classify([[1, 10.0], [3, 10.0]])
    classify([[5, 10.0], [7, None]])
    with pytest.raises(ValueError, match="no x"):
        classify([[None, 1.0]])  # a failed call: its inputs are kept, without a prediction
    assert handle.force_flush()
    handle.shutdown()
    monkeypatch.setenv("MODELDATA_SOURCE", str(local_root))
    monkeypatch.setenv("MODELDATA_MODEL", "shop")
    monkeypatch.setenv("MODELDATA_DAYS", "2")

    notebook = runpy.run_path(str(EXAMPLE), run_name="__main__")

    per_day = [list(r) for r in notebook["per_day"].orderBy("$day").collect()]
    assert per_day == [[YESTERDAY, 2, 2], [TODAY, 3, 2]]
    drift = {(r["feature"], r["$day"]): r for r in notebook["drift"].collect()}
    x_then, x_now = drift[("x", YESTERDAY)], drift[("x", TODAY)]
    assert (x_then["mean"], x_then["shift"]) == (2.0, 0.0)
    assert x_now["mean"] == 6.0
    assert x_now["missing"] == pytest.approx(1 / 3)
    assert x_now["shift"] == pytest.approx(4 / math.sqrt(2))
    y_now = drift[("y", TODAY)]
    # y had no spread on the first day: no shift to measure against it
    assert (y_now["mean"], y_now["missing"], y_now["shift"]) == (5.5, pytest.approx(1 / 3), None)
    share = [(r["$day"], r["label"], r["share"]) for r in notebook["share"].collect()]
    assert share == [(YESTERDAY, "small", 1.0), (TODAY, "big", 1.0)]
