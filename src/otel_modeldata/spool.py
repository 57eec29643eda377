"""The durable local spool: payloads the destination could not take, kept on disk until replayed.

Pure file-system code (no Azure). One entry is one file ``<id>.spool``: a JSON line (blob
folder, row count, sizes, sha256 of the rest) then the CSV header and the payload. It is
written to ``<id>.<pid>.tmp``, fsynced and renamed, so a reader sees a whole entry or none;
an entry whose checksum does not match (a torn write, a bad disk) is renamed ``<id>.bad``
and counted, never replayed half.

Several processes may share the folder. An entry is taken by renaming it to
``<id>.<ms>.<pid>.<host>.lease``: a rename succeeds for exactly one of them. A lease whose
process is gone (same host, pid not alive) or that is older than :data:`LEASE_SECONDS`
is reclaimed the same way, by renaming it to a lease of one's own.

An entry also holds the blob and append position of the exporter's last attempt (its outcome
unknown when the deadline passed), and ``<id>.attempt`` records, before each replay append,
the blob and position the replayer appends at: after a crash between a successful append
and the entry's removal, the next replayer finds the payload at that position and removes
the entry instead of appending it twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from .forking import after_fork_in_child
from .layout import DATA_STEM

_log = logging.getLogger(__name__)

#: Seconds after which a lease is taken over even when its process may be alive (a replay of
#: one entry lasts at most the append deadline, 20 s by default).
LEASE_SECONDS: Final = 600.0
#: Seconds after which a temporary file is known to be left by a crashed writer and removed.
TMP_SECONDS: Final = 600.0
VERSION: Final = 1

_ENTRY: Final = ".spool"
_LEASE: Final = ".lease"
_ATTEMPT: Final = ".attempt"
_BAD: Final = ".bad"
_TMP: Final = ".tmp"


class SpoolFull(Exception):
    """The entry would take the spool past its bound: the payload is not kept."""


class BadEntry(Exception):
    """An entry that cannot be read whole: it has been set aside."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One spooled payload as read back, checksum verified."""

    id: str
    folder: str
    header: bytes
    payload: bytes
    rows: int
    attempt: Attempt | None
    #: The files' name stem (``data``, or a classic collection name).
    stem: str = DATA_STEM


@dataclass(frozen=True, slots=True)
class Attempt:
    """Where the last append of an entry was tried: a blob path and the append position."""

    path: str
    position: int

    @classmethod
    def from_json(cls, meta: object) -> Attempt | None:
        """From ``{"path": ..., "position": ...}`` or None; ValueError when it is neither."""
        if meta is None:
            return None
        if not isinstance(meta, dict):
            raise ValueError(f"not an attempt: {meta!r}")
        return cls(str(meta["path"]), int(meta["position"]))

    def to_json(self) -> dict[str, object]:
        """The form stored in an entry and in its attempt record."""
        return {"path": self.path, "position": self.position}


@dataclass(frozen=True, slots=True)
class Lease:
    """An entry this process holds: the file it was renamed to."""

    id: str
    path: Path


