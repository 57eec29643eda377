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
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from . import lifecycle
from .exporter import ModelDataLogExporter
from .forking import after_fork_in_child
from .handoff import Handoff
from .settings import Settings
from .stats import FAILED, STATS, UNACCOUNTED

_log = logging.getLogger("otel_modeldata")

SCOPE = "otel_modeldata"


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
        """Flush, stop the providers and report any loss; idempotent. ``configure()`` may run again."""
        global _handle, _runtime
        with _lock:
            if self._closed:
                return
            self._closed = True
            if _handle is self:
                _handle = None
                _runtime = None
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


def configure(**overrides: Any) -> ModelDataHandle:
    """Set up model-data collection from ``OTEL_MODELDATA_*`` variables; keyword overrides win.

    Call once at start-up. A second call returns the handle of the first (and warns if
    its arguments differ) so nothing is exported twice.
    """
    global _handle, _runtime
    with _lock:
        if _handle is not None:
            if overrides and Settings.from_env(**overrides) != _handle.settings:
                _log.warning("otel_modeldata.configure() was already called; keeping the first settings")
            return _handle
        settings = Settings.from_env(**overrides)
        if not settings.enabled:
            _handle = ModelDataHandle(settings)
            _runtime = None
            return _handle
        resource = Resource.create({SERVICE_NAME: settings.identity.webservice})
        logger_provider, exporter, handoff = _logger_provider(settings, resource)
        tracer_provider = _tracer_provider(settings, resource)
        _handle = ModelDataHandle(settings, logger_provider, tracer_provider, exporter)
        _runtime = Runtime(settings=settings, handoff=handoff, tracer=_tracer(tracer_provider))
        _install_exit_hooks()
        _log.info("otel_modeldata collecting to %s", exporter.destination.describe())
        return _handle


def _logger_provider(
    settings: Settings, resource: Resource
) -> tuple[LoggerProvider, ModelDataLogExporter, Handoff]:
    """A LoggerProvider of our own whose only processor queues the rows and exports them."""
    exporter = ModelDataLogExporter(settings)
    provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    handoff = Handoff(
        exporter,
        max_rows=settings.max_queue_rows,
        batch_size=settings.export_batch_size,
        delay_millis=settings.schedule_delay_millis,
    )
    provider.add_log_record_processor(handoff)
    handoff.bind(provider.get_logger(SCOPE))
    return provider, exporter, handoff


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
    """The active runtime, or ``None`` when collection is disabled.

    Without an explicit :func:`configure`, the first collection configures itself from the
    environment (the local folder by default); when ``opentelemetry-instrument`` built our
    exporter, spans join its global tracer provider.
    """
    current = _runtime
    if current is not None or _handle is not None:
        return current
    with _lock:
        if _runtime is not None or _handle is not None:
            return _runtime
        if ModelDataLogExporter.built_from_environment:
            settings = Settings.from_env()
            if not settings.enabled:
                return None
            return _adopt_global(settings)
    configure()
    return _runtime


def _adopt_global(settings: Settings) -> Runtime:
    """Spans go to the global tracer provider; rows still get a LoggerProvider of their own.

    The global LoggerProvider may hold other exporters too (the Azure Monitor configurator
    adds Application Insights to ``OTEL_LOGS_EXPORTER``): rows emitted there would reach them.
    """
    global _handle, _runtime
    resource = Resource.create({SERVICE_NAME: settings.identity.webservice})
    logger_provider, exporter, handoff = _logger_provider(settings, resource)
    _handle = ModelDataHandle(settings, logger_provider, None, exporter)
    _runtime = Runtime(settings=settings, handoff=handoff, tracer=_tracer(None))
    _install_exit_hooks()
    return _runtime


def _install_exit_hooks() -> None:
    """Write the rows at interpreter exit and on SIGTERM, whatever the server does with it (see lifecycle)."""
    lifecycle.watch(_shutdown_active, _is_active)


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
