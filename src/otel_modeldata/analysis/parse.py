"""The collected CSV files as typed Arrow tables, one file at a time, unified by column name.

pyarrow's CSV reader types every column from all its values (a column of integers whose later
values have fractions becomes float64, never rounded). The collector's dialect is given, not
sniffed: an empty field is missing, a quoted ``""`` is the empty string, and ``nan``/``inf`` are
floats. Files are read in parallel, one thread each (a lone file in blocks on pyarrow's threads),
and each file's table is only as large as the file, so a day can be read, used and dropped before
the next; :func:`read_blocks` streams one file in blocks of a fixed size, its columns typed
beforehand, so memory does not follow the file's size.

Across files, columns are aligned by name: a column missing from a file is null there, int64 and
float64 meet as float64 (an integer beyond 2**53 as the nearest float, as within one file), an
all-empty column takes the other files' type, and any other mix is read again as text, so the
text is the file's (``007`` stays ``007``).
"""

from __future__ import annotations

import csv
import itertools
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ..forking import after_fork_in_child
from ..policy import FORMULA_TRIGGERS, GUARD_MARK
from ..schema import (
    BOUNDARY_COLUMN,
    CORRELATION_COLUMNS,
    GUARDED_CORRELATION_COLUMNS,
    ROW_INDEX_COLUMN,
    TIMESTAMP_COLUMN,
    repeated,
)

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from .parsed import ParsedCache

#: Files parsed at once, one thread each: a file's blocks on pyarrow's threads as well cost a
#: fifth more CPU and a third more time for a month of files (measured on 2 cores).
WORKERS: Final = min(8, os.cpu_count() or 2)
#: Bytes of CSV per block when a file is streamed (:func:`read_blocks`), pyarrow's default. The
#: reader reads ahead about 36 blocks whatever the file's size (measured, pyarrow 26), so this
#: bounds a stream's memory at about 40 MB.
BLOCK_SIZE: Final = 1 << 20
#: Rows gathered from the blocks into one table of a stream: a few thousand rows a block would
#: make the consumer's work per table (pandas, a sort per feature) cost more than the rows'.
TABLE_ROWS: Final = 65_536
#: Any apostrophes, then a character a spreadsheet would run (``policy.needs_guard``).
_FORMULA: Final = re.escape(GUARD_MARK) + "*[" + re.escape("".join(FORMULA_TRIGGERS)) + "]"
#: A guarded cell: an apostrophe before :data:`_FORMULA`; the replacement drops that apostrophe.
_GUARDED: Final = "^" + re.escape(GUARD_MARK) + "(" + _FORMULA + ")"
#: A cell the guard changes.
_NEEDS_GUARD: Final = "^" + _FORMULA
_COLUMN_NUMBER: Final = re.compile(r"CSV column #(\d+)")
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def fixed_types() -> dict[str, pa.DataType]:
    """The correlation columns' types, by name, whatever their values look like."""
    import pyarrow as pa

    types = dict.fromkeys(CORRELATION_COLUMNS, pa.string())
    # Read as text, then parsed once per distinct value (see :func:`_timestamps`).
    types[BOUNDARY_COLUMN] = pa.int64()
    types[ROW_INDEX_COLUMN] = pa.int64()
    return types


