"""Fault test 10: a burst at ten times the exporter's sustained rate, memory bounded, drops counted.

A process (``_burst_worker.py``) measures how many rows per second its exporter writes on its
own, then calls ``run()`` at ten times that rate. The queue's bound in rows
(``OTEL_MODELDATA_MAX_QUEUE_ROWS``) must hold its memory, and every row refused for it must be
counted as ``queue_full``: rows accepted = rows read back from the files + rows refused.
The factor actually reached is printed (``-s``): a caller shares the GIL with the exporting thread.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from outage import row_keys

from csvfiles import data_files, read_rows

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")

WORKER = Path(__file__).with_name("_burst_worker.py")
#: Seconds of burst; issue 9 asks for 20 (``OTEL_MODELDATA_TEST_BURST_SECONDS=20``), 4 keeps the suite short.
SECONDS = float(os.environ.get("OTEL_MODELDATA_TEST_BURST_SECONDS") or 4)
QUEUE_ROWS = 20_000
#: The stated bound: resident memory grows by at most 2 KB per row the queue may hold, 40 MB here
#: (the README's figure is about 0.9 KB per queued row of 6 floats).
BYTES_PER_QUEUED_ROW = 2048


def test_a_burst_at_ten_times_the_sustained_rate_keeps_memory_bounded_and_counts_every_drop(
    tmp_path: Path,
) -> None:
    root = tmp_path / "out"
    report = tmp_path / "burst.json"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    environment.update(
        OTEL_MODELDATA_LOCAL_DIR=str(root),
        OTEL_MODELDATA_MAX_QUEUE_ROWS=str(QUEUE_ROWS),
        OTEL_MODELDATA_SPOOL_DIR="",
    )
    done = subprocess.run(
        [sys.executable, str(WORKER), str(report), str(SECONDS)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120 + 5 * SECONDS,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(report.read_text())
    stats = out["stats"]

    rows = []
    for path in data_files(root):
        for row in read_rows(path)[1]:
            row["folder"] = str(path.parent)
            rows.append(row)
    keys = row_keys(rows)
    refused = stats["rows_dropped"].get("queue_full", 0)
    increase = out["peak"] - out["rss_before"]
    bound = BYTES_PER_QUEUED_ROW * QUEUE_ROWS
    print(
        f"FIGURES burst {out['seconds']:.1f} s: exporter alone {out['sustained']:,.0f} rows/s, offered "
        f"{out['offered']:,.0f} rows/s ({out['offered'] / out['sustained']:.1f} x); accepted "
        f"{stats['rows_accepted']:,}, read back {len(keys):,}, queue_full {refused:,}; peak RSS "
        f"+{increase / 1e6:.1f} MB over {out['rss_before'] / 1e6:.1f} MB (bound {bound / 1e6:.0f} MB "
        f"for {QUEUE_ROWS:,} queued rows)"
    )
    # Paced at ten times; one caller sharing the GIL (and two busy cores) with the exporter may fall
    # short of that, so the test asks for four: the queue overflows either way.
    assert out["offered"] >= 4 * out["sustained"], "the burst did not outrun the exporter"
    assert refused > 0, "the queue never filled: the test proves nothing"
    assert increase <= bound
    assert [k for k, n in keys.items() if n > 1] == []
    assert len(keys) == stats["rows_written"] == stats["rows_accepted"] - refused
    assert set(stats["rows_dropped"]) == {"queue_full"}
    assert (stats["rows_failed"], stats["rows_unaccounted"], stats["rows_spooled"]) == (0, 0, 0)
