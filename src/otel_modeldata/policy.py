"""Pure: what collection keeps of a call. Sampling, redaction, keyed hashing and the CSV formula guard.

Applied on the request path before rows are queued: a redacted column or an unhashed value
is never in the memory queue, a log record or another exporter. Sampling is decided from
the correlation id alone, so every process (and a labelling job days later) decides alike.
No SDK imports: readers reuse :func:`sampled` and :func:`unguard`.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, Final

from .schema import default_column_names

Row = list[Any]

#: First characters that make a spreadsheet run a cell as a formula (OWASP's list).
FORMULA_TRIGGERS: Final = ("=", "+", "-", "@", "\t", "\r")
GUARD_MARK: Final = "'"
#: First characters of the text :func:`guard` may change: a trigger or the guard's own mark.
_MAY_NEED_GUARD: Final = (GUARD_MARK, *FORMULA_TRIGGERS)

_PLAIN: Final = frozenset({int, float, bool, type(None)})
_SAMPLE_SPACE: Final = float(2**64)
#: The ``-<uuid>`` ending :func:`otel_modeldata.context.user_id` adds to a user's own correlation id.
_UUID_ENDING: Final = re.compile(r"-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
_UUID_LENGTH: Final = 36


def sampling_key(correlation_id: str) -> str:
    """What the sampling decision hashes: the user's prefix of a ``<prefix>-<uuid>`` id, else the id itself.

    Labels sent later for ``LOAN-42`` (with ``collect(..., user_correlation_id="LOAN-42")``, or
    by ``send_labels`` with the id collection returned) carry another or the same unique id, but
    the same prefix, so they follow the decision taken for the inputs of ``LOAN-42``.
    """
    if len(correlation_id) <= _UUID_LENGTH + 1:
        return correlation_id
    ending = _UUID_ENDING.search(correlation_id)
    return correlation_id if ending is None else correlation_id[: ending.start()]


def sampled(correlation_id: str, rate: float) -> bool:
    """Whether the call with ``correlation_id`` is collected at ``rate`` (0 to 1).

    Kept when the first 8 bytes of the SHA-256 digest of the UTF-8 id, read as a big-endian
    unsigned integer, are below ``rate * 2**64``. A call kept at one rate is kept at every
    higher rate, and the decision needs nothing but the id.
    """
    if rate >= 1.0:
        return True
    digest = hashlib.sha256(correlation_id.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") < rate * _SAMPLE_SPACE


def needs_guard(text: str) -> bool:
    """Whether ``text``, after any leading apostrophes, starts like a formula."""
    return text.lstrip(GUARD_MARK).startswith(FORMULA_TRIGGERS)


def guard(text: str) -> str:
    """``text`` made safe for a spreadsheet: ``'`` in front when :func:`needs_guard`.

    Text already starting with apostrophes before a trigger gets one more, so that
    :func:`unguard` restores every string exactly. One ``startswith`` for text that cannot need
    it, as most cells and every id we make (hex digits) are.
    """
    return GUARD_MARK + text if text.startswith(_MAY_NEED_GUARD) and needs_guard(text) else text


def unguard(text: str) -> str:
    """The inverse of :func:`guard`, for readers of the CSV files."""
    return text[1:] if text.startswith(GUARD_MARK) and needs_guard(text) else text


def guard_rows(rows: list[Row]) -> list[Row]:
    """``rows`` with every string cell guarded; the same list when no cell needed it.

    One type scan in C over every cell first: tables of numbers and empty cells end there.
    """
    try:
        if _PLAIN.issuperset(map(type, chain.from_iterable(rows))):
            return rows
    except TypeError:
        pass  # a row that is not a sequence: the rows are looked at one by one
    changed: list[Row] | None = None
    for index, row in enumerate(rows):
        if not isinstance(row, (list, tuple)) or _PLAIN.issuperset(map(type, row)):
            continue
        if not any(isinstance(v, str) and needs_guard(v) for v in row):
            continue
        if changed is None:
            changed = list(rows)
        changed[index] = [guard(v) if isinstance(v, str) else v for v in row]
    return rows if changed is None else changed


class Hasher:
    """HMAC-SHA256 of a cell's text under one key, as 64 lowercase hex digits.

    A value that is not a string is hashed from ``str(value)``: the text the CSV file would
    otherwise hold (``42``, ``1.5``, ``True``), so a column joins across designations and files.
    A missing value (``None``, NaN: what pandas makes of a missing string) stays missing.
    """

    __slots__ = ("_base",)

    def __init__(self, key: bytes) -> None:
        self._base = hmac.new(key, digestmod=hashlib.sha256)

    def __repr__(self) -> str:
        return "Hasher(key=<hidden>)"

    def __call__(self, value: Any) -> Any:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return value
        text = value if isinstance(value, str) else str(value)
        mac = self._base.copy()
        mac.update(text.encode("utf-8", "surrogatepass"))
        return mac.hexdigest()


def protect(
    columns: Sequence[str], rows: list[Row], redacted: Iterable[str], hashed: Iterable[str], key: bytes
) -> tuple[tuple[str, ...], list[Row]] | None:
    """Remove the ``redacted`` columns and hash the ``hashed`` ones; ``None`` when no column matches.

    A column both redacted and hashed is removed. A row that is not a list of
    ``len(columns)`` values cannot be matched by name: it becomes ``None``, which the
    exporter refuses as ``wrong_feature_count``, so none of its values is kept.
    """
    drop, to_hash = set(redacted), set(hashed)
    keep = [i for i, name in enumerate(columns) if name not in drop]
    if len(keep) == len(columns) and not to_hash.intersection(columns):
        return None
    slots = [j for j, i in enumerate(keep) if columns[i] in to_hash]
    hasher = Hasher(key) if slots else None
    width = len(columns)
    out: list[Any] = []
    for row in rows:
        if not isinstance(row, (list, tuple)) or len(row) != width:
            out.append(None)  # refused downstream; nothing of it is kept
            continue
        new = [row[i] for i in keep]
        if hasher is not None:
            for j in slots:
                new[j] = hasher(new[j])
        out.append(new)
    return tuple(columns[i] for i in keep), out


@dataclass(frozen=True, slots=True)
class Policy:
    """What one model collects: its sampling rate, redacted and hashed columns, and the guard."""

    sample_rate: float = 1.0
    redacted: frozenset[str] = frozenset()
    hashed: frozenset[str] = frozenset()
    hash_key: bytes = field(default=b"", repr=False)
    formula_guard: bool = True

    def keeps(self, correlation_id: str) -> bool:
        """Whether the call with this correlation id is collected: the one decision every writer takes.

        See :func:`sampling_key` and :func:`sampled`.
        """
        return self.sample_rate >= 1.0 or sampled(sampling_key(correlation_id), self.sample_rate)

    @property
    def missing_key(self) -> bool:
        """Columns are to be hashed but there is no key: their values must not be collected."""
        return bool(self.hashed) and not self.hash_key

    def apply(
        self, columns: tuple[str, ...] | None, rows: list[Row], designation: str, text: bool = True
    ) -> tuple[tuple[str, ...] | None, list[Row]]:
        """Redact, hash, then guard ``rows``; the columns come back changed only when one was removed.

        ``columns`` ``None`` means the default names (``feature_0``...), which match too.
        ``text`` False says no cell can be a string (a numeric array): the guard is skipped.
        """
        if (self.redacted or self.hashed) and rows:
            names = columns
            if names is None:
                first = rows[0]
                width = len(first) if isinstance(first, (list, tuple)) else 1
                names = default_column_names(designation, width)
            result = protect(names, rows, self.redacted, self.hashed, self.hash_key)
            if result is not None:
                columns, rows = result
        if self.formula_guard and text:
            rows = guard_rows(rows)
        return columns, rows


class ModelPolicy:
    """One model's own arguments over the global :class:`Policy`, resolved once per global policy."""

    __slots__ = ("_cache", "hashed", "redacted", "sample_rate")

    def __init__(
        self, sample_rate: float | None = None, redacted: Iterable[str] = (), hashed: Iterable[str] = ()
    ) -> None:
        if sample_rate is not None:
            check_rate(sample_rate, "sample_rate")
        self.sample_rate = sample_rate
        self.redacted = frozenset(redacted)
        self.hashed = frozenset(hashed)
        self._cache: tuple[Policy, Policy] | None = None

    def resolve(self, base: Policy) -> Policy:
        """``base`` with this model's rate (if given) and its columns added to the global lists."""
        cache = self._cache
        if cache is not None and cache[0] is base:
            return cache[1]
        resolved = Policy(
            base.sample_rate if self.sample_rate is None else self.sample_rate,
            base.redacted | self.redacted,
            base.hashed | self.hashed,
            base.hash_key,
            base.formula_guard,
        )
        self._cache = (base, resolved)
        return resolved


def check_rate(rate: object, what: str) -> float:
    """``rate`` as a float from 0 to 1, or a ``ValueError`` naming ``what``."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate <= 1.0:
        raise ValueError(f"{what} must be a number from 0 to 1, got {rate!r}")
    return float(rate)
