"""Fault test 3: Blob Storage throttling (503 with Retry-After, and 500) through a local proxy.

A throttled account answers 503 with ``Retry-After``; retrying sooner only prolongs the
throttling, so the destination must wait at least that long, within its append deadline.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import otel_modeldata
from _azurite import Azurite
from otel_modeldata import collect_io
from outage import row_keys, rows_in, wait_until
from throttling import Seen, ThrottlingProxy

pytestmark = pytest.mark.azurite

ROWS_PER_CALL = 4
CALLS = 200


@collect_io("throttled_model", feature_names=["a", "b"], prediction_names=["score"])
def score(rows: list[list[float]]) -> list[float]:
    """Sum the features of each row."""
    return [float(a + b) for a, b in rows]


@pytest.fixture
def proxy(azurite: Azurite) -> Iterator[ThrottlingProxy]:
    with ThrottlingProxy(azurite.port) as running:
        yield running


def configure(azurite: Azurite, proxy: ThrottlingProxy, container: str, spool: Path, **overrides: Any) -> Any:
    """Collection to Azurite through the proxy, as a deployment's connection string would say it."""
    return otel_modeldata.configure(
        storage_connection_string=(
            f"DefaultEndpointsProtocol=http;AccountName={azurite.account_name};"
            f"AccountKey={azurite.account_key};"
            f"BlobEndpoint=http://127.0.0.1:{proxy.port}/{azurite.account_name};"
        ),
        container=container,
        spool_dir=str(spool),
        **overrides,
    )


def retries_after(seen: list[Seen], status: int) -> list[float]:
    """For each request answered ``status``, seconds until the same request came again."""
    gaps = []
    for i, first in enumerate(seen):
        if first.status == status:
            again = next(s for s in seen[i + 1 :] if (s.method, s.path) == (first.method, first.path))
            gaps.append(again.at - first.at)
    return gaps


def settled() -> bool:
    stats = otel_modeldata.stats()
    done = stats["rows_written"] + stats["rows_spooled"] + stats["rows_failed"]
    return bool(stats["rows_accepted"] == done == CALLS * ROWS_PER_CALL + ROWS_PER_CALL)


def test_throttling_is_waited_out_honouring_retry_after_and_every_row_arrives_once(
    azurite: Azurite, proxy: ThrottlingProxy, container_name: str, tmp_path: Path
) -> None:
    handle = configure(azurite, proxy, container_name, tmp_path / "spool")
    score([[0.0, 1.0], [0.0, 2.0]])
    wait_until(lambda: otel_modeldata.stats()["rows_written"] == ROWS_PER_CALL, 30, "the first rows written")
    proxy.fail(503, 500, 503, 500, 500)
    for n in range(1, CALLS + 1):
        score([[n, 1.0], [n, 2.0]])
    wait_until(settled, 60, "every row written or spooled")
    handle.shutdown()

    seen = proxy.requests()
    throttled, failed = retries_after(seen, 503), retries_after(seen, 500)
    shown = [[round(gap, 2) for gap in gaps] for gaps in (throttled, failed)]
    print(f"FIGURES 503 retried after {shown[0]} s, 500 after {shown[1]} s")
    assert proxy.pending == 0
    assert len(throttled) == 2
    assert min(throttled) >= 1.0
    assert len(failed) == 3
    keys = row_keys(rows_in(azurite, container_name))
    assert [k for k, n in keys.items() if n > 1] == []
    stats = otel_modeldata.stats()
    assert len(keys) == stats["rows_accepted"] == stats["rows_written"] == (CALLS + 1) * ROWS_PER_CALL
    assert (
        stats["rows_spooled"],
        stats["rows_failed"],
        stats["rows_dropped"],
        stats["rows_unaccounted"],
    ) == (
        0,
        0,
        {},
        0,
    )


def test_a_retry_after_beyond_the_deadline_spools_at_once_and_the_rows_arrive_once(
    azurite: Azurite, container_name: str, tmp_path: Path
) -> None:
    with ThrottlingProxy(azurite.port, retry_after="30") as proxy:
        handle = configure(azurite, proxy, container_name, tmp_path / "spool", append_deadline_millis=2000)
        score([[0.0, 1.0], [0.0, 2.0]])
        wait_until(
            lambda: otel_modeldata.stats()["rows_written"] == ROWS_PER_CALL, 30, "the first rows written"
        )
        proxy.fail(503)
        throttled = time.monotonic()
        score([[1.0, 1.0], [1.0, 2.0]])
        # The 503 answers one file's append: its rows are spooled. The other file's append went out
        # beside it (written) or after it (spooled too: new payloads go to the spool for a while).
        wait_until(
            lambda: (
                (s := otel_modeldata.stats())["rows_spooled"] > 0
                and s["rows_spooled"] + s["rows_written"] == 2 * ROWS_PER_CALL
            ),
            30,
            "the throttled rows spooled, the others written",
        )
        gave_up = time.monotonic() - throttled
        spooled = otel_modeldata.stats()["rows_spooled"]
        wait_until(lambda: otel_modeldata.stats()["rows_replayed"] == spooled, 30, "the rows replayed")
        handle.shutdown()
        print(f"FIGURES Retry-After 30 s past a 2 s deadline: spooled after {gave_up:.2f} s")
        assert gave_up < 2.0
        keys = row_keys(rows_in(azurite, container_name))
        assert [k for k, n in keys.items() if n > 1] == []
        assert len(keys) == 2 * ROWS_PER_CALL
