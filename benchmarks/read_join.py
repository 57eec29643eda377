"""Read and join a month of inputs and predictions (``join_to``; ``read`` + ``join``) against pandas.

The benchmark writes 30 days of local partitions itself, in the collector's exact format
(``_partitions``): ``--rows`` input rows of 20 features, in calls of 50 rows, each day in two
parts (``data.csv`` and ``data_1.csv``), and one prediction per row. Then each variant runs in a
child process of its own, which reports its wall time, CPU time and peak RSS (``ru_maxrss``):

  ours        ``analysis.join_to``: the join written to a Parquet file, day by day, as a user
              with millions of rows would (``otel-modeldata join -o out.parquet``)
  ours-frame  ``analysis.read`` of the inputs and of the predictions, then ``analysis.join``:
              the whole join as one pandas DataFrame
  pandas      the anchor: ``pandas.concat`` of ``read_csv`` over the same files (the README's
              pandas recipe), then ``merge`` on ``$aml_dc_correlation_id`` and ``$row_index``

``ours`` and ``ours-frame`` run twice in a row: cold, with an empty parsed-file cache
(``analysis/parsed.py``, in a folder of the benchmark's own), so every CSV file is parsed (and
kept), then warm, a second read of the same month, which finds every file unchanged and parses
none. Each variant runs ``--rounds`` times, alternating; the best time and the highest peak are kept.
All must give the same number of joined rows. The ratios come last. The machine is shared:
``uptime`` is printed before and after, and CPU seconds next to wall seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _bench
import _partitions

SHAPE = _partitions.Shape("bench_model", numeric=20)


def ours(root: str) -> int:
    from otel_modeldata import analysis

    return analysis.join_to(Path(root, "joined.parquet"), root, model=SHAPE.model, version="1")


def ours_frame(root: str) -> int:
    from otel_modeldata import analysis

    inputs = analysis.read(root, model=SHAPE.model, version="1")
    predictions = analysis.read(root, model=SHAPE.model, version="1", designation="predictions")
    return len(analysis.join(inputs, predictions))


def anchor(root: str) -> int:
    import glob

    import pandas as pd

    def read(pattern: str) -> pd.DataFrame:
        options = {"keep_default_na": False, "na_values": ["", "NaN"]}
        files = sorted(glob.glob(pattern))
        return pd.concat([pd.read_csv(f, **options) for f in files], ignore_index=True)

    base = f"{root}/modeldata/*/*/*/*/{SHAPE.model}/1"
    inputs = read(f"{base}/inputs/*/*/*/*.csv")
    predictions = read(f"{base}/predictions/*/*/*/*.csv")
    keys = ["$aml_dc_correlation_id", "$row_index"]
    return len(inputs.merge(predictions, on=keys, how="left", suffixes=("", "_predictions")))


VARIANTS = {"ours": ours, "ours-frame": ours_frame, "pandas": anchor}
#: What is measured: ours and ours-frame with the parsed-file cache empty, then filled.
RUNS = ["ours cold", "ours warm", "ours-frame cold", "ours-frame warm", "pandas"]


def child(variant: str, root: str) -> None:
    """Run one variant and print its figures as JSON (peak RSS in bytes; Linux reports KiB)."""
    started = time.perf_counter()
    rows = VARIANTS[variant](root)
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    print(json.dumps({"rows": rows, "seconds": seconds, "cpu": cpu, "peak": usage.ru_maxrss * 1024}))


def measure(variant: str, root: Path, cache: Path) -> dict[str, float]:
    # The default limit (10 GiB) holds the parsed files of 10 M rows (about 4.5 GiB).
    environment = {k: v for k, v in os.environ.items() if k != "OTEL_MODELDATA_PARSED_CACHE_MB"}
    environment["OTEL_MODELDATA_CACHE_DIR"] = str(cache)
    done = subprocess.run(
        [sys.executable, __file__, "--child", variant, "--root", str(root)],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
    )
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def _load() -> str:
    """The load averages (1, 5, 15 minutes), as ``uptime`` shows them."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    def extra(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--rows", type=int, default=10_000_000, help="input rows over the 30 days")
        parser.add_argument("--rounds", type=int, default=2, help="runs of each variant, alternating")
        parser.add_argument("--child", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
        parser.add_argument("--root", help=argparse.SUPPRESS)
        parser.add_argument(
            "--data", type=Path, help="keep the generated files in this folder and reuse them when there"
        )

    args = _bench.options(__doc__.splitlines()[0], extra)
    if args.child:
        child(args.child, args.root)
        return
    rows = 60_000 if args.quick else args.rows
    rounds = 1 if args.quick else args.rounds
    _bench.header(
        f"read + join: {rows:,} input rows x {SHAPE.numeric} features over {SHAPE.days} days", args.quick
    )
    print(f"   load before: {_load()}")
    with tempfile.TemporaryDirectory(prefix="read_join_") as tmp:
        root = args.data or Path(tmp)
        _partitions.ensure(root, rows, SHAPE)
        results: dict[str, list[dict[str, float]]] = {name: [] for name in RUNS}
        for r in range(rounds):
            order = list(VARIANTS) if r % 2 == 0 else list(reversed(VARIANTS))
            for name in order:
                cache = Path(tmp, f"cache-{name}-{r}")
                if name == "pandas":
                    results[name].append(measure(name, root, cache))
                    continue
                results[f"{name} cold"].append(measure(name, root, cache))
                results[f"{name} warm"].append(measure(name, root, cache))
                shutil.rmtree(cache)
    print(f"   load after:  {_load()}")
    best = {name: min(r["seconds"] for r in runs) for name, runs in results.items()}
    cpu = {name: min(r["cpu"] for r in runs) for name, runs in results.items()}
    peak = {name: max(r["peak"] for r in runs) for name, runs in results.items()}
    joined = {name: {r["rows"] for r in runs} for name, runs in results.items()}
    _bench.table(
        [
            [
                name,
                f"{best[name]:,.2f}",
                f"{cpu[name]:,.2f}",
                f"{peak[name] / 2**20:,.0f}",
                ", ".join(map(str, joined[name])),
            ]
            for name in RUNS
        ],
        ["variant", "best wall s", "best CPU s", "peak RSS MiB", "joined rows"],
    )
    if len({frozenset(j) for j in joined.values()}) != 1:
        raise SystemExit(f"the variants joined different rows: {joined}")
    for name in RUNS[:-1]:
        print(
            f"RESULT {name}: speed-up (pandas time / {name}) {best['pandas'] / best[name]:.2f}x wall, "
            f"{cpu['pandas'] / cpu[name]:.2f}x CPU (target >= 5); "
            f"peak memory ({name} / pandas) {peak[name] / peak['pandas']:.2f} (target <= 0.25)"
        )


if __name__ == "__main__":
    main()
