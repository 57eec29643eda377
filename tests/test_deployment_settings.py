"""A classic Azure ML deployment's settings, below our own ``OTEL_MODELDATA_*`` variables:
``AML_MODEL_DC_STORAGE_ENABLED``, ``AML_MODEL_DC_STORAGE``, ``SERVICE_NAME`` and the model config map."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

import otel_modeldata
from otel_modeldata import ModelDataCollector, Settings

ACCOUNT = {"subscriptionId": "1a2b3c4d", "resourceGroupName": "myresourcegrp", "accountName": "myWorkspace"}


def _config_map(tmp_path: Path, document: Any) -> dict[str, str]:
    path = tmp_path / "model_config_map.json"
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    return {"AML_MODEL_CONFIG_MAP": str(path)}


def test_classic_variables_are_fallbacks_below_ours() -> None:
    assert Settings.from_env({"AML_MODEL_DC_STORAGE_ENABLED": "false"}).enabled is False
    assert Settings.from_env({"AML_MODEL_DC_STORAGE_ENABLED": "true"}).enabled is True
    both = {"AML_MODEL_DC_STORAGE_ENABLED": "false", "OTEL_MODELDATA_ENABLED": "true"}
    assert Settings.from_env(both).enabled is True

    classic = Settings.from_env({"AML_MODEL_DC_STORAGE": "UseDevelopmentStorage=true"})
    assert classic.storage_connection_string == "UseDevelopmentStorage=true"
    assert classic.uses_blob_storage
    over_azure = {"AML_MODEL_DC_STORAGE": "aml", "AZURE_STORAGE_CONNECTION_STRING": "azure"}
    assert Settings.from_env(over_azure).storage_connection_string == "aml"
    ours = {**over_azure, "OTEL_MODELDATA_STORAGE_CONNECTION_STRING": "ours"}
    assert Settings.from_env(ours).storage_connection_string == "ours"
    assert Settings.from_env(ours, storage_connection_string="").storage_connection_string is None

    assert Settings.from_env({"SERVICE_NAME": "aks-w-collv9"}).identity.webservice == "aks-w-collv9"
    otel = {"SERVICE_NAME": "aks-w-collv9", "OTEL_SERVICE_NAME": "otel-name"}
    assert Settings.from_env(otel).identity.webservice == "otel-name"
    assert Settings.from_env({**otel, "OTEL_MODELDATA_WEBSERVICE": "ours"}).identity.webservice == "ours"


@pytest.mark.parametrize(
    "document",
    [
        {"accountContext": ACCOUNT, "models": {"best_model": {"version": 10}, "other": {"version": "2"}}},
        {**ACCOUNT, "models": {"best_model": 10, "other": "2"}},
        {
            "account_context": {"subscription_id": "1a2b3c4d", "resource_group": "myresourcegrp"},
            "workspace_name": "myWorkspace",
            "models": [{"name": "best_model", "version": 10}, "other:2"],
        },
    ],
)
def test_the_model_config_map_gives_identity_and_versions(tmp_path: Path, document: Any) -> None:
    settings = Settings.from_env(_config_map(tmp_path, document))
    assert settings.identity.workspace_path == "1a2b3c4d/myresourcegrp/myWorkspace"
    assert (settings.version_of("best_model"), settings.version_of("other")) == ("10", "2")
    assert settings.version_of("unlisted") == "1"


def test_our_variables_win_over_the_model_config_map(tmp_path: Path) -> None:
    env = {
        **_config_map(tmp_path, {"accountContext": ACCOUNT, "models": {"best_model": {"version": 10}}}),
        "OTEL_MODELDATA_WORKSPACE": "ours",
        "OTEL_MODELDATA_MODEL_VERSION": "3",
    }
    settings = Settings.from_env(env)
    assert settings.identity.workspace_path == "1a2b3c4d/myresourcegrp/ours"
    assert settings.version_of("best_model") == "3"


def test_a_model_config_map_that_cannot_be_used_is_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        settings = Settings.from_env(_config_map(tmp_path, "{not json"))
    assert settings.identity.workspace_path == "default/default/default"
    assert "model_config_map.json is ignored" in caplog.text
    bad = _config_map(tmp_path, {"accountContext": {**ACCOUNT, "accountName": "../up"}})
    with pytest.raises(otel_modeldata.ConfigurationError, match=r"workspace in .*AML_MODEL_CONFIG_MAP"):
        Settings.from_env(bad)
    assert Settings.from_env({"AML_MODEL_CONFIG_MAP": str(tmp_path / "absent.json")}) == Settings()


def test_a_classic_deployment_with_collection_off_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AML_MODEL_DC_STORAGE_ENABLED", "false")
    corr = ModelDataCollector("m", designation="inputs").collect([[1]])
    assert corr["correlation_id"]
    assert otel_modeldata.configure().force_flush()  # the handle of the collection configured lazily
    assert otel_modeldata.stats()["rows_accepted"] == 0
    assert list(tmp_path.iterdir()) == []
