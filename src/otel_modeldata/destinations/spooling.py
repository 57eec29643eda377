"""Durable delivery to Blob Storage: a payload it cannot take goes to the spool, a thread replays it.

The exporter hands each payload to :meth:`Spooler.write`. When the append fails after the
destination's own retries (``OTEL_MODELDATA_APPEND_DEADLINE_MILLIS``), the payload is kept in
the :class:`~otel_modeldata.spool.Spool` and counted as spooled; for :data:`DIVERT_SECONDS`
afterwards (or until a replay succeeds) new payloads go straight to the spool, so an outage
does not hold the exporting thread for a deadline per payload and the queue keeps flowing.

The replayer thread leases entries one at a time, oldest first, and appends them with
:meth:`BlobDestination.append_recorded`, which lets the spool note the blob and append position
before each attempt. An entry whose noted position already holds its bytes was appended by a
replayer that died before removing it: it is removed, not appended again. Replayed rows land
after rows written meanwhile, so a file's order can differ from call order after an outage.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from ..forking import after_fork_in_child
from ..layout import DATA_STEM
from ..settings import Settings
from ..spool import Attempt, BadEntry, Lease, Spool, SpoolFull
from ..stats import FAILED, REPLAYED, SET_ASIDE, SPOOL_BYTES, SPOOLED, STATS, WRITTEN
from .base import Destination

if TYPE_CHECKING:
    from .blob import BlobDestination

_log = logging.getLogger("otel_modeldata")

SPOOL_FULL: Final = "spool_full"
#: Seconds new payloads go straight to the spool after a failed append (unless a replay succeeds).
DIVERT_SECONDS: Final = 5.0
#: First and longest wait, in seconds, between replay passes that failed (jittered, doubling).
REPLAY_FIRST_BACKOFF: Final = 0.1
REPLAY_MAX_BACKOFF: Final = 2.0
#: Seconds an idle replayer sleeps before looking for entries other processes left.
REPLAY_IDLE_SECONDS: Final = 30.0
#: Seconds ``stop()`` waits for the replayer (its append is interrupted by closing the destination).
STOP_JOIN_SECONDS: Final = 1.0

#: For tests only: called after a replayed payload was appended and before its entry is removed,
#: to crash a process in that window (see ``tests/test_spool_crash.py``).
after_append: Callable[[], None] | None = None


class Spooler:
    """Writes payloads to a Blob destination, spooling those it cannot take; replays the spool."""

    def __init__(self, spool: Spool, destination: BlobDestination) -> None:
        self.spool = spool
        self._destination = destination
        self._divert_until = 0.0
        self._interrupted = False
        self._reset_thread()
        after_fork_in_child(self._reset_thread)
        self.spool.remove_stale_temporaries()
        STATS.set(SPOOL_BYTES, self.spool.rescan())
        self._start_if_pending()

    @classmethod
    def from_settings(cls, settings: Settings, destination: Destination) -> Spooler | None:
        """A spooler when the spool is on and the destination is remote (Blob Storage); else None."""
        if not settings.spool_dir or not settings.uses_blob_storage:
            return None
        from .blob import BlobDestination

        if not isinstance(destination, BlobDestination):
            return None
        return cls(Spool(settings.spool_dir, settings.spool_max_bytes), destination)

    def _reset_thread(self) -> None:
        """No replayer yet (also in a forked child: the parent's thread did not follow)."""
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._checked = False

    def write(self, folder: str, header: bytes, payload: bytes, rows: int, stem: str = DATA_STEM) -> bool:
        """Append ``payload`` or spool it; False only when its rows were dropped or failed."""
        if not self._checked:
            self._start_if_pending()
        last: list[Attempt] = []
        if not self._interrupted and time.monotonic() >= self._divert_until:
            try:
                self._destination.append_recorded(
                    folder, header, payload, lambda path, position: last.append(Attempt(path, position)), stem
                )
            except Exception as exc:
                if time.monotonic() >= self._divert_until:
                    _log.warning(
                        "otel_modeldata: %s could not take rows (%s); spooling to %s and replaying in the "
                        "background",
                        self._destination.describe(),
                        exc,
                        self.spool.directory,
                    )
                self._divert_until = time.monotonic() + DIVERT_SECONDS
            else:
                STATS.add(WRITTEN, rows)
                return True
        return self._keep(folder, header, payload, rows, last[-1] if last else None, stem)

    def _keep(
        self, folder: str, header: bytes, payload: bytes, rows: int, attempt: Attempt | None, stem: str
    ) -> bool:
        try:
            self.spool.put(folder, header, payload, rows, attempt, stem)
        except SpoolFull as exc:
            model, designation = _model_and_designation(folder)
            STATS.drop(SPOOL_FULL, rows, model=model, designation=designation, accepted=True, detail=str(exc))
            return False
        except OSError as exc:
            STATS.add(FAILED, rows)
            _log.error("otel_modeldata: rows for %s could not be spooled either: %s", folder, exc)
            return False
        STATS.add(SPOOLED, rows)
        STATS.set(SPOOL_BYTES, self.spool.size)
        self._start()
        self._wake.set()
        return True

    def interrupt(self) -> None:
        """Shutdown ran out of patience: spool every later payload and stop the retries in progress."""
        self._interrupted = True
        self._stop.set()
        self._wake.set()
        self._destination.close()

    def stop(self) -> None:
        """Stop the replayer; an entry it was appending stays in the spool for the next one."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        self._destination.close()
        if thread is not None:
            thread.join(STOP_JOIN_SECONDS)

    def _start_if_pending(self) -> None:
        self._checked = True
        if self.spool.has_entries():
            self._start()

    def _start(self) -> None:
        with self._thread_lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="otel_modeldata-replay", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            self._wake.clear()
            if self._replay_pass():
                failures = 0
                self._wake.wait(REPLAY_IDLE_SECONDS)
            else:
                failures += 1
                ceiling = min(REPLAY_FIRST_BACKOFF * 2**failures, REPLAY_MAX_BACKOFF)
                self._stop.wait(ceiling / 2 + random.uniform(0, ceiling / 2))

    def _replay_pass(self) -> bool:
        """Replay entries until none is left (True) or the destination fails (False)."""
        STATS.set(SPOOL_BYTES, self.spool.rescan())
        replayed = 0
        while not self._stop.is_set():
            lease = self.spool.lease_next()
            if lease is None:
                break
            try:
                rows = self._replay(lease)
            except BadEntry:
                STATS.add(SET_ASIDE)
                continue
            except Exception as exc:
                _log.debug("otel_modeldata: replay of spool entry %s failed: %s", lease.id, exc)
                self._release(lease)
                return False
            replayed += rows
            self._divert_until = 0.0
            STATS.add(REPLAYED, rows)
            STATS.add(WRITTEN, rows)
            STATS.set(SPOOL_BYTES, self.spool.size)
        if replayed:
            _log.info(
                "otel_modeldata: replayed %d spooled rows to %s", replayed, self._destination.describe()
            )
        return True

    def _replay(self, lease: Lease) -> int:
        """Append the leased entry exactly once, remove it, and return its row count."""
        entry = self.spool.read(lease)
        try:
            attempt = self.spool.attempt(entry)
        except ValueError as exc:
            self.spool.set_aside(lease, f"its attempt record is unreadable: {exc}")
            raise BadEntry(lease.id) from None
        if attempt is not None and self._destination.holds(attempt.path, attempt.position, entry.payload):
            _log.debug("otel_modeldata: spool entry %s was already appended; removing it", lease.id)
        else:
            self._destination.append_recorded(
                entry.folder,
                entry.header,
                entry.payload,
                lambda path, position: self.spool.record_attempt(lease, Attempt(path, position)),
                entry.stem,
            )
            if after_append is not None:
                after_append()
        self.spool.remove(lease)
        return entry.rows

    def _release(self, lease: Lease) -> None:
        try:
            self.spool.release(lease)
        except OSError as exc:
            _log.error("otel_modeldata: spool entry %s could not be given back: %s", lease.id, exc)


def _model_and_designation(folder: str) -> tuple[str, str]:
    """From ``.../<model>/<version>/<designation>/<YYYY>/<MM>/<DD>``, for the drop's log line."""
    parts = folder.split("/")
    return (parts[-6], parts[-4]) if len(parts) >= 6 else (folder, "")
