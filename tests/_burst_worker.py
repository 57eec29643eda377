"""A process that measures its exporter's sustained rate, then offers ten times that rate for a while.

``python _burst_worker.py <report.json> <seconds>``; settings come from ``OTEL_MODELDATA_*``.
First it fills the queue as fast as it can and times the exporter
writing it out alone: the sustained rate, in rows per second. Then it calls ``run()`` at ten
times that rate for ``seconds`` (calls of ``ROWS`` rows, each call on a schedule; a call
behind schedule goes at once), flushes, and writes its figures and ``stats()`` as JSON: its
resident memory before the first call (``rss_before``), its peak (``peak``), the rates.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import otel_modeldata

ROWS = 1000  # rows per call, 6 features each: the caller outruns the exporter by far
FACTOR = 10  # the burst offers this many times the sustained rate


@otel_modeldata.collect_io("burst_model", feature_names=[f"f{i}" for i in range(6)], prediction_names=["s"])
def run(data: Any) -> Any:
    return data.sum(axis=1)


def memory(field: str) -> int:
    """``VmRSS`` (resident bytes now) or ``VmHWM`` (the peak) of this process, from Linux.

    Not ``ru_maxrss``: a process started by vfork and exec (as subprocess does) inherits its
    parent's peak there.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise SystemExit(f"no {field} in /proc/self/status")


def written() -> int:
    return int(otel_modeldata.stats()["rows_written"])  # type: ignore[call-overload]


def main(report: Path, seconds: float) -> None:
    handle = otel_modeldata.configure()
    queue_rows = int(os.environ["OTEL_MODELDATA_MAX_QUEUE_ROWS"])
    x = np.random.default_rng(9).random((ROWS, 6))
    before = memory("VmRSS")

    # Sustained rate: what the exporter writes per second on its own, from a full queue.
    for _ in range(queue_rows // (2 * ROWS)):
        run(x)
    start, at_start = time.monotonic(), written()
    assert handle.force_flush(timeout_millis=120_000)
    sustained = (written() - at_start) / (time.monotonic() - start)

    # The burst: calls on a schedule at FACTOR times that rate (2 * ROWS rows per call).
    interval = 2 * ROWS / (FACTOR * sustained)
    accepted_before = int(otel_modeldata.stats()["rows_accepted"])  # type: ignore[call-overload]
    begin = time.monotonic()
    end = begin + seconds
    calls = 0
    while (now := time.monotonic()) < end:
        due = begin + calls * interval
        if due > now:
            time.sleep(due - now)
        run(x)
        calls += 1
    burst = time.monotonic() - begin
    offered = (int(otel_modeldata.stats()["rows_accepted"]) - accepted_before) / burst  # type: ignore[call-overload]
    assert handle.force_flush(timeout_millis=120_000)
    out = {
        "rss_before": before,
        "peak": memory("VmHWM"),
        "sustained": sustained,
        "offered": offered,
        "seconds": burst,
        "stats": otel_modeldata.stats(),
    }
    handle.shutdown()
    report.with_suffix(".tmp").write_text(json.dumps(out))
    report.with_suffix(".tmp").rename(report)


if __name__ == "__main__":
    main(Path(sys.argv[1]), float(sys.argv[2]))
