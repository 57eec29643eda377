"""The public record format: log-record attribute names, designations and CSV columns.

Other OpenTelemetry back ends may consume our log records, and the analysis side reads
the CSV files, so every name here is part of the public contract. Pure: no SDK imports.
"""

from __future__ import annotations

from typing import Final

PREFIX: Final = "modeldata."

DESIGNATION: Final = "modeldata.designation"
MODEL_NAME: Final = "modeldata.model.name"
MODEL_VERSION: Final = "modeldata.model.version"
CORRELATION_ID: Final = "modeldata.correlation_id"
REQUEST_ID: Final = "modeldata.request_id"
FEATURE_NAMES: Final = "modeldata.feature_names"
ROW_COUNT: Final = "modeldata.row_count"
#: Set only by a classic collector given its own ``workspace=`` (``<subscription>/<resource group>/
#: <workspace>``) or ``webservice_name=``: these records go to those path levels instead of the settings'.
WORKSPACE: Final = "modeldata.workspace"
SERVICE: Final = "modeldata.service"
#: Set only by a classic ``signals`` or ``general`` collector given ``collection_name=``: the file stem.
COLLECTION: Final = "modeldata.collection"

#: Event name set on every model-data log record.
EVENT_NAME: Final = "modeldata.collect"

INPUTS: Final = "inputs"
PREDICTIONS: Final = "predictions"
DEFAULT_DESIGNATION: Final = "default"
#: Designation of the rows that say why a collected call raised.
ERRORS: Final = "errors"

#: Columns of an ``errors`` row (followed by the correlation columns).
ERROR_TYPE: Final = "error_type"
ERROR_MESSAGE: Final = "error_message"
ERROR_COLUMNS: Final[tuple[str, ...]] = (ERROR_TYPE, ERROR_MESSAGE)

#: Value of ``$aml_dc_boundary``: the partition is one day, 1440 minutes.
BOUNDARY_MINUTES: Final = 1440

#: Columns written after the feature columns, in this order.
CORRELATION_COLUMNS: Final[tuple[str, ...]] = (
    "$aml_dc_correlation_id",
    "$aml_dc_scoring_timestamp",
    "$aml_dc_boundary",
    "$aml_workspace",
    "$aml_service_name",
    "$aml_model_name",
    "$aml_model_version",
    "$aml_request_id",
    "$row_index",
    "$otel_trace_id",
    "$otel_span_id",
)

#: Keys of the correlation dict the classic ``collect()`` returns: CSV column names, so a script can
#: read ``corr["$aml_dc_correlation_id"]``; ``add_correlations`` appends them as columns in this order.
CLASSIC_CORRELATION_KEYS: Final[tuple[str, ...]] = (
    "$aml_dc_correlation_id",
    "$aml_dc_scoring_timestamp",
    "$aml_request_id",
    "$aml_dc_boundary",
    "$aml_workspace",
    "$aml_service_name",
    "$aml_model_name",
    "$aml_model_version",
)

#: Span attributes put on the span around a decorated ``run()``.
SPAN_MODEL_NAME: Final = MODEL_NAME
SPAN_MODEL_VERSION: Final = MODEL_VERSION
SPAN_CORRELATION_ID: Final = CORRELATION_ID
SPAN_REQUEST_ID: Final = REQUEST_ID


def default_column_names(designation: str, width: int) -> tuple[str, ...]:
    """Column names used when the code gives none: ``prediction_i`` or ``feature_i``."""
    stem = "prediction" if designation == PREDICTIONS else "feature"
    return tuple(f"{stem}_{i}" for i in range(width))
