"""The counters of :mod:`stats` as OpenTelemetry metrics, through the application's global MeterProvider.

A dashboard (Prometheus, Azure Monitor) then shows losses across every worker and replica,
where ``stats()`` only sees its own process. Each counter is an asynchronous (observable)
counter whose callback reads the totals :class:`~otel_modeldata.stats.Stats` keeps anyway,
so counting costs no meter call on any thread: the request path pays one dict update under
the lock it already takes. The instrument is created when its counter is first counted,
through ``opentelemetry.metrics.get_meter``: without a MeterProvider the API's proxy keeps
the callback and never calls it, and a provider the application sets later still gets
every count, since values are cumulative from the start of the process, like ``stats()``.

Names follow the counter: ``rows_written`` is ``modeldata.rows.written``, unit ``{row}``;
``calls_not_collected`` is ``modeldata.calls.not_collected``, unit ``{call}``. Attributes:
``modeldata.model.name`` and ``modeldata.designation`` (as on the log records) when the
count has them, ``modeldata.reason`` for drops, adjustments and calls not collected.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Final

from opentelemetry.metrics import CallbackOptions, Meter, Observation, get_meter

from . import schema

METER_NAME: Final = "otel_modeldata"
PREFIX: Final = schema.PREFIX
MODEL_NAME: Final = schema.MODEL_NAME
DESIGNATION: Final = schema.DESIGNATION
REASON: Final = "modeldata.reason"

#: Unit by the counter's first word (or, for sizes, its last).
_UNITS: Final = {"rows": "{row}", "calls": "{call}", "bytes": "By"}
_DESCRIPTIONS: Final = {
    "rows_accepted": "Rows converted for the export queue",
    "rows_written": "Rows the destination stored",
    "rows_failed": "Rows the destination refused after its retries",
    "rows_dropped": "Rows not written, by reason (a full queue, a bad value, too many rows, ...)",
    "rows_adjusted": "Rows written with a correction (a missing or extra feature), by cause",
    "calls_not_collected": "Calls whose data was not collected at all, by reason",
}

#: ``(value, reason, model, designation)``: one total of a counter, as Stats keeps it.
Total = tuple[int, str, str, str]

_lock = threading.Lock()
_meter: Meter | None = None


def instrument_name(counter: str) -> tuple[str, str]:
    """The metric name and unit of a ``stats()`` counter: ``rows_spooled`` -> ``modeldata.rows.spooled``."""
    words = counter.split("_")
    unit = _UNITS.get(words[0]) or _UNITS.get(words[-1]) or "1"
    return PREFIX + counter.replace("_", ".", 1), unit


def attributes(reason: str, model: str, designation: str) -> dict[str, str]:
    """The attributes of one total: only those it has (a call not collected has no model)."""
    found = {MODEL_NAME: model, DESIGNATION: designation, REASON: reason}
    return {key: value for key, value in found.items() if value}


def observe(counter: str, totals: Callable[[], Iterable[Total]]) -> None:
    """Publish ``counter`` as an observable counter whose values are ``totals()`` at each collection."""
    name, unit = instrument_name(counter)

    def callback(options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(n, attributes(reason, model, designation))
            for n, reason, model, designation in totals()
        ]

    _get_meter().create_observable_counter(
        name,
        callbacks=[callback],
        unit=unit,
        description=_DESCRIPTIONS.get(counter, f"otel_modeldata.stats()['{counter}']"),
    )


def _get_meter() -> Meter:
    """One meter for every instrument, asked for on first use (the application may set its provider late)."""
    global _meter
    with _lock:
        if _meter is None:
            from . import __version__

            _meter = get_meter(METER_NAME, __version__)
        return _meter
