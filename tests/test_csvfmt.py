"""CSV encoding: awkward values survive a round trip through csv and pandas."""

from __future__ import annotations

import csv
import io
import math
from datetime import date, datetime, timezone

import pandas as pd
import pytest

from otel_modeldata.csvfmt import (
    NESTED_VALUE,
    SLICE_LINES,
    WRONG_WIDTH,
    RowContext,
    RowWriter,
    Timestamps,
    header_line,
    refusal,
    utc_day,
)
from otel_modeldata.schema import CORRELATION_COLUMNS

from csvfiles import AWKWARD

CTX = RowContext("cid", "2026-01-02T03:04:05.000006Z", "s/r/w", "svc", "m", "1", "rid", "ab" * 16, "cd" * 8)


def encode(rows: list[list[object]], width: int) -> tuple[bytes, list[str]]:
    writer = RowWriter()
    refused = writer.write(rows, width, CTX)
    return header_line([f"c{i}" for i in range(width)]) + writer.payload(), refused


def test_header_has_features_then_correlation_columns() -> None:
    line = header_line(["a", "b"]).decode()
    assert line == ",".join(["a", "b", *CORRELATION_COLUMNS]) + "\r\n"


def test_awkward_strings_round_trip_through_csv() -> None:
    data, refused = encode([list(r) for r in AWKWARD], 6)
    assert refused == []
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert [r[:6] for r in rows[1:]] == AWKWARD


def test_awkward_strings_round_trip_through_pandas() -> None:
    data, _ = encode([list(r) for r in AWKWARD], 6)
    frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    assert frame.iloc[:, :6].values.tolist() == AWKWARD


def test_nan_and_infinities_read_back_as_such() -> None:
    data, _ = encode([[math.nan, math.inf, -math.inf, None, 1.5]], 5)
    frame = pd.read_csv(io.BytesIO(data))
    values = frame.iloc[0, :5].tolist()
    assert math.isnan(values[0])
    assert values[1] == math.inf
    assert values[2] == -math.inf
    assert math.isnan(values[3])
    assert values[4] == 1.5


def test_non_finite_floats_are_spelled_as_every_reader_reads_them_and_empty_strings_quoted() -> None:
    special = [math.nan, math.inf, -math.inf, -0.0, None, "", "nan", "\ue000"]
    data, _ = encode([[1.0] * 8, special, [2.0] * 8], 8)
    lines = data.decode().split("\r\n")
    assert lines[1].startswith("1.0,1.0,1.0,1.0,1.0,1.0,1.0,1.0,cid,")
    assert lines[2].startswith('NaN,Inf,-Inf,-0.0,,"",nan,\ue000,cid,')
    assert lines[3].startswith("2.0,2.0,2.0,2.0,2.0,2.0,2.0,2.0,cid,")
    assert [line.split(",")[16] for line in lines[1:4]] == ["0", "1", "2"]


def test_ordinary_rows_are_written_exactly_as_csv_writer_writes_them() -> None:
    rows = [
        [1.5, -0.0, 2**63 - 1, None, "banana", "inf", True],
        [0.1, 1e308, -3, "a,b", "x\r\ny", "nan", False],
        [1e308, 1e308, 1, 2, 3.0, 2**80, True],
    ]
    writer = RowWriter()
    writer.write(rows, 7, CTX)
    buffer = io.StringIO()
    csv.writer(buffer).writerows([*r, *CTX[:2], 1440, *CTX[2:7], i, *CTX[7:9]] for i, r in enumerate(rows))
    assert writer.payload() == buffer.getvalue().encode()


def test_many_rows_are_encoded_whole_and_in_order_with_special_cells_among_them() -> None:
    # More lines than one csv call encodes (the encoding lets other threads in between calls).
    rows: list[list[object]] = [[i, i / 7, f"t{i}"] for i in range(5 * SLICE_LINES + 3)]
    for i in (0, SLICE_LINES - 1, SLICE_LINES, 3 * SLICE_LINES + 1, len(rows) - 1):
        rows[i] = [i, math.nan, ""]
    writer = RowWriter()
    writer.write(rows, 3, CTX)
    read = [line[:3] for line in csv.reader(io.StringIO(writer.payload().decode()))]
    assert read == [[str(r[0]), "NaN" if r[2] == "" else str(r[1]), str(r[2])] for r in rows]


