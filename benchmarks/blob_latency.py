"""The Blob writer under network latency: sustained rows/s and landing delay, direct and through a delay.

    .venv/bin/python benchmarks/blob_latency.py            # ~2 minutes
    .venv/bin/python benchmarks/blob_latency.py --quick    # smoke run, ~30 s
    .venv/bin/python benchmarks/blob_latency.py --delay-ms 25 --partitions 16

One in-memory Azurite (``examples/azurite.py``) and, in front of it, a TCP proxy that delays
every byte by ``--delay-ms`` (default 15 ms) in each direction (``tests/latency.py``): 30 ms
per round trip, like a storage account in the same region. Collection is configured as a
service would (``otel_modeldata.configure``, the spool on, every other setting its default)
with the storage connection string pointing at Azurite itself ("direct") or at the proxy
("proxy"); both sides are measured in the same run, alternating, for 1, 4 and 16 partitions.

  sustained rows/s  one thread makes one-row ``collect()`` calls round robin over the
                    partitions (models ``bench00``, ``bench01``, ... designation ``inputs``)
                    as fast as it can, but waits while more than ``BACKLOG_ROWS`` rows are
                    queued, so nothing is refused; the rate is rows / time until
                    ``force_flush()`` returned. Every row must be counted as written.
  landing delay     calls paced at half the sustained rate of that side; a reader polls every
                    blob directly from Azurite (never through the proxy) and notes when each
                    row became readable. The delay is from ``collect()`` returning to that
                    moment: p50 and p99. The target is at most the schedule delay
                    (``OTEL_BLRP_SCHEDULE_DELAY``, default 1,000 ms) plus 0.5 s.

The exporter's fan-out width is ``OTEL_MODELDATA_MAX_CONCURRENT_APPENDS`` (default 16), read
from the environment like any setting. Figures for an older version come from running this
same file with that version's ``src`` first on ``PYTHONPATH`` (see docs/performance.md).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import _bench

import otel_modeldata
from otel_modeldata import ModelDataCollector

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import azurite  # examples/azurite.py, found through the lines above

from latency import LatencyProxy  # tests/latency.py

#: Rows allowed to wait in the queue before the calling thread pauses (far below the queue's bound).
BACKLOG_ROWS = 4096
#: Seconds between two polls of the landing reader.
POLL_SECONDS = 0.01
PARTITIONS = (1, 4, 16)


def extra_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--delay-ms", type=float, default=15.0, help="delay per direction (default 15)")
    parser.add_argument(
        "--partitions", type=int, nargs="*", default=list(PARTITIONS), help="partition counts (1 4 16)"
    )
    parser.add_argument(
        "--proxy-thread",
        action="store_true",
        help="run the proxy as a thread of the writer's process, as figures before 2026-12-01 did",
    )


def _serve_proxy(upstream_port: int, delay: float, pipe: Any) -> None:
    """The proxy process: says its port, then forwards until the pipe closes."""
    with LatencyProxy(upstream_port, delay) as proxy:
        pipe.send(proxy.port)
        with contextlib.suppress(EOFError):
            pipe.recv()


@contextlib.contextmanager
def proxy_process(upstream_port: int, delay: float) -> Iterator[int]:
    """The delaying proxy in a process of its own: a network path costs the writer no CPU or GIL."""
    ours, theirs = multiprocessing.get_context("spawn").Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=_serve_proxy, args=(upstream_port, delay, theirs), name="latency-proxy", daemon=True
    )
    process.start()
    try:
        if not ours.poll(30):
            raise SystemExit("the latency proxy did not start")
        yield ours.recv()
    finally:
        ours.close()
        process.join(10)
        if process.is_alive():
            process.terminate()


class Side:
    """Collection configured to write through ``server`` (Azurite or the proxy) into a fresh container."""

    counter = 0

    def __init__(self, name: str, server: Any, partitions: int, spool: Path) -> None:
        Side.counter += 1
        self.name = name
        self.container = f"b{Side.counter:03d}{name}"
        self.handle = otel_modeldata.configure(
            storage_connection_string=server.connection_string,
            container=self.container,
            spool_dir=str(spool / self.container),
        )
        self.models = [f"bench{k:02d}" for k in range(partitions)]
        self.collectors = [
            ModelDataCollector(m, designation="inputs", feature_names=["n"]) for m in self.models
        ]
        self.handoff = _bench.handoff(self.handle.logger_provider)
        self.next = 0

    def call(self) -> None:
        """One one-row call to the next partition; its value is the call's sequence number."""
        n = self.next
        self.collectors[n % len(self.collectors)].collect([[n]])
        self.next = n + 1

    def warm_up(self) -> None:
        """Create the container and every blob (not timed)."""
        for _ in self.collectors:
            self.call()
        if not self.handle.force_flush():
            raise SystemExit(f"{self.name}: the warm-up flush timed out")

    def sustained(self, seconds: float) -> float:
        """Rows per second over ``seconds`` of calls, with the queue never refusing one."""
        handoff = self.handoff
        start = self.next
        started = time.perf_counter()
        stop = started + seconds
        while time.perf_counter() < stop:
            if handoff.rows_queued > BACKLOG_ROWS:
                time.sleep(0.0005)
                continue
            self.call()
        if not self.handle.force_flush(60_000):
            raise SystemExit(f"{self.name}: the flush after the sustained run timed out")
        return (self.next - start) / (time.perf_counter() - started)

    def landing(self, server: Any, rate: float, seconds: float) -> list[float]:
        """Seconds from ``collect()`` returning to the row being readable, for calls paced at ``rate``."""
        returned: dict[int, float] = {}
        seen: dict[int, float] = {}
        reader = Reader(server, self.container, seen)
        reader.start()
        try:
            first = self.next
            calls = int(rate * seconds)
            started = time.perf_counter()
            for i in range(calls):
                due = started + i / rate
                while (wait := due - time.perf_counter()) > 0:
                    time.sleep(min(wait, 0.002))
                n = self.next
                self.call()
                returned[n] = time.perf_counter()
            if not self.handle.force_flush(60_000):
                raise SystemExit(f"{self.name}: the flush after the landing run timed out")
            give_up = time.perf_counter() + 30
            while any(n not in seen for n in range(first, first + calls)):
                if time.perf_counter() > give_up:
                    raise SystemExit(f"{self.name}: rows written but never readable")
                time.sleep(POLL_SECONDS)
        finally:
            reader.stop()
        return [seen[n] - returned[n] for n in returned]

    def close(self) -> dict[str, Any]:
        self.handle.shutdown()
        stats = otel_modeldata.stats()
        lost = stats["rows_accepted"] - stats["rows_written"]
        if stats["rows_dropped"] or stats["rows_failed"] or lost:
            raise SystemExit(f"{self.name}: rows lost: {stats}")
        return stats


