"""A real Azure Blob Storage for the tests: Azurite, started once per session on loopback.

The ``azurite`` fixture runs ``azurite-blob`` from ``$OTEL_MODELDATA_TEST_AZURITE`` or from
``<repo>/.cache/azurite`` (installed there with npm on first use, so plain ``pytest`` works
on a fresh clone), in memory, without telemetry, on a free port. The account key is read
from the installed package, which is where Azurite defines it.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient

AZURITE_VERSION = "3.35.0"
REPO_ROOT = Path(__file__).resolve().parent.parent
INSTALL_DIR = REPO_ROOT / ".cache" / "azurite"
STARTUP_SECONDS = 30.0


@dataclass(frozen=True)
class Azurite:
    """A running Azurite blob service and the well-known account it serves."""

    port: int
    account_name: str
    account_key: str

    @property
    def endpoint(self) -> str:
        """The account's blob endpoint."""
        return f"http://127.0.0.1:{self.port}/{self.account_name}"

    @property
    def connection_string(self) -> str:
        """A connection string with the account key, as a deployment would set it."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={self.account_name};"
            f"AccountKey={self.account_key};BlobEndpoint={self.endpoint};"
        )

    def service(self, **options: Any) -> BlobServiceClient:
        """A client for reading back what the code under test wrote."""
        return BlobServiceClient.from_connection_string(self.connection_string, **options)


def _binary() -> Path:
    configured = os.environ.get("OTEL_MODELDATA_TEST_AZURITE")
    if configured:
        if not Path(configured).exists():
            raise RuntimeError(f"OTEL_MODELDATA_TEST_AZURITE={configured} does not exist")
        return Path(configured)
    binary = INSTALL_DIR / "node_modules" / ".bin" / "azurite-blob"
    if not binary.exists():
        subprocess.run(
            [
                "npm",
                "install",
                "--silent",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(INSTALL_DIR),
                f"azurite@{AZURITE_VERSION}",
            ],
            check=True,
            timeout=600,
        )
    return binary


def _constant(binary: Path, name: str) -> str:
    """A string constant of Azurite's blob service, read from the installed package."""
    package = next((p for p in binary.resolve().parents if (p / "package.json").exists()), None)
    if package is None:
        raise RuntimeError(f"{binary} is not inside an installed azurite package")
    source = (package / "dist" / "src" / "blob" / "utils" / "constants.js").read_text(encoding="utf-8")
    match = re.search(rf'exports\.{name} = "([^"]+)"', source)
    if match is None:
        raise RuntimeError(f"{name} not found in Azurite's constants.js under {package}")
    return match.group(1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """Azurite's blob service for the whole session; stopped at the end."""
    binary = _binary()
    server = Azurite(
        port=free_port(),
        account_name=_constant(binary, "EMULATOR_ACCOUNT_NAME"),
        account_key=_constant(binary, "EMULATOR_ACCOUNT_KEY_STR"),
    )
    command = [
        str(binary),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(server.port),
        "--inMemoryPersistence",
        "--disableTelemetry",
        "--silent",
        "--skipApiVersionCheck",
    ]
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while not _accepts(server.port):
                try:
                    process.wait(timeout=0.05)
                except subprocess.TimeoutExpired:
                    if time.monotonic() > deadline:
                        raise RuntimeError(
                            f"Azurite did not listen on {server.port} within {STARTUP_SECONDS} s"
                        ) from None
                else:
                    output.seek(0)
                    raise RuntimeError(f"Azurite exited with {process.returncode}: {output.read().decode()}")
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def container_name() -> str:
    """A container name no other test uses."""
    return f"t{uuid.uuid4().hex[:24]}"
