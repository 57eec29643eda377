"""The bad-input catalogue of docs/bad-input.md: for each awkward value, what is read back from the
file or counted as dropped, and that run() returned its own result. Keep the two in step."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import otel_modeldata
from otel_modeldata import collect_io

from csvfiles import LocalStore


class Unprintable:
    """A cell whose ``__str__`` raises."""

    def __str__(self) -> str:
        raise RuntimeError("no text for you")


def _generator() -> Iterator[int]:
    yield 1


@dataclass
class Case:
    data: Any
    written: list[tuple[str, str]]
    dropped: dict[str, int] = field(default_factory=dict)
    adjusted: dict[str, int] = field(default_factory=dict)


NS = np.array([["2024-01-02T03:04:05.123456789", "NaT"]], dtype="datetime64[ns]")
PARIS = pd.to_datetime(["2024-01-02T03:04:05"]).tz_localize("Europe/Paris")

CATALOGUE: dict[str, Case] = {
    "wrong feature count": Case([[1, 2], [1, 2, 3]], [("1", "2")], {"wrong_feature_count": 1}),
    "missing dict key": Case([{"a": 1}], [("1", "")], adjusted={"missing_feature": 1}),
    "extra dict key": Case([{"a": 1, "b": 2, "c": 3}], [("1", "2")], adjusted={"extra_feature": 1}),
    "None": Case([[None, 1]], [("", "1")]),
    "NaN and infinities": Case([[math.nan, math.inf], [-math.inf, 0.0]], [("NaN", "Inf"), ("-Inf", "0.0")]),
    "nested list in a cell": Case([[[1, 2], 3], [4, 5]], [("4", "5")], {"nested_value": 1}),
    "nested dict in a cell": Case([[{"k": 1}, 3], [4, 5]], [("4", "5")], {"nested_value": 1}),
    "bytes (JSON)": Case(b'{"data": [[1, 2]]}', [("1", "2")]),
    "bytes in a cell": Case([[b"x", 1], [2, 3]], [("2", "3")], {"nested_value": 1}),
    "non-UTF-8 bytes": Case(b"\xff\xfe\x00", [], {"unsupported_input": 1}),
    "string over the cell bound": Case([["x" * 65_537, 1], ["ok", 2]], [("ok", "2")], {"cell_too_large": 1}),
    "numpy scalars": Case(
        [[np.float32(0.5), np.int64(3)], [np.float64(0.1), np.bool_(True)]],
        [
            ("0.5", "3"),
            ("0.1", "True"),
        ],
    ),
    "numpy datetime64 scalar": Case(
        [[np.datetime64("2024-01-02T03:04:05"), 1]], [("2024-01-02T03:04:05", "1")]
    ),
    "numpy datetime64[ns] array": Case(NS, [("2024-01-02 03:04:05.123456", "")]),
    "nanosecond times in a list": Case(
        [[pd.Timestamp("2024-01-02 03:04:05.123456789"), np.datetime64("2024-01-02T03:04:05.123456789")]],
        [("2024-01-02 03:04:05.123456", "2024-01-02 03:04:05.123456")],
    ),
    "pandas categorical": Case(
        pd.DataFrame({"a": pd.Categorical(["x", "y"]), "b": [1, 2]}), [("x", "1"), ("y", "2")]
    ),
    "nullable Int64 with NA": Case(
        pd.DataFrame({"a": pd.array([1, None], dtype="Int64"), "b": [1.5, 2.5]}), [("1", "1.5"), ("", "2.5")]
    ),
    "timestamps with a time zone": Case(
        pd.DataFrame({"a": PARIS, "b": [1]}), [("2024-01-02 03:04:05+01:00", "1")]
    ),
    "NaT in a datetime column": Case(
        pd.DataFrame({"a": pd.to_datetime(["2024-01-02", None]), "b": [1, 2]}),
        [("2024-01-02 00:00:00", "1"), ("", "2")],
    ),
    "object whose __str__ raises": Case([[Unprintable(), 1], [2, 3]], [], {"unencodable_value": 2}),
    "int over 4300 digits": Case([[10**5000, 1], [2, 3]], [], {"unencodable_value": 2}),
    "generator as the input": Case((x for x in [1, 2]), [], {"unsupported_input": 1}),
    "generator in a cell": Case([[_generator(), 1], [2, 3]], [("2", "3")], {"nested_value": 1}),
    "empty batch": Case([], []),
}


@pytest.mark.parametrize("case", list(CATALOGUE.values()), ids=list(CATALOGUE))
def test_catalogue(collector: otel_modeldata.ModelDataHandle, local_root: Path, case: Case) -> None:
    @collect_io("catalogue", feature_names=["a", "b"])
    def run(data: object) -> str:
        return "own result"

    assert run(case.data) == "own result"
    assert collector.force_flush()
    store = LocalStore(local_root)
    written: list[tuple[str, str]] = []
    if store.exists("catalogue", "inputs"):
        _, rows = store.read_rows("catalogue", "inputs")
        written = [(r["a"], r["b"]) for r in rows]
    assert written == case.written
    stats = otel_modeldata.stats()
    assert stats["rows_dropped"] == case.dropped
    assert stats["rows_adjusted"] == case.adjusted
    assert stats["rows_unaccounted"] == 0
    _, predictions = store.read_rows("catalogue", "predictions")
    assert [r["prediction_0"] for r in predictions] == ["own result"]


def test_100000_rows_in_one_call_are_all_written(
    collector: otel_modeldata.ModelDataHandle, local_root: Path
) -> None:
    @collect_io("bulk", feature_names=["a", "b"])
    def run(data: object) -> str:
        return "own result"

    assert run([[i, i * 2] for i in range(100_000)]) == "own result"
    assert collector.force_flush()
    frame = LocalStore(local_root).read_frame("bulk", "inputs")
    assert len(frame) == 100_000
    assert (frame["b"] == frame["a"] * 2).all()
    assert list(frame["$row_index"]) == list(range(100_000))
    assert frame["$aml_dc_correlation_id"].nunique() == 1
    # The default queue (100,000 rows) is then full until the exporter takes the value, so the
    # call's one prediction row may be refused: counted, never lost silently.
    stats = otel_modeldata.stats()
    assert stats["rows_dropped"] in ({}, {"queue_full": 1})
    assert stats["rows_unaccounted"] == 0
