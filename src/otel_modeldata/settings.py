"""Every ``OTEL_MODELDATA_*`` setting: name, default, parsing and validation.

Precedence is keyword override > environment variable > default, as in the
OpenTelemetry SDK. Names that go into partition paths are checked here, at start-up,
so a bad value fails ``configure()`` with the variable's name instead of a request.
A bad boolean or number in the environment warns and keeps the default (as the SDK does);
the same mistake in a ``configure()`` keyword is refused, since the code can be fixed.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from types import MappingProxyType
from typing import Any, Final

from .csvfmt import DEFAULT_MAX_CELL_BYTES, DEFAULT_MAX_VALUE_BYTES
from .deployment import DEFAULT_PATH as DEFAULT_MODEL_CONFIG_MAP
from .deployment import ConfigMap, read_config_map
from .layout import Identity, InvalidNameError, check_name
from .policy import Policy, check_rate

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

MAX_CELL_BYTES: Final = "OTEL_MODELDATA_MAX_CELL_BYTES"
"""Largest text cell, in UTF-8 bytes, default ``65536`` (64 KiB); a row holding a larger one is dropped
and counted as ``cell_too_large``."""

MAX_VALUE_BYTES: Final = "OTEL_MODELDATA_MAX_VALUE_BYTES"
"""Largest collected value (the rows of one call and designation), default ``8388608`` (8 MiB): text
cells count their UTF-8 bytes, other cells 8 each; a larger value is dropped whole as ``value_too_large``."""

FILE_MODE: Final = "OTEL_MODELDATA_FILE_MODE"
"""Octal mode of local files, default ``0600`` (owner only); folders get the matching ``x`` bits (``0700``).
``0640`` lets a reader in the group read them (folders ``0750``). The umask does not apply."""

COLLECT_ERRORS: Final = "OTEL_MODELDATA_COLLECT_ERRORS"
"""``true`` (default): a ``run()`` that raises also writes an ``errors`` row (exception type and message)."""

STORAGE_CONNECTION_STRING: Final = "OTEL_MODELDATA_STORAGE_CONNECTION_STRING"
"""Azure Storage connection string; falls back to ``AZURE_STORAGE_CONNECTION_STRING``."""

AZURE_STORAGE_CONNECTION_STRING: Final = "AZURE_STORAGE_CONNECTION_STRING"
"""The Azure SDKs' usual variable, used when ``OTEL_MODELDATA_STORAGE_CONNECTION_STRING`` is unset."""

STORAGE_ACCOUNT_URL: Final = "OTEL_MODELDATA_STORAGE_ACCOUNT_URL"
"""Blob account URL used with azure-identity's ``DefaultAzureCredential`` (no key in the pod)."""

CONTAINER: Final = "OTEL_MODELDATA_CONTAINER"
"""Blob container, default ``modeldata``; created when missing if the credential may. Azure's rules
apply: 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit."""

BLOB_PREFIX: Final = "OTEL_MODELDATA_BLOB_PREFIX"
"""Folders in front of ``<subscriptionid>/...`` inside the container, default empty."""

SAMPLE_RATE: Final = "OTEL_MODELDATA_SAMPLE_RATE"
"""Share of calls collected, from 0 to 1, default ``1`` (all); decided from the correlation id."""

REDACT: Final = "OTEL_MODELDATA_REDACT"
"""Comma-separated column names removed from every row and header, default none."""

HASH: Final = "OTEL_MODELDATA_HASH"
"""Comma-separated column names whose values are replaced by their keyed hash, default none."""

HASH_KEY: Final = "OTEL_MODELDATA_HASH_KEY"
"""The HMAC-SHA256 key for ``OTEL_MODELDATA_HASH``, default unset (required with it); never shown."""

CSV_FORMULA_GUARD: Final = "OTEL_MODELDATA_CSV_FORMULA_GUARD"
"""``true`` (default) puts ``'`` before text cells a spreadsheet would run as a formula."""

