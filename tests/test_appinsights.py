"""Spans reach a real (local) Application Insights ingestion endpoint; model data never does.

The receiver is the ``appinsights`` fixture of :mod:`_appinsights`. Inputs and predictions
carry distinctive values that are searched for in every raw request body. Anything that
sets global OpenTelemetry providers (the Azure Monitor distro, ``opentelemetry-instrument``)
runs in a child process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import otel_modeldata
from _appinsights import Envelope, Receiver
from otel_modeldata import schema

from csvfiles import IDENTITY, IDENTITY_KEYS, data_files, partition_dir, read_rows

FEATURES = ("zqx_feature_alpha", "zqx_feature_beta")
PREDICTION = "zqx-prediction"
IDENTITY_ENV = {
    f"OTEL_MODELDATA_{key.upper()}": value for key, value in zip(IDENTITY_KEYS, IDENTITY, strict=True)
}
CHILD_TIMEOUT = 120

#: An application using the Azure Monitor distro: its own span and log, a decorated run().
DISTRO_APP = """
import json, logging, os, sys
from azure.monitor.opentelemetry import configure_azure_monitor
from opentelemetry import trace
import otel_modeldata

order, model, features, inputs, prediction = json.loads(sys.argv[1])

def start_distro():
    configure_azure_monitor(
        connection_string=os.environ["APPLICATIONINSIGHTS_CONNECTION_STRING"], enable_live_metrics=False
    )

if order == "distro-first":
    start_distro()
    otel_modeldata.configure()
else:
    otel_modeldata.configure()
    start_distro()

@otel_modeldata.collect_io(model, model_version=7, feature_names=features)
def run(data):
    return [prediction + "-" + row[0] for row in data]

with trace.get_tracer("app").start_as_current_span("app.score") as span:
    logging.getLogger("app").warning("app-log-marker scoring %d rows", len(inputs))
    run(inputs)
print(json.dumps({"trace_id": format(span.get_span_context().trace_id, "032x")}))
"""

#: A scoring script run under ``opentelemetry-instrument``: no configure() call.
INSTRUMENTED_APP = """
import json, logging, sys
import otel_modeldata
from otel_modeldata import ModelDataLogExporter

model, features, inputs, prediction = json.loads(sys.argv[1])

@otel_modeldata.collect_io(model, model_version=7, feature_names=features)
def run(data):
    return [prediction + "-" + row[0] for row in data]

logging.getLogger("app").warning("app-log-marker scoring")
for row in inputs:
    run([row])
