"""The OpenTelemetry log exporter that turns model-data records into partitioned CSV rows.

It is a thin adapter: group a batch by partition and header, encode with :mod:`csvfmt`,
hand one payload per file to a :class:`~otel_modeldata.destinations.Destination`. Records
without ``modeldata.designation`` are ignored, so it can sit on a shared provider.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, attach, detach, set_value
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult

from . import schema
from .csvfmt import RowContext, RowWriter, header_line, hex_id, iso_timestamp, utc_moment
from .destinations import Destination, DestinationError, from_settings
from .destinations.base import split_payload
from .layout import InvalidNameError, check_name, partition_folder
from .settings import Settings
from .stats import FAILED, STATS, WRITTEN

_log = logging.getLogger(__name__)

BAD_RECORD = "bad_record"


class ModelDataLogExporter(LogRecordExporter):
    """Writes model-data log records to CSV partitions (local folder or Azure Blob Storage).

    Built with no arguments (as ``OTEL_LOGS_EXPORTER=modeldata`` does) it configures
    itself from the environment.
    """

    #: Set when the SDK's auto-configuration built one, so collection uses the global provider.
    built_from_environment: ClassVar[bool] = False

    def __init__(self, settings: Settings | None = None, destination: Destination | None = None) -> None:
        if settings is None and destination is None:
            ModelDataLogExporter.built_from_environment = True
        self._settings = settings or Settings.from_env()
        self._destination = destination or from_settings(self._settings)
        self._headers: dict[tuple[str, ...], bytes] = {}
        self._valid_names: set[tuple[Any, Any, Any]] = set()
        self._shutdown = False

    @property
    def destination(self) -> Destination:
        """Where rows are written."""
        return self._destination

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        """Write the model-data records of ``batch``; never raises."""
        if self._shutdown:
            _log.warning("model data exporter called after shutdown; %d records not written", len(batch))
            return LogRecordExportResult.FAILURE
        token = attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        try:
            return self._export(batch)
        except Exception:
            _log.exception("model data export failed unexpectedly")
            return LogRecordExportResult.FAILURE
        finally:
            detach(token)

    def _export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        files: dict[tuple[str, bytes], RowWriter] = {}
        for readable in batch:
            self._encode(readable, files)
        result = LogRecordExportResult.SUCCESS
        for (folder, header), writer in files.items():
            if not writer.rows:
                continue
            limit = self._destination.max_payload_bytes
            for payload, rows in split_payload(writer.payload(), writer.rows, limit):
                try:
                    self._destination.append(folder, header, payload)
                except DestinationError as exc:
                    STATS.add(FAILED, rows)
                    _log.error("model data rows could not be written to %s: %s", folder, exc)
                    result = LogRecordExportResult.FAILURE
                else:
                    STATS.add(WRITTEN, rows)
        return result

    def _encode(self, readable: ReadableLogRecord, files: dict[tuple[str, bytes], RowWriter]) -> None:
        record = readable.log_record
        attrs: Mapping[str, Any] = record.attributes or {}
        designation = attrs.get(schema.DESIGNATION)
        if designation is None:
            return
        raw_model = attrs.get(schema.MODEL_NAME)
        raw_version = attrs.get(schema.MODEL_VERSION) or self._settings.model_version
        rows = record.body
        if not isinstance(rows, (list, tuple)):
            rows, problem = [None], "body is not a list of rows"
        else:
            try:
                model, version, designation = self._checked_names(raw_model, raw_version, designation)
                problem = ""
            except InvalidNameError as exc:
                problem = str(exc)
        if problem:
            STATS.drop(
                BAD_RECORD,
                len(rows),
                model=str(raw_model),
                designation=str(designation),
                accepted=True,
                detail=problem,
            )
            return
        names = tuple(attrs.get(schema.FEATURE_NAMES) or ())
        if not names:
            width = len(rows[0]) if rows and isinstance(rows[0], (list, tuple)) else 1
            names = schema.default_column_names(designation, width)
        moment = utc_moment(record.timestamp or record.observed_timestamp)
        identity = self._settings.identity
        folder = partition_folder(identity, model, version, designation, moment.date())
        header = self._header(names)
        writer = files.get((folder, header))
        if writer is None:
            writer = files[(folder, header)] = RowWriter()
        ctx = RowContext(
            correlation_id=str(attrs.get(schema.CORRELATION_ID, "")),
            timestamp=iso_timestamp(moment),
            workspace=identity.workspace_path,
            service=identity.webservice,
            model=model,
            version=version,
            request_id=str(attrs.get(schema.REQUEST_ID, "")),
            trace_id=hex_id(record.trace_id or 0, 32),
            span_id=hex_id(record.span_id or 0, 16),
        )
        for reason in set(refused := writer.write(rows, len(names), ctx)):
            STATS.drop(reason, refused.count(reason), model=model, designation=designation, accepted=True)

    def _checked_names(self, model: Any, version: Any, designation: Any) -> tuple[str, str, str]:
        """The names, once checked safe for a path (records may come from any emitter)."""
        key = (model, version, designation)
        if key not in self._valid_names:
            check_name(model, "model name")
            check_name(version, "model version")
            check_name(designation, "designation")
            self._valid_names.add(key)
        return key

    def _header(self, names: tuple[str, ...]) -> bytes:
        header = self._headers.get(names)
        if header is None:
            header = self._headers[names] = header_line(names)
        return header

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Every export writes through, so there is nothing buffered here."""
        return True

    def shutdown(self) -> None:
        """Release the destination; idempotent. Later exports are refused."""
        if self._shutdown:
            return
        self._shutdown = True
        self._destination.close()
