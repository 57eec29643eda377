"""A local Azure Blob Storage: Azurite, installed with npm into ``.cache/azurite`` on first use.

``running(location)`` starts ``azurite-blob`` on a free loopback port with its data kept in
``location`` (so it can be opened again later), or in memory when ``location`` is None, and
stops it on exit. The demo, the test suite and the blob benchmark all start it this way.
The account name and key are read from the installed Azurite package, which is where they
are defined: they are the emulator's public development credentials, not secrets.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

AZURITE_VERSION = "3.35.0"
INSTALL_DIR = Path(__file__).resolve().parents[1] / ".cache" / "azurite"
BINARY = INSTALL_DIR / "node_modules" / ".bin" / "azurite-blob"
#: Azurite's usual blob port, used in the commands printed for later.
USUAL_PORT = 10000
STARTUP_SECONDS = 30.0
STOP_SECONDS = 10.0


class AzuriteError(RuntimeError):
    """Azurite could not be installed, found or started."""


@dataclass(frozen=True)
class Azurite:
    """A running Azurite blob service and the emulator account it serves."""

    location: Path | None
    port: int
    account_name: str
    account_key: str

    @property
    def endpoint(self) -> str:
        """The account's blob endpoint."""
        return f"http://127.0.0.1:{self.port}/{self.account_name}"

    @property
    def connection_string(self) -> str:
        """A connection string with the emulator's account key, as a deployment would set one."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={self.account_name};"
            f"AccountKey={self.account_key};BlobEndpoint={self.endpoint};"
        )

    def service(self, **options: Any) -> Any:
        """An azure-storage-blob ``BlobServiceClient`` for this account."""
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string, **options)


def install() -> Path:
    """``azurite-blob`` from ``.cache/azurite``, installed there with npm when missing."""
    if BINARY.exists():
        return BINARY
    npm = shutil.which("npm")
    if npm is None:
        raise AzuriteError(f"npm is needed to install Azurite into {INSTALL_DIR}; install Node.js first")
    print(f"installing azurite@{AZURITE_VERSION} into {INSTALL_DIR} (once)", flush=True)
    command = ["--silent", "--no-audit", "--no-fund", "--prefix", str(INSTALL_DIR)]
    done = subprocess.run([npm, "install", *command, f"azurite@{AZURITE_VERSION}"], check=False)
    if done.returncode != 0 or not BINARY.exists():
        raise AzuriteError(f"npm install azurite@{AZURITE_VERSION} failed (exit code {done.returncode})")
    return BINARY


def constant(binary: Path, name: str) -> str:
    """A string constant of Azurite's blob service, read from the installed package."""
    package = next((p for p in binary.resolve().parents if (p / "package.json").exists()), None)
    constants = package / "dist" / "src" / "blob" / "utils" / "constants.js" if package else None
    if constants is None or not constants.exists():
        raise AzuriteError(f"{binary} is not inside an installed azurite package")
    match = re.search(rf'exports\.{name} = "([^"]+)"', constants.read_text(encoding="utf-8"))
    if match is None:
        raise AzuriteError(f"{name} not found in {constants}")
    return match.group(1)


def command(binary: Path, location: Path | None, port: int) -> list[str]:
    """The ``azurite-blob`` command line serving ``location`` (None: memory) on ``port``."""
    storage = ("--inMemoryPersistence",) if location is None else ("--location", str(location))
    return [
        str(binary),
        *("--blobHost", "127.0.0.1", "--blobPort", str(port)),
        *storage,
        *("--disableTelemetry", "--silent", "--skipApiVersionCheck"),
    ]


def free_port() -> int:
    """A TCP port nothing listens on now, on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def running(location: Path | None) -> Iterator[Azurite]:
    """Azurite serving ``location`` (None: in memory) on a free port until the block ends."""
    binary = install()
    if location is not None:
        location.mkdir(parents=True, exist_ok=True)
        location = location.resolve()
    server = Azurite(
        location=location,
        port=free_port(),
        account_name=constant(binary, "EMULATOR_ACCOUNT_NAME"),
        account_key=constant(binary, "EMULATOR_ACCOUNT_KEY_STR"),
    )
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(
            command(binary, server.location, server.port), stdout=output, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while not _accepts(server.port):
                try:
                    code = process.wait(timeout=0.05)
                except subprocess.TimeoutExpired:
                    if time.monotonic() > deadline:
                        raise AzuriteError(
                            f"Azurite did not listen on port {server.port} within {STARTUP_SECONDS:.0f}s"
                        ) from None
                else:
                    output.seek(0)
                    said = output.read().decode(errors="replace").strip()
                    raise AzuriteError(f"Azurite exited with code {code}: {said}")
            yield server
        finally:
            # SIGTERM: Azurite saves its metadata to ``location`` before exiting.
            process.terminate()
            try:
                process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def look_later(server: Azurite, container: str) -> list[str]:
    """Shell commands that open the stopped Azurite's data again and list ``container``."""
    listing = (
        "import os; from azure.storage.blob import ContainerClient; "
        'c = ContainerClient.from_connection_string(os.environ["AZURE_STORAGE_CONNECTION_STRING"], '
        f'{json.dumps(container)}); print(*c.list_blob_names(), sep="\\n")'
    )
    usual = replace(server, port=USUAL_PORT)
    return [
        f"{shlex.join(command(BINARY, server.location, USUAL_PORT))} &",
        f"export AZURE_STORAGE_CONNECTION_STRING={shlex.quote(usual.connection_string)}",
        f"{shlex.quote(sys.executable)} -c {shlex.quote(listing)}",
        "kill %1  # stops Azurite again",
    ]


if __name__ == "__main__":
    # ``python examples/azurite.py``: install Azurite now (the test command does) and say where.
    print(install())
