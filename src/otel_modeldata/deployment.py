"""Pure: what a classic Azure ML deployment's ``model_config_map.json`` tells about where it runs.

Azure ML mounts ``/var/azureml-app/model_config_map.json`` in the scoring container; the
classic collector took the subscription, resource group, workspace and model versions from
it. Its shape is not documented, so the reader is tolerant: keys are matched without regard
to case or ``_``, at the top level or one object down (``{"accountContext": {...}}``), and
the models may be ``{"name": {"version": 3}}``, ``{"name": 3}``, ``[{"name": ..., "version":
...}]`` or ``["name:3"]``. What it does not recognise it ignores, with a warning.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

_log = logging.getLogger(__name__)

DEFAULT_PATH: Final = "/var/azureml-app/model_config_map.json"

_SUBSCRIPTION: Final = frozenset({"subscriptionid", "subscription"})
_RESOURCE_GROUP: Final = frozenset({"resourcegroupname", "resourcegroup"})
_WORKSPACE: Final = frozenset({"accountname", "workspacename", "workspace"})
_MODELS: Final = frozenset({"models", "modelversions"})


@dataclass(frozen=True)
class ConfigMap:
    """The values found (``None`` for those not found), unchecked: settings checks path names."""

    subscription_id: str | None = None
    resource_group: str | None = None
    workspace: str | None = None
    model_versions: Mapping[str, str] = field(default_factory=dict)


def read_config_map(path: str) -> ConfigMap:
    """The config map at ``path``; empty when there is none, with a warning when it cannot be read."""
    try:
        with open(path, encoding="utf-8") as file:
            document = json.load(file)
    except FileNotFoundError:
        return ConfigMap()
    except (OSError, ValueError) as exc:
        _log.warning("otel_modeldata: %s is ignored, it could not be read as JSON: %s", path, exc)
        return ConfigMap()
    if not isinstance(document, dict):
        _log.warning("otel_modeldata: %s is ignored, it is not a JSON object", path)
        return ConfigMap()
    return ConfigMap(
        subscription_id=_text(_find(document, _SUBSCRIPTION)),
        resource_group=_text(_find(document, _RESOURCE_GROUP)),
        workspace=_text(_find(document, _WORKSPACE)),
        model_versions=_versions(_find(document, _MODELS), path),
    )


def _key(name: str) -> str:
    return name.replace("_", "").lower()


def _find(document: Mapping[str, Any], names: frozenset[str]) -> Any:
    """The value of the first key in ``names``, at the top level, else in an object one level down."""
    for key, value in document.items():
        if _key(key) in names:
            return value
    for value in document.values():
        if isinstance(value, dict):
            for key, inner in value.items():
                if _key(key) in names:
                    return inner
    return None


def _text(value: Any) -> str | None:
    if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
        return str(value).strip()
    return None


def _versions(models: Any, path: str) -> dict[str, str]:
    """Model name -> version, from any of the shapes the module docstring lists."""
    pairs: list[tuple[Any, Any]] = []
    if isinstance(models, dict):
        for name, entry in models.items():
            pairs.append((name, _find(entry, frozenset({"version"})) if isinstance(entry, dict) else entry))
    elif isinstance(models, list):
        for entry in models:
            if isinstance(entry, dict):
                pairs.append((_find(entry, frozenset({"name"})), _find(entry, frozenset({"version"}))))
            elif isinstance(entry, str) and ":" in entry:
                pairs.append(tuple(entry.rsplit(":", 1)))  # type: ignore[arg-type]
    elif models is not None:
        _log.warning("otel_modeldata: the models of %s are ignored, their shape is not recognised", path)
    found = {_text(name): _text(version) for name, version in pairs}
    return {name: version for name, version in found.items() if name and version}
