"""``join_to``: inputs joined with their predictions (and labels) written to a file, day by day.

For data larger than memory, or simply large: one day of inputs is read at a time, with the
predictions of that day and its neighbours (a call's inputs and predictions are written within
the same call, so at most a day apart around midnight), joined in Arrow, and appended to a
Parquet or CSV file. Memory follows the rows of one day, not of the range.

The rows and values are those of :func:`~otel_modeldata.analysis.join.join` over
:func:`~otel_modeldata.analysis.read.read`. A column's type has to be the same in every day of
a file; when a later day needs a wider one (a column that was empty so far, integers meeting
floats, a new column of a schema change), the file is started again with the wider types.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from ..layout import parse_partition
from ..schema import INPUTS, PREDICTIONS, REQUEST_ID_COLUMN, SPAN_ID_COLUMN, TRACE_ID_COLUMN
from . import parse
from .find import DateLike
from .join import CALL_COLUMNS, CORRELATION_ID, KEYS, PREDICTIONS_SUFFIX, ROW_INDEX, _with_labels
from .read import Query, derived_columns, query, select, tables
from .sources import DataFile, Source, open_source, progress_bar

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

LABELS: Final = "labels"
PARQUET_SUFFIXES: Final = frozenset({".parquet", ".pq"})
#: Ids unique to a call or a request: no Parquet dictionary, and no minimum and maximum, which
#: would not let a reader skip anything and took a tenth of the time to write.
UNIQUE: Final = frozenset({CORRELATION_ID, REQUEST_ID_COLUMN, TRACE_ID_COLUMN, SPAN_ID_COLUMN})
#: Times a file is started again with wider types before giving up (each start widens at least one).
_STARTS: Final = 8
_ROW: Final = "$otel_modeldata_row"


class _Wider(Exception):
    """A day's table does not fit the file's types: start again with :attr:`schema`."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema


def join_to(
    output: str | os.PathLike[str],
    source: str | os.PathLike[str] | Source | None = None,
    *,
    model: str,
    version: str | None = None,
    webservice: str | None = None,
    start: DateLike | None = None,
    end: DateLike | None = None,
    labels: bool = True,
    how: Literal["left", "inner"] = "left",
    labels_window_days: int = 30,
    progress: bool | None = None,
) -> int:
    """Write ``join(read(inputs), read(predictions), read(labels))`` to ``output``; the rows written.

    ``output`` ending in ``.parquet`` (or ``.pq``) is written as Parquet, anything else as CSV;
    it appears complete or not at all. ``labels=True`` joins the labels that arrived within
    ``labels_window_days`` after each day. ``progress`` as in :func:`~otel_modeldata.analysis.read`.
    A range without input files writes nothing and raises ``ValueError``.
    """
    if how not in ("left", "inner"):
        raise ValueError(f"how must be 'left' or 'inner', got {how!r}")
    if labels_window_days < 0:
        raise ValueError(f"labels_window_days must be 0 or more, got {labels_window_days}")
    asked = query(model, INPUTS, version, webservice, start, end)
    opened = open_source(source)
    try:
        days = _by_day(select(opened, asked))
        if not days:
            raise ValueError(f"no files for {asked.describe()} in {opened.description}")
        # The predictions of the same range as the inputs, as join(read(...), read(...)) has them.
        predictions = _by_day(
            select(opened, Query(model, PREDICTIONS, version, webservice, asked.start, asked.end))
        )
        last = asked.end + timedelta(days=labels_window_days) if asked.end else None
        late = Query(model, LABELS, version, webservice, asked.start, last)
        found = _by_day(select(opened, late)) if labels else {}
        target = Path(output)
        parquet = target.suffix.lower() in PARQUET_SUFFIXES
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        schema = None
        try:
            for _ in range(_STARTS):
                try:
                    joined = _joined(
                        opened, asked, days, predictions, found, how, labels_window_days, progress
                    )
                    rows = _write(partial, parquet, schema, joined)
                    break
                except _Wider as wider:
                    schema = wider.schema
            else:
                raise ValueError(f"the columns of {asked.describe()} kept changing type")
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        return rows
    finally:
        if opened is not source:
            opened.close()


def _by_day(files: list[DataFile]) -> dict[date, list[DataFile]]:
    days: dict[date, list[DataFile]] = {}
    for file in files:
        days.setdefault(parse_partition(file.name).day, []).append(file)
    return days


