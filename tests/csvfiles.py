"""Reading what the collector wrote, the way a user would: from the local folder or the blobs."""

from __future__ import annotations

import csv
import io
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest

import otel_modeldata
from otel_modeldata import collect as collect_module

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient, ContainerClient

    from _azurite import Azurite

IDENTITY = ("sub-1", "rg-1", "ws-1", "svc-1")
IDENTITY_KEYS = ("subscription_id", "resource_group", "workspace", "webservice")

#: Text a naive CSV writer or reader would break; it must come back from a file as it went in.
AWKWARD = [
    ["comma, inside", 'quote " inside', "new\nline", "crlf\r\nline", "ünïcødé ✓ 模型", "=1+1"],
    ["", "  spaced  ", "tab\there", "-5", "'quoted'", "😀"],
]


def partition_name(
    model: str,
    designation: str,
    version: str = "1",
    identity: tuple[str, ...] = IDENTITY,
    day: datetime | None = None,
) -> str:
    """The folder the layout promises for today's (or ``day``'s) rows, below ``modeldata/``."""
    day = day or datetime.now(timezone.utc)
    return "/".join([*identity, model, version, designation, f"{day:%Y}", f"{day:%m}", f"{day:%d}"])


def partition_dir(
    root: Path,
    model: str,
    designation: str,
    version: str = "1",
    identity: tuple[str, ...] = IDENTITY,
    day: datetime | None = None,
) -> Path:
    """The local folder the layout promises for today's (or ``day``'s) rows."""
    return root / "modeldata" / partition_name(model, designation, version, identity, day)


def parse_rows(data: bytes) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of one CSV file's bytes; every row must have the header's width."""
    reader = csv.DictReader(io.StringIO(data.decode("utf-8"), newline=""), strict=True)
    rows = list(reader)
    for row in rows:
        assert None not in row, f"row wider than the header: {row!r}"
        assert None not in row.values(), f"row narrower than the header: {row!r}"
    return list(reader.fieldnames or []), rows


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of one CSV file."""
    return parse_rows(path.read_bytes())


def data_files(root: Path) -> list[Path]:
    """Every CSV file below ``root``, sorted."""
    return sorted(root.rglob("*.csv"))


class Store(ABC):
    """Where collection writes (a local folder or a blob container), and reading it back.

    Files are named as below ``modeldata/``: ``<subscriptionid>/.../<DD>/data.csv``.
    """

    #: ``configure()`` keywords that choose this destination.
    destination: dict[str, Any]
    #: Variables that choose this destination, for collection configured from the environment.
    environment: dict[str, str]
    #: ``configure()`` keywords for another place in the same destination (which ``files()`` sees).
    elsewhere: dict[str, Any]

    def configure(self, **overrides: Any) -> otel_modeldata.ModelDataHandle:
        """Collection into this destination with the test identity (``overrides`` win)."""
        identity = dict(zip(IDENTITY_KEYS, IDENTITY, strict=True))
        return otel_modeldata.configure(**{**self.destination, **identity, **overrides})

    @abstractmethod
    def files(self) -> list[str]:
        """Every file written, sorted, named as below ``modeldata/``."""

    @abstractmethod
    def read_bytes(self, name: str) -> bytes:
        """The content of the file ``name``."""

    @abstractmethod
    def has(self, name: str) -> bool:
        """Whether the file, or the folder, ``name`` exists."""

    @abstractmethod
    def untouched(self) -> bool:
        """Whether collection has left no trace at all (no root folder, no container)."""

    @abstractmethod
    def everything(self) -> list[str]:
        """Every name around the destination: the root's whole parent folder, or every container."""

    def rows_in(self, name: str) -> tuple[list[str], list[dict[str, str]]]:
        """Header and rows of the file ``name``."""
        return parse_rows(self.read_bytes(name))

    def read_rows(
        self, model: str, designation: str, file: str = "data.csv", **where: Any
    ) -> tuple[list[str], list[dict[str, str]]]:
        """Header and rows of ``file`` in the partition (``where``: version, identity, day)."""
        return self.rows_in(f"{partition_name(model, designation, **where)}/{file}")

    def read_frame(
        self,
        model: str,
        designation: str,
        file: str = "data.csv",
        read_csv: dict[str, Any] | None = None,
        **where: Any,
    ) -> pd.DataFrame:
        """``file`` of the partition read by pandas (``read_csv``: its keyword arguments)."""
        name = f"{partition_name(model, designation, **where)}/{file}"
        return pd.read_csv(io.BytesIO(self.read_bytes(name)), **(read_csv or {}))

    def exists(self, model: str, designation: str, file: str | None = "data.csv", **where: Any) -> bool:
        """Whether ``file`` of the partition exists (``file=None``: anything in its folder)."""
        folder = partition_name(model, designation, **where)
        return self.has(folder if file is None else f"{folder}/{file}")

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what reading needed; the default holds nothing."""


class LocalStore(Store):
    """The local default: files under ``<root>/modeldata``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.base = root / "modeldata"
        self.destination = {"local_dir": str(root)}
        self.environment = {"OTEL_MODELDATA_LOCAL_DIR": str(root)}
        self.elsewhere = {"local_dir": str(root / "other")}

    def files(self) -> list[str]:
        return sorted(Path(os.path.relpath(p, self.base)).as_posix() for p in data_files(self.root))

    def read_bytes(self, name: str) -> bytes:
        return (self.base / name).read_bytes()

    def has(self, name: str) -> bool:
        return (self.base / name).exists()

    def untouched(self) -> bool:
        return not self.root.exists()

    def everything(self) -> list[str]:
        return sorted(p.relative_to(self.root.parent).as_posix() for p in self.root.parent.rglob("*"))


class BlobStore(Store):
    """Azure Blob Storage (Azurite): append blobs in ``container``, read with azure-storage-blob."""

    def __init__(self, azurite: Azurite, container: str) -> None:
        self.service: BlobServiceClient = azurite.service()
        self.container = container
        self.destination = {"storage_connection_string": azurite.connection_string, "container": container}
        self.environment = {
            "OTEL_MODELDATA_STORAGE_CONNECTION_STRING": azurite.connection_string,
            "OTEL_MODELDATA_CONTAINER": container,
        }
        self.elsewhere = {**self.destination, "blob_prefix": "other"}

    def _client(self) -> ContainerClient:
        return self.service.get_container_client(self.container)

    def files(self) -> list[str]:
        client = self._client()
        return sorted(client.list_blob_names()) if client.exists() else []

    def read_bytes(self, name: str) -> bytes:
        data: bytes = self._client().download_blob(name).readall()
        return data

    def has(self, name: str) -> bool:
        return any(f == name or f.startswith(f"{name}/") for f in self.files())

    def untouched(self) -> bool:
        return not self._client().exists()

    def everything(self) -> list[str]:
        names = []
        for container in self.service.list_containers():
            names.append(container.name)
            blobs = self.service.get_container_client(container.name).list_blob_names()
            names.extend(f"{container.name}/{blob}" for blob in blobs)
        return sorted(names)

    def close(self) -> None:
        self.service.close()


NANOS_PER_DAY = 86_400 * 10**9


@contextmanager
def days_ago(days: int) -> Iterator[None]:
    """Collection stamps its records ``days`` earlier, so they go to that day's partition."""
    real = time.time_ns
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(collect_module, "time", SimpleNamespace(time_ns=lambda: real() - days * NANOS_PER_DAY))
        yield
