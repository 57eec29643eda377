"""Configuration: documented defaults, environment variables, overrides win, bad values refused."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import otel_modeldata
from otel_modeldata import ConfigurationError, Settings
from otel_modeldata.layout import Identity
from otel_modeldata.settings import KEYWORDS


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
        ("OTEL_MODELDATA_CONTAINER", "Model_Data"),
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


#: Each configure() keyword: a value given as text or as its own type, and what it becomes.
ACCEPTED: list[tuple[str, object, object]] = [
    ("enabled", "false", False),
    ("enabled", False, False),
    ("strict", "1", True),
    ("strict", True, True),
    ("local_dir", Path("/data/collected"), "/data/collected"),
    ("subscription_id", "sub", "sub"),
    ("resource_group", "rg", "rg"),
    ("workspace", "ws", "ws"),
    ("webservice", "svc", "svc"),
    ("model_version", 3, "3"),
    ("max_rows_per_call", "10", 10),
    ("max_queue_rows", "5000", 5000),
    ("max_queue_rows", 5000, 5000),
    ("schedule_delay_millis", "250", 250),
    ("export_batch_size", 64, 64),
    ("max_cell_bytes", "1024", 1024),
    ("max_value_bytes", 4096, 4096),
    ("collect_errors", "false", False),
    ("file_mode", "0640", 0o640),
    ("file_mode", 0o600, 0o600),
    (
        "storage_connection_string",
        "BlobEndpoint=http://127.0.0.1:1/acct;",
        "BlobEndpoint=http://127.0.0.1:1/acct;",
    ),
    ("storage_account_url", "https://acct.blob.core.windows.net", "https://acct.blob.core.windows.net"),
    ("container", "model-data-2", "model-data-2"),
    ("blob_prefix", "team-a/scoring", "team-a/scoring"),
    ("spool_dir", Path("/var/spool/md"), "/var/spool/md"),
    ("spool_dir", "", None),
    ("spool_max_bytes", "4096", 4096),
    ("shutdown_timeout_millis", 2500, 2500),
    ("append_deadline_millis", "750", 750),
    ("max_concurrent_appends", "12", 12),
    (
        "appinsights_connection_string",
        "InstrumentationKey=00000000-0000-0000-0000-000000000000",
        "InstrumentationKey=00000000-0000-0000-0000-000000000000",
    ),
    ("sample_rate", "0.25", 0.25),
    ("sample_rate", 0, 0.0),
    ("redact", " email, ,phone ", ("email", "phone")),
    ("redact", ["email", "email", "zip"], ("email", "zip")),
    ("hash", "customer_id", ("customer_id",)),
    ("hash_key", "k3y", "k3y"),
    ("csv_formula_guard", "false", False),
]

#: Each configure() keyword: values that can never work.
REFUSED: list[tuple[str, object]] = [
    ("enabled", "maybe"),
    ("enabled", 2),
    ("strict", "yes please"),
    ("local_dir", ""),
    ("local_dir", b"/data"),
    ("subscription_id", "a/b"),
    ("resource_group", ""),
    ("workspace", ".."),
    ("webservice", ["svc"]),
    ("model_version", True),
    ("model_version", 1.5),
    ("max_rows_per_call", 0),
    ("max_rows_per_call", True),
    ("max_queue_rows", "5000x"),
    ("max_queue_rows", 2.5),
    ("schedule_delay_millis", "0"),
    ("export_batch_size", "1e3"),
    ("max_cell_bytes", -1),
    ("max_value_bytes", "8MiB"),
    ("collect_errors", "sometimes"),
    ("file_mode", "0700"),
    ("file_mode", "0044"),
    ("storage_connection_string", b"AccountKey=abc"),
    ("storage_account_url", 42),
    ("container", "Model_Data"),
    ("container", "ab"),
    ("container", "a" * 64),
    ("container", "a--b"),
    ("container", "-ab"),
    ("container", "ab-"),
    ("container", "$root"),
    ("blob_prefix", "ok/../up"),
    ("blob_prefix", 7),
    ("spool_dir", b"/spool"),
    ("spool_max_bytes", 0),
    ("shutdown_timeout_millis", "soon"),
    ("append_deadline_millis", -1),
    ("max_concurrent_appends", 0),
    ("appinsights_connection_string", 42),
    ("sample_rate", 1.5),
    ("sample_rate", "half"),
    ("sample_rate", True),
    ("redact", 5),
    ("redact", ["email", 7]),
    ("hash", b"email"),
    ("hash_key", 42),
    ("csv_formula_guard", "maybe"),
]

#: The accepted ``hash`` needs a key; it is harmless to every other keyword.
_KEYED = {"OTEL_MODELDATA_HASH_KEY": "k3y"}


def _resolved(settings: Settings, keyword: str) -> object:
    holder = settings.identity if hasattr(settings.identity, keyword) else settings
    return getattr(holder, keyword)


def test_the_keyword_tables_cover_every_configure_keyword() -> None:
    assert {case[0] for case in ACCEPTED} == set(KEYWORDS) == {case[0] for case in REFUSED}


@pytest.mark.parametrize(("keyword", "given", "expected"), ACCEPTED)
def test_every_keyword_takes_its_own_type_or_text_parsed_like_the_variable(
    keyword: str, given: object, expected: object
) -> None:
    assert _resolved(Settings.from_env(_KEYED, **{keyword: given}), keyword) == expected


@pytest.mark.parametrize(("keyword", "given"), REFUSED)
def test_every_keyword_refuses_a_value_that_can_never_work_naming_the_setting(
    keyword: str, given: object
) -> None:
    with pytest.raises(ConfigurationError, match=rf"{keyword} \({KEYWORDS[keyword]}\)"):
        Settings.from_env({}, **{keyword: given})


def test_configure_parses_enabled_false_and_refuses_a_bad_queue_bound(local_root: Path) -> None:
    with pytest.raises(ConfigurationError, match="max_queue_rows"):
        otel_modeldata.configure(local_dir=str(local_root), max_queue_rows="lots")
    assert not otel_modeldata.configure(local_dir=str(local_root), enabled="false").settings.enabled


def test_a_container_breaking_azures_rules_in_the_environment_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"OTEL_MODELDATA_CONTAINER.*'Model_Data'"):
        Settings.from_env({"OTEL_MODELDATA_CONTAINER": "Model_Data"})


def test_a_keyword_given_as_none_is_not_given() -> None:
    settings = Settings.from_env({"OTEL_MODELDATA_LOCAL_DIR": "/env"}, local_dir=None, max_queue_rows=None)
    assert (settings.local_dir, settings.max_queue_rows) == ("/env", 100_000)


def test_an_empty_connection_string_keyword_keeps_the_azure_variable_out() -> None:
    environ = {"AZURE_STORAGE_CONNECTION_STRING": "BlobEndpoint=http://127.0.0.1:1/other;"}
    assert Settings.from_env(environ).uses_blob_storage
    assert not Settings.from_env(environ, storage_connection_string="").uses_blob_storage


def test_an_empty_spool_variable_turns_the_spool_off_and_an_unset_one_keeps_the_default() -> None:
    assert Settings.from_env({"OTEL_MODELDATA_SPOOL_DIR": ""}).spool_dir is None
    assert Settings.from_env({}).spool_dir == "./modeldata-spool"
    assert Settings.from_env({"OTEL_MODELDATA_SPOOL_DIR": "/s"}).spool_dir == "/s"


def test_an_unsafe_service_name_is_refused_naming_otel_service_name() -> None:
    with pytest.raises(ConfigurationError, match=r"^OTEL_SERVICE_NAME .*path separator"):
        Settings.from_env({"OTEL_SERVICE_NAME": "payments/fraud-scorer"})


def test_hash_without_a_key_is_refused_naming_both_variables() -> None:
    with pytest.raises(ConfigurationError, match=r"OTEL_MODELDATA_HASH .*OTEL_MODELDATA_HASH_KEY"):
        Settings.from_env({"OTEL_MODELDATA_HASH": "email"})
    with pytest.raises(ConfigurationError, match=r"hash_key"):
        Settings.from_env({}, hash=["email"], hash_key="")


def test_the_hash_key_never_shows_in_repr_or_errors() -> None:
    settings = Settings.from_env({"OTEL_MODELDATA_HASH": "email", "OTEL_MODELDATA_HASH_KEY": "SECRETKEY"})
    assert settings.policy.hash_key == b"SECRETKEY"
    for text in (repr(settings), str(settings), repr(settings.policy)):
        assert "SECRETKEY" not in text
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env({"OTEL_MODELDATA_HASH_KEY": "SECRETKEY"}, hash_key=["SECRETKEY"])
    assert "SECRETKEY" not in str(refused.value)


@pytest.mark.parametrize("value", ["1.5", "-0.1", "half", "nan"])
def test_a_bad_sample_rate_in_the_environment_warns_and_collects_everything(
    value: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert Settings.from_env({"OTEL_MODELDATA_SAMPLE_RATE": value}).sample_rate == 1.0
    assert "OTEL_MODELDATA_SAMPLE_RATE" in caplog.text


def test_policy_defaults_collect_everything_with_the_formula_guard_on() -> None:
    policy = Settings.from_env({}).policy
    assert (policy.sample_rate, policy.redacted, policy.hashed, policy.formula_guard) == (
        1.0,
        frozenset(),
        frozenset(),
        True,
    )