SPOOL_DIR: Final = "OTEL_MODELDATA_SPOOL_DIR"
"""Folder where payloads Blob Storage could not take wait to be replayed, default ``./modeldata-spool``;
set to empty to turn the spool off (such rows are then counted as failed)."""

SPOOL_MAX_BYTES: Final = "OTEL_MODELDATA_SPOOL_MAX_BYTES"
"""Bytes the spool folder may hold, default ``1073741824`` (1 GiB); more is dropped as ``spool_full``."""

SHUTDOWN_TIMEOUT: Final = "OTEL_MODELDATA_SHUTDOWN_TIMEOUT_MILLIS"
"""Milliseconds ``shutdown()`` and the exit flushes may take, default ``10000``; what is not written
by then is spooled."""

APPEND_DEADLINE: Final = "OTEL_MODELDATA_APPEND_DEADLINE_MILLIS"
"""Milliseconds one Blob Storage operation may spend retrying before its payload is spooled, default
``20000``."""

MAX_CONCURRENT_APPENDS: Final = "OTEL_MODELDATA_MAX_CONCURRENT_APPENDS"
"""Blob Storage appends in flight at once, each to another file, default ``16``; ``1`` appends one file
after another."""

APPINSIGHTS_CONNECTION_STRING: Final = "APPLICATIONINSIGHTS_CONNECTION_STRING"
"""When set, spans go to Application Insights (model data never does)."""

SERVICE_NAME: Final = "OTEL_SERVICE_NAME"
"""The OpenTelemetry service name: the default of ``OTEL_MODELDATA_WEBSERVICE``."""

AML_STORAGE_ENABLED: Final = "AML_MODEL_DC_STORAGE_ENABLED"
"""A classic Azure ML deployment's switch: the fallback of ``OTEL_MODELDATA_ENABLED``."""

AML_STORAGE: Final = "AML_MODEL_DC_STORAGE"
"""A classic deployment's storage connection string: the fallback of
``OTEL_MODELDATA_STORAGE_CONNECTION_STRING``, before ``AZURE_STORAGE_CONNECTION_STRING``."""

AML_SERVICE_NAME: Final = "SERVICE_NAME"
"""A classic deployment's service name: the default of ``OTEL_MODELDATA_WEBSERVICE`` after
``OTEL_SERVICE_NAME``."""

MODEL_CONFIG_MAP: Final = "AML_MODEL_CONFIG_MAP"
"""Path of a classic deployment's model config map, default ``/var/azureml-app/model_config_map.json``:
subscription, resource group, workspace and model versions below our own variables (see :mod:`deployment`)."""

DEFAULT_LOCAL_DIR: Final = "./modeldata-local"
DEFAULT_NAME: Final = "default"
DEFAULT_MODEL_VERSION: Final = "1"
DEFAULT_MAX_ROWS_PER_CALL: Final = 100_000
DEFAULT_MAX_QUEUE_ROWS: Final = 100_000
DEFAULT_SCHEDULE_DELAY: Final = 1000
DEFAULT_EXPORT_BATCH_SIZE: Final = 512
DEFAULT_CONTAINER: Final = "modeldata"
DEFAULT_FILE_MODE: Final = 0o600
DEFAULT_SPOOL_DIR: Final = "./modeldata-spool"
DEFAULT_SPOOL_MAX_BYTES: Final = 1024**3
DEFAULT_SHUTDOWN_TIMEOUT: Final = 10_000
DEFAULT_APPEND_DEADLINE: Final = 20_000
DEFAULT_MAX_CONCURRENT_APPENDS: Final = 16

_TRUE: Final = frozenset({"true", "1", "yes", "on"})
_FALSE: Final = frozenset({"false", "0", "no", "off"})
_CONTAINER_NAME: Final = re.compile(r"[a-z0-9](?:-?[a-z0-9])*")

