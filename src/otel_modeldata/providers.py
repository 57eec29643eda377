"""Builds the OpenTelemetry providers for model data, once per process, and tears them down.

Model data gets a LoggerProvider of its own, so an application's log export (to
Application Insights, OTLP, ...) never sees it. Spans get a TracerProvider that exports
to Application Insights when ``APPLICATIONINSIGHTS_CONNECTION_STRING`` is set; otherwise
they are made by the application's global tracer provider, if it has one.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Final

from opentelemetry import trace
from opentelemetry.sdk._logs import LoggerProvider, LogRecordLimits
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from . import lifecycle
from .destinations import from_settings
from .destinations.spooling import Spooler
from .exporter import ModelDataLogExporter
from .forking import after_fork_in_child
from .handoff import SHUT_DOWN, Handoff
from .settings import LOCAL_DIR, STORAGE_CONNECTION_STRING, ConfigurationError, Settings, strict_requested
from .stats import FAILED, STATS, UNACCOUNTED

_log = logging.getLogger("otel_modeldata")

SCOPE = "otel_modeldata"
CONFIGURATION_ERROR: Final = "configuration_error"
_COUNTED: Final = " (calls counted in otel_modeldata.stats()['calls_not_collected'])"


@dataclass(frozen=True, slots=True)
class Runtime:
    """What collection needs on the hot path: settings, the queue to the logger, and a tracer."""

    settings: Settings
    handoff: Handoff
    tracer: trace.Tracer


class ModelDataHandle:
    """Returned by :func:`configure`: flush and shut down what it built."""

    def __init__(
        self,
        settings: Settings,
        logger_provider: LoggerProvider | None = None,
        tracer_provider: TracerProvider | None = None,
        exporter: ModelDataLogExporter | None = None,
    ) -> None:
        self.settings = settings
        self.logger_provider = logger_provider
        self.tracer_provider = tracer_provider
        self.exporter = exporter
        self._closed = False

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Write every collected row now; True when all were handed to the destination in time."""
        ok = True
        if self.logger_provider is not None:
            ok = self.logger_provider.force_flush(timeout_millis) and ok
        if self.tracer_provider is not None:
            ok = self.tracer_provider.force_flush(timeout_millis) and ok
        return ok

    def shutdown(self) -> None:
        """Flush, stop the providers and report any loss; idempotent.

        Collection then stays off (calls are counted, not collected) rather than coming back
        configured from the environment alone; an explicit ``configure()`` may start it again.
        """
        global _handle, _runtime, _stopped
        with _lock:
            if self._closed:
                return
            self._closed = True
            if _handle is self:
                _handle = None
                _runtime = None
                _stopped = SHUT_DOWN
        if self.logger_provider is not None:
            self.logger_provider.shutdown()
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        _report_losses()

    def stats(self) -> dict[str, object]:
        """The process-wide counters (rows accepted, written, dropped by reason, failed)."""
        return STATS.snapshot()


_lock = threading.RLock()


def _new_lock_in_child() -> None:
    global _lock
    _lock = threading.RLock()


after_fork_in_child(_new_lock_in_child)

_handle: ModelDataHandle | None = None
_runtime: Runtime | None = None
_stopped: str | None = None
"""Why collection is off with no handle: :data:`SHUT_DOWN` or :data:`CONFIGURATION_ERROR`."""


def configure(**overrides: Any) -> ModelDataHandle:
    """Set up model-data collection from ``OTEL_MODELDATA_*`` variables; keyword overrides win.

    Call once at start-up. A second call returns the handle of the first (and warns if
    its arguments differ) so nothing is exported twice. After ``shutdown()`` it starts anew.
    """
    handle, built = _configure(overrides)
    if built and handle.exporter is not None:
        _log.info("otel_modeldata collecting to %s", handle.exporter.destination.describe())
    return handle


def _configure(overrides: dict[str, Any]) -> tuple[ModelDataHandle, bool]:
    """The active handle, and whether this call built it."""
    global _handle, _runtime, _stopped
    with _lock:
        if _handle is not None:
            if overrides and Settings.from_env(**overrides) != _handle.settings:
                _log.warning("otel_modeldata.configure() was already called; keeping the first settings")
            return _handle, False
        settings = Settings.from_env(**overrides)
        _stopped = None
        if not settings.enabled:
            _handle = ModelDataHandle(settings)
            _runtime = None
            return _handle, True
        resource = Resource.create({SERVICE_NAME: settings.identity.webservice})
        logger_provider, exporter, handoff = _logger_provider(settings, resource)
        tracer_provider = _tracer_provider(settings, resource)
        _handle = ModelDataHandle(settings, logger_provider, tracer_provider, exporter)
        _runtime = Runtime(settings=settings, handoff=handoff, tracer=_tracer(tracer_provider))
        _install_exit_hooks(settings)
        return _handle, True


def _announce_lazy(exporter: ModelDataLogExporter) -> None:
    """Say once where a script that never called ``configure()`` writes, and what moves it."""
    _log.info(
        "otel_modeldata collecting to %s (configured from the environment by the first collection; "
        "%s or %s choose where)",
        exporter.destination.describe(),
        LOCAL_DIR,
        STORAGE_CONNECTION_STRING,
    )


