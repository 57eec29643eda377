"""``read``: the rows of one model and designation over a range of days, typed, as one DataFrame.

The files are parsed by pyarrow's CSV reader (:mod:`.parse`): in parallel, each in blocks on
several threads, every column typed from all its values, then aligned by name. pyarrow and not
DuckDB, measured on this project's files (1 M rows, 2 cores, ``benchmarks/read_join.py``):
DuckDB's ``read_csv`` took 23 to 26 CPU seconds over the inputs with ``union_by_name`` (which
every schema change needs) and 7.2 without it, against 2.3 to 3.4 for pyarrow (one thread) and
2.3 to 3.9 for pandas; typing from every value (``sample_size = -1``) cost DuckDB a full extra
pass, where pyarrow's reader retypes a column when a later block needs it. pandas and pyarrow
parse at the same CPU cost per row here, so reading is not faster than pandas on a loaded 2-core
machine; what it gives is the collector's types and ``join_to``'s bounded memory. See
docs/analysis.md for the figures.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final, overload

from ..layout import ANY, LEVELS
from ..schema import DAY_COLUMN, FILE_COLUMN, INPUTS, MODEL_VERSION_FIELD, TIMESTAMP_COLUMN, WEBSERVICE_FIELD
from . import parse
from .find import DateLike, UnknownModelError, find_files, models, to_date
from .parsed import ParsedCache
from .sources import DataFile, Source, open_source, progress_bar

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

TIMESTAMP: Final = TIMESTAMP_COLUMN
#: Partition fields added to the rows, from the file's path.
DAY: Final = DAY_COLUMN
FILE: Final = FILE_COLUMN
MODEL_VERSION: Final = MODEL_VERSION_FIELD
WEBSERVICE: Final = WEBSERVICE_FIELD


@dataclass(frozen=True)
class Query:
    """What to read: a model's designation over a range of days, as the layout names them."""

    model: str
    designation: str = INPUTS
    version: str | None = None
    webservice: str | None = None
    start: date | None = None
    end: date | None = None

    def pattern(self) -> list[str]:
        """The layout's levels above the dates, :data:`~otel_modeldata.layout.ANY` where open."""
        levels = [ANY, ANY, ANY, self.webservice or ANY, self.model, self.version or ANY, self.designation]
        assert len(levels) == LEVELS.index("year")
        return levels

    def describe(self) -> str:
        """The query in words, for messages."""
        version = "every version" if self.version is None else f"version {self.version}"
        days = f"from {self.start or 'the first day'} to {self.end or 'the last day'}"
        return f"{self.designation} of model {self.model!r} ({version}) {days}"


def query(
    model: str,
    designation: str = INPUTS,
    version: str | None = None,
    webservice: str | None = None,
    start: DateLike | None = None,
    end: DateLike | None = None,
) -> Query:
    """A :class:`Query`, with the dates parsed and an inverted range refused."""
    first, last = to_date(start, "start"), to_date(end, "end")
    if first and last and last < first:
        raise ValueError(f"the range ends ({last}) before it starts ({first})")
    return Query(model, designation, version, webservice, first, last)


def select(source: Source, asked: Query) -> list[DataFile]:
    """The files of ``asked``; :class:`UnknownModelError` when the source has no such model."""
    files = find_files(source, asked.pattern(), asked.start, asked.end)
    if not files:
        found = models(source, asked.pattern())
        if asked.model not in found:
            under = f" under webservice {asked.webservice!r}" if asked.webservice else ""
            raise UnknownModelError(asked.model, found, f"{source.description}{under}")
    return files


