"""Pure partition layout: which folder and file a row belongs to, and which names are safe.

``modeldata/<subscriptionid>/<resourcegroup>/<workspace>/<webservice>/<model>/<version>/
<designation>/<YYYY>/<MM>/<DD>/data.csv`` is the layout of the classic Azure ML data
collector; readers (pandas, Power BI, Spark globs) depend on it, so it lives in one place.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final, NamedTuple
from urllib.parse import unquote

ROOT_FOLDER: Final = "modeldata"
DATA_STEM: Final = "data"
MAX_NAME_BYTES: Final = 200
#: A name at one level of a folder pattern that stands for every name there, as in a glob.
ANY: Final = "*"
#: Characters drawn like ``/`` or ``\\`` (U+2044, U+2215, U+2216, U+29F5, U+29F8, U+29F9, U+FE68, U+FF0F,
#: U+FF3C): harmless to a Linux file system, but a listing or a URL decoder would show a path.
SEPARATOR_LOOK_ALIKES: Final = frozenset("\u2044\u2215\u2216\u29f5\u29f8\u29f9\ufe68\uff0f\uff3c")


class InvalidNameError(ValueError):
    """A name that would go into a partition path is unsafe or empty."""


def check_name(value: object, what: str) -> str:
    """Return ``value`` if it is safe as one path component, else raise naming ``what``.

    Refused: non-strings, empty or blank names, ``.`` and ``..``, path separators and
    characters drawn like them, ``:`` (a Windows drive or stream; Hadoop paths refuse it),
    control characters, names longer than 200 UTF-8 bytes, and names whose NFKC or
    percent-decoded form is refused (``%2e%2e``, fullwidth dots). Everything else,
    unicode included, is kept as given so paths stay readable.
    """
    if not isinstance(value, str):
        raise InvalidNameError(f"{what} must be a string, got {type(value).__name__}")
    if not value or value.strip() != value:
        raise InvalidNameError(f"{what} must be non-empty without leading or trailing spaces: {value!r}")
    if value in {".", ".."}:
        raise InvalidNameError(f"{what} must not be {value!r}")
    if "/" in value or "\\" in value:
        raise InvalidNameError(f"{what} must not contain a path separator: {value!r}")
    if any(unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"} for ch in value):
        raise InvalidNameError(f"{what} must not contain control characters: {value!r}")
    if len(value.encode("utf-8")) > MAX_NAME_BYTES:
        raise InvalidNameError(f"{what} is longer than {MAX_NAME_BYTES} bytes")
    if ":" in value:
        raise InvalidNameError(f"{what} must not contain ':' (a Windows drive or stream): {value!r}")
    if not SEPARATOR_LOOK_ALIKES.isdisjoint(value):
        raise InvalidNameError(f"{what} must not contain a character drawn like a path separator: {value!r}")
    for decoded in (unicodedata.normalize("NFKC", value), unquote(value)):
        if decoded != value and _reads_as_a_path(decoded):
            raise InvalidNameError(f"{what} would read as a path or control text once decoded: {value!r}")
    return value


def _reads_as_a_path(text: str) -> bool:
    """Whether a decoded name is ``.``/``..`` or holds a separator, ``:`` or a control character."""
    return (
        text.strip() in {".", ".."}
        or any(ch in "/\\:" for ch in text)
        or any(unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"} for ch in text)
    )


@dataclass(frozen=True, slots=True)
class Identity:
    """Where the scoring service runs: the first four levels of the layout."""

    subscription_id: str = "default"
    resource_group: str = "default"
    workspace: str = "default"
    webservice: str = "default"

    @property
    def workspace_path(self) -> str:
        """Value of the ``$aml_workspace`` column."""
        return f"{self.subscription_id}/{self.resource_group}/{self.workspace}"


def partition_folder(identity: Identity, model: str, version: str, designation: str, day: date) -> str:
    """The folder of one day of one designation, ``/``-separated, below ``modeldata/``.

    The local destination puts it under ``<root>/modeldata/``; in blob storage the
    container (default ``modeldata``) plays that part.
    """
    return f"{designation_folder(model, designation, version, identity)}/{day_folder(day)}"


def header_tag(header: bytes) -> str:
    """A short stable tag for a header, naming the sibling file of a differing schema."""
    return hashlib.sha256(header).hexdigest()[:8]


def file_name(tag: str | None = None, part: int = 0, stem: str = DATA_STEM) -> str:
    """``data.csv``, ``data_<tag>.csv`` for another header, ``_<part>`` after a rollover.

    ``stem`` replaces ``data`` for a classic ``signals`` or ``general`` collector given a
    ``collection_name``, as the classic package named those files.
    """
    name = stem if tag is None else f"{stem}_{tag}"
    return f"{name}.csv" if part == 0 else f"{name}_{part}.csv"


#: Every identity level a wildcard: the prefix of a model in any subscription, workspace or service.
ANY_IDENTITY: Final = Identity(ANY, ANY, ANY, ANY)
#: Levels of a partition folder, in order: the identity, then model, version, designation, date.
LEVELS: Final = (
    "subscription_id",
    "resource_group",
    "workspace",
    "webservice",
    "model",
    "version",
    "designation",
    "year",
    "month",
    "day",
)
_FILE_NAME: Final = re.compile(rf"{DATA_STEM}(?:_([0-9a-f]{{8}}))?(?:_([1-9][0-9]*))?\.csv")
#: Designations whose files a classic collector names after its ``collection_name`` (the stem).
NAMED_FILE_DESIGNATIONS: Final = frozenset({"signals", "general"})
_NAMED_FILE: Final = re.compile(r"[^.].*\.csv")


class Partition(NamedTuple):
    """What the path of a file (or a day folder) below ``modeldata/`` says about its rows."""

    identity: Identity
    model: str
    version: str
    designation: str
    day: date


def designation_folder(
    model: str, designation: str, version: str | None = None, identity: Identity = ANY_IDENTITY
) -> str:
    """The folder above the dates of one designation, with :data:`ANY` where a level is open.

    ``version=None`` stands for every version. The result is a glob a reader can hand to Spark
    (append ``/*/*/*/*.csv``) or walk one level at a time (split on ``/``), as the readers do.
    """
    return "/".join(
        (
            identity.subscription_id,
            identity.resource_group,
            identity.workspace,
            identity.webservice,
            model,
            ANY if version is None else version,
            designation,
        )
    )


def day_folder(day: date) -> str:
    """``YYYY/MM/DD``: the last three levels of a partition folder."""
    return f"{day.year:04d}/{day.month:02d}/{day.day:02d}"


def days_between(start: date, end: date) -> list[date]:
    """Every date from ``start`` to ``end``, both included; empty when ``end`` comes first."""
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def parse_file_name(name: str) -> tuple[str | None, int] | None:
    """``(tag, part)`` of a data file name, the inverse of :func:`file_name`; None for other names.

    ``data.csv`` is ``(None, 0)``, ``data_3.csv`` ``(None, 3)``, ``data_0badcafe_2.csv``
    ``("0badcafe", 2)``. A tag is always 8 hex digits, so ``data_12345678.csv`` is a tag:
    a rollover never reaches ten million parts.
    """
    match = _FILE_NAME.fullmatch(name)
    if match is None:
        return None
    tag, part = match.groups()
    return tag, int(part or 0)


def is_data_file(name: str, designation: str) -> bool:
    """Whether a file of a ``designation`` day folder holds its rows.

    ``data*.csv`` as :func:`parse_file_name` reads it; in the ``signals`` and ``general``
    folders also ``<collection_name>.csv`` and its siblings, which the classic collector writes.
    Names starting with a dot (files being written, cache stamps) never are.
    """
    if parse_file_name(name) is not None:
        return True
    return designation in NAMED_FILE_DESIGNATIONS and _NAMED_FILE.fullmatch(name) is not None


def parse_partition(path: str) -> Partition:
    """The partition of a path below ``modeldata/``: a day folder, or a file in one.

    Raises ``ValueError`` when the path does not have the layout's ten levels and a date.
    """
    parts = path.strip("/").split("/")
    if len(parts) == len(LEVELS) + 1:
        parts = parts[:-1]
    if len(parts) != len(LEVELS):
        raise ValueError(f"not a partition path (expected {len(LEVELS)} folder levels): {path!r}")
    sub, group, workspace, service, model, version, designation, year, month, day = parts
    try:
        when = date(int(year), int(month), int(day))
    except ValueError:
        raise ValueError(f"not a partition path (no date in its last levels): {path!r}") from None
    return Partition(Identity(sub, group, workspace, service), model, version, designation, when)
