"""Labels sent after the predictions, in bulk (``send_labels``) or one by one (the classic collector)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import otel_modeldata
from otel_modeldata import ModelDataCollector, analysis, collect_io, send_labels
from otel_modeldata.policy import sampled
from test_readers import read_pandas

from csvfiles import IDENTITY, IDENTITY_KEYS, LocalStore, days_ago, partition_dir

KEYS = ["$aml_dc_correlation_id", "$row_index"]
CALLS = [[[700, 1], [420, 0], [555, 1]], [[610, 0], [300, 1]], [[800, 0]]]


@collect_io("loans", feature_names=["score", "term"], prediction_names=["approved"])
def approve(rows: list[list[int]]) -> list[int]:
    return [int(score > 500) for score, _ in rows]


def day_files(root: Path, designation: str, days: int = 0) -> str:
    day = datetime.now(timezone.utc) - timedelta(days=days)
    return str(partition_dir(root, "loans", designation, day=day) / "*.csv")


def test_labels_sent_by_another_process_days_later_join_their_predictions(local_root: Path) -> None:
    handle = LocalStore(local_root).configure()
    with days_ago(3):
        for rows in CALLS:
            approve(rows)
    assert handle.force_flush()
    handle.shutdown()
    predictions = read_pandas(day_files(local_root, "predictions", days=3))
    first, second, _ = predictions.groupby("$aml_dc_correlation_id", sort=False).groups
    # Ground truth for the first call's rows 0 and 2 and the second call's row 1, not in order.
    truth = [[first, 2, "paid"], [second, 1, "defaulted"], [first, 0, "defaulted"]]
    script = textwrap.dedent(
        """
        import json, sys
        import pandas as pd
        import otel_modeldata
        columns = ["$aml_dc_correlation_id", "$row_index", "outcome"]
        frame = pd.DataFrame(json.load(sys.stdin), columns=columns)
        print(otel_modeldata.send_labels(frame, model="loans"))
        """
    )
    env = {
        **os.environ,
        "OTEL_MODELDATA_LOCAL_DIR": str(local_root),
        **{f"OTEL_MODELDATA_{key.upper()}": val for key, val in zip(IDENTITY_KEYS, IDENTITY, strict=True)},
    }
    done = subprocess.run(
        [sys.executable, "-c", script], input=json.dumps(truth), env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3"  # the rows given, and no others

    labels = read_pandas(day_files(local_root, "labels"))  # written on the day they arrived
    joined = predictions.merge(labels[[*KEYS, "outcome"]], on=KEYS, how="left")
    got = {(cid, index): outcome for cid, index, outcome in joined[[*KEYS, "outcome"]].values.tolist()}
    expected = {(cid, index): outcome for cid, index, outcome in truth}
    assert {key: value for key, value in got.items() if value == value} == expected
    assert len(joined) == len(predictions) == sum(map(len, CALLS))
    assert sorted(map(tuple, labels[KEYS].values.tolist())) == sorted((c, i) for c, i, _ in truth)


def test_label_rows_are_written_with_their_own_row_index_and_nothing_between(
    collector: otel_modeldata.ModelDataHandle, local_root: Path
) -> None:
    labels: list[dict[str, Any]] = [
        {"$aml_dc_correlation_id": "call-a", "$row_index": 2, "y": 1.5, "note": "=late"},
        {"$aml_dc_correlation_id": "call-b", "y": 0.0},
        {"$aml_dc_correlation_id": "call-a", "$row_index": 0, "y": -2.0},
    ]
    assert send_labels(labels, model="loans", model_version=2) == 3
    assert collector.force_flush()
    frame = read_pandas(str(partition_dir(local_root, "loans", "labels", version="2") / "*.csv"))
    got = frame[["$aml_dc_correlation_id", "$row_index", "y", "note"]].astype(object)
    got = got.where(got.notna(), None).values.tolist()
    assert got == [
        ["call-a", 0, -2.0, None],
        ["call-a", 2, 1.5, "'=late"],  # guarded in the file like any text
        ["call-b", 0, 0.0, None],
    ]


def test_a_single_label_the_classic_way(collector: otel_modeldata.ModelDataHandle, local_root: Path) -> None:
    inputs_dc = ModelDataCollector("loans", designation="inputs", feature_names=["score", "term"])
    context = inputs_dc.collect([[700, 1]])
    labels_dc = ModelDataCollector("loans", designation="labels", feature_names=["outcome"])
    labels_dc.collect(["paid"], {"correlation_id": context["correlation_id"]})
    assert collector.force_flush()
    inputs = read_pandas(day_files(local_root, "inputs"))
    labels = read_pandas(day_files(local_root, "labels"))
    joined = inputs.merge(labels[[*KEYS, "outcome"]], on=KEYS)
    assert joined[["score", "outcome"]].values.tolist() == [[700, "paid"]]


def test_labels_follow_the_sampling_of_their_calls(local_root: Path) -> None:
    handle = LocalStore(local_root).configure(sample_rate=0.5)
    ids = [f"call-{i}" for i in range(40)]
    kept = [cid for cid in ids if sampled(cid, 0.5)]
    assert 0 < len(kept) < len(ids)
    frame = pd.DataFrame({"$aml_dc_correlation_id": ids, "y": range(40)})
    assert send_labels(frame, model="loans") == len(kept)
    assert handle.force_flush()
    frame = read_pandas(day_files(local_root, "labels"))
    assert sorted(frame["$aml_dc_correlation_id"]) == sorted(kept)
    handle.shutdown()


def test_labels_of_calls_collected_with_a_user_id_follow_their_sampling(local_root: Path) -> None:
    """``collect(..., user_correlation_id="LOAN-k")`` returns ``LOAN-k-<uuid>``: labels sent for
    those ids are kept exactly when the call was, both decided by ``LOAN-k``."""
    handle = LocalStore(local_root).configure(sample_rate=0.5)
    inputs_dc = ModelDataCollector("loans", designation="inputs", feature_names=["score", "term"])
    ids = [
        inputs_dc.collect([[k, 1]], user_correlation_id=f"LOAN-{k}")["$aml_dc_correlation_id"]
        for k in range(40)
    ]
    frame = pd.DataFrame({"$aml_dc_correlation_id": ids, "y": range(40)})
    sent = send_labels(frame, model="loans")
    assert handle.force_flush()
    handle.shutdown()
    inputs = analysis.read(local_root, model="loans")
    labels = analysis.read(local_root, model="loans", designation="labels")
    assert 0 < len(inputs) < 40
    assert sorted(labels["$aml_dc_correlation_id"]) == sorted(inputs["$aml_dc_correlation_id"])
    assert sent == len(inputs)


def test_a_label_far_into_its_call_is_written_alone(
    collector: otel_modeldata.ModelDataHandle, local_root: Path
) -> None:
    approve([[700, 1], [420, 0], [555, 1]])
    assert collector.force_flush()
    cid = analysis.read(local_root, model="loans", designation="predictions")["$aml_dc_correlation_id"][0]
    labels = [
        {"$aml_dc_correlation_id": cid, "$row_index": 2, "outcome": "paid"},
        {"$aml_dc_correlation_id": cid, "$row_index": 0, "outcome": "defaulted"},
        {"$aml_dc_correlation_id": "batch", "$row_index": 10_000_000, "outcome": "paid"},
    ]
    assert send_labels(labels, model="loans") == 3
    assert collector.force_flush()
    written = analysis.read(local_root, model="loans", designation="labels")
    assert sorted(written[["$aml_dc_correlation_id", "$row_index", "outcome"]].values.tolist()) == sorted(
        [[cid, 2, "paid"], [cid, 0, "defaulted"], ["batch", 10_000_000, "paid"]]
    )
    assert otel_modeldata.stats()["rows_dropped"] == {}
    joined = analysis.join(
        analysis.read(local_root, model="loans"),
        analysis.read(local_root, model="loans", designation="predictions"),
        written,
    )
    got = dict(zip(joined["$row_index"], joined["outcome"], strict=True))
    assert got[0] == "defaulted"
    assert got[2] == "paid"
    assert got[1] != got[1]  # row 1: no label


def test_an_empty_label_sent_later_does_not_replace_a_real_one(
    collector: otel_modeldata.ModelDataHandle, local_root: Path, tmp_path: Path
) -> None:
    """Rows of an earlier version's placeholders, or a batch that has no outcome yet for a row."""
    approve([[700, 1], [420, 0], [555, 1]])
    approve([[610, 0]])
    assert collector.force_flush()
    first, second = (
        analysis.read(local_root, model="loans", designation="predictions")
        .groupby("$aml_dc_correlation_id", sort=False)
        .groups
    )
    send_labels([{"$aml_dc_correlation_id": first, "$row_index": 1, "outcome": "paid"}], model="loans")
    assert collector.force_flush()
    later = [[first, 0, "defaulted"], [first, 1, None], [first, 2, "paid"], [second, 0, None]]
    send_labels([dict(zip([*KEYS, "outcome"], row, strict=True)) for row in later], model="loans")
    assert collector.force_flush()
    expected = {(first, 0): "defaulted", (first, 1): "paid", (first, 2): "paid"}

    def outcomes(frame: pd.DataFrame) -> dict[tuple[str, int], Any]:
        rows = frame[[*KEYS, "outcome"]].values.tolist()
        return {(cid, index): outcome for cid, index, outcome in rows if outcome == outcome}

    read = [
        analysis.read(local_root, model="loans", designation=d) for d in ("inputs", "predictions", "labels")
    ]
    assert outcomes(analysis.join(*read)) == expected
    inner = analysis.join(*read, how="inner")
    assert len(inner) == 3  # the second call has only an empty label
    assert outcomes(inner) == expected
    for how in ("left", "inner"):
        output = tmp_path / f"joined-{how}.parquet"
        analysis.join_to(output, local_root, model="loans", how=how)
        joined = pd.read_parquet(output)
        assert outcomes(joined) == expected
        assert len(joined) == (4 if how == "left" else 3)