class Spool:
    """Entries in one folder, bounded in bytes; shared safely with other processes."""

    def __init__(self, directory: str | os.PathLike[str], max_bytes: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._host = socket.gethostname().replace(".", "_") or "host"
        self._bytes = 0
        #: Bytes of entries being written by this process (reserved, not yet renamed into place).
        self._writing = 0
        self._lock = threading.Lock()
        after_fork_in_child(self._after_fork)

    def _after_fork(self) -> None:
        """A new lock in a forked child: the parent's exporting thread may have held this one."""
        self._lock = threading.Lock()
        self._writing = 0

    @property
    def size(self) -> int:
        """Bytes the folder held at the last scan, plus what this process put since."""
        return self._bytes

    def rescan(self) -> int:
        """Count the folder's bytes again (other processes add and remove entries too).

        Entries this process is still writing count by their reservation, not their temporary file.
        """
        total = 0
        try:
            with os.scandir(self.directory) as found:
                for item in found:
                    try:
                        total += 0 if item.name.endswith(_TMP) else item.stat().st_size
                    except FileNotFoundError:
                        continue
        except FileNotFoundError:
            pass
        with self._lock:
            self._bytes = total + self._writing
            return self._bytes

    def put(
        self,
        folder: str,
        header: bytes,
        payload: bytes,
        rows: int,
        attempt: Attempt | None = None,
        stem: str = DATA_STEM,
    ) -> str:
        """Keep ``payload`` durably; its entry id. SpoolFull past the bound, OSError from the disk.

        ``attempt``: where an append of it was last tried, whose outcome is unknown.
        """
        checksum = hashlib.sha256(header + payload).hexdigest()
        meta = {
            "v": VERSION,
            "folder": folder,
            "rows": rows,
            "header_size": len(header),
            "payload_size": len(payload),
            "sha256": checksum,
            "attempt": attempt.to_json() if attempt else None,
            "stem": stem,
        }
        line = json.dumps(meta, separators=(",", ":")).encode() + b"\n"
        size = len(line) + len(header) + len(payload)
        with self._lock:
            if self._bytes + size > self.max_bytes:
                raise SpoolFull(f"{self.directory} holds {self._bytes} bytes; the bound is {self.max_bytes}")
            self._bytes += size
            self._writing += size
        entry_id = f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._write_atomically(self.directory / f"{entry_id}{_ENTRY}", line + header + payload)
        except BaseException:
            with self._lock:
                self._bytes -= size
            raise
        finally:
            with self._lock:
                self._writing -= size
        return entry_id

    def has_entries(self) -> bool:
        """Whether the folder holds entries (ready or leased) that may need replaying."""
        return any(self._names((_ENTRY, _LEASE)))

    def lease_next(self) -> Lease | None:
        """Take the oldest entry nobody holds (or whose holder is gone); None when there is none."""
        for name in sorted(self._names((_ENTRY, _LEASE))):
            if name.endswith(_LEASE) and not self._stale(name):
                continue
            entry_id = name.split(".", 1)[0]
            mine = self.directory / f"{entry_id}.{int(time.time() * 1000)}.{os.getpid()}.{self._host}{_LEASE}"
            try:
                os.rename(self.directory / name, mine)
            except FileNotFoundError:
                continue  # another process took it first
            return Lease(entry_id, mine)
        return None

    def read(self, lease: Lease) -> Entry:
        """The leased entry, checksum verified; a torn or unreadable one is set aside (BadEntry)."""
        try:
            data = lease.path.read_bytes()
            line, _, rest = data.partition(b"\n")
            meta = json.loads(line)
            header_size = int(meta["header_size"])
            payload_size = int(meta["payload_size"])
            if meta["v"] != VERSION or len(rest) != header_size + payload_size:
                raise ValueError("sizes do not match")
            if hashlib.sha256(rest).hexdigest() != meta["sha256"]:
                raise ValueError("checksum does not match")
            return Entry(
                lease.id,
                str(meta["folder"]),
                rest[:header_size],
                rest[header_size:],
                int(meta["rows"]),
                Attempt.from_json(meta.get("attempt")),
                str(meta.get("stem", DATA_STEM)),
            )
        except (ValueError, KeyError, TypeError) as exc:
            self.set_aside(lease, str(exc))
            raise BadEntry(lease.id) from None

    def attempt(self, entry: Entry) -> Attempt | None:
        """Where the entry's last append was tried: by a replayer, else by the exporter, if ever.

        ValueError when the record cannot be read (it is written atomically, so: not by us).
        """
        try:
            data = (self.directory / f"{entry.id}{_ATTEMPT}").read_bytes()
        except FileNotFoundError:
            return entry.attempt
        try:
            return Attempt.from_json(json.loads(data))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"attempt record: {exc}") from None

    def record_attempt(self, lease: Lease, attempt: Attempt) -> None:
        """Durably note, before appending, the blob and position the entry is appended at."""
        data = json.dumps(attempt.to_json()).encode()
        self._write_atomically(self.directory / f"{lease.id}{_ATTEMPT}", data)

    def release(self, lease: Lease) -> None:
        """Give the entry back (the destination failed): it is replayed later, by anyone."""
        os.rename(lease.path, self.directory / f"{lease.id}{_ENTRY}")

    def remove(self, lease: Lease) -> None:
        """The entry is at the destination: forget it (the attempt record last)."""
        size = _size(lease.path)
        lease.path.unlink(missing_ok=True)
        (self.directory / f"{lease.id}{_ATTEMPT}").unlink(missing_ok=True)
        with self._lock:
            self._bytes = max(self._bytes - size, 0)

    def set_aside(self, lease: Lease, why: str) -> None:
        """Rename an unreadable entry to ``<id>.bad``: kept for a person to look at, never replayed."""
        _log.error(
            "otel_modeldata: spool entry %s is damaged (%s); set aside as %s%s", lease.id, why, lease.id, _BAD
        )
        os.rename(lease.path, self.directory / f"{lease.id}{_BAD}")
        (self.directory / f"{lease.id}{_ATTEMPT}").unlink(missing_ok=True)

    def remove_stale_temporaries(self) -> None:
        """Delete temporary files crashed writers left behind (never one being written now)."""
        now = time.time()
        for name in self._names((_TMP,)):
            path = self.directory / name
            try:
                if now - path.stat().st_mtime > TMP_SECONDS:
                    path.unlink()
            except FileNotFoundError:
                continue

    def _stale(self, name: str) -> bool:
        """Whether a lease's holder is gone: a dead pid on this host, or the lease is too old."""
        try:
            _, millis, pid, host = name[: -len(_LEASE)].split(".", 3)
            age = time.time() - int(millis) / 1000
            holder = int(pid)
        except ValueError:
            return True
        if age > LEASE_SECONDS:
            return True
        if host != self._host:
            return False
        if holder == os.getpid():
            return False
        return not _alive(holder)

    def _names(self, suffixes: tuple[str, ...]) -> Iterator[str]:
        try:
            with os.scandir(self.directory) as found:
                names = [item.name for item in found]
        except FileNotFoundError:
            return
        yield from (name for name in names if name.endswith(suffixes))

    def _write_atomically(self, target: Path, data: bytes) -> None:
        """Temporary file, fsync, rename, fsync of the folder: after a crash, all of it or nothing."""
        tmp = target.with_name(f"{target.name}.{os.getpid()}{_TMP}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        os.replace(tmp, target)
        _fsync_folder(self.directory)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_folder(directory: Path) -> None:
    """Make a rename durable (POSIX); a platform without folder fsync keeps what the OS gives."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
