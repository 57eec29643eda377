"""A scoring script in the classic Azure ML shape (``init()`` once, ``run(raw_data)`` per request).

Collection is one decorator on ``run()``: its input becomes the ``inputs`` rows and its
result the ``predictions`` rows, tied together by ``$aml_dc_correlation_id`` and
``$row_index``. Where the rows go is decided by ``OTEL_MODELDATA_*`` variables, not here.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import otel_modeldata

MODEL_NAME = "iris_classifier"
MODEL_VERSION = "1"
FEATURE_NAMES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
PREDICTION_NAMES = ["species"]

model: Any = None
species: Any = None


def init() -> None:
    """Train once per process; a deployment would load its registered model here instead."""
    global model, species
    iris = load_iris()
    model = LogisticRegression(max_iter=1000).fit(iris.data, iris.target)
    species = iris.target_names


@otel_modeldata.collect_io(
    MODEL_NAME,
    model_version=MODEL_VERSION,
    feature_names=FEATURE_NAMES,
    prediction_names=PREDICTION_NAMES,
)
def run(raw_data: str) -> list[str]:
    """Predict one species per row of ``{"data": [[...], ...]}`` (a single flat row is accepted too)."""
    data = np.atleast_2d(np.array(json.loads(raw_data)["data"], dtype=float))
    result = species[model.predict(data)]
    return list(result.tolist())