def read_file(
    path: str | Path,
    columns: Sequence[str] | None = None,
    types: Mapping[str, pa.DataType] | None = None,
    *,
    threads: bool = True,
) -> pa.Table:
    """One file as a table: the given ``types`` first, the rest typed from every value; its blocks
    parsed on pyarrow's threads unless ``threads`` is false (files parsed side by side).

    ``columns`` (when given) are the only ones converted; those the file lacks are left out.
    Types other than booleans, integers, floats and text (a date-like feature) are read as text,
    and so is a column of an explicit type whose values do not convert.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = header(path)
    if not names:  # a file created but not yet written to
        return pa.table({})
    wanted = names if columns is None else [c for c in columns if c in names]
    given = {**fixed_types(), **(types or {})}
    while True:
        try:
            table = pacsv.read_csv(
                path,
                read_options=pacsv.ReadOptions(use_threads=threads),
                parse_options=parse_options(),
                convert_options=convert_options(wanted, given),
            )
        except pa.ArrowInvalid as exc:
            name = _failed_column(exc, names)
            if name is None or given.get(name) == pa.string():
                raise pa.ArrowInvalid(f"{path}: {exc}") from exc
            given[name] = pa.string()
            continue
        odd = [f.name for f in table.schema if not _plain(f.type) and f.name not in given]
        if not odd:
            return _timestamps(_unguarded(table))
        given.update(dict.fromkeys(odd, pa.string()))


def read_blocks(
    path: str | Path, columns: Sequence[str], types: Mapping[str, pa.DataType], block_size: int = BLOCK_SIZE
) -> Iterator[pa.Table]:
    """One file streamed in blocks of ``block_size`` bytes of CSV, as tables of :data:`TABLE_ROWS`
    rows (the last fewer), so memory does not follow the file's size.

    Only ``columns`` (those the file has) are read, typed by ``types`` and as text otherwise: a
    stream cannot type a column from values it has not read yet. A typed column whose values do
    not convert is text from the table where they start on (the tables before it stay typed).
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = header(path)
    if not names:  # a file created but not yet written to
        return
    # A file without any of ``columns`` still has rows (missing values): its first column counts them.
    wanted = [c for c in columns if c in names] or names[:1]
    given = {**dict.fromkeys(wanted, pa.string()), **fixed_types(), **types}
    done = 0
    while True:
        try:
            reader = pacsv.open_csv(
                path,
                read_options=pacsv.ReadOptions(block_size=block_size, skip_rows_after_names=done),
                parse_options=parse_options(),
                convert_options=convert_options(wanted, given),
            )
            pending: list[pa.RecordBatch] = []
            for batch in itertools.chain(reader, [None]):
                if batch is not None:
                    pending.append(batch)
                rows = sum(b.num_rows for b in pending)
                if pending and (rows >= TABLE_ROWS or batch is None):
                    done += rows  # before the yield: the consumer has these rows
                    yield _timestamps(_unguarded(pa.Table.from_batches(pending)))
                    pending = []
            return
        except pa.ArrowInvalid as exc:
            name = _failed_column(exc, names)
            if name is None or given.get(name) == pa.string():
                raise pa.ArrowInvalid(f"{path}: {exc}") from exc
            given[name] = pa.string()


def row_counts(paths: Sequence[str | Path], cache: ParsedCache | None) -> list[int]:
    """The rows of each file of ``paths``: from ``cache`` when a read kept the file there and it is
    unchanged, else parsed with only the first column converted (a third of a whole parse, so
    counting does not fill the cache)."""

    threads = len(paths) == 1

    def rows(path: str | Path) -> int:
        whole = None if cache is None else cache.load(Path(path))
        return len(read_file(path, header(path)[:1], threads=threads) if whole is None else whole)

    return list(_pool().map(rows, paths))


def _read_cached(
    path: str | Path,
    columns: Sequence[str] | None,
    types: Mapping[str, pa.DataType],
    cache: ParsedCache,
    threads: bool,
) -> pa.Table:
    """:func:`read_file` through ``cache``: a file read whole is kept, and the columns asked for
    are taken from what was kept, unless a type asked for is one the whole file's typing did not
    give (then the file is parsed with that type, as without the cache). A read of some columns
    converts only those, as without the cache, and keeps nothing."""
    whole = cache.load(Path(path))
    if whole is None and columns is not None:
        return read_file(path, columns, types, threads=threads)
    if whole is None:
        identity = cache.identity(Path(path))
        whole = read_file(path, threads=threads)
        if identity is not None:
            cache.store(Path(path), identity, whole)
    taken = _taken(whole, columns, types)
    return read_file(path, columns, types, threads=threads) if taken is None else taken


def _taken(
    whole: pa.Table, columns: Sequence[str] | None, types: Mapping[str, pa.DataType]
) -> pa.Table | None:
    """``columns`` of ``whole`` in ``types``' types; ``None`` when a type is not the one the file
    has and not a widening of it (no values to any type, int64 to float64 as :func:`_cast` does)."""
    import pyarrow as pa

    present = set(whole.column_names)
    names = whole.column_names if columns is None else [c for c in columns if c in present]
    arrays = []
    for name in names:
        column = whole.column(name)
        wanted = types.get(name, column.type)
        if wanted != column.type:
            if not (column.type == pa.null() or (column.type == pa.int64() and wanted == pa.float64())):
                return None
            column = _cast(column, wanted)
        arrays.append(column)
    return pa.Table.from_arrays(arrays, names=names)


