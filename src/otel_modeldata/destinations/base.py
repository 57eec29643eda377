"""The one small interface every destination implements, and the file choice they share.

A destination receives whole CSV lines for a partition folder and a header. It puts them
in a file of that folder whose first line is that header: ``data.csv`` when it is free
or already has that header, otherwise a sibling ``data_<tag>.csv``; a file never mixes
two headers and the header is written exactly once, even with several processes.
A destination whose files fill up (a blob's block limit) continues in ``data_1.csv``,
``data_2.csv``, ... (``data_<tag>_1.csv`` for the sibling), each with its header.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import date
from typing import Final

from ..forking import after_fork_in_child
from ..layout import DATA_STEM, file_name, header_tag

_log = logging.getLogger(__name__)

#: Sibling files announced in the log, kept before the set starts over (a bound, not a policy).
MAX_ANNOUNCED: Final = 4096

#: How often one append may move on to another file before it gives up (a loop guard: a new
#: writer starts at the latest part, see ``_last_part``, so one append moves once or twice).
MAX_MOVES: Final = 64


class DestinationError(OSError):
    """A write failed after the destination's own retries; nothing was half-written."""


class FileFull(Exception):
    """Raised by ``_append`` when the file takes no more appends: the payload goes to the next part."""


class FileMissing(Exception):
    """Raised by ``_append`` when the file has disappeared: it is chosen (created) again."""


@dataclass(frozen=True, slots=True)
class _FileChoice:
    path: str
    tag: str | None
    part: int


class Destination(ABC):
    """Appends CSV payloads to partition files. Subclasses provide three primitives."""

    #: Largest payload ``_append`` accepts; callers split bigger ones between rows (``split_payload``).
    max_payload_bytes: int | None = None
    #: Whether each append waits on a network round trip: the exporter then appends to several files at once.
    waits_on_network: bool = False

    def __init__(self) -> None:
        self._files: dict[tuple[str, bytes, str], _FileChoice] = {}
        self._announced: set[tuple[str, bytes]] = set()
        self._lock = threading.Lock()
        self._choice_locks: dict[tuple[str, bytes, str], threading.Lock] = {}
        after_fork_in_child(self._after_fork)

    def _after_fork(self) -> None:
        """New locks in a forked child (the parent's exporting threads may have held some)."""
        self._lock = threading.Lock()
        self._choice_locks = {}

    def append(self, folder: str, header: bytes, payload: bytes, stem: str = DATA_STEM) -> None:
        """Append ``payload`` (whole lines) under ``header`` in ``folder``, or raise DestinationError.

        ``stem`` names the files (``<stem>.csv``, ``<stem>_<tag>.csv``, ...) instead of ``data``.

        A plain OSError from a primitive (a folder where the file should be, say) becomes a
        DestinationError too, so the caller counts that file's rows and carries on.
        """
        try:
            self._append_moving(folder, header, payload, stem)
        except DestinationError:
            raise
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            raise DestinationError(f"{exc.strerror or exc}{where}") from exc

    def _append_moving(self, folder: str, header: bytes, payload: bytes, stem: str) -> None:
        key = (folder, header, stem)
        choice = self._files.get(key)
        if choice is None:
            with self._choosing(key):
                choice = self._files.get(key)
                if choice is None:
                    choice = self._choose_file(folder, header, stem=stem)
                    with self._lock:
                        self._files[key] = choice
        for _ in range(MAX_MOVES):
            try:
                self._append(choice.path, payload, header)
                return
            except FileFull:
                choice = self._move(key, choice, choice.part + 1)
            except FileMissing:
                choice = self._move(key, choice, choice.part)
        raise DestinationError(f"{folder}: no file took the rows after {MAX_MOVES} moves")

    def _choosing(self, key: tuple[str, bytes, str]) -> threading.Lock:
        """The lock held while choosing the file of ``key``: its requests do not hold up other files."""
        with self._lock:
            return self._choice_locks.setdefault(key, threading.Lock())

    def _move(self, key: tuple[str, bytes, str], stale: _FileChoice, part: int) -> _FileChoice:
        """Choose the file of ``part`` unless another thread already replaced ``stale``."""
        with self._choosing(key):
            current = self._files.get(key)
            if current is not None and current != stale:
                return current
            choice = self._choose_file(key[0], key[1], part, stale.tag, key[2])
            with self._lock:
                self._files[key] = choice
            return choice

    def _choose_file(
        self,
        folder: str,
        header: bytes,
        part: int | None = None,
        tag: str | None = None,
        stem: str = DATA_STEM,
    ) -> _FileChoice:
        """The file of ``part`` that is free or has ``header``; ``tag`` (kept across parts) is tried first.

        ``part=None`` (a writer's first choice) starts at the latest part of each ``data`` series;
        another stem's series starts at part 0 and moves on from full parts.
        """
        other = header_tag(header)
        for candidate in (tag, other if tag is None else None):
            at = (self._last_part(folder, candidate) if stem == DATA_STEM else 0) if part is None else part
            path = f"{folder}/{file_name(candidate, at, stem)}"
            if self._create(path, header) or self._read_header(path, len(header)) == header:
                if candidate is not None:
                    self._announce(folder, header, path, stem)
                return _FileChoice(path, candidate, at)
        raise DestinationError(f"{folder}: both data files of part {part or 0} have other headers")

    def _announce(self, folder: str, header: bytes, path: str, stem: str) -> None:
        """Say once per folder and header why rows go to a sibling: readers of data.csv miss them."""
        with self._lock:
            if (folder, header) in self._announced:
                return
            if len(self._announced) >= MAX_ANNOUNCED:
                self._announced.clear()
            self._announced.add((folder, header))
        _log.warning(
            "model data goes to %s: its columns differ from the header of %s/%s, so it starts a sibling "
            "file (read %s*.csv to get every row)",
            path,
            folder,
            file_name(stem=stem),
            stem,
        )

    def _last_part(self, folder: str, tag: str | None) -> int:
        """The highest part of the ``tag`` series present in ``folder``; 0 where files never fill up."""
        return 0

    def forget_days_before(self, day: date) -> None:
        """Drop what is cached for partition folders of days before ``day`` (a past day is over)."""
        with self._lock:
            for key in [k for k in self._files if older_than(k[0], day)]:
                del self._files[key]
            for key, lock in list(self._choice_locks.items()):
                if older_than(key[0], day) and not lock.locked():
                    del self._choice_locks[key]

    def forget(self, folder: str, header: bytes, stem: str = DATA_STEM) -> None:
        """Drop the cached file choice, e.g. after the file was removed or rolled over."""
        with self._lock:
            self._files.pop((folder, header, stem), None)

    @abstractmethod
    def _create(self, path: str, header: bytes) -> bool:
        """Make ``path`` start with exactly ``header`` (creating it); False if it already had content."""

    @abstractmethod
    def _read_header(self, path: str, size: int) -> bytes:
        """The first ``size`` bytes of ``path`` (or fewer if it is shorter)."""

    @abstractmethod
    def _append(self, path: str, payload: bytes, header: bytes) -> None:
        """Append ``payload`` to the existing ``path`` in one piece; may raise FileFull or FileMissing.

        ``header`` is the file's first line, for a destination whose files can be emptied in place.
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the default holds none."""

    @abstractmethod
    def describe(self) -> str:
        """Where the data goes, for logs; never contains a secret."""


