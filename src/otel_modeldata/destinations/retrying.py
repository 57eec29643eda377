"""Retries with jittered exponential back-off up to a deadline, all stopped at once by ``close()``.

The Blob destination retries itself (the SDK's retries do not know the append position); its
waits are ``Event.wait`` calls, so closing the destination ends every one of them at once.
A throttled answer's ``Retry-After`` is a floor for the wait: retrying sooner only earns
another 503 and prolongs the throttling.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import TypeVar

from azure.core.exceptions import AzureError, HttpResponseError

from .azure_errors import reason, transient

#: The Blob destination's logger: these are its retries, and its users filter on that name.
_log = logging.getLogger("otel_modeldata.destinations.blob")

T = TypeVar("T")


class Stopped(Exception):
    """Retrying ended (deadline or ``close()``); the operation's error names the blob."""


class Retrier:
    """Retries on behalf of one destination; ``closed`` set ends them."""

    def __init__(self, closed: bool = False) -> None:
        self.closed = threading.Event()
        if closed:
            self.closed.set()

    def run(self, what: str, operation: Callable[[], T], deadline: float) -> T:
        """``operation()``, retried on transient failures until ``deadline``; other errors propagate."""
        failures = 0
        while True:
            try:
                return operation()
            except AzureError as exc:
                if not transient(exc):
                    raise
                failures += 1
                self.backoff(what, exc, failures, deadline)

    def backoff(self, what: str, exc: AzureError, failures: int, deadline: float) -> None:
        """Wait before retry ``failures``: exponential with jitter, or give up at the deadline."""
        ceiling = min(0.05 * 2**failures, 2.0)
        delay = max(ceiling / 2 + random.uniform(0, ceiling / 2), retry_after(exc))
        why = reason(exc)
        if time.monotonic() + delay > deadline:
            raise Stopped(f"{why}; gave up after {failures} attempts")
        _log.debug("%s: %s; retrying in %.2f s", what, why, delay)
        self.wait(delay)

    def wait(self, seconds: float, deadline: float | None = None) -> None:
        """Sleep ``seconds`` unless that passes ``deadline`` or the destination closes (Stopped)."""
        if deadline is not None and time.monotonic() + seconds > deadline:
            raise Stopped("other writers kept moving the blob; gave up")
        if self.closed.wait(seconds):
            raise Stopped("the destination was closed while retrying")


def retry_after(exc: AzureError) -> float:
    """Seconds the service asked to wait (``retry-after-ms``, ``x-ms-retry-after-ms``, ``Retry-After``), or 0.

    The SDK's own retry policy reads these, but its retries are off (see the module docstring).
    """
    response = exc.response if isinstance(exc, HttpResponseError) else None
    headers = getattr(response, "headers", None)
    if not headers:
        return 0.0
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        try:
            return max(float(headers[name]) / 1000, 0.0)
        except (KeyError, TypeError, ValueError):
            pass
    value = headers.get("retry-after")
    if not value:
        return 0.0
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return 0.0
