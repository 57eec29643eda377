"""``drift()``: compare current data with a baseline, streaming it chunk by chunk (a day at a time).

The current data only ever lives in fixed-size state: a histogram on the baseline's grid per
numeric feature, a count per category per categorical one, both per day. So memory depends on
the number of features, days and categories, never on the number of rows.
"""

from __future__ import annotations

import importlib
import math
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime, timedelta
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from .baseline import (
    Baseline,
    CategoricalBaseline,
    NumericBaseline,
    ReadArguments,
    category_counts,
)
from .drift_stats import GridHistogram, KstestResult, chisquare, jensenshannon, ks, linf, psi, wasserstein
from .parse import BLOCK_SIZE
from .result import (
    CATEGORICAL_METHOD,
    DEFAULT_THRESHOLD,
    NUMERIC_METHOD,
    Distributions,
    DriftResult,
    FeatureDrift,
)

Current: TypeAlias = pd.DataFrame | ReadArguments | Iterable[pd.DataFrame]
Threshold: TypeAlias = float | Mapping[str, float] | None
#: How many new categories a result lists (the most frequent first).
MAX_NEW_CATEGORIES = 20

State: TypeAlias = dict[str, GridHistogram | Counter[str]]


def drift(
    baseline: Baseline | str | os.PathLike[str], current: Current, *, threshold: Threshold = None
) -> DriftResult:
    """Compare ``current`` with ``baseline`` feature by feature, over all rows and day by day.

    ``current`` is a DataFrame, an iterable of DataFrames (chunks), or the arguments of
    ``analysis.read`` as a dict, which is read one day at a time when it has ``start`` and
    ``end``. ``threshold`` replaces the default 0.1 for every feature, or per feature name
    when a mapping. Rows are grouped by ``$day`` when the data has that column.
    """
    if not isinstance(baseline, Baseline):
        baseline = Baseline.load(baseline)
    limits = _thresholds(baseline, threshold)
    days: dict[date | None, State] = {}
    seen: set[str] = set()
    rows = 0
    for chunk in _chunks(baseline, current):
        rows += len(chunk)
        seen.update(c for c in baseline.features if c in chunk.columns)
        for day, part in _by_day(chunk):
            _add(baseline, days.setdefault(day, _empty(baseline)), part)
            del part
        del chunk  # before the next chunk is made: one chunk in memory at a time
    absent = sorted(set(baseline.features) - seen)
    if absent and not rows:
        raise ValueError(f"the current data has no rows{_where(current)}")
    if absent:
        raise ValueError(f"the current data lacks the baseline's features {absent}")
    total = _empty(baseline)
    for state in days.values():
        _merge(total, state)
    features = tuple(_compare(baseline, name, total[name], limits[name]) for name in baseline.features)
    daily = [
        {
            "day": day,
            "feature": f.feature,
            "statistic": f.statistic,
            "threshold": f.threshold,
            "drifted": f.drifted,
            "values": f.values,
        }
        for day, state in sorted(days.items(), key=lambda item: str(item[0]))
        if day is not None
        for f in (
            _compare(baseline, name, state[name], limits[name], daily=True) for name in baseline.features
        )
    ]
    columns = ["day", "feature", "statistic", "threshold", "drifted", "values"]
    rows = max((f.values + f.missing for f in features), default=0)
    distributions = {
        name: Distributions(baseline.features[name], _plain_state(total[name])) for name in total
    }
    return DriftResult(features, pd.DataFrame(daily, columns=columns), rows, distributions)


def _thresholds(baseline: Baseline, threshold: Threshold) -> dict[str, float]:
    if threshold is None or isinstance(threshold, (int, float)):
        value = DEFAULT_THRESHOLD if threshold is None else float(threshold)
        limits = dict.fromkeys(baseline.features, value)
    else:
        unknown = set(threshold) - set(baseline.features)
        if unknown:
            raise ValueError(f"threshold names features the baseline lacks: {sorted(unknown)}")
        limits = {name: float(threshold.get(name, DEFAULT_THRESHOLD)) for name in baseline.features}
    # Every statistic is 0 or more: a negative threshold would call every feature drifted.
    wrong = {name: value for name, value in limits.items() if not value >= 0}
    if wrong:
        raise ValueError(f"a threshold must be 0 or more, got {wrong}")
    return limits


