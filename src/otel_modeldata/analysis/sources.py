"""Where the collected files are: a local root or a blob container, walked through the layout.

A source lists the folders of one level and the files of one day folder, and gives local paths
for the files it found: the files themselves for a local root, copies in a cache for Blob
Storage. Nothing here scans a whole container: the readers walk the layout's levels from the
model down to the days they want (see :mod:`otel_modeldata.analysis.find`).
"""

from __future__ import annotations

import os
import sys
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final, NamedTuple
from urllib.parse import urlsplit

from ..layout import LEVELS, ROOT_FOLDER, is_data_file
from ..settings import (
    AZURE_STORAGE_CONNECTION_STRING,
    STORAGE_CONNECTION_STRING,
    ConfigurationError,
    Settings,
)

CACHE_DIR: Final = "OTEL_MODELDATA_CACHE_DIR"
"""Where blobs are downloaded, default ``~/.cache/otel-modeldata``; a file is reused while its ETag holds."""

DEFAULT_CACHE_DIR: Final = Path("~/.cache/otel-modeldata")
#: Downloads and listings made at once: enough to hide the latency of many small blobs.
WORKERS: Final = 16
#: A progress bar is drawn from this many downloads on (and only when stderr is a terminal).
PROGRESS_FROM: Final = 20


class SourceError(RuntimeError):
    """The source cannot be opened or read (a bad URL, no credential, a failed download)."""


class DataFile(NamedTuple):
    """A data file found in a day folder: its name below ``modeldata/``, size and version tag."""

    name: str
    size: int
    etag: str


class Source(ABC):
    """Files laid out as below ``modeldata/``, readable as local paths under :attr:`base`."""

    #: The local folder whose relative paths are the files' names (a root's ``modeldata``, or the cache).
    base: Path
    #: Where the files are, for messages: a path or a container URL.
    description: str

    @abstractmethod
    def folders(self, folder: str) -> list[str]:
        """Names of the folders directly inside ``folder`` (``""`` for the top); none when missing."""

    @abstractmethod
    def files(self, folder: str) -> list[DataFile]:
        """The data files directly inside a day folder (names the layout makes, nothing else)."""

    def fetch(self, files: list[DataFile]) -> list[Path]:
        """Local paths of ``files``, in their order; downloaded first when they are remote."""
        return [self.base / f.name for f in files]

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; a local root holds none."""


class LocalSource(Source):
    """A local root: the folder holding ``modeldata/``, as ``OTEL_MODELDATA_LOCAL_DIR``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.base = Path(root).expanduser() / ROOT_FOLDER
        self.description = str(Path(root))

    def folders(self, folder: str) -> list[str]:
        try:
            return sorted(entry.name for entry in os.scandir(self.base / folder) if entry.is_dir())
        except (FileNotFoundError, NotADirectoryError):
            return []

    def files(self, folder: str) -> list[DataFile]:
        try:
            entries = list(os.scandir(self.base / folder))
        except (FileNotFoundError, NotADirectoryError):
            return []
        found = []
        for entry in entries:
            if entry.is_file() and is_data_file(entry.name, _designation(folder)):
                stat = entry.stat()
                found.append(DataFile(f"{folder}/{entry.name}", stat.st_size, str(stat.st_mtime_ns)))
        return sorted(found)


class BlobSource(Source):
    """A blob container (and prefix), read through a local cache keyed by blob name and ETag.

    An append blob that grew has a new ETag and is downloaded again; the others are read from
    the cache. Downloads run in a thread pool, with a progress bar on stderr for long ones.
    """

    def __init__(
        self, container: Any, prefix: str = "", cache_dir: str | os.PathLike[str] | None = None
    ) -> None:
        self._container = container
        self._prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        cache = Path(cache_dir or os.environ.get(CACHE_DIR) or DEFAULT_CACHE_DIR).expanduser()
        account = urlsplit(container.url)
        place = f"{account.hostname}_{account.port or ''}{account.path}".replace(":", "_")
        self.base = cache / place.strip("/") / self._prefix
        self.description = f"{container.url.rstrip('/')}/{self._prefix}".rstrip("/")

    def folders(self, folder: str) -> list[str]:
        start = self._prefix + (f"{folder}/" if folder else "")
        names = []
        for item in self._container.walk_blobs(name_starts_with=start, delimiter="/"):
            if item.name.endswith("/"):
                names.append(item.name[len(start) :].rstrip("/"))
        return sorted(names)

    def files(self, folder: str) -> list[DataFile]:
        start = f"{self._prefix}{folder}/"
        found = []
        for blob in self._container.list_blobs(name_starts_with=start):
            name = blob.name[len(start) :]
            if "/" not in name and is_data_file(name, _designation(folder)):
                found.append(DataFile(f"{folder}/{name}", blob.size, _etag(blob.etag)))
        return sorted(found)

    def fetch(self, files: list[DataFile]) -> list[Path]:
        with progress_bar(len(files), "downloading") as bar, ThreadPoolExecutor(WORKERS) as pool:
            paths = []
            for path in pool.map(self._cached, files):
                bar.update()
                paths.append(path)
        return paths

    def _cached(self, file: DataFile) -> Path:
        """The cached copy of ``file``, downloaded when missing or of another ETag."""
        path = self.base / file.name
        stamp = path.with_name(f".{path.name}.etag")
        if path.exists() and stamp.exists() and stamp.read_text() == file.etag:
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
        try:
            with open(partial, "wb") as out:
                download = self._container.download_blob(self._prefix + file.name)
                download.readinto(out)
            os.replace(partial, path)
        except Exception as exc:
            partial.unlink(missing_ok=True)
            raise SourceError(f"cannot download {self.description}/{file.name}: {exc}") from exc
        # The ETag of what was downloaded: a blob appended to since the listing is fetched again next time.
        stamp.write_text(_etag(download.properties.etag))
        return path

    def close(self) -> None:
        self._container.close()


