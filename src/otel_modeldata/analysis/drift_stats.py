"""Pure drift statistics on histograms over a shared grid, and on category frequencies.

A numeric distribution is held as a :class:`GridHistogram`: counts and sums of the values in
the intervals ``(-inf, g0], (g0, g1], ..., (g_last, inf)`` of a sorted grid. From counts the
CDF is exact at every grid point, and from the sums the integral of the CDF over every interval
is exact too, so the Kolmogorov-Smirnov statistic and the Wasserstein-1 distance computed here
are exact when the grid holds every value of both samples, and otherwise off by at most what a
sign change or a CDF step inside one interval hides (see ``baseline.py`` for the tolerances).
No pandas: numpy and scipy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

#: Proportion put in an empty bin so that PSI stays finite (the usual credit-scoring convention).
PSI_EPSILON = 1e-4

Floats = NDArray[np.float64]


class KstestResult(NamedTuple):
    """Two-sample Kolmogorov-Smirnov statistic and its asymptotic two-sided p-value."""

    statistic: float
    pvalue: float


class ChisquareResult(NamedTuple):
    """Pearson's chi-square of current counts against the baseline frequencies."""

    statistic: float
    pvalue: float
    dof: int


@dataclass
class GridHistogram:
    """Counts and sums of finite values per interval of ``grid``; mergeable, so it streams."""

    grid: Floats
    counts: Floats
    sums: Floats
    missing: int = 0

    @classmethod
    def empty(cls, grid: Floats) -> GridHistogram:
        size = len(grid) + 1
        return cls(np.asarray(grid, dtype=np.float64), np.zeros(size), np.zeros(size))

    @property
    def count(self) -> int:
        return int(self.counts.sum())

    def add(self, values: NDArray[np.generic]) -> None:
        """Add a chunk of values; NaN and infinities count as missing (they have no place on a grid)."""
        x = np.asarray(values, dtype=np.float64)
        finite = np.isfinite(x)
        self.missing += int(x.size - finite.sum())
        # Sorting the chunk and placing the grid in it is about twice as fast as placing every
        # value in the grid, and reduceat sums each interval without cancellation.
        x = np.sort(x[finite])
        bounds = np.concatenate([[0], np.searchsorted(x, self.grid, side="right"), [x.size]])
        counts = np.diff(bounds)
        filled = counts > 0
        self.counts += counts
        if x.size:
            self.sums[filled] += np.add.reduceat(x, bounds[:-1][filled])

    def merge(self, other: GridHistogram) -> None:
        self.counts += other.counts
        self.sums += other.sums
        self.missing += other.missing

    def cdf(self) -> Floats:
        """The empirical CDF at each grid point, ``P(X <= g_i)``."""
        return np.cumsum(self.counts)[: len(self.grid)] / max(self.count, 1)

    def integrals(self) -> tuple[float, Floats, float]:
        """``(int_{-inf}^{g0} F, [int_{g_i}^{g_i+1} F], int_{g_last}^{inf} (1 - F))``, all exact."""
        n = max(self.count, 1)
        g = self.grid
        inner = self.cdf()[:-1] * np.diff(g) + (self.counts[1:-1] * g[1:] - self.sums[1:-1]) / n
        left = (self.counts[0] * g[0] - self.sums[0]) / n
        right = (self.sums[-1] - self.counts[-1] * g[-1]) / n
        return float(left), inner, float(right)

    def coarse_counts(self, edge_index: NDArray[np.intp]) -> Floats:
        """Counts in the intervals cut at the grid points ``grid[edge_index]`` (for PSI)."""
        cumulative = np.concatenate([[0.0], np.cumsum(self.counts)])
        cuts = np.concatenate([[0], np.asarray(edge_index) + 1, [len(self.counts)]])
        return np.diff(cumulative[cuts])


def ks(ref: GridHistogram, cur: GridHistogram) -> KstestResult:
    """Largest CDF gap at the grid points; the p-value is scipy's ``ks_2samp(method="asymp")``."""
    n, m = ref.count, cur.count
    if n == 0 or m == 0:
        return KstestResult(float("nan"), float("nan"))
    d = float(np.max(np.abs(ref.cdf() - cur.cdf())))
    en = round(n * m / (n + m))
    from scipy import stats  # type: ignore[import-untyped]  # here: importing scipy takes a second

    return KstestResult(d, float(np.clip(stats.kstwo.sf(d, en), 0.0, 1.0)))


def wasserstein(ref: GridHistogram, cur: GridHistogram) -> float:
    """Wasserstein-1 distance, the area between the CDFs, summed interval by interval."""
    if ref.count == 0 or cur.count == 0:
        return float("nan")
    left_r, inner_r, right_r = ref.integrals()
    left_c, inner_c, right_c = cur.integrals()
    return float(abs(left_r - left_c) + np.abs(inner_r - inner_c).sum() + abs(right_r - right_c))


def psi(ref_counts: Floats, cur_counts: Floats, epsilon: float = PSI_EPSILON) -> float:
    """Population stability index: sum of ``(q - p) ln(q / p)`` over bins, empty bins at ``epsilon``."""
    ref_counts = np.asarray(ref_counts, dtype=np.float64)
    cur_counts = np.asarray(cur_counts, dtype=np.float64)
    if ref_counts.sum() == 0 or cur_counts.sum() == 0:
        return float("nan")
    used = (ref_counts > 0) | (cur_counts > 0)
    p = np.maximum(ref_counts[used] / ref_counts.sum(), epsilon)
    q = np.maximum(cur_counts[used] / cur_counts.sum(), epsilon)
    return float(np.sum((q - p) * np.log(q / p)))


def chisquare(observed: Floats, expected_freq: Floats) -> ChisquareResult:
    """Pearson's test as ``scipy.stats.chisquare(observed, expected)``; a count where none was
    expected (a new category) gives an infinite statistic and p-value 0."""
    observed = np.asarray(observed, dtype=np.float64)
    freq = np.asarray(expected_freq, dtype=np.float64)
    total = observed.sum()
    if total == 0 or freq.sum() == 0:
        return ChisquareResult(float("nan"), float("nan"), 0)
    expected = freq / freq.sum() * total
    possible = expected > 0
    dof = int(possible.sum()) - 1
    if np.any(observed[~possible] > 0):
        return ChisquareResult(float("inf"), 0.0, dof)
    statistic = float(np.sum((observed[possible] - expected[possible]) ** 2 / expected[possible]))
    from scipy import stats

    return ChisquareResult(statistic, float(stats.chi2.sf(statistic, dof)), dof)


def jensenshannon(p: Floats, q: Floats) -> float:
    """Jensen-Shannon distance in base 2 (0 to 1), as ``scipy.spatial.distance.jensenshannon``."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.sum() == 0 or q.sum() == 0:
        return float("nan")
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2
    divergence = 0.5 * _kl(p, m) + 0.5 * _kl(q, m)
    return float(np.sqrt(max(divergence, 0.0)))


def _kl(p: Floats, m: Floats) -> float:
    used = p > 0
    return float(np.sum(p[used] * np.log2(p[used] / m[used])))


def linf(p: Floats, q: Floats) -> float:
    """L-infinity distance between the two frequency vectors (the largest change of one category)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.sum() == 0 or q.sum() == 0:
        return float("nan")
    return float(np.max(np.abs(p / p.sum() - q / q.sum())))
