"""Rows a SIGKILL loses: the export queue at the moment of the kill, with and without the early export.

Each measurement is a child process (this file with ``--child``) with the default settings
(``OTEL_BLRP_SCHEDULE_DELAY=1000`` ms, ``OTEL_BLRP_MAX_EXPORT_BATCH_SIZE=512``), the local
destination in a temp dir, and a decorated ``run()`` called at a steady rate (one row per
call, so two rows collected per call: inputs and predictions). After each call the child
writes how many calls it has made into a shared page. The parent kills it with SIGKILL at a
random moment past the first second, reads the count, and counts the input rows in the files:
the calls not in the files are lost, with their prediction rows.

  early export   the queue as shipped: from 64 queued rows on (an eighth of the batch), the
                 next export comes within a tenth of the delay (100 ms)
  delay only     the same with that threshold out of reach: exports at the schedule delay or
                 a full batch, as before

The bound before: the rows collected in the last schedule delay (1 s), at most about a batch
(512 values) plus the one being written; after: 64 rows plus what 100 ms brings, plus the
batch being written. A low rate never reaches 64 rows in a delay and loses the same either way.
"""

from __future__ import annotations

import argparse
import mmap
import os
import random
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _bench

RATES = [20, 100, 500]  # calls per second (each 2 rows)
VARIANTS = ["early export", "delay only"]
DELAY_SECONDS = 1.0


def child(counter: str, rate: float, variant: str) -> None:
    """Collect at ``rate`` calls per second until killed, publishing the number of calls made."""
    import otel_modeldata

    handle = otel_modeldata.configure()
    assert handle.logger_provider is not None
    if variant == "delay only":
        _bench.handoff(handle.logger_provider).soon_rows = 10**12

    @otel_modeldata.collect_io("crash_model", feature_names=["k"], prediction_names=["p"])
    def run(data: list[list[int]]) -> list[int]:
        return [row[0] for row in data]

    with open(counter, "r+b") as f:
        page = mmap.mmap(f.fileno(), 8)
    interval = 1 / rate
    begin = time.monotonic()
    n = 0
    while True:
        due = begin + n * interval
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        run([[n]])
        n += 1
        page[:8] = struct.pack("q", n)


def stored_calls(root: Path) -> int:
    """Input rows in the files (one per call)."""
    files = [p for p in root.rglob("*.csv") if "inputs" in p.parts and not p.name.startswith(".tmp")]
    return sum(max(p.read_bytes().count(b"\n") - 1, 0) for p in files)


def measure(rate: float, variant: str, rng: random.Random) -> int:
    """Rows lost by one SIGKILL of a child collecting at ``rate`` calls per second."""
    with tempfile.TemporaryDirectory(prefix="bench-crash-") as tmp:
        counter = Path(tmp, "counter")
        counter.write_bytes(b"\0" * 8)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "APPLICATIONINSIGHTS_"))}
        env.update(
            OTEL_MODELDATA_LOCAL_DIR=str(Path(tmp, "out")),
            OTEL_MODELDATA_SPOOL_DIR="",
            OTEL_BLRP_SCHEDULE_DELAY=str(int(DELAY_SECONDS * 1000)),
        )
        spec = [str(counter), str(rate), variant]
        proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child", *spec], env=env)
        with counter.open("rb") as f:
            while not struct.unpack("q", f.read(8))[0]:  # the child's first call
                if proc.poll() is not None:
                    raise SystemExit(f"child exited with {proc.returncode}")
                time.sleep(0.01)
                f.seek(0)
        time.sleep(1.0 + rng.uniform(0, 2 * DELAY_SECONDS))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        calls = struct.unpack("q", counter.read_bytes())[0]
        return 2 * (calls - stored_calls(Path(tmp, "out")))


def main() -> None:
    def extra(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)

    args = _bench.options(__doc__.splitlines()[0], extra)
    if args.child:
        child(args.child[0], float(args.child[1]), args.child[2])
        return
    _bench.header("crash loss: rows a SIGKILL takes with the export queue", args.quick)
    rounds = 2 if args.quick else 8
    rng = random.Random(9)
    results: dict[tuple[float, str], list[int]] = {}
    started = time.perf_counter()
    for rate in RATES:
        variants = {v: (lambda r=rate, v=v: [measure(r, v, rng)]) for v in VARIANTS}  # type: ignore[misc]
        for v, samples in _bench.interleave(variants, rounds).items():
            results[(rate, v)] = samples
    elapsed = time.perf_counter() - started
    rows: list[list[Any]] = []
    for rate in RATES:
        for v in VARIANTS:
            s = results[(rate, v)]
            rows.append([f"{rate:g} calls/s, {v}", len(s), 2 * rate, int(_bench.percentile(s, 0.5)), max(s)])
    print()
    _bench.table(rows, ["rate, queue", "kills", "rows/s", "median lost", "max lost"])
    print(f"\n(measured in {elapsed:.0f} s)")
    print("RESULT crash_loss  rows lost per SIGKILL, early export / delay only (median; max)")
    for rate in RATES:
        early, only = results[(rate, VARIANTS[0])], results[(rate, VARIANTS[1])]
        med = _bench.percentile(early, 0.5) / max(_bench.percentile(only, 0.5), 1)
        print(
            f"  {rate:g} calls/s ({2 * rate:g} rows/s): median {int(_bench.percentile(early, 0.5))} / "
            f"{int(_bench.percentile(only, 0.5))} = {med:.2f}; max {max(early)} / {max(only)} = "
            f"{max(early) / max(max(only), 1):.2f}"
        )


if __name__ == "__main__":
    main()
