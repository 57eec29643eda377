"""An application with a MeterProvider of its own (the SDK's, read in memory) that collects model data.

Run by ``test_metrics.py`` in a process of its own (a process sets its global MeterProvider
once): ``python _metrics_app.py <local dir> first|late`` sets the provider before
collecting or only after the first rows, then prints the metrics its reader collects and
``otel_modeldata.stats()`` as JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader

import otel_modeldata
from otel_modeldata.stats import STATS


def read(reader: InMemoryMetricReader) -> dict[str, Any]:
    """Each metric of our meter: its unit, whether it is a cumulative counter, its points."""
    found: dict[str, Any] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            if scope.scope.name != "otel_modeldata":
                continue
            for metric in scope.metrics:
                found[metric.name] = {
                    "unit": metric.unit,
                    "counter": metric.data.is_monotonic
                    and metric.data.aggregation_temporality == AggregationTemporality.CUMULATIVE,
                    "points": [[dict(p.attributes or {}), p.value] for p in metric.data.data_points],
                }
    return found


def main(local_dir: str, when: str) -> None:
    reader = InMemoryMetricReader()
    if when == "first":
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    handle = otel_modeldata.configure(local_dir=local_dir, webservice="svc")
    blocked = Path(local_dir, "modeldata", "default", "default", "default", "svc", "gamma")
    blocked.parent.mkdir(parents=True)
    blocked.write_text("a file where the folder of model gamma belongs: its rows fail")

    @otel_modeldata.collect_io("alpha", feature_names=["a", "b"], prediction_names=["sum"])
    def run(data: list[list[int]]) -> list[int]:
        return [sum(row) for row in data]

    run([[1, 2], [3, 4]])
    run([[5, 6]])
    beta = otel_modeldata.ModelDataCollector("beta", designation="inputs", feature_names=["x", "y"])
    beta.collect([[1, 2], [3]])  # the second row lacks a feature: dropped by the exporter
    beta.collect(object())  # not data at all: dropped before it is accepted
    beta.collect({"x": [1, 2]})  # no column y: written, and counted as adjusted
    otel_modeldata.ModelDataCollector("gamma", designation="labels").collect([[1], [0]])
    assert handle.force_flush()
    if when == "late":
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    STATS.add("rows_spooled", 3, model="beta", designation="inputs")  # a counter another branch may add
    handle.shutdown()
    beta.collect([[7, 8]])  # after shutdown: a call not collected
    print(json.dumps({"metrics": read(reader), "stats": otel_modeldata.stats()}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
