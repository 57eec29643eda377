"""What a drift check found: per-feature named results, the dataset verdict, the per-day series."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pandas as pd

from .baseline import FeatureBaseline
from .drift_stats import ChisquareResult, GridHistogram, KstestResult

#: Default test per type and its threshold: drift when the statistic is at or above it. Both are
#: Evidently's defaults for references over 1,000 rows and Azure ML model monitoring's defaults.
NUMERIC_METHOD = "wasserstein_normed"
CATEGORICAL_METHOD = "jensenshannon"
DEFAULT_THRESHOLD = 0.1


class FeatureDrift(NamedTuple):
    """One feature's drift, shaped like scipy's results: ``statistic`` is the default test's.

    ``pvalue`` is the Kolmogorov-Smirnov (numeric) or chi-square (categorical) p-value, reported
    beside the default test; with many rows it is near 0 for any difference, so it does not decide.
    """

    feature: str
    kind: str
    method: str
    statistic: float
    threshold: float
    drifted: bool
    pvalue: float
    values: int
    missing: int
    baseline_values: int
    baseline_missing: int
    psi: float | None = None
    ks: KstestResult | None = None
    wasserstein: float | None = None
    chisquare: ChisquareResult | None = None
    jensenshannon: float | None = None
    linf: float | None = None
    new_categories: tuple[tuple[str, int], ...] = ()

    @property
    def score(self) -> float:
        """Statistic over threshold: what the report sorts by (NaN last)."""
        ratio = self.statistic / self.threshold if self.threshold else math.inf
        return -math.inf if math.isnan(ratio) else ratio


@dataclass
class Distributions:
    """Baseline and current distribution of one feature, kept for the report's plots."""

    baseline: FeatureBaseline
    current: GridHistogram | dict[str, int]


@dataclass
class DriftResult:
    """Per-feature drift, the dataset verdict (``drifted``: any feature drifted) and the daily series."""

    features: tuple[FeatureDrift, ...]
    daily: pd.DataFrame
    rows: int
    distributions: Mapping[str, Distributions] = field(default_factory=dict, repr=False)

    rule = "drift when any feature's default statistic is at or above its threshold"

    @property
    def drifted(self) -> bool:
        return any(f.drifted for f in self.features)

    @property
    def drifted_features(self) -> list[str]:
        return [f.feature for f in self.ranked() if f.drifted]

    def ranked(self) -> list[FeatureDrift]:
        """Features sorted by drift, the most drifted first."""
        return sorted(self.features, key=lambda f: f.score, reverse=True)

    def __getitem__(self, feature: str) -> FeatureDrift:
        for f in self.features:
            if f.feature == feature:
                return f
        raise KeyError(feature)

    def to_frame(self) -> pd.DataFrame:
        """One row per feature, most drifted first, with every statistic as a flat column."""
        rows = []
        for f in self.ranked():
            rows.append(
                {
                    "feature": f.feature,
                    "kind": f.kind,
                    "method": f.method,
                    "statistic": f.statistic,
                    "threshold": f.threshold,
                    "drifted": f.drifted,
                    "pvalue": f.pvalue,
                    "psi": f.psi,
                    "ks_statistic": f.ks.statistic if f.ks else None,
                    "wasserstein": f.wasserstein,
                    "chisquare": f.chisquare.statistic if f.chisquare else None,
                    "jensenshannon": f.jensenshannon,
                    "linf": f.linf,
                    "new_categories": ", ".join(c for c, _ in f.new_categories),
                    "values": f.values,
                    "missing": f.missing,
                    "baseline_values": f.baseline_values,
                    "baseline_missing": f.baseline_missing,
                }
            )
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        features = []
        for f in self.ranked():
            d = f._asdict()
            d["ks"] = f.ks._asdict() if f.ks else None
            d["chisquare"] = f.chisquare._asdict() if f.chisquare else None
            d["new_categories"] = [{"category": c, "count": n} for c, n in f.new_categories]
            features.append({k: _plain(v) for k, v in d.items()})
        daily = self.daily.assign(day=self.daily["day"].astype(str)) if len(self.daily) else self.daily
        return {
            "drifted": self.drifted,
            "rule": self.rule,
            "rows": self.rows,
            "drifted_features": self.drifted_features,
            "features": features,
            "daily": [{k: _plain(v) for k, v in row.items()} for row in daily.to_dict("records")],
        }

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """The result as JSON (NaN and infinity as null), also written to ``path`` if given."""
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            with open(path, "w", encoding="utf-8") as out:
                out.write(text)
        return text

    def to_html(self, path: str | os.PathLike[str]) -> None:
        """A self-contained report (plots inlined) that opens offline."""
        from .report import write_html

        write_html(self, path)

    def to_png(self, path: str | os.PathLike[str]) -> None:
        """One image: every feature's baseline and current distribution, drifted ones titled in red."""
        from .report import write_png

        write_png(self, path)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _plain(value.item())
    return value
