"""Counters that make every loss visible: rows accepted, written, dropped (by reason), failed,
and calls not collected at all (after shutdown, or with an invalid configuration).

A row is *accepted* when collection has converted it for the export queue. It then ends
as *written*, *spooled* (kept on local disk because the destination could not take it),
*dropped* (refused with a reason, a full queue or spool included) or *failed* (the
destination refused the write and no spool kept it); the difference is still queued, or was
lost when a flush timed out. A spooled row that is replayed is counted again as *replayed*
and as *written* (whichever process replays it), so in one process::

    accepted = (written - replayed) + spooled + failed + dropped after acceptance + unaccounted
 Rows written with a correction (a declared feature the data lacked, names it
carried beyond them) are also counted as *adjusted*, by cause: they are not losses.

Every count also goes, by model and designation, to the totals :mod:`metrics` publishes as
OpenTelemetry metrics. ``add``, ``drop``, ``adjust`` and ``not_collected`` are the only ways
in, so a new counter (``STATS.add("rows_spooled", n, model=..., designation=...)``) is a
metric (``modeldata.rows.spooled``) from its first count, with nothing else to change.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Sequence
from typing import Final

from . import metrics
from .forking import after_fork_in_child

_log = logging.getLogger("otel_modeldata")

ACCEPTED: Final = "rows_accepted"
WRITTEN: Final = "rows_written"
FAILED: Final = "rows_failed"
DROPPED: Final = "rows_dropped"
ADJUSTED: Final = "rows_adjusted"
UNACCOUNTED: Final = "rows_unaccounted"
SPOOLED: Final = "rows_spooled"
REPLAYED: Final = "rows_replayed"
SPOOL_BYTES: Final = "spool_bytes"
SET_ASIDE: Final = "spool_entries_set_aside"
NOT_COLLECTED: Final = "calls_not_collected"
_DROPPED_AFTER_ACCEPT: Final = "_rows_dropped_after_accept"


class Stats:
    """Thread-safe counters; one instance per process, see :data:`STATS`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: Counts kept out of the metrics (rows dropped after they were accepted).
        self._counts: Counter[str] = Counter()
        self._dropped: Counter[str] = Counter()
        self._not_collected: Counter[str] = Counter()
        self._adjusted: Counter[str] = Counter()
        self._warned: set[tuple[str, ...]] = set()
        #: Every other count by (counter, reason, model, designation), as the metrics report them.
        self._totals: dict[tuple[str, str, str, str], int] = {}
        #: Counters published as metrics (kept by ``reset()``: an instrument lives as long as the process).
        self._published: set[str] = set()
        after_fork_in_child(self._after_fork_in_child)

    def add(self, name: str, n: int = 1, *, model: str = "", designation: str = "") -> None:
        """Add ``n`` to counter ``name`` (of ``model`` and ``designation``, when the caller knows them)."""
        if n:
            key = (name, "", model, designation)
            with self._lock:
                if key in self._totals:  # the usual case, on the request path: one dict update
                    self._totals[key] += n
                    return
                new = self._total(key, n)
            if new:
                self._publish(name)

    def set(self, name: str, value: int) -> None:
        """Set the gauge ``name`` (bytes in the spool, say) to ``value``."""
        with self._lock:
            self._counts[name] = value

    def drop(
        self, reason: str, n: int, *, model: str, designation: str, accepted: bool = False, detail: str = ""
    ) -> None:
        """Count ``n`` rows dropped for ``reason``; log once per (model, designation, reason).

        ``accepted`` says the rows had been counted as accepted (dropped by the exporter).
        """
        if not n:
            return
        key = (model, designation, reason)
        with self._lock:
            self._dropped[reason] += n
            if accepted:
                self._counts[_DROPPED_AFTER_ACCEPT] += n
            first = key not in self._warned
            self._warned.add(key)
            new = self._total((DROPPED, reason, model, designation), n)
        if new:
            self._publish(DROPPED)
        if first:
            _log.error(
                "model data dropped: model=%s designation=%s reason=%s%s "
                "(logged once per cause; counts in otel_modeldata.stats())",
                model,
                designation,
                reason,
                f" ({detail})" if detail else "",
            )

    def not_collected(self, reason: str) -> bool:
        """Count one call (a ``run()`` or a ``collect()``) not collected at all; True the first time.

        Calls, not rows: when collection is off, the data is not even converted to be counted.
        """
        with self._lock:
            self._not_collected[reason] += 1
            first = self._not_collected[reason] == 1
            new = self._total((NOT_COLLECTED, reason, "", ""), 1)
        if new:
            self._publish(NOT_COLLECTED)
        return first

    def adjust(self, cause: str, n: int, *, model: str, designation: str, columns: Sequence[str]) -> None:
        """Count ``n`` rows written with a correction; log once per (model, designation, cause)."""
        if not n:
            return
        key = (model, designation, cause)
        with self._lock:
            self._adjusted[cause] += n
            first = key not in self._warned
            self._warned.add(key)
            new = self._total((ADJUSTED, cause, model, designation), n)
        if new:
            self._publish(ADJUSTED)
        if first:
            _log.warning(
                "model data adjusted: model=%s designation=%s cause=%s columns=%s; the rows are "
                "written (logged once per cause; counts in otel_modeldata.stats())",
                model,
                designation,
                cause,
                ", ".join(columns),
            )

    def _total(self, key: tuple[str, str, str, str], n: int) -> bool:
        """Under the lock: add ``n`` to the total of ``key``; True when its counter is not a metric yet."""
        self._totals[key] = self._totals.get(key, 0) + n
        counter = key[0]
        if counter in self._published:
            return False
        self._published.add(counter)
        return True

    def _publish(self, counter: str) -> None:
        """Make ``counter`` a metric (outside the lock: the meter has locks of its own)."""
        try:
            metrics.observe(counter, lambda: self._totals_of(counter))
        except Exception:
            _log.exception("otel_modeldata: counter %s is not published as a metric", counter)

    def _totals_of(self, counter: str) -> list[metrics.Total]:
        """Each total of ``counter`` as ``(value, reason, model, designation)``, read by the metrics."""
        with self._lock:
            return [
                (n, reason, model, designation)
                for (name, reason, model, designation), n in self._totals.items()
                if name == counter
            ]

    def snapshot(self) -> dict[str, object]:
        """All counters as a plain dict, including drops by reason and rows not accounted for."""
        with self._lock:
            counts = self._counts.copy()
            for (name, reason, _, _), n in self._totals.items():
                if not reason:
                    counts[name] += n
            dropped = dict(self._dropped)
            not_collected = dict(self._not_collected)
            adjusted = dict(self._adjusted)
        accepted = counts.get(ACCEPTED, 0)
        direct = counts.get(WRITTEN, 0) - counts.get(REPLAYED, 0)
        settled = (
            direct + counts.get(SPOOLED, 0) + counts.get(FAILED, 0) + counts.get(_DROPPED_AFTER_ACCEPT, 0)
        )
        return {
            ACCEPTED: accepted,
            WRITTEN: counts.get(WRITTEN, 0),
            FAILED: counts.get(FAILED, 0),
            DROPPED: dropped,
            UNACCOUNTED: max(accepted - settled, 0),
            SPOOLED: counts.get(SPOOLED, 0),
            REPLAYED: counts.get(REPLAYED, 0),
            SPOOL_BYTES: counts.get(SPOOL_BYTES, 0),
            SET_ASIDE: counts.get(SET_ASIDE, 0),
            NOT_COLLECTED: not_collected,
            ADJUSTED: adjusted,
        }

    def reset(self) -> None:
        """Forget everything (tests and a fresh ``configure()``)."""
        with self._lock:
            self._counts.clear()
            self._dropped.clear()
            self._not_collected.clear()
            self._adjusted.clear()
            self._warned.clear()
            self._totals.clear()

    def _after_fork_in_child(self) -> None:
        """A forked child counts its own rows: the parent's queued rows stay the parent's to write."""
        self._lock = threading.Lock()
        self.reset()


STATS: Final = Stats()