def parse_options() -> pacsv.ParseOptions:
    """The collector's dialect: quoted cells may hold line breaks."""
    import pyarrow.csv as pacsv

    return pacsv.ParseOptions(newlines_in_values=True)


def convert_options(columns: Sequence[str], types: Mapping[str, pa.DataType]) -> pacsv.ConvertOptions:
    """Only ``columns`` converted, ``types`` where given; an empty cell is missing, ``""`` is text."""
    import pyarrow.csv as pacsv

    return pacsv.ConvertOptions(
        column_types={k: v for k, v in types.items() if k in columns},
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
        include_columns=list(columns),
    )


def read_files(
    paths: Sequence[str | Path],
    columns: Sequence[str] | None = None,
    on_read: Callable[[], None] | None = None,
    types: Mapping[str, pa.DataType] | None = None,
    cache: ParsedCache | None = None,
) -> list[pa.Table]:
    """Tables of ``paths`` (in order) whose common columns have one type each (see the module);
    ``types`` for the columns named there (text where their values do not convert). With a
    ``cache``, a file parsed before and unchanged since is not parsed again."""
    import pyarrow as pa

    text: dict[str, pa.DataType] = dict(types or {})
    threads = len(paths) == 1

    def read(path: str | Path) -> pa.Table:
        if cache is None:
            table = read_file(path, columns, text, threads=threads)
        else:
            table = _read_cached(path, columns, text, cache, threads)
        if on_read is not None:
            on_read()
        return table

    pool = _pool()
    tables = list(pool.map(read, paths))
    while conflicts := _text_needed(tables):
        text.update(dict.fromkeys(conflicts, pa.string()))
        redo = [i for i, t in enumerate(tables) if any(_is_not_text(t, c) for c in conflicts)]
        again = pool.map(
            lambda i, alone: read_file(paths[i], columns, text, threads=alone),
            redo,
            itertools.repeat(len(redo) == 1),
        )
        for i, table in zip(redo, again, strict=True):
            tables[i] = table
    return tables


def _pool() -> ThreadPoolExecutor:
    """The process's pool of :data:`WORKERS` parsing threads: a pool per call started two threads
    for each day of ``join_to``, which cost more than reading the day's files from the cache."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(WORKERS, thread_name_prefix="otel-modeldata-parse")
        return _POOL


def _forget_pool() -> None:
    """In a forked child the pool's threads do not exist: start a new pool there."""
    global _POOL, _POOL_LOCK
    _POOL, _POOL_LOCK = None, threading.Lock()


after_fork_in_child(_forget_pool)


