"""Fault test 9: real servers under a steady load, stopped by SIGTERM or losing a worker to SIGKILL.

Client threads score requests as fast as the server answers, each request a number ``k``
and ``ROWS`` rows whose feature ``x`` is ``k``; the answer names the worker's pid. SIGTERM
goes to the master in the middle of the load, and each thread stops at its first failed
request after it (none may fail before it). Every request answered 200 must have its input
and prediction rows stored once, by (folder, correlation id, ``$row_index``), and the
workers' ``stats()`` (each writes them at exit, after shutting collection down) must add
up: rows accepted = rows stored + rows counted as dropped, nothing unaccounted.

With SIGKILL, the killed worker's queued rows are lost and nothing counts them: the test
measures that loss and holds it to the bound the README states, while the other workers lose
nothing. The server fixtures and helpers are those of ``test_servers_sigterm.py``.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from outage import RestartableAzurite, row_keys, rows_in, running, wait_until
from test_servers_sigterm import (
    ASGI_APP,
    COLLECT,
    GUNICORN,
    GUNICORN_WORKERS,
    WAIT,
    WSGI_APP,
    free_port,
    wait_until_serving,
)

from csvfiles import data_files, read_rows

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and servers")

WORKER = Path(__file__).with_name("_spool_worker.py")
ROWS = 3  # rows per request
CLIENTS = 4  # client threads
BEFORE_SIGNAL = 300  # requests answered before the signal: the load is well under way
AFTER_KILL = 150  # requests answered after the SIGKILL, by the workers still alive
#: Seconds added to the schedule delay for the window whose rows a SIGKILL may take: the batch
#: being exported when the delay ran out, and a loaded machine's scheduling.
KILL_SLACK = 0.3

#: Each worker writes its stats() at exit, after shutting collection down itself; the hook is
#: registered after configure(), so it runs before (and makes a no-op of) otel_modeldata's own.
REPORT = """
import atexit
from pathlib import Path

handle = otel_modeldata.configure()  # the app's own handle: a second call returns it


def report():
    handle.shutdown()
    target = Path(os.environ["TEST_STATS_DIR"], f"{os.getpid()}.json")
    target.with_suffix(".tmp").write_text(json.dumps(otel_modeldata.stats()))
    target.with_suffix(".tmp").rename(target)


