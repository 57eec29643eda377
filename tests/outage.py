"""Outages for the durable-delivery tests: Azurite stopped and started again, rows counted back.

:class:`RestartableAzurite` keeps its data in a folder (``--location``) and its port, so a
stopped emulator comes back with the blobs written before. ``wait_until`` polls a condition
(a count, a file, a port) instead of sleeping a fixed time.
"""

from __future__ import annotations

import csv
import io
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

import azurite as emulator  # examples/azurite.py, found through the line above
from azurite import Azurite

POLL_SECONDS = 0.02


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """The first truthy ``condition()``, polled until ``timeout`` seconds; AssertionError naming ``what``."""
    give_up = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > give_up:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(POLL_SECONDS)
    return result


def listening(port: int) -> bool:
    """Whether something accepts connections on the loopback ``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class RestartableAzurite:
    """Azurite's blob service with its data in ``location``, on one port across restarts."""

    def __init__(self, location: Path) -> None:
        binary = emulator.install()
        location.mkdir(parents=True, exist_ok=True)
        self._binary = binary
        self.server = Azurite(
            location=location.resolve(),
            port=emulator.free_port(),
            account_name=emulator.constant(binary, "EMULATOR_ACCOUNT_NAME"),
            account_key=emulator.constant(binary, "EMULATOR_ACCOUNT_KEY_STR"),
        )
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def connection_string(self) -> str:
        return self.server.connection_string

    def start(self) -> None:
        """Start serving (the blobs written before a stop are there again) and wait for the port."""
        command = emulator.command(self._binary, self.server.location, self.server.port)
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: listening(self.server.port), emulator.STARTUP_SECONDS, "Azurite to listen")

    def stop(self) -> None:
        """SIGTERM (Azurite saves its metadata) and wait until the port refuses connections."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=emulator.STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None
        wait_until(lambda: not listening(self.server.port), 5, "Azurite's port to close")

    def rows(self, container: str) -> list[dict[str, str]]:
        """Every data row of every blob in ``container``: :func:`rows_in`."""
        return rows_in(self.server, container)


def rows_in(server: Azurite, container: str) -> list[dict[str, str]]:
    """Every data row of every blob in ``container`` (each blob's header checked once).

    Each row also gets ``folder``: its blob's partition folder (inputs and predictions of a
    call share correlation ids and row indexes).
    """
    client = server.service().get_container_client(container)
    found: list[dict[str, str]] = []
    for name in client.list_blob_names():
        data = client.download_blob(name).readall()
        reader = csv.DictReader(io.StringIO(data.decode("utf-8"), newline=""), strict=True)
        rows = list(reader)
        assert data.count(b"$aml_dc_correlation_id") == 1, f"{name}: a header inside the data"
        for row in rows:
            assert None not in row, f"{name}: row wider than its header {row!r}"
            assert None not in row.values(), f"{name}: row narrower than its header {row!r}"
            row["folder"] = name.rpartition("/")[0]
        found.extend(rows)
    return found


def row_keys(rows: list[dict[str, str]]) -> Counter[tuple[str, str, str]]:
    """How often each (folder, correlation id, row index) occurs: a count above 1 is a duplicate."""
    return Counter((row["folder"], row["$aml_dc_correlation_id"], row["$row_index"]) for row in rows)


def running(location: Path) -> Iterator[RestartableAzurite]:
    """A started RestartableAzurite, stopped at the end (a fixture body)."""
    server = RestartableAzurite(location)
    server.start()
    try:
        yield server
    finally:
        server.stop()
