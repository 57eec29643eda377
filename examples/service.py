"""A small Flask scoring service around ``score.py``, shaped like an Azure ML deployment.

``POST /score`` hands the raw body to ``run()``; ``GET /health`` is for probes. Every
response carries ``x-request-id`` (the caller's, or a generated one) and so does every
collected row, in ``$aml_request_id``. ``OTEL_MODELDATA_*`` variables decide where rows
go; the default is the local folder ``./modeldata-local``.

    python examples/service.py --port 5001
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from types import FrameType
from typing import cast

import score
from flask import Flask, Response, jsonify, request
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler, make_server

import otel_modeldata

#: Where ``create_app()`` keeps the collection handle, for flushing at shutdown.
HANDLE_KEY = "otel_modeldata"

_log = logging.getLogger("service")


def create_app() -> Flask:
    """Configure collection from the environment, load the model and build the app."""
    handle = otel_modeldata.configure()
    score.init()
    app = Flask(__name__)
    app.extensions[HANDLE_KEY] = handle
    app.wsgi_app = otel_modeldata.RequestIdMiddleware(app.wsgi_app)  # type: ignore[method-assign]

    @app.get("/health")
    def health() -> Response:
        return jsonify(status="ok")

    @app.post("/score")
    def score_request() -> Response | tuple[Response, int]:
        try:
            predictions = score.run(request.get_data(as_text=True))
        except (ValueError, KeyError, TypeError) as exc:
            return jsonify(error=f"{type(exc).__name__}: {exc}"), 400
        return jsonify(predictions)

    return app


class OneRequestPerConnection(WSGIRequestHandler):
    """HTTP/1.0, so no idle keep-alive connection can hold up a shutdown."""

    protocol_version = "HTTP/1.0"


def serve(host: str, port: int) -> int:
    """Serve until SIGTERM or SIGINT, finish in-flight requests, then flush the collected rows."""
    app = create_app()
    server = cast(
        ThreadedWSGIServer,
        make_server(host, port, app, threaded=True, request_handler=OneRequestPerConnection),
    )
    # server_close() then waits for the request threads instead of abandoning them.
    server.daemon_threads = False

    def stop(signum: int, frame: FrameType | None) -> None:
        _log.info("%s received, stopping", signal.Signals(signum).name)
        # shutdown() waits for serve_forever(), which runs in this very thread.
        threading.Thread(target=server.shutdown, name="shutdown").start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    _log.info("serving on http://%s:%d", host, server.port)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        app.extensions[HANDLE_KEY].shutdown()
    _log.info("stopped; collection counters: %s", otel_modeldata.stats())
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default %(default)s)")
    parser.add_argument("--port", type=int, default=5001, help="0 picks a free port (default %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no access-log line per request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="service: %(message)s")
    # azure-core logs every Blob Storage request and response at INFO.
    logging.getLogger("azure").setLevel(logging.WARNING)
    if args.quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    return serve(args.host, args.port)


if __name__ == "__main__":
    raise SystemExit(main())
