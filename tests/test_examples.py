"""The examples are what users copy: the demo must run end to end, the classic and the
decorated scripts must write the same rows, and the service must honour ``x-request-id``."""

from __future__ import annotations

import contextvars
import importlib
import json
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from flask import Flask
from sklearn.datasets import load_iris

import otel_modeldata

from csvfiles import data_files, partition_dir, read_rows

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MODEL = "iris_classifier"
DEFAULT_IDENTITY = ("default", "default", "default", "default")
CORRELATION_COLUMNS = [
    "$aml_dc_correlation_id",
    "$aml_dc_scoring_timestamp",
    "$aml_dc_boundary",
    "$aml_workspace",
    "$aml_service_name",
    "$aml_model_name",
    "$aml_model_version",
    "$aml_request_id",
    "$row_index",
    "$otel_trace_id",
    "$otel_span_id",
]
HEADERS = {
    "inputs": ["sepal_length", "sepal_width", "petal_length", "petal_width", *CORRELATION_COLUMNS],
    "predictions": ["species", *CORRELATION_COLUMNS],
}
#: Columns that differ between two calls with the same data (ids and time).
PER_CALL_COLUMNS = {
    "$aml_dc_correlation_id",
    "$aml_dc_scoring_timestamp",
    "$aml_request_id",
    "$otel_trace_id",
    "$otel_span_id",
}
DEMO_REQUESTS = 12
DEMO_SEED = 7

Rows = list[dict[str, str]]


@pytest.fixture
def examples(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], ModuleType]:
    """Import an example module by name, as ``python examples/<name>.py`` would find it."""
    monkeypatch.syspath_prepend(str(EXAMPLES))
    return importlib.import_module


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, examples: Callable[[str], ModuleType]) -> Flask:
    """The service app, collecting into ``tmp_path`` as its environment says."""
    monkeypatch.setenv("OTEL_MODELDATA_LOCAL_DIR", str(tmp_path))
    app: Flask = examples("service").create_app()
    return app


def designation_files(root: Path, designation: str) -> list[Path]:
    """The data files of one designation (``.../<designation>/YYYY/MM/DD/<file>.csv``)."""
    return [path for path in data_files(root) if path.parts[-5] == designation]


def read_designation(root: Path, designation: str) -> Rows:
    """Every row of a designation, after checking each file has the expected header."""
    rows: Rows = []
    for path in designation_files(root, designation):
        header, file_rows = read_rows(path)
        assert header == HEADERS[designation], path
        rows.extend(file_rows)
    return rows


def join_keys(rows: Rows) -> list[tuple[str, str]]:
    """What ties an input row to its prediction."""
    return [(row["$aml_dc_correlation_id"], row["$row_index"]) for row in rows]


def run_demo(cwd: Path, *options: str) -> tuple[datetime, subprocess.CompletedProcess[str], datetime]:
    """Run ``examples/demo.py`` with ``options`` to success; the UTC times around it, and what it printed."""
    start = datetime.now(timezone.utc)
    completed = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "demo.py"),
            *options,
            *("--requests", str(DEMO_REQUESTS), "--seed", str(DEMO_SEED)),
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    end = datetime.now(timezone.utc)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return start, completed, end


def test_demo_runs_end_to_end(tmp_path: Path, examples: Callable[[str], ModuleType]) -> None:
    out = tmp_path / "out"
    start, completed, end = run_demo(tmp_path, "--out", str(out))

    calls = examples("demo").plan(DEMO_REQUESTS, DEMO_SEED)
    sent = sum(len(call.rows) for call in calls)
    sent_with_id = sum(len(call.rows) for call in calls if call.request_id)
    assert f"join: {sent}/{sent} input rows found their prediction" in completed.stdout

    rows: dict[str, Rows] = {}
    for designation in HEADERS:
        promised = {
            partition_dir(out, MODEL, designation, identity=DEFAULT_IDENTITY, day=day) / "data.csv"
            for day in (start, end)
        }
        files = designation_files(out, designation)
        assert files, designation
        assert set(files) <= promised
        rows[designation] = read_designation(out, designation)
        assert len(rows[designation]) == sent, designation

    inputs, predictions = rows["inputs"], rows["predictions"]
    assert len(set(join_keys(inputs))) == sent
    assert set(join_keys(inputs)) <= set(join_keys(predictions))
    assert sum(row["$aml_request_id"].startswith("demo-") for row in inputs) == sent_with_id
    assert all(row["$aml_request_id"] for row in inputs)
    assert {row["species"] for row in predictions} <= {"setosa", "versicolor", "virginica"}


