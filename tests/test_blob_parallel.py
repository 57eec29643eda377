"""Appends to different partition files side by side, against a real Blob Storage (Azurite) far away.

A storage account answers in tens of milliseconds; a proxy that delays every byte
(``latency.py``) or holds one blob's requests (``throttling.py``) stands for that distance.
Each test reads the container back: every row once, in order within its file, one header per file.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import otel_modeldata
from _azurite import Azurite
from latency import LatencyProxy
from otel_modeldata import ModelDataCollector
from otel_modeldata.spool import Spool
from outage import row_keys, rows_in, wait_until
from throttling import ThrottlingProxy

from csvfiles import parse_rows

pytestmark = pytest.mark.azurite

#: Seconds each direction is delayed: 200 ms per round trip, so waits show above a busy machine's noise.
DELAY = 0.1


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "spool"


def configure(server: Azurite, container: str, spool_dir: Path, **overrides: Any) -> Any:
    """Collection through ``server`` with the spool on (as deployed); exports only on flush."""
    return otel_modeldata.configure(
        storage_connection_string=server.connection_string,
        container=container,
        spool_dir=str(spool_dir),
        schedule_delay_millis=60_000,
        **overrides,
    )


def collectors(models: list[str]) -> list[ModelDataCollector]:
    return [ModelDataCollector(model, designation="inputs", feature_names=["x"]) for model in models]


def collect_round(partitions: list[ModelDataCollector], first: int, calls: int) -> None:
    """``calls`` one-row calls to every partition, round robin, with values ``first``, ``first + 1``, ..."""
    for n in range(first, first + calls):
        for collector in partitions:
            collector.collect([[n]])


def wait_for_values(
    server: Azurite, container: str, models: list[str], values: list[int], what: str
) -> dict[str, list[int]]:
    """Every model's values once ``models`` all hold ``values`` (within 10 s, else fail saying ``what``)."""
    return wait_until(
        lambda: (v := values_by_model(server, container)) and all(v[m] == values for m in models) and v,
        10,
        what,
    )


def values_by_model(server: Azurite, container: str) -> dict[str, list[int]]:
    """Each blob's ``x`` values in file order, by model; every blob has exactly one header line."""
    client = server.service().get_container_client(container)
    found: dict[str, list[int]] = {}
    for name in client.list_blob_names():
        data = client.download_blob(name).readall()
        assert data.count(b"$aml_dc_correlation_id") == 1, f"{name}: not exactly one header"
        _, rows = parse_rows(data)
        found[name.split("/")[4]] = [int(row["x"]) for row in rows]
    return found


def test_files_are_appended_side_by_side_and_each_keeps_its_rows_in_order(
    azurite: Azurite, container_name: str, spool_dir: Path
) -> None:
    """16 partitions, 200 ms per round trip: an export takes one round trip (16 at once), not 16."""
    models = [f"far{k:02d}" for k in range(16)]
    partitions = collectors(models)
    rounds, calls = 2, 3
    with LatencyProxy(azurite.port, DELAY) as proxy:
        handle = configure(replace(azurite, port=proxy.port), container_name, spool_dir)
        collect_round(partitions, 0, calls)
        assert handle.force_flush()  # creates the container and the 16 blobs
        started = time.monotonic()
        for r in range(1, rounds + 1):
            collect_round(partitions, r * calls, calls)
            assert handle.force_flush()
        elapsed = time.monotonic() - started
        handle.shutdown()
    expected = list(range((rounds + 1) * calls))
    assert values_by_model(azurite, container_name) == {model: expected for model in models}
    stats = otel_modeldata.stats()
    assert stats["rows_written"] == stats["rows_accepted"] == len(models) * len(expected)
    assert (stats["rows_spooled"], stats["rows_failed"], stats["rows_unaccounted"]) == (0, 0, 0)
    one_after_another = rounds * len(models) * 2 * DELAY
    print(
        f"\nFIGURES parallel-appends: {rounds} exports x 16 files took {elapsed:.2f} s "
        f"(one file after another: >= {one_after_another:.1f} s)"
    )
    assert elapsed < one_after_another / 2


