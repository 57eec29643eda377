"""Blob rollover at scale: a writer that starts late finds the current part, however many are full."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import otel_modeldata
from _azurite import Azurite
from otel_modeldata import ModelDataCollector, Settings
from otel_modeldata.csvfmt import encode_lines, header_line
from otel_modeldata.destinations.blob import BlobDestination
from otel_modeldata.layout import file_name
from otel_modeldata.schema import CORRELATION_COLUMNS

from csvfiles import BlobStore, partition_name

pytestmark = pytest.mark.azurite


@pytest.fixture
def blob_store(azurite: Azurite, container_name: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[BlobStore]:
    """Azurite, with ``configure()`` building its BlobDestination with room for 2 blocks per blob."""
    original = BlobDestination.from_settings.__func__  # type: ignore[attr-defined]

    def build(cls: type[BlobDestination], settings: Settings, **kwargs: Any) -> BlobDestination:
        return original(cls, settings, **{**kwargs, "block_limit": 2})  # type: ignore[no-any-return]

    monkeypatch.setattr(BlobDestination, "from_settings", classmethod(build))
    store = BlobStore(azurite, container_name)
    yield store
    store.close()


def test_a_writer_starting_after_many_full_parts_writes_to_the_latest(blob_store: BlobStore) -> None:
    folder = partition_name("parted", "inputs")
    header = header_line(["x"])
    width = 1 + len(CORRELATION_COLUMNS)
    container = blob_store.service.get_container_client(blob_store.container)
    container.create_container()
    parts = 70  # more than the 64 moves one append used to be allowed

    def make(part: int) -> None:
        """Part ``part`` with its header; all but the last also hold a row, so they are full."""
        blob = container.get_blob_client(f"{folder}/{file_name(None, part)}")
        blob.create_append_blob()
        blob.append_block(header)
        if part < parts - 1:
            blob.append_block(encode_lines([[f"old-{part}"] * width]))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(make, range(parts)))

    handle = blob_store.configure()
    collector = ModelDataCollector("parted", designation="inputs", feature_names=["x"])
    collector.collect([["new-1"]])
    assert handle.force_flush()
    collector.collect([["new-2"]])
    assert handle.force_flush()

    last, after = file_name(None, parts - 1), file_name(None, parts)
    assert [r["x"] for r in blob_store.read_rows("parted", "inputs", file=last)[1]] == ["new-1"]
    assert [r["x"] for r in blob_store.read_rows("parted", "inputs", file=after)[1]] == ["new-2"]
    assert len(blob_store.files()) == parts + 1
    stats = otel_modeldata.stats()
    assert stats["rows_written"] == 2
    assert stats["rows_failed"] == 0


def test_a_sibling_whose_tag_is_all_digits_is_not_taken_for_a_part(blob_store: BlobStore) -> None:
    folder = partition_name("digits", "inputs")
    container = blob_store.service.get_container_client(blob_store.container)
    container.create_container()
    sibling = container.get_blob_client(f"{folder}/data_12345678.csv")
    sibling.create_append_blob()
    sibling.append_block(header_line(["other", "columns"]))

    handle = blob_store.configure()
    ModelDataCollector("digits", designation="inputs", feature_names=["x"]).collect([["kept"]])
    assert handle.force_flush()
    assert [r["x"] for r in blob_store.read_rows("digits", "inputs")[1]] == ["kept"]
