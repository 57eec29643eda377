"""The classic collector's correlation ends with its request, even on a thread that serves the next one.

Servers reuse threads (gunicorn gthread, waitress, any thread pool) and a thread keeps its
context variables between requests: a correlation started by ``inputs`` must not be handed
to a ``labels`` collect in a later request. Rows are read back from both destinations.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from opentelemetry.sdk.trace import TracerProvider

import otel_modeldata
from _azurite import free_port
from otel_modeldata import ModelDataCollector, RequestIdMiddleware

from csvfiles import Store

WAIT = 30.0
DESIGNATIONS = ("inputs", "predictions", "labels")

inputs_dc = ModelDataCollector("reused", designation="inputs", feature_names=["x"])
prediction_dc = ModelDataCollector("reused", designation="predictions", feature_names=["y"])
labels_dc = ModelDataCollector("reused", designation="labels", feature_names=["label"])


def request_ids(n: int) -> AbstractContextManager[Any]:
    return otel_modeldata.request_id_scope(f"req-{n}")


def traced(n: int) -> AbstractContextManager[Any]:
    return TracerProvider().get_tracer("app").start_as_current_span(f"request-{n}")


def flask_requests(n: int) -> AbstractContextManager[Any]:
    return Flask("app").test_request_context(f"/score/{n}")


RequestScope = Callable[[int], AbstractContextManager[Any]]


@pytest.mark.parametrize(
    "in_request", [request_ids, traced, flask_requests], ids=["request-id", "trace", "flask"]
)
def test_a_later_request_on_the_same_thread_gets_its_own_correlation(
    store_collector: otel_modeldata.ModelDataHandle, store: Store, in_request: RequestScope
) -> None:
    def score() -> tuple[int, dict[str, str], dict[str, str]]:
        with in_request(1):
            context = inputs_dc.collect([[1], [2]])
            return threading.get_ident(), context, prediction_dc.collect([10, 20])

    def label() -> tuple[int, dict[str, str]]:
        with in_request(2):
            return threading.get_ident(), labels_dc.collect([7])

    with ThreadPoolExecutor(max_workers=1) as pool:
        first_thread, scored, predicted = pool.submit(score).result()
        second_thread, labelled = pool.submit(label).result()
    assert first_thread == second_thread, "both requests must run on one reused thread"
    assert predicted["correlation_id"] == scored["correlation_id"]
    assert labelled["correlation_id"] != scored["correlation_id"]

    assert store_collector.force_flush()
    ids = {d: {r["$aml_dc_correlation_id"] for r in store.read_rows("reused", d)[1]} for d in DESIGNATIONS}
    assert ids["inputs"] == ids["predictions"] == {scored["correlation_id"]}
    assert ids["labels"] == {labelled["correlation_id"]}


def test_the_middleware_ends_the_correlation_even_when_a_client_reuses_its_request_id(
    store_collector: otel_modeldata.ModelDataHandle, store: Store
) -> None:
    """Two requests with the same ``x-request-id`` (a client retrying) are still two requests."""
    answers: list[dict[str, str]] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/score":
            answers.append(inputs_dc.collect([[5]]))
        else:
            answers.append(labels_dc.collect([8]))
        start_response("200 OK", [])
        return [b""]

    served = RequestIdMiddleware(app)
    environ = {"HTTP_X_REQUEST_ID": "retried-1"}
    with ThreadPoolExecutor(max_workers=1) as pool:
        for path in ("/score", "/labels"):
            pool.submit(served, {**environ, "PATH_INFO": path}, lambda *args: None).result()
    scored, labelled = answers
    assert labelled["correlation_id"] != scored["correlation_id"]
    assert store_collector.force_flush()
    _, labels = store.read_rows("reused", "labels")
    assert [(r["label"], r["$aml_request_id"], r["$aml_dc_correlation_id"]) for r in labels] == [
        ("8", "retried-1", labelled["correlation_id"])
    ]


def test_without_any_request_the_classic_flow_shares_one_id(
    store_collector: otel_modeldata.ModelDataHandle, store: Store
) -> None:
    """A plain script: no middleware, no tracing, no Flask; inputs then predictions in one call."""

    def run() -> tuple[dict[str, str], dict[str, str]]:
        return inputs_dc.collect([[3]]), prediction_dc.collect([30])

    with ThreadPoolExecutor(max_workers=1) as pool:
        scored, predicted = pool.submit(run).result()
    assert _ids(predicted) == _ids(scored)
    assert store_collector.force_flush()
    _, predictions = store.read_rows("reused", "predictions")
    assert [(r["y"], r["$aml_dc_correlation_id"]) for r in predictions] == [("30", scored["correlation_id"])]


def test_a_span_of_the_scripts_own_does_not_split_one_request(
    store_collector: otel_modeldata.ModelDataHandle, store: Store
) -> None:
    """No middleware and no traced server: the script's own span ends between inputs and predictions."""
    tracer = TracerProvider().get_tracer("script")

    def run() -> tuple[dict[str, str], dict[str, str]]:
        with tracer.start_as_current_span("preprocess"):
            scored = inputs_dc.collect([[4]])
        return scored, prediction_dc.collect([40])

    with ThreadPoolExecutor(max_workers=1) as pool:
        scored, predicted = pool.submit(run).result()
    assert _ids(predicted) == _ids(scored)
    assert store_collector.force_flush()
    _, predictions = store.read_rows("reused", "predictions")
    assert [(r["y"], r["$aml_dc_correlation_id"]) for r in predictions] == [("40", scored["correlation_id"])]


