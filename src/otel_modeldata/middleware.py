"""WSGI and ASGI middleware that gives every request an id and echoes it in the response.

The id is taken from ``x-request-id`` or ``x-ms-request-id`` when the caller (or an
ingress) sent a usable one, and generated otherwise; collected rows carry it in
``$aml_request_id``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, Final

from .context import end_correlation, new_id, reset_request_id, set_request_id, start_correlation

HEADER: Final = "x-request-id"
ACCEPTED_HEADERS: Final = ("x-request-id", "x-ms-request-id")
MAX_ID_LENGTH: Final = 128


def usable_request_id(value: str | None) -> str | None:
    """``value`` if it is a sane id (short, printable ASCII without separators), else ``None``."""
    if not value or len(value) > MAX_ID_LENGTH:
        return None
    if not all(33 <= ord(ch) < 127 and ch not in ',;"' for ch in value):
        return None
    return value


StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class RequestIdMiddleware:
    """WSGI: ``app.wsgi_app = RequestIdMiddleware(app.wsgi_app)`` for Flask."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request_id = _first_usable(
            environ.get("HTTP_" + h.upper().replace("-", "_")) for h in ACCEPTED_HEADERS
        )

        def start_with_id(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if not any(name.lower() == HEADER for name, _ in headers):
                headers.append((HEADER, request_id))
            return start_response(status, headers, exc_info)

        token = set_request_id(request_id)
        cleared = start_correlation(None)
        try:
            return self.app(environ, start_with_id)
        finally:
            end_correlation(cleared)
            reset_request_id(token)


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class RequestIdASGIMiddleware:
    """ASGI: ``app.add_middleware(RequestIdASGIMiddleware)`` for FastAPI/Starlette, or wrap the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        request_id = _first_usable(headers.get(h) for h in ACCEPTED_HEADERS)

        async def send_with_id(message: Message) -> None:
            if message.get("type") == "http.response.start":
                headers = list(message.get("headers", ()))
                if not any(name.lower() == HEADER.encode() for name, _ in headers):
                    headers.append((HEADER.encode(), request_id.encode()))
                message["headers"] = headers
            await send(message)

        token = set_request_id(request_id)
        cleared = start_correlation(None)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            end_correlation(cleared)
            reset_request_id(token)


def _first_usable(values: Iterable[str | None]) -> str:
    for value in values:
        usable = usable_request_id(value)
        if usable:
            return usable
    return new_id()
