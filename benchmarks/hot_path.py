"""Request-path cost of ``@otel_modeldata.collect_io``: added time per call over the undecorated ``run()``.

Shapes (``run()`` is trivial: it returns a prepared prediction):

  a  one row of 6 floats as a Python list of rows, ``[[f0..f5]]``; prediction ``[p]``
  b  a 1,000 x 20 pandas DataFrame; prediction a 1,000-element numpy array
  c  a JSON string ``{"data": [[...6 floats] x 100]}``; prediction a list of 100 floats
  b/10 and c/10 (100 x 20, 10 x 6) check that the cost is linear in the rows.

Side by side in one run, alternating round by round:

  bare   the undecorated ``run(data)``
  ours   the decorated ``run(data)`` after ``otel_modeldata.configure(local_dir=tmp)``, in an
         application with tracing (a global SDK TracerProvider, no span exporter), so that
         ours records a real span like the floor does
  floor  plain OpenTelemetry doing the least that produces the same two records: a bare
         span (``tracer.start_as_current_span``) around ``run()`` and two ``logger.emit``
         calls (inputs, predictions) with the same bodies and attributes, through a
         BatchLogRecordProcessor with the same (default/env) settings. The floor builds the
         same bodies the most direct way, per call: the list as is (a), ``to_numpy().tolist()``
         and ``reshape(-1, 1).tolist()`` (b), ``json.loads(body)["data"]`` and ``[[p] ...]`` (c).
         Its attribute dicts are prepared once (ours makes ids and dicts per call: that is
         part of what we measure).

Both ``ours`` and ``floor`` export to a discarding LogRecordExporter, so only the request
path is timed: our CSV encoding runs later on the processor's background thread (its CPU
cost is measured by ``export_throughput.py``). Ours makes its log records on that thread
too (``otel_modeldata.handoff``), where the floor makes them in ``run()``; so for shape a
the run also measures CPU per call with everything included: process CPU time over a block
of calls and the flush that follows it (all threads), divided by the calls. Three extra variants for shape a:
``ours+encoding`` with that background encoding running (the destination discards the bytes),
to show the contention, ``ours untraced``, the default set-up of an application without
tracing, where ``@collect_io`` records no span (the global tracer is a no-op), and
``ours sampled out``, a model with ``sample_rate=0``: what a call left out by sampling costs.

Each block of calls starts with an empty queue (untimed flush between blocks). Added time =
the variant's median (or p99) per-call time minus the median of the undecorated call.

``--profile`` profiles shape a's decorated call with pyinstrument instead (if installed).
"""

from __future__ import annotations

import json
import logging
import random
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from typing import Any

import _bench
import numpy as np
import pandas as pd
from opentelemetry import trace
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider

import otel_modeldata
from otel_modeldata import providers, schema

MODEL = "bench_model"
SPAN_NAME = "modeldata.run"
QUEUE_ROWS = 1_000_000


class DiscardingExporter(LogRecordExporter):
    """Takes batches and drops them; optionally keeps them (for the equivalence check)."""

    def __init__(self, keep: bool = False) -> None:
        self.keep = keep
        self.kept: list[ReadableLogRecord] = []

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        if self.keep:
            self.kept.extend(batch)
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


@dataclass
class Shape:
    key: str
    label: str
    rows: int  # input rows per call (each with one prediction row)
    data: Any
    prediction: Any
    inputs_body: Callable[[Any], list[Any]]
    predictions_body: Callable[[Any], list[Any]]
    feature_names: tuple[str, ...] | None
    calls: int  # calls per block
    rounds: int


