"""The classic Azure ML collector: ``ModelDataCollector("m", designation="inputs").collect(data)``.

A scoring script written for ``azureml-monitoring`` works with only its import changed: the
classic constructor arguments, the correlation dict keyed by CSV column names,
``add_correlations``, user correlation ids made unique, Spark DataFrames. Like the
decorator, it never raises into ``run()`` unless strict mode is on.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final

from . import schema
from .collect import SAMPLED_OUT, _collect_failure, _columns, _rules, _safe_emit
from .context import (
    Correlation,
    current_correlation,
    current_request,
    get_request_id,
    new_id,
    start_correlation,
    user_id,
)
from .csvfmt import Timestamps
from .layout import NAMED_FILE_DESIGNATIONS, Identity, InvalidNameError, check_name
from .providers import Runtime, runtime
from .settings import DEFAULT_MODEL_VERSION, Settings
from .stats import STATS

_log = logging.getLogger("otel_modeldata")

#: What the classic package meant by "not given" for its identity, version and file arguments.
CLASSIC_DEFAULT: Final = "default"
DEFAULT_WORKSPACE: Final = "default/default/default"
#: Designations whose files the classic package named ``<collection_name>.csv``.
NAMED_COLLECTIONS: Final = NAMED_FILE_DESIGNATIONS

_KEYS: Final = schema.CLASSIC_CORRELATION_KEYS
_WIDTH: Final = len(_KEYS)
_ID, _STAMP, _REQUEST, _BOUNDARY = range(4)
_BOUNDARY_TEXT: Final = str(schema.BOUNDARY_MINUTES)
_timestamps = Timestamps()


class ModelDataCollector:
    """The classic collector, with the classic signature.

    Collecting ``inputs`` starts a correlation in the current context; other designations
    collected later in the same request reuse its id, as the classic scoring script expects.
    A server thread keeps its context between requests, so the correlation remembers its
    request and a later request on the same thread starts its own.

    ``workspace`` (``<subscription>/<resource group>/<workspace>``) and ``webservice_name``
    replace the configured path levels for this collector only; ``collection_name`` names the
    file (``<collection_name>.csv``) of the ``signals`` and ``general`` designations, as in the
    classic package. ``"default"`` means not given, for them and ``model_version``.
    ``identifier`` is the name ``designation`` had before azureml-monitoring 0.1.0a16.
    """

    def __init__(
        self,
        model_name: str,
        designation: str = schema.DEFAULT_DESIGNATION,
        feature_names: Sequence[str] | None = None,
        workspace: str = DEFAULT_WORKSPACE,
        webservice_name: str = CLASSIC_DEFAULT,
        model_version: str | int | None = CLASSIC_DEFAULT,
        collection_name: str = CLASSIC_DEFAULT,
        *,
        identifier: str | None = None,
        sample_rate: float | None = None,
        redact: Sequence[str] | None = None,
        hash: Sequence[str] | None = None,
    ) -> None:
        if identifier is not None:
            if designation not in (schema.DEFAULT_DESIGNATION, identifier):
                raise TypeError("designation and identifier (its name before 0.1.0a16) differ: give one")
            designation = identifier
        self.model_name = check_name(model_name, "model_name")
        self.designation = check_name(designation, "designation")
        self.feature_names = _columns(feature_names, "feature_names")
        self.model_version = (
            None
            if model_version is None or model_version == CLASSIC_DEFAULT
            else check_name(str(model_version), "model_version")
        )
        self._rules = _rules(sample_rate, redact, hash)
        self._extra = _own_attributes(workspace, webservice_name, collection_name, self.designation)
        self._fixed: tuple[Settings | None, dict[str, str]] | None = None

    def collect(self, input_data: Any, user_correlation_id: str | Mapping[str, str] = "") -> dict[str, str]:
        """Collect ``input_data``; returns the correlation dict (see :meth:`add_correlations`).

        ``user_correlation_id`` may be your own id (a loan number, say: written as
        ``<id>-<uuid>``, unique per call) or the dict returned by an earlier ``collect`` to tie
        this record to it. Data returned by :meth:`add_correlations` carries that dict itself.
        """
        data, carried = _split_correlated(input_data)
        correlation = self._correlation(user_correlation_id or carried or "")
        rt = runtime()
        if rt is None:
            return self._context(correlation, None)
        policy = self._rules.resolve(rt.settings.policy)
        rows = None
        if policy.keeps(correlation.correlation_id):
            rows = _safe_emit(
                rt,
                data,
                model=self.model_name,
                version=self.model_version,
                designation=self.designation,
                feature_names=self.feature_names,
                correlation=correlation,
                policy=policy,
                expected_rows=correlation.input_rows,
                extra=self._extra,
                prepare=_from_spark,
            )
        else:
            STATS.not_collected(SAMPLED_OUT)
        if self.designation == schema.INPUTS:
            start_correlation(
                Correlation(correlation.correlation_id, correlation.request_id, rows, current_request())
            )
        return self._context(correlation, rt)

    def add_correlations(self, input_data: Any, correlations: Mapping[str, str]) -> Any:
        """``input_data`` with the correlation columns of ``correlations`` appended to every row.

        Takes a list (of rows, records or single values), a numpy array or a pandas
        DataFrame or Series, and returns the same kind (a 1-D array or flat list becomes one
        column); the input is not changed. :meth:`collect` recognises the columns: it writes
        the rows once, without them, with that correlation.
        """
        values = _correlation_values(correlations)
        try:
            return _append_columns(input_data, values)
        except Exception as exc:
            _log.warning(
                "otel_modeldata: add_correlations left %s as it was: %s", type(input_data).__name__, exc
            )
            return input_data

    def collect_error(
        self, error: Exception, user_correlation_id: str | Mapping[str, str] = ""
    ) -> dict[str, str]:
        """Write why scoring failed as an ``errors`` row of this model, tied to the request's inputs.

        The classic API has no hook around ``run()``: call it from your own ``except`` block
        (and re-raise). ``user_correlation_id`` is as for :meth:`collect`.
        """
        current = current_correlation()
        if not user_correlation_id and current is not None and current.is_current():
            correlation = current
        else:
            correlation = self._correlation(user_correlation_id)
        rt = runtime()
        if rt is None:
            return self._context(correlation, None)
        policy = self._rules.resolve(rt.settings.policy)
        if policy.keeps(correlation.correlation_id):
            _collect_failure(
                rt,
                error,
                model=self.model_name,
                version=self.model_version,
                correlation=correlation,
                policy=policy,
                extra=self._extra,
            )
        else:
            STATS.not_collected(SAMPLED_OUT)
        return self._context(correlation, rt)

    def _correlation(self, user_correlation_id: str | Mapping[str, str]) -> Correlation:
        current = current_correlation()
        request_id = get_request_id()
        if isinstance(user_correlation_id, Mapping):
            cid = _either(user_correlation_id, "correlation_id", _KEYS[_ID]) or new_id()
            rid = _either(user_correlation_id, "request_id", _KEYS[_REQUEST]) or request_id or cid
            rows = current.input_rows if current is not None and current.correlation_id == cid else None
            return Correlation(cid, rid, rows)
        if user_correlation_id:
            cid = user_id(str(user_correlation_id))
            return Correlation(cid, request_id or cid)
        if self.designation != schema.INPUTS and current is not None and current.is_current():
            return current
        cid = new_id()
        return Correlation(cid, request_id or cid)

    def _context(self, correlation: Correlation, rt: Runtime | None) -> dict[str, str]:
        """The classic dict: the short keys, and the CSV column names the classic package used."""
        settings = rt.settings if rt is not None else None
        fixed = self._fixed
        if fixed is None or fixed[0] is not settings:
            fixed = self._fixed = (settings, self._fixed_columns(settings))
        cid, rid = correlation.correlation_id, correlation.request_id
        context = {
            "correlation_id": cid,
            "request_id": rid,
            _KEYS[_ID]: cid,
            _KEYS[_STAMP]: _timestamps.text(time.time_ns()),
            _KEYS[_REQUEST]: rid,
        }
        context.update(fixed[1])
        return context

    def _fixed_columns(self, settings: Settings | None) -> dict[str, str]:
        """The dict's values that only change with the settings: made once per configuration."""
        identity = settings.identity if settings is not None else Identity()
        version = self.model_version or (
            settings.version_of(self.model_name) if settings is not None else DEFAULT_MODEL_VERSION
        )
        return {
            _KEYS[_BOUNDARY]: _BOUNDARY_TEXT,
            schema.WORKSPACE_COLUMN: self._extra.get(schema.WORKSPACE, identity.workspace_path),
            schema.SERVICE_COLUMN: self._extra.get(schema.SERVICE, identity.webservice),
            schema.MODEL_NAME_COLUMN: self.model_name,
            schema.MODEL_VERSION_COLUMN: version,
        }


