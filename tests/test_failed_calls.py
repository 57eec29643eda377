"""A run() that raises leaves an ``errors`` row next to its inputs, and the exception reaches the caller.

The errors file is read back and joined with the inputs on the correlation id, on both destinations.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from pathlib import Path

import pytest

import otel_modeldata
from otel_modeldata import ModelDataCollector, collect_io
from otel_modeldata.failures import MAX_MESSAGE_BYTES
from otel_modeldata.schema import CORRELATION_COLUMNS, ERROR_COLUMNS

from csvfiles import LocalStore, Store


class ModelError(RuntimeError):
    """An exception of the scoring code's own."""


@collect_io("fragile", feature_names=["x"])
def score(rows: list[list[int]]) -> list[int]:
    """Fail on negative inputs, like a model refusing out-of-range data."""
    if any(r[0] < 0 for r in rows):
        raise ModelError(f"negative input in {len(rows)} rows")
    return [r[0] * 2 for r in rows]


def test_failed_calls_join_their_inputs_on_the_correlation_id(
    store_collector: otel_modeldata.ModelDataHandle, store: Store
) -> None:
    raised: list[BaseException] = []
    for value in (1, -2, 3, -4):
        try:
            assert score([[value]]) == [value * 2]
        except ModelError as exc:
            raised.append(exc)
    assert len(raised) == 2
    frames = traceback.extract_tb(raised[0].__traceback__)
    assert frames[-1].name == "score"  # the traceback still ends where the scoring code raised
    assert store_collector.force_flush()

    header, _ = store.read_rows("fragile", "errors")
    assert header == [*ERROR_COLUMNS, *CORRELATION_COLUMNS]
    inputs = store.read_frame("fragile", "inputs")
    errors = store.read_frame("fragile", "errors")
    failed = inputs.merge(errors, on="$aml_dc_correlation_id", validate="one_to_one")
    assert sorted(failed["x"]) == [-4, -2]
    assert set(failed["error_type"]) == {f"{__name__}.ModelError"}
    assert list(failed["error_message"]) == ["negative input in 1 rows"] * 2
    predictions = store.read_frame("fragile", "predictions")
    assert sorted(predictions["prediction_0"]) == [2, 6]
    assert otel_modeldata.stats()["rows_dropped"] == {}


def test_the_exception_is_the_same_object_with_its_traceback(
    collector: otel_modeldata.ModelDataHandle, local_root: Path
) -> None:
    original = ModelError("boom")

    @collect_io("same")
    def run(data: object) -> None:
        raise original

    with pytest.raises(ModelError) as caught:
        run([[1]])
    assert caught.value is original
    assert traceback.extract_tb(caught.value.__traceback__)[-1].line == "raise original"
    assert caught.value.__context__ is None  # no collection error chained onto it


def test_async_run_failures_are_collected(
    store_collector: otel_modeldata.ModelDataHandle, store: Store
) -> None:
    @collect_io("async_fragile")
    async def arun(data: list[list[int]]) -> int:
        await asyncio.sleep(0)
        if data[0][0] % 2:
            raise LookupError(f"no row {data[0][0]}")
        return 0

    async def main() -> list[object]:
        return await asyncio.gather(*(arun([[i]]) for i in range(6)), return_exceptions=True)

    results = asyncio.run(main())
    assert [type(r).__name__ for r in results] == ["int", "LookupError"] * 3
    store_collector.force_flush()
    joined = store.read_frame("async_fragile", "inputs").merge(
        store.read_frame("async_fragile", "errors"), on="$aml_dc_correlation_id", validate="one_to_one"
    )
    assert sorted(joined["feature_0"]) == [1, 3, 5]
    assert list(joined["error_type"]) == ["LookupError"] * 3
    assert sorted(joined["error_message"]) == ["no row 1", "no row 3", "no row 5"]


def test_the_message_is_cut_to_one_kilobyte_without_frames_or_locals(
    collector: otel_modeldata.ModelDataHandle, local_root: Path
) -> None:
    store = LocalStore(local_root)

    @collect_io("verbose")
    def run(data: object) -> None:
        api_token = "local-secret-3f9a"  # noqa: F841 - a local that must not be written
        raise ValueError("é" * 2000)

    with pytest.raises(ValueError):
        run([[1]])
    collector.force_flush()
    _, rows = store.read_rows("verbose", "errors")
    message = rows[0]["error_message"]
    assert len(message.encode("utf-8")) <= MAX_MESSAGE_BYTES
    assert message.endswith("…")
    assert message.startswith("é" * 500)
    written = b"".join(store.read_bytes(name) for name in store.files())
    assert b"local-secret-3f9a" not in written
    assert b"Traceback" not in written


def test_an_exception_whose_str_raises_is_still_recorded(
    collector: otel_modeldata.ModelDataHandle, local_root: Path
) -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no text")

    @collect_io("unprintable")
    def run(data: object) -> None:
        raise Unprintable()

    with pytest.raises(Unprintable):
        run([[1]])
    collector.force_flush()
    _, rows = LocalStore(local_root).read_rows("unprintable", "errors")
    assert rows[0]["error_type"].endswith("Unprintable")
    assert rows[0]["error_message"] == f"<str() of {rows[0]['error_type']} raised>"


@pytest.mark.parametrize("how", ["keyword", "environment"])
def test_collect_errors_false_writes_no_errors(
    local_root: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    store = LocalStore(local_root)
    if how == "keyword":
        handle = store.configure(collect_errors=False)
    else:
        monkeypatch.setenv("OTEL_MODELDATA_COLLECT_ERRORS", "false")
        handle = store.configure()
    with pytest.raises(ModelError):
        score([[-1]])
    handle.force_flush()
    assert store.exists("fragile", "inputs")
    assert not store.exists("fragile", "errors", file=None)


@pytest.mark.parametrize("strict", [False, True])
def test_a_failure_to_collect_the_error_never_replaces_the_exception(
    local_root: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, strict: bool
) -> None:
    def broken(exc: BaseException) -> list[str]:
        raise OSError("collection broke")

    monkeypatch.setattr("otel_modeldata.collect.failure_row", broken)
    LocalStore(local_root).configure(strict=strict)
    with caplog.at_level(logging.ERROR, logger="otel_modeldata"), pytest.raises(ModelError) as caught:
        score([[-1]])
    assert caught.value.__context__ is None
    assert any("could not be collected" in r.getMessage() for r in caplog.records)


def test_the_classic_collector_records_an_error_for_the_current_inputs(
    collector: otel_modeldata.ModelDataHandle, local_root: Path
) -> None:
    inputs_dc = ModelDataCollector("classic", designation="inputs", feature_names=["x"])

    def run(data: list[list[int]]) -> None:
        inputs_dc.collect(data)
        try:
            raise ModelError("classic failure")
        except ModelError as exc:
            inputs_dc.collect_error(exc)
            raise

    with pytest.raises(ModelError):
        run([[9]])
    collector.force_flush()
    store = LocalStore(local_root)
    joined = store.read_frame("classic", "inputs").merge(
        store.read_frame("classic", "errors"), on="$aml_dc_correlation_id", validate="one_to_one"
    )
    assert list(joined["x"]) == [9]
    assert list(joined["error_message"]) == ["classic failure"]
