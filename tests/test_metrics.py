"""The counters as OpenTelemetry metrics, read by the application's own MeterProvider."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from otel_modeldata.metrics import DESIGNATION, MODEL_NAME, REASON, instrument_name

APP = Path(__file__).with_name("_metrics_app.py")
Points = dict[tuple[str, str, str], int]


@pytest.fixture(scope="module", params=["first", "late"])
def app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What ``_metrics_app.py`` printed, its MeterProvider set before collecting or after the first rows."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "APPLICATIONINSIGHTS_"))}
    out = tmp_path_factory.mktemp("metrics") / "collected"
    done = subprocess.run(
        [sys.executable, str(APP), str(out), request.param],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    printed: dict[str, Any] = json.loads(done.stdout)
    return printed


def points(app: dict[str, Any], name: str) -> Points:
    """The values of metric ``name`` by (model, designation, reason)."""
    return {
        (attrs.get(MODEL_NAME, ""), attrs.get(DESIGNATION, ""), attrs.get(REASON, "")): value
        for attrs, value in app["metrics"][name]["points"]
    }


def by_reason(found: Points) -> dict[str, int]:
    totals: dict[str, int] = {}
    for (_, _, reason), value in found.items():
        totals[reason] = totals.get(reason, 0) + value
    return totals


def test_rows_are_counted_per_model_and_designation(app: dict[str, Any]) -> None:
    assert points(app, "modeldata.rows.accepted") == {
        ("alpha", "inputs", ""): 3,
        ("alpha", "predictions", ""): 3,
        ("beta", "inputs", ""): 4,
        ("gamma", "labels", ""): 2,
    }
    assert points(app, "modeldata.rows.written") == {
        ("alpha", "inputs", ""): 3,
        ("alpha", "predictions", ""): 3,
        ("beta", "inputs", ""): 3,
    }
    assert points(app, "modeldata.rows.failed") == {("gamma", "labels", ""): 2}
    assert points(app, "modeldata.rows.dropped") == {
        ("beta", "inputs", "wrong_feature_count"): 1,
        ("beta", "inputs", "unsupported_input"): 1,
    }
    assert points(app, "modeldata.rows.adjusted") == {("beta", "inputs", "missing_feature"): 2}
    assert points(app, "modeldata.calls.not_collected") == {("", "", "shut_down"): 1}


def test_metrics_add_up_to_stats(app: dict[str, Any]) -> None:
    stats = app["stats"]
    for counter in ("rows_accepted", "rows_written", "rows_failed"):
        assert sum(points(app, instrument_name(counter)[0]).values()) == stats[counter], counter
    for counter in ("rows_dropped", "rows_adjusted", "calls_not_collected"):
        assert by_reason(points(app, instrument_name(counter)[0])) == stats[counter], counter


def test_every_metric_is_a_cumulative_counter_with_its_unit(app: dict[str, Any]) -> None:
    units = {name: (found["unit"], found["counter"]) for name, found in app["metrics"].items()}
    assert units == {
        "modeldata.rows.accepted": ("{row}", True),
        "modeldata.rows.written": ("{row}", True),
        "modeldata.rows.failed": ("{row}", True),
        "modeldata.rows.dropped": ("{row}", True),
        "modeldata.rows.adjusted": ("{row}", True),
        "modeldata.rows.spooled": ("{row}", True),
        "modeldata.calls.not_collected": ("{call}", True),
    }


def test_a_counter_new_to_stats_is_a_metric_too(app: dict[str, Any]) -> None:
    """``STATS.add("rows_spooled", ...)``, a counter no code here knows, is published as it is counted."""
    assert points(app, "modeldata.rows.spooled") == {("beta", "inputs", ""): 3}


@pytest.mark.parametrize(
    ("counter", "expected"),
    [
        ("rows_written", ("modeldata.rows.written", "{row}")),
        ("rows_sampled_out", ("modeldata.rows.sampled_out", "{row}")),
        ("calls_not_collected", ("modeldata.calls.not_collected", "{call}")),
        ("spool_bytes", ("modeldata.spool.bytes", "By")),
        ("retries", ("modeldata.retries", "1")),
    ],
)
def test_instrument_names_follow_the_counter(counter: str, expected: tuple[str, str]) -> None:
    assert instrument_name(counter) == expected
