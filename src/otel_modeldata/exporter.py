"""The OpenTelemetry log exporter that turns model-data records into partitioned CSV rows.

It is a thin adapter: group a batch by partition and header, encode with :mod:`csvfmt`,
hand one payload per file to a :class:`~otel_modeldata.destinations.Destination`. Records
without ``modeldata.designation`` are ignored, so it can sit on a shared provider.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, ClassVar, Final

from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, attach, detach, set_value
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult

from . import schema
from .csvfmt import NANOS_PER_DAY, RowContext, RowWriter, Timestamps, header_line, hex_id, utc_day
from .destinations import Destination, DestinationError, from_settings
from .destinations.base import split_payload
from .destinations.spooling import Spooler
from .fanout import FanOut
from .forking import after_fork_in_child
from .layout import DATA_STEM, Identity, InvalidNameError, check_name, partition_folder
from .policy import guard
from .settings import Settings
from .stats import FAILED, STATS, WRITTEN

_log = logging.getLogger(__name__)

BAD_RECORD: Final = "bad_record"
#: A cell whose text cannot be made (``str()`` raised, e.g. an int of more than 4,300 digits).
UNENCODABLE_VALUE: Final = "unencodable_value"
#: Distinct (model, version, designation, columns) kept before the cache starts over.
MAX_CACHED_TARGETS: Final = 1024
#: Days of partitions whose folders and files stay cached: today's and yesterday's.
CACHED_DAYS: Final = 2


@dataclass(slots=True)
class _Target:
    """What the records of one model, version, designation and columns share."""

    model: str
    version: str
    designation: str
    width: int
    header: bytes
    #: The path levels: the settings', unless a classic collector gave its own
    #: (``modeldata.workspace``, ``modeldata.service``).
    identity: Identity
    #: The ``$aml_workspace``, ``$aml_service_name``, ``$aml_model_name`` and ``$aml_model_version``
    #: cells: formula-guarded when the guard is on, once per target rather than per record.
    cells: tuple[str, str, str, str]
    #: File stem, ``data`` unless a classic collector gave a ``collection_name``.
    stem: str
    #: Partition folder by day number since the epoch.
    folders: dict[int, str] = field(default_factory=dict)


@dataclass(slots=True)
class _File:
    """The rows one export sends to one file, and the records they came from.

    The records are kept (references only) so that, when one cell cannot be encoded, the
    others can be encoded again record by record instead of losing the whole file.
    """

    writer: RowWriter = field(default_factory=RowWriter)
    records: list[tuple[Sequence[Any], _Target, RowContext]] = field(default_factory=list)


#: A file's folder, header and stem.
_FileKey = tuple[str, bytes, str]


@dataclass(slots=True)
class _Chained:
    """One file's rows of a prepared export, and its place in the file's order of appends.

    ``after`` is set when the previous export's append to the same file has returned (None if
    there is none in flight); ``done`` is set when this one has.
    """

    key: _FileKey
    file: _File
    after: threading.Event | None
    done: threading.Event


@dataclass(slots=True)
class PreparedExport:
    """A batch grouped by file and checked, ready for :meth:`ModelDataLogExporter.export_prepared`."""

    files: list[_Chained]

    def release(self) -> None:
        """Let later exports' appends to these files go on (this one will not write)."""
        for chained in self.files:
            chained.done.set()


#: A classic collector's own workspace, service and file stem attributes (``None`` when not given).
_Place = tuple[Any, Any, Any]
_SETTINGS_PLACE: Final[_Place] = (None, None, None)


def _place(attrs: Mapping[str, Any]) -> _Place:
    """A classic collector's own place; the settings' (no tuple made) in the usual case."""
    if schema.WORKSPACE in attrs or schema.SERVICE in attrs or schema.COLLECTION in attrs:
        return attrs.get(schema.WORKSPACE), attrs.get(schema.SERVICE), attrs.get(schema.COLLECTION)
    return _SETTINGS_PLACE


