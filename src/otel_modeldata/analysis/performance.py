"""Model performance over time: predictions joined to their labels, scored per day (or any column).

Accuracy for a classifier, mean absolute and root mean squared error for a regressor, so a
drop shows up on the day it happens rather than at the next retraining.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final, Literal

import pandas as pd

from ..schema import TIMESTAMP_COLUMN

DAY: Final = "day"
DAY_COLUMN: Final = "$day"
#: Numeric labels with at most this many distinct whole values are classes, not quantities.
MAX_CLASSES: Final = 20

Kind = Literal["classification", "regression"]


def performance(
    joined: pd.DataFrame,
    *,
    label: str,
    prediction: str,
    by: str = DAY,
    kind: Kind | None = None,
) -> pd.DataFrame:
    """Per ``by`` group: ``rows`` labelled and ``accuracy``, or ``mae`` and ``rmse``.

    ``joined`` holds predictions joined to labels (on ``$aml_dc_correlation_id`` +
    ``$row_index``). ``by="day"`` groups by ``$day``, or by the UTC date of
    ``$aml_dc_scoring_timestamp`` when there is no ``$day``; any other value names a column.
    Rows without a label (not yet known, or a placeholder) are left out. ``kind`` defaults to
    classification when either column is not numeric or both hold few whole values
    (:data:`MAX_CLASSES`), else regression; it is kept in ``table.attrs["kind"]``.
    """
    for name in (label, prediction):
        if name not in joined.columns:
            raise KeyError(f"no column {name!r} in the joined table")
    keys = _group_keys(joined, by)
    scored = pd.DataFrame({"key": keys, "label": joined[label], "prediction": joined[prediction]})
    scored = scored[scored["label"].notna() & scored["prediction"].notna()]
    chosen = kind or _kind(scored["label"], scored["prediction"])
    grouped = scored.groupby("key", sort=True)
    if chosen == "classification":
        hits = scored["label"] == scored["prediction"]
        table = pd.DataFrame({"rows": grouped.size(), "accuracy": hits.groupby(scored["key"]).mean()})
    else:
        error = pd.to_numeric(scored["prediction"]) - pd.to_numeric(scored["label"])
        by_key = error.groupby(scored["key"])
        table = pd.DataFrame(
            {
                "rows": grouped.size(),
                "mae": by_key.apply(lambda e: e.abs().mean()),
                "rmse": by_key.apply(lambda e: (e**2).mean() ** 0.5),
            }
        )
    table.index.name = DAY_COLUMN if by == DAY else by
    table.attrs["kind"] = chosen
    return table


def plot_performance(table: pd.DataFrame, path: str | Path) -> Path:
    """Draw :func:`performance`'s table as a PNG at ``path`` (matplotlib, no display needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    metrics = [name for name in ("accuracy", "mae", "rmse") if name in table.columns]
    figure = Figure(figsize=(8, 4), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    labels = [str(key) for key in table.index]
    for name in metrics:
        axes.plot(labels, table[name].tolist(), marker="o", label=name)
    axes.set_xlabel(str(table.index.name))
    axes.set_title(f"Model performance ({table.attrs.get('kind', 'per group')})")
    axes.legend()
    axes.tick_params(axis="x", labelrotation=45)
    out = Path(path)
    figure.savefig(out, format="png")
    return out


def _group_keys(joined: pd.DataFrame, by: str) -> Any:
    if by != DAY:
        if by not in joined.columns:
            raise KeyError(f"no column {by!r} to group by")
        return joined[by]
    if DAY_COLUMN in joined.columns:
        return joined[DAY_COLUMN]
    if TIMESTAMP_COLUMN in joined.columns:
        return pd.to_datetime(joined[TIMESTAMP_COLUMN], utc=True).dt.date
    raise KeyError(f"by='day' needs a {DAY_COLUMN} or {TIMESTAMP_COLUMN} column")


def _kind(labels: pd.Series, predictions: pd.Series) -> Kind:
    """Classification for text, booleans or few whole numbers; regression otherwise."""
    both = pd.concat([labels, predictions], ignore_index=True)
    numeric = pd.api.types.is_numeric_dtype(labels) and pd.api.types.is_numeric_dtype(predictions)
    if not numeric or pd.api.types.is_bool_dtype(both):
        return "classification"
    values = pd.to_numeric(both)
    whole = bool((values == values.round()).all())
    return "classification" if whole and values.nunique() <= MAX_CLASSES else "regression"
