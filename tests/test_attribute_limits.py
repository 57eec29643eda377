"""The application's OpenTelemetry attribute limits never cut or drop what goes into our files."""

from __future__ import annotations

import uuid

import pytest

import otel_modeldata
from otel_modeldata import ModelDataCollector, collect_io, request_id_scope
from otel_modeldata.schema import CORRELATION_COLUMNS

from csvfiles import Store

MODEL = "credit_risk_scoring_model"
VERSION = "2026.11.25-release-candidate"
FEATURES = [f"applicant_feature_number_{i:02d}" for i in range(12)]
PREDICTIONS = ["probability_of_default", "risk_band_assigned"]
REQUEST_ID = "request-id-much-longer-than-eight-characters"
LOAN_ID = "LOAN-2026-000042-from-the-core-banking-system"


@pytest.mark.parametrize(
    "limits",
    [
        {"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "8", "OTEL_ATTRIBUTE_COUNT_LIMIT": "3"},
        {"OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT": "8", "OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT": "3"},
        {"OTEL_ATTRIBUTE_COUNT_LIMIT": "not-a-number"},
    ],
    ids=["global", "log-record", "unparsable"],
)
def test_rows_keep_whole_paths_headers_and_ids_under_the_applications_attribute_limits(
    monkeypatch: pytest.MonkeyPatch, store: Store, limits: dict[str, str]
) -> None:
    for variable, value in limits.items():
        monkeypatch.setenv(variable, value)
    handle = store.configure()

    @collect_io(MODEL, model_version=VERSION, feature_names=FEATURES, prediction_names=PREDICTIONS)
    def run(data: list[list[float]]) -> list[list[float]]:
        return [[0.25, 3.0] for _ in data]

    with request_id_scope(REQUEST_ID):
        run([[float(i) for i in range(len(FEATURES))]])
    labels = ModelDataCollector(
        MODEL, designation="ground_truth_labels", feature_names=FEATURES[:1], model_version=VERSION
    )
    returned = labels.collect([[1]], user_correlation_id=LOAN_ID)
    assert handle.force_flush()

    header, inputs = store.read_rows(MODEL, "inputs", version=VERSION)
    assert header == [*FEATURES, *CORRELATION_COLUMNS]
    _, predictions = store.read_rows(MODEL, "predictions", version=VERSION)
    correlation_id = inputs[0]["$aml_dc_correlation_id"]
    assert str(uuid.UUID(correlation_id)) == correlation_id
    assert predictions[0]["$aml_dc_correlation_id"] == correlation_id
    assert inputs[0]["$aml_request_id"] == predictions[0]["$aml_request_id"] == REQUEST_ID
    assert inputs[0]["$aml_model_name"] == MODEL
    assert inputs[0]["$aml_model_version"] == VERSION

    header, labelled = store.read_rows(MODEL, "ground_truth_labels", version=VERSION)
    assert header == [FEATURES[0], *CORRELATION_COLUMNS]
    assert labelled[0]["$aml_dc_correlation_id"] == returned["correlation_id"]
    assert returned["correlation_id"].startswith(f"{LOAN_ID}-"), "the whole user id is kept, made unique"
    assert otel_modeldata.stats()["rows_written"] == 3
