"""Durable delivery across processes: a later process with the same spool folder replays it once.

Writers are real processes (``_spool_worker.py``) against a real Blob Storage (Azurite,
data on disk, stopped and started on one port); they exit, or are killed with SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from outage import RestartableAzurite, row_keys, running, wait_until

pytestmark = pytest.mark.azurite

WORKER = Path(__file__).with_name("_spool_worker.py")
ROWS_PER_CALL = 4
CALLS = 200


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RestartableAzurite]:
    """Azurite with its data on disk, started."""
    yield from running(tmp_path / "azurite")


class Workers:
    """Worker processes sharing one spool folder and one container, and what they report."""

    def __init__(self, folder: Path, server: RestartableAzurite, container: str) -> None:
        self.folder = folder
        self.spool = folder / "spool"
        self.environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_MODELDATA_")},
            "OTEL_MODELDATA_STORAGE_CONNECTION_STRING": server.connection_string,
            "OTEL_MODELDATA_CONTAINER": container,
            "OTEL_MODELDATA_SPOOL_DIR": str(self.spool),
            "OTEL_MODELDATA_APPEND_DEADLINE_MILLIS": "300",
            "OTEL_BLRP_SCHEDULE_DELAY": "50",
        }

    def start(self, *steps: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, str(WORKER), str(self.folder), *steps], env=self.environment)

    def run(self, *steps: str) -> None:
        assert self.start(*steps).wait(timeout=90) == 0

    def report(self, name: str, timeout: float = 60) -> dict[str, Any]:
        path = self.folder / f"{name}.json"
        wait_until(path.exists, timeout, f"the worker's report {name}")
        return dict(json.loads(path.read_text()))

    def signal(self, name: str) -> None:
        (self.folder / name).touch()


def assert_once(server: RestartableAzurite, container: str, expected: int) -> None:
    keys = row_keys(server.rows(container))
    assert [k for k, n in keys.items() if n > 1] == []
    assert len(keys) == expected


def settled(report: dict[str, Any]) -> None:
    """A writer's own counters: every accepted row written or spooled, none lost."""
    assert report["rows_accepted"] == report["rows_written"] + report["rows_spooled"]
    assert (report["rows_failed"], report["rows_dropped"], report["rows_unaccounted"]) == (0, {}, 0)


def test_new_processes_sharing_the_spool_replay_what_one_that_exited_during_an_outage_spooled(
    tmp_path: Path, server: RestartableAzurite, container_name: str
) -> None:
    workers = Workers(tmp_path, server, container_name)
    writer = workers.start(
        "configure",
        f"calls:{CALLS}",
        "report:before",
        "await:down",
        f"calls:{CALLS}",
        "shutdown",
        "report:after",
    )
    workers.report("before")
    server.stop()
    workers.signal("down")
    assert writer.wait(timeout=60) == 0
    after = workers.report("after")
    settled(after)
    assert after["rows_accepted"] == 2 * CALLS * ROWS_PER_CALL
    assert after["rows_spooled"] >= CALLS * ROWS_PER_CALL
    server.start()
    started = time.monotonic()
    replayers = [workers.start("configure", "replayed", "shutdown", f"report:replayer{i}") for i in (1, 2)]
    assert [p.wait(timeout=90) for p in replayers] == [0, 0]
    took = time.monotonic() - started
    reports = [workers.report(f"replayer{i}") for i in (1, 2)]
    assert sum(r["rows_replayed"] for r in reports) == after["rows_spooled"]
    assert [r["rows_written"] for r in reports] == [r["rows_replayed"] for r in reports]
    assert_once(server, container_name, after["rows_accepted"])
    print(
        f"\nFIGURES exited-in-outage: rows={after['rows_accepted']} spooled={after['rows_spooled']} "
        f"two_replayers={took:.1f}s split={[r['rows_replayed'] for r in reports]}"
    )


def test_rows_spooled_by_a_process_killed_during_an_outage_arrive_once(
    tmp_path: Path, server: RestartableAzurite, container_name: str
) -> None:
    workers = Workers(tmp_path, server, container_name)
    writer = workers.start(
        "configure",
        f"calls:{CALLS}",
        "report:before",
        "await:down",
        f"calls:{CALLS}",
        "report:spooled",
        "hang",
    )
    workers.report("before")
    server.stop()
    workers.signal("down")
    spooled = workers.report("spooled")
    writer.send_signal(signal.SIGKILL)
    assert writer.wait(timeout=30) == -signal.SIGKILL
    settled(spooled)
    assert spooled["rows_spooled"] >= CALLS * ROWS_PER_CALL
    server.start()
    started = time.monotonic()
    workers.run("configure", "replayed", "shutdown", "report:replayer")
    took = time.monotonic() - started
    replayer = workers.report("replayer")
    assert replayer["rows_replayed"] == spooled["rows_spooled"]
    assert replayer["spool_entries_set_aside"] == 0
    assert_once(server, container_name, spooled["rows_accepted"])
    print(
        f"\nFIGURES sigkill-in-outage: rows={spooled['rows_accepted']} spooled={spooled['rows_spooled']} "
        f"replay_process={took:.1f}s"
    )


def test_a_crash_between_a_replayed_append_and_the_entry_s_removal_duplicates_nothing(
    tmp_path: Path, server: RestartableAzurite, container_name: str
) -> None:
    workers = Workers(tmp_path, server, container_name)
    server.stop()
    writer = workers.start("crash_after_append", "configure", f"calls:{CALLS}", "report:spooled", "hang")
    spooled = workers.report("spooled")
    settled(spooled)
    assert spooled["rows_spooled"] == spooled["rows_accepted"] == CALLS * ROWS_PER_CALL
    server.start()
    assert writer.wait(timeout=60) == -signal.SIGKILL
    assert list(workers.spool.glob("*.attempt")), "the crash left no attempt record"
    workers.run("configure", "replayed", "shutdown", "report:replayer")
    replayer = workers.report("replayer")
    assert_once(server, container_name, spooled["rows_accepted"])
    # The entry found already appended counts as replayed too: its rows are now known written.
    assert replayer["rows_replayed"] == replayer["rows_written"] == spooled["rows_spooled"]


def test_sigterm_with_the_destination_down_exits_within_the_timeout_and_spools_the_queue(
    tmp_path: Path, server: RestartableAzurite, container_name: str
) -> None:
    workers = Workers(tmp_path, server, container_name)
    workers.environment["OTEL_MODELDATA_APPEND_DEADLINE_MILLIS"] = "20000"
    workers.environment["OTEL_MODELDATA_SHUTDOWN_TIMEOUT_MILLIS"] = "3000"
    server.stop()
    writer = workers.start("configure", f"queue:{CALLS}", "report:queued", "hang")
    queued = workers.report("queued")
    assert queued["rows_accepted"] == CALLS * ROWS_PER_CALL
    started = time.monotonic()
    writer.send_signal(signal.SIGTERM)
    assert writer.wait(timeout=30) == -signal.SIGTERM
    took = time.monotonic() - started
    assert took < 3.0
    server.start()
    workers.run("configure", "replayed", "shutdown", "report:replayer")
    assert workers.report("replayer")["rows_replayed"] == queued["rows_accepted"]
    assert_once(server, container_name, queued["rows_accepted"])
    print(f"\nFIGURES sigterm-down: rows={queued['rows_accepted']} timeout=3000ms exited_in={took:.2f}s")