atexit.register(report)
"""

#: The apps of test_servers_sigterm.py, answering with the worker's pid besides the predictions.
LOAD_WSGI_APP = WSGI_APP.replace("json.dumps(run(", 'json.dumps({"pid": os.getpid(), "y": run(').replace(
    "read(size))))", "read(size)))})"
)
LOAD_ASGI_APP = ASGI_APP.replace(
    "return run(await request.json())", 'return {"pid": os.getpid(), "y": run(await request.json())}'
)


@dataclass
class Load:
    """Client threads scoring request after request; what each answered request was, and when."""

    port: int
    answered: dict[int, tuple[int, float]] = field(default_factory=dict)  # k -> (worker pid, time)
    refused: int = 0  # requests that failed after the signal: each client stops at its first
    failed: int = 0  # requests that failed before it (a worker killed under them)
    signalled: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for i in range(CLIENTS):
            thread = threading.Thread(target=self._client, args=(i,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _client(self, i: int) -> None:
        k = i * 10_000_000
        while not self._stop.is_set():
            k += 1
            try:
                pid = self._score(k)
            except (OSError, http.client.HTTPException):
                with self._lock:
                    if not self.signalled.is_set():
                        self.failed += 1
                        continue
                    self.refused += 1
                return  # the server stopped listening: this client is done
            with self._lock:
                self.answered[k] = (pid, time.monotonic())

    def _score(self, k: int) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=WAIT)
        try:
            body = json.dumps([[k]] * ROWS)
            connection.request("POST", "/score", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        if response.status != 200:
            raise http.client.HTTPException(f"status {response.status}: {data!r}")
        answer = json.loads(data)
        assert answer["y"] == [[2 * k]] * ROWS, answer
        return int(answer["pid"])

    def count(self) -> int:
        with self._lock:
            return len(self.answered)

    def by(self, pid: int) -> list[int]:
        with self._lock:
            return [k for k, (p, _) in self.answered.items() if p == pid]

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(WAIT)


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    stats_dir: Path


def start_server(tmp_path: Path, args: list[str], app: str, **env: str) -> Server:
    assert '"pid"' in app, "the app must name its worker in each answer"
    (tmp_path / "app.py").write_text(
        textwrap.dedent(COLLECT) + textwrap.dedent(app) + textwrap.dedent(REPORT)
    )
    stats_dir = tmp_path / "stats"
    stats_dir.mkdir()
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "APPLICATIONINSIGHTS_"))}
    environment.update(
        # An inherited PYTHONPATH comes after: a copy of the old code can be run by putting it there.
        PYTHONPATH=os.pathsep.join(p for p in (str(tmp_path), os.environ.get("PYTHONPATH", "")) if p),
        OTEL_MODELDATA_LOCAL_DIR=str(tmp_path / "out"),
        TEST_STATS_DIR=str(stats_dir),
        **env,
    )
    log = tmp_path / "server.log"
    command = [sys.executable, *[a.replace("{port}", str(port)) for a in args]]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=tmp_path, env=environment, stdout=out, stderr=out)
    server = Server(process, port, log, stats_dir)
    try:
        wait_until_serving(process, port, log)
    except BaseException:
        stop(server)
        raise
    return server


def stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.kill()
        server.process.wait()


def stats_of(server: Server) -> dict[str, int]:
    """The workers' stats() summed (the master's too, under --preload: it has nothing to count)."""
    total: Counter[str] = Counter()
    for path in server.stats_dir.glob("*.json"):
        stats = json.loads(path.read_text())
        for name in ("rows_accepted", "rows_written", "rows_failed", "rows_unaccounted", "rows_spooled"):
            total[name] += stats[name]
        total["rows_replayed"] += stats["rows_replayed"]
        total["rows_dropped"] += sum(stats["rows_dropped"].values())
    return dict(total)


def local_rows(tmp_path: Path) -> list[dict[str, str]]:
    """Every stored row, with its folder (inputs and predictions share correlation ids)."""
    found = []
    for path in data_files(tmp_path / "out"):
        for row in read_rows(path)[1]:
            row["folder"] = str(path.parent)
            found.append(row)
    return found


def stored_requests(rows: list[dict[str, str]]) -> dict[int, int]:
    """Request number -> rows stored for it (inputs and predictions), every row checked against it."""
    by_id: dict[str, int] = {}
    for row in rows:
        if "x" in row:
            k = int(row["x"])
            assert by_id.setdefault(row["$aml_dc_correlation_id"], k) == k, row
    stored: Counter[int] = Counter()
    for row in rows:
        k = by_id[row["$aml_dc_correlation_id"]]
        assert "x" in row or int(row["y"]) == 2 * k, row
        stored[k] += 1
    return dict(stored)


def check_every_answer_stored_once(
    load: Load, rows: list[dict[str, str]], stats: dict[str, int], log: str
) -> None:
    """Every 200's rows stored once, and the counters add up to the rows stored."""
    keys = row_keys(rows)
    assert [k for k, n in keys.items() if n > 1] == [], log
    stored = stored_requests(rows)
    missing = [k for k in load.answered if stored.get(k) != 2 * ROWS]
    assert missing == [], f"{len(missing)} answered requests without all their rows: {log}"
    unanswered = len(stored) - len(load.answered)  # collected, but the answer did not reach the client
    assert load.failed == 0, f"{load.failed} requests failed before the signal: {log}"
    print(
        f"FIGURES {len(load.answered)} requests answered 200 ({2 * ROWS * len(load.answered)} rows), "
        f"{unanswered} more collected but not answered, {load.refused} refused after the signal; "
        f"stored {len(keys)} rows once; stats summed over the workers: {stats}"
    )
    assert stats["rows_failed"] == stats["rows_unaccounted"] == 0, log
    assert (
        stats["rows_accepted"]
        == stats["rows_written"] - stats["rows_replayed"] + stats["rows_spooled"] + stats["rows_dropped"]
    ), log
    assert len(keys) == stats["rows_accepted"] - stats["rows_dropped"], log