def test_steady_state_sends_one_append_block_per_partition_per_export(
    azurite: Azurite, container_name: str, spool_dir: Path
) -> None:
    """Once every file's position is known, an export to K partitions is exactly K requests."""
    models = [f"steady{k}" for k in range(6)]
    partitions = collectors(models)
    exports = 5
    with ThrottlingProxy(azurite.port) as proxy:
        handle = configure(replace(azurite, port=proxy.port), container_name, spool_dir)
        collect_round(partitions, 0, 2)
        assert handle.force_flush()
        before = len(proxy.requests())
        for e in range(1, exports + 1):
            collect_round(partitions, 2 * e, 2)
            assert handle.force_flush()
        steady = proxy.requests()[before:]
        handle.shutdown()
    assert len(steady) == exports * len(models)
    assert {(seen.method, "comp=appendblock" in seen.path, seen.status) for seen in steady} == {
        ("PUT", True, 201)
    }
    per_blob = {seen.path.partition("?")[0] for seen in steady}
    assert len(per_blob) == len(models)
    assert values_by_model(azurite, container_name) == {m: list(range(2 * (exports + 1))) for m in models}


def test_a_slow_file_does_not_hold_up_the_others(
    azurite: Azurite, container_name: str, spool_dir: Path
) -> None:
    """The first file's appends wait at the proxy: the other files of the same export land meanwhile."""
    models = ["slow", "quick1", "quick2", "quick3"]
    partitions = collectors(models)
    with ThrottlingProxy(azurite.port) as proxy:
        handle = configure(replace(azurite, port=proxy.port), container_name, spool_dir)
        collect_round(partitions, 0, 1)
        assert handle.force_flush()
        released = proxy.hold("/slow/")
        try:
            collect_round(partitions, 1, 1)
            flushed: list[bool] = []
            flusher = threading.Thread(target=lambda: flushed.append(handle.force_flush()))
            flusher.start()
            landed = wait_for_values(
                azurite,
                container_name,
                models[1:],
                [0, 1],
                "the quick files' rows while the slow file's append is held",
            )
            assert landed["slow"] == [0]
        finally:
            released.set()
        flusher.join(30)
        handle.shutdown()
    assert flushed == [True]
    assert values_by_model(azurite, container_name) == {m: [0, 1] for m in models}


def test_the_next_export_goes_out_while_a_slow_file_holds_the_last_one(
    azurite: Azurite, container_name: str, spool_dir: Path
) -> None:
    """Full batches keep coming while one file's append is held: the other files' rows of the later
    batches land meanwhile; the held file's rows follow in call order, and a flush waits for them."""
    models = ["slow", "quick1", "quick2"]
    partitions = collectors(models)
    with ThrottlingProxy(azurite.port) as proxy:
        handle = configure(
            replace(azurite, port=proxy.port), container_name, spool_dir, export_batch_size=len(models)
        )
        collect_round(partitions, 0, 1)
        assert handle.force_flush()
        released = proxy.hold("/slow/")
        try:
            collect_round(partitions, 1, 2)  # two full batches: two exports
            flushed: list[bool] = []
            flusher = threading.Thread(target=lambda: flushed.append(handle.force_flush()))
            flusher.start()
            landed = wait_for_values(
                azurite,
                container_name,
                models[1:],
                [0, 1, 2],
                "the second export's rows of the quick files while the slow file's first append is held",
            )
            assert landed["slow"] == [0]
            assert flusher.is_alive()  # the flush waits for the held append
        finally:
            released.set()
        flusher.join(30)
        handle.shutdown()
    assert flushed == [True]
    assert values_by_model(azurite, container_name) == {m: [0, 1, 2] for m in models}
    stats = otel_modeldata.stats()
    assert stats["rows_written"] == stats["rows_accepted"] == 9
    assert (stats["rows_spooled"], stats["rows_failed"], stats["rows_unaccounted"]) == (0, 0, 0)


