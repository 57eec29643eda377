"""The scoring script of ``score.py`` written with the classic ``ModelDataCollector`` API.

It is the Azure ML original with one change, the import: ``from otel_modeldata import
ModelDataCollector`` instead of ``from azureml.monitoring import ModelDataCollector``.
The model version comes from ``OTEL_MODELDATA_MODEL_VERSION`` (default ``1``), as it
came from the deployment in Azure ML.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from otel_modeldata import ModelDataCollector

model: Any = None
species: Any = None
inputs_dc: ModelDataCollector
prediction_dc: ModelDataCollector


def init() -> None:
    """Train the model and declare the collectors, once per process."""
    global model, species, inputs_dc, prediction_dc
    iris = load_iris()
    model = LogisticRegression(max_iter=1000).fit(iris.data, iris.target)
    species = iris.target_names
    inputs_dc = ModelDataCollector(
        "iris_classifier",
        designation="inputs",
        feature_names=["sepal_length", "sepal_width", "petal_length", "petal_width"],
    )
    prediction_dc = ModelDataCollector(
        "iris_classifier", designation="predictions", feature_names=["species"]
    )


def run(raw_data: str) -> list[str]:
    """Predict one species per row, then collect the inputs and the predictions explicitly."""
    data = np.atleast_2d(np.array(json.loads(raw_data)["data"], dtype=float))
    result = species[model.predict(data)]
    inputs_dc.collect(data)
    prediction_dc.collect(result)
    return list(result.tolist())
