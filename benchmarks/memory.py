"""Peak RSS under a sustained burst above the export rate, with the default queue bound in rows.

Each measurement is a child process (this file with ``--child``) with the default settings
of our ``Handoff`` queue (``OTEL_MODELDATA_MAX_QUEUE_ROWS=100000`` rows; batches of
``OTEL_BLRP_MAX_EXPORT_BATCH_SIZE=512`` values; ``OTEL_BLRP_SCHEDULE_DELAY=1000`` ms), the
local destination in a temp dir, and a decorated ``run()`` (``@otel_modeldata.collect_io``)
called flat out from one thread for a while, then ``force_flush()``. The parent samples the
child's RSS with psutil every few milliseconds; the child also reports its own
``ru_maxrss``, and each calling thread samples ``Handoff.rows_queued`` (rows collected and
not yet exported, the batch being exported included) after every 10 calls: the deepest
value seen is the "max queue" column, in rows.

One thread is enough to outrun the exporter thread: ``put()`` only appends to the queue,
while the exporter thread makes the log records and writes the CSV. ``--threads N`` calls
from N threads (a threaded server under a burst) instead; then they share the GIL and the
queue's lock with each other and with the exporter thread, and with shape a the exporter
may keep up, so the queue never fills (the "max queue" column and the RESULT lines say so).

  baseline   the same imports, ``configure()`` and input array, but no calls
  a          ``run(x)`` with a 1 x 6 numpy array; the model returns one prediction per row
  b          the same with a 100 x 20 array
  a, unbounded queue  shape a with OTEL_MODELDATA_MAX_QUEUE_ROWS=1,000,000,000: what the bound saves

Every call queues two values (inputs and predictions), each of the call's rows: shape a
queues 2 values of 1 row (one of 6 floats, one of 1 float), shape b 2 values of 100 rows
(of 20 floats and of 1 float). So a full queue of 100,000 rows holds 100,000 values for
shape a and 1,000 for shape b. Collection turns the array into fresh Python lists
(``tolist``), so every queued value owns its rows, as values made from parsed JSON do.
"Bytes per queued row" is the peak RSS increase over the baseline divided by the bound
(100,000 rows), reported only when every burst of the shape filled the queue: it includes
everything the burst costs besides the queue (the log records and the exporter's work on
the batch in hand, thread stacks, allocator slack).

Each shape runs for a short and a long burst: with a bounded queue the peak must not grow
with the duration (ratio of the peak increases ~1.0). A burst is "above the export rate"
when rows are accepted faster than they are written; what does not fit the queue is
refused on the request thread and must be counted in ``otel_modeldata.stats()`` as
``rows_dropped["queue_full"]``, nothing lost silently: after the flush the books balance
(accepted == written + failed + dropped + unaccounted, with unaccounted 0).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

import _bench
import numpy as np
import psutil

MODEL = "bench_model"
QUEUE_ROWS = 100_000
BATCH = 512
UNBOUNDED = 1_000_000_000
THREADS = 1  # default of --threads
#: shape key: (rows per call, features per row)
SHAPES = {"a": (1, 6), "b": (100, 20)}
SAMPLE_SECONDS = 0.003


def child_env(max_rows: int, local_dir: str) -> dict[str, str]:
    """The parent's environment without any of our settings, with the queue's defaults spelled out."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "APPLICATIONINSIGHTS_", "AZURE_STORAGE_"))
    }
    env.update(
        OTEL_MODELDATA_MAX_QUEUE_ROWS=str(max_rows),
        OTEL_BLRP_MAX_EXPORT_BATCH_SIZE=str(BATCH),
        OTEL_BLRP_SCHEDULE_DELAY="1000",
        OTEL_MODELDATA_LOCAL_DIR=local_dir,
    )
    return env