#: Every ``configure()`` keyword and the variable it overrides.
KEYWORDS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "enabled": ENABLED,
        "strict": STRICT,
        "local_dir": LOCAL_DIR,
        "subscription_id": SUBSCRIPTION_ID,
        "resource_group": RESOURCE_GROUP,
        "workspace": WORKSPACE,
        "webservice": WEBSERVICE,
        "model_version": MODEL_VERSION,
        "max_rows_per_call": MAX_ROWS_PER_CALL,
        "max_queue_rows": MAX_QUEUE_ROWS,
        "max_cell_bytes": MAX_CELL_BYTES,
        "max_value_bytes": MAX_VALUE_BYTES,
        "collect_errors": COLLECT_ERRORS,
        "file_mode": FILE_MODE,
        "schedule_delay_millis": SCHEDULE_DELAY,
        "export_batch_size": EXPORT_BATCH_SIZE,
        "storage_connection_string": STORAGE_CONNECTION_STRING,
        "storage_account_url": STORAGE_ACCOUNT_URL,
        "container": CONTAINER,
        "blob_prefix": BLOB_PREFIX,
        "spool_dir": SPOOL_DIR,
        "spool_max_bytes": SPOOL_MAX_BYTES,
        "shutdown_timeout_millis": SHUTDOWN_TIMEOUT,
        "append_deadline_millis": APPEND_DEADLINE,
        "max_concurrent_appends": MAX_CONCURRENT_APPENDS,
        "appinsights_connection_string": APPINSIGHTS_CONNECTION_STRING,
        "sample_rate": SAMPLE_RATE,
        "redact": REDACT,
        "hash": HASH,
        "hash_key": HASH_KEY,
        "csv_formula_guard": CSV_FORMULA_GUARD,
    }
)


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
    #: Versions by model name from a classic deployment's config map, used when no version is configured.
    model_versions: Mapping[str, str] = field(default_factory=dict)
    max_rows_per_call: int = DEFAULT_MAX_ROWS_PER_CALL
    max_queue_rows: int = DEFAULT_MAX_QUEUE_ROWS
    schedule_delay_millis: int = DEFAULT_SCHEDULE_DELAY
    export_batch_size: int = DEFAULT_EXPORT_BATCH_SIZE
    max_cell_bytes: int = DEFAULT_MAX_CELL_BYTES
    max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES
    collect_errors: bool = True
    file_mode: int = DEFAULT_FILE_MODE
    storage_connection_string: str | None = field(default=None, repr=False)
    storage_account_url: str | None = field(default=None, repr=False)
    container: str = DEFAULT_CONTAINER
    blob_prefix: str = ""
    spool_dir: str | None = DEFAULT_SPOOL_DIR
    spool_max_bytes: int = DEFAULT_SPOOL_MAX_BYTES
    shutdown_timeout_millis: int = DEFAULT_SHUTDOWN_TIMEOUT
    append_deadline_millis: int = DEFAULT_APPEND_DEADLINE
    max_concurrent_appends: int = DEFAULT_MAX_CONCURRENT_APPENDS
    appinsights_connection_string: str | None = field(default=None, repr=False)
    sample_rate: float = 1.0
    redact: tuple[str, ...] = ()
    hash: tuple[str, ...] = ()
    hash_key: str | None = field(default=None, repr=False)
    csv_formula_guard: bool = True

    @cached_property
    def policy(self) -> Policy:
        """What every model collects unless its own arguments extend it."""
        key = (self.hash_key or "").encode("utf-8")
        return Policy(
            self.sample_rate, frozenset(self.redact), frozenset(self.hash), key, self.csv_formula_guard
        )

    def version_of(self, model: str) -> str:
        """The version of ``model`` when the code gives none."""
        return (
            self.model_versions.get(model, self.model_version) if self.model_versions else self.model_version
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Resolve settings from ``environ`` (default ``os.environ``), then apply ``overrides``.

        A keyword given as ``None`` counts as not given. Unknown keywords are a ``TypeError``;
        a value that can never work is a :class:`ConfigurationError` naming the setting.
        """
        unknown = set(overrides) - set(KEYWORDS)
        if unknown:
            raise TypeError(f"unknown configure() argument(s): {', '.join(sorted(unknown))}")
        env = os.environ if environ is None else environ
        source = _Source(env, overrides)
        deployment = _deployment(env)
        resolved = cls(
            enabled=source.boolean("enabled", True, fallback=AML_STORAGE_ENABLED),
            strict=source.boolean("strict", False),
            local_dir=source.path("local_dir", DEFAULT_LOCAL_DIR),
            identity=Identity(
                subscription_id=source.name("subscription_id", deployment.subscription_id or DEFAULT_NAME),
                resource_group=source.name("resource_group", deployment.resource_group or DEFAULT_NAME),
                workspace=source.name("workspace", deployment.workspace or DEFAULT_NAME),
                webservice=source.name("webservice", DEFAULT_NAME, fallback=(SERVICE_NAME, AML_SERVICE_NAME)),
            ),
            model_version=source.name("model_version", DEFAULT_MODEL_VERSION, numbers=True),
            model_versions={} if source.given("model_version") else deployment.model_versions,
            max_rows_per_call=source.positive_int("max_rows_per_call", DEFAULT_MAX_ROWS_PER_CALL),
            max_queue_rows=source.positive_int("max_queue_rows", DEFAULT_MAX_QUEUE_ROWS),
            schedule_delay_millis=source.positive_int("schedule_delay_millis", DEFAULT_SCHEDULE_DELAY),
            export_batch_size=source.positive_int("export_batch_size", DEFAULT_EXPORT_BATCH_SIZE),
            max_cell_bytes=source.positive_int("max_cell_bytes", DEFAULT_MAX_CELL_BYTES),
            max_value_bytes=source.positive_int("max_value_bytes", DEFAULT_MAX_VALUE_BYTES),
            collect_errors=source.boolean("collect_errors", True),
            file_mode=source.file_mode(),
            storage_connection_string=source.secret(
                "storage_connection_string", fallback=(AML_STORAGE, AZURE_STORAGE_CONNECTION_STRING)
            ),
            storage_account_url=source.secret("storage_account_url"),
            container=source.container(),
            blob_prefix=source.prefix(),
            spool_dir=source.optional_path("spool_dir", DEFAULT_SPOOL_DIR),
            spool_max_bytes=source.positive_int("spool_max_bytes", DEFAULT_SPOOL_MAX_BYTES),
            shutdown_timeout_millis=source.positive_int("shutdown_timeout_millis", DEFAULT_SHUTDOWN_TIMEOUT),
            append_deadline_millis=source.positive_int("append_deadline_millis", DEFAULT_APPEND_DEADLINE),
            max_concurrent_appends=source.positive_int(
                "max_concurrent_appends", DEFAULT_MAX_CONCURRENT_APPENDS
            ),
            appinsights_connection_string=source.secret("appinsights_connection_string"),
            sample_rate=source.rate("sample_rate"),
            redact=source.columns("redact"),
            hash=source.columns("hash"),
            hash_key=source.secret("hash_key"),
            csv_formula_guard=source.boolean("csv_formula_guard", True),
        )
        if resolved.hash and not resolved.hash_key:
            raise ConfigurationError(
                f"{HASH} (hash) names columns to hash but {HASH_KEY} (hash_key) is not set: "
                "set a secret key, or the values could not be hashed"
            )
        if not source.given("max_rows_per_call"):
            # Only the queue was made smaller: a call can then keep no more rows than it holds.
            resolved = replace(
                resolved, max_rows_per_call=min(resolved.max_rows_per_call, resolved.max_queue_rows)
            )
        if resolved.max_queue_rows < resolved.max_rows_per_call:
            raise ConfigurationError(
                f"{MAX_QUEUE_ROWS} ({resolved.max_queue_rows}) must be at least "
                f"{MAX_ROWS_PER_CALL} ({resolved.max_rows_per_call}), or large calls could never be queued"
            )
        return resolved

    @property
    def uses_blob_storage(self) -> bool:
        """True when a storage account is configured; otherwise the local folder is used."""
        return bool(self.storage_connection_string or self.storage_account_url)


def strict_requested(environ: Mapping[str, str] | None = None) -> bool:
    """``OTEL_MODELDATA_STRICT`` read on its own, for when the other settings could not be resolved."""
    return _Source(os.environ if environ is None else environ, {}).boolean("strict", False)


class _Source:
    """Raw values by keyword, from the overrides or the environment, with the name to blame.

    A value is named in errors as ``keyword (VARIABLE)`` when it came from ``configure()``,
    and as the variable it was read from otherwise (``OTEL_SERVICE_NAME``, say).
    """

    def __init__(self, env: Mapping[str, str], overrides: Mapping[str, Any]) -> None:
        self._env = env
        self._overrides = overrides

    def given(self, keyword: str) -> bool:
        """Whether ``keyword`` was set at all, as a keyword or in the environment."""
        return self._overrides.get(keyword) is not None or bool(self._env.get(KEYWORDS[keyword], "").strip())

    def _lookup(
        self, keyword: str, fallback: str | tuple[str, ...] | None = None
    ) -> tuple[object, str, bool] | None:
        """The raw value, where it came from, and whether that was a keyword; None when unset."""
        variable = KEYWORDS[keyword]
        value = self._overrides.get(keyword)
        if value is not None:
            return value, f"{keyword} ({variable})", True
        for name in (variable, *((fallback,) if isinstance(fallback, str) else fallback or ())):
            raw = self._env.get(name, "") if name else ""
            if raw.strip():
                return raw, name if name == variable else f"{name} (the default of {variable})", False
        return None

    def boolean(self, keyword: str, default: bool, fallback: str | None = None) -> bool:
        found = self._lookup(keyword, fallback)
        if found is None:
            return default
        value, origin, from_keyword = found
        if isinstance(value, bool):
            return value
        text = value.strip().lower() if isinstance(value, str) else None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        if from_keyword:
            raise ConfigurationError(f"{origin} must be a boolean (or 'true'/'false'), got {value!r}")
        _log.warning("%s=%r is not a boolean; using the default %s", origin, value, str(default).lower())
        return default

    def positive_int(self, keyword: str, default: int) -> int:
        found = self._lookup(keyword)
        if found is None:
            return default
        value, origin, from_keyword = found
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and value.strip().isdecimal():
            number = int(value)
        if number is not None and number >= 1:
            return number
        if from_keyword:
            raise ConfigurationError(f"{origin} must be a positive integer, got {value!r}")
        _log.warning("%s=%r is not a positive integer; using the default %d", origin, value, default)
        return default

    def rate(self, keyword: str) -> float:
        found = self._lookup(keyword)
        if found is None:
            return 1.0
        value, origin, from_keyword = found
        try:
            return check_rate(float(value) if isinstance(value, str) else value, origin)
        except ValueError:
            if from_keyword:
                raise ConfigurationError(f"{origin} must be a number from 0 to 1, got {value!r}") from None
        _log.warning("%s=%r is not a number from 0 to 1; using the default 1", origin, value)
        return 1.0

    def columns(self, keyword: str) -> tuple[str, ...]:
        """Column names: comma-separated text, or (as a keyword) a sequence of names."""
        found = self._lookup(keyword)
        if found is None:
            return ()
        value, origin, _ = found
        names = value.split(",") if isinstance(value, str) else value
        if not isinstance(names, (list, tuple, set, frozenset)) or not all(isinstance(n, str) for n in names):
            raise ConfigurationError(f"{origin} must be column names (comma-separated text or a list of str)")
        return tuple(dict.fromkeys(n.strip() for n in names if n.strip()))

    def name(
        self,
        keyword: str,
        default: str,
        *,
        fallback: str | tuple[str, ...] | None = None,
        numbers: bool = False,
    ) -> str:
        found = self._lookup(keyword, fallback)
        if found is None:
            return default
        value, origin, _ = found
        if numbers and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        return _check(value, origin)

    def path(self, keyword: str, default: str) -> str:
        found = self._lookup(keyword)
        if found is None:
            return default
        value, origin, _ = found
        path = os.fspath(value) if isinstance(value, os.PathLike) else value
        if not isinstance(path, str) or not path.strip():
            raise ConfigurationError(f"{origin} must be a non-empty path (str or os.PathLike), got {value!r}")
        return path

    def optional_path(self, keyword: str, default: str) -> str | None:
        """A path, or None when set to empty (the variable present but blank, or the keyword ``""``)."""
        value = self._overrides.get(keyword)
        if value is None:
            raw = self._env.get(KEYWORDS[keyword])
            if raw is None:
                return default
            value = raw
        if isinstance(value, str) and not value.strip():
            return None
        return self.path(keyword, default)

    def secret(self, keyword: str, fallback: str | tuple[str, ...] | None = None) -> str | None:
        """A connection string or URL; an empty keyword turns it off. Never quoted in errors."""
        found = self._lookup(keyword, fallback)
        if found is None:
            return None
        value, origin, _ = found
        if not isinstance(value, str):
            raise ConfigurationError(f"{origin} must be a string, got {type(value).__name__}")
        return value.strip() or None

    def file_mode(self) -> int:
        """Read and write bits only, the owner's included: ``0640``, ``"640"`` or ``0o640``."""
        found = self._lookup("file_mode")
        if found is None:
            return DEFAULT_FILE_MODE
        value, origin, from_keyword = found
        mode: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            mode = value
        elif isinstance(value, str) and re.fullmatch(r"(0o?)?[0-7]{1,4}", value.strip()):
            mode = int(value.strip().removeprefix("0o"), 8)
        if mode is not None and mode & ~0o666 == 0 and mode & 0o600 == 0o600:
            return mode
        message = f"{origin} must be an octal mode of read and write bits, the owner's included (0600, 0640)"
        if from_keyword:
            raise ConfigurationError(f"{message}, got {value!r}")
        _log.warning("%s; got %r, using the default %04o", message, value, DEFAULT_FILE_MODE)
        return DEFAULT_FILE_MODE

    def container(self) -> str:
        found = self._lookup("container")
        if found is None:
            return DEFAULT_CONTAINER
        value, origin, _ = found
        name = _check(value, origin)
        if not (3 <= len(name) <= 63 and _CONTAINER_NAME.fullmatch(name)):
            raise ConfigurationError(
                f"{origin} must follow Azure's rules for container names: 3-63 lowercase letters, digits "
                f"and single hyphens, starting and ending with a letter or digit; got {name!r}"
            )
        return name

    def prefix(self) -> str:
        found = self._lookup("blob_prefix")
        if found is None:
            return ""
        value, origin, _ = found
        if not isinstance(value, str):
            raise ConfigurationError(f"{origin} must be a string, got {type(value).__name__}")
        for part in filter(None, value.split("/")):
            _check(part, origin)
        return value


def _deployment(env: Mapping[str, str]) -> ConfigMap:
    """A classic deployment's config map (``AML_MODEL_CONFIG_MAP``), its names checked like our variables."""
    path = env.get(MODEL_CONFIG_MAP, "").strip() or DEFAULT_MODEL_CONFIG_MAP
    found = read_config_map(path)
    for what in ("subscription_id", "resource_group", "workspace"):
        value = getattr(found, what)
        if value is not None:
            _check(value, f"{what} in {path} ({MODEL_CONFIG_MAP})")
    for model, version in found.model_versions.items():
        _check(version, f"the version of {model} in {path} ({MODEL_CONFIG_MAP})")
    return found


def folder_mode(file_mode: int) -> int:
    """The mode of folders for ``file_mode``: an ``x`` bit wherever there is an ``r`` bit."""
    return file_mode | (file_mode & 0o444) >> 2


def _check(value: object, origin: str) -> str:
    try:
        return check_name(value, origin)
    except InvalidNameError as exc:
        raise ConfigurationError(str(exc)) from None
