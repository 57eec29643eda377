"""The embedded default: partition files under a local folder, same layout as the blobs.

Safe for several worker processes on one host: a file is created with its header by an
atomic ``link`` of a finished temporary file, and each payload is one ``O_APPEND``
write, so two processes never interleave inside a payload.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..layout import ROOT_FOLDER
from .base import Destination, DestinationError


class LocalDestination(Destination):
    """Writes ``<root>/modeldata/<partition>/data.csv`` files."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        super().__init__()
        self.root = Path(root).resolve()
        self._base = self.root / ROOT_FOLDER

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
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".csv")
            try:
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
