"""Rows per second through ``ModelDataLogExporter.export`` alone, against ``csv.writer``; then end to end.

Part 1, the exporter alone, on the local default (bytes to a file on disk, page cache):

  ours   ``ModelDataLogExporter(Settings.from_env({}, local_dir=tmp)).export(batch)``
  limit  one ``csv.writer`` on one open file writing the same rows with the same correlation
         columns, computed from the same records (timestamp text, hex trace/span ids), and
         flushed once per batch; its bytes are checked identical to ours before timing.

  Batches are ready lists of ``ReadableLogRecord``s built as ``@collect_io`` builds them
  (schema attributes, body = rows, one span per record, through a BatchLogRecordProcessor):
    a  512 ``inputs`` records of 1 row x 6 floats (512 rows per batch)
    b  8 ``inputs`` records of 1,000 rows x 20 floats (8,000 rows per batch)
  All records of a batch go to one partition file. Ours and the limit alternate batch by
  batch; both files are truncated (untimed) now and then so they stay small.

Part 2, end to end: a decorated trivial ``run()`` called with shape a (one input row of 6
floats, one prediction row: 2 values of 1 row per call) on one thread, the rows queued by
our ``Handoff`` (default settings: at most ``OTEL_MODELDATA_MAX_QUEUE_ROWS`` = 100,000 rows,
batches of 512 values) whose one background thread ("otel_modeldata") makes the log records
and calls the real exporter. It must keep up: after ``force_flush()``,
``rows_written == rows_accepted``, ``rows_unaccounted == 0`` and nothing dropped (a full
queue would show as ``rows_dropped["queue_full"]``). CPU seconds are
``time.process_time`` of the whole process (both threads).
"""

from __future__ import annotations

import argparse
import csv
import glob
import logging
import os
import random
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import _bench

import otel_modeldata
from otel_modeldata import schema
from otel_modeldata.exporter import ModelDataLogExporter
from otel_modeldata.settings import Settings
from otel_modeldata.stats import STATS

MODEL = "bench_model"
WORKSPACE = "default/default/default"
SERVICE = "default"


class Limit:
    """The ideal: one csv.writer on one open file, same rows, same correlation columns."""

    def __init__(self, path: str, names: Sequence[str]) -> None:
        self.path = path
        self.file = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115 - kept open on purpose
        self.writer = csv.writer(self.file)
        self.writer.writerow([*names, *schema.CORRELATION_COLUMNS])
        self.file.flush()
        self.header_bytes = os.path.getsize(path)

    def export(self, batch: Sequence[Any]) -> None:
        writerows = self.writer.writerows
        for readable in batch:
            record = readable.log_record
            attrs = record.attributes
            second, nanos = divmod(record.timestamp, 1_000_000_000)
            moment = datetime.fromtimestamp(second, tz=timezone.utc)
            head = (
                attrs[schema.CORRELATION_ID],
                f"{moment:%Y-%m-%dT%H:%M:%S}.{nanos // 1000:06d}Z",
                schema.BOUNDARY_MINUTES,
                WORKSPACE,
                SERVICE,
                attrs[schema.MODEL_NAME],
                attrs[schema.MODEL_VERSION],
                attrs[schema.REQUEST_ID],
            )
            tail = (format(record.trace_id, "032x"), format(record.span_id, "016x"))
            writerows([(*row, *head, i, *tail) for i, row in enumerate(record.body)])
        self.file.flush()

    def truncate(self) -> None:
        self.file.flush()
        self.file.truncate(self.header_bytes)
        self.file.seek(self.header_bytes)

    def close(self) -> None:
        self.file.close()


def ours_file(root: str) -> str:
    found = glob.glob(os.path.join(root, "modeldata", "**", "data.csv"), recursive=True)
    if len(found) != 1:
        raise SystemExit(f"expected one data.csv under {root}, found {found}")
    return found[0]


def shapes(quick: bool) -> list[dict[str, Any]]:
    seconds = 1.5 if quick else 25.0
    truncate_every = {"a": 64, "b": 4}
    return [
        {**shape, "seconds": seconds, "truncate_every": truncate_every[shape["key"]]}
        for shape in _bench.export_batches(MODEL)
    ]


def check_identical(shape: dict[str, Any], tmp: str) -> None:
    """Ours and the limit must write the very same bytes for the same batches."""
    root = os.path.join(tmp, f"check-{shape['key']}")
    exporter = ModelDataLogExporter(Settings.from_env({}, local_dir=root))
    limit = Limit(os.path.join(tmp, f"check-{shape['key']}.csv"), shape["names"])
    for batch in shape["batches"]:
        exporter.export(batch)
        limit.export(batch)
    exporter.shutdown()
    limit.close()
    with open(ours_file(root), "rb") as mine, open(limit.path, "rb") as theirs:
        if mine.read() != theirs.read():
            raise SystemExit(
                f"shape {shape['key']}: ours and the limit wrote different bytes; not comparable"
            )