def test_a_missing_value_in_a_data_frame_is_no_label(
    collector: otel_modeldata.ModelDataHandle, local_root: Path
) -> None:
    """pandas marks a missing text as NaN: it must not come back as the label ``"NaN"``."""
    frame = pd.DataFrame([["a", 0, "paid"], ["a", 1, None]], columns=[*KEYS, "outcome"])
    assert frame["outcome"].tolist()[1] != frame["outcome"].tolist()[1]  # NaN, not None
    send_labels(frame, model="loans")
    assert collector.force_flush()
    written = analysis.read(local_root, model="loans", designation="labels")
    assert written["outcome"].tolist()[0] == "paid"
    assert written["outcome"].isna().tolist() == [False, True]


def test_a_models_own_rules_apply_to_its_labels(local_root: Path) -> None:
    """The rate, hashed and redacted columns a model declares, given to ``send_labels`` too."""
    handle = LocalStore(local_root).configure(hash_key="k" * 32)
    rules: dict[str, Any] = {"sample_rate": 0.5, "hash": ["email"], "redact": ["debug"]}

    @collect_io("credit", feature_names=["age", "email"], **rules)
    def score(rows: list[list[Any]]) -> list[int]:
        return [0] * len(rows)

    for age in range(30):
        score([[age, f"user{age}@example.com"]])
    assert handle.force_flush()
    inputs = analysis.read(local_root, model="credit")
    assert 0 < len(inputs) < 30
    emails = dict(zip(inputs["$aml_dc_correlation_id"], inputs["email"], strict=True))
    assert not any("@" in email for email in emails.values())
    every = [
        {"$aml_dc_correlation_id": cid, "email": f"user{age}@example.com", "debug": "x", "defaulted": True}
        for cid, age in zip(inputs["$aml_dc_correlation_id"], inputs["age"], strict=True)
    ]
    left_out = [{**every[0], "$aml_dc_correlation_id": f"LOAN-{k}"} for k in range(30)]
    sent = send_labels(every + left_out, model="credit", **rules)
    assert handle.force_flush()
    handle.shutdown()
    labels = analysis.read(local_root, model="credit", designation="labels")
    assert "debug" not in labels.columns
    kept = labels[labels["$aml_dc_correlation_id"].isin(emails)]
    assert dict(zip(kept["$aml_dc_correlation_id"], kept["email"], strict=True)) == emails  # hashed alike
    others = set(labels["$aml_dc_correlation_id"]) - set(emails)
    assert others == {f"LOAN-{k}" for k in range(30) if sampled(f"LOAN-{k}", 0.5)}
    assert sent == len(labels) == len(inputs) + len(others)


