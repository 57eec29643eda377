"""Every ``OTEL_MODELDATA_*`` setting: name, default, parsing and validation.

Precedence is keyword override > environment variable > default, as in the
OpenTelemetry SDK. Names that go into partition paths are checked here, at start-up,
so a bad value fails ``configure()`` with the variable's name instead of a request.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Final

from .layout import Identity, InvalidNameError, check_name

_log = logging.getLogger(__name__)

ENABLED: Final = "OTEL_MODELDATA_ENABLED"
"""``true`` (default) collects; ``false`` makes the decorator and collector call straight through."""

STRICT: Final = "OTEL_MODELDATA_STRICT"
"""``false`` (default). ``true`` raises on uncollectable data instead of counting a drop: for tests."""

LOCAL_DIR: Final = "OTEL_MODELDATA_LOCAL_DIR"
"""Root of the embedded local destination, default ``./modeldata-local``."""

SUBSCRIPTION_ID: Final = "OTEL_MODELDATA_SUBSCRIPTION_ID"
"""First path level, default ``default``."""

RESOURCE_GROUP: Final = "OTEL_MODELDATA_RESOURCE_GROUP"
"""Second path level, default ``default``."""

WORKSPACE: Final = "OTEL_MODELDATA_WORKSPACE"
"""Third path level, default ``default``."""

WEBSERVICE: Final = "OTEL_MODELDATA_WEBSERVICE"
"""Fourth path level, default ``OTEL_SERVICE_NAME`` or ``default``."""

MODEL_VERSION: Final = "OTEL_MODELDATA_MODEL_VERSION"
"""Model version used when the code gives none, default ``1``."""

MAX_ROWS_PER_CALL: Final = "OTEL_MODELDATA_MAX_ROWS_PER_CALL"
"""Rows kept from one collected value, default ``100000`` or the queue bound if smaller; the rest are
counted as dropped."""

MAX_QUEUE_ROWS: Final = "OTEL_MODELDATA_MAX_QUEUE_ROWS"
"""Rows that may wait to become log records, default ``100000``; more are counted as ``queue_full``."""

SCHEDULE_DELAY: Final = "OTEL_BLRP_SCHEDULE_DELAY"
"""Milliseconds a collected value may wait before it is exported, default ``1000`` (as in the SDK)."""

EXPORT_BATCH_SIZE: Final = "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE"
"""Collected values exported together, default ``512`` (as in the SDK); a full batch goes at once."""

STORAGE_CONNECTION_STRING: Final = "OTEL_MODELDATA_STORAGE_CONNECTION_STRING"
"""Azure Storage connection string; falls back to ``AZURE_STORAGE_CONNECTION_STRING``."""

AZURE_STORAGE_CONNECTION_STRING: Final = "AZURE_STORAGE_CONNECTION_STRING"

STORAGE_ACCOUNT_URL: Final = "OTEL_MODELDATA_STORAGE_ACCOUNT_URL"
"""Blob account URL used with azure-identity's ``DefaultAzureCredential`` (no key in the pod)."""

CONTAINER: Final = "OTEL_MODELDATA_CONTAINER"
"""Blob container, default ``modeldata``; created when missing if the credential may."""

BLOB_PREFIX: Final = "OTEL_MODELDATA_BLOB_PREFIX"
"""Folders in front of ``<subscriptionid>/...`` inside the container, default empty."""

APPINSIGHTS_CONNECTION_STRING: Final = "APPLICATIONINSIGHTS_CONNECTION_STRING"
"""When set, spans go to Application Insights (model data never does)."""

SERVICE_NAME: Final = "OTEL_SERVICE_NAME"

DEFAULT_LOCAL_DIR: Final = "./modeldata-local"
DEFAULT_NAME: Final = "default"
DEFAULT_MODEL_VERSION: Final = "1"
DEFAULT_MAX_ROWS_PER_CALL: Final = 100_000
DEFAULT_MAX_QUEUE_ROWS: Final = 100_000
DEFAULT_SCHEDULE_DELAY: Final = 1000
DEFAULT_EXPORT_BATCH_SIZE: Final = 512
DEFAULT_CONTAINER: Final = "modeldata"

_TRUE: Final = frozenset({"true", "1", "yes", "on"})
_FALSE: Final = frozenset({"false", "0", "no", "off"})


