"""The drift statistics: exact ones equal scipy's, sketched ones within the stated tolerance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import spatial, stats

from otel_modeldata import analysis
from otel_modeldata.analysis.baseline import GRID_INTERVALS
from otel_modeldata.analysis.drift_stats import (
    GridHistogram,
    chisquare,
    jensenshannon,
    ks,
    linf,
    psi,
    wasserstein,
)

SAMPLES = {
    "same": (lambda r: r.normal(size=3000), lambda r: r.normal(size=2000)),
    "shifted": (lambda r: r.normal(size=3000), lambda r: r.normal(0.5, 1.0, size=2500)),
    "wider": (lambda r: r.normal(size=3000), lambda r: r.normal(0.0, 2.0, size=2500)),
    "lognormal": (lambda r: r.lognormal(size=3000), lambda r: r.lognormal(0.2, 1.1, size=2500)),
    "integers": (lambda r: r.integers(0, 8, size=3000), lambda r: r.integers(0, 10, size=2500)),
}


def exact_histograms(a: np.ndarray, b: np.ndarray) -> tuple[GridHistogram, GridHistogram]:
    grid = np.unique(np.concatenate([a, b])).astype(np.float64)
    ha, hb = GridHistogram.empty(grid), GridHistogram.empty(grid)
    ha.add(a)
    hb.add(b)
    return ha, hb


@pytest.mark.parametrize("case", SAMPLES)
def test_exact_ks_and_wasserstein_equal_scipy(case: str) -> None:
    """On a grid holding every value, KS (statistic and asymptotic p) and Wasserstein are scipy's."""
    rng = np.random.default_rng(7)
    a, b = SAMPLES[case][0](rng), SAMPLES[case][1](rng)
    ha, hb = exact_histograms(a, b)
    expected = stats.ks_2samp(a, b, method="asymp")
    got = ks(ha, hb)
    assert got.statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert got.pvalue == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)
    assert wasserstein(ha, hb) == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-9)


@pytest.mark.parametrize("case", SAMPLES)
def test_sketched_statistics_within_tolerance(case: str) -> None:
    """Against the saved baseline sketch: KS within 1/GRID_INTERVALS, Wasserstein within 0.005 sd."""
    rng = np.random.default_rng(11)
    a, b = SAMPLES[case][0](rng), SAMPLES[case][1](rng)
    train = pd.DataFrame({"x": a})
    result = analysis.drift(analysis.baseline(train), pd.DataFrame({"x": b}))["x"]
    exact_ks = stats.ks_2samp(a, b).statistic
    assert result.ks is not None
    assert -1e-12 <= exact_ks - result.ks.statistic <= 1 / GRID_INTERVALS + 1e-12
    exact_w = stats.wasserstein_distance(a, b) / a.std()
    assert result.statistic == pytest.approx(exact_w, abs=0.005)


def test_chisquare_jensenshannon_linf_equal_scipy() -> None:
    observed = np.array([120.0, 80.0, 45.0, 5.0])
    freq = np.array([0.4, 0.35, 0.2, 0.05])
    expected = stats.chisquare(observed, freq * observed.sum())
    got = chisquare(observed, freq)
    assert (got.statistic, got.pvalue) == pytest.approx((expected.statistic, expected.pvalue), rel=1e-12)
    assert got.dof == 3
    p, q = freq, observed / observed.sum()
    assert jensenshannon(p, q) == pytest.approx(spatial.distance.jensenshannon(p, q, base=2), rel=1e-12)
    assert jensenshannon(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)
    assert linf(p, q) == pytest.approx(np.max(np.abs(p - q)))


def test_chisquare_new_category_is_infinite() -> None:
    """A count where the baseline expected none cannot be explained: infinite statistic, p-value 0."""
    got = chisquare(np.array([10.0, 10.0, 3.0]), np.array([0.5, 0.5, 0.0]))
    assert got.statistic == np.inf
    assert got.pvalue == 0.0


def test_psi_definition() -> None:
    ref, cur = np.array([10.0, 20.0, 30.0, 40.0]), np.array([25.0, 25.0, 25.0, 0.0])
    p, q = ref / ref.sum(), np.maximum(cur / cur.sum(), 1e-4)
    assert psi(ref, cur) == pytest.approx(np.sum((q - p) * np.log(q / p)))
    assert psi(ref, ref * 3) == 0.0


def test_histogram_streams_like_one_chunk() -> None:
    """Adding chunks gives the same histogram as adding everything at once, NaN and inf as missing."""
    rng = np.random.default_rng(3)
    values = rng.normal(size=1000)
    values[::97] = np.nan
    values[5] = np.inf
    grid = np.quantile(values[np.isfinite(values)], np.linspace(0, 1, 21))
    whole, parts = GridHistogram.empty(grid), GridHistogram.empty(grid)
    whole.add(values)
    for chunk in np.array_split(values, 7):
        parts.add(chunk)
    np.testing.assert_allclose(parts.counts, whole.counts)
    np.testing.assert_allclose(parts.sums, whole.sums)
    assert parts.missing == whole.missing == 12
