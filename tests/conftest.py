"""Shared fixtures: a clean environment and a collector writing to a temporary folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import otel_modeldata
from otel_modeldata.stats import STATS

pytest_plugins: list[str] = ["_appinsights", "_azurite"]

_ISOLATED_PREFIXES = ("OTEL_MODELDATA_", "APPLICATIONINSIGHTS_", "AZURE_STORAGE_", "OTEL_SERVICE_NAME")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts without our variables and with fresh counters."""
    for name in list(os.environ):
        if name.startswith(_ISOLATED_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OTEL_BLRP_SCHEDULE_DELAY", "50")
    STATS.reset()
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
    handle = otel_modeldata.configure(
        local_dir=str(local_root),
        subscription_id="sub-1",
        resource_group="rg-1",
        workspace="ws-1",
        webservice="svc-1",
    )
    yield handle
    handle.shutdown()
