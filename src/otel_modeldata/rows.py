"""Pure: turn what ``run()`` receives or returns into a table of rows.

Scoring code receives JSON strings or bytes (other text is one value), ``{"data": ...}`` dicts, lists of rows,
single rows, dicts of columns, records, numpy arrays, pandas DataFrames and Series.
numpy and pandas are recognised without importing them, so they stay optional, and
their values are converted in C (``tolist``) rather than cell by cell. Rows never share
a list with the caller's data: the record is emitted before ``run()`` (which may change
its input in place) and exported later.

When ``feature_names`` are declared and the data carries names of its own (records, a
dict, a DataFrame, a labelled Series, a structured array), values are taken by name in
the declared order: JSON key order is arbitrary, so position would swap columns. A
declared name the data lacks becomes an empty cell and names it carries beyond them are
ignored; :class:`Table` reports both so the caller can count and log them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from .schema import PREDICTIONS

Row = list[Any]


class UnsupportedInputError(TypeError):
    """The value has a shape or type that cannot become rows."""


@dataclass(frozen=True, slots=True)
class Mismatch:
    """Names that did not match ``feature_names``, and how many rows they affected."""

    names: tuple[str, ...]
    rows: int


@dataclass(slots=True)
class Table:
    """Rows plus the column names the data itself carried (``None`` when it carried none).

    ``missing``: declared names the data lacked (written as empty cells); ``extra``: names
    the data carried beyond the declared ones (left out). ``text`` False: no cell can be a
    string (a numeric array or DataFrame), so the formula guard need not look at the cells.
    """

    columns: tuple[str, ...] | None
    rows: list[Row]
    missing: Mismatch | None = None
    extra: Mismatch | None = None
    text: bool = True


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
    if type(data) is list:  # the usual case, and none of the kinds tested below
        return _sequence(data, designation, names, expected_rows)
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
        return _frame(data, names)
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


#: Types of values that are one cell each (exact types: subclasses take the longer tests).
_SCALARS: Final = frozenset({str, int, float, bool, type(None)})


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


#: numpy time units finer than a microsecond, which ``tolist()`` turns into bare integers.
_FINE_TIME_UNITS = ("[ns]", "[ps]", "[fs]", "[as]")


def readable_times(array: Any) -> Any:
    """Times finer than a microsecond as microsecond times, so ``tolist()`` gives datetimes
    (written ``2024-01-02 03:04:05``; ``NaT`` an empty cell) rather than nanosecond integers.
    An array, or one numpy time (``.item()`` then gives the datetime)."""
    kind = array.dtype.kind
    if kind in "mM" and array.dtype.str.endswith(_FINE_TIME_UNITS):
        return array.astype("datetime64[us]" if kind == "M" else "timedelta64[us]")
    return array


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
        carried = tuple(str(n) for n in array.dtype.names)
        if names is None or carried == names:
            return Table(carried, [list(r) for r in array.tolist()])
        match = _Match(carried, names)
        rows = [[r[p] if p is not None else None for p in match.positions] for r in array.tolist()]
        return match.table(rows)
    array = readable_times(array)
    text = _may_hold_text(array)
    if array.ndim == 0:
        return Table(None, [[array.item()]], text=text)
    if array.ndim == 1:
        if _is_column(len(array), designation, names, expected_rows):
            return Table(None, array.reshape(-1, 1).tolist(), text=text)
        return Table(None, [array.tolist()], text=text)
    if array.ndim == 2:
        return Table(None, array.tolist(), text=text)
    raise UnsupportedInputError(f"cannot collect a {array.ndim}-dimensional array")


def _series(series: Any, designation: str, names: tuple[str, ...] | None, expected_rows: int | None) -> Table:
    values = readable_times(series.to_numpy())
    if _is_labelled_row(series, names):
        # A labelled Series (``df.iloc[i]``) is one row whose labels are the columns.
        labels = tuple(str(i) for i in series.index)
        if names is None:
            return Table(labels, [values.tolist()])
        return _one_row(dict(zip(labels, values.tolist(), strict=True)), names)
    if _is_column(len(series), designation, names, expected_rows):
        column = None if series.name is None else (str(series.name),)
        return Table(column, values.reshape(-1, 1).tolist())
    return Table(None, [values.tolist()])


def _is_labelled_row(series: Any, names: tuple[str, ...] | None) -> bool:
    """Whether a Series is one row labelled by column (``df.iloc[i]``) rather than a column of values.

    With declared names only text labels count, and a single declared name must be among
    them: a column of predictions indexed by ids stays a column.
    """
    if _is_range_index(series.index):
        return False
    if names is None:
        return True
    if series.index.inferred_type != "string":
        return False
    return len(names) > 1 or any(str(label) in names for label in series.index)


def _is_range_index(index: Any) -> bool:
    return type(index).__name__ == "RangeIndex" and index.start == 0 and index.step == 1


def _frame(frame: Any, names: tuple[str, ...] | None) -> Table:
    """A DataFrame's rows; with declared names its columns are chosen by pandas, not cell by cell."""
    carried = tuple(str(c) for c in frame.columns)
    if names is None or carried == names or _is_range_index(frame.columns):
        # Columns 0..n-1 (a frame made from an array) carry no names: keep the positions.
        values = readable_times(frame.to_numpy())
        return Table(carried, values.tolist(), text=_may_hold_text(values))
    match = _Match(carried, names)
    present = [(slot, p) for slot, p in enumerate(match.positions) if p is not None]
    values = readable_times(frame.iloc[:, [p for _, p in present]].to_numpy())
    if not match.missing:
        return match.table(values.tolist(), text=_may_hold_text(values))
    import numpy  # pandas is loaded, so numpy is: no new dependency

    # Missing columns are None (empty cells), not NaN; the others keep their values and types.
    cells = numpy.full((len(frame), len(names)), None, dtype=object)
    cells[:, [slot for slot, _ in present]] = values
    return match.table(cells.tolist(), text=_may_hold_text(values))