print(json.dumps({"built_from_environment": ModelDataLogExporter.built_from_environment}))
"""


def marked_rows(tag: str, count: int) -> list[list[Any]]:
    """Input rows whose values are distinctive enough to search raw request bodies for."""
    return [[f"zqx-{tag}-input-{i}", 918_273.5 + i] for i in range(count)]


def markers(rows: list[list[Any]]) -> list[bytes]:
    """Byte strings that must never appear in what App Insights receives."""
    return [str(v).encode() for v in (*(value for row in rows for value in row), *FEATURES, PREDICTION)]


def run_envelopes(envelopes: list[Envelope]) -> list[Envelope]:
    """The envelopes made from our ``modeldata.run`` spans."""
    return [e for e in envelopes if e["data"]["baseData"].get("name") == "modeldata.run"]


def assert_no_model_data(receiver: Receiver, inputs: list[list[Any]], local_root: Path) -> None:
    """The markers were written to the CSV files, but no marker or model-data record reached App Insights.

    Our metrics (``modeldata.rows.*``) may: they name a model and designation, never its data.
    """
    written = b"".join(path.read_bytes() for path in data_files(local_root))
    assert [m for m in markers(inputs) if m not in written] == []
    raw = receiver.raw()
    assert raw, "the receiver got nothing, so the check below would prove nothing"
    leaked = [m for m in markers(inputs) if m in raw]
    assert not leaked
    for envelope in receiver.snapshot():
        if envelope["data"]["baseType"] == "MetricData":
            continue
        properties = envelope["data"]["baseData"].get("properties") or {}
        assert schema.DESIGNATION not in properties, envelope
        assert schema.FEATURE_NAMES not in properties, envelope
    assert not receiver.unexpected


def counted(envelopes: list[Envelope], metric: str) -> dict[tuple[str, str], float]:
    """The values of one of our metrics as App Insights received them, summed by model and designation."""
    totals: dict[tuple[str, str], float] = {}
    for envelope in envelopes:
        data = envelope["data"]["baseData"]
        for point in data.get("metrics", []) if envelope["data"]["baseType"] == "MetricData" else []:
            if point["name"] == metric:
                key = (data["properties"][schema.MODEL_NAME], data["properties"][schema.DESIGNATION])
                totals[key] = totals.get(key, 0) + point["value"]
    return totals


def csv_rows(root: Path, model: str) -> list[dict[str, str]]:
    """Input and prediction rows written for ``model`` (version 7) today."""
    rows: list[dict[str, str]] = []
    for designation in (schema.INPUTS, schema.PREDICTIONS):
        _, found = read_rows(partition_dir(root, model, designation, version="7") / "data.csv")
        rows.extend(found)
    return rows


def assert_spans_match_rows(spans: list[Envelope], rows: list[dict[str, str]], model: str) -> None:
    """Each span carries the model and the correlation id of its rows, and shares their trace id."""
    by_correlation = {e["data"]["baseData"]["properties"][schema.CORRELATION_ID]: e for e in spans}
    assert set(by_correlation) == {row["$aml_dc_correlation_id"] for row in rows}
    for row in rows:
        envelope = by_correlation[row["$aml_dc_correlation_id"]]
        properties = envelope["data"]["baseData"]["properties"]
        assert properties[schema.MODEL_NAME] == model
        assert properties[schema.MODEL_VERSION] == "7"
        assert envelope["tags"]["ai.operation.id"] == row["$otel_trace_id"]
        assert envelope["data"]["baseData"]["id"] == row["$otel_span_id"]


def child_environment(receiver: Receiver, local_root: Path, **extra: str) -> dict[str, str]:
    """This environment without OpenTelemetry settings, pointed at the receiver and ``local_root``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AZURE_MONITOR_"))}
    env.update(receiver.environment)
    env.update(IDENTITY_ENV)
    env["OTEL_MODELDATA_LOCAL_DIR"] = str(local_root)
    # The distro's default resource detectors include azure_vm, which calls the IMDS endpoint.
    env["OTEL_EXPERIMENTAL_RESOURCE_DETECTORS"] = "otel"
    env.update(extra)
    return env


