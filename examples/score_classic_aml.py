"""A classic Azure ML scoring script that uses all of ``azureml-monitoring``'s collector API.

Written for ``from azureml.monitoring import ModelDataCollector``; only that import changed.
It uses the pre-0.1.0a16 ``identifier=``, a user correlation id (the loan number), the
returned correlation dict read by its CSV column name, ``add_correlations`` to tie the
predictions to the inputs, and a ``signals`` collection named by ``collection_name``. Its
deployment's variables (``AML_MODEL_DC_STORAGE_ENABLED``, ``AML_MODEL_DC_STORAGE``,
``SERVICE_NAME``, the model config map) configure it, as they did in Azure ML.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from otel_modeldata import ModelDataCollector

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]

model: Any = None
species: Any = None
inputs_dc: ModelDataCollector
prediction_dc: ModelDataCollector
signals_dc: ModelDataCollector


def init() -> None:
    """Train the model and declare the collectors, once per process."""
    global model, species, inputs_dc, prediction_dc, signals_dc
    iris = load_iris()
    model = LogisticRegression(max_iter=1000).fit(iris.data, iris.target)
    species = iris.target_names
    inputs_dc = ModelDataCollector("iris_classifier", identifier="inputs", feature_names=FEATURES)
    prediction_dc = ModelDataCollector("iris_classifier", "predictions", ["species"], model_version="default")
    signals_dc = ModelDataCollector(
        "iris_classifier",
        designation="signals",
        feature_names=["rows", "lowest_probability"],
        collection_name="confidence",
    )


def run(raw_data: str) -> dict[str, Any]:
    """Predict one species per row; collect inputs, predictions (tied by columns) and a signal."""
    request = json.loads(raw_data)
    data = np.atleast_2d(np.array(request["data"], dtype=float))
    corr = inputs_dc.collect(data, user_correlation_id=request.get("loan", ""))
    result = species[model.predict(data)]
    predictions = prediction_dc.add_correlations(result, corr)
    prediction_dc.collect(predictions)
    probability = model.predict_proba(data).max(axis=1)
    signals_dc.collect([[len(data), float(probability.min())]], corr)
    return {"species": list(result.tolist()), "correlation_id": corr["$aml_dc_correlation_id"]}