def tables(
    source: Source,
    files: list[DataFile],
    asked: Query,
    columns: Sequence[str] | None = None,
    *,
    progress: bool | None = None,
    types: Mapping[str, pa.DataType] | None = None,
) -> list[pa.Table]:
    """One table per file of ``files``, all of one schema: typed columns, partition fields added.

    ``columns`` chooses the columns (stored or partition fields) and their order; an unknown one
    is refused with the list of columns there are.
    """
    paths = source.fetch(files)
    derived = derived_columns(asked)
    stored = None if columns is None else [c for c in columns if c not in derived]
    with progress_bar(len(paths), "reading", progress) as bar:
        read = parse.read_files(
            paths, stored, on_read=bar.update, types=types, cache=ParsedCache.from_environment()
        )
    schema = parse.unified_schema(read)
    if columns is not None:
        _known_columns(paths, derived, columns)
    return [
        _with_partition(parse.conform(t, schema), f, derived, columns)
        for t, f in zip(read, files, strict=True)
    ]


def blocks(
    source: Source,
    files: list[DataFile],
    asked: Query,
    columns: Sequence[str] | None,
    types: Mapping[str, pa.DataType],
    block_size: int,
    *,
    progress: bool | None = None,
) -> Iterator[pa.Table]:
    """The rows of ``files``, a file at a time, read in blocks of ``block_size`` bytes of CSV and
    given as tables of up to :data:`parse.TABLE_ROWS` rows.

    Every table has the same columns (``columns``, or all the files', partition fields last),
    null where a file lacks one; typed by ``types``, otherwise text (see :func:`parse.read_blocks`).
    """
    import pyarrow as pa

    paths = source.fetch(files)
    derived = derived_columns(asked)
    names = _known_columns(paths, derived, columns)
    stored = [c for c in names if c not in derived]
    with progress_bar(len(paths), "reading", progress) as bar:
        for path, file in zip(paths, files, strict=True):
            for table in parse.read_blocks(path, stored, types, block_size):
                rows, present = len(table), set(table.column_names)
                for name in stored:
                    if name not in present:
                        table = table.append_column(name, pa.nulls(rows, types.get(name, pa.string())))
                yield _with_partition(table, file, derived, names)
            bar.update()


def _known_columns(paths: Sequence[Path], derived: list[str], columns: Sequence[str] | None) -> list[str]:
    """``columns``, or every column of the files and then ``derived``; unknown ones refused."""
    known = list(dict.fromkeys([*(n for p in paths for n in parse.header(p)), *derived]))
    if columns is None:
        return known
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise ValueError(f"no column {', '.join(map(repr, unknown))}; columns: {', '.join(known)}")
    return list(columns)


def derived_columns(asked: Query) -> list[str]:
    """The partition fields added to the rows: the day and file, and the levels left open."""
    return [
        DAY,
        FILE,
        *([MODEL_VERSION] if asked.version is None else []),
        *([WEBSERVICE] if asked.webservice is None else []),
    ]


def _with_partition(
    table: pa.Table, file: DataFile, derived: list[str], columns: Sequence[str] | None
) -> pa.Table:
    import pyarrow as pa

    parts = file.name.split("/")
    year, month, day = (int(p) for p in parts[len(LEVELS) - 3 : len(LEVELS)])
    values = {
        DAY: pa.scalar(datetime(year, month, day), pa.timestamp("us")),
        FILE: pa.scalar(file.name, pa.string()),
        MODEL_VERSION: pa.scalar(parts[LEVELS.index("version")], pa.string()),
        WEBSERVICE: pa.scalar(parts[LEVELS.index("webservice")], pa.string()),
    }
    rows = len(table)
    added = {name: pa.repeat(values[name], rows) for name in derived}
    names = [*table.column_names, *derived] if columns is None else list(columns)
    present = set(table.column_names)
    arrays = [table.column(n) if n in present else added[n] for n in names]
    return pa.Table.from_arrays(arrays, names=names)


def read_table(
    source: Source,
    asked: Query,
    columns: Sequence[str] | None = None,
    *,
    progress: bool | None = None,
    types: Mapping[str, pa.DataType] | None = None,
) -> pa.Table | None:
    """The rows of ``asked`` as one Arrow table; ``None`` when the range has no files."""
    import pyarrow as pa

    files = select(source, asked)
    if not files:
        return None
    return pa.concat_tables(tables(source, files, asked, columns, progress=progress, types=types))


