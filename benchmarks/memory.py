"""Peak RSS under a sustained burst above the export rate, with the default batch queue bounds.

Each measurement is a child process (this file with ``--child``) with the default
BatchLogRecordProcessor settings (OTEL_BLRP_MAX_QUEUE_SIZE=2048, batch 512, schedule
1000 ms), the local destination in a temp dir, and a decorated ``run()``
(``@otel_modeldata.collect_io``) called flat out from 4 threads (a threaded server under a
burst) for a while, then ``force_flush()``. The parent samples the child's RSS with psutil
every few milliseconds; the child also reports its own ``ru_maxrss``.

  baseline   the same imports, ``configure()`` and input array, but no calls
  a          ``run(x)`` with a 1 x 6 numpy array; the model returns one prediction per row
  b          the same with a 100 x 20 array
  a, unbounded queue  shape a with OTEL_BLRP_MAX_QUEUE_SIZE=100,000,000: what the bound saves

Collection turns the array into fresh Python lists (``tolist``), so every queued record
owns its rows, as records made from parsed JSON do. One thread alone barely outruns the
exporter with shape a; four do, because the exporter thread then gets a small share of the GIL.

Each shape runs for a short and a long burst: with a bounded queue the peak must not grow
with the duration (ratio of the peak increases ~1.0). A burst is "above the export rate"
when rows are accepted faster than they are written; the drops must all be counted in
``otel_modeldata.stats()`` (rows_unaccounted: the SDK's full queue), nothing lost silently.
The SDK logs "Queue full, dropping log." at WARNING through a filter that drops repeats;
the child counts the records that get through, with a handler that does not print them.
"""

from __future__ import annotations

import argparse
import json
import logging
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
QUEUE = 2048
BATCH = 512
UNBOUNDED = 100_000_000
THREADS = 4
#: shape key: (rows per call, features per row)
SHAPES = {"a": (1, 6), "b": (100, 20)}
SAMPLE_SECONDS = 0.003