def child(spec: dict[str, Any]) -> None:
    """One measured process: configure, build the input, burst for ``spec['seconds']``, flush, report."""
    import resource

    import otel_modeldata

    handle = otel_modeldata.configure()
    assert handle.logger_provider is not None
    handoff = _bench.handoff(handle.logger_provider)
    x = np.random.default_rng(5).random(SHAPES[spec["shape"]])

    @otel_modeldata.collect_io(MODEL)
    def run(data: Any) -> Any:
        return data.sum(axis=1)

    out: dict[str, Any] = {"max_rows": handoff.max_rows, "rss_before": psutil.Process().memory_info().rss}
    seconds, n_threads = spec["seconds"], spec["threads"]
    if seconds:
        calls = [0] * n_threads
        deepest = [0] * n_threads
        begin = time.monotonic()
        deadline = begin + seconds

        def burst(i: int) -> None:
            n = most = 0
            while time.monotonic() < deadline:
                for _ in range(10):
                    run(x)
                n += 10
                most = max(most, handoff.rows_queued)
            calls[i], deepest[i] = n, most

        threads = [threading.Thread(target=burst, args=(i,)) for i in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        end = time.monotonic()
        during = otel_modeldata.stats()
        handle.force_flush(timeout_millis=120_000)
        out.update(
            begin=begin,
            end=end,
            flushed=time.monotonic(),
            calls=sum(calls),
            max_queue=max(deepest),
            during=during,
        )
    else:
        out.update(begin=time.monotonic())
        time.sleep(1.0)
        out.update(end=time.monotonic(), flushed=time.monotonic(), calls=0, max_queue=0)
    out.update(
        stats=otel_modeldata.stats(),
        ru_maxrss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    )
    handle.shutdown()
    print("CHILD " + json.dumps(out), flush=True)


def measure(shape: str, seconds: float, max_rows: int, threads: int) -> dict[str, Any]:
    """Run one child, sampling its RSS; its report plus the peak RSS during the burst and flush."""
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        spec = json.dumps({"shape": shape, "seconds": seconds, "threads": threads})
        proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--child", spec],
            env=child_env(max_rows, tmp),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        watched = psutil.Process(proc.pid)
        samples: list[tuple[float, int]] = []
        while proc.poll() is None:
            try:
                samples.append((time.monotonic(), watched.memory_info().rss))
            except psutil.NoSuchProcess:
                break
            time.sleep(SAMPLE_SECONDS)
        stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"child {shape} {seconds}s exited with {proc.returncode}:\n{stderr}")
    line = next(x for x in stdout.splitlines() if x.startswith("CHILD "))
    out: dict[str, Any] = json.loads(line[len("CHILD ") :])
    window = [rss for t, rss in samples if out["begin"] <= t <= out["flushed"]]
    out["peak"] = max(window, default=0)
    out["samples"] = len(window)
    out["seconds"] = seconds
    out["loss_logged"] = [x for x in stderr.splitlines() if "rows not written" in x]
    return out


def main() -> None:
    def extra(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--child", help=argparse.SUPPRESS)
        parser.add_argument(
            "--threads", type=int, default=THREADS, help=f"threads calling run() (default {THREADS})"
        )

    args = _bench.options(__doc__.splitlines()[0], extra)
    if args.child:
        child(json.loads(args.child))
        return
    _bench.header("memory: peak RSS under a burst above the export rate", args.quick)
    short, long = (0.7, 2.0) if args.quick else (2.0, 6.0)
    runs = {
        "baseline": ("a", 0.0, QUEUE_ROWS),
        f"a {short:g} s": ("a", short, QUEUE_ROWS),
        f"a {long:g} s": ("a", long, QUEUE_ROWS),
        f"b {short:g} s": ("b", short, QUEUE_ROWS),
        f"b {long:g} s": ("b", long, QUEUE_ROWS),
        f"a unbounded {short:g} s": ("a", short, UNBOUNDED),
        f"a unbounded {long:g} s": ("a", long, UNBOUNDED),
    }
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in runs}

    def variant(name: str) -> Any:
        def one() -> list[int]:
            r = measure(*runs[name], args.threads)
            results[name].append(r)
            return [r["peak"]]

        return one

    started = time.perf_counter()
    _bench.interleave({name: variant(name) for name in runs}, 1 if args.quick else 2)
    elapsed = time.perf_counter() - started
    report(results, short, long, elapsed, args.threads)


def mb(n: float) -> str:
    return f"{n / 1e6:,.1f}"


def queue_full(st: dict[str, Any]) -> int:
    """Rows refused because the queue was full."""
    return int(st["rows_dropped"].get("queue_full", 0))


def balanced(st: dict[str, Any]) -> bool:
    """accepted == written + failed + dropped + unaccounted, with nothing unaccounted."""
    dropped = sum(st["rows_dropped"].values())
    books = st["rows_accepted"] == st["rows_written"] + st["rows_failed"] + dropped + st["rows_unaccounted"]
    return bool(books and st["rows_unaccounted"] == 0)


