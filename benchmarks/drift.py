"""Drift check throughput and peak memory, streamed from collected partitions, against scipy and Evidently.

The current data is N rows x 20 numeric features and 3 categorical ones (3, 10 and 50 categories)
over 30 days, written as collected partitions in the collector's exact format (``_partitions``,
shared with ``read_join.py``; ``--data`` keeps them for the next run). ``analysis.drift`` reads
them day by day, as a user would: ``analysis.drift(baseline, {"source": root, "model": ...,
"start": ..., "end": ...})``, so the time includes parsing the CSV files (only the baseline's
columns are converted).

Each size runs in a child process (this file with ``--child``) that loads the baseline JSON and
reports its own peak RSS (``VmHWM``): the figure must not grow with the rows (each day's files
are streamed in blocks, so it stops growing once a file fills pyarrow's read-ahead). The
baseline is 1 million training rows of the unshifted distribution.

Anchors, each in a child on the same distribution held in memory: scipy's exact two-sample tests
on the full arrays (``ks_2samp`` and ``wasserstein_distance`` per numeric feature, ``chisquare`` per
categorical) on ``ANCHOR_ROWS`` reference and current rows; and, with ``--evidently PYTHON`` (an
interpreter whose environment has evidently and pandas < 3, which this project's constraints do not
allow), Evidently's ``DataDriftPreset`` on ``EVIDENTLY_ROWS`` rows. The last line prints the
per-row costs and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

NUMERIC = 20
CATEGORIES = {"cat_a": 3, "cat_b": 10, "cat_c": 50}
MODEL = "drift_model"
BASELINE_ROWS = 1_000_000
ANCHOR_ROWS = 1_000_000
#: Evidently's subsample: about 280 us per row here, so 200,000 rows take about a minute.
EVIDENTLY_ROWS = 200_000
#: Mean shift of f0 in the current data, in standard deviations: below the 0.1 threshold.
SHIFT = 0.05


def chunk(rng: np.random.Generator, rows: int, shift: float) -> pd.DataFrame:
    """Rows of the distribution ``_partitions`` writes: ``f<i>`` normal with scale 1 + i/10."""
    data: dict[str, Any] = {
        f"f{i}": rng.normal(shift if i == 0 else 0.0, 1.0 + i / 10, rows) for i in range(NUMERIC)
    }
    for name, size in CATEGORIES.items():
        labels = np.array([f"{name}_{k}" for k in range(size)], dtype=object)
        data[name] = labels[rng.integers(0, size, rows)]
    return pd.DataFrame(data)


def child(spec: dict[str, Any]) -> None:
    if spec["what"] == "ours":
        from otel_modeldata import analysis

        began = time.perf_counter()
        current = {"source": spec["root"], "model": MODEL, "start": spec["start"], "end": spec["end"]}
        result = analysis.drift(spec["baseline"], current)
        seconds = time.perf_counter() - began
        drifted = result.drifted_features
    elif spec["what"] == "scipy":
        from scipy import stats

        rng = np.random.default_rng(3)
        ref, cur = chunk(rng, spec["rows"], 0.0), chunk(rng, spec["rows"], SHIFT)
        began = time.perf_counter()
        drifted = []
        for i in range(NUMERIC):
            a, b = ref[f"f{i}"].to_numpy(), cur[f"f{i}"].to_numpy()
            stats.ks_2samp(a, b)
            if stats.wasserstein_distance(a, b) / a.std() >= 0.1:
                drifted.append(f"f{i}")
        for name in CATEGORIES:
            expected = ref[name].value_counts()
            observed = cur[name].value_counts().reindex(expected.index, fill_value=0)
            stats.chisquare(observed, expected / expected.sum() * observed.sum())
        seconds = time.perf_counter() - began
    elif spec["what"] == "evidently":
        from evidently import Report
        from evidently.presets import DataDriftPreset

        rng = np.random.default_rng(3)
        ref = chunk(rng, spec["rows"], 0.0)
        cur = chunk(rng, spec["rows"], SHIFT)
        began = time.perf_counter()
        snapshot = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
        seconds = time.perf_counter() - began
        drifted = [str(snapshot.dict()["metrics"][0]["value"])]
    print(json.dumps({"seconds": seconds, "peak_mb": peak_rss_mb(), "drifted": drifted}))


def peak_rss_mb() -> float:
    """This process's peak RSS: ``VmHWM``, which starts afresh at exec, unlike ``ru_maxrss`` (Linux
    keeps the parent's peak across fork and exec, which hid ours under the parent's training data)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(spec: dict[str, Any], python: str = sys.executable) -> dict[str, Any]:
    done = subprocess.run(
        [python, os.path.abspath(__file__), "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"child {spec} exited with {done.returncode}:\n{done.stderr}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def _load() -> str:
    """The load averages (1, 5, 15 minutes), as ``uptime`` shows them."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    import _bench

    def extra(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--rows", type=int, default=10_000_000, help="current rows (default 10 million)")
        parser.add_argument(
            "--evidently", metavar="PYTHON", help="interpreter with evidently, for its anchor"
        )
        parser.add_argument(
            "--data", type=Path, help="keep the generated files in this folder and reuse them when there"
        )

    args = _bench.options(__doc__.splitlines()[0], extra)
    rows = 200_000 if args.quick else args.rows
    anchor_rows = min(ANCHOR_ROWS, rows)
    _bench.header(
        f"drift: {rows:,} current rows x {NUMERIC} numeric + {len(CATEGORIES)} categorical", args.quick
    )
    import _partitions

    from otel_modeldata import analysis

    shape = _partitions.Shape(MODEL, numeric=NUMERIC, categories=CATEGORIES, shift=SHIFT)
    days = {
        "start": _partitions.START.isoformat(),
        "end": (_partitions.START + timedelta(days=shape.days - 1)).isoformat(),
    }
    print(f"   load before: {_load()}")
    with tempfile.TemporaryDirectory() as folder:
        began = time.perf_counter()
        training = chunk(np.random.default_rng(1), min(BASELINE_ROWS, rows), 0.0)
        path = os.path.join(folder, "baseline.json")
        analysis.baseline(training).save(path)
        print(
            f"   baseline of {len(training):,} rows: {time.perf_counter() - began:.1f} s, "
            f"{os.path.getsize(path) / 1024:.0f} KB of JSON"
        )
        del training
        sizes = [rows // 10, rows]
        results = []
        for n in sizes:
            root = (args.data or Path(folder)) / f"rows-{n}"
            _partitions.ensure(root, n, shape)
            results.append(run_child({"what": "ours", "root": str(root), "baseline": path, **days}))
    anchor = run_child({"what": "scipy", "rows": anchor_rows})
    evidently_rows = min(EVIDENTLY_ROWS, rows)
    evidently = (
        run_child({"what": "evidently", "rows": evidently_rows}, args.evidently) if args.evidently else None
    )
    table_rows = [
        [
            f"ours, read day by day, {n:,} rows",
            f"{r['seconds']:.1f}",
            f"{r['seconds'] / n * 1e9:,.0f}",
            f"{r['peak_mb']:.0f}",
        ]
        for n, r in zip(sizes, results, strict=True)
    ]
    table_rows.append(
        [
            f"scipy exact tests, {anchor_rows:,} rows in memory",
            f"{anchor['seconds']:.1f}",
            f"{anchor['seconds'] / anchor_rows * 1e9:,.0f}",
            f"{anchor['peak_mb']:.0f}",
        ]
    )
    if evidently is not None:
        table_rows.append(
            [
                f"Evidently DataDriftPreset, {evidently_rows:,} rows",
                f"{evidently['seconds']:.1f}",
                f"{evidently['seconds'] / evidently_rows * 1e9:,.0f}",
                f"{evidently['peak_mb']:.0f}",
            ]
        )
    _bench.table(table_rows, ["variant", "seconds", "ns per row", "peak RSS MB"])
    print(f"   load after:  {_load()}")
    print(f"   {shape.days} days; drifted (f0 shifted {SHIFT} sd): {results[-1]['drifted']}")
    ratio = results[-1]["peak_mb"] / results[0]["peak_mb"]
    print(f"   peak RSS ratio, {sizes[-1]:,} rows over {sizes[0]:,}: {ratio:.2f}")
    ours = results[-1]["seconds"] / sizes[-1]
    theirs = anchor["seconds"] / anchor_rows
    line = f"RESULT per row: ours {ours * 1e9:,.0f} ns, scipy exact {theirs * 1e9:,.0f} ns"
    ratios = f"scipy/ours {theirs / ours:.1f}x"
    if evidently is not None:
        per_row = evidently["seconds"] / evidently_rows
        line += f", Evidently {per_row * 1e9:,.0f} ns"
        ratios += f", Evidently/ours {per_row / ours:.1f}x"
    print(f"{line}; ratio {ratios}")


if __name__ == "__main__":
    # A child may run under another interpreter (Evidently's), without this project installed.
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(json.loads(sys.argv[2]))
    else:
        main()
