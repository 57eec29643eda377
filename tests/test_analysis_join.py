"""``analysis.join``: inputs with their predictions and labels, on rows the real collector wrote."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

import pandas as pd
import pytest

from _analysis_data import CALLS, DAY1, FAILING, LABEL_DAY, LATE_DAY, collect_shop, send_labels
from otel_modeldata import analysis

N_OF_CALL = [CALLS[0][0][1], CALLS[1][0][1]]  # the first row's n identifies each call


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Model ``shop`` with labels: call 1 labelled twice within the window, call 2 only after it."""
    collected = tmp_path_factory.mktemp("join") / "collected"
    collect_shop(collected)
    inputs = analysis.read(collected, model="shop", version="1", start=DAY1, end=DAY1)
    first, second = (inputs.loc[inputs["n"] == n, "$aml_dc_correlation_id"].iloc[0] for n in N_OF_CALL)
    send_labels(
        collected,
        [
            (LABEL_DAY, first, [10, 20]),
            (LABEL_DAY + timedelta(days=2), first, [11, 21]),  # a correction: the latest one counts
            (LATE_DAY, second, [30, 40, 50]),  # 49 days after the prediction
        ],
    )
    return collected


def day_one(root: Path, designation: str) -> pd.DataFrame:
    end = LATE_DAY if designation == "labels" else DAY1
    return analysis.read(root, model="shop", version="1", designation=designation, start=DAY1, end=end)


def by_n(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("n", ignore_index=True)


def test_each_input_row_gets_its_prediction_and_a_failed_call_none(root: Path) -> None:
    joined = by_n(analysis.join(day_one(root, "inputs"), day_one(root, "predictions")))
    assert len(joined) == 6
    failed = joined["n"] == FAILING[0][1]
    assert joined.loc[failed, "score"].isna().all()
    assert (joined.loc[~failed, "score"] == joined.loc[~failed, "n"] / 2).all()
    assert joined.loc[~failed, "$file_predictions"].str.contains("/predictions/").all()


def test_columns_repeating_the_call_are_left_out_and_the_others_suffixed(root: Path) -> None:
    joined = analysis.join(day_one(root, "inputs"), day_one(root, "predictions"))
    added = [c for c in joined.columns if c not in day_one(root, "inputs").columns]
    assert added == [
        "score",
        "$aml_dc_scoring_timestamp_predictions",
        "$day_predictions",
        "$file_predictions",
    ]


def test_inner_keeps_only_rows_with_a_prediction(root: Path) -> None:
    joined = analysis.join(day_one(root, "inputs"), day_one(root, "predictions"), how="inner")
    assert sorted(joined["n"]) == sorted(row[1] for call in CALLS for row in call)


def test_labels_count_within_the_window_the_latest_first(root: Path) -> None:
    inputs, predictions, labels = (
        day_one(root, "inputs"),
        day_one(root, "predictions"),
        day_one(root, "labels"),
    )
    assert len(labels) == 7
    joined = by_n(analysis.join(inputs, predictions, labels))
    assert len(joined) == 6
    by_row = dict(zip(joined["n"], joined["label"], strict=True))
    first, second = CALLS
    assert [by_row[row[1]] for row in first] == [11, 21]
    assert all(pd.isna(by_row[row[1]]) for row in second)  # 49 days late, outside 30
    wider = by_n(analysis.join(inputs, predictions, labels, labels_window_days=60))
    assert dict(zip(wider["n"], wider["label"], strict=True))[second[2][1]] == 50


def test_inner_with_labels_keeps_only_labelled_rows(root: Path) -> None:
    joined = analysis.join(
        day_one(root, "inputs"), day_one(root, "predictions"), day_one(root, "labels"), how="inner"
    )
    assert sorted(joined["label"]) == [11, 21]


def test_labels_without_row_index_label_every_row_of_the_call(root: Path) -> None:
    inputs = day_one(root, "inputs")
    call = inputs.loc[inputs["n"] == N_OF_CALL[1], "$aml_dc_correlation_id"].iloc[0]
    labels = pd.DataFrame({"$aml_dc_correlation_id": [call], "$day": [pd.Timestamp(DAY1)], "ok": [True]})
    joined = analysis.join(inputs, day_one(root, "predictions"), labels)
    assert joined.loc[joined["ok"].notna(), "n"].sort_values().tolist() == sorted(r[1] for r in CALLS[1])


def test_missing_keys_are_refused(root: Path) -> None:
    inputs = day_one(root, "inputs")
    with pytest.raises(ValueError, match=r"predictions lacks the column\(s\) \$row_index"):
        analysis.join(inputs, day_one(root, "predictions").drop(columns="$row_index"))
    with pytest.raises(ValueError, match="how must be"):
        analysis.join(inputs, inputs, how="outer")  # type: ignore[arg-type]


@pytest.mark.parametrize("how", ["left", "inner"])
@pytest.mark.parametrize("labels", [True, False])
def test_join_to_writes_the_rows_of_join_day_by_day(
    root: Path, tmp_path: Path, how: Literal["left", "inner"], labels: bool
) -> None:
    """Every day, the schema change and the empty column included: the same rows, values and columns."""
    read = {d: analysis.read(root, model="shop", designation=d) for d in ("inputs", "predictions", "labels")}
    expected = analysis.join(read["inputs"], read["predictions"], read["labels"] if labels else None, how=how)
    written = analysis.join_to(tmp_path / "joined.parquet", root, model="shop", labels=labels, how=how)
    got = pd.read_parquet(tmp_path / "joined.parquet")
    assert written == len(got) == len(expected) > 0
    pd.testing.assert_frame_equal(got, expected.reset_index(drop=True), check_dtype=False)
    if labels:
        assert got["label"].notna().sum() == 2


def test_join_to_csv_reads_back_like_read(root: Path, tmp_path: Path) -> None:
    written = analysis.join_to(tmp_path / "joined.csv", root, model="shop", version="1", start=DAY1, end=DAY1)
    back = pd.read_csv(tmp_path / "joined.csv", keep_default_na=False, na_values=[""])
    assert written == len(back) == 6
    assert sorted(back["score"].dropna().tolist()) == sorted(n / 2 for call in CALLS for _, n, *_ in call)