def _either(context: Mapping[str, str], short: str, column: str) -> str:
    return str(context.get(short) or context.get(column) or "")


def _own_attributes(workspace: str, service: str, collection: str, designation: str) -> dict[str, str]:
    """The record attributes of the arguments given (not ``"default"``), checked now, at ``init()``."""
    extra: dict[str, str] = {}
    if workspace != DEFAULT_WORKSPACE:
        parts = workspace.split("/") if isinstance(workspace, str) else []
        if len(parts) != 3:
            raise InvalidNameError(
                f"workspace must be '<subscription>/<resource group>/<workspace>': {workspace!r}"
            )
        for part, what in zip(parts, ("subscription", "resource group", "workspace"), strict=True):
            check_name(part, f"workspace ({what})")
        extra[schema.WORKSPACE] = workspace
    if service != CLASSIC_DEFAULT:
        extra[schema.SERVICE] = check_name(service, "webservice_name")
    if collection != CLASSIC_DEFAULT:
        name = check_name(collection, "collection_name")
        if designation in NAMED_COLLECTIONS:
            extra[schema.COLLECTION] = name
    return extra


def _correlation_values(correlations: Mapping[str, str]) -> tuple[str, ...]:
    """The appended cells, in :data:`schema.CLASSIC_CORRELATION_KEYS` order, from either form of dict."""
    values = [str(correlations.get(key, "")) for key in _KEYS]
    values[_ID] = _either(correlations, "correlation_id", _KEYS[_ID])
    values[_REQUEST] = _either(correlations, "request_id", _KEYS[_REQUEST])
    values[_BOUNDARY] = _BOUNDARY_TEXT
    return tuple(values)