def _where(current: Current) -> str:
    """Where read arguments found nothing, for the message of an empty current."""
    if not isinstance(current, Mapping):
        return ""
    chosen = ", ".join(
        f"{k}={current[k]!r}" for k in ("source", "model", "version", "start", "end") if k in current
    )
    return f" (nothing collected for {chosen})"


def _chunks(baseline: Baseline, current: Current) -> Iterator[pd.DataFrame]:
    if isinstance(current, pd.DataFrame):
        yield current
    elif isinstance(current, Mapping):
        yield from _read_by_day(baseline, current)
    else:
        yield from current


def _read_by_day(baseline: Baseline, arguments: ReadArguments) -> Iterator[pd.DataFrame]:
    """``analysis.read`` once per day of ``start``..``end``, keeping the rows of that ``$day`` only,
    so it does not matter whether ``read`` takes ``end`` as inclusive; one read without them.

    Each read streams blocks of :data:`~.parse.BLOCK_SIZE` bytes, the features typed as the baseline
    has them, so memory does not grow with the rows of a day."""
    arguments = dict(arguments)
    # ``$day`` too: to keep each read's own day, and for the per-day series.
    columns = list(arguments.get("columns") or baseline.features)
    arguments["columns"] = columns if "$day" in columns else [*columns, "$day"]
    arguments.setdefault("types", _types(baseline, columns))
    arguments.setdefault("block_size", BLOCK_SIZE)
    start, end = arguments.pop("start", None), arguments.pop("end", None)
    if start is None or end is None:
        yield from _frames(_read({**arguments, "start": start, "end": end}))
        return
    as_dates = not isinstance(start, datetime) and not isinstance(end, datetime) and _is_date(start, end)
    low, high = pd.Timestamp(start), pd.Timestamp(end)
    for day in pd.date_range(low.normalize(), high.normalize(), freq="D"):
        first, last = max(low, day), min(high, day + timedelta(days=1))
        # ``read`` includes ``end``: a day's read of dates is that day alone, not the next one too.
        window = (day.date(), day.date()) if as_dates else (first.to_pydatetime(), last.to_pydatetime())
        for frame in _frames(_read({**arguments, "start": window[0], "end": window[1]})):
            if "$day" in frame.columns and len(frame):
                keep = pd.to_datetime(frame["$day"]).dt.normalize() == day
                if not keep.all():
                    frame = frame[keep]
            yield frame


def _types(baseline: Baseline, columns: Iterable[str]) -> dict[str, str]:
    """The read types of the baseline's features: numbers as floats (an integer column whose later
    values have fractions is no problem), categories as text."""
    features = baseline.features
    return {
        name: "float64" if isinstance(features[name], NumericBaseline) else "string"
        for name in columns
        if name in features
    }


def _read(arguments: ReadArguments) -> pd.DataFrame | Iterable[pd.DataFrame]:
    """``otel_modeldata.analysis.read(**arguments)``: a DataFrame, or its blocks."""
    analysis = importlib.import_module("otel_modeldata.analysis")
    got: pd.DataFrame | Iterable[pd.DataFrame] = analysis.read(**arguments)
    return got


def _frames(got: pd.DataFrame | Iterable[pd.DataFrame]) -> Iterable[pd.DataFrame]:
    return [got] if isinstance(got, pd.DataFrame) else got


def _is_date(*values: Any) -> bool:
    """Whether every value names a day without a time (a ``date`` or ``"2026-11-30"``)."""
    return all(isinstance(v, date) or (isinstance(v, str) and len(v.strip()) == 10) for v in values)


def _by_day(frame: pd.DataFrame) -> Iterator[tuple[date | None, pd.DataFrame]]:
    if "$day" not in frame.columns:
        yield None, frame
        return
    keys = pd.to_datetime(frame["$day"]).dt.normalize()
    if len(frame) and keys.min() == keys.max():  # a chunk of one day (as read by day): no copy
        yield keys.iloc[0].date(), frame
        return
    for day, part in frame.groupby(keys, sort=False):
        yield day.date(), part