def report(
    results: dict[str, list[dict[str, Any]]], short: float, long: float, elapsed: float, threads: int
) -> None:
    base_runs = results["baseline"]
    baseline = max(max(r["peak"], r["ru_maxrss"]) for r in base_runs)
    print()
    print(
        f"Baseline child (imports, configure(), inputs, no calls): RSS {mb(baseline)} MB "
        f"(highest of {len(base_runs)} runs, sampled and ru_maxrss)"
    )
    callers = f"{threads} thread{'s' if threads > 1 else ''}"
    print(f"Bursts: {callers} calling run() flat out; peak = highest RSS sampled during burst + flush;")
    print("max queue = most rows queued seen by the callers; queue_full = share of accepted rows refused.")
    rows = []
    summary: dict[str, dict[str, float]] = {}
    for name, runs in results.items():
        if name == "baseline":
            continue
        peak = max(r["peak"] for r in runs)
        maxrss = max(r["ru_maxrss"] for r in runs)
        r = max(runs, key=lambda x: x["peak"])
        st = r["stats"]
        burst = r["end"] - r["begin"]
        written_during = r["during"]["rows_written"]
        per_value = SHAPES[name.split()[0]][0]
        summary[name] = {
            "increase": max(peak, maxrss) - baseline,
            "max_queue": max(x["max_queue"] for x in runs),
            "max_rows": r["max_rows"],
            # every run of it filled the queue: rows refused, or no room left for one more value
            "filled": all(queue_full(x["stats"]) or x["max_queue"] > x["max_rows"] - per_value for x in runs),
        }
        rows.append(
            [
                name,
                len(runs),
                mb(max(x["rss_before"] for x in runs)),
                mb(peak),
                mb(maxrss),
                mb(max(peak, maxrss) - baseline),
                f"{r['max_queue']:,}",
                _bench.rate(st["rows_accepted"] / burst),
                _bench.rate(written_during / burst),
                f"{100 * queue_full(st) / max(st['rows_accepted'], 1):.0f}%",
            ]
        )
    _bench.table(
        rows,
        [
            "run",
            "runs",
            "before MB",
            "peak MB",
            "maxrss MB",
            "+MB",
            "max queue",
            "accepted rows/s",
            "written rows/s",
            "queue_full",
        ],
    )
    print()
    print("Books after force_flush (run with the highest peak of each): accepted = written + failed")
    print("+ dropped + unaccounted, unaccounted 0. 'queue_full': rows_dropped['queue_full'] (refused by the")
    print("full queue); 'logged': our 'rows not written' warning at shutdown (on stderr, captured here).")
    for name, runs in results.items():
        if name == "baseline":
            continue
        r = max(runs, key=lambda x: x["peak"])
        st = r["stats"]
        print(
            f"  {name:<20} {st}  balanced: {'yes' if balanced(st) else 'NO'}  "
            f"queue_full: {queue_full(st):,}  logged: {'yes' if r['loss_logged'] else 'no'}"
        )
    print()
    print(f"(measured in {elapsed:.0f} s)")
    print(
        f"RESULT memory  peak RSS minus baseline, bounded queue ({QUEUE_ROWS:,} rows), per shape, "
        f"{callers} calling run()"
    )
    for key, (rows_per_call, width) in SHAPES.items():
        s, lg = summary[f"{key} {short:g} s"], summary[f"{key} {long:g} s"]
        bound = int(lg["max_rows"])
        values = bound // rows_per_call  # inputs and predictions values both hold rows_per_call rows
        increase = max(s["increase"], lg["increase"])
        deepest = int(max(s["max_queue"], lg["max_queue"]))
        r = max(results[f"{key} {long:g} s"], key=lambda x: x["peak"])
        st = r["stats"]
        plural = "s" if rows_per_call > 1 else ""
        books = "yes" if balanced(st) else "NO"
        if s["filled"] and lg["filled"]:
            per_row = f"{increase / bound:,.0f} bytes per queued row"
        else:
            per_row = (
                f"queue NOT filled in every burst, so bytes per queued row not measured "
                f"(increase / deepest = {increase / max(deepest, 1):,.0f})"
            )
        print(
            f"  {key}  {rows_per_call} x {width} per call: +{mb(increase)} MB peak; rows queued at most "
            f"{bound:,} (the bound: {values:,} values of {rows_per_call} row{plural}, "
            f"2 per call; deepest seen {deepest:,}); {per_row}; "
            f"peak increase {long:g} s / {short:g} s = {lg['increase'] / s['increase']:.2f} (bounded ~1.0); "
            f"{queue_full(st):,} of {st['rows_accepted']:,} rows dropped as queue_full in the {long:g} s "
            f"burst, {st['rows_unaccounted']:,} unaccounted (books balance: {books})"
        )
    s, lg = summary[f"a unbounded {short:g} s"], summary[f"a unbounded {long:g} s"]
    r = max(results[f"a unbounded {long:g} s"], key=lambda x: x["peak"])
    print(
        f"  a  unbounded queue: +{mb(s['increase'])} MB after {short:g} s, +{mb(lg['increase'])} MB after "
        f"{long:g} s (ratio {lg['increase'] / s['increase']:.2f}; grows with the burst when it outruns the "
        f"exporter), deepest queue "
        f"{lg['max_queue']:,.0f} rows ({lg['increase'] / max(lg['max_queue'], 1):,.0f} bytes per row at the "
        f"deepest); books balance: {'yes' if balanced(r['stats']) else 'NO'}"
    )


if __name__ == "__main__":
    main()
