"""A local Application Insights ingestion endpoint: records what the Azure Monitor exporter sends.

The ``appinsights`` fixture starts a threaded HTTP server on 127.0.0.1 that accepts
``POST /v2.1/track`` (a JSON list of envelopes, optionally gzip-encoded), answers as the
service does, and points ``APPLICATIONINSIGHTS_CONNECTION_STRING`` at itself. The
variables that would make the exporter reach the internet on its own are switched off.
"""

from __future__ import annotations

import gzip
import json
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import otel_modeldata

TRACK_PATH = "/v2.1/track"

Envelope = dict[str, Any]

#: Environment that keeps the exporter (and the distro) from calling home.
OFFLINE_ENVIRONMENT: dict[str, str] = {
    "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
    "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
    "APPLICATIONINSIGHTS_SDKSTATS_DISABLED": "true",
}


@dataclass
class Receiver:
    """What the local ingestion endpoint has received so far."""

    port: int
    instrumentation_key: str
    storage_root: Path
    envelopes: list[Envelope] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def connection_string(self) -> str:
        """The connection string that sends telemetry here."""
        return (
            f"InstrumentationKey={self.instrumentation_key};IngestionEndpoint=http://127.0.0.1:{self.port}/"
        )

    @property
    def environment(self) -> dict[str, str]:
        """Variables a child process needs to export here and nowhere else."""
        return {
            "APPLICATIONINSIGHTS_CONNECTION_STRING": self.connection_string,
            "TMPDIR": str(self.storage_root),
            **OFFLINE_ENVIRONMENT,
        }

    def record(self, path: str, body: bytes) -> int:
        """Store one request; return how many envelopes it held (-1 when it was not a track call)."""
        with self._changed:
            if path != TRACK_PATH:
                self.unexpected.append(path)
                self._changed.notify_all()
                return -1
            items = json.loads(body)
            self.bodies.append(body)
            self.envelopes.extend(items)
            self._changed.notify_all()
            return len(items)

    def snapshot(self) -> list[Envelope]:
        """The envelopes received so far."""
        with self._changed:
            return list(self.envelopes)

    def raw(self) -> bytes:
        """Every request body received so far, decoded and concatenated."""
        with self._changed:
            return b"\n".join(self.bodies)

    def wait_for(self, predicate: Callable[[list[Envelope]], bool], timeout: float = 10.0) -> list[Envelope]:
        """Block until ``predicate(envelopes)`` holds; return the envelopes, or fail after ``timeout``."""
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(list(self.envelopes)), timeout):
                names = sorted({str(e.get("name")) for e in self.envelopes})
                raise AssertionError(f"not received within {timeout}s; got {len(self.envelopes)}: {names}")
            return list(self.envelopes)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Content-Encoding", "").lower() == "gzip":
                body = gzip.decompress(body)
            path = self.path.split("?", 1)[0]
            count = receiver.record(path, body)
            if count < 0:
                self._answer(404, {"error": f"unexpected path {path}"})
            else:
                self._answer(200, {"itemsReceived": count, "itemsAccepted": count, "errors": []})

        def _answer(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Keep the test output quiet."""

    return Handler


@pytest.fixture
def appinsights(
    clean_environment: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Receiver]:
    """A running local ingestion endpoint, with the connection string pointing at it."""
    storage_root = tmp_path / "appinsights-tmp"
    storage_root.mkdir()
    receiver = Receiver(port=0, instrumentation_key=str(uuid.uuid4()), storage_root=storage_root)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="appinsights-receiver", daemon=True
    )
    thread.start()
    for name, value in receiver.environment.items():
        monkeypatch.setenv(name, value)
    # The exporter keeps its offline storage below tempfile.gettempdir(): keep it in tmp_path.
    monkeypatch.setattr(tempfile, "tempdir", str(storage_root))
    try:
        yield receiver
    finally:
        handle = otel_modeldata.providers._handle
        if handle is not None:
            handle.shutdown()
        server.shutdown()
        server.server_close()
        thread.join()
