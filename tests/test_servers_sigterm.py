"""SIGTERM under real servers: every row queued when the server is told to stop is written, once.

Each test starts a server on a free loopback port with rows held in the queue (a long
schedule delay, a large batch), scores ``N`` requests, sends SIGTERM (to the master, for
gunicorn) and counts the rows in the files.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from csvfiles import data_files, read_rows

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and servers")

N = 200
WAIT = 30.0

COLLECT = """
import json
import os
import signal

import otel_modeldata


@otel_modeldata.collect_io("served", feature_names=["x"], prediction_names=["y"])
def run(data):
    return [[row[0] * 2] for row in data]
"""

WSGI_APP = """
otel_modeldata.configure()


def app(environ, start_response):
    if environ["PATH_INFO"] == "/score":
        size = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.dumps(run(json.loads(environ["wsgi.input"].read(size)))).encode()
    else:
        body = b"ok"
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
"""

ASGI_APP = """
import contextlib

from fastapi import FastAPI, Request

MODE = os.environ["TEST_APP_MODE"]  # import, lifespan or lazy (no configure() at all)
if MODE == "import":
    otel_modeldata.configure()


@contextlib.asynccontextmanager
async def lifespan(app):
    if MODE == "lifespan":
        otel_modeldata.configure()
    yield


app = FastAPI(lifespan=lifespan)


@app.get("/health")
async def health():
    return "ok"


if os.environ["TEST_ENDPOINT"] == "async":  # collects on the main thread, in the event loop

    @app.post("/score")
    async def score(request: Request):
        return run(await request.json())

else:  # collects on a thread of the pool

    @app.post("/score")
    def score(data: list[list[int]]):
        return run(data)
"""

SCRIPT_APP = """
import http.server
import sys

otel_modeldata.configure()


def stop(signum, frame):
    print("app handler ran", flush=True)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    {reraise}


signal.signal(signal.SIGTERM, stop)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.answer(b"ok")

    def do_POST(self):
        size = int(self.headers["Content-Length"])
        self.answer(json.dumps(run(json.loads(self.rfile.read(size)))).encode())

    def answer(self, body):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def request(port: int, method: str, path: str, body: object = None) -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
    try:
        payload = None if body is None else json.dumps(body)
        connection.request(method, path, payload, {"Content-Type": "application/json"})
        response = connection.getresponse()
        data = response.read()
        assert response.status == 200, data
        return data
    finally:
        connection.close()


def wait_until_serving(server: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        assert server.poll() is None, f"the server exited: {log.read_text()}"
        try:
            request(port, "GET", "/health")
            return
        except (OSError, http.client.HTTPException):
            time.sleep(0.05)
    pytest.fail(f"the server did not answer in {WAIT} s: {log.read_text()}")


def serve_score_and_stop(tmp_path: Path, args: list[str], app: str, **env: str) -> tuple[int, str]:
    """Start the server, score ``N`` single-row requests, SIGTERM it: its exit code and its log."""
    (tmp_path / "app.py").write_text(textwrap.dedent(COLLECT) + textwrap.dedent(app))
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "APPLICATIONINSIGHTS_"))}
    environment.update(
        PYTHONPATH=str(tmp_path),
        OTEL_MODELDATA_LOCAL_DIR=str(tmp_path / "out"),
        OTEL_BLRP_SCHEDULE_DELAY="600000",  # nothing is written before SIGTERM
        OTEL_BLRP_MAX_EXPORT_BATCH_SIZE="100000",
        **env,
    )
    log = tmp_path / "server.log"
    command = [sys.executable, *[a.replace("{port}", str(port)) for a in args]]
    with log.open("wb") as out:
        server = subprocess.Popen(command, cwd=tmp_path, env=environment, stdout=out, stderr=out)
    try:
        wait_until_serving(server, port, log)
        for i in range(N):
            assert json.loads(request(port, "POST", "/score", [[i]])) == [[2 * i]]
        assert data_files(tmp_path / "out") == [], "rows were written before SIGTERM: the test proves nothing"
        server.send_signal(signal.SIGTERM)
        code = server.wait(WAIT)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    return code, log.read_text()