def test_a_failing_file_is_spooled_on_its_own_and_replayed_once(
    azurite: Azurite, container_name: str, spool_dir: Path
) -> None:
    """One file's appends fail past their deadline: only its rows are spooled; the others are written."""
    models = ["failing", "fine1", "fine2", "fine3"]
    partitions = collectors(models)
    with ThrottlingProxy(azurite.port) as proxy:
        handle = configure(
            replace(azurite, port=proxy.port), container_name, spool_dir, append_deadline_millis=500
        )
        collect_round(partitions, 0, 1)
        assert handle.force_flush()
        proxy.refuse("/failing/", 500)
        collect_round(partitions, 1, 2)
        assert handle.force_flush()
        stats = otel_modeldata.stats()
        assert (stats["rows_spooled"], stats["rows_written"], stats["rows_failed"]) == (2, 4 + 3 * 2, 0)
        landed = values_by_model(azurite, container_name)
        assert landed == {"failing": [0], **{m: [0, 1, 2] for m in models[1:]}}
        proxy.allow("/failing/")
        wait_until(lambda: not Spool(spool_dir, 1).has_entries(), 30, "the replayer to empty the spool")
        handle.shutdown()
    assert values_by_model(azurite, container_name) == {m: [0, 1, 2] for m in models}
    stats = otel_modeldata.stats()
    assert stats["rows_accepted"] == stats["rows_written"] == 12
    assert (stats["rows_replayed"], stats["rows_failed"], stats["rows_unaccounted"]) == (2, 0, 0)


def test_shutdown_with_appends_in_flight_returns_in_time_and_spools_the_rest_once(
    azurite: Azurite, container_name: str, spool_dir: Path
) -> None:
    """Half a second per append, work for several seconds queued, a 3 s shutdown: the rest is spooled."""
    models = [f"busy{k:02d}" for k in range(16)]
    partitions = collectors(models)
    timeout, calls = 3000, 6
    with LatencyProxy(azurite.port, 0) as proxy:
        handle = configure(
            replace(azurite, port=proxy.port),
            container_name,
            spool_dir,
            export_batch_size=len(models),
            shutdown_timeout_millis=timeout,
        )
        collect_round(partitions, 0, 1)
        assert handle.force_flush()  # the blobs exist; from now on each append takes 0.5 s
        proxy.delay = 0.25
        collect_round(partitions, 1, calls)
        started = time.monotonic()
        handle.shutdown()
        elapsed = time.monotonic() - started
    stats = otel_modeldata.stats()
    accepted = len(models) * (calls + 1)
    assert elapsed < timeout / 1000
    assert stats["rows_accepted"] == accepted == stats["rows_written"] + stats["rows_spooled"]
    assert stats["rows_spooled"] > 0
    assert (stats["rows_failed"], stats["rows_dropped"], stats["rows_unaccounted"]) == (0, {}, 0)
    second = configure(azurite, container_name, spool_dir)
    wait_until(lambda: not Spool(spool_dir, 1).has_entries(), 30, "the next configure() to replay the spool")
    second.shutdown()
    keys = row_keys(rows_in(azurite, container_name))
    assert [key for key, n in keys.items() if n > 1] == []
    assert len(keys) == accepted
    spooled = stats["rows_spooled"]
    print(f"\nFIGURES shutdown-in-flight: took {elapsed:.2f} s of {timeout} ms; spooled {spooled}")


@pytest.mark.parametrize(
    ("variables", "through_proxy"),
    [
        ({"HTTP_PROXY": "{proxy}"}, True),
        ({"all_proxy": "{proxy}"}, True),
        ({"HTTP_PROXY": "{proxy}", "NO_PROXY": "127.0.0.1"}, False),
    ],
    ids=["HTTP_PROXY", "all_proxy", "NO_PROXY"],
)
def test_proxy_variables_in_the_environment_are_followed(
    azurite: Azurite,
    container_name: str,
    spool_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    variables: dict[str, str],
    through_proxy: bool,
) -> None:
    """Requests skip looking for proxies only when none is set: a proxy that is set carries every row."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    partitions = collectors(["proxied1", "proxied2"])
    with LatencyProxy(azurite.port, 0) as proxy:
        for name, value in variables.items():
            monkeypatch.setenv(name, value.format(proxy=f"http://127.0.0.1:{proxy.port}"))
        handle = configure(azurite, container_name, spool_dir)
        for r in range(3):
            collect_round(partitions, r, 1)
            assert handle.force_flush()
        handle.shutdown()
        connections = proxy.connections
    for name in variables:
        monkeypatch.delenv(name)  # the test reads the container back directly
    assert values_by_model(azurite, container_name) == {"proxied1": [0, 1, 2], "proxied2": [0, 1, 2]}
    assert (connections > 0) == through_proxy
