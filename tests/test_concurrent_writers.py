"""Fault test 8: eight processes appending to the same partitions at full speed, local and Azurite.

Every row a process accepted is in the files once, by (folder, correlation id, row index),
and each file starts with one header and has no other: concurrent creators and appenders
neither lose, repeat nor interleave rows.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from _azurite import Azurite
from outage import row_keys, rows_in, wait_until

from csvfiles import data_files

WORKER = Path(__file__).with_name("_spool_worker.py")
PROCESSES = 8
#: Seconds of load, local and Azurite; issue 9 asks for 20 (``OTEL_MODELDATA_TEST_WRITERS_SECONDS=20``).
#: Shorter by default to keep the suite short: Azurite drains 8 writers' 5 s of rows in about 40 s.
_CHOSEN = os.environ.get("OTEL_MODELDATA_TEST_WRITERS_SECONDS")
LOCAL_SECONDS = float(_CHOSEN or 5)
BLOB_SECONDS = float(_CHOSEN or 2)
HEADER = b"$aml_dc_correlation_id"


def run_writers(folder: Path, seconds: float, destination: dict[str, str]) -> list[dict[str, Any]]:
    """Start the writers, let them go together, and return each one's stats() after its shutdown."""
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_MODELDATA_")},
        "OTEL_MODELDATA_SPOOL_DIR": str(folder / "spool"),
        **destination,
    }
    steps = ["configure", "await:go", f"for:{seconds}", "shutdown"]
    writers = [
        subprocess.Popen([sys.executable, str(WORKER), str(folder), *steps, f"report:w{i}"], env=environment)
        for i in range(PROCESSES)
    ]
    (folder / "go").touch()
    try:
        reports = [json.loads(p.read_text()) for p in wait_for_reports(folder, seconds)]
        assert [w.wait(timeout=60) for w in writers] == [0] * PROCESSES
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
    return reports


def wait_for_reports(folder: Path, seconds: float) -> list[Path]:
    paths = [folder / f"w{i}.json" for i in range(PROCESSES)]
    wait_until(lambda: all(p.exists() for p in paths), 60 + 15 * seconds, "every writer's report")
    return paths


def local_rows(root: Path) -> list[dict[str, str]]:
    """Every data row below ``root`` with its folder; each file must hold exactly one header."""
    found = []
    for path in data_files(root):
        data = path.read_bytes()
        assert HEADER in data.partition(b"\n")[0], f"{path}: no header on the first line"
        assert data.count(HEADER) == 1, f"{path}: a header inside the data"
        for row in csv.DictReader(io.StringIO(data.decode("utf-8"), newline=""), strict=True):
            assert None not in row, f"{path}: a row wider than the header {row!r}"
            assert None not in row.values(), f"{path}: a row narrower than the header {row!r}"
            row["folder"] = str(path.parent)
            found.append(row)
    return found


def check(
    reports: list[dict[str, Any]], keys: Counter[tuple[str, str, str]], where: str, seconds: float
) -> None:
    """Stored = written, and accepted = written + rows the full queue refused (counted, never silent).

    The queue's bound (``OTEL_MODELDATA_MAX_QUEUE_ROWS``) holds memory when callers outrun the
    destination: a 20 s run against Azurite fills it; the default runs do not.
    """
    accepted = sum(r["rows_accepted"] for r in reports)
    written = sum(r["rows_written"] for r in reports)
    refused = sum(r["rows_dropped"].get("queue_full", 0) for r in reports)
    print(
        f"FIGURES {where}: {PROCESSES} processes, {seconds:g} s: {accepted} rows accepted, "
        f"{len(keys)} stored, {refused} refused by a full queue"
    )
    assert [k for k, n in keys.items() if n > 1] == []
    assert len(keys) == written == accepted - refused
    for report in reports:
        assert set(report["rows_dropped"]) <= {"queue_full"}
        assert (report["rows_failed"], report["rows_spooled"], report["rows_unaccounted"]) == (0, 0, 0)


def test_eight_local_writers_on_one_partition_keep_every_row_once(tmp_path: Path) -> None:
    root = tmp_path / "collected"
    reports = run_writers(tmp_path, LOCAL_SECONDS, {"OTEL_MODELDATA_LOCAL_DIR": str(root)})
    check(reports, row_keys(local_rows(root)), "local", LOCAL_SECONDS)


@pytest.mark.azurite
def test_eight_blob_writers_on_one_partition_keep_every_row_once(
    tmp_path: Path, azurite: Azurite, container_name: str
) -> None:
    started = time.monotonic()
    reports = run_writers(
        tmp_path,
        BLOB_SECONDS,
        {
            "OTEL_MODELDATA_STORAGE_CONNECTION_STRING": azurite.connection_string,
            "OTEL_MODELDATA_CONTAINER": container_name,
        },
    )
    print(f"FIGURES blob: writers done in {time.monotonic() - started:.1f} s")
    check(reports, row_keys(rows_in(azurite, container_name)), "Azurite", BLOB_SECONDS)
