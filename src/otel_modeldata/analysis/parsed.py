"""Parsed files kept as Arrow IPC, so a day read again is not parsed from CSV again.

Parsing the CSV is most of the time of a read (pyarrow's parser costs about what pandas' does
per row), and most of what people read no longer changes: yesterday's files are never appended
to again. A file's whole table, as :func:`~otel_modeldata.analysis.parse.read_file` types it, is
kept in ``<OTEL_MODELDATA_CACHE_DIR>/parsed`` (default ``~/.cache/otel-modeldata/parsed``) under
a name made from the file's path, with the file's identity in the table's metadata: its size,
modification time and inode, a digest of the reader's rules (its source) and pyarrow's version.
A file that grew (today's), was replaced, or was downloaded again because its blob's ETag
changed no longer matches and is parsed again, replacing its entry; so does every file after
the reader's rules changed.

Entries are uncompressed Arrow IPC files, memory-mapped when read: about the CSV's size on disk,
read in a fiftieth of the time the CSV takes to parse (LZ4 would take a third of the space but
read ten times slower; figures in docs/analysis.md). The folder is bounded by
``OTEL_MODELDATA_PARSED_CACHE_MB`` (default 10240; ``0`` keeps nothing): the entries read least
recently are removed first. The cache never makes a read fail: an entry that cannot be read or
written is as if it were not there.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Final

from .sources import CACHE_DIR, DEFAULT_CACHE_DIR

if TYPE_CHECKING:
    import pyarrow as pa

PARSED_CACHE_MB: Final = "OTEL_MODELDATA_PARSED_CACHE_MB"
"""Megabytes of parsed files kept for the next read, default 10240; ``0`` turns the cache off."""

DEFAULT_LIMIT_MB: Final = 10240
_IDENTITY: Final = b"otel_modeldata.parsed"
_SUFFIX: Final = ".arrow"

_log = logging.getLogger(__name__)


class ParsedCache:
    """Tables of parsed files in one folder, looked up by the file they came from."""

    def __init__(self, folder: str | os.PathLike[str], limit_bytes: int) -> None:
        self.folder = Path(folder)
        self.limit_bytes = limit_bytes

    @classmethod
    def from_environment(cls) -> ParsedCache | None:
        """The cache the variables describe; ``None`` when it is turned off."""
        text = os.environ.get(PARSED_CACHE_MB, "").strip()
        try:
            megabytes = float(text) if text else DEFAULT_LIMIT_MB
        except ValueError:
            raise ValueError(f"{PARSED_CACHE_MB} must be a number of megabytes, got {text!r}") from None
        if megabytes <= 0:
            return None
        folder = Path(os.environ.get(CACHE_DIR) or DEFAULT_CACHE_DIR).expanduser() / "parsed"
        return cls(folder, int(megabytes * 2**20))

    def load(self, path: Path) -> pa.Table | None:
        """The table parsed from ``path`` as it is now, or ``None``."""
        import pyarrow as pa

        entry = self._entry(path)
        try:
            identity = _identity(path)
            with pa.memory_map(str(entry)) as mapped:
                reader = pa.ipc.open_file(mapped)
                metadata = reader.schema.metadata or {}
                if metadata.get(_IDENTITY) != identity:
                    return None
                table = reader.read_all()
        except FileNotFoundError:
            return None
        except (OSError, pa.ArrowException) as exc:
            _log.debug("parsed cache entry %s unreadable: %s", entry, exc)
            _remove(entry)
            return None
        with contextlib.suppress(OSError):  # a folder others share may not be ours to touch
            os.utime(entry)  # read recently: the last to be removed
        return table.replace_schema_metadata(_without_identity(table.schema.metadata))

    def identity(self, path: Path) -> bytes | None:
        """What ``path`` is now (to be taken before it is parsed), or ``None`` when it is gone."""
        try:
            return _identity(path)
        except OSError:
            return None

    def store(self, path: Path, identity: bytes, table: pa.Table) -> None:
        """Keep ``table``, parsed from ``path`` when it was ``identity``; then keep within the limit."""
        import pyarrow as pa

        entry = self._entry(path)
        partial = entry.with_name(f".{entry.name}.{uuid.uuid4().hex}.part")
        metadata = {**(table.schema.metadata or {}), _IDENTITY: identity}
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            options = pa.ipc.IpcWriteOptions(compression=None)
            with pa.ipc.new_file(partial, table.schema.with_metadata(metadata), options=options) as out:
                out.write_table(table)
            os.replace(partial, entry)
        except (OSError, pa.ArrowException) as exc:
            _log.debug("parsed cache entry %s not written: %s", entry, exc)
            _remove(partial)
            return
        self._trim()

    def _entry(self, path: Path) -> Path:
        name = hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:40]
        return self.folder / f"{name}{_SUFFIX}"

    def _trim(self) -> None:
        """Remove the entries read least recently until the folder is within the limit."""
        entries = []
        try:
            with os.scandir(self.folder) as found:
                for item in found:
                    if item.name.endswith(_SUFFIX):
                        status = item.stat()
                        entries.append((status.st_mtime_ns, status.st_size, Path(item.path)))
        except OSError:
            return
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= self.limit_bytes:
                break
            _remove(path)
            total -= size


def _identity(path: Path) -> bytes:
    import pyarrow as pa

    status = os.stat(path)
    facts = [str(Path(path).resolve()), status.st_size, status.st_mtime_ns, status.st_ino, status.st_dev]
    return json.dumps([*facts, _rules(), pa.__version__]).encode()


@functools.cache
def _rules() -> str:
    """A digest of the modules that decide what a file's table is: an entry made by other rules
    (another release, or a change of the reader being developed) is not used."""
    from .. import policy, schema
    from . import parse

    digest = hashlib.sha256()
    for module in (parse, policy, schema):
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


def _without_identity(metadata: dict[bytes, bytes] | None) -> dict[bytes, bytes] | None:
    kept = {k: v for k, v in (metadata or {}).items() if k != _IDENTITY}
    return kept or None