def exporter_alone(shape: dict[str, Any], tmp: str) -> dict[str, Any]:
    check_identical(shape, tmp)
    root = os.path.join(tmp, f"ours-{shape['key']}")
    exporter = ModelDataLogExporter(Settings.from_env({}, local_dir=root))
    batches = shape["batches"]
    exporter.export(batches[0])  # creates the file with its header (untimed)
    path = ours_file(root)
    with open(path, "rb") as created:
        header_bytes = len(created.readline())
    limit = Limit(os.path.join(tmp, f"limit-{shape['key']}.csv"), shape["names"])
    rows = sum(len(r.log_record.body) for r in batches[0])
    wall: dict[str, list[int]] = {"ours": [], "limit": []}
    cpu: dict[str, list[int]] = {"ours": [], "limit": []}
    sides = {"ours": exporter.export, "limit": limit.export}
    clock, cpu_clock = time.perf_counter_ns, time.process_time_ns
    deadline = time.perf_counter() + shape["seconds"]
    n = 0
    while time.perf_counter() < deadline or n < 4:
        batch = batches[n % len(batches)]
        order = ("ours", "limit") if n % 2 == 0 else ("limit", "ours")
        for side in order:
            c0, t0 = cpu_clock(), clock()
            sides[side](batch)
            t1, c1 = clock(), cpu_clock()
            wall[side].append(t1 - t0)
            cpu[side].append(c1 - c0)
        n += 1
        if n % shape["truncate_every"] == 0:
            os.truncate(path, header_bytes)
            limit.truncate()
    exporter.shutdown()
    limit.close()
    return {
        "rows": rows,
        "wall": {k: _bench.Summary.of(v) for k, v in wall.items()},
        "cpu_per_row": {k: sum(v) / (len(v) * rows) for k, v in cpu.items()},
        "batches": n,
    }


def end_to_end(tmp: str, seconds: float) -> dict[str, Any]:
    """Decorated calls as fast as the pipeline sustains with the real exporter; the books must balance.

    Called flat out, one thread outruns the exporter thread (they share the GIL) and the
    queue overflows (refused rows are counted as ``rows_dropped["queue_full"]``). So the
    caller paces itself on the queue: when ``Handoff.rows_queued`` reaches 3/4 of its bound
    (``max_rows``, ``OTEL_MODELDATA_MAX_QUEUE_ROWS`` rows) it sleeps 1 ms at a time (letting
    the exporter thread run) until fewer than half of ``max_rows`` rows are queued. The rate
    measured is then what the whole pipeline sustains without loss; the flat-out rate and
    its loss are reported too.
    """
    handle = otel_modeldata.configure(local_dir=os.path.join(tmp, "e2e"))
    assert handle.logger_provider is not None
    handoff = _bench.handoff(handle.logger_provider)
    high, low = handoff.max_rows * 3 // 4, handoff.max_rows // 2
    rng = random.Random(11)
    data = [[rng.random() for _ in range(6)]]
    prediction = [rng.random()]

    @otel_modeldata.collect_io(MODEL)
    def run(raw: Any) -> Any:
        return prediction

    for _ in range(2000):
        run(data)
    handle.force_flush()
    out: dict[str, Any] = {}
    for mode in ("flat out", "paced"):
        STATS.reset()
        calls = waits = 0
        cpu0, t0 = time.process_time(), time.perf_counter()
        deadline = t0 + (seconds if mode == "paced" else seconds / 4)
        while time.perf_counter() < deadline:
            for _ in range(10):
                run(data)
            calls += 10
            if mode == "paced" and handoff.rows_queued >= high:
                while handoff.rows_queued >= low:
                    time.sleep(0.001)
                    waits += 1
        t_loop = time.perf_counter()
        handle.force_flush()
        cpu1, t1 = time.process_time(), time.perf_counter()
        out[mode] = {
            "calls": calls,
            "waits": waits,
            "loop_seconds": t_loop - t0,
            "seconds": t1 - t0,
            "flush_seconds": t1 - t_loop,
            "cpu": cpu1 - cpu0,
            "stats": otel_modeldata.stats(),
            "max_rows": handoff.max_rows,
            "watermarks": (high, low),
        }
    handle.shutdown()
    return out


