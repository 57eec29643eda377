"""A failure writes nothing half and loses nothing uncounted: every row ends written, dropped or failed.

One bad record or one unwritable file costs only its own rows; the rest of the batch is
written. What a user sees is checked: the files read back, and ``stats()``.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import otel_modeldata
from otel_modeldata import ModelDataCollector
from otel_modeldata.destinations import DestinationError, LocalDestination

from csvfiles import LocalStore, Store, partition_dir, read_rows
from gates import WAIT, Gate, hold, written

#: ``str()`` of an int this long raises ValueError (Python's 4,300-digit conversion limit).
HUGE = 10**5000


def test_an_unencodable_cell_drops_only_its_record(store: Store, gate: Gate) -> None:
    handle = store.configure()
    first = ModelDataCollector("first", designation="inputs", feature_names=["x"])
    second = ModelDataCollector("second", designation="inputs", feature_names=["x"])
    hold(handle, gate, first)  # what follows is exported in one batch
    first.collect([[1], [2]])
    first.collect([[HUGE], [3]])
    first.collect([[4]])
    second.collect([[5]])
    gate.opened.set()
    assert handle.force_flush(timeout_millis=int(WAIT * 1000))

    assert written(store, "first") == ["0", "1", "2", "4"]
    assert written(store, "second") == ["5"]
    stats = otel_modeldata.stats()
    assert stats["rows_dropped"] == {"unencodable_value": 2}
    assert stats["rows_written"] == 5
    assert stats["rows_unaccounted"] == 0


def test_an_unwritable_file_fails_only_its_own_rows(local_root: Path, gate: Gate) -> None:
    store = LocalStore(local_root)
    handle = store.configure()
    blocked = ModelDataCollector("blocked", designation="inputs", feature_names=["x"])
    fine = ModelDataCollector("fine", designation="inputs", feature_names=["x"])
    hold(handle, gate, fine)
    (partition_dir(local_root, "blocked", "inputs") / "data.csv").mkdir(parents=True)
    blocked.collect([[1], [2]])
    fine.collect([[3]])
    gate.opened.set()
    assert handle.force_flush(timeout_millis=int(WAIT * 1000))

    assert written(store, "fine") == ["0", "3"]
    stats = otel_modeldata.stats()
    assert stats["rows_failed"] == 2
    assert stats["rows_written"] == 2
    assert stats["rows_unaccounted"] == 0


#: A process that writes rows, then hits a file size limit part way through a payload (as a
#: full disk would), then writes again once there is room; it prints its stats().
_FILE_SIZE_LIMIT_RUN = textwrap.dedent(
    """
    import json, resource, signal, sys
    import otel_modeldata
    from otel_modeldata import ModelDataCollector

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
    handle = otel_modeldata.configure(local_dir=sys.argv[1])
    collector = ModelDataCollector("limited", designation="inputs", feature_names=["x"])
    collector.collect([["before-1"], ["before-2"]])
    assert handle.force_flush()
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    (path,) = __import__("pathlib").Path(sys.argv[1]).rglob("data.csv")
    resource.setrlimit(resource.RLIMIT_FSIZE, (path.stat().st_size + 1000, hard))
    collector.collect([[f"torn {i} " + "x" * 80] for i in range(50)])
    assert handle.force_flush()
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    collector.collect([["after-1"], ["after-2"]])
    assert handle.force_flush()
    print(json.dumps(otel_modeldata.stats()))
    """
)


def test_a_write_cut_short_by_a_file_size_limit_leaves_no_torn_row(local_root: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _FILE_SIZE_LIMIT_RUN, str(local_root)],
        capture_output=True,
        text=True,
        timeout=WAIT * 4,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (path,) = local_root.rglob("data.csv")
    _, rows = read_rows(path)
    assert [r["x"] for r in rows] == ["before-1", "before-2", "after-1", "after-2"]
    stats = json.loads(done.stdout.splitlines()[-1])
    assert stats["rows_written"] == 4
    assert stats["rows_failed"] == 50
    assert stats["rows_unaccounted"] == 0
    assert "File too large" in done.stderr


@pytest.mark.parametrize("how", ["deleted", "moved", "folder_removed", "truncated"])
def test_a_local_file_removed_mid_day_is_created_again_with_its_header(local_root: Path, how: str) -> None:
    """Also a file emptied in place, as logrotate's ``copytruncate`` does: its header comes back."""
    store = LocalStore(local_root)
    handle = store.configure()
    collector = ModelDataCollector("removed", designation="inputs", feature_names=["x"])
    collector.collect([[1]])
    assert handle.force_flush()
    folder = partition_dir(local_root, "removed", "inputs")
    if how == "deleted":
        (folder / "data.csv").unlink()
    elif how == "moved":
        (folder / "data.csv").rename(local_root / "archived.csv")
    elif how == "truncated":
        os.truncate(folder / "data.csv", 0)
    else:
        shutil.rmtree(folder)
    collector.collect([[2]])
    collector.collect([[3]])
    assert handle.force_flush()

    header, rows = read_rows(folder / "data.csv")
    assert header[0] == "x"
    assert (folder / "data.csv").read_bytes().count(b"$aml_dc_correlation_id") == 1
    assert [r["x"] for r in rows] == ["2", "3"]
    stats = otel_modeldata.stats()
    assert stats["rows_failed"] == 0
    assert stats["rows_written"] == 3


def _failing_write(after: int, meanwhile: Callable[[], None] = lambda: None) -> Callable[[int, Any], int]:
    """An ``os.write`` that writes ``after`` bytes, runs ``meanwhile``, then fails as a full disk does."""
    real = os.write
    calls = iter(range(2))

    def write(fd: int, data: Any) -> int:
        if next(calls) == 0:
            return real(fd, bytes(data[:after]))
        meanwhile()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    return write


def _no_flock(fd: int, operation: int) -> None:
    raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))


@pytest.mark.parametrize("locked", [True, False], ids=["flock", "no_flock"])
def test_a_partial_write_is_cut_back_only_when_nothing_followed_it(
    local_root: Path, monkeypatch: pytest.MonkeyPatch, locked: bool
) -> None:
    destination = LocalDestination(local_root)
    destination.append("p", b"h\r\n", b"1\r\n")
    path = local_root / "modeldata" / "p" / "data.csv"
    if not locked:
        monkeypatch.setattr(fcntl, "flock", _no_flock)
    monkeypatch.setattr(os, "write", _failing_write(2))
    with pytest.raises(DestinationError, match="removed"):
        destination.append("p", b"h\r\n", b"22\r\n")
    assert path.read_bytes() == b"h\r\n1\r\n"


def test_without_flock_rows_another_process_appended_are_never_cut(
    local_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    destination = LocalDestination(local_root)
    destination.append("p", b"h\r\n", b"1\r\n")
    path = local_root / "modeldata" / "p" / "data.csv"

    def other_process_appends() -> None:
        with open(path, "ab") as other:
            other.write(b"3\r\n")

    monkeypatch.setattr(fcntl, "flock", _no_flock)
    monkeypatch.setattr(os, "write", _failing_write(2, other_process_appends))
    with pytest.raises(DestinationError, match="not cut"):
        destination.append("p", b"h\r\n", b"22\r\n")
    assert path.read_bytes() == b"h\r\n1\r\n22" + b"3\r\n"