def _empty(baseline: Baseline) -> State:
    return {
        name: GridHistogram.empty(f.histogram.grid) if isinstance(f, NumericBaseline) else Counter()
        for name, f in baseline.features.items()
    }


def _add(baseline: Baseline, state: State, frame: pd.DataFrame) -> None:
    for name in baseline.features:
        if name not in frame.columns:
            continue
        target = state[name]
        column = frame[name]
        if isinstance(target, GridHistogram):
            target.add(pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan))
        else:
            counts, missing = category_counts(column)
            target.update(counts)
            target["\0missing"] += missing


def _merge(total: State, state: State) -> None:
    for name, part in state.items():
        target = total[name]
        if isinstance(target, GridHistogram) and isinstance(part, GridHistogram):
            target.merge(part)
        elif isinstance(target, Counter) and isinstance(part, Counter):
            target.update(part)


def _plain_state(state: GridHistogram | Counter[str]) -> GridHistogram | dict[str, int]:
    if isinstance(state, GridHistogram):
        return state
    return {k: v for k, v in state.items() if k != "\0missing"}


def _compare(
    baseline: Baseline, name: str, state: GridHistogram | Counter[str], limit: float, *, daily: bool = False
) -> FeatureDrift:
    """The feature's statistics; for a day of the daily series, the default test's only."""
    feature = baseline.features[name]
    if isinstance(feature, NumericBaseline) and isinstance(state, GridHistogram):
        return _numeric(feature, state, limit, daily)
    if isinstance(feature, CategoricalBaseline) and isinstance(state, Counter):
        return _categorical(feature, state, limit)
    raise TypeError(f"feature {name!r}: state does not match the baseline")


def _numeric(b: NumericBaseline, cur: GridHistogram, limit: float, daily: bool) -> FeatureDrift:
    ref = b.histogram
    distance = wasserstein(ref, cur)
    if b.std > 0 or math.isnan(distance):
        normed = distance / b.std if b.std > 0 else distance
    else:
        normed = 0.0 if distance == 0 else math.inf
    # scipy's exact Kolmogorov distribution takes ~15 ms per p-value: not for every day.
    test = KstestResult(float("nan"), float("nan")) if daily else ks(ref, cur)
    return FeatureDrift(
        feature=b.name,
        kind="numeric",
        method=NUMERIC_METHOD,
        statistic=normed,
        threshold=limit,
        drifted=bool(normed >= limit),
        pvalue=test.pvalue,
        values=cur.count,
        missing=cur.missing,
        baseline_values=ref.count,
        baseline_missing=ref.missing,
        psi=psi(ref.coarse_counts(b.psi_edges), cur.coarse_counts(b.psi_edges)),
        ks=test,
        wasserstein=distance,
    )


def _categorical(b: CategoricalBaseline, counts: Counter[str], limit: float) -> FeatureDrift:
    missing = counts.get("\0missing", 0)
    observed = {k: v for k, v in counts.items() if k != "\0missing"}
    names = list(b.categories)
    listed = sum(observed.get(n, 0) for n in names)
    total = sum(observed.values())
    ref = np.array([b.categories[n] for n in names] + [b.other], dtype=np.float64)
    cur = np.array([observed.get(n, 0) for n in names] + [total - listed], dtype=np.float64)
    new = sorted(((c, n) for c, n in observed.items() if c not in b.categories), key=lambda cn: -cn[1])
    test = chisquare(cur, ref)
    distance = jensenshannon(ref, cur)
    return FeatureDrift(
        feature=b.name,
        kind="categorical",
        method=CATEGORICAL_METHOD,
        statistic=distance,
        threshold=limit,
        drifted=bool(distance >= limit),
        pvalue=test.pvalue,
        values=total,
        missing=missing,
        baseline_values=b.count,
        baseline_missing=b.missing,
        chisquare=test,
        jensenshannon=distance,
        linf=linf(ref, cur),
        new_categories=tuple(new[:MAX_NEW_CATEGORIES]),
    )
