"""The queue between ``run()`` and the exporter, and the one thread that empties it.

The SDK's ``Logger.emit`` costs about 10 us per record (it copies and checks every
attribute under a lock): more than the rest of collection together. So ``run()`` only
appends the collected rows to a queue bounded in rows, and this processor's thread makes
the log records (through the SDK Logger, so they carry the resource, scope and trace
context like any other) and hands them to the exporter in batches. What does not fit is
refused and counted by the caller: the request thread never waits here.

That thread does in the background what the SDK would do on the request thread, so its
CPU is the application's too. Attributes made by collection are already what the SDK's
check would keep (strings, numbers, tuples of strings): they go into the record as they
are instead of being checked and copied again (half the cost of a record). And while
it keeps up, the thread lets the request threads in every few dozen records, so that a call
does not wait for a whole batch (up to the interpreter's 5 ms switch interval).

It replaces the SDK's BatchLogRecordProcessor for model data and keeps the meaning of its
``OTEL_BLRP_SCHEDULE_DELAY`` and ``OTEL_BLRP_MAX_EXPORT_BATCH_SIZE``; the bound counts rows
(``OTEL_MODELDATA_MAX_QUEUE_ROWS``) instead of records, because one record may hold
100,000 rows. The queue is all a SIGKILL loses, so once it holds an eighth of a batch in rows
(64 by default) the next export comes within a tenth of the delay (100 ms): a busy process
keeps fewer rows in memory, a quiet one exports no more often than before. After ``fork()``
the child starts with an empty queue and a new thread: the rows queued before the fork
belong to the parent, which writes them itself.

When each export waits on the network (a :class:`Staging` exporter whose ``waits_on_network``
is true: Blob Storage), the round trips of one export overlap the work of the next. This thread
makes a batch's records and has the exporter prepare them (group them by file, in batch order),
and two exporting threads write prepared batches: while the last appends of one export are
still on their way, the next export's appends to other files go out, and an append to a file
still waits for the previous export's append to that file (the exporter sees to it). A batch
counts as done (for ``force_flush()``) once it and every batch before it are written. Behind
a busy exporting thread, a batch is taken only when full (or flushed), so a quiet service's
exports gather rows as before instead of leaving in more, smaller exports.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, NamedTuple, Protocol, runtime_checkable

from opentelemetry._logs import Logger, LogRecord
from opentelemetry.context import Context, attach, detach, set_value
from opentelemetry.sdk._logs import Logger as SdkLogger
from opentelemetry.sdk._logs import LogRecordLimits, LogRecordProcessor, ReadableLogRecord, ReadWriteLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter
from opentelemetry.sdk.resources import Resource

from . import lifecycle, schema
from .forking import after_fork_in_child
from .stats import STATS

_log = logging.getLogger("otel_modeldata")

QUEUE_FULL: Final = "queue_full"
EMIT_FAILED: Final = "emit_failed"
EXPORT_FAILED: Final = "export_failed"
SHUT_DOWN: Final = "shut_down"
#: Share of the shutdown timeout spent letting the exporter write normally; after it, the
#: exporter is interrupted (a spooling exporter then spools the rest instead of retrying).
PATIENT_SHARE: Final = 0.5
#: Share of the shutdown timeout kept for the exporter's own shutdown (stopping its threads).
CLOSING_SHARE: Final = 0.1
#: Rows queued, as a share of the batch size, from which the next export comes sooner.
FILL_SHARE: Final = 1 / 8
#: Share of the schedule delay waited once the queue holds that many rows.
SOON_SHARE: Final = 1 / 10
_SUPPRESS_INSTRUMENTATION_KEY: Final = "suppress_instrumentation"
#: Records the exporting thread makes between two chances it gives the request threads to run
#: (a call that arrives meanwhile then waits for a few records, not for the whole batch). Not
#: fewer: on a machine whose CPUs are busy, each chance may leave this thread off the CPU for
#: a time slice of the scheduler's.
YIELD_EVERY: Final = 32
#: Gives up the GIL and the CPU for a moment (``sleep(0)`` where there is no ``sched_yield``).
_let_others_run: Callable[[], None] = getattr(os, "sched_yield", lambda: time.sleep(0))
#: Attribute values the SDK's check keeps as they are (tuples: of strings, see :func:`_checked`).
_KEPT_TYPES: Final = frozenset({str, int, float, bool, tuple})
_STRINGS: Final = frozenset({str})


class Pending(NamedTuple):
    """One collected value waiting to become a log record."""

    timestamp: int
    context: Context
    body: list[Any]
    attributes: dict[str, Any]


#: Threads writing prepared batches at once, when exports wait on the network (see the module's doc).
EXPORTING_THREADS: Final = 2


class _Prepared(NamedTuple):
    """A batch whose records are made, waiting for its export."""

    batch: list[Pending]
    emitted: list[Pending]
    records: list[ReadableLogRecord]
    #: Index (in values queued) of the batch's first value: batches count as done in this order.
    first: int
    #: The exporter's prepared export of ``records`` (:class:`Staging`), or None to call ``export()``.
    staged: Any = None


#: Put in the slot instead of a batch: an exporting thread ends.
_STOP: Final = _Prepared([], [], [], -1)


@runtime_checkable
class Staging(Protocol):
    """An exporter that prepares a batch on one thread and writes prepared batches on others."""

    @property
    def waits_on_network(self) -> bool:
        """Whether exports wait on round trips (only then are they overlapped)."""

    def prepare_export(self, batch: Sequence[ReadableLogRecord]) -> Any:
        """Prepare ``batch``; called in the order the batches are to be written."""

    def export_prepared(self, prepared: Any) -> Any:
        """Write a prepared batch; never raises. Two may run at once."""


@runtime_checkable
class Interruptible(Protocol):
    """An exporter that can stop waiting for its destination when shutdown's time runs out."""

    def interrupt(self) -> None:
        """Make the current and later exports return promptly."""