def profile(quick: bool) -> None:
    """Profile ``export()`` of shape a's 512-record batches (``--profile``)."""
    batches = shapes(quick)[0]["batches"]
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        exporter = ModelDataLogExporter(Settings.from_env({}, local_dir=tmp))
        exporter.export(batches[0])
        count = iter(range(10**9))
        _bench.profile(
            lambda: exporter.export(batches[next(count) % len(batches)]),
            30 if quick else 400,
            root=("export", "exporter.py"),
            what="ModelDataLogExporter.export, shape a",
        )


def main() -> None:
    def extra(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--profile", action="store_true")

    args = _bench.options(__doc__.splitlines()[0], extra)
    _bench.header("export_throughput: rows per second through the exporter", args.quick)
    ours = logging.getLogger("otel_modeldata")
    ours.setLevel(logging.ERROR)
    # "model data dropped: ... reason=queue_full" when flat out: counted in the stats printed below
    ours.addFilter(lambda record: not record.getMessage().startswith("model data dropped"))
    logging.getLogger("opentelemetry").setLevel(logging.ERROR)
    if args.profile:
        profile(args.quick)
        return
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        results = {shape["key"]: (shape, exporter_alone(shape, tmp)) for shape in shapes(args.quick)}
        e2e = end_to_end(tmp, 2.0 if args.quick else 16.0)
    elapsed = time.perf_counter() - started

    print()
    print("Exporter alone: per-batch wall time (median, p99) and rows per second at the median.")
    table_rows = []
    for key, (shape, r) in results.items():
        for side in ("ours", "limit"):
            s = r["wall"][side]
            table_rows.append(
                [
                    f"{key}  {shape['label']}  {side}",
                    *_bench.timing_cells(s, r["rows"]),
                    f"{r['cpu_per_row'][side] / 1000:.2f}",
                ]
            )
    _bench.table(table_rows, ["shape  side", "batches", "median us", "p99 us", "rows/s", "CPU us/row"])

    print()
    for mode, e in e2e.items():
        st = e["stats"]
        e["ok"] = (
            st["rows_written"] == st["rows_accepted"]
            and st["rows_unaccounted"] == 0
            and not st["rows_dropped"]
        )
        high, low = e["watermarks"]
        waits = (
            f", {e['waits']} waits of 1 ms (from {high:,} rows queued until below {low:,})"
            if mode == "paced"
            else ""
        )
        print(
            f"End to end, {mode} (shape a, decorated run() for {e['loop_seconds']:.1f} s{waits}, "
            f"then force_flush {e['flush_seconds']:.2f} s): {e['calls']:,} calls, "
            f"{_bench.rate(e['calls'] / e['seconds'])} calls/s"
        )
        print(f"  stats after flush: {st}")
        kept_up = "yes" if e["ok"] else "NO"
        print(f"  exporter kept up (written == accepted, nothing unaccounted or dropped): {kept_up}")
    print()
    print(f"(measured in {elapsed:.0f} s)")
    print("RESULT export_throughput  ratio = ours rows/s / limit rows/s (median batch time)")
    for key, (shape, r) in results.items():
        ours, limit = r["wall"]["ours"].median, r["wall"]["limit"].median
        target = 0.8 if key == "a" else 0.9
        ratio = limit / ours
        print(
            f"  {key}  {shape['label']:<22} ours {_bench.rate(r['rows'] / (ours / 1e9))} rows/s   "
            f"limit {_bench.rate(r['rows'] / (limit / 1e9))} rows/s   ratio {ratio:.2f} "
            f"(target >= {target}: {'met' if ratio >= target else 'NOT met'})"
        )
    e = e2e["paced"]
    rows = e["stats"]["rows_written"]
    print(
        f"  end to end (a), paced: {_bench.rate(e['calls'] / e['seconds'])} calls/s sustained "
        f"({_bench.rate(rows / e['seconds'])} rows/s, 2 rows per call), "
        f"{e['cpu'] / rows * 1e6:.1f} CPU s per million rows ({e['cpu'] / e['calls'] * 1e6:.1f} per million "
        f"calls), kept up: {'yes' if e['ok'] else 'NO'}"
    )
    f = e2e["flat out"]
    dropped = f["stats"]["rows_dropped"]
    print(
        f"  end to end (a), flat out: {_bench.rate(f['calls'] / f['seconds'])} calls/s, "
        f"{dropped.get('queue_full', 0):,} of {f['stats']['rows_accepted']:,} rows dropped as queue_full "
        f"(queue bound {f['max_rows']:,} rows), {f['stats']['rows_unaccounted']:,} unaccounted"
    )


if __name__ == "__main__":
    main()