def run_child(command: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """Run a child process to completion; return the JSON it printed last."""
    done = subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=CHILD_TIMEOUT, check=False
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_spans_reach_app_insights_with_the_trace_id_of_their_rows(
    appinsights: Receiver, local_root: Path
) -> None:
    handle = otel_modeldata.configure(
        local_dir=str(local_root), **dict(zip(IDENTITY_KEYS, IDENTITY, strict=True))
    )
    inputs = marked_rows("a", 3)

    @otel_modeldata.collect_io("ai-model", model_version=7, feature_names=FEATURES)
    def run(data: list[list[Any]]) -> list[str]:
        return [f"{PREDICTION}-{row[0]}" for row in data]

    for row in inputs:
        run([row])
    assert handle.force_flush()
    handle.shutdown()

    spans = run_envelopes(appinsights.wait_for(lambda es: len(run_envelopes(es)) >= len(inputs)))
    rows = csv_rows(local_root, "ai-model")
    assert len(spans) == len(inputs)
    assert len(rows) == 2 * len(inputs)
    assert_spans_match_rows(spans, rows, "ai-model")
    for envelope in spans:
        assert envelope["name"] == "Microsoft.ApplicationInsights.RemoteDependency"
        assert envelope["data"]["baseType"] == "RemoteDependencyData"
        assert envelope["data"]["baseData"]["type"] == "InProc"
        assert envelope["iKey"] == appinsights.instrumentation_key


def test_model_data_never_reaches_app_insights(appinsights: Receiver, local_root: Path) -> None:
    handle = otel_modeldata.configure(local_dir=str(local_root))
    inputs = marked_rows("b", 4)

    @otel_modeldata.collect_io("ai-model", feature_names=FEATURES)
    def run(data: list[list[Any]]) -> list[str]:
        return [f"{PREDICTION}-{row[0]}" for row in data]

    collector = otel_modeldata.ModelDataCollector("ai-model", designation="extra", feature_names=FEATURES)
    for row in inputs:
        run([row])
        collector.collect([row])
    assert handle.force_flush()
    handle.shutdown()

    appinsights.wait_for(lambda es: len(run_envelopes(es)) >= len(inputs))
    assert otel_modeldata.stats()["rows_written"] == 3 * len(inputs)
    assert not [e for e in appinsights.snapshot() if e["data"]["baseType"] == "MessageData"]
    assert_no_model_data(appinsights, inputs, local_root)


@pytest.mark.parametrize("order", ["distro-first", "modeldata-first"])
def test_with_the_azure_monitor_distro_the_app_telemetry_arrives_and_model_data_does_not(
    appinsights: Receiver, local_root: Path, tmp_path: Path, order: str
) -> None:
    inputs = marked_rows("c", 2)
    script = tmp_path / "distro_app.py"
    script.write_text(DISTRO_APP)
    argument = json.dumps([order, "distro-model", FEATURES, inputs, PREDICTION])

    # The distro samples at 5 traces per second by default, at random at start-up; an unsampled
    # app span would leave our child span unsampled too.
    env = child_environment(appinsights, local_root, OTEL_TRACES_SAMPLER="always_on")
    printed = run_child([sys.executable, str(script), argument], env, tmp_path)

    def complete(envelopes: list[Envelope]) -> bool:
        names = {e["data"]["baseData"].get("name") for e in envelopes}
        messages = [e["data"]["baseData"].get("message", "") for e in envelopes]
        return {"modeldata.run", "app.score"} <= names and any("app-log-marker" in m for m in messages)

    envelopes = appinsights.wait_for(complete)
    trace_id = printed["trace_id"]
    (app_span,) = [e for e in envelopes if e["data"]["baseData"].get("name") == "app.score"]
    (log,) = [e for e in envelopes if "app-log-marker" in e["data"]["baseData"].get("message", "")]
    spans = run_envelopes(envelopes)
    assert app_span["tags"]["ai.operation.id"] == trace_id
    assert log["tags"]["ai.operation.id"] == trace_id
    assert [e["tags"]["ai.operation.parentId"] for e in spans] == [app_span["data"]["baseData"]["id"]]
    rows = csv_rows(local_root, "distro-model")
    assert len(rows) == 2 * len(inputs)
    assert {row["$otel_trace_id"] for row in rows} == {trace_id}
    assert_spans_match_rows(spans, rows, "distro-model")
    assert_no_model_data(appinsights, inputs, local_root)
    assert counted(appinsights.snapshot(), "modeldata.rows.accepted") == {
        ("distro-model", "inputs"): len(inputs),
        ("distro-model", "predictions"): len(inputs),
    }


@pytest.mark.parametrize(
    ("distro", "configurator"),
    [
        ("distro", "configurator"),
        ("azure_monitor_opentelemetry_distro", "azure_monitor_opentelemetry_configurator"),
    ],
    ids=["opentelemetry-distro", "azure-monitor-configurator"],
)
def test_opentelemetry_instrument_loads_the_modeldata_logs_exporter(
    appinsights: Receiver, local_root: Path, tmp_path: Path, distro: str, configurator: str
) -> None:
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    inputs = marked_rows("d", 3)
    script = tmp_path / "score.py"
    script.write_text(INSTRUMENTED_APP)
    env = child_environment(
        appinsights,
        local_root,
        OTEL_LOGS_EXPORTER="modeldata",
        OTEL_TRACES_EXPORTER="none",
        OTEL_METRICS_EXPORTER="none",
        OTEL_PYTHON_DISTRO=distro,
        OTEL_PYTHON_CONFIGURATOR=configurator,
    )
    argument = json.dumps(["instrumented-model", FEATURES, inputs, PREDICTION])

    printed = run_child([str(instrument), sys.executable, str(script), argument], env, tmp_path)

    assert printed["built_from_environment"]
    rows = csv_rows(local_root, "instrumented-model")
    assert len(rows) == 2 * len(inputs)
    assert {row[FEATURES[0]] for row in rows if FEATURES[0] in row} == {row[0] for row in inputs}
    for row in rows:
        assert row["$aml_dc_correlation_id"]
        assert int(row["$otel_trace_id"], 16)
    if configurator.startswith("azure_monitor"):
        # The Azure Monitor configurator adds its own log exporter next to ours.
        appinsights.wait_for(
            lambda es: any("app-log-marker" in e["data"]["baseData"].get("message", "") for e in es)
        )
        assert_no_model_data(appinsights, inputs, local_root)
    else:
        assert not appinsights.snapshot()
