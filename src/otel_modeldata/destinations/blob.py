"""Azure Blob Storage: one append blob per partition file, shared safely by many writers.

Every write is one Append Block conditioned on the append position this process last
saw (``appendpos_condition``). A retry after a lost response therefore cannot add the
rows twice: the retry fails with 412 when the blob has moved, and the bytes at the old
position tell whether our block is what moved it. The header is claimed the same way,
at position 0, so exactly one writer's header starts a blob, and a blob left empty by a
creator that died is claimed by the next writer instead of blocking the partition.

The SDK's own retries are off (they do not know the append position); ours back off with
jitter up to a deadline and stop on ``close()``. Errors carry the blob name and HTTP
status only: the SDK's messages can contain request URLs with a SAS signature.
``append_recorded`` and ``holds`` let the spool's replayer append exactly once across crashes.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, HttpResponseError, ResourceExistsError
from azure.storage.blob import BlobClient, BlobServiceClient, ContainerClient

from ..layout import DATA_STEM, file_name
from ..settings import Settings
from .azure_errors import code as _code
from .azure_errors import reason as _reason
from .azure_errors import redact_signatures_in_transport_logs
from .azure_errors import transient as _transient
from .base import Destination, DestinationError, FileFull, FileMissing, older_than
from .blob_client import connect
from .retrying import Retrier, Stopped

_log = logging.getLogger(__name__)

#: Blocks per file before continuing in the next part; the service allows 50,000.
DEFAULT_BLOCK_LIMIT: Final = 49_000
#: Largest block we send: payloads are split between rows to stay under it.
MAX_BLOCK_BYTES: Final = 4 * 1024 * 1024
#: Seconds one operation (create, append, read) may spend retrying.
DEFAULT_DEADLINE: Final = 20.0
#: Seconds to wait for a header in a blob another writer created but has not filled yet.
DEFAULT_HEADER_WAIT: Final = 5.0

_APPEND_POSITION_NOT_MET: Final = "AppendPositionConditionNotMet"
_BLOCK_COUNT_EXCEEDED: Final = "BlockCountExceedsLimit"
_CONTAINER_NOT_FOUND: Final = "ContainerNotFound"


@dataclass
class _Cursor:
    """Where the next block goes (the blob's length) and how many blocks it has, as last seen."""

    position: int
    blocks: int


class BlobDestination(Destination):
    """Writes ``[<prefix>/]<subscriptionid>/.../<DD>/data.csv`` append blobs in one container."""

    max_payload_bytes = MAX_BLOCK_BYTES
    waits_on_network = True

    def __init__(
        self,
        service: BlobServiceClient,
        container: str,
        prefix: str = "",
        *,
        block_limit: int = DEFAULT_BLOCK_LIMIT,
        deadline: float = DEFAULT_DEADLINE,
        header_wait: float = DEFAULT_HEADER_WAIT,
        credential: Any = None,
        reconnect: Callable[[], tuple[BlobServiceClient, Any]] | None = None,
    ) -> None:
        """Use ``service`` (built with ``retry_total=0``); ``credential`` is closed with it.

        ``reconnect`` builds another service client and credential: a forked child calls it
        before its first request instead of sharing the parent's connections (without it, the
        child uses ``service`` as it is).
        """
        super().__init__()
        if block_limit < 2:
            raise ValueError("block_limit must leave room for the header and one block")
        self.container = container
        self.prefix = "/".join(filter(None, prefix.split("/")))
        self._service = service
        self._container = service.get_container_client(container)
        self._credential = credential
        self._reconnect = reconnect
        #: In a forked child until its first request: the client and its connections are the parent's.
        self._inherited = False
        self._block_limit = block_limit
        self._deadline = deadline
        self._header_wait = header_wait
        self._cursors: dict[str, _Cursor] = {}
        #: One client per blob, made on first use: building one costs more CPU than an append's own work.
        self._blobs: dict[str, BlobClient] = {}
        self._path_locks: dict[str, threading.Lock] = {}
        self._state_lock = threading.Lock()
        self._container_ready = False
        self._retry = Retrier()
        self._recorder = threading.local()
        redact_signatures_in_transport_logs()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        block_limit: int = DEFAULT_BLOCK_LIMIT,
        deadline: float | None = None,
        **client_options: Any,
    ) -> BlobDestination:
        """Connect with the connection string, else the account URL and ``DefaultAzureCredential``.

        ``client_options`` go to ``BlobServiceClient`` (a transport or timeouts, say); the
        SDK's retries stay off because only this class knows the append position. ``deadline``
        defaults to ``OTEL_MODELDATA_APPEND_DEADLINE_MILLIS``.
        """
        service, credential = connect(settings, client_options)
        return cls(
            service,
            settings.container,
            settings.blob_prefix,
            block_limit=block_limit,
            deadline=settings.append_deadline_millis / 1000 if deadline is None else deadline,
            credential=credential,
            reconnect=lambda: connect(settings, client_options),
        )

    # -- the three primitives -------------------------------------------------------------

    def _create(self, path: str, header: bytes) -> bool:
        """Create the blob if missing and claim it with ``header`` at position 0.

        Whoever lands the header block wins, creator or not, so a lost create response or
        a creator that died before writing its header cannot leave the blob headerless.
        """
        name = self._name(path)
        blob = self._blob(path)
        deadline = self._start()
        with self._path_lock(path), self._errors(f"cannot create {name}"):
            self._ensure_container(deadline)
            try:
                self._retry.run(
                    name, lambda: blob.create_append_blob(match_condition=MatchConditions.IfMissing), deadline
                )
            except ResourceExistsError:
                pass
            except HttpResponseError as exc:
                if _code(exc) == _CONTAINER_NOT_FOUND:
                    self._container_ready = False
                raise
            cursor = _Cursor(0, 0)
            try:
                claimed = self._write(path, header, cursor, deadline, follow=False)
            except FileMissing:
                raise DestinationError(f"cannot create {name}: it was deleted while being created") from None
            self._cursors[path] = cursor
            return claimed

    def _read_header(self, path: str, size: int) -> bytes:
        """The first ``size`` bytes, once the blob has any: its creator may still be writing them."""
        name = self._name(path)
        blob = self._blob(path)
        deadline = self._start()
        with self._errors(f"cannot read {name}"):
            give_up = time.monotonic() + self._header_wait
            polls = 0
            while (length := self._length(blob, name, deadline)) == 0:
                polls += 1
                if time.monotonic() >= give_up:
                    raise DestinationError(f"{name} is still empty after {self._header_wait:g} s")
                self._retry.wait(min(0.01 * 2**polls, 0.5))
            wanted = min(size, length)
            return self._retry.run(
                name, lambda: blob.download_blob(offset=0, length=wanted).readall(), deadline
            )

    def _append(self, path: str, payload: bytes, header: bytes) -> None:
        """One Append Block at the known end; FileFull near the block limit, FileMissing on 404.
        (An append blob cannot be emptied in place: ``header`` is not needed.)"""
        name = self._name(path)
        deadline = self._start()
        with self._path_lock(path), self._errors(f"cannot append to {name}"):
            try:
                cursor = self._cursors.get(path)
                if cursor is None:
                    cursor = self._cursors[path] = self._cursor(self._blob(path), name, deadline)
                self._write(path, payload, cursor, deadline, follow=True)
            except (FileFull, FileMissing):
                self._cursors.pop(path, None)
                raise

    def _last_part(self, folder: str, tag: str | None) -> int:
        """The highest part listed in the folder: one request instead of a walk through full parts.

        Part numbers have at most 7 digits here, so ``data_<8 hex digits>.csv`` (a sibling
        whose tag happens to be all digits) is never taken for a part. Without permission to
        list, the walk starts at part 0 as before.
        """
        stem = f"{self._name(folder)}/{file_name(tag).removesuffix('.csv')}_"
        pattern = re.compile(re.escape(stem) + r"(\d{1,7})\.csv")
        deadline = self._start()
        try:
            with self._errors(f"cannot list {stem}*"):
                listed = self._retry.run(
                    stem, lambda: list(self._client().list_blob_names(name_starts_with=stem)), deadline
                )
        except DestinationError as exc:
            _log.debug("%s; looking for the latest part from part 0", exc)
            return 0
        return max((int(m[1]) for name in listed if (m := pattern.fullmatch(name))), default=0)

    # -- exactly-once append ----------------------------------------------------------------

    def append_recorded(
        self,
        folder: str,
        header: bytes,
        payload: bytes,
        record: Callable[[str, int], None],
        stem: str = DATA_STEM,
    ) -> None:
        """``append()``, calling ``record(path, position)`` before each Append Block is sent.

        A caller that stores the pair durably can ask :meth:`holds` after a crash whether
        the payload landed, instead of appending it a second time.
        """
        self._recorder.record = record
        try:
            self.append(folder, header, payload, stem)
        finally:
            self._recorder.record = None

    def holds(self, path: str, position: int, payload: bytes) -> bool:
        """Whether ``payload`` sits at ``position`` of the blob ``path``; DestinationError if unknown."""
        name = self._name(path)
        blob = self._blob(path)
        deadline = self._start()
        with self._errors(f"cannot read {name}"):
            try:
                fresh = self._cursor(blob, name, deadline)
            except FileMissing:
                return False
            return self._holds(blob, name, position, payload, fresh, deadline)

    def _write(self, path: str, data: bytes, cursor: _Cursor, deadline: float, *, follow: bool) -> bool:
        """Append ``data`` at ``cursor`` exactly once and move ``cursor`` past it.

        When the blob has moved, payloads follow it (``follow``); a header claim instead
        returns False, because the blob already starts with someone's header.
        """
        name = self._name(path)
        blob = self._blob(path)
        unanswered: set[int] = set()
        failures = conflicts = 0
        while True:
            if cursor.blocks >= self._block_limit:
                raise FileFull
            record = getattr(self._recorder, "record", None) if follow else None
            if record is not None:
                record(path, cursor.position)
            try:
                result = blob.append_block(data, length=len(data), appendpos_condition=cursor.position)
            except AzureError as exc:
                if _transient(exc):
                    unanswered.add(cursor.position)
                    failures += 1
                    self._retry.backoff(name, exc, failures, deadline)
                    continue
                status = getattr(exc, "status_code", None)
                if status == 404:
                    raise FileMissing from None
                if (status, _code(exc)) not in {
                    (412, _APPEND_POSITION_NOT_MET),
                    (409, _BLOCK_COUNT_EXCEEDED),
                }:
                    raise
                fresh = self._cursor(blob, name, deadline)
                landed = any(self._holds(blob, name, at, data, fresh, deadline) for at in unanswered)
                unanswered.clear()
                cursor.position, cursor.blocks = fresh.position, fresh.blocks
                if landed:
                    _log.debug("%s: an unanswered append had landed; not repeating it", name)
                    return True
                if not follow:
                    return False
                conflicts += 1
                self._retry.wait(random.uniform(0, min(0.002 * 2**conflicts, 0.2)), deadline)
                continue
            cursor.position = int(str(result["blob_append_offset"])) + len(data)
            cursor.blocks = int(str(result["blob_committed_block_count"]))
            return True

    def _holds(
        self, blob: BlobClient, name: str, at: int, data: bytes, fresh: _Cursor, deadline: float
    ) -> bool:
        """Whether ``data`` sits at ``at``: an append conditioned on ``at`` can only land there."""
        if fresh.position < at + len(data):
            return False
        found = self._retry.run(
            name, lambda: blob.download_blob(offset=at, length=len(data)).readall(), deadline
        )
        return found == data

    def _length(self, blob: BlobClient, name: str, deadline: float) -> int:
        try:
            return self._cursor(blob, name, deadline).position
        except FileMissing:
            raise DestinationError(f"{name} was deleted while being read") from None

    def _cursor(self, blob: BlobClient, name: str, deadline: float) -> _Cursor:
        try:
            props = self._retry.run(name, blob.get_blob_properties, deadline)
        except HttpResponseError as exc:
            if exc.status_code == 404:
                raise FileMissing from None
            raise
        return _Cursor(props.size, props.append_blob_committed_block_count or 0)

    # -- plumbing -------------------------------------------------------------------------

    def _ensure_container(self, deadline: float) -> None:
        """Create the container once; without the permission to, assume it exists."""
        if self._container_ready:
            return
        what = f"container {self.container}"
        try:
            self._retry.run(what, self._client().create_container, deadline)
        except ResourceExistsError:
            pass
        except HttpResponseError as exc:
            if exc.status_code != 403:
                raise
            _log.debug("%s: may not create it (HTTP 403); assuming it exists", what)
        self._container_ready = True

    def _start(self) -> float:
        if self._retry.closed.is_set():
            raise DestinationError(f"{self.describe()} is closed")
        return time.monotonic() + self._deadline

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Turn SDK errors into DestinationError without their text (it may hold a SAS URL)."""
        try:
            yield
        except AzureError as exc:
            raise DestinationError(f"{what}: {_reason(exc)}") from None
        except Stopped as stop:
            raise DestinationError(f"{what}: {stop}") from None

    def _after_fork(self) -> None:
        super()._after_fork()
        self._state_lock = threading.Lock()
        self._path_locks = {}
        self._recorder = threading.local()
        self._retry = Retrier(closed=self._retry.closed.is_set())
        self._blobs = {}
        self._inherited = True

    def forget_days_before(self, day: date) -> None:
        """Also drop the append positions and the idle locks of those days' blobs."""
        super().forget_days_before(day)
        with self._state_lock:
            for path, lock in list(self._path_locks.items()):
                if older_than(path.rpartition("/")[0], day) and not lock.locked():
                    del self._path_locks[path]
            for path in [p for p in list(self._cursors) if older_than(p.rpartition("/")[0], day)]:
                self._cursors.pop(path, None)
            for path in [p for p in list(self._blobs) if older_than(p.rpartition("/")[0], day)]:
                self._blobs.pop(path, None)

    def _path_lock(self, path: str) -> threading.Lock:
        with self._state_lock:
            return self._path_locks.setdefault(path, threading.Lock())

    def _name(self, path: str) -> str:
        return f"{self.prefix}/{path}" if self.prefix else path

    def _blob(self, path: str) -> BlobClient:
        """The blob's client, kept while its day's partitions are (see ``forget_days_before``)."""
        container = self._client()
        blob = self._blobs.get(path)
        if blob is None:
            blob = self._blobs[path] = container.get_blob_client(self._name(path))
        return blob

    def _client(self) -> ContainerClient:
        """The container's client; in a forked child, on connections of its own.

        Two processes on one connection would interleave their requests and read each
        other's responses.
        """
        if self._inherited:
            with self._state_lock:
                if self._inherited and self._reconnect is not None:
                    self._service, self._credential = self._reconnect()
                    self._container = self._service.get_container_client(self.container)
                    self._blobs = {}
                self._inherited = False
        return self._container

    def close(self) -> None:
        """Stop retries in progress and release the HTTP connections; idempotent."""
        if self._retry.closed.is_set():
            return
        self._retry.closed.set()
        self._service.close()
        if self._credential is not None:
            self._credential.close()

    def describe(self) -> str:
        parts = urlsplit(self._service.url)
        endpoint = urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path.rstrip("/"), "", ""))
        where = f"{self.container}/{self.prefix}" if self.prefix else self.container
        return f"blob container {where} at {endpoint}"

    def __repr__(self) -> str:
        return f"<BlobDestination {self.describe()}>"