class Reader(threading.Thread):
    """Polls a container, noting when each row's value was first readable.

    One List Blobs per poll gives every blob's length; only blobs that grew are read, from
    where the last read ended: the reader shares the process (and its GIL) with the writer,
    so it keeps its own requests few.
    """

    def __init__(self, server: Any, container: str, seen: dict[int, float]) -> None:
        super().__init__(name="landing-reader", daemon=True)
        self._client = server.service().get_container_client(container)
        self._seen = seen
        self._offsets: dict[str, int] = {}
        self._partial: dict[str, bytes] = {}
        self._stop_event = threading.Event()
        self._ready = threading.Event()

    def start(self) -> None:
        super().start()
        if not self._ready.wait(30):
            raise SystemExit("the landing reader did not start")

    def run(self) -> None:
        # What is there already (the header and the warm-up rows) is not looked at.
        self._offsets = {blob.name: blob.size for blob in self._client.list_blobs()}
        self._ready.set()
        while not self._stop_event.wait(POLL_SECONDS):
            for blob in self._client.list_blobs():
                if blob.size > self._offsets.get(blob.name, 0):
                    self._read(blob.name, blob.size)

    def _read(self, name: str, size: int) -> None:
        start = self._offsets.get(name, 0)
        data = self._client.download_blob(name, offset=start, length=size - start).readall()
        now = time.perf_counter()
        self._offsets[name] = start + len(data)
        lines = (self._partial.pop(name, b"") + data).split(b"\r\n")
        if lines[-1]:
            self._partial[name] = lines[-1]
        for line in lines[:-1]:
            self._seen.setdefault(int(line.split(b",", 1)[0]), now)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(5)


