"""The embedded default: partition files under a local folder, same layout as the blobs.

Safe for several worker processes on one host: a file is created with its header by an
atomic ``link`` of a finished temporary file, and each payload is appended (``O_APPEND``)
under an exclusive ``flock`` of the file, so two processes never interleave inside a
payload. A write that fails part way (disk full, file size limit) is cut back to the
length the file had before it: a row is in the file whole or not at all. The lock is what
makes that cut safe: without it another process could have appended after our start.
Files and the folders it creates get one mode whatever the umask: ``file_mode`` (default
owner-only ``0600``), and for folders the same with an ``x`` bit wherever it has an ``r``
bit (``0700``).
"""

from __future__ import annotations

import errno
import fcntl
import os
import tempfile
from pathlib import Path

from ..layout import ROOT_FOLDER
from ..settings import DEFAULT_FILE_MODE, folder_mode
from .base import Destination, DestinationError, FileMissing


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

    def _append(self, path: str, payload: bytes, header: bytes) -> None:
        """Append under the file's lock; a file emptied in place (a log rotation's ``copytruncate``)
        gets its ``header`` again first, or its first row would be read as the header."""
        target = self._path(path)
        try:
            fd = os.open(target, os.O_WRONLY | os.O_APPEND)
        except FileNotFoundError:
            raise FileMissing from None
        except OSError as exc:
            raise DestinationError(f"cannot open {target}: {exc.strerror or exc}") from exc
        try:
            locked = _lock(fd, target)
            status = os.fstat(fd)
            if status.st_nlink == 0:
                raise FileMissing  # removed or moved away between the open and the lock
            if status.st_size == 0:
                payload = header + payload
            _append_whole(fd, payload, status.st_size, target, locked=locked)
        finally:
            os.close(fd)  # also releases the lock

    def describe(self) -> str:
        return f"local folder {self._base}"


def _lock(fd: int, target: Path) -> bool:
    """Take the file's exclusive lock; False where the file system has no ``flock``."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError as exc:
        if exc.errno not in {errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL}:
            raise DestinationError(f"cannot lock {target}: {exc.strerror or exc}") from exc
        return False
    return True


def _append_whole(fd: int, payload: bytes, start: int, target: Path, *, locked: bool) -> None:
    """Write all of ``payload`` at the end of the file (``start`` bytes long), or raise.

    A write that fails part way is cut back to ``start`` so no torn row remains.
    """
    view = memoryview(payload)
    done = 0
    try:
        while done < len(payload):
            done += os.write(fd, view[done:])
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if done:
            reason += _cut_back(fd, start, done, locked=locked)
        raise DestinationError(f"cannot append to {target}: {reason}") from exc


def _cut_back(fd: int, start: int, done: int, *, locked: bool) -> str:
    """Remove the ``done`` bytes we wrote after ``start``; says what happened, for the error.

    Without the lock the cut is made only if the file ends with our bytes: cutting could
    otherwise remove rows another process appended meanwhile.
    """
    remain = f"; {done} bytes of a partial write remain at offset {start}"
    try:
        if not locked and os.fstat(fd).st_size != start + done:
            return f"{remain} (another process appended too: not cut)"
        os.ftruncate(fd, start)
    except OSError as exc:
        return f"{remain} ({exc.strerror or exc})"
    return " (the partial write was removed)"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
