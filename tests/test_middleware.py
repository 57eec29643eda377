"""Request ids from the WSGI and ASGI middleware reach the response and the collected rows.

The rows are read back from both destinations (the ``store`` fixture).
"""

from __future__ import annotations

import asyncio
from typing import Any

import otel_modeldata
from otel_modeldata import RequestIdASGIMiddleware, RequestIdMiddleware, collect_io, get_request_id

from csvfiles import Store


@collect_io("mw_model")
def run(data: list[int]) -> int:
    return sum(data)


def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    run([1, 2])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(get_request_id()).encode()]


def call_wsgi(headers: dict[str, str]) -> tuple[dict[str, str], bytes]:
    captured: dict[str, str] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        captured.update(response_headers)

    environ = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}
    body = b"".join(RequestIdMiddleware(wsgi_app)(environ, start_response))
    return captured, body


def test_wsgi_honours_and_echoes_the_request_id(
    store_collector: otel_modeldata.ModelDataHandle, store: Store
) -> None:
    headers, body = call_wsgi({"x-request-id": "abc-123"})
    assert headers["x-request-id"] == "abc-123"
    assert body == b"abc-123"
    headers, _ = call_wsgi({"x-ms-request-id": "ms-9"})
    assert headers["x-request-id"] == "ms-9"
    store_collector.force_flush()
    _, rows = store.read_rows("mw_model", "inputs")
    assert [r["$aml_request_id"] for r in rows] == ["abc-123", "ms-9"]
    assert get_request_id() is None


def test_wsgi_generates_an_id_when_absent_or_unusable(collector: otel_modeldata.ModelDataHandle) -> None:
    generated, _ = call_wsgi({})
    assert len(generated["x-request-id"]) == 36
    hostile, _ = call_wsgi({"x-request-id": "bad\r\nSet-Cookie: x"})
    assert "\n" not in hostile["x-request-id"]
    assert hostile["x-request-id"] != "bad\r\nSet-Cookie: x"


def test_asgi_honours_and_echoes_the_request_id(
    store_collector: otel_modeldata.ModelDataHandle, store: Store
) -> None:
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        run([3, 4])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(get_request_id()).encode()})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "headers": [(b"x-request-id", b"asgi-1")]}
    asyncio.run(RequestIdASGIMiddleware(app)(scope, receive, send))
    assert (b"x-request-id", b"asgi-1") in sent[0]["headers"]
    assert sent[1]["body"] == b"asgi-1"
    store_collector.force_flush()
    _, rows = store.read_rows("mw_model", "inputs")
    assert rows[0]["$aml_request_id"] == "asgi-1"


def test_an_id_the_application_sets_itself_is_not_sent_twice() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("X-Request-Id", "app-chosen")])
        return [b""]

    captured: list[tuple[str, str]] = []
    RequestIdMiddleware(app)({}, lambda status, headers, exc_info=None: captured.extend(headers))
    assert [v for k, v in captured if k.lower() == "x-request-id"] == ["app-chosen"]


def test_asgi_passes_other_scopes_through() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    async def noop(*args: Any) -> Any:
        return None

    asyncio.run(RequestIdASGIMiddleware(app)({"type": "lifespan"}, noop, noop))
    assert seen == ["lifespan"]
