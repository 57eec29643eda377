"""Names cannot leave the root, and keys never show: not in logs, errors, reprs or written files."""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

import pytest
from opentelemetry._logs import LogRecord
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.resources import Resource

import otel_modeldata
from _appinsights import Receiver
from _azurite import Azurite
from otel_modeldata import ConfigurationError, InvalidNameError, ModelDataCollector, collect_io, schema
from otel_modeldata.destinations import from_settings
from otel_modeldata.settings import Settings

from csvfiles import BlobStore

#: Names that try to leave the root, or would look like they do to a person or a decoding reader.
UNSAFE = {
    "dot-dot": "../escape",
    "absolute": "/etc/cron.d",
    "percent dots": "%2e%2e",
    "percent slash": "..%2fescape",
    "NUL": "model\x00.csv",
    "division slash U+2215": "a\u2215b",
    "fullwidth solidus U+FF0F": "a\uff0fb",
    "fullwidth dots": "\uff0e\uff0e",
    "drive": "C:",
    "drive path": "C:\\Windows",
    "UNC": "\\\\server\\share",
}
IDS = list(UNSAFE)
NAMES = list(UNSAFE.values())


@pytest.mark.parametrize("name", NAMES, ids=IDS)
def test_unsafe_model_names_versions_and_designations_are_refused(name: str) -> None:
    with pytest.raises(InvalidNameError):
        collect_io(name)
    with pytest.raises(InvalidNameError):
        collect_io("ok", model_version=name)
    with pytest.raises(InvalidNameError):
        ModelDataCollector(name)
    with pytest.raises(InvalidNameError):
        ModelDataCollector("ok", designation=name)


@pytest.mark.parametrize("keyword", ["subscription_id", "resource_group", "workspace", "webservice"])
@pytest.mark.parametrize("name", NAMES, ids=IDS)
def test_unsafe_identity_levels_are_refused(keyword: str, name: str) -> None:
    with pytest.raises(ConfigurationError, match=keyword):
        Settings.from_env({}, **{keyword: name})
    variable = f"OTEL_MODELDATA_{keyword.upper()}"
    with pytest.raises(ConfigurationError, match=variable):
        Settings.from_env({variable: name})


@pytest.mark.parametrize("name", [n for n in NAMES if not n.startswith("/")], ids=IDS[:1] + IDS[2:])
def test_unsafe_blob_prefixes_are_refused(name: str) -> None:
    with pytest.raises(ConfigurationError, match="blob_prefix"):
        Settings.from_env({}, blob_prefix=f"team/{name}/x")


@pytest.mark.parametrize("name", NAMES, ids=IDS)
def test_records_with_unsafe_names_from_other_emitters_stay_inside_the_root(
    collector: otel_modeldata.ModelDataHandle, local_root: Path, name: str
) -> None:
    exporter = collector.exporter
    assert exporter is not None
    for attributes in (
        {schema.DESIGNATION: name, schema.MODEL_NAME: "m"},
        {schema.DESIGNATION: "inputs", schema.MODEL_NAME: name},
        {schema.DESIGNATION: "inputs", schema.MODEL_NAME: "m", schema.MODEL_VERSION: name},
    ):
        record = LogRecord(timestamp=1, body=[[1]], attributes=attributes)
        exporter.export([ReadableLogRecord(log_record=record, resource=Resource.create({}))])
    assert not local_root.exists() or not any(local_root.rglob("*.csv"))
    assert sorted(p.name for p in local_root.parent.iterdir()) == (
        ["collected"] if local_root.exists() else []
    )
    assert otel_modeldata.stats()["rows_dropped"] == {"bad_record": 3}


@pytest.mark.azurite
def test_a_leading_slash_in_the_blob_prefix_stays_inside_the_container(
    azurite: Azurite, container_name: str
) -> None:
    store = BlobStore(azurite, container_name)
    try:
        handle = store.configure(blob_prefix="/abs/")
        ModelDataCollector("m", designation="inputs").collect([[1]])
        handle.force_flush()
        assert [name.split("/")[:2] for name in store.files()] == [["abs", "sub-1"]]
    finally:
        store.close()


@collect_io("secretive", feature_names=["x"])
def run(data: list[list[int]]) -> int:
    if data[0][0] < 0:
        raise ValueError("negative")
    return 1


@pytest.mark.azurite
def test_known_keys_appear_in_no_log_error_repr_or_file(
    azurite: Azurite,
    container_name: str,
    appinsights: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Azurite's key is public, so any leak of it (or of the fake App Insights key) is visible."""
    account_key, ikey = azurite.account_key, appinsights.instrumentation_key
    caplog.set_level(logging.DEBUG)
    store = BlobStore(azurite, container_name)
    try:
        handle = store.configure()
        assert handle.settings.appinsights_connection_string == appinsights.connection_string
        assert run([[1]]) == 1
        with pytest.raises(ValueError, match="negative") as failed:
            run([[-1]])
        assert handle.force_flush()
        appinsights.wait_for(lambda envelopes: len(envelopes) >= 2)
        with pytest.raises(ConfigurationError) as refused:
            from_settings(
                Settings.from_env({}, storage_connection_string=f"AccountKey={account_key};nonsense")
            )
        assert handle.exporter is not None
        destination = handle.exporter.destination
        reprs = [repr(handle), repr(handle.settings), str(handle.settings), repr(destination)]
        reprs += [destination.describe(), repr(handle.exporter)]
        files = [store.read_bytes(name).decode("utf-8") for name in store.files()]
        assert len(files) == 3  # inputs, predictions, errors
        handle.shutdown()
    finally:
        store.close()
    logged = [logging.Formatter("%(name)s %(message)s").format(r) for r in caplog.records]
    assert len(logged) > 10  # DEBUG from azure.core and the exporters was captured
    errors = ["".join(traceback.format_exception(e.value)) for e in (failed, refused)]
    for text in [*logged, *errors, *reprs, *files]:
        assert account_key not in text
        assert ikey not in text
