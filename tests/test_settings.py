"""Configuration: documented defaults, environment variables, overrides win, bad values refused."""

from __future__ import annotations

import logging

import pytest

from otel_modeldata import ConfigurationError, Settings
from otel_modeldata.layout import Identity


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.enabled is True
    assert settings.strict is False
    assert settings.local_dir == "./modeldata-local"
    assert settings.identity == Identity("default", "default", "default", "default")
    assert settings.model_version == "1"
    assert settings.container == "modeldata"
    assert settings.blob_prefix == ""
    assert not settings.uses_blob_storage


def test_environment_variables() -> None:
    settings = Settings.from_env(
        {
            "OTEL_MODELDATA_ENABLED": "False",
            "OTEL_MODELDATA_STRICT": "1",
            "OTEL_MODELDATA_LOCAL_DIR": "/data",
            "OTEL_MODELDATA_SUBSCRIPTION_ID": "sub",
            "OTEL_MODELDATA_RESOURCE_GROUP": "rg",
            "OTEL_MODELDATA_WORKSPACE": "ws",
            "OTEL_MODELDATA_WEBSERVICE": "svc",
            "OTEL_MODELDATA_MODEL_VERSION": "12",
            "OTEL_MODELDATA_MAX_ROWS_PER_CALL": "10",
            "OTEL_MODELDATA_MAX_QUEUE_ROWS": "20",
            "OTEL_BLRP_SCHEDULE_DELAY": "250",
            "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE": "64",
        }
    )
    assert (settings.enabled, settings.strict, settings.local_dir) == (False, True, "/data")
    assert settings.identity == Identity("sub", "rg", "ws", "svc")
    assert settings.model_version == "12"
    assert settings.max_rows_per_call == 10
    assert (settings.max_queue_rows, settings.schedule_delay_millis, settings.export_batch_size) == (
        20,
        250,
        64,
    )


def test_webservice_falls_back_to_the_service_name() -> None:
    assert Settings.from_env({"OTEL_SERVICE_NAME": "scorer"}).identity.webservice == "scorer"
    both = {"OTEL_SERVICE_NAME": "scorer", "OTEL_MODELDATA_WEBSERVICE": "svc"}
    assert Settings.from_env(both).identity.webservice == "svc"


def test_configuration_precedence_override_wins() -> None:
    env = {"OTEL_MODELDATA_LOCAL_DIR": "/env", "OTEL_MODELDATA_WORKSPACE": "env-ws"}
    settings = Settings.from_env(env, local_dir="/arg", workspace="arg-ws")
    assert settings.local_dir == "/arg"
    assert settings.identity.workspace == "arg-ws"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OTEL_MODELDATA_WORKSPACE", "../up"),
        ("OTEL_MODELDATA_SUBSCRIPTION_ID", "a/b"),
        ("OTEL_MODELDATA_RESOURCE_GROUP", ".."),
        ("OTEL_MODELDATA_WEBSERVICE", "x\x00"),
        ("OTEL_MODELDATA_MODEL_VERSION", "1/2"),
        ("OTEL_MODELDATA_CONTAINER", "a/b"),
        ("OTEL_MODELDATA_BLOB_PREFIX", "ok/../up"),
    ],
)
def test_unsafe_path_values_are_refused_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=variable):
        Settings.from_env({variable: value})


def test_unsafe_override_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="OTEL_MODELDATA_WORKSPACE"):
        Settings.from_env({}, workspace="..")


def test_unknown_override_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="colour"):
        Settings.from_env({}, colour="blue")


def test_bad_boolean_warns_and_keeps_the_default(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert Settings.from_env({"OTEL_MODELDATA_ENABLED": "maybe"}).enabled is True
    assert "OTEL_MODELDATA_ENABLED" in caplog.text


def test_bad_integer_warns_and_keeps_the_default(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert Settings.from_env({"OTEL_MODELDATA_MAX_ROWS_PER_CALL": "-3"}).max_rows_per_call == 100_000
    assert "OTEL_MODELDATA_MAX_ROWS_PER_CALL" in caplog.text


@pytest.mark.parametrize(
    ("environ", "overrides"),
    [({"OTEL_MODELDATA_MAX_QUEUE_ROWS": "500"}, {}), ({}, {"max_queue_rows": 500})],
)
def test_a_smaller_queue_alone_lowers_the_rows_kept_per_call(
    environ: dict[str, str], overrides: dict[str, int]
) -> None:
    settings = Settings.from_env(environ, **overrides)
    assert (settings.max_queue_rows, settings.max_rows_per_call) == (500, 500)


def test_a_queue_smaller_than_one_call_is_refused_naming_both_variables() -> None:
    environ = {"OTEL_MODELDATA_MAX_QUEUE_ROWS": "500", "OTEL_MODELDATA_MAX_ROWS_PER_CALL": "1000"}
    with pytest.raises(ConfigurationError, match=r"MAX_QUEUE_ROWS \(500\).*MAX_ROWS_PER_CALL \(1000\)"):
        Settings.from_env(environ)


def test_secrets_stay_out_of_repr() -> None:
    settings = Settings.from_env(
        {
            "OTEL_MODELDATA_STORAGE_CONNECTION_STRING": "AccountKey=SECRETKEY",
            "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=SECRETIKEY",
        }
    )
    assert settings.uses_blob_storage
    assert "SECRET" not in repr(settings)
    assert "SECRET" not in str(settings)
