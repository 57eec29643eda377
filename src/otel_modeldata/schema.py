"""The public record format: log-record attribute names, designations and CSV columns.

Other OpenTelemetry back ends may consume our log records, and the analysis side reads
the CSV files, so every name here is part of the public contract. Pure: no SDK imports.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

PREFIX: Final = "modeldata."

DESIGNATION: Final = "modeldata.designation"
MODEL_NAME: Final = "modeldata.model.name"
MODEL_VERSION: Final = "modeldata.model.version"
CORRELATION_ID: Final = "modeldata.correlation_id"
REQUEST_ID: Final = "modeldata.request_id"
FEATURE_NAMES: Final = "modeldata.feature_names"
ROW_COUNT: Final = "modeldata.row_count"
#: The ``$row_index`` of a record's first row when it is not 0: set only by ``send_labels`` for
#: label rows that start further into their call. Its later rows follow one by one.
FIRST_ROW_INDEX: Final = "modeldata.first_row_index"
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

#: The correlation columns of every row, by name (the writer and every reader use these).
CORRELATION_ID_COLUMN: Final = "$aml_dc_correlation_id"
TIMESTAMP_COLUMN: Final = "$aml_dc_scoring_timestamp"
BOUNDARY_COLUMN: Final = "$aml_dc_boundary"
WORKSPACE_COLUMN: Final = "$aml_workspace"
SERVICE_COLUMN: Final = "$aml_service_name"
MODEL_NAME_COLUMN: Final = "$aml_model_name"
MODEL_VERSION_COLUMN: Final = "$aml_model_version"
REQUEST_ID_COLUMN: Final = "$aml_request_id"
ROW_INDEX_COLUMN: Final = "$row_index"
TRACE_ID_COLUMN: Final = "$otel_trace_id"
SPAN_ID_COLUMN: Final = "$otel_span_id"

#: Columns written after the feature columns, in this order.
CORRELATION_COLUMNS: Final[tuple[str, ...]] = (
    CORRELATION_ID_COLUMN,
    TIMESTAMP_COLUMN,
    BOUNDARY_COLUMN,
    WORKSPACE_COLUMN,
    SERVICE_COLUMN,
    MODEL_NAME_COLUMN,
    MODEL_VERSION_COLUMN,
    REQUEST_ID_COLUMN,
    ROW_INDEX_COLUMN,
    TRACE_ID_COLUMN,
    SPAN_ID_COLUMN,
)

#: Columns the readers add to the rows from a file's path: the partition's day, the file, and the
#: version and web service levels when more than one was read.
DAY_COLUMN: Final = "$day"
FILE_COLUMN: Final = "$file"
MODEL_VERSION_FIELD: Final = "$model_version"
WEBSERVICE_FIELD: Final = "$webservice"
READER_COLUMNS: Final[tuple[str, ...]] = (DAY_COLUMN, FILE_COLUMN, MODEL_VERSION_FIELD, WEBSERVICE_FIELD)

#: Correlation columns whose text the formula guard may change: the ids a caller may choose
#: (``user_correlation_id``, an ``x-request-id`` header) and the names given in code or settings.
#: The timestamp, trace and span ids are ours and never start like a formula.
GUARDED_CORRELATION_COLUMNS: Final[frozenset[str]] = frozenset(
    {
        CORRELATION_ID_COLUMN,
        WORKSPACE_COLUMN,
        SERVICE_COLUMN,
        MODEL_NAME_COLUMN,
        MODEL_VERSION_COLUMN,
        REQUEST_ID_COLUMN,
    }
)

#: Keys of the correlation dict the classic ``collect()`` returns: CSV column names, so a script can
#: read ``corr["$aml_dc_correlation_id"]``; ``add_correlations`` appends them as columns in this order.
CLASSIC_CORRELATION_KEYS: Final[tuple[str, ...]] = (
    CORRELATION_ID_COLUMN,
    TIMESTAMP_COLUMN,
    REQUEST_ID_COLUMN,
    BOUNDARY_COLUMN,
    WORKSPACE_COLUMN,
    SERVICE_COLUMN,
    MODEL_NAME_COLUMN,
    MODEL_VERSION_COLUMN,
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


#: Why the rows of a record with these feature names are dropped (counted in ``rows_dropped``).
DUPLICATE_COLUMN: Final = "duplicate_column"
RESERVED_COLUMN: Final = "reserved_column"


def column_problem(names: Sequence[str]) -> tuple[str, str] | None:
    """Why ``names`` cannot head a file's feature columns, as (reason, detail); ``None`` when they can.

    A name there twice, or one of the correlation columns written after them, would make the header
    name a column twice, and no reader could tell the two apart; one of the columns the readers add
    (``$day``...) would hide the reader's own.
    """
    twice = repeated(names)
    if twice:
        return DUPLICATE_COLUMN, f"the column names {', '.join(map(repr, twice))} appear more than once"
    taken = [n for n in names if n in _RESERVED]
    if taken:
        return RESERVED_COLUMN, (
            f"the column names {', '.join(map(repr, taken))} are the collector's own (its correlation "
            "columns and those the readers add)"
        )
    return None


def repeated(names: Sequence[str]) -> list[str]:
    """The names that ``names`` holds more than once, in order of first appearance."""
    if len(set(names)) == len(names):
        return []
    return list(dict.fromkeys(n for n in names if names.count(n) > 1))


_RESERVED: Final = frozenset(CORRELATION_COLUMNS + READER_COLUMNS)
