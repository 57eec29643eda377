"""The Spark reader: one designation of one model over a range of days, as a typed Spark DataFrame.

For data no single machine holds (Databricks, any cluster). The same rules as the pandas
reader: every file of a day (``data.csv``, ``data_<tag>.csv``, ``data_<n>.csv``) with its
columns aligned by name, numbers typed as numbers, NaN and infinities as doubles, ``""``
kept apart from null, line breaks inside values intact, the formula guard undone, and the
partition fields of the path as ``$day`` and ``$file``. The collector never imports this
module, and this module imports pyspark only when called.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable, Sequence, Set
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from functools import reduce
from typing import TYPE_CHECKING, Final

from . import schema
from .layout import ROOT_FOLDER, check_name
from .policy import FORMULA_TRIGGERS, GUARD_MARK

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.types import DataType, StructField

#: The CSV options of the README's Spark recipe: quoted line breaks and quotes intact, CRLF rows,
#: and a null marker that never occurs, so ``""`` stays an empty string and only empty fields are null.
CSV_OPTIONS: Final[dict[str, str]] = {
    "header": "true",
    "multiLine": "true",
    "escape": '"',
    "lineSep": "\r\n",
    "nullValue": "\u0000",
    "nanValue": "NaN",
    "positiveInf": "Inf",
    "negativeInf": "-Inf",
    "encoding": "UTF-8",
}
TIMESTAMP_COLUMN: Final = schema.TIMESTAMP_COLUMN
#: Correlation columns that are text whatever they hold (a request id may be all digits).
TEXT_COLUMNS: Final = frozenset(schema.CORRELATION_COLUMNS) - {
    TIMESTAMP_COLUMN,
    schema.BOUNDARY_COLUMN,
    schema.ROW_INDEX_COLUMN,
}
DAY_COLUMN: Final = schema.DAY_COLUMN
FILE_COLUMN: Final = schema.FILE_COLUMN
#: A guarded cell: one apostrophe, then (after any more) a character that starts a formula.
_GUARDED: Final = (
    "^"
    + re.escape(GUARD_MARK)
    + "(?="
    + re.escape(GUARD_MARK)
    + "*["
    + ("".join(re.escape(c) for c in FORMULA_TRIGGERS).replace("\t", "\\t").replace("\r", "\\r"))
    + "])"
)
_DAY_IN_PATH: Final = r"/(\d{4})/(\d{2})/(\d{2})/[^/]*$"
_GLOB_CHARS: Final = re.compile(r"([\\*?\[\]{}])")
_HEADER_THREADS: Final = 16
_HEADER_BYTES: Final = 1 << 20

Day = date | datetime | str


def read(
    spark: SparkSession,
    path: str,
    *,
    model: str,
    designation: str = schema.INPUTS,
    version: str | int | None = None,
    start: Day | None = None,
    end: Day | None = None,
    webservice: str | None = None,
) -> DataFrame:
    """The rows of ``model``'s ``designation`` from ``start`` to ``end`` (inclusive UTC dates).

    ``path`` is the root holding the ``<subscriptionid>/...`` levels: locally the folder holding
    ``modeldata/`` (``OTEL_MODELDATA_LOCAL_DIR``) or ``modeldata/`` itself; on Azure the container
    URL (``abfss://<container>@<account>.dfs.core.windows.net/`` or ``wasbs://...``, with the blob
    prefix if one is set). ``version`` and ``webservice`` default to every one found; ``start``
    alone runs to today, ``end`` alone from the first day written. Raises ``FileNotFoundError``
    when no file matches.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

    pattern = data_glob(path, model, designation, version, webservice, start, end)
    files = _list_files(spark, pattern)
    if not files:
        raise FileNotFoundError(f"no model data files match {pattern}")
    groups: dict[tuple[str, ...], list[str]] = {}
    for file, header in zip(files, _headers(spark, files), strict=True):
        groups.setdefault(header, []).append(file)
    inferred = [_inferred(spark, paths) for paths in groups.values()]
    frames = [
        _read_group(spark, paths, fields) for paths, fields in zip(groups.values(), inferred, strict=True)
    ]
    targets = _targets(frames)
    text = {name for name, kind in targets.items() if kind == StringType()}
    if text:
        # Read again as text where a group typed them otherwise: the text is the file's (``5``
        # stays ``5``, not the ``5.0`` of a double cast to text).
        frames = [
            _read_group(spark, paths, fields, text) if any(f.name in text for f in fields) else frame
            for paths, fields, frame in zip(groups.values(), inferred, frames, strict=True)
        ]
        targets = _targets(frames)
    frames = _cast_to(frames, targets)
    joined = reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), frames)
    first, last = _bounds(start, end)
    if first is not None:
        joined = joined.where(F.col(f"`{DAY_COLUMN}`") >= F.lit(first))
    if last is not None:
        joined = joined.where(F.col(f"`{DAY_COLUMN}`") <= F.lit(last))
    return joined


