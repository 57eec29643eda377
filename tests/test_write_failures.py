"""A failure writes nothing half and loses nothing uncounted: every row ends written, dropped or failed.

One bad record or one unwritable file costs only its own rows; the rest of the batch is
written. What a user sees is checked: the files read back, and ``stats()``.
"""

from __future__ import annotations

from pathlib import Path

import otel_modeldata
from otel_modeldata import ModelDataCollector

from csvfiles import LocalStore, Store, partition_dir
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
