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

from .collect import SAMPLED_OUT, _emit, _names, _rules
from .context import Correlation, get_request_id
from .layout import check_name
from .providers import runtime
from .schema import CORRELATION_ID_COLUMN, FIRST_ROW_INDEX, ROW_INDEX_COLUMN
from .stats import STATS

LABELS: Final = "labels"
_KEYS: Final = frozenset({CORRELATION_ID_COLUMN, ROW_INDEX_COLUMN})


def send_labels(
    labels: Any,
    *,
    model: str,
    model_version: str | int | None = None,
    label_names: Sequence[str] | None = None,
    sample_rate: float | None = None,
    redact: Sequence[str] | None = None,
    hash: Sequence[str] | None = None,
) -> int:
    """Write ``labels`` (a DataFrame or a list of dicts) under designation ``labels``; return the rows sent.

    Each row holds ``$aml_dc_correlation_id``, optionally ``$row_index`` (the row of the call
    it labels; 0 when absent) and the label columns (``label_names``, by default every other
    column). Each row is written with the ``$row_index`` it was given, so it joins its
    prediction on ``$aml_dc_correlation_id`` + ``$row_index``; nothing is written for the rows
    of a call left unlabelled. A missing value (``None``, NaN, ``pd.NA``) is an empty cell: no
    label. ``sample_rate``, ``redact`` and ``hash`` are the model's own, as given to its
    ``collect_io`` or ``ModelDataCollector``: a labelling job need not import the code that
    declares them, so they are given again. Rows are queued and written like any collected
    value: call ``force_flush()`` on the handle, or let the process exit. Raises ``ValueError``
    (before anything is sent) for a row without a correlation id, a bad or repeated
    ``$row_index``, or a label name that is no column.
    """
    model = check_name(model, "model")
    version = None if model_version is None else check_name(str(model_version), "model_version")
    records, columns = _records(labels)
    names = _names(label_names, "label_names") or _label_names(records)
    if not names:
        raise ValueError("labels need at least one label column besides the correlation columns")
    _check_names(names, columns, records)
    rules = _rules(sample_rate, redact, hash)
    calls = _by_call(records, names)
    rt = runtime()
    if rt is None:
        return 0
    policy = rules.resolve(rt.settings.policy)
    sent = 0
    for cid, runs in calls.items():
        if not policy.keeps(cid):
            STATS.not_collected(SAMPLED_OUT)
            continue
        correlation = Correlation(cid, get_request_id() or cid)
        for first, rows in runs:
            written = _emit(
                rt,
                rows,
                model=model,
                version=version,
                designation=LABELS,
                feature_names=names,
                correlation=correlation,
                policy=policy,
                extra={FIRST_ROW_INDEX: first} if first else None,
            )
            sent += written or 0
    return sent


def _records(labels: Any) -> tuple[list[Mapping[str, Any]], tuple[str, ...] | None]:
    """The label rows as mappings (a DataFrame's records, or the given dicts), and a DataFrame's columns."""
    to_dict = getattr(labels, "to_dict", None)
    if callable(to_dict) and hasattr(labels, "columns"):
        return list(to_dict("records")), tuple(map(str, labels.columns))
    if isinstance(labels, Iterable) and not isinstance(labels, (str, bytes, Mapping)):
        records = list(labels)
        if all(isinstance(r, Mapping) for r in records):
            return records, None
    raise TypeError("labels must be a pandas DataFrame or a list of dicts")


def _label_names(records: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """Every key but the correlation columns, in the order first seen."""
    seen: dict[str, None] = {}
    for record in records:
        seen.update((key, None) for key in record if key not in _KEYS)
    return tuple(seen)


def _check_names(
    names: tuple[str, ...], columns: tuple[str, ...] | None, records: Sequence[Mapping[str, Any]]
) -> None:
    """Refuse label names that are no column (of the DataFrame, or of any dict): a typo is no empty label."""
    if columns is None and not records:
        return
    present = set(columns) if columns is not None else {key for record in records for key in record}
    missing = [name for name in names if name not in present]
    if missing:
        raise ValueError(f"label_names not found in the labels: {', '.join(missing)}")


def _by_call(
    records: Sequence[Mapping[str, Any]], names: tuple[str, ...]
) -> dict[str, list[tuple[int, list[list[Any]]]]]:
    """The label rows of each correlation id in ``$row_index`` order, in runs of consecutive indexes.

    Each run is one record whose first row has the run's ``$row_index``: a gap between two
    labelled rows costs a record, never a row per missing index.
    """
    placed: dict[str, dict[int, list[Any]]] = {}
    for number, record in enumerate(records):
        cid = record.get(CORRELATION_ID_COLUMN)
        if not isinstance(cid, str) or not cid:
            raise ValueError(f"label row {number} has no {CORRELATION_ID_COLUMN}")
        index = _row_index(record.get(ROW_INDEX_COLUMN, 0), number)
        rows = placed.setdefault(cid, {})
        if index in rows:
            raise ValueError(f"label rows for {cid} repeat {ROW_INDEX_COLUMN} {index}")
        rows[index] = [_cell(record.get(name)) for name in names]
    calls: dict[str, list[tuple[int, list[list[Any]]]]] = {}
    for cid, rows in placed.items():
        runs = calls[cid] = []
        for index in sorted(rows):
            if runs and runs[-1][0] + len(runs[-1][1]) == index:
                runs[-1][1].append(rows[index])
            else:
                runs.append((index, [rows[index]]))
    return calls


def _cell(value: Any) -> Any:
    """A label cell: a float NaN (how pandas marks a missing value, in a text column too) is empty."""
    return None if isinstance(value, float) and value != value else value


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
