"""Rows per second into Azure Blob Storage (Azurite) through the exporter, against raw ``append_block``.

One in-memory Azurite per shape (``examples/azurite.py``), three variants side by side,
alternating block by block (``_bench.interleave``):

  ours    ``ModelDataLogExporter(Settings.from_env({}, storage_connection_string=..., container=...))``
          ``.export(batch)``; its destination is ``BlobDestination.from_settings(settings, transport=...)``,
          the default one but for a counting HTTP transport (a ``RequestsTransport`` subclass).
  limit   an azure-storage-blob ``BlobClient`` on a pre-created append blob, same client options
          and transport class, calling ``append_block(payload)`` with exactly the bytes ours sent
          for the same batch, block for block (so the same block sizes).
  encode  ours with a destination that discards the bytes: the CSV encoding alone, to show
          where our time goes (ours ~ encode + the blob part).

Batches are ready lists of ``ReadableLogRecord``s as ``@collect_io`` makes them
(``_bench.export_batches``, as in export_throughput.py), all records of a batch in one
partition:
    a  512 ``inputs`` records of 1 row x 6 floats (512 rows per batch)
    b  8 ``inputs`` records of 1,000 rows x 20 floats (8,000 rows per batch)

The limit's payloads are captured from the wire: ours exports each batch once into a
scratch container while the transport keeps the body of every Append Block request; the
scratch blob is then downloaded and checked to be exactly the header plus those bodies.
During the timed blocks both transports count requests and Append Block bytes, which
must be equal per batch. Counts are steady state: each blob exists before timing starts
(ours creates its blob, container and header in an untimed first export).
"""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import _bench
from azure.core.pipeline.transport import RequestsTransport

from otel_modeldata.destinations.blob import MAX_BLOCK_BYTES, BlobDestination
from otel_modeldata.exporter import ModelDataLogExporter
from otel_modeldata.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

import azurite  # examples/azurite.py, found through the line above

MODEL = "bench_model"
#: Client options of ours (``BlobDestination.from_settings`` adds ``retry_total=0``); the limit gets the same.
CLIENT_OPTIONS = {"connection_timeout": 10, "read_timeout": 30, "retry_total": 0}


