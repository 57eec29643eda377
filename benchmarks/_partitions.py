"""Collected partitions for the analysis benchmarks, written in the collector's exact format.

Not through the collector (10 million rows through ``run()`` would take most of an hour), but
with its own pieces: ``csvfmt.RowWriter`` rows and ``header_line`` under
``layout.partition_folder``, named by ``layout.file_name``. Each day is written by a process of
its own, seeded by its number, in calls of :data:`CALL_ROWS` rows alternating between two parts
(``data.csv`` and ``data_1.csv``), with one prediction per row.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

CALL_ROWS = 50
START = date(2026, 10, 1)


@dataclass(frozen=True)
class Shape:
    """What a day holds: ``numeric`` normal features (``f0``..., scale growing with the index, the
    first shifted by ``shift`` standard deviations) and categorical ones (name: categories)."""

    model: str
    numeric: int = 20
    categories: dict[str, int] = field(default_factory=dict)
    shift: float = 0.0
    days: int = 30

    @property
    def features(self) -> list[str]:
        return [f"f{i}" for i in range(self.numeric)] + list(self.categories)


def write_day(root: str, shape: Shape, day_number: int, rows: int) -> int:
    """One day of inputs and predictions; returns the bytes written."""
    import numpy as np

    from otel_modeldata.csvfmt import RowContext, RowWriter, header_line
    from otel_modeldata.layout import Identity, file_name, partition_folder

    day = START + timedelta(days=day_number)
    rng = np.random.default_rng(day_number)
    scale = 1.0 + np.arange(shape.numeric) / 10
    numbers = (rng.normal(size=(rows, shape.numeric)) * scale).round(4)
    numbers[:, :1] += shape.shift
    columns: list[np.ndarray] = [numbers.astype(object)]
    for name, size in shape.categories.items():
        labels = np.array([f"{name}_{k}" for k in range(size)], dtype=object)
        columns.append(labels[rng.integers(0, size, rows)][:, None])
    table = np.hstack(columns)
    scores = numbers.sum(axis=1).round(4)
    stamp = f"{day.isoformat()}T12:00:00.000000Z"
    writers = {name: [RowWriter(), RowWriter()] for name in ("inputs", "predictions")}
    width = len(shape.features)
    for call, first in enumerate(range(0, rows, CALL_ROWS)):
        cid = str(uuid.UUID(int=day_number << 64 | call))
        ctx = RowContext(cid, stamp, "sub/rg/ws", "svc", shape.model, "1", cid, "", "")
        part = call % 2
        writers["inputs"][part].write(table[first : first + CALL_ROWS].tolist(), width, ctx)
        writers["predictions"][part].write([[s] for s in scores[first : first + CALL_ROWS].tolist()], 1, ctx)
    written = 0
    for designation, parts in writers.items():
        names = shape.features if designation == "inputs" else ["score"]
        folder = Path(root, "modeldata", partition_folder(Identity(), shape.model, "1", designation, day))
        folder.mkdir(parents=True, exist_ok=True)
        for part, writer in enumerate(parts):
            data = header_line(names) + writer.payload()
            (folder / file_name(None, part)).write_bytes(data)
            written += len(data)
    return written


def generate(root: Path, rows: int, shape: Shape) -> int:
    """Write ``rows`` input rows over ``shape.days`` days, the days in parallel; the total bytes."""
    per_day = rows // shape.days
    days = range(shape.days)
    with ProcessPoolExecutor() as pool:
        return sum(
            pool.map(write_day, [str(root)] * len(days), [shape] * len(days), days, [per_day] * len(days))
        )


def ensure(root: Path, rows: int, shape: Shape) -> None:
    """Write the partitions into ``root`` unless a previous run left them there (a marker says so)."""
    import time

    marker = root / f".{shape.model}-{rows}-{shape.numeric}-{len(shape.categories)}-{shape.shift}"
    if marker.exists():
        print(f"   reusing the files in {root}")
        return
    started = time.perf_counter()
    size = generate(root, rows, shape)
    print(f"   generated {size / 2**20:,.0f} MiB of CSV in {time.perf_counter() - started:,.1f} s")
    marker.touch()
