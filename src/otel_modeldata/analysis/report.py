"""The drift report: one HTML file with its plots inlined as base64 PNG, and a one-image summary.

Nothing is fetched when the file opens (no script, font, style sheet or image from elsewhere), so
it can be mailed, attached to a pipeline run or opened offline. Plots are drawn with matplotlib's
Agg canvas through ``Figure`` (no pyplot state, safe in threads and without a display).
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .baseline import CategoricalBaseline, NumericBaseline
from .drift_stats import GridHistogram
from .result import Distributions, DriftResult, FeatureDrift

BASELINE_COLOR = "#1f77b4"
CURRENT_COLOR = "#ff7f0e"
#: Plot bins: every PLOT_STEP-th baseline quantile, so each bin holds 5% of the training data.
PLOT_STEP = 10
MAX_PLOTTED_CATEGORIES = 12

_STYLE = """
body { font-family: sans-serif; margin: 24px; color: #222; max-width: 1150px; }
.verdict { padding: 12px 16px; border-radius: 6px; font-size: 1.25em; font-weight: bold; }
.drift { background: #fde2e1; color: #8a1c14; } .nodrift { background: #dff3e1; color: #1d5e26; }
table { border-collapse: collapse; margin: 12px 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th { background: #f2f2f2; } td.name { text-align: left; font-weight: bold; }
tr.drifted td { background: #fff0ef; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; }
.plots figure { margin: 0; } figcaption { font-size: 0.85em; color: #555; }
"""


def write_html(result: DriftResult, path: str | os.PathLike[str]) -> None:
    ranked = result.ranked()
    drifted = [f for f in ranked if f.drifted]
    verdict = (
        f"Drift detected in {len(drifted)} of {len(ranked)} features: "
        + ", ".join(html.escape(f.feature) for f in drifted)
        if drifted
        else f"No drift in any of the {len(ranked)} features"
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>Drift report</title>',
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Drift report</h1>",
        f'<p class="verdict {"drift" if drifted else "nodrift"}">{verdict}</p>',
        f"<p>{result.rows:,} current rows. Rule: {html.escape(result.rule)}. Defaults: normalised "
        "Wasserstein distance &ge; 0.1 (numeric) and Jensen-Shannon distance &ge; 0.1 (categorical), "
        "as Evidently and Azure ML model monitoring.</p>",
        "<h2>Summary, most drifted first</h2>",
        _table(ranked),
        "<h2>Baseline and current distributions</h2>",
        '<div class="plots">',
    ]
    for f in ranked:
        image = _png(_feature_figure(f, result.distributions[f.feature]))
        parts.append(
            f'<figure><img alt="{html.escape(f.feature)}" src="data:image/png;base64,{image}">'
            f"<figcaption>{html.escape(_caption(f))}</figcaption></figure>"
        )
    parts.append("</div>")
    if len(result.daily):
        parts += [
            "<h2>Per day</h2>",
            f'<img alt="per-day drift" src="data:image/png;base64,{_png(_daily_figure(result))}">',
        ]
    parts.append("</body></html>")
    with open(path, "w", encoding="utf-8") as out:
        out.write("\n".join(parts))


def write_png(result: DriftResult, path: str | os.PathLike[str]) -> None:
    ranked = result.ranked()
    columns = 3
    rows = max(1, math.ceil(len(ranked) / columns))
    figure = Figure(figsize=(5.0 * columns, 2.8 * rows), dpi=80, layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, f in zip(axes, ranked, strict=False):
        _draw(ax, f, result.distributions[f.feature])
    for ax in axes[len(ranked) :]:
        ax.set_axis_off()
    figure.savefig(path, format="png")


def _table(ranked: list[FeatureDrift]) -> str:
    head = (
        "<tr><th>feature</th><th>kind</th><th>test</th><th>statistic</th><th>threshold</th><th>drift</th>"
        "<th>p-value</th><th>PSI</th><th>KS</th><th>JS</th><th>L&infin;</th><th>new categories</th>"
        "<th>rows</th><th>missing</th></tr>"
    )
    body = []
    for f in ranked:
        new = ", ".join(f"{c} ({n:,})" for c, n in f.new_categories)
        cells = [
            f'<td class="name">{html.escape(f.feature)}</td>',
            f"<td>{f.kind}</td><td>{f.method}</td><td>{_num(f.statistic)}</td><td>{_num(f.threshold)}</td>",
            f"<td>{'yes' if f.drifted else 'no'}</td><td>{_num(f.pvalue)}</td><td>{_num(f.psi)}</td>",
            f"<td>{_num(f.ks.statistic if f.ks else None)}</td><td>{_num(f.jensenshannon)}</td>",
            f"<td>{_num(f.linf)}</td><td>{html.escape(new)}</td><td>{f.values:,}</td><td>{f.missing:,}</td>",
        ]
        body.append(f'<tr class="{"drifted" if f.drifted else ""}">{"".join(cells)}</tr>')
    return f"<table>{head}{''.join(body)}</table>"


def _num(value: float | None) -> str:
    if value is None:
        return ""
    if math.isnan(value):
        return "n/a"
    return f"{value:.3g}"


def _caption(f: FeatureDrift) -> str:
    return f"{f.feature}: {f.method} {_num(f.statistic)} (threshold {_num(f.threshold)})"


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _feature_figure(f: FeatureDrift, d: Distributions) -> Figure:
    figure = Figure(figsize=(5.5, 2.8), dpi=90, layout="constrained")
    _draw(figure.add_subplot(), f, d)
    return figure


def _draw(ax: Axes, f: FeatureDrift, d: Distributions) -> None:
    if isinstance(d.baseline, NumericBaseline) and isinstance(d.current, GridHistogram):
        _draw_numeric(ax, d.baseline.histogram, d.current)
    elif isinstance(d.baseline, CategoricalBaseline) and isinstance(d.current, dict):
        _draw_categorical(ax, d.baseline, d.current)
    ax.set_title(f"{f.feature}: {_num(f.statistic)}", color="#b2182b" if f.drifted else "#222", fontsize=10)
    ax.legend(fontsize=8)


def _draw_numeric(ax: Axes, ref: GridHistogram, cur: GridHistogram) -> None:
    index = np.unique(np.r_[np.arange(0, len(ref.grid), PLOT_STEP), len(ref.grid) - 1])
    edges = ref.grid[index]
    keep = np.r_[True, np.diff(edges) > 0]
    index, edges = index[keep], edges[keep]
    if len(edges) < 2:
        edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
        index = np.array([0, 0])
    for h, color, label in ((ref, BASELINE_COLOR, "baseline"), (cur, CURRENT_COLOR, "current")):
        mass = h.coarse_counts(index)[1:-1] / max(h.count, 1)
        ax.stairs(mass / np.diff(edges), edges, color=color, label=label, linewidth=1.6)
    outside = (cur.counts[0] + cur.counts[-1]) / max(cur.count, 1)
    ax.set_ylabel("density", fontsize=8)
    if outside > 0:
        ax.set_xlabel(f"{outside:.2%} of current rows outside the baseline range", fontsize=8)


def _draw_categorical(ax: Axes, ref: CategoricalBaseline, cur: dict[str, int]) -> None:
    ref_total = max(ref.count, 1)
    cur_total = max(sum(cur.values()), 1)
    names = sorted(
        set(ref.categories) | set(cur),
        key=lambda c: -max(ref.categories.get(c, 0), cur.get(c, 0) / cur_total),
    )
    shown = names[:MAX_PLOTTED_CATEGORIES]
    rest_ref = ref_total - sum(ref.categories.get(c, 0) for c in shown)
    rest_cur = cur_total - sum(cur.get(c, 0) for c in shown)
    labels = [*shown, "(other)"] if rest_ref or rest_cur else shown
    p = [ref.categories.get(c, 0) / ref_total for c in shown] + (
        [rest_ref / ref_total] if len(labels) > len(shown) else []
    )
    q = [cur.get(c, 0) / cur_total for c in shown] + (
        [rest_cur / cur_total] if len(labels) > len(shown) else []
    )
    x = np.arange(len(labels))
    ax.bar(x - 0.2, p, 0.4, color=BASELINE_COLOR, label="baseline")
    ax.bar(x + 0.2, q, 0.4, color=CURRENT_COLOR, label="current")
    ax.set_xticks(
        x, [_short(c) + ("*" if c not in ref.categories and c != "(other)" else "") for c in labels]
    )
    ax.tick_params(axis="x", labelsize=8, rotation=30)
    ax.set_ylabel("share (* new)", fontsize=8)


def _short(text: str) -> str:
    return text if len(text) <= 14 else text[:13] + "\u2026"


def _daily_figure(result: DriftResult) -> Figure:
    figure = Figure(figsize=(11, 3.6), dpi=90, layout="constrained")
    ax = figure.add_subplot()
    daily = result.daily
    for feature, rows in daily.groupby("feature", sort=False):
        ratio: Any = rows["statistic"] / rows["threshold"]
        ax.plot(rows["day"].astype(str), ratio, marker="o", label=str(feature))
    ax.axhline(1.0, color="#b2182b", linestyle="--", label="threshold")
    ax.set_ylabel("statistic / threshold")
    ax.tick_params(axis="x", rotation=30, labelsize=8)
    ax.legend(fontsize=7, ncols=4)
    return figure
