"""Collection configured from the environment by the first call: a bad environment never breaks run()."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import otel_modeldata
from otel_modeldata import ConfigurationError, ModelDataCollector, ModelDataLogExporter, collect_io

from csvfiles import data_files, read_rows

Run = Callable[[Any], Any]


def decorated() -> Run:
    @collect_io("scorer")
    def run(data: list[list[int]]) -> list[int]:
        return [sum(row) for row in data]

    return run


def classic() -> Run:
    inputs = ModelDataCollector("scorer", designation="inputs")

    def run(data: list[list[int]]) -> list[int]:
        inputs.collect(data)
        return [sum(row) for row in data]

    return run


APIS = [pytest.param(decorated, id="decorator"), pytest.param(classic, id="classic")]


@pytest.fixture
def bad_service_name(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, local_root: Path) -> None:
    """An OTEL_SERVICE_NAME that cannot be a folder, and nothing configured explicitly."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "payments/fraud-scorer")
    monkeypatch.setenv("OTEL_MODELDATA_LOCAL_DIR", str(local_root))


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "otel_modeldata" and r.levelname == "ERROR"]


@pytest.mark.usefixtures("bad_service_name")
@pytest.mark.parametrize("make_run", APIS)
@pytest.mark.parametrize("instrumented", [False, True], ids=["plain", "opentelemetry-instrument"])
def test_an_invalid_environment_is_logged_once_naming_its_variable_and_run_is_untouched(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    make_run: Callable[[], Run],
    instrumented: bool,
) -> None:
    monkeypatch.setattr(ModelDataLogExporter, "built_from_environment", instrumented)
    run = make_run()
    with caplog.at_level("ERROR", logger="otel_modeldata"):
        assert [run([[1, 2]]) for _ in range(3)] == [[3]] * 3
    [error] = errors(caplog)
    assert "OTEL_SERVICE_NAME" in error
    assert "payments/fraud-scorer" in error
    assert otel_modeldata.stats()["calls_not_collected"] == {"configuration_error": 3}
    assert data_files(tmp_path) == []


@pytest.mark.usefixtures("bad_service_name")
@pytest.mark.parametrize("make_run", APIS)
def test_strict_mode_raises_the_configuration_error_into_run(
    monkeypatch: pytest.MonkeyPatch, make_run: Callable[[], Run]
) -> None:
    monkeypatch.setenv("OTEL_MODELDATA_STRICT", "true")
    run = make_run()
    for _ in range(2):
        with pytest.raises(ConfigurationError, match="OTEL_SERVICE_NAME"):
            run([[1, 2]])


@pytest.mark.usefixtures("bad_service_name")
def test_an_explicit_configure_after_the_failure_collects_again(local_root: Path) -> None:
    run = decorated()
    run([[1, 2]])
    handle = otel_modeldata.configure(webservice="fraud-scorer")
    run([[3, 4]])
    assert handle.force_flush()
    inputs = [f for f in data_files(local_root) if "/fraud-scorer/scorer/1/inputs/" in f.as_posix()]
    assert [row["feature_0"] for f in inputs for row in read_rows(f)[1]] == ["3"]


@pytest.mark.parametrize("make_run", APIS)
@pytest.mark.parametrize("instrumented", [False, True], ids=["plain", "opentelemetry-instrument"])
def test_a_script_without_configure_says_once_where_its_rows_go(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    make_run: Callable[[], Run],
    instrumented: bool,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(ModelDataLogExporter, "built_from_environment", instrumented)
    run = make_run()
    with caplog.at_level("INFO", logger="otel_modeldata"):
        for _ in range(3):
            run([[1, 2]])
    [where] = [r for r in caplog.records if "collecting to" in r.getMessage()]
    assert where.levelname == "INFO"
    assert str(tmp_path / "modeldata-local" / "modeldata") in where.getMessage()
    assert "OTEL_MODELDATA_LOCAL_DIR" in where.getMessage()
