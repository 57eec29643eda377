"""Which files hold the rows asked for: the layout walked level by level, dates pruned on the way.

Each level is one listing per folder kept at the level above (in parallel), so reading a month of
one model lists that model's few folders and its days, never the rest of the container.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from itertools import chain

from ..layout import ANY, LEVELS
from .sources import DataFile, Source, in_parallel

DateLike = date | datetime | str
#: Index of the model level in :data:`~otel_modeldata.layout.LEVELS`.
_MODEL_LEVEL = LEVELS.index("model")
_DATE_LEVELS = 3


class UnknownModelError(LookupError):
    """No folder of the model: the message lists the models the source holds."""

    def __init__(self, model: str, found: Sequence[str], where: str) -> None:
        self.model = model
        self.found = list(found)
        listed = ", ".join(self.found) if self.found else "none"
        super().__init__(f"no model {model!r} in {where} (models found: {listed})")


def to_date(value: DateLike | None, what: str) -> date | None:
    """A date given as a ``date``, a ``datetime`` (its date) or ``YYYY-MM-DD`` text."""
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    if isinstance(value, datetime):
        return value.date()
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a date (YYYY-MM-DD), got {value!r}") from None


def find_files(
    source: Source,
    pattern: Sequence[str],
    start: date | None = None,
    end: date | None = None,
) -> list[DataFile]:
    """Every data file below the folders ``pattern`` matches, on the days from ``start`` to ``end``.

    ``pattern`` gives the levels above the dates (identity, model, version, designation), each a
    name or :data:`~otel_modeldata.layout.ANY`; a level given by name is not listed.
    """
    folders = [""]
    for name in pattern:
        folders = _children(source, folders) if name == ANY else [_join(f, name) for f in folders]
    for depth in range(_DATE_LEVELS):
        folders = [f for f in _children(source, folders) if _in_range(f, depth, start, end)]
    return sorted(chain.from_iterable(in_parallel(source.files, folders)))


def models(source: Source, pattern: Sequence[str]) -> list[str]:
    """The model names found under the identity levels of ``pattern`` (for an error message)."""
    folders = [""]
    for name in pattern[:_MODEL_LEVEL]:
        folders = _children(source, folders) if name == ANY else [_join(f, name) for f in folders]
    return sorted({f.rsplit("/", 1)[-1] for f in _children(source, folders)})


def _children(source: Source, folders: list[str]) -> list[str]:
    listed = in_parallel(source.folders, folders)
    return [_join(folder, name) for folder, names in zip(folders, listed, strict=True) for name in names]


def _join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


def _in_range(folder: str, depth: int, start: date | None, end: date | None) -> bool:
    """Whether a year (depth 0), month (1) or day (2) folder can hold days from ``start`` to ``end``."""
    parts = folder.split("/")[-depth - 1 :]
    if not all(part.isdigit() for part in parts):
        return False
    numbers = tuple(int(part) for part in parts)
    if depth == 2:
        try:
            date(*numbers)
        except ValueError:
            return False
    low = (start.year, start.month, start.day)[: depth + 1] if start else None
    high = (end.year, end.month, end.day)[: depth + 1] if end else None
    return (low is None or numbers >= low) and (high is None or numbers <= high)
