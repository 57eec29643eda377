"""Read and join a month of inputs and predictions: ``analysis.read`` + ``join`` against pandas.

The benchmark writes 30 days of local partitions itself (not through the collector, but in its
exact format: ``csvfmt.RowWriter`` rows under ``layout.partition_folder``): ``--rows`` input rows
of 20 features, in calls of 50 rows, each day in two parts (``data.csv`` and ``data_1.csv``),
and one prediction per row. Then each variant runs in a child process of its own, which reports
its wall time and its peak RSS (``ru_maxrss``):

  ours     ``analysis.read`` of the inputs and of the predictions, then ``analysis.join``
  pandas   the anchor: ``pandas.concat`` of ``read_csv`` over the same files (the README's pandas
           recipe), then ``merge`` on ``$aml_dc_correlation_id`` and ``$row_index``

Each variant runs ``--rounds`` times, alternating; the best time and the highest peak are kept.
Both must give the same number of joined rows. The ratios come last.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import _bench

MODEL = "bench_model"
FEATURES = [f"f{i}" for i in range(20)]
DAYS = 30
CALL_ROWS = 50
START = date(2026, 10, 1)


def write_day(root: str, day_number: int, rows: int) -> int:
    """One day of inputs and predictions, in two parts each; returns the bytes written."""
    import numpy as np

    from otel_modeldata.csvfmt import RowContext, RowWriter, header_line
    from otel_modeldata.layout import Identity, file_name, partition_folder

    day = START + timedelta(days=day_number)
    rng = np.random.default_rng(day_number)
    features = rng.normal(size=(rows, len(FEATURES))).round(4)
    scores = features.sum(axis=1).round(4)
    stamp = f"{day.isoformat()}T12:00:00.000000Z"
    writers = {name: [RowWriter(), RowWriter()] for name in ("inputs", "predictions")}
    for call, first in enumerate(range(0, rows, CALL_ROWS)):
        cid = str(uuid.UUID(int=day_number << 64 | call))
        ctx = RowContext(cid, stamp, "sub/rg/ws", "svc", MODEL, "1", cid, "", "")
        part = call % 2
        writers["inputs"][part].write(features[first : first + CALL_ROWS].tolist(), len(FEATURES), ctx)
        writers["predictions"][part].write([[s] for s in scores[first : first + CALL_ROWS].tolist()], 1, ctx)
    written = 0
    for designation, parts in writers.items():
        columns = FEATURES if designation == "inputs" else ["score"]
        folder = Path(root, "modeldata", partition_folder(Identity(), MODEL, "1", designation, day))
        folder.mkdir(parents=True, exist_ok=True)
        for part, writer in enumerate(parts):
            data = header_line(columns) + writer.payload()
            (folder / file_name(None, part)).write_bytes(data)
            written += len(data)
    return written


def generate(root: Path, rows: int) -> int:
    """Write every day in parallel processes; the total bytes."""
    per_day = rows // DAYS
    with ProcessPoolExecutor() as pool:
        return sum(pool.map(write_day, [str(root)] * DAYS, range(DAYS), [per_day] * DAYS))


def ours(root: str) -> int:
    from otel_modeldata import analysis

    inputs = analysis.read(root, model=MODEL, version="1")
    predictions = analysis.read(root, model=MODEL, version="1", designation="predictions")
    return len(analysis.join(inputs, predictions))


def anchor(root: str) -> int:
    import glob

    import pandas as pd

    def read(pattern: str) -> pd.DataFrame:
        options = {"keep_default_na": False, "na_values": ["", "NaN"]}
        files = sorted(glob.glob(pattern))
        return pd.concat([pd.read_csv(f, **options) for f in files], ignore_index=True)

    base = f"{root}/modeldata/*/*/*/*/{MODEL}/1"
    inputs = read(f"{base}/inputs/*/*/*/*.csv")
    predictions = read(f"{base}/predictions/*/*/*/*.csv")
    keys = ["$aml_dc_correlation_id", "$row_index"]
    return len(inputs.merge(predictions, on=keys, how="left", suffixes=("", "_predictions")))


VARIANTS = {"ours": ours, "pandas": anchor}


def child(variant: str, root: str) -> None:
    """Run one variant and print its figures as JSON (peak RSS in bytes; Linux reports KiB)."""
    started = time.perf_counter()
    rows = VARIANTS[variant](root)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"rows": rows, "seconds": seconds, "peak": peak}))


def measure(variant: str, root: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", variant, "--root", str(root)],
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    def extra(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--rows", type=int, default=10_000_000, help="input rows over the 30 days")
        parser.add_argument("--rounds", type=int, default=2, help="runs of each variant, alternating")
        parser.add_argument("--child", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
        parser.add_argument("--root", help=argparse.SUPPRESS)

    args = _bench.options(__doc__.splitlines()[0], extra)
    if args.child:
        child(args.child, args.root)
        return
    rows = 60_000 if args.quick else args.rows
    rounds = 1 if args.quick else args.rounds
    _bench.header(f"read + join: {rows:,} input rows x {len(FEATURES)} features over {DAYS} days", args.quick)
    with tempfile.TemporaryDirectory(prefix="read_join_") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        size = generate(root, rows)
        print(f"   generated {size / 2**20:,.0f} MiB of CSV in {time.perf_counter() - started:,.1f} s")
        results: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
        for r in range(rounds):
            order = list(VARIANTS) if r % 2 == 0 else list(reversed(VARIANTS))
            for name in order:
                results[name].append(measure(name, root))
    best = {name: min(r["seconds"] for r in runs) for name, runs in results.items()}
    peak = {name: max(r["peak"] for r in runs) for name, runs in results.items()}
    joined = {name: {r["rows"] for r in runs} for name, runs in results.items()}
    _bench.table(
        [
            [name, f"{best[name]:,.2f}", f"{peak[name] / 2**20:,.0f}", ", ".join(map(str, joined[name]))]
            for name in VARIANTS
        ],
        ["variant", "best s", "peak RSS MiB", "joined rows"],
    )
    if joined["ours"] != joined["pandas"]:
        raise SystemExit(f"the variants joined different rows: {joined}")
    print(f"RESULT speed-up (pandas time / ours): {best['pandas'] / best['ours']:.2f}x (target >= 5)")
    print(f"RESULT peak memory (ours / pandas): {peak['ours'] / peak['pandas']:.2f} (target <= 0.25)")


if __name__ == "__main__":
    main()