def _designation(folder: str) -> str:
    """The designation level of a day folder's path."""
    parts = folder.split("/")
    return parts[LEVELS.index("designation")] if len(parts) > LEVELS.index("designation") else ""


def _etag(value: object) -> str:
    """An ETag as listings and downloads both give it (one quotes it, the other may not)."""
    return str(value).strip('"')


def open_source(source: str | os.PathLike[str] | Source | None) -> Source:
    """A :class:`Source` for ``None`` (the collector's settings), a local root or a container URL."""
    if isinstance(source, Source):
        return source
    if source is None:
        settings = Settings.from_env()
        if not settings.uses_blob_storage:
            return LocalSource(settings.local_dir)
        if settings.storage_connection_string:
            service = _service_from_connection_string(settings.storage_connection_string)
        else:
            service = _service_with_credential(str(settings.storage_account_url))
        return BlobSource(service.get_container_client(settings.container), settings.blob_prefix)
    text = os.fspath(source)
    if text.startswith(("https://", "http://")):
        return _container_source(text)
    return LocalSource(_local_root(text))


def _local_root(text: str) -> str:
    """The root a user named: refused when it is not a folder (a typo would read as "no data"),
    and the folder holding ``modeldata/`` when they named ``modeldata/`` itself."""
    path = Path(text).expanduser()
    if not path.is_dir():
        raise SourceError(f"no folder {text}")
    if path.name == ROOT_FOLDER and not (path / ROOT_FOLDER).is_dir():
        return str(path.parent)
    return text


def _container_source(url: str) -> Source:
    """``https://<account>.blob.core.windows.net/<container>[/<prefix>]``, with a key or Entra ID.

    With a connection string in the environment, the URL's path below the account's endpoint
    names the container and prefix (so Azurite's ``http://127.0.0.1:10000/<account>/...`` works).
    """
    connection_string = os.environ.get(STORAGE_CONNECTION_STRING) or os.environ.get(
        AZURE_STORAGE_CONNECTION_STRING
    )
    if connection_string:
        service = _service_from_connection_string(connection_string)
        endpoint = service.url.rstrip("/")
        if not url.startswith(endpoint + "/"):
            raise SourceError(f"{url} is not in the account of the connection string ({endpoint})")
        rest = url[len(endpoint) + 1 :]
    else:
        parts = urlsplit(url)
        service = _service_with_credential(f"{parts.scheme}://{parts.netloc}")
        rest = parts.path.lstrip("/")
    container, _, prefix = rest.strip("/").partition("/")
    if not container:
        raise SourceError(
            f"{url} names no container: use https://<account>.blob.core.windows.net/<container>"
        )
    return BlobSource(service.get_container_client(container), prefix)


def _service_from_connection_string(connection_string: str) -> Any:
    from azure.storage.blob import BlobServiceClient

    try:
        return BlobServiceClient.from_connection_string(connection_string, **client_options())
    except ValueError:
        raise ConfigurationError(
            f"{STORAGE_CONNECTION_STRING} (or {AZURE_STORAGE_CONNECTION_STRING}) is not a valid "
            "Azure Storage connection string"
        ) from None


def _service_with_credential(account_url: str) -> Any:
    from azure.storage.blob import BlobServiceClient

    try:
        from azure.identity import DefaultAzureCredential
    except ImportError:
        raise SourceError(
            "reading a container without a connection string needs azure-identity: "
            "pip install 'otel-modeldata[identity]', or set " + STORAGE_CONNECTION_STRING
        ) from None
    return BlobServiceClient(account_url, credential=DefaultAzureCredential(), **client_options())


def client_options() -> dict[str, Any]:
    """``BlobServiceClient`` options for :data:`WORKERS` requests at once, each on a kept connection.

    The SDK's default pool keeps 10 connections: with more workers, connections would be opened
    and thrown away on every request.
    """
    import requests
    from azure.core.pipeline.transport import RequestsTransport

    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=WORKERS)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return {"transport": RequestsTransport(session=session, session_owner=True)}


def progress_bar(total: int, what: str, show: bool | None = None) -> Any:
    """A tqdm bar on stderr counting ``total`` files; ``show=None`` draws it only for long work
    (:data:`PROGRESS_FROM` files or more) on a terminal, so pipes and logs get no bar."""
    from tqdm import tqdm

    if show is None:
        show = total >= PROGRESS_FROM and sys.stderr.isatty()
    return tqdm(total=total, unit="file", desc=what, file=sys.stderr, disable=not show)


def in_parallel(work: Any, items: Iterable[Any]) -> list[Any]:
    """``[work(item) for item in items]`` run by the source's pool of workers (listings, downloads)."""
    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(work, items))