def _joined(
    source: Source,
    asked: Query,
    inputs: dict[date, list[DataFile]],
    predictions: dict[date, list[DataFile]],
    labels: dict[date, list[DataFile]],
    how: str,
    window: int,
    progress: bool | None,
) -> Iterator[pa.Table]:
    """Each input day joined, in order of days; days read once and dropped once behind.

    Every day has the columns of the whole range in :func:`read`'s order (null where a day has
    none), so a schema change does not reorder the file's columns.
    """
    derived = derived_columns(asked)
    inputs_order = [*_headers(source, inputs), *derived]
    predictions_order = [*_headers(source, predictions), *derived]
    cache: dict[tuple[str, date], pa.Table | None] = {}

    def day_of(designation: str, files: dict[date, list[DataFile]], day: date) -> pa.Table | None:
        key = (designation, day)
        if key not in cache:
            found = files.get(day)
            asked_there = Query(asked.model, designation, asked.version, asked.webservice, day, day)
            cache[key] = _concat(tables(source, found, asked_there, progress=False)) if found else None
        return cache[key]

    import duckdb

    with progress_bar(len(inputs), "joining days", progress) as bar, duckdb.connect() as connection:
        for day in sorted(inputs):
            for key in [k for k in cache if k[1] < day - timedelta(days=1)]:
                del cache[key]
            that_day = Query(asked.model, INPUTS, asked.version, asked.webservice, day, day)
            left = _ordered(_concat(tables(source, inputs[day], that_day, progress=False)), inputs_order)
            near = [day_of(PREDICTIONS, predictions, day + timedelta(days=d)) for d in (-1, 0, 1)]
            right = _ordered(_concat([t for t in near if t is not None]), predictions_order)
            joined = _with_predictions(connection, left, right, how)
            arrived = [day_of(LABELS, labels, day + timedelta(days=d)) for d in range(window + 1)]
            found = [t for t in arrived if t is not None]
            if found:
                joined = _labelled(joined, _concat(found), how, window)
            for key in [k for k in cache if k[0] == LABELS and k[1] <= day]:
                del cache[key]
            yield joined
            bar.update()


def _headers(source: Source, days: dict[date, list[DataFile]]) -> list[str]:
    """The column names of every file, in order of first appearance (as :func:`read` orders them)."""
    files = sorted(f for day in days.values() for f in day)
    return list(dict.fromkeys(n for path in source.fetch(files) for n in parse.header(path)))


def _ordered(table: pa.Table, names: list[str]) -> pa.Table:
    """``table`` with the columns ``names``: those it lacks as null, none when it has no column."""
    import pyarrow as pa

    if not table.column_names:
        return table
    present = set(table.column_names)
    arrays = [table.column(n) if n in present else pa.nulls(len(table)) for n in names]
    return pa.Table.from_arrays(arrays, names=names)


def _concat(parts: list[pa.Table]) -> pa.Table:
    """One table of ``parts``, their columns aligned by name and typed for all of them."""
    import pyarrow as pa

    if not parts:
        return pa.table({})
    schema = parse.unified_schema(parts)
    return pa.concat_tables([parse.conform(t, schema) for t in parts])


def _with_predictions(
    connection: duckdb.DuckDBPyConnection, left: pa.Table, right: pa.Table, how: str
) -> pa.Table:
    """``left`` with the matching rows of ``right``, named as :func:`join` names them, in ``left``'s order."""
    import pyarrow as pa

    for what, table in (("inputs", left), ("predictions", right)):
        missing = [k for k in KEYS if k not in table.column_names]
        if missing and (what == "inputs" or len(table.column_names)):
            raise ValueError(f"{what} lack the column(s) {', '.join(missing)} needed to join")
    taken = set(left.column_names)
    kept = [c for c in right.column_names if c not in KEYS and c not in CALL_COLUMNS]
    names = [f"{c}{PREDICTIONS_SUFFIX}" if c in taken else c for c in kept]
    if not right.column_names:
        right = pa.table({CORRELATION_ID: pa.array([], pa.string()), ROW_INDEX: pa.array([], pa.int64())})
    rows, matches = _pairs(connection, left, right, how)
    joined = left if rows is None else left.take(rows)
    for column, name in zip(kept, names, strict=True):
        values = right.column(column)
        taken_values = values.take(matches) if len(values) else pa.nulls(len(joined), values.type)
        joined = joined.append_column(name, taken_values)
    return joined