def _may_hold_text(array: Any) -> bool:
    """False for numeric, boolean and date arrays, whose ``tolist()`` holds no string."""
    return array.dtype.kind in "OSUV"


class _Match:
    """Where each declared name sits among the names the data carried (``None``: missing)."""

    __slots__ = ("extra", "missing", "positions")

    def __init__(self, carried: Sequence[str], names: tuple[str, ...]) -> None:
        index: dict[str, int] = {}
        for position, name in enumerate(carried):
            index.setdefault(name, position)
        self.positions = [index.get(n) for n in names]
        self.missing = tuple(n for n, p in zip(names, self.positions, strict=True) if p is None)
        wanted = set(names)
        self.extra = tuple(c for c in index if c not in wanted)

    def table(self, rows: list[Row], text: bool = True) -> Table:
        """``rows`` (already in declared order), with every row counted for each kind of mismatch."""
        return Table(
            None,
            rows,
            Mismatch(self.missing, len(rows)) if self.missing else None,
            Mismatch(self.extra, len(rows)) if self.extra else None,
            text,
        )


def _one_row(row: Mapping[str, Any], names: tuple[str, ...]) -> Table:
    match = _Match(tuple(row), names)
    return match.table([[row.get(n) for n in names]])


def _mapping(
    data: Mapping[Any, Any],
    designation: str,
    names: tuple[str, ...] | None,
    expected_rows: int | None,
) -> Table:
    if _is_request(data, names):
        return _convert(data["data"], designation, names, expected_rows, parse_text=False)
    columns = tuple(str(k) for k in data)
    values = list(data.values())
    if values and all(_is_columnar(v) for v in values):
        lists = [v.tolist() if hasattr(v, "tolist") else list(v) for v in values]
        if len({len(v) for v in lists}) != 1:
            raise UnsupportedInputError("dict of columns has columns of different lengths")
        if names is None or columns == names:
            return Table(columns, [list(r) for r in zip(*lists, strict=True)])
        match = _Match(columns, names)
        empty = [None] * len(lists[0])
        chosen = [lists[p] if p is not None else empty for p in match.positions]
        return match.table([list(r) for r in zip(*chosen, strict=True)])
    if names is None:
        return Table(columns, [values])
    return _one_row(dict(zip(columns, values, strict=True)), names)