class Handoff(LogRecordProcessor):
    """A queue of :class:`Pending` values bounded in rows, emitted and exported by one thread.

    Records emitted on its logger by that thread are collected in :meth:`on_emit` and
    exported together; ``force_flush()`` and ``shutdown()`` are the provider's, so flushing
    the LoggerProvider writes every row queued before the call.
    """

    def __init__(
        self,
        exporter: LogRecordExporter,
        *,
        max_rows: int,
        batch_size: int,
        delay_millis: int,
        shutdown_millis: int = 30_000,
    ) -> None:
        """``shutdown_millis`` bounds ``shutdown()`` when the provider calls it without a timeout."""
        self._exporter = exporter
        #: Export on threads of their own, overlapping exports (see the module's doc).
        self._staging = (
            exporter if isinstance(exporter, Staging) and exporter.waits_on_network is True else None
        )
        self.shutdown_millis = shutdown_millis
        self.max_rows = max_rows
        self.batch_size = batch_size
        self.delay = delay_millis / 1000
        #: Rows queued from which the next export comes within ``soon_delay`` (the crash bound).
        self.soon_rows = max(int(batch_size * FILL_SHARE), 1)
        self.soon_delay = self.delay * SOON_SHARE
        self._logger: Logger | None = None
        self._limits: LogRecordLimits | None = None
        self._reset(closed=False)
        after_fork_in_child(self._after_fork)

    def _reset(self, *, closed: bool) -> None:
        self._lock = threading.Lock()
        self._has_work = threading.Condition(self._lock)
        self._progress = threading.Condition(self._lock)
        self._queue: deque[Pending] = deque()
        self._emitted: list[ReadableLogRecord] = []
        self._rows = 0
        #: Rows in the queue itself (``_rows`` also counts those taken and not yet exported).
        self._waiting_rows = 0
        self._queued = 0
        #: Values taken from the queue for an export, and values whose export has returned.
        self._taken = 0
        self._done = 0
        self._flush_to = 0
        self._closed = closed
        self._draining = False
        self._thread: threading.Thread | None = None
        #: The batch handed from the thread that makes records to the one that exports them.
        self._slot = threading.Condition(self._lock)
        self._ready: _Prepared | None = None
        #: Exporting threads with a batch in hand.
        self._busy = 0

    def _after_fork(self) -> None:
        """The child starts empty: the rows queued before the fork are the parent's to write."""
        self._reset(closed=self._closed)

    def bind(self, logger: Logger, limits: LogRecordLimits | None = None) -> None:
        """The logger whose records come back here (it belongs to the provider this processor is on).

        ``limits``: the provider's record limits. Records with attributes made by collection
        are made here (see :func:`_checked`) when the limits are known; without them every
        record takes the SDK's way (default limits read the environment, which may not parse).
        """
        self._logger = logger
        self._limits = limits

    @property
    def rows_queued(self) -> int:
        """Rows collected and not yet handed to the exporter."""
        return self._rows

    def put(self, item: Pending) -> str | None:
        """Queue ``item``: None, or why nothing was queued (:data:`QUEUE_FULL`, :data:`SHUT_DOWN`)."""
        n = len(item.body)
        queue = self._queue
        with self._lock:
            # Every calling thread takes this lock: plain attribute work only, thread start and
            # wake-up outside.
            if self._closed:
                return SHUT_DOWN
            rows = self._rows + n
            if rows > self.max_rows:
                return QUEUE_FULL
            self._rows = rows
            before = self._waiting_rows
            self._waiting_rows = before + n
            self._queued += 1
            queue.append(item)
            start = self._thread is None
            # Decided here, not after the lock is released: another thread's put() could
            # then already have grown the queue past the batch size, and nobody would wake
            # the exporting thread. One item per put() makes the equality the crossing.
            full = len(queue) == self.batch_size
            filling = before < self.soon_rows <= before + n
        if start:
            self._start()
        elif full or filling:
            with self._lock:
                self._has_work.notify()
        return None

    def _start(self) -> None:
        # A process's first collection: our SIGTERM handler goes in front of one a server installed
        # since configure() (in a gunicorn worker forked after it, for one).
        lifecycle.install_sigterm_hook_from_any_thread()
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="otel_modeldata", daemon=True)
                self._thread.start()

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        """Keep a record emitted on this provider for the next export (which follows at once)."""
        self._emitted.append(
            ReadableLogRecord(
                log_record=log_record.log_record,
                resource=log_record.resource or Resource.get_empty(),
                instrumentation_scope=log_record.instrumentation_scope,
                limits=log_record.limits,
            )
        )

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Wait until every value queued before this call is exported; False on timeout."""
        deadline = time.monotonic() + timeout_millis / 1000
        with self._lock:
            target = self._queued
            self._flush_to = max(self._flush_to, target)
            self._has_work.notify()
            while self._done < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._progress.wait(remaining):
                    return self._done >= target
        return self._exporter.force_flush(int(max(deadline - time.monotonic(), 0) * 1000))

    def shutdown(self, timeout_millis: int | None = None) -> None:
        """Export what is queued, then stop, within ``timeout_millis`` (default: ``shutdown_millis``).

        Halfway through, an :class:`Interruptible` exporter is told to stop waiting for its
        destination, so what remains is exported its fastest way (spooled, for Blob Storage).
        Rows still queued at the deadline are counted as dropped.
        """
        timeout = (self.shutdown_millis if timeout_millis is None else timeout_millis) / 1000
        start = time.monotonic()
        with self._lock:
            self._closed = True
            thread = self._thread
            self._has_work.notify()
        if thread is not None:
            thread.join(timeout * PATIENT_SHARE)
            if thread.is_alive() and isinstance(self._exporter, Interruptible):
                with self._lock:
                    self._draining = True
                self._exporter.interrupt()
            thread.join(max(start + timeout * (1 - CLOSING_SHARE) - time.monotonic(), 0))
        with self._lock:
            left = list(self._queue)
            self._queue.clear()
            self._rows = self._waiting_rows = 0
        for item in left:
            _count_drop(item, SHUT_DOWN)
        self._exporter.shutdown()  # type: ignore[no-untyped-call]

    def _take(self) -> list[Pending] | None:
        """The next batch (maybe empty) after a full batch, a flush or the delay; None to stop.

        ``put()`` wakes this thread only for a full batch and when the queue reaches
        ``soon_rows`` rows: a notification per call would run Python code under the lock
        that every caller needs, and threads then queue on it. From ``soon_rows`` on, the
        wait is ``soon_delay``. An interrupted shutdown takes the whole queue at once: one
        export spools it fastest.

        While an exporting thread is busy, only a full batch (or a flush or shutdown) is taken
        at once; otherwise the wait starts when the exports have returned, as it does without
        those threads. So a quiet service's batches gather the rows that came meanwhile, as
        before, instead of leaving in more, smaller exports (each costing a request per file).
        """
        with self._lock:
            while self._busy and not self._urgent():
                self._has_work.wait()
            if not self._urgent():
                woken = True
                if self._waiting_rows < self.soon_rows:
                    woken = self._has_work.wait(self.delay)
                if woken and not self._urgent():
                    self._has_work.wait(self.soon_delay)
            if not self._queue:
                return None if self._closed else []
            size = len(self._queue) if self._draining else min(self.batch_size, len(self._queue))
            self._taken += size
            batch = [self._queue.popleft() for _ in range(size)]
            self._waiting_rows -= sum(len(item.body) for item in batch)
            return batch

    def _urgent(self) -> bool:
        return len(self._queue) >= self.batch_size or self._closed or self._flush_to > self._taken

    def _work(self) -> None:
        """Make each batch's records and export them, or hand them to the exporting threads."""
        lifecycle.shield_this_thread()
        exporting = self._start_exporting() if self._staging is not None else []
        while (batch := self._take()) is not None:
            if not batch:
                continue
            token = attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
            try:
                prepared = self._prepare(batch, staged=bool(exporting))
                if not exporting:
                    self._export(prepared)
            finally:
                detach(token)
            if exporting:
                self._hand_over(prepared)
        for _ in exporting:
            self._hand_over(_STOP)
        for thread in exporting:
            thread.join()

    def _start_exporting(self) -> list[threading.Thread]:
        """The threads that write prepared batches; none if none may start (late in the exit)."""
        threads: list[threading.Thread] = []
        for n in range(1, EXPORTING_THREADS + 1):
            thread = threading.Thread(
                target=self._export_prepared, name=f"otel_modeldata-export-{n}", daemon=True
            )
            try:
                thread.start()
            except RuntimeError:
                break
            threads.append(thread)
        if len(threads) < EXPORTING_THREADS:  # one exporting thread could not overlap anything
            for _ in threads:
                self._hand_over(_STOP)
            return []
        return threads

    def _hand_over(self, prepared: _Prepared) -> None:
        """Give ``prepared`` to an exporting thread; return once one has started on it."""
        with self._lock:
            self._ready = prepared
            self._slot.notify_all()
            while self._ready is prepared:
                self._slot.wait()

    def _export_prepared(self) -> None:
        lifecycle.shield_this_thread()
        while True:
            with self._lock:
                while self._ready is None:
                    self._slot.wait()
                prepared, self._ready = self._ready, None
                if prepared is _STOP:
                    self._slot.notify_all()
                    return
                self._busy += 1
                self._slot.notify_all()
            token = attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
            try:
                self._export(prepared)
            finally:
                detach(token)

    def _prepare(self, batch: list[Pending], *, staged: bool) -> _Prepared:
        """Make the batch's log records (through the SDK Logger, which hands them to ``on_emit``).

        ``staged``: also have the exporter prepare them, here, in batch order.
        """
        logger = self._logger
        assert logger is not None, "Handoff.bind() was not called"
        limits = self._limits
        sdk = logger if isinstance(logger, SdkLogger) else None
        emitted: list[Pending] = []
        for count, item in enumerate(batch, 1):
            try:
                if sdk is not None and limits is not None and _checked(item.attributes):
                    record = LogRecord(
                        timestamp=item.timestamp,
                        context=item.context,
                        body=item.body,
                        attributes=item.attributes,
                        event_name=schema.EVENT_NAME,
                    )
                    # The SDK's emit() passes a ReadWriteLogRecord to the processors as it is
                    # (its annotation names the API record only).
                    checked = _CheckedRecord(record, sdk.resource, sdk.instrumentation_scope, limits)
                    sdk.emit(checked)  # type: ignore[arg-type]
                else:
                    logger.emit(
                        timestamp=item.timestamp,
                        context=item.context,
                        body=item.body,
                        attributes=item.attributes,
                        event_name=schema.EVENT_NAME,
                    )
                emitted.append(item)
            except Exception:
                _log.exception("otel_modeldata: could not make a log record of collected rows")
                _count_drop(item, EMIT_FAILED)
            if count % YIELD_EVERY == 0 and len(self._queue) < self.batch_size:
                # Only while this thread keeps up: behind a full batch it takes its share of
                # the GIL as before, so that a busy caller cannot starve it (and fill the queue).
                _let_others_run()
        records, self._emitted = self._emitted, []
        with self._lock:
            first = self._taken - len(batch)
        if not staged or not records or self._staging is None:
            return _Prepared(batch, emitted, records, first)
        try:
            return _Prepared(batch, emitted, records, first, self._staging.prepare_export(records))
        except Exception:
            _log.exception("otel_modeldata: the exporter raised")
            for item in emitted:
                _count_drop(item, EXPORT_FAILED)
            return _Prepared(batch, [], [], first)

    def _export(self, prepared: _Prepared) -> None:
        """Export a prepared batch; once it and those before it are done, flushes waiting for them end."""
        if prepared.records:
            try:
                if prepared.staged is not None and self._staging is not None:
                    self._staging.export_prepared(prepared.staged)
                else:
                    self._exporter.export(prepared.records)
            except Exception:
                _log.exception("otel_modeldata: the exporter raised")
                for item in prepared.emitted:
                    _count_drop(item, EXPORT_FAILED)
        with self._lock:
            # The other exporting thread may still be writing the batch before this one.
            while self._done < prepared.first:
                self._progress.wait()
            self._rows -= sum(len(item.body) for item in prepared.batch)
            self._done += len(prepared.batch)
            self._progress.notify_all()
            if self._busy:
                self._busy -= 1
                self._has_work.notify()


class _CheckedRecord(ReadWriteLogRecord):
    """A record whose attributes passed :func:`_checked`: kept as they are, not checked and copied again.

    ``Logger.emit`` takes it as it is and hands it to every processor on the provider.
    """

    def __post_init__(self) -> None:
        """Nothing to do: the SDK's own would rebuild the attributes (see :func:`_checked`)."""


def _checked(attributes: Mapping[str, Any]) -> bool:
    """Whether the SDK's attribute check would keep ``attributes`` unchanged: non-empty string
    keys; values that are strings, numbers, booleans or tuples of strings. Collection makes
    only such attributes; anything else takes the SDK's own check."""
    values = attributes.values()
    return (
        _STRINGS.issuperset(map(type, attributes))
        and "" not in attributes
        and _KEPT_TYPES.issuperset(map(type, values))
        and all(_STRINGS.issuperset(map(type, v)) for v in values if type(v) is tuple)
    )


def _count_drop(item: Pending, reason: str) -> None:
    STATS.drop(
        reason,
        len(item.body),
        model=str(item.attributes.get(schema.MODEL_NAME, "")),
        designation=str(item.attributes.get(schema.DESIGNATION, "")),
        accepted=True,
    )