def _pairs(
    connection: duckdb.DuckDBPyConnection, left: pa.Table, right: pa.Table, how: str
) -> tuple[pa.Array | None, pa.Array]:
    """Row numbers in ``left`` and of their match in ``right`` (null for none), in ``left``'s order;
    ``None`` for the first when they are every row of ``left`` once, in order.

    DuckDB's hash join over the key columns alone (the tables are Arrow, read without a copy):
    a quarter of the CPU of a hash lookup of combined keys in pyarrow, a third of Acero's join.
    """
    import numpy as np
    import pyarrow as pa

    keys = ", ".join(f'"{k}"' for k in KEYS)
    numbered = pa.table({**{k: left.column(k) for k in KEYS}, "n": np.arange(len(left))})
    other = pa.table({**{k: right.column(k) for k in KEYS}, "m": np.arange(len(right))})
    kind = "LEFT" if how == "left" else "INNER"
    connection.register("l", numbered)
    connection.register("r", other)
    sql = f"SELECT l.n, r.m FROM l {kind} JOIN r USING ({keys}) ORDER BY l.n"  # noqa: S608
    pairs = connection.sql(sql).to_arrow_table()
    connection.unregister("l")
    connection.unregister("r")
    rows, matches = pairs.column("n"), pairs.column("m")
    return (None if how == "left" and len(rows) == len(left) else rows), matches


def _labelled(joined: pa.Table, labels: pa.Table, how: str, window: int) -> pa.Table:
    """``joined`` with its labels, by :func:`join`'s rules (in pandas: labels are few)."""
    import pyarrow as pa

    frame = _with_labels(joined.to_pandas(), labels.to_pandas(), how, window)
    return pa.Table.from_pandas(frame, preserve_index=False)


def _write(path: Path, parquet: bool, schema: pa.Schema | None, days: Iterator[pa.Table]) -> int:
    """Append each day to ``path`` in one schema (``schema``, or the first day's); the rows written.

    A day is written on a thread of its own while the next is read and joined: the Parquet writer
    and DuckDB let go of the GIL, and a month took a third less time (one more day in memory).
    """
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    writer: Any = None
    rows = 0
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="otel-modeldata-write") as pool:
            written: Future[None] | None = None
            for table in days:
                if writer is None:
                    schema = _fits(table, schema or table.schema)
                    writer = (
                        pq.ParquetWriter(
                            path,
                            schema,
                            use_dictionary=_repeating(schema),
                            compression=_compression(schema),
                            write_statistics=[f.name for f in schema if f.name not in UNIQUE],
                        )
                        if parquet
                        else pacsv.CSVWriter(path, schema)
                    )
                assert schema is not None
                ready = parse.conform(table, _fits(table, schema))
                if not parquet:  # a CSV output is for spreadsheets too: the guard is put back
                    ready = parse.guarded(ready)
                if written is not None:
                    written.result()
                written = pool.submit(writer.write_table, ready)
                rows += len(table)
            if written is not None:
                written.result()
        return rows
    finally:
        if writer is not None:
            writer.close()


def _repeating(schema: pa.Schema) -> list[str]:
    """The columns worth a Parquet dictionary: text and times, but not the ids unique to a call
    (trying a dictionary on them and giving up doubled the time to write)."""
    import pyarrow.types as t

    return [
        f.name for f in schema if (t.is_string(f.type) or t.is_timestamp(f.type)) and f.name not in UNIQUE
    ]


def _compression(schema: pa.Schema) -> dict[str, str]:
    """Snappy, but none for floats: compressing them took half the time to write a day and saved
    a quarter of their bytes (1 M joined rows of 20 features: 0.56 s and 164 MB uncompressed,
    1.25 s and 119 MB with snappy)."""
    import pyarrow.types as t

    return {f.name: "none" if t.is_floating(f.type) else "snappy" for f in schema}


def _fits(table: pa.Table, schema: pa.Schema) -> pa.Schema:
    """``schema`` when ``table`` can be cast to it without loss; else raise :class:`_Wider`."""
    wider = parse.unified_schema([schema.empty_table(), table])
    if wider != schema:
        raise _Wider(wider)
    return schema
