"""``analysis.performance``: accuracy or errors per day on small tables whose figures are known."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from otel_modeldata.analysis import performance, plot_performance

DAY_1, DAY_2 = date(2026, 11, 30), date(2026, 12, 1)


def test_accuracy_per_day_for_a_classifier() -> None:
    joined = pd.DataFrame(
        {
            "$day": [DAY_1, DAY_1, DAY_1, DAY_1, DAY_2, DAY_2, DAY_2],
            "species": ["setosa", "virginica", "setosa", "setosa", "versicolor", "setosa", "setosa"],
            "truth": ["setosa", "setosa", "setosa", None, "versicolor", "virginica", "setosa"],
        }
    )
    table = performance(joined, label="truth", prediction="species")
    assert table.attrs["kind"] == "classification"
    assert table.index.name == "$day"
    # Day 1: 2 right of 3 labelled (the unlabelled row is left out); day 2: 2 of 3.
    assert table.to_dict("index") == {
        DAY_1: {"rows": 3, "accuracy": pytest.approx(2 / 3)},
        DAY_2: {"rows": 3, "accuracy": pytest.approx(2 / 3)},
    }


def test_few_whole_numbers_are_classes_even_as_floats() -> None:
    joined = pd.DataFrame(
        {
            "$aml_dc_scoring_timestamp": ["2026-11-30T23:59:59.000000Z", "2026-12-01T00:00:01.000000Z"] * 2,
            "approved": [1.0, 0.0, 1.0, 1.0],
            "repaid": [1, 0, 0, float("nan")],
        }
    )
    table = performance(joined, label="repaid", prediction="approved")
    assert table.attrs["kind"] == "classification"
    assert table.to_dict("index") == {
        DAY_1: {"rows": 2, "accuracy": 0.5},
        DAY_2: {"rows": 1, "accuracy": 1.0},
    }


def test_mae_and_rmse_per_group_for_a_regressor() -> None:
    joined = pd.DataFrame(
        {
            "$aml_model_version": ["1", "1", "2", "2"],
            "price": [10.5, 20.0, 30.0, 40.0],
            "sold_for": [10.0, 22.0, 33.0, 36.0],
        }
    )
    table = performance(joined, label="sold_for", prediction="price", by="$aml_model_version")
    assert table.attrs["kind"] == "regression"
    assert table.to_dict("index") == {
        "1": {"rows": 2, "mae": pytest.approx(1.25), "rmse": pytest.approx((4.25 / 2) ** 0.5)},
        "2": {"rows": 2, "mae": pytest.approx(3.5), "rmse": pytest.approx((25 / 2) ** 0.5)},
    }
    forced = performance(
        joined, label="sold_for", prediction="price", by="$aml_model_version", kind="classification"
    )
    assert forced["accuracy"].tolist() == [0.0, 0.0]


def test_missing_columns_are_named() -> None:
    joined = pd.DataFrame({"p": [1], "y": [1]})
    with pytest.raises(KeyError, match="needs a"):
        performance(joined, label="y", prediction="p")
    with pytest.raises(KeyError, match="'truth'"):
        performance(joined, label="truth", prediction="p", by="p")


def test_plot_performance_writes_a_png(tmp_path: Path) -> None:
    table = performance(
        pd.DataFrame({"$day": [DAY_1, DAY_2], "p": [1.5, 2.0], "y": [1.0, 2.5]}), label="y", prediction="p"
    )
    path = plot_performance(table, tmp_path / "performance.png")
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert path.stat().st_size > 5_000  # axes, two lines and a legend, not an empty canvas
