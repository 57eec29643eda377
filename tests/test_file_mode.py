"""Local files and folders get one documented mode whatever the umask: owner-only unless widened."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

import otel_modeldata
from otel_modeldata import collect_io
from otel_modeldata.settings import ConfigurationError, Settings

from csvfiles import LocalStore


@collect_io("private", feature_names=["x"])
def run(data: object) -> str:
    return "own result"


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """A umask that would leave everything world-readable (and writable) if it were followed."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def _modes(root: Path) -> tuple[set[int], set[int]]:
    """The permission bits of every file and every folder below ``root`` (``root`` included)."""
    files = {stat.S_IMODE(p.stat().st_mode) for p in root.rglob("*") if p.is_file()}
    folders = {stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")] if p.is_dir()}
    return files, folders


@pytest.mark.parametrize(
    ("configured", "file_mode", "folder_mode"),
    [(None, 0o600, 0o700), ("0640", 0o640, 0o750), ("644", 0o644, 0o755), (0o660, 0o660, 0o770)],
)
def test_files_and_folders_get_the_configured_mode_whatever_the_umask(
    local_root: Path, permissive_umask: None, configured: object, file_mode: int, folder_mode: int
) -> None:
    handle = LocalStore(local_root).configure(**({} if configured is None else {"file_mode": configured}))
    assert run([[1]]) == "own result"
    handle.force_flush()
    files, folders = _modes(local_root)
    assert files == {file_mode}
    assert folders == {folder_mode}


def test_the_mode_comes_from_the_environment(
    local_root: Path, monkeypatch: pytest.MonkeyPatch, permissive_umask: None
) -> None:
    monkeypatch.setenv("OTEL_MODELDATA_FILE_MODE", "0640")
    handle = LocalStore(local_root).configure()
    run([[1]])
    handle.force_flush()
    assert _modes(local_root) == ({0o640}, {0o750})


def test_an_existing_root_keeps_its_own_mode(local_root: Path) -> None:
    local_root.mkdir(mode=0o755)
    os.chmod(local_root, 0o755)
    handle = LocalStore(local_root).configure()
    run([[1]])
    handle.force_flush()
    assert stat.S_IMODE(local_root.stat().st_mode) == 0o755
    assert stat.S_IMODE((local_root / "modeldata").stat().st_mode) == 0o700
    assert otel_modeldata.stats()["rows_written"] == 2


@pytest.mark.parametrize("bad", ["0755", "0400", "rw-r-----", "0o1777", 0o4600])
def test_modes_with_execute_bits_or_without_owner_access_are_refused(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="file_mode"):
        Settings.from_env({}, file_mode=bad)
    assert Settings.from_env({"OTEL_MODELDATA_FILE_MODE": str(bad)}).file_mode == 0o600