def _make_target(
    model: Any,
    version: Any,
    designation: Any,
    columns: tuple[str, ...] | int,
    place: _Place,
    settings: Settings,
) -> _Target | str | tuple[str, str]:
    """Check the names (records may come from any emitter) and build the header.

    Unusable names give why: text (a bad record), or a reason and its detail (repeated or
    reserved column names, checked here once per distinct set of names, off the request path).
    """
    workspace, service, collection = place
    identity = settings.identity
    try:
        check_name(model, "model name")
        check_name(version, "model version")
        check_name(designation, "designation")
        if workspace is not None:
            levels = workspace.split("/") if isinstance(workspace, str) else ()
            if len(levels) != 3:
                return f"{schema.WORKSPACE} must be '<subscription>/<resource group>/<workspace>'"
            for level in levels:
                check_name(level, schema.WORKSPACE)
            identity = Identity(levels[0], levels[1], levels[2], identity.webservice)
        if service is not None:
            identity = Identity(
                identity.subscription_id, identity.resource_group, identity.workspace, service
            )
            check_name(service, schema.SERVICE)
        if collection is not None:
            check_name(collection, schema.COLLECTION)
    except InvalidNameError as exc:
        return str(exc)
    names = schema.default_column_names(designation, columns) if isinstance(columns, int) else columns
    problem = schema.column_problem(names)
    if problem is not None:
        return problem
    cells = (identity.workspace_path, identity.webservice, model, version)
    if settings.csv_formula_guard:
        cells = (guard(cells[0]), guard(cells[1]), guard(cells[2]), guard(cells[3]))
    return _Target(
        model,
        version,
        designation,
        len(names),
        header_line(names),
        identity,
        cells,
        collection or DATA_STEM,
    )