def lines_stored(root: Path) -> int:
    """Data rows in the files below ``root`` now (lines, without the headers): rows already written."""
    lines = 0
    for path in data_files(root):
        try:
            lines += max(path.read_bytes().count(b"\n") - 1, 0)
        except FileNotFoundError:  # a new file's temporary name, renamed meanwhile
            continue
    return lines


@contextmanager
def under_load_until_sigterm(server: Server) -> Iterator[Load]:
    """A load on ``server`` for the block; after it, SIGTERM to the master, which must exit 0.

    The load and the server are stopped whatever happens in the block.
    """
    load = Load(server.port)
    load.start()
    try:
        yield load
        load.signalled.set()
        server.process.send_signal(signal.SIGTERM)
        code = server.process.wait(WAIT)
    finally:
        load.stop()
        stop(server)
    assert code == 0, server.log.read_text()


def load_then_sigterm(server: Server, root: Path) -> tuple[Load, str]:
    """Load until ``BEFORE_SIGNAL`` answers, SIGTERM the master; the load and the server's log."""
    with under_load_until_sigterm(server) as load:
        wait_until(
            lambda: load.count() >= BEFORE_SIGNAL and lines_stored(root) > 0,
            WAIT,
            f"{BEFORE_SIGNAL} answered requests, some of their rows written",
        )
        answered, written = load.count(), lines_stored(root)
        print(
            f"FIGURES at SIGTERM: {answered} requests answered ({2 * ROWS * answered} rows), "
            f"{written} rows written"
        )
    return load, server.log.read_text()


FOUR = ["--workers", "4"]


@pytest.mark.parametrize(
    ("worker", "preload"),
    GUNICORN_WORKERS,
)
def test_gunicorn_four_workers_sigterm_under_load_stores_every_answered_request_once(
    tmp_path: Path, worker: list[str], preload: list[str]
) -> None:
    server = start_server(tmp_path, [*GUNICORN, *FOUR, *worker, *preload, "app:app"], LOAD_WSGI_APP)
    load, log = load_then_sigterm(server, tmp_path / "out")
    check_every_answer_stored_once(load, local_rows(tmp_path), stats_of(server), log)


def test_uvicorn_two_workers_sigterm_under_load_stores_every_answered_request_once(tmp_path: Path) -> None:
    args = ["-m", "uvicorn", "--host", "127.0.0.1", "--port", "{port}", "--workers", "2", "app:app"]
    server = start_server(tmp_path, args, LOAD_ASGI_APP, TEST_APP_MODE="import", TEST_ENDPOINT="async")
    load, log = load_then_sigterm(server, tmp_path / "out")
    check_every_answer_stored_once(load, local_rows(tmp_path), stats_of(server), log)


def blob_lines(azurite: RestartableAzurite, container: str) -> int:
    """Data rows in the container's blobs now (lines, without the headers)."""
    client = azurite.server.service().get_container_client(container)
    if not client.exists():
        return 0
    return sum(max(client.download_blob(n).readall().count(b"\n") - 1, 0) for n in client.list_blob_names())


@pytest.fixture
def restartable(tmp_path: Path) -> Any:
    """Azurite with its data on disk, started."""
    yield from running(tmp_path / "azurite")