def data_glob(
    path: str,
    model: str,
    designation: str,
    version: str | int | None = None,
    webservice: str | None = None,
    start: Day | None = None,
    end: Day | None = None,
) -> str:
    """The Hadoop glob of every CSV file of the partitions asked for, built from the layout.

    The days are alternatives (``{2026/11/30,2026/12/*}``): whole months and years collapse
    to one, and no other day's folder is listed.
    """
    levels = [
        _root(path),
        "*",
        "*",
        "*",
        "*" if webservice is None else _escape(check_name(webservice, "webservice")),
        _escape(check_name(model, "model")),
        "*" if version is None else _escape(check_name(str(version), "version")),
        _escape(check_name(designation, "designation")),
        _days_glob(*_bounds(start, end)),
        "*.csv",
    ]
    return "/".join(levels)


def day_globs(first: date, last: date) -> list[str]:
    """``YYYY/MM/DD`` globs, ``first`` to ``last``; a whole month is ``YYYY/MM/*``, a year ``YYYY/*/*``."""
    globs: list[str] = []
    day = first
    while day <= last:
        if (day.month, day.day) == (1, 1) and date(day.year, 12, 31) <= last:
            globs.append(f"{day.year:04d}/*/*")
            day = date(day.year + 1, 1, 1)
            continue
        next_month = date(day.year + day.month // 12, day.month % 12 + 1, 1)
        if day.day == 1 and next_month - timedelta(days=1) <= last:
            globs.append(f"{day.year:04d}/{day.month:02d}/*")
            day = next_month
            continue
        globs.append(f"{day.year:04d}/{day.month:02d}/{day.day:02d}")
        day += timedelta(days=1)
    return globs


def _days_glob(first: date | None, last: date | None) -> str:
    if first is None:
        return "*/*/*"  # no start: every day written, cut at ``last`` after the listing
    globs = day_globs(first, last or max(first, datetime.now(timezone.utc).date()))
    if not globs:
        raise ValueError(f"start {first} is after end {last}")
    return globs[0] if len(globs) == 1 else "{" + ",".join(globs) + "}"


def _bounds(start: Day | None, end: Day | None) -> tuple[date | None, date | None]:
    return _as_date(start, "start"), _as_date(end, "end")


def _as_date(value: Day | None, what: str) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a date or YYYY-MM-DD text, got {value!r}") from None


def _root(path: str) -> str:
    """The folder or URL holding the ``<subscriptionid>`` level, glob characters escaped."""
    local = "://" not in path and not path.startswith("file:")
    if local:
        path = os.path.abspath(path)
        below = os.path.join(path, ROOT_FOLDER)
        if os.path.isdir(below):
            path = below
    return _escape(path.rstrip("/"))


def _escape(text: str) -> str:
    """``text`` matched literally by a Hadoop glob."""
    return _GLOB_CHARS.sub(r"\\\1", text)


def _list_files(spark: SparkSession, pattern: str) -> list[str]:
    """Every file the glob matches, sorted; ``binaryFile`` lists them without reading their content."""
    from pyspark.errors import AnalysisException

    try:
        listing = spark.read.format("binaryFile").load(pattern).select("path").collect()
    except AnalysisException as exc:
        if "PATH_NOT_FOUND" in str(exc.getCondition() or exc):
            return []
        raise
    return sorted(row.path for row in listing)


def _headers(spark: SparkSession, files: Sequence[str]) -> list[tuple[str, ...]]:
    """The header of each file, read from its first bytes (through the JVM's Hadoop file system).

    Spark Connect has no JVM handle: there, each file is read whole by ``binaryFile`` and
    only its first bytes are sent back.
    """
    jvm = getattr(spark, "_jvm", None)
    if jvm is None:
        return _headers_by_spark(spark, files)
    conf = spark._jsc.hadoopConfiguration()

    def one(file: str) -> tuple[str, ...]:
        hadoop_path = jvm.org.apache.hadoop.fs.Path(file)
        stream = hadoop_path.getFileSystem(conf).open(hadoop_path)
        try:
            reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
            lines: list[str] = []
            while True:
                line = reader.readLine()
                if line is None:
                    break
                lines.append(line)
                header = _parse_header("\r\n".join(lines))
                if header is not None:
                    return header
            return _parse_header("\r\n".join(lines)) or ()
        finally:
            stream.close()

    with ThreadPoolExecutor(min(_HEADER_THREADS, len(files))) as pool:
        return list(pool.map(one, files))


def _headers_by_spark(spark: SparkSession, files: Sequence[str]) -> list[tuple[str, ...]]:
    from pyspark.sql import functions as F

    rows = (
        spark.read.format("binaryFile")
        .load([_escape(f) for f in files])
        .select("path", F.substring("content", 1, _HEADER_BYTES).alias("head"))
        .collect()
    )
    heads = {row.path: bytes(row.head).decode("utf-8", "replace") for row in rows}
    return [tuple(next(csv.reader(io.StringIO(heads[f], newline="")), [])) for f in files]


def _parse_header(text: str) -> tuple[str, ...] | None:
    """The first CSV record of ``text``, or ``None`` while a quoted name is still open."""
    if text.count('"') % 2:
        return None
    return tuple(next(csv.reader(io.StringIO(text, newline="")), []))


def _inferred(spark: SparkSession, files: list[str]) -> list[StructField]:
    """The columns of files sharing one header: numbers inferred, the correlation columns fixed."""
    from pyspark.sql.types import StringType, StructField, TimestampType

    paths = [_escape(f) for f in files]
    fields = []
    for field in spark.read.options(**CSV_OPTIONS, inferSchema="true").csv(paths).schema.fields:
        if field.name in TEXT_COLUMNS:
            field = StructField(field.name, StringType())
        elif field.name == TIMESTAMP_COLUMN:
            field = StructField(field.name, TimestampType())
        fields.append(field)
    return fields


def _read_group(
    spark: SparkSession, files: list[str], inferred: list[StructField], text: Set[str] = frozenset()
) -> DataFrame:
    """Files sharing one header, read in one call with the ``inferred`` columns, ``text`` as text."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    paths = [_escape(f) for f in files]
    fields = [StructField(f.name, StringType()) if f.name in text else f for f in inferred]
    frame = spark.read.options(**CSV_OPTIONS).schema(StructType(fields)).csv(paths)
    unguarded = [
        F.regexp_replace(_col(f.name), _GUARDED, "").alias(f.name)
        if isinstance(f.dataType, StringType)
        and (not f.name.startswith("$") or f.name in schema.GUARDED_CORRELATION_COLUMNS)
        else _col(f.name)
        for f in fields
    ]
    file_path = F.col("_metadata.file_path")
    day = F.make_date(*(F.regexp_extract(file_path, _DAY_IN_PATH, i).cast("int") for i in (1, 2, 3)))
    return frame.select(*unguarded, day.alias(DAY_COLUMN), F.col("_metadata.file_name").alias(FILE_COLUMN))


def _col(name: str) -> Column:
    """A column by its exact name, dots and backticks included."""
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def _targets(frames: list[DataFrame]) -> dict[str, DataType]:
    """The one type of each column whose type differs between ``frames``, so that the union keeps
    numbers numeric.

    A column that is text in one group only because all its cells there are empty takes the
    type of the others; integers widen to the widest integer, numbers to double, and any
    other mix becomes text (which :func:`read` reads again as text, as the files hold it).
    """
    from pyspark.sql.types import StringType

    if len(frames) < 2:
        return {}
    seen: dict[str, list[tuple[int, DataType]]] = {}
    for index, frame in enumerate(frames):
        for field in frame.schema.fields:
            seen.setdefault(field.name, []).append((index, field.dataType))
    conflicts = {name: found for name, found in seen.items() if len({t for _, t in found}) > 1}
    if not conflicts:
        return {}
    empty = _all_null_text(frames, conflicts)
    targets: dict[str, DataType] = {}
    for name, found in conflicts.items():
        kept = [t for i, t in found if (i, name) not in empty] or [StringType()]
        targets[name] = _widest(kept)
    return targets


def _cast_to(frames: list[DataFrame], targets: dict[str, DataType]) -> list[DataFrame]:
    """The frames with the ``targets``' columns cast to their type."""
    if not targets:
        return frames
    return [
        frame.select(
            *(
                _col(f.name).cast(targets[f.name]).alias(f.name) if f.name in targets else _col(f.name)
                for f in frame.schema.fields
            )
        )
        for frame in frames
    ]


def _all_null_text(
    frames: Sequence[DataFrame], conflicts: dict[str, list[tuple[int, DataType]]]
) -> set[tuple[int, str]]:
    """(frame, column) pairs of text columns with no value at all (one small job per frame)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

    empty: set[tuple[int, str]] = set()
    for index, frame in enumerate(frames):
        names = [n for n, found in conflicts.items() if (index, StringType()) in found]
        if not names:
            continue
        counts = frame.select(*(F.count(_col(n)).alias(str(k)) for k, n in enumerate(names))).first()
        empty.update((index, n) for k, n in enumerate(names) if counts is not None and counts[k] == 0)
    return empty


def _widest(types: Iterable[DataType]) -> DataType:
    from pyspark.sql.types import (
        ByteType,
        DecimalType,
        DoubleType,
        FloatType,
        IntegerType,
        LongType,
        ShortType,
        StringType,
    )

    distinct = list(dict.fromkeys(types))
    if len(distinct) == 1:
        return distinct[0]
    integral: list[DataType] = [ByteType(), ShortType(), IntegerType(), LongType()]
    if all(t in integral for t in distinct):
        return max(distinct, key=integral.index)
    if all(t in integral or isinstance(t, (DecimalType, FloatType, DoubleType)) for t in distinct):
        return DoubleType()
    return StringType()
