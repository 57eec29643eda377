"""Pure: rows plus correlation columns to RFC 4180 CSV bytes.

Values go through :mod:`csv` unchanged, so commas, quotes, newlines and unicode survive
a round trip; ``nan``, ``inf`` and ``-inf`` are what pandas reads back as NaN and
infinities; ``None`` is an empty field. A row is refused (and reported, never raised)
when its width differs from the header or it holds a nested value.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Final

from .schema import BOUNDARY_MINUTES, CORRELATION_COLUMNS

ENCODING: Final = "utf-8"
#: Lone surrogates cannot be UTF-8: they are written as ``\\udXXX`` text instead of failing.
ENCODING_ERRORS: Final = "backslashreplace"

_FLAT: Final = frozenset({str, int, float, bool, type(None)})
_NESTED: Final = (list, tuple, dict, set, frozenset, bytes, bytearray)

WRONG_WIDTH: Final = "wrong_feature_count"
NESTED_VALUE: Final = "nested_value"


@dataclass(frozen=True, slots=True)
class RowContext:
    """The correlation values shared by all rows of one collected call."""

    correlation_id: str
    timestamp: str
    workspace: str
    service: str
    model: str
    version: str
    request_id: str
    trace_id: str
    span_id: str


def header_line(columns: Sequence[str]) -> bytes:
    """The single header line of a file: the feature columns, then the correlation columns."""
    return encode_lines([[*columns, *CORRELATION_COLUMNS]])


def encode_lines(lines: Iterable[Sequence[Any]]) -> bytes:
    """CSV-encode ready lines (used for headers and by readers' tests)."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows(lines)
    return buffer.getvalue().encode(ENCODING, ENCODING_ERRORS)


def utc_moment(time_unix_nano: int) -> datetime:
    """An OpenTelemetry timestamp (nanoseconds since the epoch) as an aware UTC datetime."""
    return datetime.fromtimestamp(time_unix_nano / 1e9, tz=timezone.utc)


def iso_timestamp(moment: datetime) -> str:
    """ISO 8601 UTC with ``Z``, microsecond precision."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def hex_id(value: int, digits: int) -> str:
    """Trace and span ids as lowercase hex, empty when there is no span."""
    return format(value, f"0{digits}x") if value else ""


class RowWriter:
    """Accumulates CSV lines for one file; ``write`` returns the reasons of refused rows."""

    __slots__ = ("_buffer", "_writer", "rows")

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer)
        self.rows = 0

    def write(self, rows: Sequence[Any], width: int, ctx: RowContext) -> list[str]:
        """Append ``rows`` with their correlation columns; refused rows are skipped."""
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
        tail = (ctx.trace_id, ctx.span_id)
        refused: list[str] = []
        lines = []
        for index, row in enumerate(rows):
            reason = refusal(row, width)
            if reason is None:
                lines.append((*row, *head, index, *tail))
            else:
                refused.append(reason)
        self._writer.writerows(lines)
        self.rows += len(lines)
        return refused

    def payload(self) -> bytes:
        """Everything written so far, as UTF-8 bytes."""
        return self._buffer.getvalue().encode(ENCODING, ENCODING_ERRORS)


def refusal(row: Any, width: int) -> str | None:
    """Why ``row`` cannot be written under a header of ``width`` features, or ``None``."""
    if not isinstance(row, (list, tuple)) or len(row) != width:
        return WRONG_WIDTH
    if _FLAT.issuperset(map(type, row)):
        return None
    if any(isinstance(v, _NESTED) or (hasattr(v, "__len__") and not isinstance(v, str)) for v in row):
        return NESTED_VALUE
    return None