def child_env(queue_size: int, local_dir: str) -> dict[str, str]:
    """The parent's environment without any of our settings, with the BLRP defaults spelled out."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "APPLICATIONINSIGHTS_", "AZURE_STORAGE_"))
    }
    env.update(
        OTEL_BLRP_MAX_QUEUE_SIZE=str(queue_size),
        OTEL_BLRP_MAX_EXPORT_BATCH_SIZE=str(BATCH),
        OTEL_BLRP_SCHEDULE_DELAY="1000",
        OTEL_MODELDATA_LOCAL_DIR=local_dir,
    )
    return env


class Counting(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def child(spec: dict[str, Any]) -> None:
    """One measured process: configure, build the input, burst for ``spec['seconds']``, flush, report."""
    import resource

    import otel_modeldata

    queue_full = Counting()
    sdk_logger = logging.getLogger("opentelemetry.sdk._shared_internal")
    sdk_logger.addHandler(queue_full)
    sdk_logger.propagate = False
    handle = otel_modeldata.configure()
    assert handle.logger_provider is not None
    queue = _bench.batch_processor(handle.logger_provider)._queue
    x = np.random.default_rng(5).random(SHAPES[spec["shape"]])

    @otel_modeldata.collect_io(MODEL)
    def run(data: Any) -> Any:
        return data.sum(axis=1)

    out: dict[str, Any] = {"queue_maxlen": queue.maxlen, "rss_before": psutil.Process().memory_info().rss}
    seconds = spec["seconds"]
    if seconds:
        calls = [0] * THREADS
        deepest = [0] * THREADS
        begin = time.monotonic()
        deadline = begin + seconds

        def burst(i: int) -> None:
            n = most = 0
            while time.monotonic() < deadline:
                for _ in range(10):
                    run(x)
                n += 10
                most = max(most, len(queue))
            calls[i], deepest[i] = n, most

        threads = [threading.Thread(target=burst, args=(i,)) for i in range(THREADS)]
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
        queue_full_logs=queue_full.count,
        ru_maxrss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    )
    handle.shutdown()
    print("CHILD " + json.dumps(out), flush=True)


def measure(shape: str, seconds: float, queue_size: int) -> dict[str, Any]:
    """Run one child, sampling its RSS; its report plus the peak RSS during the burst and flush."""
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        spec = json.dumps({"shape": shape, "seconds": seconds})
        proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--child", spec],
            env=child_env(queue_size, tmp),
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
    args = _bench.options(
        __doc__.splitlines()[0], lambda p: p.add_argument("--child", help=argparse.SUPPRESS)
    )
    if args.child:
        child(json.loads(args.child))
        return
    _bench.header("memory: peak RSS under a burst above the export rate", args.quick)
    short, long = (0.7, 2.0) if args.quick else (2.0, 6.0)
    runs = {
        "baseline": ("a", 0.0, QUEUE),
        f"a {short:g} s": ("a", short, QUEUE),
        f"a {long:g} s": ("a", long, QUEUE),
        f"b {short:g} s": ("b", short, QUEUE),
        f"b {long:g} s": ("b", long, QUEUE),
        f"a unbounded {short:g} s": ("a", short, UNBOUNDED),
        f"a unbounded {long:g} s": ("a", long, UNBOUNDED),
    }
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in runs}

    def variant(name: str) -> Any:
        def one() -> list[int]:
            r = measure(*runs[name])
            results[name].append(r)
            return [r["peak"]]

        return one

    started = time.perf_counter()
    _bench.interleave({name: variant(name) for name in runs}, 1 if args.quick else 2)
    elapsed = time.perf_counter() - started
    report(results, short, long, elapsed)


def mb(n: float) -> str:
    return f"{n / 1e6:,.1f}"


def report(results: dict[str, list[dict[str, Any]]], short: float, long: float, elapsed: float) -> None:
    base_runs = results["baseline"]
    baseline = max(max(r["peak"], r["ru_maxrss"]) for r in base_runs)
    print()
    print(
        f"Baseline child (imports, configure(), inputs, no calls): RSS {mb(baseline)} MB "
        f"(highest of {len(base_runs)} runs, sampled and ru_maxrss)"
    )
    print(
        f"Bursts: {THREADS} threads calling run() flat out; peak = highest RSS sampled during burst + flush."
    )
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
        summary[name] = {"increase": max(peak, maxrss) - baseline, "max_queue": r["max_queue"]}
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
                f"{100 * st['rows_unaccounted'] / max(st['rows_accepted'], 1):.0f}%",
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
            "lost",
        ],
    )
    print()
    print("Books after force_flush (run with the highest peak of each): accepted = written + failed")
    print("+ dropped + unaccounted. 'Queue full': the SDK's WARNING records that got through its filter")
    print("of repeats; 'logged': our 'rows not written' warning at shutdown (on stderr, captured here).")
    for name, runs in results.items():
        if name == "baseline":
            continue
        r = max(runs, key=lambda x: x["peak"])
        st = r["stats"]
        dropped = sum(st["rows_dropped"].values())
        balanced = (
            st["rows_accepted"] == st["rows_written"] + st["rows_failed"] + dropped + st["rows_unaccounted"]
        )
        print(
            f"  {name:<20} {st}  balanced: {'yes' if balanced else 'NO'}  "
            f"'Queue full' logs: {r['queue_full_logs']:,}  logged: {'yes' if r['loss_logged'] else 'no'}"
        )
    print()
    print(f"(measured in {elapsed:.0f} s)")
    print("RESULT memory  peak RSS minus baseline, bounded queue (2048 records), per shape")
    for key, (rows_per_call, width) in SHAPES.items():
        s, lg = summary[f"{key} {short:g} s"], summary[f"{key} {long:g} s"]
        queued_rows = QUEUE * rows_per_call  # inputs and predictions records both hold rows_per_call rows
        increase = max(s["increase"], lg["increase"])
        r = max(results[f"{key} {long:g} s"], key=lambda x: x["peak"])
        st = r["stats"]
        settled = st["rows_written"] + st["rows_failed"] + sum(st["rows_dropped"].values())
        balanced = st["rows_accepted"] == settled + st["rows_unaccounted"]
        held = (QUEUE + BATCH) * rows_per_call
        print(
            f"  {key}  {rows_per_call} x {width} per call: +{mb(increase)} MB peak; rows queued at most "
            f"{queued_rows:,} ({QUEUE} records x {rows_per_call} rows); "
            f"{increase / queued_rows:,.0f} bytes per queued row ({increase / held:,.0f} per row held, "
            f"counting the exporter's batch of {BATCH}); "
            f"peak increase {long:g} s / {short:g} s = {lg['increase'] / s['increase']:.2f} (bounded ~1.0); "
            f"{st['rows_unaccounted']:,} of {st['rows_accepted']:,} rows lost in the {long:g} s burst, "
            f"counted as rows_unaccounted (books balance: {'yes' if balanced else 'NO'})"
        )
    s, lg = summary[f"a unbounded {short:g} s"], summary[f"a unbounded {long:g} s"]
    print(
        f"  a  unbounded queue: +{mb(s['increase'])} MB after {short:g} s, +{mb(lg['increase'])} MB after "
        f"{long:g} s (ratio {lg['increase'] / s['increase']:.2f}; grows with the burst), deepest queue "
        f"{lg['max_queue']:,.0f} records"
    )


if __name__ == "__main__":
    main()
