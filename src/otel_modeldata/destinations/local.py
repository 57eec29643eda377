"""The embedded default: partition files under a local folder, same layout as the blobs.

Safe for several worker processes on one host: a file is created with its header by an
atomic ``link`` of a finished temporary file, and each payload is one ``O_APPEND``
write, so two processes never interleave inside a payload. Files and the folders it
creates get one mode whatever the umask: ``file_mode`` (default owner-only ``0600``), and
for folders the same with an ``x`` bit wherever it has an ``r`` bit (``0700``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..layout import ROOT_FOLDER
from ..settings import DEFAULT_FILE_MODE, folder_mode
from .base import Destination, DestinationError


class LocalDestination(Destination):
    """Writes ``<root>/modeldata/<partition>/data.csv`` files."""

    def __init__(self, root: str | os.PathLike[str], file_mode: int = DEFAULT_FILE_MODE) -> None:
        super().__init__()
        self.root = Path(root).resolve()
        self._base = self.root / ROOT_FOLDER
        self._file_mode = file_mode
        self._folder_mode = folder_mode(file_mode)

    def _path(self, path: str) -> Path:
        full = (self._base / path).resolve()
        if not full.is_relative_to(self._base):
            raise DestinationError(f"refusing a path outside {self._base}")
        return full

    def _create(self, path: str, header: bytes) -> bool:
        target = self._path(path)
        if target.exists():
            return False
        try:
            self._make_folders(target.parent)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".csv")
            try:
                os.fchmod(fd, self._file_mode)
                _write_all(fd, header)
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(tmp, target)
            except FileExistsError:
                return False
            finally:
                os.unlink(tmp)
        except OSError as exc:
            raise DestinationError(f"cannot create {target}: {exc.strerror or exc}") from exc
        return True

    def _make_folders(self, folder: Path) -> None:
        """Create ``folder`` and its missing parents with the folder mode (``chmod``: the umask ignored)."""
        if folder.is_dir():
            return
        self._make_folders(folder.parent)
        try:
            folder.mkdir()
        except FileExistsError:
            return  # another process made it, with the same mode
        os.chmod(folder, self._folder_mode)

    def _read_header(self, path: str, size: int) -> bytes:
        with open(self._path(path), "rb") as handle:
            return handle.read(size)

    def _append(self, path: str, payload: bytes) -> None:
        target = self._path(path)
        try:
            fd = os.open(target, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            raise DestinationError(f"cannot open {target}: {exc.strerror or exc}") from exc
        try:
            _write_all(fd, payload)
        except OSError as exc:
            raise DestinationError(f"cannot append to {target}: {exc.strerror or exc}") from exc
        finally:
            os.close(fd)

    def describe(self) -> str:
        return f"local folder {self._base}"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
