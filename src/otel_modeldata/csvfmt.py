"""Pure: rows plus correlation columns to RFC 4180 CSV bytes.

Values go through :mod:`csv` unchanged, so commas, quotes, newlines and unicode survive
a round trip, with two exceptions made for the readers: non-finite floats are spelled
``NaN``, ``Inf`` and ``-Inf`` (Spark's defaults, which pandas and DuckDB read as floats
too, where Python's ``nan``/``inf`` make Spark type the column as text), and an empty string is
quoted (``""``) so it stays apart from ``None``, an unquoted empty field. Only the rows
holding such a value are touched: ordinary rows are encoded by one ``csv.writer`` call.
A row is refused (and reported, never raised) when its width differs from the header, it
holds a nested value or a cell over the cell bound; a collected value over the value bound
is refused whole. Sizes are measured while the rows are checked anyway, never by encoding twice.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta, timezone
from operator import ne
from typing import Any, Final, NamedTuple

from .rows import readable_times
from .schema import BOUNDARY_MINUTES, CORRELATION_COLUMNS

ENCODING: Final = "utf-8"
#: Lone surrogates cannot be UTF-8: they are written as ``\\udXXX`` text instead of failing.
ENCODING_ERRORS: Final = "backslashreplace"

#: Type names of pandas' missing values, written as empty cells like ``None`` (not ``<NA>``, ``NaT``).
_MISSING_MARKERS: Final = frozenset({"NAType", "NaTType"})
#: Cells with nothing to measure: a row of only these takes the fast path.
_PLAIN: Final = frozenset({int, float, bool, type(None)})
_NESTED: Final = (list, tuple, dict, set, frozenset, bytes, bytearray)

NANOS_PER_SECOND: Final = 1_000_000_000
NANOS_PER_DAY: Final = 86_400 * NANOS_PER_SECOND
_EPOCH: Final = date(1970, 1, 1)

#: How non-finite floats are written (Spark's defaults; pandas and DuckDB read them too).
NAN_TEXT: Final = "NaN"
INF_TEXT: Final = "Inf"
NEG_INF_TEXT: Final = "-Inf"

WRONG_WIDTH: Final = "wrong_feature_count"
NESTED_VALUE: Final = "nested_value"
CELL_TOO_LARGE: Final = "cell_too_large"
VALUE_TOO_LARGE: Final = "value_too_large"

DEFAULT_MAX_CELL_BYTES: Final = 64 * 1024
DEFAULT_MAX_VALUE_BYTES: Final = 8 * 1024 * 1024
#: What a cell other than text (a number, a boolean, an empty cell) counts toward a value's size.
PLAIN_CELL_BYTES: Final = 8
#: Lines per ``csv`` call when encoding many: the interpreter can hand the GIL to a waiting
#: request thread between two calls, where one call over a whole batch (tens of milliseconds
#: for 1,000-row values) would hold it throughout.
SLICE_LINES: Final = 256


class RowContext(NamedTuple):
    """The correlation values shared by all rows of one collected call (a tuple: cheap per record)."""

    correlation_id: str
    timestamp: str
    workspace: str
    service: str
    model: str
    version: str
    request_id: str
    trace_id: str
    span_id: str
    #: ``$row_index`` of the first row (see ``schema.FIRST_ROW_INDEX``).
    first_row: int = 0


def header_line(columns: Sequence[str]) -> bytes:
    """The single header line of a file: the feature columns, then the correlation columns."""
    return encode_lines([[*columns, *CORRELATION_COLUMNS]])


def encode_lines(lines: Iterable[Sequence[Any]]) -> bytes:
    """CSV-encode ready lines (used for headers and by readers' tests)."""
    return _text(lines).encode(ENCODING, ENCODING_ERRORS)


def _text(lines: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if isinstance(lines, list) and len(lines) > SLICE_LINES:
        for start in range(0, len(lines), SLICE_LINES):
            writer.writerows(lines[start : start + SLICE_LINES])
    else:
        writer.writerows(lines)
    return buffer.getvalue()


class Timestamps:
    """OpenTelemetry timestamps (ns since the epoch) as ISO 8601 UTC text with ``Z``.

    Truncated to the microsecond. The date and time of day are formatted once per second:
    records of one batch mostly share their second, and ``strftime`` per record would cost
    more than the rest of a one-row record's encoding.
    """

    __slots__ = ("_cached",)

    def __init__(self) -> None:
        self._cached: tuple[int | None, str] = (None, "")

    def text(self, time_unix_nano: int) -> str:
        """``YYYY-MM-DDTHH:MM:SS.ffffffZ``; safe to share between threads (one tuple is swapped)."""
        second, nanos = divmod(time_unix_nano, NANOS_PER_SECOND)
        cached = self._cached
        if cached[0] != second:
            prefix = datetime.fromtimestamp(second, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
            cached = self._cached = (second, prefix)
        return f"{cached[1]}.{nanos // 1000:06d}Z"


def utc_day(time_unix_nano: int) -> date:
    """The UTC date of an OpenTelemetry timestamp: the partition a row goes to."""
    return _EPOCH + timedelta(days=time_unix_nano // NANOS_PER_DAY)


def hex_id(value: int, digits: int) -> str:
    """Trace and span ids as lowercase hex, empty when there is no span."""
    return format(value, f"0{digits}x") if value else ""


class RowWriter:
    """Accumulates the CSV lines of one file; ``write`` returns the reasons of refused rows.

    ``max_cell_bytes`` bounds one text cell and ``max_value_bytes`` one collected value (the
    rows of one ``write``), both in UTF-8 bytes before CSV quoting; see :func:`measure`.
    """

    __slots__ = ("_lines", "_max_cell", "_max_value", "_special", "_width", "rows")

    def __init__(
        self, max_cell_bytes: int = DEFAULT_MAX_CELL_BYTES, max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES
    ) -> None:
        self._lines: list[tuple[Any, ...]] = []
        self._max_cell = max_cell_bytes
        self._max_value = max_value_bytes
        #: Positions in ``_lines`` of the rows holding an empty string or a non-finite float.
        self._special: list[int] = []
        self._width = 0
        self.rows = 0

    def write(self, rows: Sequence[Any], width: int, ctx: RowContext) -> list[str]:
        """Add ``rows`` with their correlation columns; refused rows are skipped.

        Rows over the value bound are all refused as ``value_too_large``: a value is
        written whole or not at all, never cut.
        """
        head = (
            ctx.correlation_id,
            ctx.timestamp,
            BOUNDARY_MINUTES,
            ctx.workspace,
            ctx.service,
            ctx.model,
            ctx.version,
            ctx.request_id,
        )
        trace_id, span_id = ctx.trace_id, ctx.span_id
        lines, special, isfinite = self._lines, self._special, math.isfinite
        self._width = width
        before, special_before = len(lines), len(special)
        max_cell, max_value = self._max_cell, self._max_value
        size = 0
        refused: list[str] = []
        for index, row in enumerate(rows, ctx.first_row):
            measured, cells = _measure(row, width, max_cell)
            if type(measured) is int:
                size += measured
                if size > max_value:
                    del lines[before:]
                    del special[special_before:]
                    return [VALUE_TOO_LARGE] * len(rows)
                # A row of numbers sums to a finite number unless a cell is NaN or infinite
                # (or the sum overflows): one fast C loop. Rows with text or None take the scans.
                try:
                    plain = isfinite(sum(cells))
                except Exception:  # text, None, or any cell that does not add up
                    plain = False
                if not plain and _needs_spelling(cells):
                    special.append(len(lines))
                lines.append((*cells, *head, index, trace_id, span_id))
            else:
                refused.append(str(measured))
        self.rows += len(lines) - before
        return refused

    def payload(self) -> bytes:
        """Every line written so far, as UTF-8 CSV bytes."""
        lines, width = self._lines, self._width
        if not self._special:
            return encode_lines(lines)
        parts: list[str] = []
        start = 0
        for at in self._special:
            parts.append(_text(lines[start:at]))
            parts.append(_spelled(lines[at], width))
            start = at + 1
        parts.append(_text(lines[start:]))
        return "".join(parts).encode(ENCODING, ENCODING_ERRORS)


def _needs_spelling(row: Sequence[Any]) -> bool:
    """Whether a cell is an empty string or a non-finite float: C-level scans, no loop over cells.

    A cell whose comparisons give no bool (``pandas.NA``) makes the scans raise: that
    row is looked at cell by cell.
    """
    try:
        return "" in row or math.inf in row or -math.inf in row or any(map(ne, row, row))
    except Exception:
        return any(_spell(value, "\ue000") is not value for value in row)


def _spelled(line: tuple[Any, ...], width: int) -> str:
    """The CSV line of ``line`` with its non-finite floats spelled out and empty strings quoted.

    csv.writer cannot quote one field only (QUOTE_STRINGS, which quotes every string but
    not ``None``, came with Python 3.12): an empty string is written as a marker found in
    no string of the line, a whole field that is then replaced by ``""``.
    """
    marker = "\ue000"
    while any(marker in value for value in line if isinstance(value, str)):
        marker += "\ue000"
    return _text([(*(_spell(value, marker) for value in line[:width]), *line[width:])]).replace(marker, '""')


def _spell(value: Any, marker: str) -> Any:
    """A non-finite float spelled for the readers, ``marker`` for an empty string, others as they are."""
    if isinstance(value, float) and not math.isfinite(value):
        return NAN_TEXT if math.isnan(value) else INF_TEXT if value > 0 else NEG_INF_TEXT
    return marker if isinstance(value, str) and not value else value


def measure(row: Any, width: int, max_cell_bytes: int = DEFAULT_MAX_CELL_BYTES) -> str | int:
    """Why ``row`` cannot be written under a header of ``width`` features, or else its size.

    The size is what the row counts toward its value's bound: the UTF-8 bytes of its text
    cells plus :data:`PLAIN_CELL_BYTES` for each other cell. Rows of numbers take a fast
    path; ASCII text is measured by its length (no encoding).
    """
    return _measure(row, width, max_cell_bytes)[0]


def _measure(row: Any, width: int, max_cell_bytes: int) -> tuple[str | int, Any]:
    """:func:`measure`, and the cells to write: ``row``, or a copy with pandas' ``NA``/``NaT`` as ``None``."""
    if not isinstance(row, (list, tuple)) or len(row) != width:
        return WRONG_WIDTH, row
    if _PLAIN.issuperset(map(type, row)):
        return width * PLAIN_CELL_BYTES, row
    size = 0
    cells: Any = row
    for position, value in enumerate(row):
        if isinstance(value, str):
            cell = len(value) if value.isascii() else len(value.encode(ENCODING, ENCODING_ERRORS))
            if cell > max_cell_bytes:
                return CELL_TOO_LARGE, row
            size += cell
            continue
        if type(value).__name__ in _MISSING_MARKERS:
            if cells is row:
                cells = list(row)
            cells[position] = None
        elif isinstance(value, _NESTED) or hasattr(value, "__len__") or hasattr(value, "__iter__"):
            return NESTED_VALUE, row  # containers, generators and iterators have no one cell's value
        else:
            coarse = _to_microseconds(value)
            if coarse is not value:
                if cells is row:
                    cells = list(row)
                cells[position] = coarse
        size += PLAIN_CELL_BYTES
    return size, cells


def _to_microseconds(value: Any) -> Any:
    """A time finer than a microsecond (a pandas ``Timestamp``, a numpy ``datetime64[ns]``) to the
    microsecond, as a column or an array of them is written; any other value itself."""
    if getattr(value, "nanosecond", 0) and callable(getattr(value, "floor", None)):
        return value.floor("us")
    if getattr(getattr(value, "dtype", None), "kind", None) not in ("m", "M"):
        return value
    coarse = readable_times(value)
    return value if coarse is value else coarse.item()


def refusal(row: Any, width: int, max_cell_bytes: int = DEFAULT_MAX_CELL_BYTES) -> str | None:
    """Why ``row`` cannot be written under a header of ``width`` features, or ``None``."""
    measured = measure(row, width, max_cell_bytes)
    return measured if isinstance(measured, str) else None
