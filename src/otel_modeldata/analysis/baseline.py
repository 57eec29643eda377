"""Training statistics kept in a small JSON file, so drift checks never need the training data again.

A numeric feature keeps its training quantiles at ``GRID_INTERVALS + 1`` evenly spaced levels (the
grid) with the count and sum of the training values between consecutive quantiles. Against that
sketch the Kolmogorov-Smirnov statistic is at most ``1 / GRID_INTERVALS`` (0.005) below the exact
one for continuous data (exact for data whose values are all grid points, such as small integers),
and the Wasserstein distance is within 0.005 baseline standard deviations of the exact one in the
tests (sign changes of the CDF gap inside one interval are what it can miss). PSI uses the training
deciles (10 bins). A categorical feature keeps the frequencies of its ``MAX_CATEGORIES`` most common
values and groups the rest.
"""

from __future__ import annotations

import importlib
import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from .drift_stats import Floats, GridHistogram

GRID_INTERVALS = 200
PSI_BINS = 10
MAX_CATEGORIES = 100
FORMAT = 1

ReadArguments: TypeAlias = Mapping[str, Any]
Data: TypeAlias = pd.DataFrame | str | os.PathLike[str] | ReadArguments


@dataclass
class NumericBaseline:
    """A numeric feature's training sketch: quantile grid, counts and sums between quantiles."""

    name: str
    histogram: GridHistogram
    mean: float
    std: float

    kind = "numeric"

    @property
    def psi_edges(self) -> np.ndarray[Any, np.dtype[np.intp]]:
        """Grid indices of the training deciles, which cut the PSI bins."""
        step = (len(self.histogram.grid) - 1) // PSI_BINS
        return np.arange(step, len(self.histogram.grid) - 1, step)[: PSI_BINS - 1]

    def to_dict(self) -> dict[str, Any]:
        h = self.histogram
        return {
            "type": "numeric",
            "count": h.count,
            "missing": h.missing,
            "mean": self.mean,
            "std": self.std,
            "bins": {
                "edges": h.grid[self.psi_edges].tolist(),
                "counts": h.coarse_counts(self.psi_edges).astype(int).tolist(),
            },
            "sketch": {
                "quantiles": h.grid.tolist(),
                "counts": h.counts.astype(int).tolist(),
                "sums": h.sums.tolist(),
            },
        }

    @classmethod
    def from_dict(cls, name: str, d: Mapping[str, Any]) -> NumericBaseline:
        s = d["sketch"]
        h = GridHistogram(
            np.asarray(s["quantiles"], dtype=np.float64),
            np.asarray(s["counts"], dtype=np.float64),
            np.asarray(s["sums"], dtype=np.float64),
            int(d["missing"]),
        )
        return cls(name, h, float(d["mean"]), float(d["std"]))


@dataclass
class CategoricalBaseline:
    """A categorical feature's training frequencies: the most common values, the rest grouped."""

    name: str
    categories: dict[str, int]
    other: int = 0
    other_distinct: int = 0
    missing: int = 0

    kind = "categorical"

    @property
    def count(self) -> int:
        return sum(self.categories.values()) + self.other

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "categorical",
            "count": self.count,
            "missing": self.missing,
            "categories": self.categories,
            "other": {"count": self.other, "distinct": self.other_distinct},
        }

    @classmethod
    def from_dict(cls, name: str, d: Mapping[str, Any]) -> CategoricalBaseline:
        other = d.get("other", {})
        return cls(
            name,
            {str(k): int(v) for k, v in d["categories"].items()},
            int(other.get("count", 0)),
            int(other.get("distinct", 0)),
            int(d["missing"]),
        )


FeatureBaseline: TypeAlias = NumericBaseline | CategoricalBaseline


@dataclass
class Baseline:
    """Per-feature training statistics; ``save``/``load`` a JSON file of a few KB per feature."""

    features: dict[str, FeatureBaseline] = field(default_factory=dict)
    rows: int = 0

    def save(self, path: str | os.PathLike[str]) -> None:
        document = {
            "format": FORMAT,
            "rows": self.rows,
            "features": {name: f.to_dict() for name, f in self.features.items()},
        }
        Path(path).write_text(json.dumps(document, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Baseline:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        if document.get("format") != FORMAT:
            raise ValueError(f"{path} is not a baseline file of format {FORMAT}")
        features: dict[str, FeatureBaseline] = {}
        for name, d in document["features"].items():
            kind = NumericBaseline if d["type"] == "numeric" else CategoricalBaseline
            features[name] = kind.from_dict(name, d)
        return cls(features, int(document["rows"]))


def baseline(data: Data, *, categorical: Iterable[str] | None = None) -> Baseline:
    """Sketch every feature of the training data (columns starting with ``$`` are not features).

    ``data`` is a DataFrame, a CSV or Parquet path, or the arguments of ``analysis.read`` (a
    month of collected inputs, say, for "compare to last month"). Numeric columns are numeric
    features unless named in ``categorical``; every other column is categorical. The data is
    held in memory once: exact quantiles need all of it.
    """
    frame = load_frame(data)
    forced = set(categorical or ())
    unknown = forced - set(frame.columns)
    if unknown:
        raise ValueError(f"categorical names columns the data lacks: {sorted(unknown)}")
    result = Baseline(rows=len(frame))
    for name in feature_columns(frame):
        column = frame[name]
        if name not in forced and is_numeric(column):
            result.features[name] = numeric_baseline(name, column.to_numpy(dtype=np.float64, na_value=np.nan))
        else:
            result.features[name] = categorical_baseline(name, column)
    if not result.features:
        raise ValueError("the data has no feature column")
    return result


def load_frame(data: Data) -> pd.DataFrame:
    """A DataFrame from a DataFrame, a ``.csv``/``.parquet`` path or ``analysis.read`` arguments."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, Mapping):
        return read_frame(data)
    path = Path(data)
    if path.suffix.lower() in {".parquet", ".pq"}:
        return pd.read_parquet(path)
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path)
    raise ValueError(f"{path}: expected a .csv or .parquet file")


def read_frame(arguments: ReadArguments) -> pd.DataFrame:
    """``otel_modeldata.analysis.read(**arguments)``, imported when first needed."""
    analysis = importlib.import_module("otel_modeldata.analysis")
    frame: pd.DataFrame = analysis.read(**arguments)
    return frame


def feature_columns(frame: pd.DataFrame) -> list[str]:
    return [str(c) for c in frame.columns if not str(c).startswith("$")]


def is_numeric(column: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(column)) and not pd.api.types.is_bool_dtype(column)


def numeric_baseline(name: str, values: Floats) -> NumericBaseline:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise ValueError(f"feature {name!r} has no finite value in the baseline data")
    grid = np.quantile(finite, np.linspace(0.0, 1.0, GRID_INTERVALS + 1))
    grid = np.maximum.accumulate(grid)
    histogram = GridHistogram.empty(grid)
    histogram.add(values)
    return NumericBaseline(name, histogram, float(finite.mean()), float(finite.std()))


def category_counts(column: pd.Series) -> tuple[Counter[str], int]:
    """Counts of each category as text, and the number of missing values."""
    missing = int(column.isna().sum())
    counts = column.dropna().astype(str).value_counts(sort=False)
    return Counter({str(k): int(v) for k, v in counts.items()}), missing


def categorical_baseline(name: str, column: pd.Series) -> CategoricalBaseline:
    counts, missing = category_counts(column)
    common = counts.most_common(MAX_CATEGORIES)
    rest = counts.total() - sum(c for _, c in common)
    return CategoricalBaseline(name, dict(common), rest, len(counts) - len(common), missing)
