"""``read``: the rows of one model and designation over a range of days, typed, as one DataFrame.

DuckDB reads every part of every day in one ``read_csv`` over the list of files: a streaming,
multi-threaded scan that aligns the files' columns by name, types each column once for all
files, and reads only the columns asked for. The options are the README's DuckDB recipe, so NaN
and infinities are floats, ``""`` stays apart from ``None`` and 64-bit integers are exact.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Final

from ..layout import ANY, LEVELS
from ..policy import FORMULA_TRIGGERS, GUARD_MARK
from ..schema import CORRELATION_COLUMNS, INPUTS, SPAN_ID_COLUMN, TIMESTAMP_COLUMN, TRACE_ID_COLUMN
from .find import DateLike, UnknownModelError, find_files, models, to_date
from .sources import DataFile, Source, open_source

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

TIMESTAMP: Final = TIMESTAMP_COLUMN
#: Partition fields added to the rows, from the file's path.
DAY: Final = "$day"
FILE: Final = "$file"
MODEL_VERSION: Final = "$model_version"
WEBSERVICE: Final = "$webservice"

#: The date and time types are left out: they would take a column whose first value is ``Inf`` for a date.
TYPE_CANDIDATES: Final = ("BOOLEAN", "BIGINT", "DOUBLE", "VARCHAR")
#: Columns typed by name, whatever the sniffer would guess from their first values.
TYPES: Final = {TIMESTAMP: "TIMESTAMPTZ", TRACE_ID_COLUMN: "VARCHAR", SPAN_ID_COLUMN: "VARCHAR"}
#: The files' dialect, given rather than sniffed: a sniffer that guessed would skip the lines of a
#: damaged file instead of failing on them.
DIALECT: Final = "header = true, delim = ',', quote = '\"', escape = '\"', skip = 0"
_PATH: Final = "$otel_modeldata_path"
#: A guarded cell: apostrophes, then a character a spreadsheet would run (``policy.needs_guard``).
_GUARDED: Final = "^" + re.escape(GUARD_MARK) + "+[" + re.escape("".join(FORMULA_TRIGGERS)) + "]"


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
            raise UnknownModelError(asked.model, found, source.description)
    return files


def scan(
    connection: duckdb.DuckDBPyConnection,
    source: Source,
    files: list[DataFile],
    asked: Query,
    columns: list[str] | None = None,
) -> duckdb.DuckDBPyRelation:
    """A lazy relation over ``files``: typed columns, guard undone, partition fields added."""
    paths = [str(p) for p in source.fetch(files)]
    options = ", ".join(
        (
            DIALECT,
            "union_by_name = true",
            # Type each column from every value: from a sample, a column of integers whose later
            # values have fractions is read as BIGINT and 1.5 silently becomes 2.
            "sample_size = -1",
            "allow_quoted_nulls = false",
            f"auto_type_candidates = [{', '.join(map(literal, TYPE_CANDIDATES))}]",
            "types = {" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in TYPES.items()) + "}",
            f"filename = {literal(_PATH)}",
        )
    )
    relation = connection.sql(f"SELECT * FROM read_csv($files, {options})", params={"files": paths})  # noqa: S608
    skip = len(str(source.base).rstrip(os.sep)) + 2
    relative = f"substr({identifier(_PATH)}, {skip})"
    folder = f"regexp_extract({identifier(_PATH)}, '(\\d{{4}}/\\d{{2}}/\\d{{2}})/[^/]+$', 1)"
    derived = {
        DAY: f"strptime({folder}, '%Y/%m/%d')::DATE",
        FILE: relative,
    }
    if asked.version is None:
        derived[MODEL_VERSION] = f"split_part({relative}, '/', {LEVELS.index('version') + 1})"
    if asked.webservice is None:
        derived[WEBSERVICE] = f"split_part({relative}, '/', {LEVELS.index('webservice') + 1})"
    stored = {c: str(t) for c, t in zip(relation.columns, relation.types, strict=True) if c != _PATH}
    wanted = list(stored) + list(derived) if columns is None else list(columns)
    unknown = [c for c in wanted if c not in stored and c not in derived]
    if unknown:
        raise ValueError(
            f"no column {', '.join(map(repr, unknown))}; columns: {', '.join([*stored, *derived])}"
        )
    expressions = []
    for column in wanted:
        if column in derived:
            expressions.append(f"{derived[column]} AS {identifier(column)}")
        elif stored[column] == "VARCHAR" and column not in CORRELATION_COLUMNS:
            name = identifier(column)
            guarded = f"regexp_matches({name}, {literal(_GUARDED)})"
            expressions.append(f"CASE WHEN {guarded} THEN substr({name}, 2) ELSE {name} END AS {name}")
        else:
            expressions.append(identifier(column))
    return relation.project(", ".join(expressions))


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB whose times are in UTC (the files' timestamps are), quiet unless watched."""
    import duckdb

    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    # DuckDB draws its progress bar on stdout: only where a person watches it, never into a pipe.
    connection.execute(f"SET enable_progress_bar = {str(sys.stdout.isatty()).lower()}")
    return connection


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
) -> pd.DataFrame:
    """The rows of ``model``'s ``designation`` on the days from ``start`` to ``end`` (both included).

    ``source``: ``None`` for the collector's own settings (``OTEL_MODELDATA_LOCAL_DIR`` or the
    storage account), a local root (the folder holding ``modeldata/``), or a container URL.
    ``version=None`` reads every version (and adds ``$model_version``); ``webservice=None`` every
    service (and adds ``$webservice``). ``$day`` and ``$file`` say where each row was read.
    A range without files gives an empty DataFrame; a model the source lacks raises
    :class:`UnknownModelError`, which lists the models found.
    """
    import pandas as pd

    asked = query(model, designation, version, webservice, start, end)
    opened = open_source(source)
    try:
        files = select(opened, asked)
        if not files:
            return pd.DataFrame(columns=columns)
        connection = connect()
        try:
            return scan(connection, opened, files, asked, columns).df()
        finally:
            connection.close()
    finally:
        if opened is not source:
            opened.close()


def identifier(name: str) -> str:
    """A column name as a DuckDB identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """Text as a DuckDB string literal."""
    return "'" + text.replace("'", "''") + "'"