def _logger_provider(
    settings: Settings, resource: Resource
) -> tuple[LoggerProvider, ModelDataLogExporter, Handoff]:
    """A LoggerProvider of our own whose only processor queues the rows and exports them.

    Its limits are explicit: the application's ``OTEL_ATTRIBUTE_*`` and
    ``OTEL_LOGRECORD_ATTRIBUTE_*`` limits are for its own telemetry, and cutting or dropping
    our attributes would cut the partition path, the header and the ids, or lose the rows.
    """
    destination = from_settings(settings)
    exporter = ModelDataLogExporter(settings, destination, Spooler.from_settings(settings, destination))
    limits = _no_limits()
    provider = LoggerProvider(resource=resource, shutdown_on_exit=False, log_record_limits=limits)
    handoff = Handoff(
        exporter,
        max_rows=settings.max_queue_rows,
        batch_size=settings.export_batch_size,
        delay_millis=settings.schedule_delay_millis,
        shutdown_millis=settings.shutdown_timeout_millis,
    )
    provider.add_log_record_processor(handoff)
    handoff.bind(provider.get_logger(SCOPE), limits)
    return provider, exporter, handoff


def _no_limits() -> LogRecordLimits:
    """Limits that never truncate a value nor drop an attribute (and read no environment variable)."""
    unset = LogRecordLimits.UNSET
    return LogRecordLimits(
        max_attributes=unset,
        max_attribute_length=unset,
        max_log_record_attributes=unset,
        max_log_record_attribute_length=unset,
    )


def _tracer_provider(settings: Settings, resource: Resource) -> TracerProvider | None:
    """Our own provider for the span around ``run()`` when we export it to Application Insights.

    It never becomes the global one: that would block the application's own set-up (for
    example ``configure_azure_monitor()`` called later). Spans still join the application's
    traces: the parent comes from the current context, whichever provider made it.
    Without Application Insights there is no provider of ours: see :func:`_tracer`.
    """
    if not settings.appinsights_connection_string:
        return None
    from azure.monitor.opentelemetry.exporter import AzureMonitorTraceExporter

    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    exporter = AzureMonitorTraceExporter(
        connection_string=settings.appinsights_connection_string, tracer_provider=provider
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def _tracer(provider: TracerProvider | None) -> trace.Tracer:
    """Our provider's tracer, else the global one.

    A span nobody exports would only cost time on every call and put the id of a span that
    exists nowhere in the rows. The global tracer makes the span where the application's
    traces go, when it has tracing (the Azure Monitor distro, ``opentelemetry-instrument``);
    without tracing it records nothing, and rows keep the ids of the current span, if any.
    """
    return provider.get_tracer(SCOPE) if provider is not None else trace.get_tracer(SCOPE)


def runtime() -> Runtime | None:
    """The active runtime, or ``None`` when collection is disabled or stopped.

    Without an explicit :func:`configure`, the first collection configures itself from the
    environment (the local folder by default); when ``opentelemetry-instrument`` built our
    exporter, spans join its global tracer provider. After ``shutdown()`` or a configuration
    that failed that way, calls are counted in ``stats()`` and not collected.
    """
    current = _runtime
    if current is not None or _handle is not None:
        return current
    stopped = _stopped
    if stopped is None:
        with _lock:
            if _runtime is None and _handle is None and _stopped is None:
                _configure_lazily()
            current, stopped = _runtime, _stopped
    if stopped is not None and STATS.not_collected(stopped) and stopped == SHUT_DOWN:
        _log.warning("otel_modeldata: collection was shut down; later calls are not collected%s", _COUNTED)
    return current


def _configure_lazily() -> None:
    """Configure from the environment; if that fails, log once and stop collection.

    The error must not reach every ``run()`` call of an application that never called
    ``configure()``, unless strict mode asks for it.
    """
    global _stopped
    try:
        handle: ModelDataHandle | None
        if not ModelDataLogExporter.built_from_environment:
            handle = _configure({})[0]
        else:
            settings = Settings.from_env()
            handle = _adopt_global(settings) if settings.enabled else None
        if handle is not None and handle.exporter is not None:
            _announce_lazy(handle.exporter)
    except Exception as exc:
        if strict_requested():
            raise
        _stopped = CONFIGURATION_ERROR
        if isinstance(exc, ConfigurationError):
            _log.error("otel_modeldata: model data is not collected: %s%s", exc, _COUNTED)
        else:
            _log.exception("otel_modeldata: model data is not collected: configuration failed%s", _COUNTED)


def _adopt_global(settings: Settings) -> ModelDataHandle:
    """Spans go to the global tracer provider; rows still get a LoggerProvider of their own.

    The global LoggerProvider may hold other exporters too (the Azure Monitor configurator
    adds Application Insights to ``OTEL_LOGS_EXPORTER``): rows emitted there would reach them.
    """
    global _handle, _runtime
    resource = Resource.create({SERVICE_NAME: settings.identity.webservice})
    logger_provider, exporter, handoff = _logger_provider(settings, resource)
    _handle = ModelDataHandle(settings, logger_provider, None, exporter)
    _runtime = Runtime(settings=settings, handoff=handoff, tracer=_tracer(None))
    _install_exit_hooks(settings)
    return _handle


def _install_exit_hooks(settings: Settings) -> None:
    """Write the rows at interpreter exit and on SIGTERM, whatever the server does with it (see lifecycle)."""
    lifecycle.watch(_shutdown_active, _is_active, settings.shutdown_timeout_millis / 1000)


def _is_active() -> bool:
    return _handle is not None


def _shutdown_active() -> None:
    handle = _handle
    if handle is not None:
        handle.shutdown()


def _report_losses() -> None:
    snapshot = STATS.snapshot()
    lost = snapshot[FAILED] or snapshot[UNACCOUNTED] or snapshot["rows_dropped"]
    if lost:
        _log.warning("otel_modeldata: rows not written: %s", snapshot)
