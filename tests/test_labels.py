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
from otel_modeldata import ModelDataCollector, collect_io, send_labels
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
    assert done.stdout.strip() == "5"  # rows 0 to 2 of the first call, 0 and 1 of the second: 2 placeholders

    labels = read_pandas(day_files(local_root, "labels"))  # written on the day they arrived
    joined = predictions.merge(labels[[*KEYS, "outcome"]], on=KEYS, how="left")
    got = {(cid, index): outcome for cid, index, outcome in joined[[*KEYS, "outcome"]].values.tolist()}
    expected = {(cid, index): outcome for cid, index, outcome in truth}
    assert {key: value for key, value in got.items() if value == value} == expected
    assert len(joined) == len(predictions) == sum(map(len, CALLS))
    placeholder = labels.set_index(KEYS).loc[(first, 1), "outcome"]
    assert placeholder != placeholder  # an empty label is no label


def test_label_rows_are_written_in_row_index_order_with_placeholders(
    collector: otel_modeldata.ModelDataHandle, local_root: Path
) -> None:
    labels: list[dict[str, Any]] = [
        {"$aml_dc_correlation_id": "call-a", "$row_index": 2, "y": 1.5, "note": "=late"},
        {"$aml_dc_correlation_id": "call-b", "y": 0.0},
        {"$aml_dc_correlation_id": "call-a", "$row_index": 0, "y": -2.0},
    ]
    assert send_labels(labels, model="loans", model_version=2) == 4
    assert collector.force_flush()
    frame = read_pandas(str(partition_dir(local_root, "loans", "labels", version="2") / "*.csv"))
    got = frame[["$aml_dc_correlation_id", "$row_index", "y", "note"]].astype(object)
    got = got.where(got.notna(), None).values.tolist()
    assert got == [
        ["call-a", 0, -2.0, None],
        ["call-a", 1, None, None],
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
    assert send_labels(labels, model="loans", label_names=["y", "z"]) == 1
    assert collector.force_flush()
    frame = read_pandas(day_files(local_root, "labels"))
    assert list(frame.columns[:3]) == ["y", "z", "$aml_dc_correlation_id"]
    assert frame[["y", "z"]].values.tolist()[0][0] == 1
