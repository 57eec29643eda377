"""A classic scoring service for the process-model tests: Flask, the classic collectors, no middleware.

Served by a real server (``gunicorn -k gthread``) so that one thread serves request after
request, as in production. Configured from the ``OTEL_MODELDATA_*`` variables the test sets.
"""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask, request

import otel_modeldata
from otel_modeldata import ModelDataCollector

MODEL = "classic_service"

handle = otel_modeldata.configure()
inputs_dc = ModelDataCollector(MODEL, designation="inputs", feature_names=["x"])
prediction_dc = ModelDataCollector(MODEL, designation="predictions", feature_names=["y"])
labels_dc = ModelDataCollector(MODEL, designation="labels", feature_names=["label"])

app = Flask(__name__)


@app.get("/health")
def health() -> dict[str, Any]:
    return {"ok": True}


@app.post("/score")
def score() -> dict[str, Any]:
    """Collect the inputs, then the predictions, as a classic ``run()`` does."""
    rows = request.get_json()["data"]
    context = inputs_dc.collect(rows)
    predictions = prediction_dc.collect([2 * row[0] for row in rows])
    return {"inputs": context, "predictions": predictions, "thread": threading.get_ident()}


@app.post("/labels")
def labels() -> dict[str, Any]:
    """Collect labels only: a request of its own, which must not inherit the previous one's id."""
    context = labels_dc.collect(request.get_json()["labels"])
    return {"labels": context, "thread": threading.get_ident()}


@app.post("/flush")
def flush() -> dict[str, Any]:
    return {"flushed": handle.force_flush()}
