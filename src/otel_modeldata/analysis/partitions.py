"""``partitions``: what a source holds, one row per service, model, version, designation and day."""

from __future__ import annotations

import os
from collections import defaultdict
from typing import TYPE_CHECKING, Final

from ..layout import ANY, parse_partition
from . import parse
from .find import DateLike, find_files, to_date
from .parsed import ParsedCache
from .sources import DataFile, Source, open_source

if TYPE_CHECKING:
    import pandas as pd

COLUMNS: Final = ("webservice", "model", "version", "designation", "day", "files", "rows", "bytes")


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
    """Rows of each file, by name, as the reader parses them (quoted line breaks inside a value);
    the files a read kept parsed are not parsed again."""
    if not files:
        return {}
    paths = source.fetch(files)
    counts = parse.row_counts(paths, ParsedCache.from_environment())
    return {file.name: count for file, count in zip(files, counts, strict=True)}