def post(base: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        base + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=WAIT) as response:
        answer: dict[str, Any] = json.load(response)
        return answer


@contextmanager
def gunicorn_gthread(environment: dict[str, str]) -> Iterator[str]:
    """``tests/_classic_service.py`` under gunicorn's gthread worker, one process, one thread."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-k", "gthread", "--threads", "1", "-w", "1"]
    command += ["-b", f"127.0.0.1:{port}", "--chdir", str(Path(__file__).parent), "_classic_service:app"]
    env = {**os.environ, **environment, "OTEL_BLRP_SCHEDULE_DELAY": "50"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(process, base)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(WAIT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_serving(process: subprocess.Popen[bytes], base: str) -> None:
    """Poll ``/health`` until it answers; fail at once if gunicorn exits."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=1):
                return
        except OSError:
            pass
        try:
            code = process.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            continue
        stderr = process.stderr.read().decode() if process.stderr else ""
        pytest.fail(f"gunicorn exited with {code}: {stderr}")
    pytest.fail(f"gunicorn did not answer {base}/health within {WAIT}s")


def test_gunicorn_gthread_does_not_hand_a_correlation_to_the_next_request(store: Store) -> None:
    with gunicorn_gthread(store.environment) as base:
        scored = post(base, "/score", {"data": [[1], [2]]})
        labelled = post(base, "/labels", {"labels": [9]})
        assert post(base, "/flush", {})["flushed"]
    assert scored["thread"] == labelled["thread"], "both requests must be served by one reused thread"
    correlation = scored["inputs"]["correlation_id"]
    assert scored["predictions"]["correlation_id"] == correlation
    assert labelled["labels"]["correlation_id"] != correlation

    identity = ("default",) * 4
    rows = {d: store.read_rows("classic_service", d, identity=identity)[1] for d in DESIGNATIONS}
    assert [(r["y"], r["$aml_dc_correlation_id"]) for r in rows["predictions"]] == [
        ("2", correlation),
        ("4", correlation),
    ]
    assert [(r["label"], r["$aml_dc_correlation_id"]) for r in rows["labels"]] == [
        ("9", labelled["labels"]["correlation_id"])
    ]


def _ids(context: dict[str, str]) -> dict[str, str]:
    """The returned correlation dict without its scoring timestamp (each collect has its own)."""
    return {k: v for k, v in context.items() if k != "$aml_dc_scoring_timestamp"}