@pytest.mark.azurite
def test_gunicorn_sigterm_under_load_with_blob_storage_down_spools_then_replays_every_row_once(
    tmp_path: Path, restartable: RestartableAzurite, container_name: str
) -> None:
    """Azurite stops just before SIGTERM: what the workers still hold is spooled, and replayed once."""
    spool = tmp_path / "spool"
    blob = {
        "OTEL_MODELDATA_STORAGE_CONNECTION_STRING": restartable.connection_string,
        "OTEL_MODELDATA_CONTAINER": container_name,
        "OTEL_MODELDATA_SPOOL_DIR": str(spool),
        "OTEL_MODELDATA_APPEND_DEADLINE_MILLIS": "300",
    }
    args = [*GUNICORN, *FOUR, "--worker-class", "gthread", "--threads", "4", "app:app"]
    server = start_server(tmp_path, args, LOAD_WSGI_APP, **blob)
    with under_load_until_sigterm(server) as load:
        wait_until(
            lambda: load.count() >= BEFORE_SIGNAL and blob_lines(restartable, container_name) > 0,
            WAIT,
            f"{BEFORE_SIGNAL} answered requests, some of their rows written",
        )
        restartable.stop()
    log = server.log.read_text()
    stats = stats_of(server)
    assert stats["rows_spooled"] > 0, f"nothing was spooled: the test proves nothing: {stats}"
    restartable.start()
    replayer = subprocess.run(
        [sys.executable, str(WORKER), str(tmp_path), "configure", "replayed", "shutdown", "report:replay"],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("OTEL_MODELDATA_")}, **blob},
        timeout=WAIT * 2,
        check=False,
    )
    assert replayer.returncode == 0
    replay = json.loads((tmp_path / "replay.json").read_text())
    # The workers may have replayed some entries themselves while Azurite was still shutting down.
    print(
        f"FIGURES spooled {stats['rows_spooled']} rows; replayed {stats['rows_replayed']} by the workers, "
        f"{replay['rows_replayed']} by the new process"
    )
    assert stats["rows_replayed"] + replay["rows_replayed"] == stats["rows_spooled"], (stats, replay)
    stats["rows_written"] += replay["rows_written"]
    stats["rows_replayed"] += replay["rows_replayed"]
    check_every_answer_stored_once(load, rows_in(restartable.server, container_name), stats, log)


def test_gunicorn_worker_sigkilled_under_load_loses_at_most_its_last_schedule_delay(tmp_path: Path) -> None:
    """One worker SIGKILLed: it loses at most the rows it took in its last schedule delay, the others none."""
    delay = 0.5  # half the default OTEL_BLRP_SCHEDULE_DELAY: a window shorter than the load before the kill
    args = [*GUNICORN, *FOUR, "--worker-class", "sync", "app:app"]
    server = start_server(tmp_path, args, LOAD_WSGI_APP, OTEL_BLRP_SCHEDULE_DELAY=str(int(delay * 1000)))
    with under_load_until_sigterm(server) as load:
        # Steady state: the rows of 3 * BEFORE_SIGNAL requests written (about two seconds of load),
        # so every worker has exported, and the window of the bound is shorter than the load.
        steady = 2 * ROWS * 3 * BEFORE_SIGNAL
        wait_until(lambda: lines_stored(tmp_path / "out") >= steady, WAIT, f"{steady} rows written")
        busiest = Counter(pid for pid, _ in load.answered.copy().values()).most_common(1)[0][0]
        killed_at = time.monotonic()
        os.kill(busiest, signal.SIGKILL)
        answered = load.count()
        wait_until(
            lambda: load.count() >= answered + AFTER_KILL, WAIT, f"{AFTER_KILL} answers after the kill"
        )
    log = server.log.read_text()
    rows = local_rows(tmp_path)
    assert [k for k, n in row_keys(rows).items() if n > 1] == [], log
    stored = stored_requests(rows)
    mine = load.by(busiest)
    others_missing = [
        k for k, (pid, _) in load.answered.items() if pid != busiest and stored.get(k) != 2 * ROWS
    ]
    assert others_missing == [], f"workers that were not killed lost rows: {log}"
    lost = sum(2 * ROWS - stored.get(k, 0) for k in mine)
    window = [k for k in mine if load.answered[k][1] >= killed_at - delay - KILL_SLACK]
    bound = 2 * ROWS * len(window)
    # The queue exports sooner from 64 rows on: those rows, and what came in a tenth of the delay.
    soon = [k for k in mine if load.answered[k][1] >= killed_at - delay / 10 - KILL_SLACK]
    print(
        f"FIGURES SIGKILL of 1 of 4 workers: it had answered {len(mine)} requests "
        f"({2 * ROWS * len(mine)} rows), "
        f"{len(window)} of them ({bound} rows) in the last {delay + KILL_SLACK:g} s, {len(soon)} "
        f"({2 * ROWS * len(soon)} rows) in the last {delay / 10 + KILL_SLACK:g} s; lost {lost} rows; "
        f"the other workers answered {len(load.answered) - len(mine)} requests and lost none; "
        f"{load.failed} request(s) cut by the kill"
    )
    assert lost <= bound, log
