"""Baselines and drift(): detection at the default thresholds, saving, streaming, the daily series."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from otel_modeldata import analysis

ROWS = 20_000
DAYS = 3


def sample(seed: int, *, shift: float = 0.0, new: float = 0.0, rows: int = ROWS) -> pd.DataFrame:
    """Three numeric features and two categorical ones, the first of each shifted on demand."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"num{i}": rng.normal(10.0 * i, 1.0 + i, size=rows) for i in range(3)})
    frame["num0"] += shift * 1.0
    colour = rng.choice(["red", "green", "blue", "grey"], p=[0.4, 0.3, 0.2, 0.1], size=rows).astype(object)
    colour[rng.random(rows) < new] = "purple"
    frame["colour"] = colour
    frame["flag"] = rng.random(rows) < 0.3
    return frame


def with_days(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    first = date(2026, 11, 1)
    return frame.assign(
        **{
            "$day": [first + timedelta(days=int(d)) for d in rng.integers(0, DAYS, len(frame))],
            "$aml_request_id": "r",
        }
    )


@pytest.fixture(scope="module")
def trained() -> analysis.Baseline:
    return analysis.baseline(sample(1))


def test_shift_detected_and_unshifted_not(trained: analysis.Baseline) -> None:
    """0.5 sd in one numeric feature and a new 10% category are found; another seed is not drift."""
    shifted = analysis.drift(trained, sample(2, shift=0.5, new=0.1))
    assert shifted.drifted
    assert set(shifted.drifted_features) == {"num0", "colour"}
    assert [c for c, _ in shifted["colour"].new_categories] == ["purple"]
    assert shifted["colour"].new_categories[0][1] == pytest.approx(0.1 * ROWS, rel=0.1)
    assert shifted["num0"].psi is not None
    assert shifted["num0"].psi > 0.1
    calm = analysis.drift(trained, sample(3))
    assert not calm.drifted
    assert max(f.statistic for f in calm.features) < 0.05


def test_feature_types_and_dollar_columns(trained: analysis.Baseline) -> None:
    """Numbers are numeric, text and booleans categorical, ``$`` columns never features."""
    kinds = {name: f.kind for name, f in trained.features.items()}
    assert kinds == {
        "num0": "numeric",
        "num1": "numeric",
        "num2": "numeric",
        "colour": "categorical",
        "flag": "categorical",
    }
    forced = analysis.baseline(with_days(sample(1, rows=500), 1), categorical=["num2"])
    assert forced.features["num2"].kind == "categorical"
    assert not any(name.startswith("$") for name in forced.features)


def test_baseline_roundtrip_is_small_and_equal(trained: analysis.Baseline, tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    trained.save(path)
    assert path.stat().st_size < 20_000 * len(trained.features)
    document = json.loads(path.read_text())
    assert len(document["features"]["num0"]["bins"]["edges"]) == 9
    assert sum(document["features"]["num0"]["bins"]["counts"]) == ROWS
    loaded = analysis.Baseline.load(path)
    current = sample(2, shift=0.5, new=0.1)
    assert analysis.drift(loaded, current).to_frame().equals(analysis.drift(trained, current).to_frame())


def test_baseline_from_csv_and_parquet(tmp_path: Path) -> None:
    frame = sample(4, rows=2000)
    frame.to_csv(tmp_path / "train.csv", index=False)
    frame.to_parquet(tmp_path / "train.parquet")
    from_csv = analysis.baseline(tmp_path / "train.csv").features
    from_parquet = analysis.baseline(str(tmp_path / "train.parquet")).features
    assert from_csv.keys() == from_parquet.keys() == set(frame.columns)
    assert from_csv["num1"].histogram.count == from_parquet["num1"].histogram.count == 2000


def test_chunks_equal_one_frame(trained: analysis.Baseline) -> None:
    """Streaming chunks gives the same statistics as the whole frame at once."""
    current = with_days(sample(5, shift=0.5), 5)
    whole = analysis.drift(trained, current)
    chunked = analysis.drift(trained, (current.iloc[i : i + 3000] for i in range(0, ROWS, 3000)))
    pd.testing.assert_frame_equal(whole.to_frame(), chunked.to_frame())
    pd.testing.assert_frame_equal(whole.daily, chunked.daily)


def test_daily_series(trained: analysis.Baseline) -> None:
    """Grouped by ``$day``: one row per day and feature, each day's drift judged alone."""
    current = with_days(sample(6), 6)
    current.loc[current["$day"] == date(2026, 11, 3), "num1"] += 3.0
    result = analysis.drift(trained, current)
    assert len(result.daily) == DAYS * len(trained.features)
    num1 = result.daily[result.daily["feature"] == "num1"].set_index("day")["drifted"]
    assert num1.to_dict() == {date(2026, 11, 1): False, date(2026, 11, 2): False, date(2026, 11, 3): True}
    assert result.daily.groupby("feature")["values"].sum()["num0"] == ROWS


def test_read_arguments_are_read_one_day_at_a_time(
    trained: analysis.Baseline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dict of ``read`` arguments is read day by day; rows of other days are dropped."""
    data = with_days(sample(7, new=0.1), 7)
    calls: list[dict[str, Any]] = []

    def fake_read(**arguments: Any) -> pd.DataFrame:
        calls.append(arguments)
        lo, hi = arguments["start"], arguments["end"]
        return data[(data["$day"] >= lo) & (data["$day"] <= hi)]  # end taken as inclusive

    monkeypatch.setattr(analysis, "read", fake_read, raising=False)
    arguments = {
        "model": "m",
        "designation": "predictions",
        "start": date(2026, 11, 1),
        "end": date(2026, 11, 3),
    }
    result = analysis.drift(trained, arguments)
    # ``read`` includes ``end``: each read is one day, never the next one too.
    assert [(c["start"], c["end"]) for c in calls] == [
        (date(2026, 11, 1), date(2026, 11, 1)),
        (date(2026, 11, 2), date(2026, 11, 2)),
        (date(2026, 11, 3), date(2026, 11, 3)),
    ]
    assert all(c["model"] == "m" and c["designation"] == "predictions" for c in calls)
    assert set(calls[0]["columns"]) == {*trained.features, "$day"}
    assert result["num0"].values == ROWS
    assert result.drifted_features == ["colour"]
    assert len(result.daily) == DAYS * len(trained.features)


def test_baseline_from_read_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    data = with_days(sample(8, rows=1000), 8)
    monkeypatch.setattr(analysis, "read", lambda **arguments: data, raising=False)
    assert set(analysis.baseline({"model": "m"}).features) == {"num0", "num1", "num2", "colour", "flag"}


def test_thresholds(trained: analysis.Baseline) -> None:
    """A float replaces every default, a mapping the named features' only; unknown names refused."""
    current = sample(9, shift=0.2)
    assert analysis.drift(trained, current).drifted_features == ["num0"]
    assert analysis.drift(trained, current, threshold=0.5).drifted_features == []
    assert analysis.drift(trained, current, threshold={"num0": 0.5}).drifted_features == []
    with pytest.raises(ValueError, match="nope"):
        analysis.drift(trained, current, threshold={"nope": 0.5})
    for wrong in (-1, {"num0": -0.1}, float("nan")):
        with pytest.raises(ValueError, match="0 or more"):
            analysis.drift(trained, current, threshold=wrong)


def test_missing_feature_is_an_error(trained: analysis.Baseline) -> None:
    with pytest.raises(ValueError, match="colour"):
        analysis.drift(trained, sample(9).drop(columns="colour"))


def test_json_is_plain(trained: analysis.Baseline, tmp_path: Path) -> None:
    """JSON for machines: verdict, rule, named statistics, infinities as null."""
    result = analysis.drift(trained, with_days(sample(2, shift=0.5, new=0.1), 2))
    document = json.loads(result.to_json(tmp_path / "out.json"))
    assert json.loads((tmp_path / "out.json").read_text()) == document
    assert document["drifted"] is True
    assert document["drifted_features"] == ["num0", "colour"]
    colour = next(f for f in document["features"] if f["feature"] == "colour")
    assert colour["chisquare"]["statistic"] is None  # infinite: a new category
    assert colour["new_categories"][0]["category"] == "purple"
    num0 = next(f for f in document["features"] if f["feature"] == "num0")
    assert set(num0["ks"]) == {"statistic", "pvalue"}
    assert len(document["daily"]) == DAYS * 5