def _append_columns(data: Any, values: tuple[str, ...]) -> Any:
    module = type(data).__module__
    if module.startswith("pandas"):
        frame = data.to_frame() if data.ndim == 1 else data.copy()
        for key, value in zip(_KEYS, values, strict=True):
            frame[key] = value
        return frame
    if module == "numpy" and hasattr(data, "ndim"):
        array = (
            data.reshape(len(data), -1) if data.ndim == 1 else data.reshape(1, -1) if data.ndim == 0 else data
        )
        if array.ndim != 2:
            raise TypeError(f"a {data.ndim}-D array has no rows to extend")
        numpy: Any = sys.modules["numpy"]
        out = numpy.empty((array.shape[0], array.shape[1] + _WIDTH), dtype=object)
        out[:, : array.shape[1]] = array
        out[:, array.shape[1] :] = values
        return out
    if isinstance(data, (list, tuple)):
        return [_extended(row, values) for row in data]
    raise TypeError("add_correlations takes a list, a numpy array or a pandas DataFrame or Series")


def _extended(row: Any, values: tuple[str, ...]) -> Any:
    if isinstance(row, Mapping):
        return {**row, **dict(zip(_KEYS, values, strict=True))}
    if isinstance(row, (list, tuple)):
        return [*row, *values]
    return [row, *values]


def _split_correlated(data: Any) -> tuple[Any, dict[str, str] | None]:
    """``data`` without the columns :meth:`ModelDataCollector.add_correlations` appended, and their dict.

    Lists and arrays are recognised by their last cells (a non-empty id, and the boundary
    ``"1440"`` where add_correlations puts it), DataFrames and records by the column names.
    """
    if type(data) is list and data:
        first = data[0]
        if isinstance(first, (list, tuple)) and len(first) > _WIDTH and _marked(first[-_WIDTH:]):
            return [row[:-_WIDTH] for row in data], dict(zip(_KEYS, map(str, first[-_WIDTH:]), strict=True))
        if isinstance(first, Mapping) and _KEYS[_ID] in first:
            carried = {key: str(first.get(key, "")) for key in _KEYS}
            return [{k: v for k, v in row.items() if k not in _KEYS} for row in data], carried
        return data, None
    module = type(data).__module__
    if module == "numpy" and getattr(data, "ndim", 0) == 2 and data.dtype == object:
        if data.shape[0] and data.shape[1] > _WIDTH and _marked(data[0, -_WIDTH:].tolist()):
            return data[:, :-_WIDTH], dict(zip(_KEYS, map(str, data[0, -_WIDTH:].tolist()), strict=True))
    elif module.startswith("pandas") and getattr(data, "ndim", 0) == 2 and _KEYS[_ID] in data.columns:
        present = [key for key in _KEYS if key in data.columns]
        found = {key: str(data[key].iloc[0]) for key in present} if len(data) else None
        return data.drop(columns=present), found
    return data, None


def _marked(tail: Sequence[Any]) -> bool:
    return tail[_BOUNDARY] == _BOUNDARY_TEXT and isinstance(tail[_ID], str) and bool(tail[_ID])


def _from_spark(data: Any) -> Any:
    """A Spark DataFrame as a pandas one, only if pyspark is already imported (never imported here).

    ``toPandas()`` runs the DataFrame's query and brings every row into this process, in
    ``run()``'s thread: milliseconds to seconds, and the memory of all the rows. Done only for a
    call that is collected (not disabled, not sampled out).
    """
    if (
        "pyspark" in sys.modules
        and type(data).__module__.startswith("pyspark.")
        and hasattr(data, "toPandas")
    ):
        return data.toPandas()
    return data
