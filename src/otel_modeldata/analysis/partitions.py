"""``partitions``: what a source holds, one row per service, model, version, designation and day."""

from __future__ import annotations

import os
from collections import defaultdict
from typing import TYPE_CHECKING, Final

from ..layout import ANY, parse_partition
from .find import DateLike, find_files, to_date
from .read import DIALECT, connect, identifier, literal
from .sources import DataFile, Source, open_source

if TYPE_CHECKING:
    import pandas as pd

COLUMNS: Final = ("webservice", "model", "version", "designation", "day", "files", "rows", "bytes")
_PATH: Final = "$otel_modeldata_path"


def partitions(
    source: str | os.PathLike[str] | Source | None = None,
    *,
    model: str | None = None,
    designation: str | None = None,
    version: str | None = None,
    start: DateLike | None = None,
    end: DateLike | None = None,
) -> pd.DataFrame:
    """One row per day folder: its files, rows (every part counted) and bytes, sorted.

    ``None`` for a level lists every name there. Counting rows reads the files (so, from Blob
    Storage, downloads them into the cache); multi-line values count as one row.
    """
    import pandas as pd

    first, last = to_date(start, "start"), to_date(end, "end")
    pattern = [ANY, ANY, ANY, ANY, model or ANY, version or ANY, designation or ANY]
    opened = open_source(source)
    try:
        files = find_files(opened, pattern, first, last)
        counts = _row_counts(opened, files)
    finally:
        if opened is not source:
            opened.close()
    days: dict[tuple[object, ...], list[int]] = defaultdict(lambda: [0, 0, 0])
    for file in files:
        where = parse_partition(file.name)
        key = (where.identity.webservice, where.model, where.version, where.designation, where.day)
        totals = days[key]
        totals[0] += 1
        totals[1] += counts.get(file.name, 0)
        totals[2] += file.size
    rows = [[*key, *totals] for key, totals in sorted(days.items())]
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return frame.astype({"files": "int64", "rows": "int64", "bytes": "int64"})


def _row_counts(source: Source, files: list[DataFile]) -> dict[str, int]:
    """Rows of each file, by name, counted by DuckDB's CSV parser (quoted line breaks included)."""
    if not files:
        return {}
    paths = [str(p) for p in source.fetch(files)]
    names = dict(zip(paths, (f.name for f in files), strict=True))
    connection = connect()
    try:
        options = f"{DIALECT}, union_by_name = true, all_varchar = true, filename = {literal(_PATH)}"
        sql = f"SELECT {identifier(_PATH)}, count(*) FROM read_csv($files, {options}) GROUP BY 1"  # noqa: S608
        counted = connection.sql(sql, params={"files": paths}).fetchall()
    finally:
        connection.close()
    return {names[path]: count for path, count in counted}
