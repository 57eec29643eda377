"""Shared helpers for the benchmarks: options, percentiles, interleaved timing and output.

Every benchmark measures its variants side by side in one process run, alternating the
variants round by round (and rotating which goes first) so that drift in machine speed
lands on all of them alike. Times come from ``time.perf_counter_ns``.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import opentelemetry.sdk.version

from otel_modeldata.destinations import Destination


def options(
    description: str, extra: Callable[[argparse.ArgumentParser], None] | None = None
) -> argparse.Namespace:
    """The command line every benchmark shares: ``--quick`` for a smoke run of a few seconds."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="smoke run of a few seconds (figures are rough)")
    if extra is not None:
        extra(parser)
    return parser.parse_args()


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``samples``, nearest rank on the sorted values."""
    ordered = sorted(samples)
    if not ordered:
        return math.nan
    rank = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return float(ordered[rank])


@dataclass(frozen=True)
class Summary:
    """Median and p99 of a list of samples (nanoseconds, or whatever was measured)."""

    n: int
    median: float
    p99: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Summary:
        return cls(len(samples), percentile(samples, 0.5), percentile(samples, 0.99))


def interleave(
    variants: dict[str, Callable[[], list[int]]],
    rounds: int,
    between: Callable[[str], None] | None = None,
) -> dict[str, list[int]]:
    """Run each variant's block once per round, rotating the order; concatenate their samples.

    ``between(name)`` runs untimed after each block (flushes, clean-up); a full garbage
    collection also runs there so one variant's garbage is not collected in another's block.
    """
    names = list(variants)
    samples: dict[str, list[int]] = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].extend(variants[name]())
            if between is not None:
                between(name)
            gc.collect()
    return samples


def time_calls(fn: Callable[[Any], Any], arg: Any, calls: int) -> list[int]:
    """Per-call wall time in nanoseconds of ``fn(arg)``, ``calls`` times."""
    out = [0] * calls
    clock = time.perf_counter_ns
    for i in range(calls):
        start = clock()
        fn(arg)
        out[i] = clock() - start
    return out


def machine() -> str:
    """One line describing where the figures were taken."""
    return (
        f"python {platform.python_version()}, opentelemetry-sdk {opentelemetry.sdk.version.__version__}, "
        f"{os.cpu_count()} CPUs, {platform.machine()}, {platform.system()} {platform.release()}"
    )


def header(title: str, quick: bool) -> None:
    print(f"== {title}{'  (--quick: smoke run, figures are rough)' if quick else ''}")
    print(f"   {machine()}")
    sys.stdout.flush()


def us(ns: float) -> str:
    """Nanoseconds as microseconds with a sensible number of digits."""
    value = ns / 1000
    return f"{value:,.1f}" if abs(value) >= 100 else f"{value:,.2f}"


def rate(value: float) -> str:
    return f"{value:,.0f}"


def timing_cells(s: Summary, rows: int) -> list[object]:
    """Table cells for per-batch times: count, median and p99 (us), rows per second at the median."""
    return [s.n, us(s.median), us(s.p99), rate(rows / (s.median / 1e9))]


def table(rows: Sequence[Sequence[object]], headers: Sequence[str]) -> None:
    """A plain aligned text table (first column left-aligned, the rest right-aligned)."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        line = "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        print("  " + line.rstrip())
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))
    sys.stdout.flush()


def make_records(bodies: Sequence[list[Any]], feature_names: Sequence[str] | None, model: str) -> list[Any]:
    """``ReadableLogRecord``s as ``@collect_io`` makes them: one ``inputs`` record per body.

    Each record gets its own span (trace and span ids), correlation id and timestamp, the
    attributes of :mod:`otel_modeldata.schema`, and goes through a BatchLogRecordProcessor
    (which copies it into the ``ReadableLogRecord`` an exporter receives).
    """
    import uuid

    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, InMemoryLogRecordExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider

    from otel_modeldata import schema

    resource = Resource.create({SERVICE_NAME: "default"})
    memory = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    provider.add_log_record_processor(BatchLogRecordProcessor(memory, max_queue_size=max(len(bodies), 512)))
    logger = provider.get_logger("otel_modeldata")
    tracer = TracerProvider(resource=resource, shutdown_on_exit=False).get_tracer("otel_modeldata")
    for rows in bodies:
        with tracer.start_as_current_span("modeldata.run"):
            cid = str(uuid.uuid4())
            attributes: dict[str, Any] = {
                schema.DESIGNATION: schema.INPUTS,
                schema.MODEL_NAME: model,
                schema.MODEL_VERSION: "1",
                schema.CORRELATION_ID: cid,
                schema.REQUEST_ID: cid,
                schema.ROW_COUNT: len(rows),
            }
            if feature_names:
                attributes[schema.FEATURE_NAMES] = tuple(feature_names)
            logger.emit(
                timestamp=time.time_ns(), body=rows, attributes=attributes, event_name=schema.EVENT_NAME
            )
    provider.force_flush()
    records = list(memory.get_finished_logs())
    provider.shutdown()
    if len(records) != len(bodies):
        raise SystemExit(f"built {len(records)} records for {len(bodies)} bodies")
    return records