def test_a_pandas_na_cell_does_not_fail_its_row_and_is_an_empty_cell() -> None:
    data, refused = encode([[pd.NA, math.nan, ""], [pd.NA, 1.5, ""]], 3)
    assert refused == []
    lines = data.decode().split("\r\n")
    assert lines[1].startswith(',NaN,"",cid,')
    assert lines[2].startswith(',1.5,"",cid,')


def test_correlation_columns_and_row_index() -> None:
    data, _ = encode([[1], [2], [3]], 1)
    frame = pd.read_csv(io.BytesIO(data), dtype=str)
    assert frame["$row_index"].tolist() == ["0", "1", "2"]
    assert set(frame["$aml_dc_correlation_id"]) == {"cid"}
    assert set(frame["$aml_dc_boundary"]) == {"1440"}
    assert set(frame["$otel_trace_id"]) == {"ab" * 16}


def test_lone_surrogates_do_not_break_the_payload() -> None:
    data, refused = encode([["ok"], ["bad \ud800 half"]], 1)
    assert refused == []
    assert b"\\ud800" in data


def test_rows_of_the_wrong_width_or_nested_values_are_refused_and_the_rest_kept() -> None:
    writer = RowWriter()
    refused = writer.write([[1, 2], [1], [1, [2, 3]], [3, {"a": 1}], "x", [5, 6]], 2, CTX)
    assert refused == [WRONG_WIDTH, NESTED_VALUE, NESTED_VALUE, WRONG_WIDTH]
    assert writer.rows == 2
    kept = list(csv.reader(io.StringIO(writer.payload().decode())))
    assert [r[:2] for r in kept] == [["1", "2"], ["5", "6"]]


def test_refusal_accepts_flat_rows() -> None:
    assert refusal([1, 2.5, "x", None, True], 5) is None
    assert refusal((1, 2), 2) is None


def _ns(text: str, nanos: int = 0) -> int:
    """Nanoseconds since the epoch of a whole UTC second, plus ``nanos``."""
    moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return int(moment.timestamp()) * 1_000_000_000 + nanos


def test_timestamps_are_utc_iso_truncated_to_the_microsecond() -> None:
    stamps = Timestamps()
    assert stamps.text(_ns("2026-01-02T03:04:05", 123_456_789)) == "2026-01-02T03:04:05.123456Z"
    assert stamps.text(_ns("2026-01-02T03:04:05", 999_999_999)) == "2026-01-02T03:04:05.999999Z"
    assert stamps.text(_ns("2026-01-02T03:04:06")) == "2026-01-02T03:04:06.000000Z"
    # Records of a batch are not always in order: an earlier second is formatted afresh.
    assert stamps.text(_ns("2025-12-31T23:59:59", 5_000)) == "2025-12-31T23:59:59.000005Z"


@pytest.mark.parametrize(
    ("moment", "day"),
    [
        (_ns("2026-03-01T00:00:00"), date(2026, 3, 1)),
        (_ns("2026-02-28T23:59:59", 999_999_999), date(2026, 2, 28)),
        (_ns("2028-02-29T12:00:00"), date(2028, 2, 29)),
        (0, date(1970, 1, 1)),
    ],
)
def test_the_partition_day_is_the_utc_date_of_the_timestamp(moment: int, day: date) -> None:
    assert utc_day(moment) == day


def test_a_record_starting_further_into_its_call_numbers_its_rows_from_there() -> None:
    writer = RowWriter()
    assert writer.write([[1], ["bad", "width"], [3]], 1, CTX._replace(first_row=10_000_000)) == [WRONG_WIDTH]
    frame = pd.read_csv(io.BytesIO(header_line(["y"]) + writer.payload()))
    assert frame[["y", "$row_index"]].values.tolist() == [[1, 10_000_000], [3, 10_000_002]]