@pytest.mark.azurite
def test_demo_runs_against_azurite(tmp_path: Path, examples: Callable[[str], ModuleType]) -> None:
    start, completed, end = run_demo(tmp_path, "--azurite", "--out", str(tmp_path))
    output = completed.stdout

    sent = sum(len(call.rows) for call in examples("demo").plan(DEMO_REQUESTS, DEMO_SEED))
    listed = re.findall(r"^  (\S+\.csv)  \((\d+) bytes\)$", output, flags=re.MULTILINE)
    assert len(listed) == 2, output
    for designation in HEADERS:
        promised = {
            f"{'/'.join(DEFAULT_IDENTITY)}/{MODEL}/1/{designation}/{day:%Y}/{day:%m}/{day:%d}/data.csv"
            for day in (start, end)
        }
        assert sum(name in promised for name, _ in listed) == 1, output
        assert f"{designation} ({sent} rows added by this run)" in output
    assert f"join: {sent}/{sent} input rows found their prediction" in output
    assert "demo OK" in output
    # The emulator's well-known key is printed once, in the commands for later, and nowhere else.
    results, hint = output.split("To look at the container yourself:")
    assert "AccountKey=" in hint
    assert "AccountKey=" not in results + completed.stderr
    assert (tmp_path / "azurite" / "__blobstorage__").is_dir()


def _score_in_request(run: Callable[[str], Any], payload: str, request_id: str) -> Any:
    """Call ``run`` in a fresh context with a request id, as the middleware does per request."""

    def call() -> Any:
        with otel_modeldata.request_id_scope(request_id):
            return run(payload)

    return contextvars.copy_context().run(call)


def _comparable(rows: Rows, prefix: str) -> dict[str, list[dict[str, str]]]:
    """Rows of the calls whose request id starts with ``prefix``, by call, without per-call ids."""
    by_call: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        if row["$aml_request_id"].startswith(prefix):
            call = row["$aml_request_id"].removeprefix(prefix)
            kept = {k: v for k, v in row.items() if k not in PER_CALL_COLUMNS}
            by_call.setdefault(call, []).append(kept)
    return by_call


def test_classic_and_decorated_scripts_write_the_same_rows(
    tmp_path: Path, examples: Callable[[str], ModuleType]
) -> None:
    decorated, classic = examples("score"), examples("score_classic")
    handle = otel_modeldata.configure(local_dir=str(tmp_path))
    decorated.init()
    classic.init()
    iris = load_iris().data
    payloads = [
        json.dumps({"data": iris[0:1].tolist()}),
        json.dumps({"data": iris[45:55].tolist()}),
        json.dumps({"data": iris[[3, 77, 149]].tolist()}),
        json.dumps({"data": iris[120].tolist()}),
    ]

    returned = {
        name: [_score_in_request(module.run, p, f"{name}-{i}") for i, p in enumerate(payloads)]
        for name, module in (("decorated", decorated), ("classic", classic))
    }
    assert handle.force_flush()

    assert returned["decorated"] == returned["classic"]
    for designation in HEADERS:
        assert len(designation_files(tmp_path, designation)) == 1, "one header for both scripts"
        rows = read_designation(tmp_path, designation)
        by_script = {name: _comparable(rows, f"{name}-") for name in returned}
        assert by_script["decorated"] == by_script["classic"]
        assert sum(map(len, by_script["classic"].values())) == 1 + 10 + 3 + 1
    inputs, predictions = read_designation(tmp_path, "inputs"), read_designation(tmp_path, "predictions")
    assert sorted(join_keys(inputs)) == sorted(join_keys(predictions))
    species = [row["species"] for row in predictions if row["$aml_request_id"] == "classic-1"]
    assert species == returned["classic"][1]


def test_service_echoes_the_caller_request_id_and_records_it(tmp_path: Path, app: Flask) -> None:
    client = app.test_client()
    given = client.post(
        "/score", data=json.dumps({"data": [[5.1, 3.5, 1.4, 0.2]]}), headers={"x-request-id": "caller-42"}
    )
    assert given.status_code == 200
    assert given.get_json() == ["setosa"]
    assert given.headers["x-request-id"] == "caller-42"

    generated = client.post("/score", data=json.dumps({"data": [[6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]}))
    assert generated.status_code == 200
    request_id = generated.headers["x-request-id"]
    assert request_id
    assert request_id != "caller-42"

    assert app.extensions["otel_modeldata"].force_flush()
    for designation in HEADERS:
        rows = read_designation(tmp_path, designation)
        assert [row["$aml_request_id"] for row in rows] == ["caller-42", request_id, request_id]


def test_service_health_and_bad_input(app: Flask) -> None:
    client = app.test_client()
    health = client.get("/health", headers={"x-request-id": "probe-1"})
    assert health.status_code == 200
    assert health.get_json() == {"status": "ok"}
    assert health.headers["x-request-id"] == "probe-1"

    bad = client.post("/score", data="not json")
    assert bad.status_code == 400
    assert "error" in bad.get_json()
    assert bad.headers["x-request-id"]