def export_batches(model: str) -> list[dict[str, Any]]:
    """The two batch shapes the exporter benchmarks share: ready lists of ``ReadableLogRecord``s.

      a  4 batches of 512 ``inputs`` records of 1 row x 6 floats (no feature names)
      b  2 batches of 8 ``inputs`` records of 1,000 rows x 20 floats (names ``f0..f19``)

    Each shape is a dict with ``key``, ``label``, ``names`` (the CSV's feature columns) and
    ``batches``; every batch goes to one partition file. Seeded, so every run builds the same rows.
    """
    import random

    import numpy as np

    rng = random.Random(7)
    gen = np.random.default_rng(7)
    a_batches = [
        make_records([[[rng.random() for _ in range(6)]] for _ in range(512)], None, model) for _ in range(4)
    ]
    names = [f"f{i}" for i in range(20)]
    b_batches = [
        make_records([gen.random((1000, 20)).tolist() for _ in range(8)], names, model) for _ in range(2)
    ]
    return [
        {
            "key": "a",
            "label": "512 records x 1 x 6",
            "batches": a_batches,
            "names": [f"feature_{i}" for i in range(6)],
        },
        {"key": "b", "label": "8 records x 1000 x 20", "batches": b_batches, "names": names},
    ]


class DiscardingDestination(Destination):
    """A destination whose primitives do nothing: the exporter encodes, the bytes go nowhere."""

    def _create(self, path: str, header: bytes) -> bool:
        return True

    def _read_header(self, path: str, size: int) -> bytes:
        return b""

    def _append(self, path: str, payload: bytes) -> None:
        pass

    def describe(self) -> str:
        return "discarding destination"


def handoff(provider: Any) -> Any:
    """The :class:`otel_modeldata.handoff.Handoff` on ``provider``: its queue and its exporter.

    Reaches into the SDK's ``_multi_log_record_processor`` to find it; fails loudly if the
    SDK's structure changed.
    """
    from otel_modeldata.handoff import Handoff

    processors = provider._multi_log_record_processor._log_record_processors
    found = [p for p in processors if isinstance(p, Handoff)]
    if len(found) != 1:
        raise SystemExit(f"expected one Handoff on the provider, found {processors!r}")
    return found[0]


def batch_processor(provider: Any) -> Any:
    """The SDK ``BatchProcessor`` inside ``provider``'s only BatchLogRecordProcessor.

    Reaches into SDK internals (``_multi_log_record_processor``, ``_batch_processor``) to swap
    its exporter or read its queue length; fails loudly if the SDK's structure changed.
    """
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    processors = provider._multi_log_record_processor._log_record_processors
    found = [p for p in processors if isinstance(p, BatchLogRecordProcessor)]
    if len(found) != 1:
        raise SystemExit(f"expected one BatchLogRecordProcessor on the provider, found {processors!r}")
    batch = found[0]._batch_processor
    if not hasattr(batch, "_exporter") or not hasattr(batch, "_queue"):
        raise SystemExit(
            "the SDK's BatchProcessor has no _exporter/_queue any more; update benchmarks/_bench.py"
        )
    return batch


def profile(call: Callable[[], Any], calls: int, root: tuple[str, str], what: str) -> None:
    """Run ``call()`` ``calls`` times under pyinstrument; print its call tree and top functions.

    Percentages are of the time inside the frames named ``root`` (function, file name part).
    """
    try:
        from pyinstrument import Profiler
    except ImportError:
        raise SystemExit("--profile needs pyinstrument: .venv/bin/pip install pyinstrument==5.1.3") from None
    profiler = Profiler(interval=0.001)
    profiler.start()
    for _ in range(calls):
        call()
    profiler.stop()
    print(profiler.output_text(unicode=False, color=False, show_all=False, short_mode=False))
    session = profiler.last_session
    top = session.root_frame() if session is not None else None
    if top is None:
        return
    roots = [f for f in _frames(top) if f.function == root[0] and root[1] in (f.file_path or "")]
    total = sum(f.time for f in roots)
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frame in roots:
        _tally(frame, own, inclusive, ())
    for title, counts in (("self time", own), ("inclusive time", inclusive)):
        print(f"Top functions by {title}, % of {what} ({calls:,} calls):")
        for key, seconds in counts.most_common(15):
            print(f"  {100 * seconds / total:5.1f}%  {key}")
        print()


def _frames(frame: Any) -> list[Any]:
    out = [frame]
    for child in frame.children:
        out.extend(_frames(child))
    return out


def _tally(frame: Any, own: Counter[str], inclusive: Counter[str], stack: tuple[str, ...]) -> None:
    if frame.is_synthetic:
        return
    key = f"{frame.function}  {frame.file_path_short}:{frame.line_no}"
    own[key] += frame.total_self_time
    if key not in stack:
        inclusive[key] += frame.time
    for child in frame.children:
        _tally(child, own, inclusive, (*stack, key))