def _is_request(data: Mapping[Any, Any], names: tuple[str, ...] | None) -> bool:
    """Whether ``data`` is the ``{"data": ...}`` request wrapper, not a row or columns with a ``data`` key.

    ``{"data": [1, 2], "age": [30, 40]}`` is a dict of columns, ``{"data": 5, "age": 30}``
    a row, and a declared feature called ``data`` is always a column.
    """
    if "data" not in data:
        return False
    if len(data) == 1:
        return True
    inner = data["data"]
    if (names is not None and "data" in names) or _is_scalar(inner):
        return False
    return not (_is_flat_column(inner) and all(_is_columnar(v) for v in data.values()))


def _is_flat_column(value: Any) -> bool:
    """A column of scalars (not a list of rows or records)."""
    if _foreign_kind(value) == "ndarray":
        return bool(value.ndim == 1 and value.dtype.names is None)
    if not _is_columnar(value):
        return False
    if _foreign_kind(value) == "Series" or len(value) == 0:
        return True
    first = value[0]
    return not isinstance(first, (list, tuple, Mapping)) and _foreign_kind(first) is None


def _is_columnar(value: Any) -> bool:
    return isinstance(value, (list, tuple)) or _foreign_kind(value) in {"ndarray", "Series"}


def _sequence(
    data: Sequence[Any], designation: str, names: tuple[str, ...] | None, expected_rows: int | None
) -> Table:
    if not data:
        return Table(None, [])
    first = data[0]
    kind = type(first)  # exact types first: the usual cases skip the slower tests below
    if kind in _SCALARS:
        return _vector(list(data), designation, names, expected_rows)
    if kind is not list and isinstance(first, Mapping):
        return _records(data, names)
    if isinstance(first, list):
        # Copies: run() may preprocess its rows in place after they were collected.
        return Table(None, [list(r) if isinstance(r, list) else r for r in data])
    if isinstance(first, tuple) or _foreign_kind(first) == "ndarray":
        return Table(None, [r.tolist() if hasattr(r, "tolist") else list(r) for r in data])
    return _vector(list(data), designation, names, expected_rows)


def _records(records: Sequence[Any], names: tuple[str, ...] | None) -> Table:
    if not all(isinstance(r, Mapping) for r in records):
        raise UnsupportedInputError("a list of records mixes dicts with other values")
    if names is None:
        columns: dict[str, None] = {}
        for record in records:
            columns.update(dict.fromkeys(record))
        keys = list(columns)
        return Table(tuple(str(k) for k in keys), [[r.get(k) for k in keys] for r in records])
    wanted = set(names)
    missing: dict[str, None] = {}
    extra: dict[str, None] = {}
    missing_rows = extra_rows = 0
    rows: list[Row] = []
    for record in records:
        if not all(type(k) is str for k in record):
            record = {str(k): v for k, v in record.items()}
        rows.append([record.get(n) for n in names])
        if len(record) == len(names) and all(n in record for n in names):
            continue
        lacking = [n for n in names if n not in record]
        surplus = [k for k in record if k not in wanted]
        missing.update(dict.fromkeys(lacking))
        extra.update(dict.fromkeys(surplus))
        missing_rows += bool(lacking)
        extra_rows += bool(surplus)
    return Table(
        None,
        rows,
        Mismatch(tuple(missing), missing_rows) if missing else None,
        Mismatch(tuple(extra), extra_rows) if extra else None,
    )
