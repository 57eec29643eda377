"""Durable delivery in one process: outages of a real Blob Storage (Azurite), the spool, shutdown.

Each test counts rows the way a user would: distinct (correlation id, row index) pairs in
the container, none twice, and ``stats()`` adding up with nothing unaccounted.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.core.pipeline.transport import RequestsTransport

import otel_modeldata
from otel_modeldata import Settings, collect_io
from otel_modeldata.destinations.blob import BlobDestination
from otel_modeldata.spool import Spool
from outage import RestartableAzurite, row_keys, running, wait_until

pytestmark = pytest.mark.azurite

#: Rows each call writes: two inputs and two predictions.
ROWS_PER_CALL = 4


@collect_io("spool_model", feature_names=["a", "b"], prediction_names=["score"])
def score(rows: list[list[float]]) -> list[float]:
    """Sum the features of each row."""
    return [float(a + b) for a, b in rows]


def call(n: int) -> None:
    score([[n, 1.0], [n, 2.0]])


class Load:
    """``score()`` called from a thread, one call every couple of milliseconds, until stopped."""

    def __init__(self) -> None:
        self.calls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.002):
            call(self.calls)
            self.calls += 1

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.calls


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RestartableAzurite]:
    """Azurite with its data on disk, started."""
    yield from running(tmp_path / "azurite")


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "spool"


def configure(server: RestartableAzurite, container: str, spool_dir: Path, **overrides: Any) -> Any:
    return otel_modeldata.configure(
        storage_connection_string=server.connection_string,
        container=container,
        spool_dir=str(spool_dir),
        **overrides,
    )


def stat(name: str) -> Any:
    return otel_modeldata.stats()[name]


def spool_is_empty(spool_dir: Path) -> bool:
    return not Spool(spool_dir, 1).has_entries()


def folder_bytes(folder: Path) -> int:
    """Bytes of the files in ``folder`` now; one the replayer removes between listing and measuring
    (its lease) is no longer there and counts nothing."""
    total = 0
    for path in folder.iterdir() if folder.exists() else []:
        with contextlib.suppress(FileNotFoundError):
            total += path.stat().st_size
    return total


def assert_exactly_once(server: RestartableAzurite, container: str, accepted: int) -> None:
    """Every accepted row is in the container once, and the counters say so."""
    keys = row_keys(server.rows(container))
    assert [k for k, n in keys.items() if n > 1] == []
    stats = otel_modeldata.stats()
    assert len(keys) == accepted == stats["rows_accepted"] == stats["rows_written"]
    assert stats["rows_spooled"] == stats["rows_replayed"] > 0
    assert (stats["rows_failed"], stats["rows_dropped"], stats["rows_unaccounted"]) == (0, {}, 0)


def test_an_outage_longer_than_the_deadline_is_replayed_by_the_same_process(
    server: RestartableAzurite, container_name: str, spool_dir: Path
) -> None:
    handle = configure(server, container_name, spool_dir, append_deadline_millis=300)
    load = Load()
    wait_until(lambda: stat("rows_written") >= 40, 30, "rows written before the outage")
    down = time.monotonic()
    server.stop()
    wait_until(
        lambda: stat("rows_spooled") >= 40 and time.monotonic() - down > 1.5, 30, "rows spooled in the outage"
    )
    server.start()
    up = time.monotonic()
    wait_until(lambda: stat("rows_replayed") >= 40 and spool_is_empty(spool_dir), 30, "the spool replayed")
    replay_seconds = time.monotonic() - up
    written_after = stat("rows_written")
    wait_until(lambda: stat("rows_written") >= written_after + 40, 30, "rows written after the outage")
    calls = load.stop()
    assert handle.force_flush()
    wait_until(
        lambda: stat("rows_replayed") == stat("rows_spooled") and spool_is_empty(spool_dir), 30, "replay"
    )
    handle.shutdown()
    assert_exactly_once(server, container_name, ROWS_PER_CALL * calls)
    print(
        f"\nFIGURES outage-in-process: rows={ROWS_PER_CALL * calls} spooled={stat('rows_spooled')} "
        f"outage={up - down:.1f}s replayed_in={replay_seconds:.1f}s"
    )


def test_a_full_spool_drops_new_payloads_as_spool_full_and_stays_bounded(
    tmp_path: Path, container_name: str, spool_dir: Path
) -> None:
    server = RestartableAzurite(tmp_path / "azurite")  # not started: the destination is down
    bound = 4000
    handle = configure(server, container_name, spool_dir, append_deadline_millis=200, spool_max_bytes=bound)
    largest = 0
    for n in range(40):
        call(n)
        assert handle.force_flush()
        largest = max(largest, folder_bytes(spool_dir))
    stats = otel_modeldata.stats()
    full = stats["rows_dropped"].get("spool_full", 0)
    assert largest <= bound
    assert full > 0
    assert stats["rows_spooled"] > 0
    assert stats["rows_accepted"] == ROWS_PER_CALL * 40 == stats["rows_spooled"] + full
    assert (stats["rows_failed"], stats["rows_unaccounted"], stats["rows_written"]) == (0, 0, 0)
    server.start()
    try:
        wait_until(lambda: spool_is_empty(spool_dir), 30, "the spool replayed")
        handle.shutdown()
        keys = row_keys(server.rows(container_name))
        assert max(keys.values()) == 1
        assert len(keys) == stat("rows_replayed") == stat("rows_spooled") == stat("rows_written")
    finally:
        server.stop()
    print(
        f"\nFIGURES spool-full: bound={bound} largest={largest} spooled={stat('rows_spooled')} dropped={full}"
    )


def test_shutdown_with_the_destination_down_returns_in_time_and_spools_the_queue(
    tmp_path: Path, container_name: str, spool_dir: Path
) -> None:
    server = RestartableAzurite(tmp_path / "azurite")  # not started; the append deadline stays 20 s
    timeout = 3000
    handle = configure(server, container_name, spool_dir, shutdown_timeout_millis=timeout)
    calls = 2000
    for n in range(calls):
        call(n)
    started = time.monotonic()
    handle.shutdown()
    elapsed = time.monotonic() - started
    stats = otel_modeldata.stats()
    assert elapsed < timeout / 1000
    assert stats["rows_accepted"] == ROWS_PER_CALL * calls == stats["rows_spooled"]
    assert (stats["rows_failed"], stats["rows_dropped"], stats["rows_unaccounted"]) == (0, {}, 0)
    server.start()
    try:
        second = configure(server, container_name, spool_dir)
        wait_until(lambda: spool_is_empty(spool_dir), 30, "the next configure() to replay the spool")
        second.shutdown()
        keys = row_keys(server.rows(container_name))
        assert max(keys.values()) == 1
        assert len(keys) == ROWS_PER_CALL * calls == stat("rows_replayed")
    finally:
        server.stop()
    print(f"\nFIGURES shutdown-down: rows={ROWS_PER_CALL * calls} timeout={timeout}ms took={elapsed:.2f}s")


class LosingTransport(RequestsTransport):
    """Real requests, until told to lose the response of the next row append and then refuse all."""

    def __init__(self) -> None:
        super().__init__()
        self.mode = "up"

    def send(self, request: Any, **kwargs: Any) -> Any:
        if self.mode == "down":
            raise ServiceRequestError("connection refused (test)")
        response = super().send(request, **kwargs)
        position = request.headers.get("x-ms-blob-condition-appendpos")
        if self.mode == "lose" and "comp=appendblock" in request.url and position not in (None, "0"):
            self.mode = "down"
            raise ServiceResponseError("connection reset after the service appended (test)")
        return response


def test_a_payload_whose_append_landed_unanswered_before_the_deadline_is_not_replayed_twice(
    server: RestartableAzurite, container_name: str, spool_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = LosingTransport()
    build = BlobDestination.from_settings.__func__  # type: ignore[attr-defined]

    def with_transport(cls: type[BlobDestination], settings: Settings, **kwargs: Any) -> BlobDestination:
        return build(cls, settings, transport=transport, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(BlobDestination, "from_settings", classmethod(with_transport))
    # One file after another: the transport loses the first row append and refuses every later one.
    handle = configure(
        server, container_name, spool_dir, append_deadline_millis=300, max_concurrent_appends=1
    )
    call(0)
    assert handle.force_flush()
    transport.mode = "lose"
    call(1)
    assert handle.force_flush()
    assert stat("rows_spooled") == ROWS_PER_CALL
    transport.mode = "up"
    wait_until(lambda: spool_is_empty(spool_dir), 30, "the spool replayed")
    handle.shutdown()
    assert_exactly_once(server, container_name, 2 * ROWS_PER_CALL)


def test_a_torn_entry_is_set_aside_and_counted_never_appended(
    server: RestartableAzurite, container_name: str, spool_dir: Path
) -> None:
    spool = Spool(spool_dir, 1 << 20)
    folder = "sub/rg/ws/svc/spool_model/1/inputs/2026/01/02"
    spool.put(folder, b"a,b\r\n", b"1,2\r\n", 1)
    torn = next(spool_dir.glob("*.spool"))
    torn.write_bytes(torn.read_bytes()[:-2])
    spool.put(folder, b"a,b\r\n", b"3,4\r\n", 1)
    handle = configure(server, container_name, spool_dir)
    wait_until(lambda: spool_is_empty(spool_dir), 30, "the spool replayed")
    handle.shutdown()
    assert [p.suffix for p in spool_dir.iterdir()] == [".bad"]
    assert (stat("spool_entries_set_aside"), stat("rows_replayed")) == (1, 1)
    data = server.server.service().get_container_client(container_name).download_blob(f"{folder}/data.csv")
    assert data.readall() == b"a,b\r\n3,4\r\n"


def test_one_entry_is_leased_by_one_taker_and_a_dead_holder_s_lease_is_reclaimed(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20)
    spool.put("f", b"h\r\n", b"r\r\n", 1)
    first = spool.lease_next()
    assert first is not None
    assert spool.lease_next() is None
    dead = first.path.with_name(first.path.name.replace(f".{os.getpid()}.", ".999999999."))
    first.path.rename(dead)
    reclaimed = spool.lease_next()
    assert reclaimed is not None
    assert (reclaimed.id, spool.read(reclaimed).payload) == (first.id, b"r\r\n")


def test_a_classic_collection_name_survives_the_spool(
    server: RestartableAzurite, container_name: str, spool_dir: Path
) -> None:
    handle = configure(server, container_name, spool_dir, append_deadline_millis=300)
    signals = otel_modeldata.ModelDataCollector("m", "signals", ["latency"], collection_name="latency")
    server.stop()
    signals.collect([[12]])
    handle.force_flush()
    wait_until(lambda: stat("rows_spooled") == 1, 30, "the row spooled in the outage")
    server.start()
    wait_until(lambda: stat("rows_replayed") == 1 and spool_is_empty(spool_dir), 30, "the spool replayed")
    handle.shutdown()
    client = server.server.service().get_container_client(container_name)
    names = [name.rsplit("/", 1)[1] for name in client.list_blob_names()]
    assert names == ["latency.csv"]