def make_shapes(quick: bool) -> list[Shape]:
    rng = random.Random(42)
    gen = np.random.default_rng(42)

    def frame(n: int) -> pd.DataFrame:
        return pd.DataFrame(gen.random((n, 20)), columns=[f"f{i}" for i in range(20)])

    def body(n: int) -> str:
        return json.dumps({"data": [[rng.random() for _ in range(6)] for _ in range(n)]})

    def column(values: list[Any]) -> list[Any]:
        return [[v] for v in values]

    def tolist(df: pd.DataFrame) -> list[Any]:
        return df.to_numpy().tolist()

    def col_array(a: np.ndarray) -> list[Any]:
        return a.reshape(-1, 1).tolist()

    def parsed(s: str) -> list[Any]:
        return json.loads(s)["data"]

    def same(rows: list[Any]) -> list[Any]:
        return rows

    names = tuple(f"f{i}" for i in range(20))
    q = 4 if quick else 1
    return [
        Shape(
            "a",
            "1 x 6 list of rows",
            1,
            [[rng.random() for _ in range(6)]],
            [rng.random()],
            same,
            column,
            None,
            2000 // q,
            2 if quick else 30,
        ),
        Shape("b", "1000 x 20 DataFrame", 1000, frame(1000), gen.random(1000), tolist, col_array, names,
              100 // q, 2 if quick else 20),
        Shape("b/10", "100 x 20 DataFrame", 100, frame(100), gen.random(100), tolist, col_array, names,
              300 // q, 2 if quick else 20),
        Shape("c", "100 x 6 JSON string", 100, body(100), [rng.random() for _ in range(100)], parsed, column,
              None, 300 // q, 2 if quick else 20),
        Shape("c/10", "10 x 6 JSON string", 10, body(10), [rng.random() for _ in range(10)], parsed, column,
              None, 1000 // q, 2 if quick else 20),
    ]  # fmt: skip


def make_run(prediction: Any) -> Callable[[Any], Any]:
    def run(data: Any) -> Any:
        return prediction

    return run


class Floor:
    """Plain OpenTelemetry: own providers, the same BLRP settings, a discarding exporter."""

    def __init__(self) -> None:
        resource = Resource.create({SERVICE_NAME: "default"})
        self.exporter = DiscardingExporter()
        self.provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
        self.provider.add_log_record_processor(BatchLogRecordProcessor(self.exporter))
        self.logger = self.provider.get_logger("otel_modeldata")
        self.tracer = TracerProvider(resource=resource, shutdown_on_exit=False).get_tracer("otel_modeldata")

    def wrap(self, shape: Shape, run: Callable[[Any], Any]) -> Callable[[Any], Any]:
        cid = "0b7e1c2a-4f5d-4a7e-9c3b-8d2f6e1a5b4c"
        common = {
            schema.MODEL_NAME: MODEL,
            schema.MODEL_VERSION: "1",
            schema.CORRELATION_ID: cid,
            schema.REQUEST_ID: cid,
            schema.ROW_COUNT: shape.rows,
        }
        in_attrs: dict[str, Any] = {schema.DESIGNATION: schema.INPUTS, **common}
        if shape.feature_names:
            in_attrs[schema.FEATURE_NAMES] = shape.feature_names
        out_attrs = {schema.DESIGNATION: schema.PREDICTIONS, **common}
        tracer, emit, event = self.tracer, self.logger.emit, schema.EVENT_NAME
        to_inputs, to_predictions = shape.inputs_body, shape.predictions_body
        now = time.time_ns

        def floor(data: Any) -> Any:
            with tracer.start_as_current_span(SPAN_NAME):
                emit(timestamp=now(), body=to_inputs(data), attributes=in_attrs, event_name=event)
                result = run(data)
                emit(timestamp=now(), body=to_predictions(result), attributes=out_attrs, event_name=event)
                return result

        return floor


def check_same_records(
    shape: Shape, ours: Callable[[Any], Any], floor: Callable[[Any], Any], env: Env
) -> None:
    """Both sides must emit the same two records (bodies, attribute names, row counts, trace ids set)."""
    captured = []
    for provider, processor, fn in (
        (env.handle.logger_provider, env.ours_processor, ours),
        (env.floor.provider, env.floor_processor, floor),
    ):
        keeper = DiscardingExporter(keep=True)
        previous, processor._exporter = processor._exporter, keeper
        fn(shape.data)
        provider.force_flush()
        processor._exporter = previous
        captured.append([r.log_record for r in keeper.kept])
    mine, theirs = captured
    assert len(mine) == len(theirs) == 2, (len(mine), len(theirs))
    for a, b in zip(mine, theirs, strict=True):
        assert a.body == b.body, f"{shape.key}: bodies differ"
        assert a.event_name == b.event_name
        assert set(a.attributes or {}) == set(b.attributes or {}), (dict(a.attributes), dict(b.attributes))
        for key in (schema.DESIGNATION, schema.ROW_COUNT, schema.FEATURE_NAMES, schema.MODEL_NAME):
            assert (a.attributes or {}).get(key) == (b.attributes or {}).get(key), key
        assert all((a.trace_id, b.trace_id, a.span_id, b.span_id)), f"{shape.key}: a record has no span"


@dataclass
class Env:
    handle: otel_modeldata.ModelDataHandle
    ours_processor: Any
    floor: Floor
    floor_processor: Any
    discard: DiscardingExporter


def setup(tmp: str) -> Env:
    logging.getLogger("otel_modeldata").setLevel(logging.ERROR)
    # The application has tracing: @collect_io then records a span, as the floor does.
    trace.set_tracer_provider(TracerProvider(shutdown_on_exit=False))
    # A block of shape b queues 200,000 rows before its flush: above the default bound of
    # 100,000, where refused calls would be timed as cheap ones. main() checks nothing was dropped.
    handle = otel_modeldata.configure(local_dir=tmp, max_queue_rows=QUEUE_ROWS)
    assert handle.logger_provider is not None
    assert handle.exporter is not None
    handle.exporter._destination = _bench.DiscardingDestination()
    ours_processor = _bench.handoff(handle.logger_provider)
    floor = Floor()
    discard = DiscardingExporter()
    ours_processor._exporter = discard
    return Env(handle, ours_processor, floor, _bench.batch_processor(floor.provider), discard)


@contextmanager
def untraced() -> Iterator[None]:
    """The default set-up of an application without tracing: ``@collect_io`` records no span."""
    traced = providers._runtime
    assert traced is not None
    providers._runtime = replace(traced, tracer=trace.NoOpTracer())
    try:
        yield
    finally:
        providers._runtime = traced


def measure(shape: Shape, env: Env, with_encoding: bool) -> dict[str, list[int]]:
    run = make_run(shape.prediction)
    ours = otel_modeldata.collect_io(MODEL)(make_run(shape.prediction))
    floor = env.floor.wrap(shape, make_run(shape.prediction))
    check_same_records(shape, ours, floor, env)
    assert env.handle.exporter is not None
    real_exporter = env.handle.exporter

    def ours_block() -> list[int]:
        env.ours_processor._exporter = env.discard
        return _bench.time_calls(ours, shape.data, shape.calls)

    def ours_encoding_block() -> list[int]:
        env.ours_processor._exporter = real_exporter
        return _bench.time_calls(ours, shape.data, shape.calls)

    def ours_untraced_block() -> list[int]:
        with untraced():
            return _bench.time_calls(ours, shape.data, shape.calls)

    sampled_out = otel_modeldata.collect_io(MODEL, sample_rate=0.0)(make_run(shape.prediction))

    variants: dict[str, Callable[[], list[int]]] = {
        "bare": lambda: _bench.time_calls(run, shape.data, shape.calls),
        "ours": ours_block,
        "floor": lambda: _bench.time_calls(floor, shape.data, shape.calls),
    }
    if with_encoding:
        variants["ours+encoding"] = ours_encoding_block
        variants["ours untraced"] = ours_untraced_block
        variants["ours sampled out"] = lambda: _bench.time_calls(sampled_out, shape.data, shape.calls)

    def between(name: str) -> None:
        env.handle.force_flush()
        env.floor.provider.force_flush()
        env.ours_processor._exporter = env.discard

    # warm-up round, not kept
    for block in variants.values():
        block()
        between("")
    return _bench.interleave(variants, shape.rounds, between)


def measure_cpu(shape: Shape, env: Env) -> dict[str, list[int]]:
    """Process CPU nanoseconds per call over a block plus its flush: work on every thread included."""
    run = make_run(shape.prediction)
    ours = otel_modeldata.collect_io(MODEL)(make_run(shape.prediction))
    floor = env.floor.wrap(shape, make_run(shape.prediction))

    def block(fn: Callable[[Any], Any], traced: bool = True) -> Callable[[], list[int]]:
        def timed() -> list[int]:
            with nullcontext() if traced else untraced():
                start = time.process_time_ns()
                for _ in range(shape.calls):
                    fn(shape.data)
                env.handle.force_flush()
                env.floor.provider.force_flush()
                return [(time.process_time_ns() - start) // shape.calls]

        return timed

    variants = {
        "bare": block(run),
        "ours": block(ours),
        "ours untraced": block(ours, traced=False),
        "floor": block(floor),
    }
    for timed in variants.values():
        timed()
    return _bench.interleave(variants, shape.rounds)


def profile(env: Env, quick: bool) -> None:
    """Profile shape a's decorated call: pyinstrument's call tree, then the top functions."""
    shape = make_shapes(quick)[0]
    ours = otel_modeldata.collect_io(MODEL)(make_run(shape.prediction))
    for _ in range(2000):
        ours(shape.data)
    env.handle.force_flush()
    _bench.profile(
        lambda: ours(shape.data),
        5_000 if quick else 60_000,
        root=("wrapper", "collect.py"),
        what="the decorated call, shape a",
    )


def main() -> None:
    args = _bench.options(__doc__.splitlines()[0], lambda p: p.add_argument("--profile", action="store_true"))
    _bench.header("hot_path: request-path cost of @collect_io", args.quick)
    with tempfile.TemporaryDirectory(prefix="bench-hot-") as tmp:
        env = setup(tmp)
        if args.profile:
            profile(env, args.quick)
            return
        results: dict[str, dict[str, _bench.Summary]] = {}
        started = time.perf_counter()
        for shape in make_shapes(args.quick):
            samples = measure(shape, env, with_encoding=shape.key == "a")
            results[shape.key] = {name: _bench.Summary.of(s) for name, s in samples.items()}
        cpu = {name: _bench.Summary.of(s) for name, s in measure_cpu(make_shapes(args.quick)[0], env).items()}
        elapsed = time.perf_counter() - started
        env.handle.shutdown()
    dropped = otel_modeldata.stats()["rows_dropped"]
    if dropped:
        raise SystemExit(f"rows were dropped during the measurement, figures invalid: {dropped}")
    report(results, cpu, make_shapes(args.quick), elapsed)


def report(
    results: dict[str, dict[str, _bench.Summary]],
    cpu: dict[str, _bench.Summary],
    shapes: list[Shape],
    elapsed: float,
) -> None:
    def added(s: dict[str, _bench.Summary], name: str, stat: str) -> float:
        return float(getattr(s[name], stat)) - s["bare"].median

    print()
    print("Per-call time, microseconds. 'added' = variant minus the undecorated call's median.")
    rows = []
    for shape in shapes:
        s = results[shape.key]
        rows.append(
            [
                f"{shape.key}  {shape.label}",
                s["ours"].n,
                _bench.us(s["bare"].median),
                _bench.us(added(s, "ours", "median")),
                _bench.us(added(s, "ours", "p99")),
                _bench.us(added(s, "floor", "median")),
                _bench.us(added(s, "floor", "p99")),
            ]
        )
    _bench.table(
        rows,
        ["shape", "calls", "bare med", "ours +med", "ours +p99", "floor +med", "floor +p99"],
    )
    enc = results["a"].get("ours+encoding")
    if enc is not None:
        print()
        print(
            "Shape a with our CSV encoding running on the background thread (destination discards): "
            f"added median {_bench.us(enc.median - results['a']['bare'].median)} us, "
            f"p99 {_bench.us(enc.p99 - results['a']['bare'].median)} us "
            "(GIL contention with the exporter thread; not in the ratios below)"
        )
    untraced = results["a"].get("ours untraced")
    if untraced is not None:
        print(
            "Shape a in an application without tracing (the default: no span is recorded): "
            f"added median {_bench.us(untraced.median - results['a']['bare'].median)} us, "
            f"p99 {_bench.us(untraced.p99 - results['a']['bare'].median)} us"
        )
    sampled_out = results["a"].get("ours sampled out")
    if sampled_out is not None:
        print(
            "Shape a sampled out (sample_rate=0: no span, no conversion, one call counted): "
            f"added median {_bench.us(sampled_out.median - results['a']['bare'].median)} us, "
            f"p99 {_bench.us(sampled_out.p99 - results['a']['bare'].median)} us"
        )
    print()
    print("Linearity (added median per input row, each input row with one prediction row):")
    for big, small in (("b", "b/10"), ("c", "c/10")):
        sb, ss = results[big], results[small]
        nb = next(s.rows for s in shapes if s.key == big)
        ns = next(s.rows for s in shapes if s.key == small)
        for who in ("ours", "floor"):
            ab, as_ = added(sb, who, "median"), added(ss, who, "median")
            marginal = (ab - as_) / (nb - ns)
            print(
                f"  {big:<4} {who:<5}  {ns:>4} rows: {_bench.us(as_ / ns)} us/row   {nb:>4} rows: "
                f"{_bench.us(ab / nb)} us/row   marginal {_bench.us(marginal)} us/row, "
                f"fixed {_bench.us(as_ - marginal * ns)} us/call"
            )
    print()
    print(
        "Shape a, CPU per call on all threads (block of calls + its flush; median of "
        f"{cpu['bare'].n} blocks), minus the undecorated call:"
    )
    base = cpu["bare"].median
    for name in ("ours", "ours untraced", "floor"):
        print(f"  {name:<14} +{_bench.us(cpu[name].median - base)} us")
    print()
    print(f"(measured in {elapsed:.0f} s)")
    print("RESULT hot_path  ratio = ours added / floor added (median; p99 in brackets); ours added median")
    for shape in shapes:
        s = results[shape.key]
        ratio = added(s, "ours", "median") / added(s, "floor", "median")
        ratio99 = added(s, "ours", "p99") / added(s, "floor", "p99")
        print(
            f"  {shape.key:<5} {shape.label:<22} ratio {ratio:5.2f}  [{ratio99:5.2f}]   "
            f"ours +{_bench.us(added(s, 'ours', 'median'))} us/call"
        )
    a = results["a"]
    if "ours untraced" in a:
        ratio = added(a, "ours untraced", "median") / added(a, "floor", "median")
        ratio99 = added(a, "ours untraced", "p99") / added(a, "floor", "p99")
        print(
            f"  a     without tracing        ratio {ratio:5.2f}  [{ratio99:5.2f}]   "
            f"ours +{_bench.us(added(a, 'ours untraced', 'median'))} us/call  (no span; the floor has one)"
        )
    cpu_ours, cpu_floor = cpu["ours"].median - base, cpu["floor"].median - base
    print(
        f"  a     CPU per call, all threads  ratio {cpu_ours / cpu_floor:5.2f}          "
        f"ours +{_bench.us(cpu_ours)} us/call, floor +{_bench.us(cpu_floor)} us/call"
    )


if __name__ == "__main__":
    main()
