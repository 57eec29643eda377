"""``analysis.read`` from Blob Storage (Azurite): thousands of blobs, parallel downloads, the cache.

The container is filled directly with azure-storage-blob, in the collector's exact format
(``csvfmt`` and ``layout``), in parallel: three days of 1,000 small files each (``data.csv``
and its rollover parts), a second model, and one append blob that grows during a test.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from _azurite import Azurite
from otel_modeldata import analysis
from otel_modeldata.analysis.sources import BlobSource, client_options
from otel_modeldata.csvfmt import RowContext, RowWriter, header_line
from otel_modeldata.layout import Identity, file_name, partition_folder

pytestmark = pytest.mark.azurite

DAYS = [date(2026, 5, 1), date(2026, 5, 2)]
FILES_PER_DAY = 1000
IDENTITY = Identity("sub", "rg", "ws", "svc")


def payload(first: int, rows: int, header: bool = True) -> bytes:
    """CSV bytes as the collector writes them: rows ``[first + i, i / 2]`` of one call."""
    ctx = RowContext(
        str(uuid.uuid4()), "2026-05-01T12:00:00.000000Z", "sub/rg/ws", "svc", "fleet", "1", "r", "", ""
    )
    writer = RowWriter()
    assert writer.write([[first + i, i / 2] for i in range(rows)], 2, ctx) == []
    return (header_line(["a", "b"]) if header else b"") + writer.payload()


def name(model: str, day: date, part: int) -> str:
    return f"{partition_folder(IDENTITY, model, '1', 'inputs', day)}/{file_name(None, part)}"


@pytest.fixture(scope="module")
def container(azurite: Azurite) -> Iterator[Any]:
    """A container of 2,000 two-row blobs of model ``fleet`` and a few one-row ones of model ``other``."""
    service = azurite.service()
    client = service.create_container(f"t{uuid.uuid4().hex[:24]}")
    jobs = [
        (name("fleet", day, part), payload(d * 10_000 + part * 2, 2))
        for d, day in enumerate(DAYS)
        for part in range(1, FILES_PER_DAY)
    ]
    jobs += [(name("other", DAYS[0], part), payload(part, 1)) for part in range(5)]
    with ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda job: client.upload_blob(*job), jobs))
    for d, day in enumerate(DAYS):  # part 0 (data.csv) is an append blob, as the collector makes it
        blob = client.get_blob_client(name("fleet", day, 0))
        blob.create_append_blob()
        blob.append_block(payload(d * 10_000 - 2, 2))
    yield client
    client.delete_container()
    service.close()


def expected(day: int) -> list[int]:
    """Column ``a`` of a day: data.csv holds -2 and -1, data_<n>.csv 2n and 2n + 1."""
    return [day * 10_000 + k for k in [-2, -1, *range(2, FILES_PER_DAY * 2)]]


class Requests:
    """Counts the requests a client makes: listings, downloads, and the most at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lists = self.downloads = self.in_flight = self.most_in_flight = 0

    def request(self, request: Any) -> None:
        with self.lock:
            url = request.http_request.url
            if "comp=list" in url:
                self.lists += 1
            elif request.http_request.method == "GET":
                self.downloads += 1
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)

    def response(self, response: Any) -> None:
        with self.lock:
            self.in_flight -= 1


def counted_source(azurite: Azurite, container: Any, cache: Path) -> tuple[BlobSource, Requests]:
    requests = Requests()
    service = azurite.service(
        raw_request_hook=requests.request, raw_response_hook=requests.response, **client_options()
    )
    return BlobSource(service.get_container_client(container.container_name), cache_dir=cache), requests


def test_reads_a_thousand_blobs_through_the_container_url(
    azurite: Azurite, container: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_MODELDATA_STORAGE_CONNECTION_STRING", azurite.connection_string)
    monkeypatch.setenv("OTEL_MODELDATA_CACHE_DIR", str(tmp_path / "cache"))
    url = f"{azurite.endpoint}/{container.container_name}"
    frame = analysis.read(url, model="fleet", start=DAYS[0], end=DAYS[0])
    assert sorted(frame["a"]) == expected(0)
    assert str(frame["b"].dtype) == "float64"
    assert frame["$file"].nunique() == FILES_PER_DAY
    assert len(list((tmp_path / "cache").rglob("*.csv"))) == FILES_PER_DAY


def test_parallel_downloads_a_cache_reused_and_a_grown_append_blob_fetched_again(
    azurite: Azurite, container: Any, tmp_path: Path
) -> None:
    source, requests = counted_source(azurite, container, tmp_path)
    first = analysis.read(source, model="fleet", version="1", start=DAYS[1], end=DAYS[1])
    assert sorted(first["a"]) == expected(1)
    assert requests.downloads == FILES_PER_DAY
    assert requests.most_in_flight > 1
    # The identity's four levels, then the year, month and day folders, then the day's files.
    assert requests.lists == 4 + 3 + 1
    cached = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.csv")}
    assert len(cached) == FILES_PER_DAY

    again = analysis.read(source, model="fleet", version="1", start=DAYS[1], end=DAYS[1])
    assert requests.downloads == FILES_PER_DAY  # nothing downloaded the second time
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.csv")} == cached
    assert sorted(again["a"]) == expected(1)

    container.get_blob_client(name("fleet", DAYS[1], 0)).append_block(payload(-100, 1, header=False))
    grown = analysis.read(source, model="fleet", version="1", start=DAYS[1], end=DAYS[1])
    assert requests.downloads == FILES_PER_DAY + 1
    assert sorted(grown["a"]) == sorted([-100, *expected(1)])


def test_no_source_reads_the_collectors_container(
    azurite: Azurite, container: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_MODELDATA_STORAGE_CONNECTION_STRING", azurite.connection_string)
    monkeypatch.setenv("OTEL_MODELDATA_CONTAINER", container.container_name)
    monkeypatch.setenv("OTEL_MODELDATA_CACHE_DIR", str(tmp_path))
    assert sorted(analysis.read(model="other")["a"]) == list(range(5))
    with pytest.raises(analysis.UnknownModelError, match=r"models found: fleet, other\)"):
        analysis.read(model="ship")