def unified_schema(tables: Iterable[pa.Table], order: Sequence[str] | None = None) -> pa.Schema:
    """One field per column name (in order of first appearance, or ``order``), typed for all tables."""
    import pyarrow as pa

    found: dict[str, list[pa.DataType]] = {}
    for table in tables:
        for field in table.schema:
            found.setdefault(field.name, []).append(field.type)
    names = list(found) if order is None else [n for n in order if n in found]
    return pa.schema([(name, _common(found[name])) for name in names])


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with ``schema``'s columns in its order: cast, and null where the table has none."""
    import pyarrow as pa

    present = set(table.column_names)
    arrays = [
        _cast(table.column(f.name), f.type) if f.name in present else pa.nulls(len(table), f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def _cast(column: pa.ChunkedArray, kind: pa.DataType) -> pa.ChunkedArray:
    """``column`` as ``kind``; itself when it is already (a cast to the same type still costs a pass).

    int64 to float64 takes the nearest float, as pyarrow's CSV reader does for a file holding both
    (and pandas): pyarrow's checked cast refuses an integer beyond 2**53 instead.
    """
    import pyarrow as pa

    if column.type == kind:
        return column
    return column.cast(kind, safe=not (column.type == pa.int64() and kind == pa.float64()))


def header(path: str | Path) -> list[str]:
    """The column names of a file's first line.

    Raises ``ValueError`` naming the file when a name is there twice (a file an older collector
    wrote from data with a repeated or reserved column name): no reader can align its columns by name.
    """
    with open(path, encoding="utf-8", errors="replace", newline="") as file:
        names = next(csv.reader(file), [])
    twice = repeated(names)
    if twice:
        raise ValueError(
            f"{path}: the header names {', '.join(map(repr, twice))} more than once, so its columns "
            "cannot be told apart; move the file out of the folder to read the others"
        )
    return names


def _failed_column(exc: Exception, header: list[str]) -> str | None:
    found = _COLUMN_NUMBER.search(str(exc))
    if found is None or int(found.group(1)) >= len(header):
        return None
    return header[int(found.group(1))]


def _plain(kind: pa.DataType) -> bool:
    import pyarrow.types as t

    return bool(t.is_boolean(kind) or t.is_int64(kind) or t.is_float64(kind) or t.is_string(kind)) or (
        t.is_null(kind)
    )


def _unguarded(table: pa.Table) -> pa.Table:
    """Text columns with the formula guard's apostrophe removed, the ids and names among them.

    The timestamp, trace and span ids are never guarded. An id column is only rewritten when one
    of its cells starts with the mark: ids a caller chose to start like a formula are rare, and
    a regular expression over a million ids would cost more than the check.
    """
    import pyarrow.compute as pc
    import pyarrow.types as t

    for i, field in enumerate(table.schema):
        if not t.is_string(field.type):
            continue
        column = table.column(i)
        if field.name in CORRELATION_COLUMNS and (
            field.name not in GUARDED_CORRELATION_COLUMNS
            or not pc.any(pc.starts_with(column, GUARD_MARK)).as_py()
        ):
            continue
        table = table.set_column(
            i, field, pc.replace_substring_regex(column, pattern=_GUARDED, replacement=r"\1")
        )
    return table


def guarded(table: pa.Table) -> pa.Table:
    """``table`` with the formula guard put back on every text cell, as the collector writes it.

    For CSV outputs (a CSV file is for spreadsheets too): the inverse of the readers' unguarding,
    so reading the output back with :func:`otel_modeldata.policy.unguard` gives the values read.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.types as t

    for i, field in enumerate(table.schema):
        if not (t.is_string(field.type) or t.is_large_string(field.type)):
            continue
        column = table.column(i)
        risky = pc.match_substring_regex(column, pattern=_NEEDS_GUARD)
        if pc.any(risky).as_py():
            mark, nothing = pa.scalar(GUARD_MARK, field.type), pa.scalar("", field.type)
            marked = pc.binary_join_element_wise(mark, column, nothing)
            table = table.set_column(i, field, pc.if_else(risky, marked, column))
    return table


def _timestamps(table: pa.Table) -> pa.Table:
    """The scoring timestamp as a UTC time, parsed once per distinct value: the rows of a call share
    one, so this takes a fiftieth of parsing every row (a fifth of the file's parse time here).
    Text that is not a time stays text."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if TIMESTAMP_COLUMN not in table.column_names:
        return table
    i = table.column_names.index(TIMESTAMP_COLUMN)
    column = table.column(i)
    if not pa.types.is_string(column.type):
        return table
    coded = pc.dictionary_encode(column.combine_chunks())
    try:
        times = pc.cast(coded.dictionary, pa.timestamp("us", tz="UTC"))
    except pa.ArrowInvalid:
        return table
    return table.set_column(i, TIMESTAMP_COLUMN, times.take(coded.indices))


def _common(kinds: list[pa.DataType]) -> pa.DataType:
    import pyarrow as pa

    known = {k for k in kinds if k != pa.null()}
    if not known:
        return pa.null()
    if len(known) == 1:
        return known.pop()
    if known == {pa.int64(), pa.float64()}:
        return pa.float64()
    return pa.string()


def _text_needed(tables: list[pa.Table]) -> list[str]:
    """Columns whose types across ``tables`` only meet as text, while some table holds them otherwise."""
    import pyarrow as pa

    schema = unified_schema(tables)
    return [f.name for f in schema if f.type == pa.string() and any(_is_not_text(t, f.name) for t in tables)]


def _is_not_text(table: pa.Table, name: str) -> bool:
    import pyarrow as pa

    if name not in table.column_names:
        return False
    kind = table.schema.field(name).type
    return kind not in (pa.string(), pa.null())