def folder_day(folder: str) -> date | None:
    """The day a partition folder (``.../<YYYY>/<MM>/<DD>``) holds, or None if it names none."""
    try:
        year, month, day = (int(part) for part in folder.rsplit("/", 3)[-3:])
        return date(year, month, day)
    except ValueError:
        return None


def older_than(folder: str, day: date) -> bool:
    """Whether ``folder`` is the partition of a day before ``day`` (False if it names no day)."""
    found = folder_day(folder)
    return found is not None and found < day


def split_payload(payload: bytes, rows: int, limit: int | None) -> list[tuple[bytes, int]]:
    """``payload`` (``rows`` CSV rows) cut between rows into pieces of at most ``limit`` bytes.

    Returns ``(piece, rows in piece)`` pairs. A ``\\r\\n`` ends a row only outside quotes
    (fields with line breaks are quoted), so a quoted newline never splits a row. A
    single row longer than ``limit`` stays whole: the destination reports it if too big.
    """
    if limit is None or len(payload) <= limit:
        return [(payload, rows)]
    pieces: list[tuple[bytes, int]] = []
    start = end = count = 0
    for row_end in _row_ends(payload):
        if row_end - start > limit and end > start:
            pieces.append((payload[start:end], count))
            start, count = end, 0
        end = row_end
        count += 1
    pieces.append((payload[start:], rows - sum(n for _, n in pieces)))
    return pieces


def _row_ends(payload: bytes) -> list[int]:
    """Offsets just after each row's ``\\r\\n``: those preceded by an even number of quotes."""
    ends: list[int] = []
    quoted = False
    scanned = 0
    while (hit := payload.find(b"\r\n", scanned)) != -1:
        quoted ^= payload.count(b'"', scanned, hit) % 2 == 1
        scanned = hit + 2
        if not quoted:
            ends.append(scanned)
    return ends
