"""Pure: turn what ``run()`` receives or returns into a table of rows.

Scoring code receives JSON strings or bytes (other text is one value), ``{"data": ...}`` dicts, lists of rows,
single rows, dicts of columns, records, numpy arrays, pandas DataFrames and Series.
numpy and pandas are recognised without importing them, so they stay optional, and
their values are converted in C (``tolist``) rather than cell by cell. Rows never share
a list with the caller's data: the record is emitted before ``run()`` (which may change
its input in place) and exported later.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .schema import PREDICTIONS

Row = list[Any]


class UnsupportedInputError(TypeError):
    """The value has a shape or type that cannot become rows."""


@dataclass(slots=True)
class Table:
    """Rows plus the column names the data itself carried (``None`` when it carried none)."""

    columns: tuple[str, ...] | None
    rows: list[Row]


def to_table(
    data: Any,
    *,
    designation: str,
    feature_names: Sequence[str] | None = None,
    expected_rows: int | None = None,
) -> Table:
    """Convert ``data`` to a :class:`Table`.

    A flat sequence of scalars is ambiguous: one row of features, or one prediction per
    input row. It becomes one column when ``feature_names`` has one name, when its length
    equals ``expected_rows`` (the row count of the inputs of the same call), or when the
    designation is ``predictions``; otherwise it is one row.
    """
    names = tuple(feature_names) if feature_names is not None else None
    if isinstance(data, (str, bytes, bytearray)) and names is not None and len(names) > 1:
        data = _parse_json(data)
    table = _convert(data, designation, names, expected_rows, parse_text=True)
    if names is not None:
        table.columns = names
    return table


def _convert(
    data: Any,
    designation: str,
    names: tuple[str, ...] | None,
    expected_rows: int | None,
    *,
    parse_text: bool,
) -> Table:
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UnsupportedInputError("bytes input is not UTF-8 JSON") from exc
    if isinstance(data, str) and parse_text:
        try:
            parsed = json.loads(data)
        except ValueError:
            return Table(None, [[data]])  # plain text, e.g. the input of a language model
        return _convert(parsed, designation, names, expected_rows, parse_text=False)
    if _is_scalar(data):
        return Table(None, [[data]])

    kind = _foreign_kind(data)
    if kind == "DataFrame":
        return Table(tuple(str(c) for c in data.columns), data.to_numpy().tolist())
    if kind == "Series":
        return _series(data, designation, names, expected_rows)
    if kind == "ndarray":
        return _ndarray(data, designation, names, expected_rows)

    if isinstance(data, Mapping):
        return _mapping(data, designation, names, expected_rows)
    if isinstance(data, (list, tuple)):
        return _sequence(data, designation, names, expected_rows)
    raise UnsupportedInputError(f"cannot collect a value of type {type(data).__name__}")


def _parse_json(text: str | bytes | bytearray) -> Any:
    """Parse text that must hold rows (several feature names were declared)."""
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UnsupportedInputError(f"text input is not JSON ({exc.__class__.__name__})") from exc


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _foreign_kind(value: Any) -> str | None:
    """``DataFrame``, ``Series`` or ``ndarray`` for pandas and numpy objects, without importing them."""
    cls = type(value)
    module = cls.__module__
    if module.startswith("pandas") and cls.__name__ in {"DataFrame", "Series"}:
        return cls.__name__
    if module == "numpy" and cls.__name__ == "ndarray":
        return "ndarray"
    return None


def _is_column(
    length: int, designation: str, names: tuple[str, ...] | None, expected_rows: int | None
) -> bool:
    if names is not None:
        return len(names) == 1
    if expected_rows is not None and length == expected_rows:
        return True
    return designation == PREDICTIONS


def _vector(
    values: list[Any], designation: str, names: tuple[str, ...] | None, expected_rows: int | None
) -> Table:
    if _is_column(len(values), designation, names, expected_rows):
        return Table(None, [[v] for v in values])
    return Table(None, [values])


def _ndarray(array: Any, designation: str, names: tuple[str, ...] | None, expected_rows: int | None) -> Table:
    if array.dtype.names is not None:
        return Table(tuple(array.dtype.names), [list(r) for r in array.tolist()])
    if array.ndim == 0:
        return Table(None, [[array.item()]])
    if array.ndim == 1:
        if _is_column(len(array), designation, names, expected_rows):
            return Table(None, array.reshape(-1, 1).tolist())
        return Table(None, [array.tolist()])
    if array.ndim == 2:
        return Table(None, array.tolist())
    raise UnsupportedInputError(f"cannot collect a {array.ndim}-dimensional array")


def _series(series: Any, designation: str, names: tuple[str, ...] | None, expected_rows: int | None) -> Table:
    values = series.to_numpy()
    if names is None and not _is_range_index(series.index):
        # A labelled Series (``df.iloc[i]``) is one row whose labels are the columns.
        return Table(tuple(str(i) for i in series.index), [values.tolist()])
    if _is_column(len(series), designation, names, expected_rows):
        column = None if series.name is None else (str(series.name),)
        return Table(column, values.reshape(-1, 1).tolist())
    return Table(None, [values.tolist()])


def _is_range_index(index: Any) -> bool:
    return type(index).__name__ == "RangeIndex" and index.start == 0 and index.step == 1


def _mapping(
    data: Mapping[Any, Any],
    designation: str,
    names: tuple[str, ...] | None,
    expected_rows: int | None,
) -> Table:
    if "data" in data:
        return _convert(data["data"], designation, names, expected_rows, parse_text=False)
    columns = tuple(str(k) for k in data)
    values = list(data.values())
    if values and all(_is_columnar(v) for v in values):
        lists = [v.tolist() if hasattr(v, "tolist") else list(v) for v in values]
        if len({len(v) for v in lists}) != 1:
            raise UnsupportedInputError("dict of columns has columns of different lengths")
        return Table(columns, [list(r) for r in zip(*lists, strict=True)])
    return Table(columns, [values])


def _is_columnar(value: Any) -> bool:
    return isinstance(value, (list, tuple)) or _foreign_kind(value) in {"ndarray", "Series"}


def _sequence(
    data: Sequence[Any], designation: str, names: tuple[str, ...] | None, expected_rows: int | None
) -> Table:
    if not data:
        return Table(None, [])
    first = data[0]
    if isinstance(first, Mapping):
        return _records(data)
    if isinstance(first, list):
        # Copies: run() may preprocess its rows in place after they were collected.
        return Table(None, [list(r) if isinstance(r, list) else r for r in data])
    if isinstance(first, tuple) or _foreign_kind(first) == "ndarray":
        return Table(None, [r.tolist() if hasattr(r, "tolist") else list(r) for r in data])
    return _vector(list(data), designation, names, expected_rows)


def _records(records: Sequence[Any]) -> Table:
    columns: dict[str, None] = {}
    for record in records:
        if not isinstance(record, Mapping):
            raise UnsupportedInputError("a list of records mixes dicts with other values")
        columns.update(dict.fromkeys(record))
    keys = list(columns)
    return Table(tuple(str(k) for k in keys), [[r.get(k) for k in keys] for r in records])
