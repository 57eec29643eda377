"""Collection on the request path: the ``@collect_io`` decorator, and the emitting both it and
the classic collector (:mod:`classic`) share.

Each collected value becomes one OpenTelemetry log record (body = rows, attributes =
:mod:`schema`). Collection never raises into ``run()`` and never changes its result:
anything it cannot use is logged once per cause and counted, unless strict mode is on.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from contextvars import Token
from typing import Any, Final, TypeVar, cast

from opentelemetry.context import Context, attach, detach, get_current
from opentelemetry.trace import Span, Status, StatusCode, set_span_in_context

from . import schema
from .context import Correlation, end_correlation, get_request_id, new_id, start_correlation
from .csvfmt import refusal
from .failures import failure_row
from .handoff import Pending
from .layout import InvalidNameError, check_name
from .policy import ModelPolicy, Policy
from .providers import Runtime, runtime
from .rows import Table, to_table
from .settings import HASH_KEY
from .stats import ACCEPTED, STATS

_log = logging.getLogger("otel_modeldata")

F = TypeVar("F", bound=Callable[..., Any])

SPAN_NAME: Final = "modeldata.run"
UNSUPPORTED_INPUT: Final = "unsupported_input"
TOO_MANY_ROWS: Final = "too_many_rows"
MISSING_FEATURE: Final = "missing_feature"
EXTRA_FEATURE: Final = "extra_feature"
NO_HASH_KEY: Final = "no_hash_key"
SAMPLED_OUT: Final = "sampled_out"
_MISSING: Final = object()


class CollectionError(ValueError):
    """Raised in strict mode (``OTEL_MODELDATA_STRICT=true``) for data that cannot be collected."""


def _emit(
    rt: Runtime,
    data: Any,
    *,
    model: str,
    version: str | None,
    designation: str,
    feature_names: Sequence[str] | None,
    correlation: Correlation,
    policy: Policy,
    expected_rows: int | None = None,
    extra: Mapping[str, str | int] | None = None,
    prepare: Callable[[Any], Any] | None = None,
) -> int | None:
    """Emit one record for ``data``; return its row count, or ``None`` if nothing was emitted.

    ``extra``: attributes of a classic collector's own identity or file name, when it has any, or
    the ``$row_index`` of a label record's first row.
    ``prepare``: a conversion done first (a Spark DataFrame's), whose failure counts as unsupported input.
    """
    settings = rt.settings
    try:
        table = to_table(
            data if prepare is None else prepare(data),
            designation=designation,
            feature_names=feature_names,
            expected_rows=expected_rows,
        )
    except Exception as exc:
        if settings.strict:
            raise CollectionError(f"{model}/{designation}: {exc}") from exc
        STATS.drop(UNSUPPORTED_INPUT, 1, model=model, designation=designation, detail=str(exc))
        return None
    rows = table.rows
    if len(rows) > settings.max_rows_per_call:
        if settings.strict:
            raise CollectionError(
                f"{model}/{designation}: {len(rows)} rows exceed {settings.max_rows_per_call}"
            )
        STATS.drop(
            TOO_MANY_ROWS, len(rows) - settings.max_rows_per_call, model=model, designation=designation
        )
        rows = rows[: settings.max_rows_per_call]
    if table.missing is not None or table.extra is not None:
        _count_adjustments(table, len(rows), settings.strict, model, designation)
    if settings.strict:
        _check_rows(rows, table.columns, model, designation, settings.max_cell_bytes)
        # Without strict mode the exporter drops such a record, checking each set of names once.
        problem = None if table.columns is None else schema.column_problem(table.columns)
        if problem is not None:
            raise CollectionError(f"{model}/{designation}: {problem[1]}")
    if policy.missing_key:
        if settings.strict:
            raise CollectionError(f"{model}/{designation}: columns to hash but no {HASH_KEY}")
        STATS.drop(NO_HASH_KEY, len(rows), model=model, designation=designation, detail=f"set {HASH_KEY}")
        return None
    columns, rows = policy.apply(table.columns, rows, designation, table.text)
    attributes: dict[str, Any] = {
        schema.DESIGNATION: designation,
        schema.MODEL_NAME: model,
        schema.MODEL_VERSION: version or settings.version_of(model),
        schema.CORRELATION_ID: correlation.correlation_id,
        schema.REQUEST_ID: correlation.request_id,
        schema.ROW_COUNT: len(rows),
    }
    if columns:
        attributes[schema.FEATURE_NAMES] = columns
    if extra:
        attributes.update(extra)
    STATS.add(ACCEPTED, len(rows), model=model, designation=designation)
    refused = rt.handoff.put(Pending(time.time_ns(), get_current(), rows, attributes))
    if refused is not None:
        STATS.drop(refused, len(rows), model=model, designation=designation, accepted=True)
    return len(rows)


def _count_adjustments(table: Table, kept: int, strict: bool, model: str, designation: str) -> None:
    """Count (or, in strict mode, refuse) rows whose carried names did not match the declared ones."""
    for cause, mismatch in ((MISSING_FEATURE, table.missing), (EXTRA_FEATURE, table.extra)):
        if mismatch is None:
            continue
        if strict:
            raise CollectionError(f"{model}/{designation}: {cause}: {', '.join(mismatch.names)}")
        STATS.adjust(
            cause, min(mismatch.rows, kept), model=model, designation=designation, columns=mismatch.names
        )


def _check_rows(
    rows: list[Any], columns: tuple[str, ...] | None, model: str, designation: str, max_cell_bytes: int
) -> None:
    if not rows:
        return
    width = len(columns) if columns else len(rows[0]) if isinstance(rows[0], (list, tuple)) else 1
    for index, row in enumerate(rows):
        reason = refusal(row, width, max_cell_bytes)
        if reason is not None:
            raise CollectionError(f"{model}/{designation}: row {index}: {reason} (expected {width} values)")


def _safe_emit(
    rt: Runtime,
    data: Any,
    *,
    model: str,
    version: str | None,
    designation: str,
    feature_names: Sequence[str] | None,
    correlation: Correlation,
    policy: Policy,
    expected_rows: int | None = None,
    extra: Mapping[str, str] | None = None,
    prepare: Callable[[Any], Any] | None = None,
) -> int | None:
    """:func:`_emit` that only raises in strict mode (its arguments by name: no dict per call)."""
    try:
        return _emit(
            rt,
            data,
            model=model,
            version=version,
            designation=designation,
            feature_names=feature_names,
            correlation=correlation,
            policy=policy,
            expected_rows=expected_rows,
            extra=extra,
            prepare=prepare,
        )
    except CollectionError:
        raise
    except Exception:
        _log.exception("otel_modeldata: collection failed for model %s", model)
        return None


def _collect_failure(
    rt: Runtime,
    exc: Exception,
    *,
    model: str,
    version: str | None,
    correlation: Correlation,
    policy: Policy,
    extra: Mapping[str, str] | None = None,
) -> None:
    """Write why ``run()`` raised as an ``errors`` row sharing its inputs' correlation id.

    Never raises, in strict mode either: the caller re-raises ``exc`` itself, unchanged.
    """
    if not rt.settings.collect_errors:
        return
    try:
        _emit(
            rt,
            [failure_row(exc)],
            model=model,
            version=version,
            designation=schema.ERRORS,
            feature_names=schema.ERROR_COLUMNS,
            correlation=correlation,
            policy=policy,
            extra=extra,
        )
    except Exception:
        _log.exception("otel_modeldata: the failure of run() could not be collected for model %s", model)


def collect_io(
    model_name: str,
    *,
    model_version: str | int | None = None,
    feature_names: Sequence[str] | None = None,
    prediction_names: Sequence[str] | None = None,
    sample_rate: float | None = None,
    redact: Sequence[str] | None = None,
    hash: Sequence[str] | None = None,
) -> Callable[[F], F]:
    """Decorate ``run()`` to collect its input (``inputs``) and its result (``predictions``).

    Both records share one correlation id, also set on a span around the call. When
    ``run()`` raises, its inputs are still collected, an ``errors`` row holds the exception's
    type and message, and the exception propagates unchanged.
    ``sample_rate`` replaces ``OTEL_MODELDATA_SAMPLE_RATE`` for this model; ``redact`` and
    ``hash`` add column names to ``OTEL_MODELDATA_REDACT`` and ``OTEL_MODELDATA_HASH``.
    """
    model = check_name(model_name, "model_name")
    version = None if model_version is None else check_name(str(model_version), "model_version")
    features = _columns(feature_names, "feature_names")
    predictions = _columns(prediction_names, "prediction_names")
    rules = _rules(sample_rate, redact, hash)

    def admit(rt: Runtime) -> tuple[Policy, str] | None:
        """This call's policy and correlation id, or None (counted) when sampling leaves it out."""
        policy = rules.resolve(rt.settings.policy)
        cid = new_id()
        if policy.keeps(cid):
            return policy, cid
        STATS.not_collected(SAMPLED_OUT)
        return None

    def open_span(rt: Runtime, admitted: tuple[Policy, str]) -> tuple[Span, Token[Context], Correlation]:
        """The span around the call, current from now on (see :func:`_close_span`), and the call's ids."""
        cid = admitted[1]
        correlation = Correlation(cid, get_request_id() or cid)
        span = rt.tracer.start_span(
            SPAN_NAME,
            attributes={
                schema.SPAN_MODEL_NAME: model,
                schema.SPAN_MODEL_VERSION: version or rt.settings.version_of(model),
                schema.SPAN_CORRELATION_ID: cid,
                schema.SPAN_REQUEST_ID: correlation.request_id,
            },
        )
        return span, attach(set_span_in_context(span)), correlation

    def decorate(fn: F) -> F:
        index, parameter = _data_parameter(fn)

        def begin(
            rt: Runtime,
            policy: Policy,
            correlation: Correlation,
            args: tuple[Any, ...],
            kwargs: dict[str, Any],
        ) -> Correlation:
            data = args[index] if len(args) > index else kwargs.get(parameter, _MISSING)
            rows = None
            if data is not _MISSING:
                rows = _safe_emit(
                    rt,
                    data,
                    model=model,
                    version=version,
                    designation=schema.INPUTS,
                    feature_names=features,
                    correlation=correlation,
                    policy=policy,
                )
            return Correlation(correlation.correlation_id, correlation.request_id, rows)

        def finish(rt: Runtime, policy: Policy, correlation: Correlation, result: Any) -> None:
            _safe_emit(
                rt,
                result,
                model=model,
                version=version,
                designation=schema.PREDICTIONS,
                feature_names=predictions,
                correlation=correlation,
                policy=policy,
                expected_rows=correlation.input_rows,
            )

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                rt = runtime()
                if rt is None or (admitted := admit(rt)) is None:
                    return await fn(*args, **kwargs)
                policy = admitted[0]
                span, span_token, correlation = open_span(rt, admitted)
                try:
                    try:
                        correlation = begin(rt, policy, correlation, args, kwargs)
                        token = start_correlation(correlation)
                        try:
                            result = await fn(*args, **kwargs)
                        except Exception as exc:
                            _collect_failure(
                                rt, exc, model=model, version=version, correlation=correlation, policy=policy
                            )
                            raise
                        finally:
                            end_correlation(token)
                        finish(rt, policy, correlation, result)
                    finally:
                        detach(span_token)
                except Exception as exc:
                    _span_failed(span, exc)
                    raise
                finally:
                    span.end()
                return result

            return cast(F, async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            rt = runtime()
            if rt is None or (admitted := admit(rt)) is None:
                return fn(*args, **kwargs)
            policy = admitted[0]
            span, span_token, correlation = open_span(rt, admitted)
            try:
                try:
                    correlation = begin(rt, policy, correlation, args, kwargs)
                    token = start_correlation(correlation)
                    try:
                        result = fn(*args, **kwargs)
                    except Exception as exc:
                        _collect_failure(
                            rt, exc, model=model, version=version, correlation=correlation, policy=policy
                        )
                        raise
                    finally:
                        end_correlation(token)
                    finish(rt, policy, correlation, result)
                finally:
                    detach(span_token)
            except Exception as exc:
                _span_failed(span, exc)
                raise
            finally:
                span.end()
            return result

        return cast(F, wrapper)

    return decorate


def _span_failed(span: Span, exc: Exception) -> None:
    """Mark the span of a call that raised, as ``start_as_current_span`` does.

    The decorator opens and closes its span by hand (``start_span``, attach, detach, ``end``):
    the SDK's two nested context managers cost a fifth of the span's time on every call.
    Like them, it records only ``Exception`` (not ``KeyboardInterrupt`` or a cancellation).
    """
    if span.is_recording():
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))


def _names(names: Sequence[str] | None, what: str) -> tuple[str, ...] | None:
    if names is None:
        return None
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise TypeError(f"{what} must be a sequence of strings")
    return tuple(names)


def _columns(names: Sequence[str] | None, what: str) -> tuple[str, ...] | None:
    """Declared column names, refused when the code is loaded if a file could not be read back."""
    checked = _names(names, what)
    problem = None if checked is None else schema.column_problem(checked)
    if problem is not None:
        raise InvalidNameError(f"{what}: {problem[1]}")
    return checked


def _rules(
    sample_rate: float | None, redact: Sequence[str] | None, hash: Sequence[str] | None
) -> ModelPolicy:
    """A model's own policy arguments, checked when the code is loaded."""
    return ModelPolicy(sample_rate, _names(redact, "redact") or (), _names(hash, "hash") or ())


def _data_parameter(fn: Callable[..., Any]) -> tuple[int, str]:
    """Position and name of the parameter that carries the model input (skipping ``self``/``cls``)."""
    params = list(inspect.signature(fn).parameters.values())
    index = 1 if params and params[0].name in ("self", "cls") else 0
    if index >= len(params):
        return index, ""
    return index, params[index].name