@pytest.mark.parametrize(
    ("labels", "error", "message"),
    [
        ([{"y": 1}], ValueError, "has no"),
        ([{"$aml_dc_correlation_id": "a", "$row_index": 0, "y": 1}] * 2, ValueError, "repeat"),
        ([{"$aml_dc_correlation_id": "a", "$row_index": -1, "y": 1}], ValueError, "whole number"),
        ([{"$aml_dc_correlation_id": "a", "$row_index": 0.5, "y": 1}], ValueError, "whole number"),
        ([{"$aml_dc_correlation_id": "a"}], ValueError, "label column"),
        ("not labels", TypeError, "DataFrame or a list of dicts"),
    ],
)
def test_unusable_labels_are_refused(
    collector: otel_modeldata.ModelDataHandle, labels: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        send_labels(labels, model="loans")
    assert otel_modeldata.stats()["rows_accepted"] == 0


def test_label_names_choose_the_columns(collector: otel_modeldata.ModelDataHandle, local_root: Path) -> None:
    labels = [{"$aml_dc_correlation_id": "a", "y": 1, "debug": "x"}]
    with pytest.raises(TypeError, match="label_names must be a sequence of strings"):
        send_labels(labels, model="loans", label_names="y")
    assert send_labels(labels, model="loans", label_names=["y"]) == 1
    assert collector.force_flush()
    frame = read_pandas(day_files(local_root, "labels"))
    assert list(frame.columns[:2]) == ["y", "$aml_dc_correlation_id"]
    assert frame["y"].tolist() == [1]


@pytest.mark.parametrize("as_frame", [False, True])
def test_a_label_name_that_is_no_column_is_refused_by_name(
    collector: otel_modeldata.ModelDataHandle, as_frame: bool
) -> None:
    labels: Any = [{"$aml_dc_correlation_id": "a", "y": 1}]
    if as_frame:
        labels = pd.DataFrame(labels)
    with pytest.raises(ValueError, match=r"label_names not found in the labels: typo, z$"):
        send_labels(labels, model="loans", label_names=["y", "typo", "z"])
    assert otel_modeldata.stats()["rows_accepted"] == 0