def measure(server: Any, proxy_server: Any, partitions: int, quick: bool, spool: Path) -> dict[str, Any]:
    seconds, rounds, landing_seconds = (1.5, 1, 2.0) if quick else (4.0, 3, 4.0)
    sides = {"direct": server, "proxy": proxy_server}
    rates: dict[str, list[float]] = {name: [] for name in sides}
    for r in range(rounds):
        order = list(sides) if r % 2 == 0 else list(reversed(sides))
        for name in order:
            side = Side(name, sides[name], partitions, spool)
            side.warm_up()
            rates[name].append(side.sustained(seconds))
            side.close()
    landing: dict[str, list[float]] = {}
    for name, target in sides.items():
        side = Side(name, target, partitions, spool)
        side.warm_up()
        landing[name] = side.landing(server, statistics.median(rates[name]) / 2, landing_seconds)
        side.close()
    return {"rates": rates, "landing": landing}


def main() -> None:
    args = _bench.options(__doc__.splitlines()[0], extra_options)
    _bench.header("blob_latency: the Blob writer direct and through a delaying proxy", args.quick)
    width = os.environ.get("OTEL_MODELDATA_MAX_CONCURRENT_APPENDS", "default")
    schedule = int(os.environ.get("OTEL_BLRP_SCHEDULE_DELAY", "1000"))
    print(
        f"   delay {args.delay_ms:g} ms per direction, proxy {'thread' if args.proxy_thread else 'process'}; "
        f"OTEL_MODELDATA_MAX_CONCURRENT_APPENDS={width}; "
        f"schedule delay {schedule} ms; otel_modeldata from {Path(otel_modeldata.__file__).parent}"
    )
    logging.getLogger("otel_modeldata").setLevel(logging.ERROR)
    logging.getLogger("azure").setLevel(logging.WARNING)
    started = time.perf_counter()
    results = {}
    with (
        azurite.running(None) as server,
        _proxy(args, server.port) as proxy_port,
        tempfile.TemporaryDirectory() as spool,
    ):
        far = replace(server, port=proxy_port)
        for partitions in args.partitions:
            results[partitions] = measure(server, far, partitions, args.quick, Path(spool))
            print(f"   {partitions} partition(s) measured", flush=True)
    report(results, schedule, time.perf_counter() - started)


@contextlib.contextmanager
def _proxy(args: argparse.Namespace, upstream_port: int) -> Iterator[int]:
    if args.proxy_thread:
        with LatencyProxy(upstream_port, args.delay_ms / 1000) as proxy:
            yield proxy.port
    else:
        with proxy_process(upstream_port, args.delay_ms / 1000) as port:
            yield port


def report(results: dict[int, dict[str, Any]], schedule_ms: int, elapsed: float) -> None:
    print()
    print("Sustained rows/s (one-row calls, round robin, nothing refused); every round, then the median.")
    rows = []
    for partitions, r in results.items():
        for side in ("direct", "proxy"):
            rates = r["rates"][side]
            land = r["landing"][side]
            rows.append(
                [
                    f"{partitions:>2} partition(s)  {side}",
                    " ".join(_bench.rate(x) for x in rates),
                    _bench.rate(statistics.median(rates)),
                    f"{1000 * _bench.percentile(land, 0.5):,.0f}",
                    f"{1000 * _bench.percentile(land, 0.99):,.0f}",
                    len(land),
                ]
            )
    _bench.table(rows, ["partitions  side", "rows/s rounds", "median", "landing p50 ms", "p99 ms", "rows"])
    print()
    print(f"(measured in {elapsed:.0f} s)")
    limit = schedule_ms / 1000 + 0.5
    print("RESULT blob_latency  ratio = proxy rows/s / direct (medians), target >= 0.8 at 16 partitions")

    print(f"  landing p99 through the proxy at half the sustained rate: target <= {limit:.1f} s")
    for partitions, r in results.items():
        direct, far = (statistics.median(r["rates"][side]) for side in ("direct", "proxy"))
        ratio = far / direct
        verdict = "" if partitions != 16 else " (met)" if ratio >= 0.8 else " (NOT met)"
        p99 = _bench.percentile(r["landing"]["proxy"], 0.99)
        print(
            f"  {partitions:>2} partition(s)  direct {_bench.rate(direct)}  proxy {_bench.rate(far)}  "
            f"ratio {ratio:.2f}{verdict};  landing p99 through the proxy {p99:.2f} s "
            f"({'met' if p99 <= limit else 'NOT met'})"
        )


if __name__ == "__main__":
    main()
