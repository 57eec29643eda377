"""A local HTTP proxy in front of Azurite that throttles on demand: 503 with Retry-After, and 500.

Tests queue the faults to answer (``fail(503, 500, ...)``): the next requests get them
instead of being forwarded; every later request goes through to Azurite. Each request is
recorded with its arrival time and the status it got, so a test can check how long a
client waited after a throttled answer, or count the requests. ``hold(part)`` keeps the
requests for one blob waiting until the test lets them go: a slow file; ``refuse(part, 500)``
answers all of them with that status until ``allow(part)``: a failing file.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: Headers that belong to one connection, not to the request or response being relayed.
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "host"})


@dataclass(frozen=True)
class Seen:
    """One request the proxy received."""

    at: float
    method: str
    path: str
    status: int


class ThrottlingProxy:
    """Forwards to ``127.0.0.1:upstream_port`` except for the faults queued with :meth:`fail`."""

    def __init__(self, upstream_port: int, retry_after: str = "1") -> None:
        self.upstream_port = upstream_port
        self.retry_after = retry_after
        self.seen: list[Seen] = []
        self._faults: deque[int] = deque()
        self._holds: dict[str, threading.Event] = {}
        self._refusals: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ThrottlingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail(self, *statuses: int) -> None:
        """Answer the next ``len(statuses)`` requests with these statuses instead of forwarding them."""
        with self._lock:
            self._faults.extend(statuses)

    def hold(self, part: str) -> threading.Event:
        """Keep requests whose path contains ``part`` waiting until the returned event is set."""
        released = threading.Event()
        with self._lock:
            self._holds[part] = released
        return released

    def refuse(self, part: str, status: int) -> None:
        """Answer every request whose path contains ``part`` with ``status`` until :meth:`allow`."""
        with self._lock:
            self._refusals[part] = status

    def allow(self, part: str) -> None:
        with self._lock:
            self._refusals.pop(part, None)

    @property
    def pending(self) -> int:
        """Faults queued and not yet answered."""
        with self._lock:
            return len(self._faults)

    def requests(self) -> list[Seen]:
        """What the proxy received so far, in order of arrival."""
        with self._lock:
            return list(self.seen)

    def _next(self, method: str, path: str) -> tuple[int | None, int]:
        """The fault for this request, or None to forward it (once no hold applies), and its place in
        ``seen``: recorded either way."""
        with self._lock:
            holds = [event for part, event in self._holds.items() if part in path]
        for released in holds:
            released.wait()
        with self._lock:
            refused = [status for part, status in self._refusals.items() if part in path]
            fault = refused[0] if refused else self._faults.popleft() if self._faults else None
            self.seen.append(Seen(time.monotonic(), method, path, fault or 0))
            return fault, len(self.seen) - 1

    def _forwarded(self, index: int, status: int) -> None:
        with self._lock:
            was = self.seen[index]
            self.seen[index] = Seen(was.at, was.method, was.path, status)


def _handler(proxy: ThrottlingProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        """One keep-alive connection from the client; each request faulted or relayed."""

        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: pytest's output is for the test's own lines."""

        def _relay(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            fault, index = proxy._next(self.command, self.path)
            if fault is not None:
                self._answer(fault)
                return
            upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=30)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                # Recorded before the client has its answer: a test reading ``requests()`` once the
                # client is done must see the status, not the placeholder.
                proxy._forwarded(index, response.status)
                self.send_response(response.status, response.reason)
                for name, value in _relayed(response.getheaders()):
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
            finally:
                upstream.close()

        def _answer(self, status: int) -> None:
            code = "ServerBusy" if status == 503 else "InternalError"
            message = (
                f"<?xml version='1.0' encoding='utf-8'?><Error><Code>{code}</Code>"
                f"<Message>Injected by the test proxy.</Message></Error>"
            ).encode()
            self.send_response(status)
            if status == 503:
                self.send_header("Retry-After", proxy.retry_after)
            self.send_header("x-ms-error-code", code)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(message)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(message)

        do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = _relay

    return Handler


def _relayed(headers: list[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    return ((k, v) for k, v in headers if k.lower() not in _HOP_BY_HOP)