@overload
def read(
    source: str | os.PathLike[str] | Source | None = None,
    *,
    model: str,
    designation: str = INPUTS,
    version: str | None = None,
    start: DateLike | None = None,
    end: DateLike | None = None,
    webservice: str | None = None,
    columns: list[str] | None = None,
    progress: bool | None = None,
    types: Mapping[str, str] | None = None,
    block_size: None = None,
) -> pd.DataFrame: ...


@overload
def read(
    source: str | os.PathLike[str] | Source | None = None,
    *,
    model: str,
    designation: str = INPUTS,
    version: str | None = None,
    start: DateLike | None = None,
    end: DateLike | None = None,
    webservice: str | None = None,
    columns: list[str] | None = None,
    progress: bool | None = None,
    types: Mapping[str, str] | None = None,
    block_size: int,
) -> Iterator[pd.DataFrame]: ...


def read(
    source: str | os.PathLike[str] | Source | None = None,
    *,
    model: str,
    designation: str = INPUTS,
    version: str | None = None,
    start: DateLike | None = None,
    end: DateLike | None = None,
    webservice: str | None = None,
    columns: list[str] | None = None,
    progress: bool | None = None,
    types: Mapping[str, str] | None = None,
    block_size: int | None = None,
) -> pd.DataFrame | Iterator[pd.DataFrame]:
    """The rows of ``model``'s ``designation`` on the days from ``start`` to ``end`` (both included).

    ``source``: ``None`` for the collector's own settings (``OTEL_MODELDATA_LOCAL_DIR`` or the
    storage account), a local root (the folder holding ``modeldata/``, or that folder itself), or a
    container URL.
    ``version=None`` reads every version (and adds ``$model_version``); ``webservice=None`` every
    service (and adds ``$webservice``). ``$day`` and ``$file`` say where each row was read.
    A range without files gives an empty DataFrame; a model the source lacks raises
    :class:`UnknownModelError`, which lists the models found. ``progress``: a bar on stderr
    while reading and downloading many files; ``None`` draws it only when stderr is a terminal.
    ``types`` gives columns an Arrow type by name (``"float64"``, ``"string"``...); a column
    whose values do not convert is text.

    With ``block_size`` (bytes of CSV), the rows come as an iterator of DataFrames read a block
    at a time, so memory does not grow with the files: columns not in ``types`` are then text
    (a stream cannot type a column from values it has not read yet), and errors such as an
    unknown model come when the iterator is first used.
    """
    import pandas as pd
    import pyarrow as pa

    asked = query(model, designation, version, webservice, start, end)
    arrow_types = {name: pa.type_for_alias(kind) for name, kind in (types or {}).items()}
    if block_size is not None:
        return _read_blocks(source, asked, columns, arrow_types, block_size, progress)
    opened = open_source(source)
    try:
        table = read_table(opened, asked, columns, progress=progress, types=arrow_types)
    finally:
        if opened is not source:
            opened.close()
    if table is None:
        return pd.DataFrame(columns=columns)
    frame: pd.DataFrame = table.to_pandas(self_destruct=True, split_blocks=True)
    return frame


def _read_blocks(
    source: str | os.PathLike[str] | Source | None,
    asked: Query,
    columns: Sequence[str] | None,
    types: Mapping[str, pa.DataType],
    block_size: int,
    progress: bool | None,
) -> Iterator[pd.DataFrame]:
    opened = open_source(source)
    try:
        files = select(opened, asked)
        if files:
            for table in blocks(opened, files, asked, columns, types, block_size, progress=progress):
                yield table.to_pandas(self_destruct=True, split_blocks=True)
    finally:
        if opened is not source:
            opened.close()