class CountingTransport(RequestsTransport):
    """The SDK's default transport, counting requests by operation and the bytes of Append Blocks.

    ``capture`` (a list) receives the body of every Append Block while it is set.
    ``window`` lists ``(operation, path, Append Block bytes)`` of the requests since it was last cleared.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.requests: Counter[str] = Counter()
        self.append_bytes = 0
        self.seconds = 0.0
        self.capture: list[bytes] | None = None
        self.window: list[tuple[str, str, int]] = []

    def send(self, request: Any, **kwargs: Any) -> Any:
        url = urlsplit(request.url)
        query = parse_qs(url.query)
        operation = (query.get("comp") or query.get("restype") or ["blob"])[0]
        label = f"{request.method} {operation}"
        self.requests[label] += 1
        size = 0
        if operation == "appendblock":
            body = request.content
            size = len(body)
            self.append_bytes += size
            if self.capture is not None:
                self.capture.append(bytes(body))
        self.window.append((label, url.path, size))
        start = time.perf_counter()
        try:
            return super().send(request, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start

    def reset(self) -> None:
        self.requests.clear()
        self.append_bytes = 0
        self.seconds = 0.0
        self.window.clear()


def blob_exporter(server: Any, container: str) -> tuple[ModelDataLogExporter, CountingTransport]:
    """Ours, as configured from settings, with the counting transport as its only client option."""
    settings = Settings.from_env({}, storage_connection_string=server.connection_string, container=container)
    transport = CountingTransport(connection_timeout=10, read_timeout=30)
    destination = BlobDestination.from_settings(settings, transport=transport)
    return ModelDataLogExporter(settings, destination=destination), transport


def capture_payloads(server: Any, batches: list[list[Any]]) -> list[list[bytes]]:
    """The Append Block bodies ours sends for each batch, checked against the blob it wrote."""
    exporter, transport = blob_exporter(server, "scratch")
    everything: list[bytes] = []
    transport.capture = everything
    exporter.export(batches[0])  # creates the container and blob, writes the header (not kept)
    payloads = []
    for batch in batches:
        start = len(everything)
        exporter.export(batch)
        payloads.append(everything[start:])
    transport.capture = None
    names = [b.name for b in server.service().get_container_client("scratch").list_blobs()]
    if len(names) != 1:
        raise SystemExit(f"the scratch export wrote {names}, expected one blob")
    written = server.service().get_blob_client("scratch", names[0]).download_blob().readall()
    if written != b"".join(everything):
        raise SystemExit("the scratch blob is not the Append Block bodies captured; cannot replay them")
    exporter.shutdown()
    return payloads


def measure(shape: dict[str, Any], quick: bool) -> dict[str, Any]:
    batches = shape["batches"]
    rows = [sum(len(r.log_record.body) for r in batch) for batch in batches]
    if len(set(rows)) != 1:
        raise SystemExit(f"shape {shape['key']}: batches differ in rows: {rows}")
    per_block, rounds = (10, 3) if quick else (25, 40)
    if shape["key"] == "b":  # ~4.8 MB per export: keep Azurite's memory (nothing is freed) modest
        per_block, rounds = (2, 2) if quick else (3, 20)
    with azurite.running(None) as server:
        payloads = capture_payloads(server, batches)
        ours, ours_transport = blob_exporter(server, "ours")
        limit_transport = CountingTransport(connection_timeout=10, read_timeout=30)
        service = server.service(transport=limit_transport, **CLIENT_OPTIONS)
        service.create_container("limit")
        limit_blob = service.get_blob_client("limit", "limit.csv")
        limit_blob.create_append_blob()
        encode = ModelDataLogExporter(Settings.from_env({}), destination=_bench.DiscardingDestination())
        counters = {"ours": 0, "limit": 0, "encode": 0}
        window_of = {"ours": ours_transport.window, "limit": limit_transport.window, "encode": []}
        per_export: list[tuple[int, int, int]] = []  # ours: (requests, blobs appended to, bytes)

        def block(name: str, one: Callable[[int], None]) -> list[int]:
            out = []
            clock = time.perf_counter_ns
            for _ in range(per_block):
                i = counters[name] % len(batches)
                counters[name] += 1
                start = clock()
                one(i)
                out.append(clock() - start)
                if name == "ours":
                    window = ours_transport.window
                    appended = {path for _, path, size in window if size}
                    per_export.append((len(window), len(appended), sum(size for _, _, size in window)))
                window_of[name].clear()
            return out

        def ours_one(i: int) -> None:
            ours.export(batches[i])

        def limit_one(i: int) -> None:
            for payload in payloads[i]:
                limit_blob.append_block(payload)

        def encode_one(i: int) -> None:
            encode.export(batches[i])

        variants = {
            "ours": lambda: block("ours", ours_one),
            "limit": lambda: block("limit", limit_one),
            "encode": lambda: block("encode", encode_one),
        }
        for run in variants.values():  # warm-up, not kept: ours creates its blob here
            run()
        per_export.clear()
        for t in (ours_transport, limit_transport):
            t.reset()
        for name in counters:
            counters[name] = 0
        started = time.perf_counter()
        samples = _bench.interleave(variants, rounds)
        elapsed = time.perf_counter() - started
        requests = {"ours": dict(ours_transport.requests), "limit": dict(limit_transport.requests)}
        append_bytes = {"ours": ours_transport.append_bytes, "limit": limit_transport.append_bytes}
        transport_seconds = {"ours": ours_transport.seconds, "limit": limit_transport.seconds}
        ours_blobs = list(server.service().get_container_client("ours").list_blobs())
        if len(ours_blobs) != 1:
            raise SystemExit(f"ours wrote {[b.name for b in ours_blobs]}, expected one blob")
        ours_size = ours_blobs[0].size
        limit_size = limit_blob.get_blob_properties().size
        ours.shutdown()
        encode.shutdown()
        service.close()
    exports = counters["ours"]
    if counters["limit"] != exports:
        raise SystemExit("ours and the limit did not export the same number of batches")
    # Both saw the same batch sequence (i = n % len(batches)): their Append Block bytes must be equal.
    limit_bytes = sum(sum(len(p) for p in payloads[n % len(batches)]) for n in range(exports))
    return {
        "rows": rows[0],
        "exports": exports,
        "wall": {name: _bench.Summary.of(s) for name, s in samples.items()},
        "mean": {name: sum(s) / len(s) for name, s in samples.items()},
        "requests": requests,
        "append_bytes": append_bytes,
        "expected_limit_bytes": limit_bytes,
        "transport_seconds": transport_seconds,
        "blocks_per_batch": [len(p) for p in payloads],
        "payload_bytes": [sum(len(x) for x in p) for p in payloads],
        "per_export": per_export,
        "sizes": (ours_size, limit_size),
        "elapsed": elapsed,
    }


def main() -> None:
    args = _bench.options(__doc__.splitlines()[0])
    _bench.header("blob_throughput: rows per second into Azurite, ours against raw append_block", args.quick)
    logging.getLogger("otel_modeldata").setLevel(logging.ERROR)
    logging.getLogger("azure").setLevel(logging.WARNING)
    started = time.perf_counter()
    shapes = _bench.export_batches(MODEL)
    results = {shape["key"]: (shape, measure(shape, args.quick)) for shape in shapes}
    elapsed = time.perf_counter() - started
    report(results, elapsed)


def report(results: dict[str, tuple[dict[str, Any], dict[str, Any]]], elapsed: float) -> None:
    print()
    print("Per-export wall time (median, p99), rows per second at the median, time in the HTTP transport.")
    rows = []
    for key, (shape, r) in results.items():
        for side in ("ours", "limit", "encode"):
            s = r["wall"][side]
            http = r["transport_seconds"].get(side)
            rows.append(
                [
                    f"{key}  {shape['label']}  {side}",
                    *_bench.timing_cells(s, r["rows"]),
                    "-" if http is None else _bench.us(http * 1e9 / r["exports"]),
                ]
            )
    _bench.table(rows, ["shape  side", "exports", "median us", "p99 us", "rows/s", "in HTTP us/export"])
    print()
    print("Requests during the timed exports (steady state: every blob existed before):")
    for key, (_, r) in results.items():
        for side in ("ours", "limit"):
            counts = ", ".join(f"{op} {n:,}" for op, n in sorted(r["requests"][side].items()))
            print(f"  {key}  {side:<5}  {counts}   ({r['exports']:,} exports of {r['rows']:,} rows)")
    print()
    for key, (_, r) in results.items():
        ours_b, limit_b = r["append_bytes"]["ours"], r["append_bytes"]["limit"]
        same = ours_b == limit_b == r["expected_limit_bytes"]
        print(
            f"  {key}: Append Block bytes sent: ours {ours_b:,}, limit {limit_b:,} "
            f"({'equal' if same else 'NOT EQUAL'}); per batch {r['payload_bytes'][0]:,} bytes in "
            f"{r['blocks_per_batch'][0]} block(s) (our block cap {MAX_BLOCK_BYTES:,} bytes); "
            f"blob sizes at the end: ours {r['sizes'][0]:,} (with its header), limit {r['sizes'][1]:,}"
        )
    print()
    print("Where ours' time goes (means per export): CSV encoding (the encode variant), the HTTP transport,")
    print("the rest (azure SDK pipeline, BlobClient per append, our destination's bookkeeping).")
    for key, (_, r) in results.items():
        mean, n = r["mean"], r["exports"]
        http = {side: r["transport_seconds"][side] * 1e9 / n for side in ("ours", "limit")}
        rest = mean["ours"] - mean["encode"] - http["ours"]
        print(
            f"  {key}: ours {_bench.us(mean['ours'])} us = encoding {_bench.us(mean['encode'])} "
            f"({100 * mean['encode'] / mean['ours']:.0f}%) + HTTP {_bench.us(http['ours'])} "
            f"({100 * http['ours'] / mean['ours']:.0f}%) + rest {_bench.us(rest)} "
            f"({100 * rest / mean['ours']:.0f}%);  limit {_bench.us(mean['limit'])} us = HTTP "
            f"{_bench.us(http['limit'])} + rest {_bench.us(mean['limit'] - http['limit'])}"
        )
    print()
    print(f"(measured in {elapsed:.0f} s)")
    print("RESULT blob_throughput  ratio = ours rows/s / limit rows/s (median export time); target >= 0.8")
    for key, (shape, r) in results.items():
        ours, limit = r["wall"]["ours"].median, r["wall"]["limit"].median
        ratio = limit / ours
        mean = r["mean"]
        blob_part = mean["limit"] / (mean["ours"] - mean["encode"])
        print(
            f"  {key}  {shape['label']:<22} ours {_bench.rate(r['rows'] / (ours / 1e9))} rows/s   "
            f"limit {_bench.rate(r['rows'] / (limit / 1e9))} rows/s   ratio {ratio:.2f} "
            f"({'met' if ratio >= 0.8 else 'NOT met'});  "
            f"CSV encoding {100 * mean['encode'] / mean['ours']:.0f}% of ours;  "
            f"without it: limit / (ours - encoding) {blob_part:.2f} (means)"
        )
    print(
        "RESULT blob_throughput  HTTP requests per 1,000 rows (steady state); "
        "target <= 1 request per partition per export"
    )
    for key, (shape, r) in results.items():
        per_k = {
            side: 1000 * sum(r["requests"][side].values()) / (r["exports"] * r["rows"])
            for side in ("ours", "limit")
        }
        worst = max(n / max(blobs, 1) for n, blobs, _ in r["per_export"])
        partitions = max(blobs for _, blobs, _ in r["per_export"])
        why = ""
        if worst > 1 and r["payload_bytes"][0] > MAX_BLOCK_BYTES:
            why = f": {r['payload_bytes'][0]:,} bytes, cut at our {MAX_BLOCK_BYTES:,}-byte block cap"
        print(
            f"  {key}  {shape['label']:<22} ours {per_k['ours']:.3f}   limit {per_k['limit']:.3f}   "
            f"ours at most {worst:g} request(s) per partition per export ({partitions} partition per export) "
            f"({'met' if worst <= 1 else 'NOT met'}{why})   Append Block bytes ours == limit: "
            f"{'yes' if r['append_bytes']['ours'] == r['append_bytes']['limit'] else 'NO'}"
        )


if __name__ == "__main__":
    main()
