"""Request and correlation ids carried in context variables (safe across threads and asyncio tasks).

The request id comes from the web request (see :mod:`middleware`) or is set by hand; the
correlation id ties the inputs of one scoring call to its predictions. A server thread
serves many requests and keeps its context variables between them, so a correlation that
outlives its call remembers the request it was started in (:class:`RequestMark`) and is
reused only while that request is still the current one.
"""

from __future__ import annotations

import random
import sys
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import get_current_span

# Documented here, next to user_id whose ids it reads; defined with the sampling it keys.
from .policy import sampling_key as sampling_key


@dataclass(frozen=True, slots=True)
class RequestMark:
    """What tells one request from the next on the same thread, as far as it is known.

    Our request id (set by the middleware or by hand), the trace id of the current span
    (when the server is traced) and the Flask request object (when Flask is serving).
    """

    request_id: str | None
    trace_id: int
    flask_request: weakref.ref[Any] | None

    def is_current(self) -> bool:
        """Whether the request this mark was taken in is still the one in progress.

        Only what is known both then and now is compared: a span of the script's own that
        starts or ends between two collects does not end the request. With nothing known
        (a plain script), nothing says the request changed.
        """
        now = current_request()
        return not (
            _differ(self.request_id, now.request_id)
            or _differ(self.trace_id, now.trace_id)
            or _differ(self.flask_request, now.flask_request)
        )


def _differ(then: object, now: object) -> bool:
    """Both known (not ``None``, ``0`` or empty) and different."""
    return bool(then) and bool(now) and then != now


def current_request() -> RequestMark:
    """The mark of the request in progress in this context."""
    span_context = get_current_span().get_span_context()
    return RequestMark(
        _request_id.get(), span_context.trace_id if span_context.is_valid else 0, _flask_request()
    )


def _flask_request() -> weakref.ref[Any] | None:
    """A weak reference to Flask's current request, if Flask is already imported and serving one."""
    flask: Any = sys.modules.get("flask")
    if flask is None or not flask.has_request_context():
        return None
    return weakref.ref(flask.request._get_current_object())


@dataclass(frozen=True, slots=True)
class Correlation:
    """The ids shared by the records of one scoring call, and its input row count.

    ``request`` is the request a classic collector started it in; ``None`` means its
    starter (the decorator) ends it with the call.
    """

    correlation_id: str
    request_id: str
    input_rows: int | None = None
    request: RequestMark | None = None

    def as_dict(self) -> dict[str, str]:
        """The classic correlation context returned by ``ModelDataCollector.collect``."""
        return {"correlation_id": self.correlation_id, "request_id": self.request_id}

    def is_current(self) -> bool:
        """Whether later collections may still share this correlation (its request has not ended)."""
        return self.request is None or self.request.is_current()


_request_id: ContextVar[str | None] = ContextVar("otel_modeldata_request_id", default=None)
_correlation: ContextVar[Correlation | None] = ContextVar("otel_modeldata_correlation", default=None)


_VERSION_MASK = ~(0xF << 76) & ~(0x3 << 62)
_VERSION_BITS = (0x4 << 76) | (0x2 << 62)


def new_id() -> str:
    """A fresh random id in UUID4 form, as the classic collector wrote.

    Ids correlate rows; they are not secrets, so the process PRNG (reseeded after
    ``fork``) replaces ``uuid4``, whose ``os.urandom`` call costs tens of microseconds here.
    """
    h = format(random.getrandbits(128) & _VERSION_MASK | _VERSION_BITS, "032x")
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def user_id(prefix: str) -> str:
    """A user's correlation id made unique as the classic collector did: ``<prefix>-<uuid>``.

    Two calls for the same loan never share an id (rows are told apart by id and row
    index), and the prefix still finds them.
    """
    return f"{prefix}-{new_id()}"


def get_request_id() -> str | None:
    """The request id of the current context, if any."""
    return _request_id.get()


def set_request_id(request_id: str | None) -> Token[str | None]:
    """Set the request id of the current context; returns a token for :func:`reset_request_id`."""
    return _request_id.set(request_id)


def reset_request_id(token: Token[str | None]) -> None:
    """Restore the request id that was current before :func:`set_request_id`."""
    _request_id.reset(token)


@contextmanager
def request_id_scope(request_id: str | None = None) -> Iterator[str]:
    """Run a block with a request id (generated when ``None``), for code outside a web request."""
    value = request_id or new_id()
    token = _request_id.set(value)
    try:
        yield value
    finally:
        _request_id.reset(token)


def current_correlation() -> Correlation | None:
    """The correlation of the scoring call in progress in this context."""
    return _correlation.get()


def start_correlation(correlation: Correlation | None) -> Token[Correlation | None]:
    """Make ``correlation`` current (``None`` clears it); later collections in this context reuse its id."""
    return _correlation.set(correlation)


def end_correlation(token: Token[Correlation | None]) -> None:
    """Restore the correlation that was current before :func:`start_correlation`."""
    _correlation.reset(token)
