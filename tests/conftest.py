"""Shared fixtures: a clean environment, and collection into a temporary folder or a blob container."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import otel_modeldata
from otel_modeldata.stats import STATS

from csvfiles import BlobStore, LocalStore, Store
from gates import Gate

pytest_plugins: list[str] = ["_appinsights", "_azurite"]

_ISOLATED_PREFIXES = (
    "OTEL_MODELDATA_",
    "APPLICATIONINSIGHTS_",
    "AZURE_STORAGE_",
    "OTEL_SERVICE_NAME",
    "AML_MODEL_DC_",
    "AML_MODEL_CONFIG_MAP",
    "SERVICE_NAME",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Each test starts without our variables, with fresh counters and collection not yet configured,
    and with caches of its own (never the user's ``~/.cache``)."""
    for name in list(os.environ):
        if name.startswith(_ISOLATED_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OTEL_MODELDATA_CACHE_DIR", str(tmp_path / "analysis-cache"))
    monkeypatch.setenv("OTEL_BLRP_SCHEDULE_DELAY", "50")
    monkeypatch.setenv("OTEL_MODELDATA_SPOOL_DIR", "")  # no spool in the cwd; spool tests choose a folder
    STATS.reset()
    otel_modeldata.providers._stopped = None  # the previous test's shutdown stops collection
    yield
    handle = otel_modeldata.providers._handle
    if handle is not None:
        handle.shutdown()


@pytest.fixture
def local_root(tmp_path: Path) -> Path:
    """The local destination's root for this test."""
    return tmp_path / "collected"


@pytest.fixture
def collector(local_root: Path) -> Iterator[otel_modeldata.ModelDataHandle]:
    """Collection configured on the local default, with a recognisable identity."""
    handle = LocalStore(local_root).configure()
    yield handle
    handle.shutdown()


@pytest.fixture(params=["local", pytest.param("blob", marks=pytest.mark.azurite)])
def store(request: pytest.FixtureRequest, local_root: Path) -> Iterator[Store]:
    """Each destination in turn: the local default folder, then a fresh container in Azurite."""
    if request.param == "local":
        chosen: Store = LocalStore(local_root)
    else:
        chosen = BlobStore(request.getfixturevalue("azurite"), request.getfixturevalue("container_name"))
    yield chosen
    chosen.close()


@pytest.fixture
def store_collector(store: Store) -> Iterator[otel_modeldata.ModelDataHandle]:
    """Collection configured on ``store``, with the recognisable identity."""
    handle = store.configure()
    yield handle
    handle.shutdown()


@pytest.fixture
def gate() -> Iterator[Gate]:
    """A gate for the exporting thread, opened at the end of the test whatever happened."""
    closed = Gate()
    yield closed
    closed.opened.set()


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local Spark session for the whole test run (it takes ten to twenty-five seconds to start)."""
    from pyspark.sql import SparkSession

    with warnings.catch_warnings():
        # PySpark 4.3 warns that it does not fully support pandas 3; these tests use no pandas in Spark.
        warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)
        session = (
            SparkSession.builder.master("local[1]")
            .appName("otel_modeldata-tests")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "1")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.ui.showConsoleProgress", "false")
            .getOrCreate()
        )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
