"""Rows the real collector writes on chosen days, for the analysis tests (read, join, CLI).

Model ``shop`` (version 1, and version 2 on the last day), written through ``@collect_io``
and ``ModelDataCollector`` with the clock of the request path moved to each day:

- 2026-11-01: awkward values (NaN, infinities, -0.0, 64-bit integers, None next to "", text the
  formula guard changes, a quoted line break) in two calls, and a call that fails (inputs, no
  prediction).
- 2026-11-02: a schema change: records whose keys come in another order, then a new key
  (three files in the day's folder).
- 2026-11-03: column ``x`` empty in every row, and version 2's first call.
- 2026-11-04: labels for the first day's calls (within the window); 2026-12-20: one outside it.
"""

from __future__ import annotations

import math
import types
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest

import otel_modeldata
from otel_modeldata import ModelDataCollector, collect_io

from csvfiles import LocalStore, Store

INF, NAN = math.inf, math.nan
DAY1, DAY2, DAY3, LABEL_DAY, LATE_DAY = (
    date(2026, 11, 1),
    date(2026, 11, 2),
    date(2026, 11, 3),
    date(2026, 11, 4),
    date(2026, 12, 20),
)
FEATURES = ["x", "n", "text", "maybe"]
#: Day 1's two calls: each row as written, in call order.
CALLS: list[list[list[Any]]] = [
    [[1.5, 2**63 - 1, "=1+1", None], [NAN, -(2**63), "", "x"]],
    [[INF, 0, "'-5", ""], [-0.0, 7, "line\r\nbreak", None], [-INF, 42, "nan", "NULL"]],
]
#: What the text column holds once read: the guard undone.
TEXTS = ["=1+1", "", "'-5", "line\r\nbreak", "nan"]
FAILING = [[9.5, 9, "boom", "y"]]
#: Day 2: keys in another order, then a new key (the sibling files of a schema change).
DRIFT = [[{"x": 1.0, "n": 1}], [{"n": 2, "x": 2.0}], [{"x": 3.0, "n": 3, "z": "new"}]]


def score(rows: list[list[Any]]) -> list[float]:
    """The prediction of a row: its ``n`` halved (or -1 for a dict row's)."""
    if any(row == FAILING[0] for row in rows):
        raise RuntimeError("the model failed")
    return [row[1] / 2 if isinstance(row, list) else -1.0 for row in rows]


shop_v1 = collect_io("shop", model_version=1, feature_names=FEATURES, prediction_names=["score"])(score)
shop_records = collect_io("shop", model_version=1, prediction_names=["score"])(
    lambda records: [r["n"] / 2 for r in records]
)
shop_v2 = collect_io("shop", model_version=2, feature_names=FEATURES, prediction_names=["score"])(score)


@contextmanager
def on_day(env: pytest.MonkeyPatch, day: date) -> Iterator[None]:
    """Calls made inside are timed at noon UTC of ``day`` (the request path's clock only)."""
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=timezone.utc)
    env.setattr(
        "otel_modeldata.collect.time", types.SimpleNamespace(time_ns=lambda: int(noon.timestamp()) * 10**9)
    )
    yield
    env.undo()


def collect_shop(root: Path | Store) -> None:
    """Write the days above into ``root`` (a local root, or any store) with the real collector."""
    with pytest.MonkeyPatch.context() as env:
        env.delenv("OTEL_MODELDATA_LOCAL_DIR", raising=False)
        env.setattr(otel_modeldata.providers, "_stopped", None)
        handle = (root if isinstance(root, Store) else LocalStore(root)).configure()
        try:
            with pytest.MonkeyPatch.context() as clock, on_day(clock, DAY1):
                for rows in CALLS:
                    shop_v1(rows)
                with pytest.raises(RuntimeError):
                    shop_v1(FAILING)
            with pytest.MonkeyPatch.context() as clock, on_day(clock, DAY2):
                for records in DRIFT:
                    shop_records(records)
            with pytest.MonkeyPatch.context() as clock, on_day(clock, DAY3):
                shop_v1([[None, 5, "a", "b"], [None, 6, "c", "d"]])
                shop_v2([[0.5, 1, "v2", "e"]])
            assert handle.force_flush()
            stats = otel_modeldata.stats()
            assert stats["rows_dropped"] == {}, stats
        finally:
            handle.shutdown()


def send_labels(root: Path, labels: list[tuple[date, str, list[Any]]]) -> None:
    """Labels ``(day, correlation id, one label per row of the call)``, sent the classic way.

    One ``collect`` per call, so each label's ``$row_index`` is its row's.
    """
    with pytest.MonkeyPatch.context() as env:
        env.delenv("OTEL_MODELDATA_LOCAL_DIR", raising=False)
        env.setattr(otel_modeldata.providers, "_stopped", None)
        handle = LocalStore(root).configure()
        labeller = ModelDataCollector("shop", designation="labels", feature_names=["label"], model_version=1)
        try:
            for day, correlation_id, values in labels:
                with pytest.MonkeyPatch.context() as clock, on_day(clock, day):
                    labeller.collect([[v] for v in values], {"correlation_id": correlation_id})
            assert handle.force_flush()
        finally:
            handle.shutdown()
