"""The span around run() and the trace ids in the rows, with and without the application's tracing.

Without Application Insights, ``configure()`` makes no tracer provider of its own: the span is
made by the application's global provider, so it is exported with the application's spans,
and rows carry its ids. A global provider can be set once per process, so that case runs in
a child process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import TracerProvider

import otel_modeldata
from otel_modeldata import schema

from csvfiles import IDENTITY, IDENTITY_KEYS, partition_dir, read_rows

#: An application with its own tracing (a global provider) and a decorated run().
TRACED_APP = """
import json
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
import otel_modeldata

spans = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(spans))
trace.set_tracer_provider(provider)
handle = otel_modeldata.configure()

@otel_modeldata.collect_io("traced_model")
def run(data):
    return [sum(row) for row in data]

for i in range(3):
    with trace.get_tracer("app").start_as_current_span("app.request"):
        run([[i, i + 1]])
handle.shutdown()
print(json.dumps([
    {
        "name": s.name,
        "trace_id": format(s.context.trace_id, "032x"),
        "span_id": format(s.context.span_id, "016x"),
        "parent": format(s.parent.span_id, "016x") if s.parent else "",
        "attributes": dict(s.attributes),
    }
    for s in spans.get_finished_spans()
]))
"""

#: The same application, whose run() fails once (sync) and once (async).
FAILING_APP = """
import asyncio, json
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
import otel_modeldata

spans = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(spans))
trace.set_tracer_provider(provider)
handle = otel_modeldata.configure()

@otel_modeldata.collect_io("failing_model")
def run(data):
    raise ValueError("no score for " + str(data))

@otel_modeldata.collect_io("failing_model")
async def arun(data):
    raise KeyError("missing")

with trace.get_tracer("app").start_as_current_span("app.request"):
    try:
        run([[1, 2]])
    except ValueError:
        pass
    try:
        asyncio.run(arun([[3, 4]]))
    except KeyError:
        pass
    current = trace.get_current_span().get_span_context().span_id
handle.shutdown()
print(json.dumps({
    "current_after": format(current, "016x"),
    "spans": [
        {
            "name": s.name,
            "span_id": format(s.context.span_id, "016x"),
            "parent": format(s.parent.span_id, "016x") if s.parent else "",
            "ended": s.end_time is not None,
            "status": s.status.status_code.name,
            "description": s.status.description,
            "events": [(e.name, e.attributes.get("exception.type")) for e in s.events],
        }
        for s in spans.get_finished_spans()
    ],
}))
"""


def _run_app(app: str, local_dir: Path) -> Any:
    """Run ``app`` in a child process (a global tracer provider can be set once); its last line, as JSON."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["OTEL_MODELDATA_LOCAL_DIR"] = str(local_dir)
    env.update({f"OTEL_MODELDATA_{k.upper()}": v for k, v in zip(IDENTITY_KEYS, IDENTITY, strict=True)})
    done = subprocess.run(
        [sys.executable, "-c", app],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_rows_carry_the_ids_of_the_current_span(
    collector: otel_modeldata.ModelDataHandle, local_root: Path
) -> None:
    @otel_modeldata.collect_io("spanned_model")
    def run(data: list[list[int]]) -> list[int]:
        return [sum(row) for row in data]

    with TracerProvider().get_tracer("app").start_as_current_span("app.request") as request:
        run([[1, 2]])
    collector.force_flush()
    context = request.get_span_context()
    for designation in (schema.INPUTS, schema.PREDICTIONS):
        _, rows = read_rows(partition_dir(local_root, "spanned_model", designation) / "data.csv")
        assert rows[0]["$otel_trace_id"] == format(context.trace_id, "032x")
        assert rows[0]["$otel_span_id"] == format(context.span_id, "016x")


def test_with_the_applications_tracing_the_span_is_exported_there_and_rows_point_to_it(
    tmp_path: Path,
) -> None:
    spans = _run_app(TRACED_APP, tmp_path)

    requests = {s["span_id"]: s for s in spans if s["name"] == "app.request"}
    ours = {s["attributes"][schema.CORRELATION_ID]: s for s in spans if s["name"] == "modeldata.run"}
    assert len(requests) == len(ours) == 3
    for span in ours.values():
        assert span["parent"] in requests
        assert span["trace_id"] == requests[span["parent"]]["trace_id"]
        assert span["attributes"][schema.MODEL_NAME] == "traced_model"
    for designation in (schema.INPUTS, schema.PREDICTIONS):
        _, rows = read_rows(partition_dir(tmp_path, "traced_model", designation) / "data.csv")
        assert len(rows) == 3
        for row in rows:
            span = ours[row["$aml_dc_correlation_id"]]
            assert row["$otel_trace_id"] == span["trace_id"]
            assert row["$otel_span_id"] == span["span_id"]


def test_a_run_that_raises_leaves_its_span_ended_with_the_error_recorded(tmp_path: Path) -> None:
    found = _run_app(FAILING_APP, tmp_path)
    request = next(s for s in found["spans"] if s["name"] == "app.request")
    ours = [s for s in found["spans"] if s["name"] == "modeldata.run"]
    assert [(s["status"], s["description"], s["events"]) for s in ours] == [
        ("ERROR", "ValueError: no score for [[1, 2]]", [["exception", "ValueError"]]),
        ("ERROR", "KeyError: 'missing'", [["exception", "KeyError"]]),
    ]
    assert all(s["ended"] and s["parent"] == request["span_id"] for s in ours)
    # Once the calls are over, the application's span is the current one again.
    assert found["current_after"] == request["span_id"]
    _, rows = read_rows(partition_dir(tmp_path, "failing_model", schema.ERRORS) / "data.csv")
    assert len(rows) == 2