class ConfigurationError(ValueError):
    """A setting has a value that can never work; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """The resolved configuration. Secrets are kept out of ``repr``."""

    enabled: bool = True
    strict: bool = False
    local_dir: str = DEFAULT_LOCAL_DIR
    identity: Identity = field(default_factory=Identity)
    model_version: str = DEFAULT_MODEL_VERSION
    max_rows_per_call: int = DEFAULT_MAX_ROWS_PER_CALL
    max_queue_rows: int = DEFAULT_MAX_QUEUE_ROWS
    schedule_delay_millis: int = DEFAULT_SCHEDULE_DELAY
    export_batch_size: int = DEFAULT_EXPORT_BATCH_SIZE
    storage_connection_string: str | None = field(default=None, repr=False)
    storage_account_url: str | None = field(default=None, repr=False)
    container: str = DEFAULT_CONTAINER
    blob_prefix: str = ""
    appinsights_connection_string: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Resolve settings from ``environ`` (default ``os.environ``), then apply ``overrides``."""
        env = os.environ if environ is None else environ
        identity_overrides = {
            k: overrides.pop(k)
            for k in ("subscription_id", "resource_group", "workspace", "webservice")
            if k in overrides
        }
        unknown = set(overrides) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"unknown configure() argument(s): {', '.join(sorted(unknown))}")
        identity = Identity(
            subscription_id=_name(env, SUBSCRIPTION_ID, identity_overrides.get("subscription_id")),
            resource_group=_name(env, RESOURCE_GROUP, identity_overrides.get("resource_group")),
            workspace=_name(env, WORKSPACE, identity_overrides.get("workspace")),
            webservice=_name(
                env,
                WEBSERVICE,
                identity_overrides.get("webservice"),
                default=env.get(SERVICE_NAME) or DEFAULT_NAME,
            ),
        )
        resolved = cls(
            enabled=_bool(env, ENABLED, True),
            strict=_bool(env, STRICT, False),
            local_dir=env.get(LOCAL_DIR) or DEFAULT_LOCAL_DIR,
            identity=identity,
            model_version=_name(env, MODEL_VERSION, None, default=DEFAULT_MODEL_VERSION),
            max_rows_per_call=_positive_int(env, MAX_ROWS_PER_CALL, DEFAULT_MAX_ROWS_PER_CALL),
            max_queue_rows=_positive_int(env, MAX_QUEUE_ROWS, DEFAULT_MAX_QUEUE_ROWS),
            schedule_delay_millis=_positive_int(env, SCHEDULE_DELAY, DEFAULT_SCHEDULE_DELAY),
            export_batch_size=_positive_int(env, EXPORT_BATCH_SIZE, DEFAULT_EXPORT_BATCH_SIZE),
            storage_connection_string=env.get(STORAGE_CONNECTION_STRING)
            or env.get(AZURE_STORAGE_CONNECTION_STRING)
            or None,
            storage_account_url=env.get(STORAGE_ACCOUNT_URL) or None,
            container=env.get(CONTAINER) or DEFAULT_CONTAINER,
            blob_prefix=env.get(BLOB_PREFIX, ""),
            appinsights_connection_string=env.get(APPINSIGHTS_CONNECTION_STRING) or None,
        )
        resolved = replace(resolved, **overrides)
        if "max_rows_per_call" not in overrides and not (env.get(MAX_ROWS_PER_CALL) or "").strip():
            # Only the queue was made smaller: a call can then keep no more rows than it holds.
            resolved = replace(
                resolved, max_rows_per_call=min(resolved.max_rows_per_call, resolved.max_queue_rows)
            )
        resolved._validate()
        return resolved

    def _validate(self) -> None:
        _check(self.model_version, MODEL_VERSION)
        _check(self.container, CONTAINER)
        for part in filter(None, self.blob_prefix.split("/")):
            _check(part, BLOB_PREFIX)
        if self.max_rows_per_call < 1:
            raise ConfigurationError(f"{MAX_ROWS_PER_CALL} must be a positive integer")
        if self.max_queue_rows < self.max_rows_per_call:
            raise ConfigurationError(
                f"{MAX_QUEUE_ROWS} ({self.max_queue_rows}) must be at least "
                f"{MAX_ROWS_PER_CALL} ({self.max_rows_per_call}), or large calls could never be queued"
            )

    @property
    def uses_blob_storage(self) -> bool:
        """True when a storage account is configured; otherwise the local folder is used."""
        return bool(self.storage_connection_string or self.storage_account_url)


def _check(value: str, variable: str) -> str:
    try:
        return check_name(value, variable)
    except InvalidNameError as exc:
        raise ConfigurationError(str(exc)) from None


def _name(env: Mapping[str, str], variable: str, override: str | None, default: str = DEFAULT_NAME) -> str:
    value = override if override is not None else (env.get(variable) or default)
    return _check(value, variable)


def _bool(env: Mapping[str, str], variable: str, default: bool) -> bool:
    raw = env.get(variable)
    if raw is None or not raw.strip():
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    _log.warning("%s=%r is not a boolean; using the default %s", variable, raw, str(default).lower())
    return default


def _positive_int(env: Mapping[str, str], variable: str, default: int) -> int:
    raw = env.get(variable)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        _log.warning("%s=%r is not a positive integer; using the default %d", variable, raw, default)
        return default
    return value
