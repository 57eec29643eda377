"""Ground truth sent after the fact: labels for known correlation ids, written under ``labels``.

Labels usually come from another program days after the prediction (a batch job that learns
which loans defaulted). They go through the same pipeline as any collected value: the
configuration (explicit or lazy, from the environment), sampling decided from the correlation
id alone (so a call left out then has its labels left out now), the formula guard, and the
partition of the day they are sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from .collect import SAMPLED_OUT, _emit, _names
from .context import Correlation, get_request_id
from .layout import check_name
from .policy import ModelPolicy
from .providers import runtime
from .schema import CORRELATION_ID_COLUMN, ROW_INDEX_COLUMN
from .stats import STATS

LABELS: Final = "labels"
_KEYS: Final = frozenset({CORRELATION_ID_COLUMN, ROW_INDEX_COLUMN})


def send_labels(
    labels: Any,
    *,
    model: str,
    model_version: str | int | None = None,
    label_names: Sequence[str] | None = None,
) -> int:
    """Write ``labels`` (a DataFrame or a list of dicts) under designation ``labels``; return the rows sent.

    Each row holds ``$aml_dc_correlation_id``, optionally ``$row_index`` (the row of the call
    it labels; 0 when absent) and the label columns (``label_names``, by default every other
    column). One record is written per correlation id, its rows in ``$row_index`` order, so a
    label row joins its prediction on ``$aml_dc_correlation_id`` + ``$row_index``. A call whose
    labelled rows skip an index gets a placeholder row there, every label cell empty: an empty
    label is no label (the count returned includes them). Rows are queued and written like any
    collected value: call ``force_flush()`` on the handle, or let the process exit.
    """
    model = check_name(model, "model")
    version = None if model_version is None else check_name(str(model_version), "model_version")
    records = _records(labels)
    names = _names(label_names, "label_names") or _label_names(records)
    if not names:
        raise ValueError("labels need at least one label column besides the correlation columns")
    groups = _by_call(records, names)
    rt = runtime()
    if rt is None:
        return 0
    policy = ModelPolicy().resolve(rt.settings.policy)
    sent = 0
    for cid, rows in groups.items():
        if not policy.keeps(cid):
            STATS.not_collected(SAMPLED_OUT)
            continue
        written = _emit(
            rt,
            rows,
            model=model,
            version=version,
            designation=LABELS,
            feature_names=names,
            correlation=Correlation(cid, get_request_id() or cid),
            policy=policy,
        )
        sent += written or 0
    return sent


def _records(labels: Any) -> list[Mapping[str, Any]]:
    """The label rows as mappings: a DataFrame's records, or the given dicts."""
    to_dict = getattr(labels, "to_dict", None)
    if callable(to_dict) and hasattr(labels, "columns"):
        return list(to_dict("records"))
    if isinstance(labels, Iterable) and not isinstance(labels, (str, bytes, Mapping)):
        records = list(labels)
        if all(isinstance(r, Mapping) for r in records):
            return records
    raise TypeError("labels must be a pandas DataFrame or a list of dicts")


def _label_names(records: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """Every key but the correlation columns, in the order first seen."""
    seen: dict[str, None] = {}
    for record in records:
        seen.update((key, None) for key in record if key not in _KEYS)
    return tuple(seen)


def _by_call(records: Sequence[Mapping[str, Any]], names: tuple[str, ...]) -> dict[str, list[list[Any]]]:
    """The label rows of each correlation id, placed at their ``$row_index``; gaps get empty rows."""
    placed: dict[str, dict[int, list[Any]]] = {}
    for number, record in enumerate(records):
        cid = record.get(CORRELATION_ID_COLUMN)
        if not isinstance(cid, str) or not cid:
            raise ValueError(f"label row {number} has no {CORRELATION_ID_COLUMN}")
        index = _row_index(record.get(ROW_INDEX_COLUMN, 0), number)
        rows = placed.setdefault(cid, {})
        if index in rows:
            raise ValueError(f"label rows for {cid} repeat {ROW_INDEX_COLUMN} {index}")
        rows[index] = [record.get(name) for name in names]
    width = len(names)
    return {
        cid: [rows.get(i) or [None] * width for i in range(max(rows) + 1)] for cid, rows in placed.items()
    }


def _row_index(value: Any, number: int) -> int:
    """A non-negative whole ``$row_index`` (a float column from pandas included)."""
    problem = f"label row {number}: {ROW_INDEX_COLUMN} must be a whole number >= 0, got {value!r}"
    try:
        index = int(value)
    except (TypeError, ValueError):
        raise ValueError(problem) from None
    if index < 0 or index != value:
        raise ValueError(problem)
    return index