class ModelDataLogExporter(LogRecordExporter):
    """Writes model-data log records to CSV partitions (local folder or Azure Blob Storage).

    Built with no arguments (as ``OTEL_LOGS_EXPORTER=modeldata`` does) it configures
    itself from the environment.
    """

    #: Set when the SDK's auto-configuration built one, so collection uses the global provider.
    built_from_environment: ClassVar[bool] = False

    def __init__(
        self,
        settings: Settings | None = None,
        destination: Destination | None = None,
        spooler: Spooler | None = None,
    ) -> None:
        """``spooler`` (built with the same destination) keeps what the destination cannot take."""
        if settings is None and destination is None:
            ModelDataLogExporter.built_from_environment = True
        self._settings = settings or Settings.from_env()
        self._destination = destination or from_settings(self._settings)
        self._guard = self._settings.csv_formula_guard
        self._spooler = spooler
        #: Appends to different files side by side, where each waits on a network round trip.
        self._fanout = (
            FanOut(self._settings.max_concurrent_appends, "otel_modeldata-append")
            if self._destination.waits_on_network
            else None
        )
        self._targets: dict[tuple[Any, ...], _Target | str | tuple[str, str]] = {}
        self._reset_appends()
        after_fork_in_child(self._reset_appends)
        self._timestamps = Timestamps()
        self._shutdown = False
        #: The earliest day (since the epoch) any cache holds, to know when pruning has work.
        self._oldest_cached_day = _today()

    def _reset_appends(self) -> None:
        """No appends in flight (also in a forked child: the parent's were on threads that did not follow)."""
        #: Per file, the latest prepared append not yet returned: the next one to that file waits for it.
        self._tails: dict[_FileKey, threading.Event] = {}
        self._tails_lock = threading.Lock()
        #: Appends of every export being written (two may be at once): the setting bounds them all.
        self._appending = threading.BoundedSemaphore(self._settings.max_concurrent_appends)

    @property
    def destination(self) -> Destination:
        """Where rows are written."""
        return self._destination

    @property
    def waits_on_network(self) -> bool:
        """Whether an export waits on round trips: the handoff then prepares the next batch meanwhile."""
        return self._destination.waits_on_network

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        """Write the model-data records of ``batch``; never raises."""
        if self._shutdown:
            _log.warning("model data exporter called after shutdown; %d records not written", len(batch))
            return LogRecordExportResult.FAILURE
        try:
            prepared = self.prepare_export(batch)
        except Exception:
            _log.exception("model data export failed unexpectedly")
            return LogRecordExportResult.FAILURE
        return self.export_prepared(prepared)

    def prepare_export(self, batch: Sequence[ReadableLogRecord]) -> PreparedExport:
        """Group ``batch`` by file and check its records; call in the order the batches are to land.

        Each record on its own: one that is unusable is counted, the others still go. The
        appends of the result follow, file by file, those of the exports prepared before it,
        even when :meth:`export_prepared` runs for two batches at once (on two threads).
        """
        self._forget_old_days()  # what the exports before this one cached (here: one thread)
        files: dict[_FileKey, _File] = {}
        for readable in batch:
            try:
                self._encode(readable, files)
            except Exception as exc:
                _drop_record(readable, BAD_RECORD, f"{type(exc).__name__} while encoding")
        chained: list[_Chained] = []
        with self._tails_lock:
            for key, file in files.items():
                if file.writer.rows:
                    done = threading.Event()
                    chained.append(_Chained(key, file, self._tails.get(key), done))
                    self._tails[key] = done
        return PreparedExport(chained)

    def export_prepared(self, prepared: PreparedExport) -> LogRecordExportResult:
        """Write a prepared batch, each file once the previous export's append to it has returned."""
        if self._shutdown:
            prepared.release()
            _log.warning(
                "model data exporter called after shutdown; rows of %d files not written", len(prepared.files)
            )
            return LogRecordExportResult.FAILURE
        token = attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        try:
            writes = [partial(self._write_in_turn, chained) for chained in prepared.files]
            ok = all(self._fanout.run(writes)) if self._fanout is not None else all([w() for w in writes])
            return LogRecordExportResult.SUCCESS if ok else LogRecordExportResult.FAILURE
        except Exception:
            prepared.release()
            _log.exception("model data export failed unexpectedly")
            return LogRecordExportResult.FAILURE
        finally:
            detach(token)

    def _write_in_turn(self, chained: _Chained) -> bool:
        """One file's part of an export, after the previous export's append to the file."""
        try:
            if chained.after is not None:
                chained.after.wait()
            with self._appending:
                return self._encode_and_write(chained.key[0], chained.key[1], chained.file)
        finally:
            chained.done.set()
            with self._tails_lock:
                if self._tails.get(chained.key) is chained.done:
                    del self._tails[chained.key]

    def _encode_and_write(self, folder: str, header: bytes, file: _File) -> bool:
        """One file's part of an export; on a helper thread, its encoding overlaps other files' uploads."""
        return self._write(file.records[0][1], folder, header, *self._payload(file))

    def _row_writer(self) -> RowWriter:
        """A writer for one file of one export, with the configured size bounds."""
        return RowWriter(self._settings.max_cell_bytes, self._settings.max_value_bytes)

    def _payload(self, file: _File) -> tuple[bytes, int]:
        """The file's CSV bytes and row count; a record with a cell that cannot be encoded is dropped."""
        try:
            return file.writer.payload(), file.writer.rows
        except Exception:
            _log.debug("a cell of this batch cannot be encoded; encoding its records one by one")
        pieces: list[bytes] = []
        count = 0
        for rows, target, ctx in file.records:
            writer = self._row_writer()
            writer.write(rows, target.width, ctx)
            try:
                pieces.append(writer.payload())
            except Exception as exc:
                STATS.drop(
                    UNENCODABLE_VALUE,
                    writer.rows,
                    model=target.model,
                    designation=target.designation,
                    accepted=True,
                    detail=f"{type(exc).__name__} converting a cell to text",
                )
            else:
                count += writer.rows
        return b"".join(pieces), count

    def _write(self, target: _Target, folder: str, header: bytes, payload: bytes, rows: int) -> bool:
        """Append ``payload`` in pieces the destination takes; count each piece written or failed."""
        ok = True
        for piece, count in split_payload(payload, rows, self._destination.max_payload_bytes):
            if not count:
                continue
            if self._spooler is not None:
                ok = self._spooler.write(folder, header, piece, count, target.stem) and ok
                continue
            try:
                if target.stem == DATA_STEM:
                    self._destination.append(folder, header, piece)
                else:
                    self._destination.append(folder, header, piece, target.stem)
            except Exception as exc:
                STATS.add(FAILED, count, model=target.model, designation=target.designation)
                ok = False
                if isinstance(exc, DestinationError):
                    _log.error("model data rows could not be written to %s: %s", folder, exc)
                else:
                    _log.exception("model data rows could not be written to %s", folder)
            else:
                STATS.add(WRITTEN, count, model=target.model, designation=target.designation)
        return ok

    def _encode(self, readable: ReadableLogRecord, files: dict[_FileKey, _File]) -> None:
        record = readable.log_record
        attrs: Mapping[str, Any] = record.attributes or {}
        designation = attrs.get(schema.DESIGNATION)
        if designation is None:
            return
        rows = record.body
        if not isinstance(rows, (list, tuple)):
            target: _Target | str | tuple[str, str] = "body is not a list of rows"
            rows = [None]
        else:
            names = attrs.get(schema.FEATURE_NAMES)
            columns: tuple[str, ...] | int = (
                tuple(names) if names else len(rows[0]) if rows and isinstance(rows[0], (list, tuple)) else 1
            )
            target = self._target(
                attrs.get(schema.MODEL_NAME),
                attrs.get(schema.MODEL_VERSION) or self._settings.model_version,
                designation,
                columns,
                _place(attrs),
            )
        first_row = attrs.get(schema.FIRST_ROW_INDEX, 0)
        if type(first_row) is not int or first_row < 0:
            target = f"{schema.FIRST_ROW_INDEX} is not a whole number >= 0"
        if isinstance(target, str):
            _drop_record(readable, BAD_RECORD, target)
            return
        if isinstance(target, tuple):
            _drop_record(readable, *target)
            return
        moment = record.timestamp or record.observed_timestamp or 0
        day = moment // NANOS_PER_DAY
        folder = target.folders.get(day)
        if folder is None:
            folder = target.folders[day] = partition_folder(
                target.identity, target.model, target.version, target.designation, utc_day(moment)
            )
            self._oldest_cached_day = min(self._oldest_cached_day, day)
        file = files.get((folder, target.header, target.stem))
        if file is None:
            file = files[(folder, target.header, target.stem)] = _File(self._row_writer())
        correlation_id = str(attrs.get(schema.CORRELATION_ID, ""))
        request_id = str(attrs.get(schema.REQUEST_ID, ""))
        if self._guard:  # both may come from the caller (user_correlation_id, an x-request-id header)
            correlation_id, request_id = guard(correlation_id), guard(request_id)
        workspace, service, model, version = target.cells
        ctx = RowContext(
            correlation_id,
            self._timestamps.text(moment),
            workspace,
            service,
            model,
            version,
            request_id,
            hex_id(record.trace_id or 0, 32),
            hex_id(record.span_id or 0, 16),
            first_row,
        )
        file.records.append((rows, target, ctx))
        refused = file.writer.write(rows, target.width, ctx)
        for reason in set(refused):
            count = refused.count(reason)
            STATS.drop(reason, count, model=target.model, designation=target.designation, accepted=True)

    def _target(
        self, model: Any, version: Any, designation: Any, columns: tuple[str, ...] | int, place: _Place
    ) -> _Target | str | tuple[str, str]:
        """The checked names, header and width of records with these attributes, or why they are unusable.

        ``columns`` are the feature names, or the row width when there are none. Cached: a
        service has a handful of models and designations, and each record of a batch would
        otherwise check its names and build its header again.
        """
        key = (model, version, designation, columns, place)
        target = self._targets.get(key)
        if target is None:
            if len(self._targets) >= MAX_CACHED_TARGETS:
                self._targets.clear()
            target = self._targets[key] = _make_target(
                model, version, designation, columns, place, self._settings
            )
        return target

    def _forget_old_days(self) -> None:
        """Drop the cached folders and files of days before yesterday, here and in the destination.

        A long-running process would otherwise keep one entry per partition and day forever.
        Cheap when there is nothing to drop (the usual case): one comparison per export.
        """
        keep_from = _today() - CACHED_DAYS + 1
        if self._oldest_cached_day >= keep_from:
            return
        for target in self._targets.values():
            if isinstance(target, _Target):
                for day in [d for d in target.folders if d < keep_from]:
                    del target.folders[day]
        self._destination.forget_days_before(utc_day(keep_from * NANOS_PER_DAY))
        self._oldest_cached_day = keep_from

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Every export writes through, so there is nothing buffered here."""
        return True

    def interrupt(self) -> None:
        """Stop waiting for the destination (shutdown's time is running out): spool from now on."""
        if self._spooler is not None:
            self._spooler.interrupt()
        else:
            self._destination.close()

    def shutdown(self) -> None:
        """Stop the replayer and release the destination; idempotent. Later exports are refused."""
        if self._shutdown:
            return
        self._shutdown = True
        if self._spooler is not None:
            self._spooler.stop()
        self._destination.close()
        if self._fanout is not None:
            self._fanout.close()


def _today() -> int:
    """Today's UTC day number since the epoch, like the days partitions are named by."""
    return time.time_ns() // NANOS_PER_DAY


def _drop_record(readable: ReadableLogRecord, reason: str, detail: str) -> None:
    """Count every row of a record that cannot be written at all."""
    attrs: Mapping[str, Any] = readable.log_record.attributes or {}
    body = readable.log_record.body
    STATS.drop(
        reason,
        len(body) if isinstance(body, (list, tuple)) else 1,
        model=str(attrs.get(schema.MODEL_NAME)),
        designation=str(attrs.get(schema.DESIGNATION)),
        accepted=True,
        detail=detail,
    )