def written(tmp_path: Path, column: str) -> list[int]:
    """The values of ``column`` over every file, sorted (duplicates kept)."""
    files = data_files(tmp_path / "out")
    return sorted(int(row[column]) for f in files for row in read_rows(f)[1] if column in row)


def assert_every_row_once(tmp_path: Path, log: str) -> None:
    assert written(tmp_path, "x") == list(range(N)), log
    assert written(tmp_path, "y") == [2 * i for i in range(N)], log


GUNICORN = ["-m", "gunicorn", "--bind", "127.0.0.1:{port}", "--workers", "2", "--graceful-timeout", "20"]
UVICORN_WORKER = ["--worker-class", "uvicorn.workers.UvicornWorker"]
#: gunicorn's own worker kinds, each with and without ``--preload``: (worker options, preload options).
GUNICORN_WORKERS = [
    pytest.param(["--worker-class", "sync"], [], id="sync"),
    pytest.param(["--worker-class", "sync"], ["--preload"], id="sync-preload"),
    pytest.param(["--worker-class", "gthread", "--threads", "4"], [], id="gthread"),
    pytest.param(["--worker-class", "gthread", "--threads", "4"], ["--preload"], id="gthread-preload"),
]


@pytest.mark.parametrize(
    ("worker", "preload"),
    GUNICORN_WORKERS,
)
def test_gunicorn_writes_every_queued_row_on_sigterm(
    tmp_path: Path, worker: list[str], preload: list[str]
) -> None:
    code, log = serve_score_and_stop(tmp_path, [*GUNICORN, *worker, *preload, "app:app"], WSGI_APP)
    assert code == 0, log
    assert_every_row_once(tmp_path, log)


@pytest.mark.parametrize(
    ("preload", "endpoint"),
    [
        pytest.param([], "async", id="no-preload"),
        pytest.param(["--preload"], "async", id="preload"),
        pytest.param(["--preload"], "sync", id="preload-sync-endpoint"),
    ],
)
def test_gunicorn_uvicorn_worker_writes_every_queued_row_on_sigterm(
    tmp_path: Path, preload: list[str], endpoint: str
) -> None:
    args = [*GUNICORN, *UVICORN_WORKER, *preload, "app:app"]
    code, log = serve_score_and_stop(tmp_path, args, ASGI_APP, TEST_APP_MODE="import", TEST_ENDPOINT=endpoint)
    assert code == 0, log
    assert_every_row_once(tmp_path, log)


@pytest.mark.parametrize(
    ("workers", "mode", "endpoint"),
    [
        pytest.param("1", "import", "async", id="single-configure-at-import"),
        pytest.param("2", "import", "async", id="workers-2"),
        pytest.param("1", "lifespan", "async", id="configure-in-lifespan"),
        pytest.param("1", "lazy", "sync", id="lazy-configure-on-a-pool-thread"),
    ],
)
def test_uvicorn_writes_every_queued_row_on_sigterm(
    tmp_path: Path, workers: str, mode: str, endpoint: str
) -> None:
    args = ["-m", "uvicorn", "--host", "127.0.0.1", "--port", "{port}", "--workers", workers, "app:app"]
    code, log = serve_score_and_stop(tmp_path, args, ASGI_APP, TEST_APP_MODE=mode, TEST_ENDPOINT=endpoint)
    # A single uvicorn process re-raises SIGTERM and dies of it; the --workers supervisor exits 0.
    assert code == (-signal.SIGTERM if workers == "1" else 0), log
    assert_every_row_once(tmp_path, log)


@pytest.mark.parametrize(
    "reraise",
    [
        pytest.param("signal.raise_signal(signal.SIGTERM)", id="raise_signal"),
        pytest.param("os.kill(os.getpid(), signal.SIGTERM)", id="os.kill"),
    ],
)
def test_an_app_handler_that_reraises_with_sig_dfl_still_dies_of_sigterm_after_the_rows(
    tmp_path: Path, reraise: str
) -> None:
    code, log = serve_score_and_stop(tmp_path, ["app.py", "{port}"], SCRIPT_APP.replace("{reraise}", reraise))
    assert code == -signal.SIGTERM, log
    assert "app handler ran" in log
    assert_every_row_once(tmp_path, log)
