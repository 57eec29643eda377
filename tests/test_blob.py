"""Azure Blob Storage end to end against Azurite, read back with azure-storage-blob."""

from __future__ import annotations

import csv
import io
import logging
import multiprocessing
import sys
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd
import pytest
from azure.core.exceptions import ServiceResponseError
from azure.core.pipeline.transport import RequestsTransport
from azure.storage.blob import AccountSasPermissions, ContainerClient, ResourceTypes, generate_account_sas

import otel_modeldata
from _azurite import Azurite, free_port
from otel_modeldata import ConfigurationError, Settings, collect_io
from otel_modeldata.csvfmt import header_line
from otel_modeldata.destinations import DestinationError, from_settings
from otel_modeldata.destinations.base import split_payload
from otel_modeldata.destinations.blob import BlobDestination
from otel_modeldata.layout import header_tag
from otel_modeldata.schema import CORRELATION_COLUMNS

from csvfiles import IDENTITY

pytestmark = pytest.mark.azurite

FEATURES = ["f1", "f2", "f3"]
NOTES = ["worker", "call", "note"]
JOIN = ["$aml_dc_correlation_id", "$row_index"]


@collect_io("best_model", feature_names=FEATURES, prediction_names=["score"])
def run(rows: list[list[float]]) -> list[float]:
    """Sum the features of each row."""
    return [float(sum(r)) for r in rows]


@collect_io("best_model", feature_names=["a", "b", "c"], prediction_names=["score"])
def run_renamed(rows: list[list[float]]) -> list[float]:
    """The same model with other feature names: another header."""
    return [float(sum(r)) for r in rows]


@collect_io("notes_model", feature_names=NOTES, prediction_names=["echo"])
def echo(rows: list[list[Any]]) -> list[str]:
    """Rows with text that needs quoting (newlines, quotes, commas)."""
    return [f"{r[0]}-{r[1]}" for r in rows]


def note(worker: int, call: int, index: int) -> str:
    """A field a naive writer or reader would break: CRLF, quotes and a comma inside."""
    return f'w{worker} c{call}\r\nsays "hi", row {index}'


def configure(azurite: Azurite, container: str, **overrides: Any) -> otel_modeldata.ModelDataHandle:
    """Collection into ``container`` of Azurite with the test identity."""
    return otel_modeldata.configure(
        storage_connection_string=azurite.connection_string,
        container=container,
        subscription_id="sub-1",
        resource_group="rg-1",
        workspace="ws-1",
        webservice="svc-1",
        **overrides,
    )


def folder(model: str, designation: str, prefix: str = "", day: datetime | None = None) -> str:
    """The blob folder the layout promises for today's (or ``day``'s) rows."""
    day = day or datetime.now(timezone.utc)
    parts = [prefix] if prefix else []
    return "/".join([*parts, *IDENTITY, model, "1", designation, f"{day:%Y}", f"{day:%m}", f"{day:%d}"])


def container_client(azurite: Azurite, container: str) -> ContainerClient:
    return azurite.service().get_container_client(container)


def names(azurite: Azurite, container: str) -> list[str]:
    return sorted(container_client(azurite, container).list_blob_names())


def download(azurite: Azurite, container: str, name: str) -> bytes:
    return container_client(azurite, container).download_blob(name).readall()


def parse(data: bytes) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows, strictly: every row must have exactly the header's width."""
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""), strict=True)
    header = next(reader)
    rows = []
    for line in reader:
        assert len(line) == len(header), f"torn row: {line!r}"
        rows.append(dict(zip(header, line, strict=True)))
    return header, rows


def read(azurite: Azurite, container: str, name: str, header: list[str]) -> list[dict[str, str]]:
    """Rows of one blob, after checking it has ``header`` once, as its first line."""
    data = download(azurite, container, name)
    first = header_line(header[: -len(CORRELATION_COLUMNS)])
    assert data.startswith(first)
    assert data.count(b"$aml_dc_correlation_id") == 1
    found, rows = parse(data)
    assert found == header
    return rows


def frame(rows: list[dict[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows).astype({"$row_index": int})


def patch_from_settings(monkeypatch: pytest.MonkeyPatch, **options: Any) -> None:
    """Make ``configure()`` build its BlobDestination with ``options`` (limits, a transport)."""
    original = BlobDestination.from_settings.__func__  # type: ignore[attr-defined]

    def build(cls: type[BlobDestination], settings: Settings, **kwargs: Any) -> BlobDestination:
        return original(cls, settings, **{**options, **kwargs})  # type: ignore[no-any-return]

    monkeypatch.setattr(BlobDestination, "from_settings", classmethod(build))


def test_rows_land_in_the_exact_blob_with_one_header(azurite: Azurite, container_name: str) -> None:
    handle = configure(azurite, container_name)
    assert handle.exporter is not None
    assert handle.exporter.destination.describe() == f"blob container {container_name} at {azurite.endpoint}"
    for n in range(1, 6):
        assert run([[n, i, 0.5] for i in range(n)]) == [n + i + 0.5 for i in range(n)]
    assert handle.force_flush()

    inputs_name = f"{folder('best_model', 'inputs')}/data.csv"
    predictions_name = f"{folder('best_model', 'predictions')}/data.csv"
    assert names(azurite, container_name) == sorted([inputs_name, predictions_name])
    inputs = read(azurite, container_name, inputs_name, [*FEATURES, *CORRELATION_COLUMNS])
    predictions = read(azurite, container_name, predictions_name, ["score", *CORRELATION_COLUMNS])
    assert sorted((r["f1"], r["f2"]) for r in inputs) == sorted(
        (str(n), str(i)) for n in range(1, 6) for i in range(n)
    )
    joined = frame(inputs).merge(frame(predictions), on=JOIN, validate="one_to_one")
    assert len(joined) == len(inputs) == 15
    assert (joined["f1"].astype(int) + joined["f2"].astype(int) + 0.5 == joined["score"].astype(float)).all()
    assert inputs[0]["$aml_workspace"] == "sub-1/rg-1/ws-1"
    assert otel_modeldata.stats()["rows_written"] == 30


def test_blob_prefix_goes_in_front_of_the_layout(azurite: Azurite, container_name: str) -> None:
    handle = configure(azurite, container_name, blob_prefix="/team-a/scoring/")
    assert handle.exporter is not None
    assert handle.exporter.destination.describe().startswith(
        f"blob container {container_name}/team-a/scoring at"
    )
    run([[1, 2, 3]])
    assert handle.force_flush()
    assert names(azurite, container_name) == [
        f"{folder('best_model', designation, prefix='team-a/scoring')}/data.csv"
        for designation in ("inputs", "predictions")
    ]


def _echo_in_child(connection_string: str, container: str, worker: int, calls: int, start: Any) -> None:
    """One worker process: waits for the others, then collects ``calls`` times, one export each."""
    handle = otel_modeldata.configure(
        storage_connection_string=connection_string,
        container=container,
        subscription_id="sub-1",
        resource_group="rg-1",
        workspace="ws-1",
        webservice="svc-1",
    )
    start.wait(timeout=60)
    for call in range(calls):
        echo([[worker, call, note(worker, call, i)] for i in range(2)])
        handle.force_flush()
    handle.shutdown()
    stats = otel_modeldata.stats()
    if stats["rows_failed"] or stats["rows_written"] != 4 * calls:
        raise SystemExit(f"worker {worker}: {stats}")


def test_several_processes_append_to_one_partition(azurite: Azurite, container_name: str) -> None:
    workers, calls = 4, 50
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(workers)
    processes = [
        ctx.Process(target=_echo_in_child, args=(azurite.connection_string, container_name, w, calls, start))
        for w in range(workers)
    ]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=180)
        assert p.exitcode == 0

    inputs_name = f"{folder('notes_model', 'inputs')}/data.csv"
    predictions_name = f"{folder('notes_model', 'predictions')}/data.csv"
    assert names(azurite, container_name) == sorted([inputs_name, predictions_name])
    inputs = read(azurite, container_name, inputs_name, [*NOTES, *CORRELATION_COLUMNS])
    expected = {
        (str(w), str(c), note(w, c, i)) for w in range(workers) for c in range(calls) for i in range(2)
    }
    assert len(inputs) == len(expected)
    assert {(r["worker"], r["call"], r["note"]) for r in inputs} == expected
    predictions = read(azurite, container_name, predictions_name, ["echo", *CORRELATION_COLUMNS])
    joined = frame(inputs).merge(frame(predictions), on=JOIN, validate="one_to_one")
    assert len(joined) == len(inputs)
    assert (joined["worker"] + "-" + joined["call"] == joined["echo"]).all()
    blob = container_client(azurite, container_name).get_blob_client(inputs_name)
    assert blob.get_blob_properties().append_blob_committed_block_count == 1 + workers * calls


def test_full_blobs_continue_in_numbered_parts_each_with_its_header(
    azurite: Azurite, container_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    patch_from_settings(monkeypatch, block_limit=3)
    handle = configure(azurite, container_name)
    for round_ in range(7):
        run([[round_, i, 0] for i in range(2)])
        assert handle.force_flush()
    handle.shutdown()
    # A writer that starts later finds the last part through the full ones.
    handle = configure(azurite, container_name)
    run([[7, 0, 0], [7, 1, 0]])
    assert handle.force_flush()

    inputs = folder("best_model", "inputs")
    files = ["data.csv", "data_1.csv", "data_2.csv", "data_3.csv"]
    assert [n for n in names(azurite, container_name) if n.startswith(inputs)] == [
        f"{inputs}/{f}" for f in files
    ]
    rounds = []
    container = container_client(azurite, container_name)
    for file in files:
        rows = read(azurite, container_name, f"{inputs}/{file}", [*FEATURES, *CORRELATION_COLUMNS])
        rounds.append(sorted({int(r["f1"]) for r in rows}))
        assert len(rows) == 2 * len(rounds[-1])
        blocks = container.get_blob_client(f"{inputs}/{file}").get_blob_properties()
        assert blocks.append_blob_committed_block_count <= 3
    assert rounds == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert otel_modeldata.stats()["rows_failed"] == 0


def test_payloads_bigger_than_a_block_are_split_between_rows(
    azurite: Azurite, container_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(BlobDestination, "max_payload_bytes", 1024)
    handle = configure(azurite, container_name)
    echo([[0, 0, note(0, 0, i) * 3] for i in range(30)])
    assert handle.force_flush()
    name = f"{folder('notes_model', 'inputs')}/data.csv"
    rows = read(azurite, container_name, name, [*NOTES, *CORRELATION_COLUMNS])
    assert [r["note"] for r in rows] == [note(0, 0, i) * 3 for i in range(30)]
    properties = container_client(azurite, container_name).get_blob_client(name).get_blob_properties()
    assert properties.append_blob_committed_block_count > 5
    assert otel_modeldata.stats()["rows_written"] == 60


def test_split_payload_cuts_only_between_whole_rows() -> None:
    buffer = io.StringIO()
    rows = [[i, f'line\r\nbreak "{i}"', "x" * (i % 7)] for i in range(40)]
    csv.writer(buffer).writerows(rows)
    payload = buffer.getvalue().encode()
    pieces = split_payload(payload, len(rows), 100)
    assert len(pieces) > 5
    assert b"".join(p for p, _ in pieces) == payload
    assert sum(n for _, n in pieces) == len(rows)
    for piece, count in pieces:
        assert len(piece) <= 100
        assert len(list(csv.reader(io.StringIO(piece.decode(), newline=""), strict=True))) == count
    assert split_payload(payload, len(rows), None) == [(payload, len(rows))]


def test_a_second_header_goes_to_a_tagged_sibling(azurite: Azurite, container_name: str) -> None:
    handle = configure(azurite, container_name)
    run([[1, 2, 3]])
    assert handle.force_flush()
    run_renamed([[4, 5, 6]])
    run([[7, 8, 9]])
    assert handle.force_flush()

    inputs = folder("best_model", "inputs")
    tag = header_tag(header_line(["a", "b", "c"]))
    assert [n for n in names(azurite, container_name) if n.startswith(inputs)] == [
        f"{inputs}/data.csv",
        f"{inputs}/data_{tag}.csv",
    ]
    first = read(azurite, container_name, f"{inputs}/data.csv", [*FEATURES, *CORRELATION_COLUMNS])
    assert [r["f1"] for r in first] == ["1", "7"]
    second = read(azurite, container_name, f"{inputs}/data_{tag}.csv", ["a", "b", "c", *CORRELATION_COLUMNS])
    assert [r["a"] for r in second] == ["4"]
    predictions = read(
        azurite,
        container_name,
        f"{folder('best_model', 'predictions')}/data.csv",
        ["score", *CORRELATION_COLUMNS],
    )
    assert [r["score"] for r in predictions] == ["6.0", "15.0", "24.0"]


def destination(azurite: Azurite, container: str, **options: Any) -> BlobDestination:
    settings = Settings.from_env({}, storage_connection_string=azurite.connection_string, container=container)
    return BlobDestination.from_settings(settings, **options)


def test_racing_creators_write_one_header(azurite: Azurite, container_name: str) -> None:
    """Two writers create each blob at the same moment: one header, and a differing one moves aside."""
    writers = [destination(azurite, container_name) for _ in range(2)]
    same, other = header_line(["x"]), header_line(["y"])
    folders = [f"race/{i}" for i in range(20)]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def header(writer: int, number: int) -> bytes:
        return other if writer == 1 and number % 2 else same

    def write(writer: int) -> None:
        try:
            for number, path in enumerate(folders):
                start.wait(timeout=30)
                writers[writer].append(path, header(writer, number), f"{path}-{writer}\r\n".encode())
        except BaseException as exc:
            errors.append(exc)
            start.abort()

    threads = [threading.Thread(target=write, args=(w,)) for w in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors

    blobs = names(azurite, container_name)
    for number, path in enumerate(folders):
        files = [b for b in blobs if b.startswith(f"{path}/")]
        contents = [download(azurite, container_name, f) for f in files]
        rows = sorted(line for c in contents for line in c.splitlines()[1:])
        assert rows == [f"{path}-0".encode(), f"{path}-1".encode()]
        if number % 2:
            firsts = [c[: c.index(b"\r\n") + 2] for c in contents]
            assert sorted(firsts) == sorted([same, other])
            assert files == [f"{path}/data.csv", f"{path}/data_{header_tag(firsts[1])}.csv"]
        else:
            assert files == [f"{path}/data.csv"]
            assert contents[0].startswith(same)
        for c in contents:
            assert c.count(b"$aml_dc_correlation_id") == 1
    for writer in writers:
        writer.close()


def test_a_blob_left_empty_by_its_creator_is_claimed(azurite: Azurite, container_name: str) -> None:
    """A creator that died between creating the blob and writing its header does not block the file."""
    writer = destination(azurite, container_name)
    container_client(azurite, container_name).create_container()
    container_client(azurite, container_name).get_blob_client("p/data.csv").create_append_blob()
    writer.append("p", header_line(["x"]), b"1\r\n")
    assert download(azurite, container_name, "p/data.csv") == header_line(["x"]) + b"1\r\n"
    writer.close()


class HookedTransport(RequestsTransport):
    """Sends requests for real; ``after(request)`` runs once a response has arrived and may raise."""

    def __init__(self, after: Callable[[Any], None]) -> None:
        super().__init__()
        self.after = after

    def send(self, request: Any, **kwargs: Any) -> Any:
        response = super().send(request, **kwargs)
        self.after(request)
        return response


def test_reading_a_header_waits_for_the_creator_to_write_it(azurite: Azurite, container_name: str) -> None:
    empty_seen = threading.Event()

    def after(request: Any) -> None:
        if request.method == "HEAD":
            empty_seen.set()

    reader = destination(azurite, container_name, transport=HookedTransport(after))
    blob = container_client(azurite, container_name)
    blob.create_container()
    creator = blob.get_blob_client("p/data.csv")
    creator.create_append_blob()
    header = header_line(["x"])
    result: list[bytes] = []
    thread = threading.Thread(target=lambda: result.append(reader._read_header("p/data.csv", len(header))))
    thread.start()
    assert empty_seen.wait(timeout=10)
    creator.append_block(header + b"1\r\n", appendpos_condition=0)
    thread.join(timeout=10)
    assert result == [header]
    reader.close()


def test_reading_a_header_that_never_comes_fails_in_bounded_time(
    azurite: Azurite, container_name: str
) -> None:
    reader = BlobDestination(azurite.service(retry_total=0), container_name, header_wait=0.2)
    blob = container_client(azurite, container_name)
    blob.create_container()
    blob.get_blob_client("p/data.csv").create_append_blob()
    with pytest.raises(DestinationError, match=r"p/data.csv is still empty after 0.2 s"):
        reader._read_header("p/data.csv", 100)
    reader.close()


def _appends(request: Any, position: str | None) -> bool:
    """Whether ``request`` is an Append Block (at ``position``, or at any position but 0)."""
    if request.method != "PUT" or "comp=appendblock" not in request.url:
        return False
    at = request.headers.get("x-ms-blob-condition-appendpos")
    return at == position if position is not None else at != "0"


LOSSES: dict[str, Callable[[Any], bool]] = {
    "create": lambda r: (
        r.method == "PUT" and "comp=" not in r.url and r.headers.get("x-ms-blob-type") == "AppendBlob"
    ),
    "header": lambda r: _appends(r, "0"),
    "rows": lambda r: _appends(r, None),
}


@pytest.mark.parametrize("lost", sorted(LOSSES))
def test_a_lost_response_is_retried_without_duplicating(
    azurite: Azurite, container_name: str, monkeypatch: pytest.MonkeyPatch, lost: str
) -> None:
    """The service did the write but the answer never came back: the retry must not write again."""
    dropped: list[str] = []

    def after(request: Any) -> None:
        if not dropped and LOSSES[lost](request):
            dropped.append(request.url)
            raise ServiceResponseError("connection reset after the service processed the request")

    patch_from_settings(monkeypatch, transport=HookedTransport(after))
    handle = configure(azurite, container_name)
    run([[1, 2, 3], [4, 5, 6]])
    assert handle.force_flush()
    run([[7, 8, 9]])
    assert handle.force_flush()

    assert len(dropped) == 1
    rows = read(
        azurite,
        container_name,
        f"{folder('best_model', 'inputs')}/data.csv",
        [*FEATURES, *CORRELATION_COLUMNS],
    )
    assert [r["f1"] for r in rows] == ["1", "4", "7"]
    assert otel_modeldata.stats()["rows_written"] == 6
    assert otel_modeldata.stats()["rows_failed"] == 0


def test_a_deleted_blob_is_created_again_with_its_header(azurite: Azurite, container_name: str) -> None:
    handle = configure(azurite, container_name)
    run([[1, 2, 3]])
    assert handle.force_flush()
    name = f"{folder('best_model', 'inputs')}/data.csv"
    container_client(azurite, container_name).delete_blob(name)
    run([[4, 5, 6]])
    assert handle.force_flush()
    rows = read(azurite, container_name, name, [*FEATURES, *CORRELATION_COLUMNS])
    assert [r["f1"] for r in rows] == ["4"]


def test_works_without_permission_to_create_the_container(
    azurite: Azurite, container_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A SAS for objects only: creating the container is refused (403), writing blobs is not."""
    container_client(azurite, container_name).create_container()
    sas = generate_account_sas(
        azurite.account_name,
        azurite.account_key,
        resource_types=ResourceTypes(object=True),
        permission=AccountSasPermissions(read=True, write=True, add=True, create=True),
        expiry=datetime.now(timezone.utc) + timedelta(hours=1),
    )
    caplog.set_level(logging.DEBUG, logger="otel_modeldata")
    handle = otel_modeldata.configure(
        storage_connection_string=f"BlobEndpoint={azurite.endpoint};SharedAccessSignature={sas}",
        container=container_name,
        subscription_id="sub-1",
        resource_group="rg-1",
        workspace="ws-1",
        webservice="svc-1",
    )
    run([[1, 2, 3]])
    assert handle.force_flush()
    assert any("may not create it (HTTP 403)" in r.getMessage() for r in caplog.records)
    rows = read(
        azurite,
        container_name,
        f"{folder('best_model', 'inputs')}/data.csv",
        [*FEATURES, *CORRELATION_COLUMNS],
    )
    assert [r["f1"] for r in rows] == ["1"]


def _secret_cases(azurite: Azurite) -> Iterator[tuple[str, str, str]]:
    """(case, connection string, secret in it) for connections that fail in different ways."""
    stopped = f"http://127.0.0.1:{free_port()}/{azurite.account_name}"
    wrong_key = "d3Jvbmcta2V5LXRoYXQtaXMtc3RpbGwtYS1zZWNyZXQ" + uuid.uuid4().hex + "=="
    signature = "c2lnbmF0dXJl" + uuid.uuid4().hex
    sas = f"sv=2021-08-06&ss=b&srt=sco&sp=rwdlac&se=2099-01-01T00:00:00Z&sig={signature}"
    key_string = "DefaultEndpointsProtocol=http;AccountName={};AccountKey={};BlobEndpoint={};"
    yield (
        "stopped endpoint",
        key_string.format(azurite.account_name, azurite.account_key, stopped),
        azurite.account_key,
    )
    yield "wrong key", key_string.format(azurite.account_name, wrong_key, azurite.endpoint), wrong_key
    yield "bad SAS", f"BlobEndpoint={azurite.endpoint};SharedAccessSignature={sas}", signature
    yield "SAS, stopped endpoint", f"BlobEndpoint={stopped};SharedAccessSignature={sas}", signature


@pytest.mark.parametrize("case", ["stopped endpoint", "wrong key", "bad SAS", "SAS, stopped endpoint"])
def test_secrets_stay_out_of_logs_errors_and_reprs(
    azurite: Azurite,
    container_name: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    case: str,
) -> None:
    connection_string, secret = next((c, s) for name, c, s in _secret_cases(azurite) if name == case)
    patch_from_settings(monkeypatch, deadline=0.5)
    caplog.set_level(logging.DEBUG)
    handle = otel_modeldata.configure(storage_connection_string=connection_string, container=container_name)
    run([[1, 2, 3]])
    handle.force_flush()
    assert otel_modeldata.stats()["rows_failed"] == 2
    assert handle.exporter is not None
    writer = handle.exporter.destination
    with pytest.raises(DestinationError) as caught:
        writer.append("some/folder", header_line(["x"]), b"1\r\n")
    assert "some/folder/data.csv" in str(caught.value)
    handle.shutdown()

    formatter = logging.Formatter("%(name)s %(message)s")
    texts = [formatter.format(r) for r in caplog.records]
    assert any("could not be written" in t for t in texts)
    texts += [
        str(caught.value),
        repr(caught.value),
        "".join(traceback.format_exception(caught.value)),
        repr(writer),
        writer.describe(),
        repr(handle.settings),
        str(handle.settings),
    ]
    for text in texts:
        assert secret not in text
        assert connection_string not in text
        assert "sig=" not in text.replace("sig=REDACTED", "")


@pytest.mark.parametrize(
    "variable", ["OTEL_MODELDATA_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_CONNECTION_STRING"]
)
def test_a_connection_string_in_the_environment_chooses_blob_storage(
    azurite: Azurite, container_name: str, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, azurite.connection_string)
    monkeypatch.setenv("OTEL_MODELDATA_CONTAINER", container_name)
    chosen = from_settings(Settings.from_env())
    assert isinstance(chosen, BlobDestination)
    assert chosen.describe() == f"blob container {container_name} at {azurite.endpoint}"
    chosen.close()
    handle = otel_modeldata.configure(
        subscription_id="sub-1", resource_group="rg-1", workspace="ws-1", webservice="svc-1"
    )
    run([[1, 2, 3]])
    assert handle.force_flush()
    assert f"{folder('best_model', 'inputs')}/data.csv" in names(azurite, container_name)


def test_the_specific_variable_wins_over_the_azure_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", "BlobEndpoint=http://127.0.0.1:1/fallback;")
    monkeypatch.setenv("OTEL_MODELDATA_STORAGE_CONNECTION_STRING", "BlobEndpoint=http://127.0.0.1:1/chosen;")
    chosen = from_settings(Settings.from_env())
    assert chosen.describe() == "blob container modeldata at http://127.0.0.1:1/chosen"
    chosen.close()


def test_an_account_url_uses_azure_identity() -> None:
    settings = Settings.from_env(
        {}, storage_account_url="https://acct.blob.core.windows.net/?sv=x&sig=secret"
    )
    chosen = from_settings(settings)
    assert chosen.describe() == "blob container modeldata at https://acct.blob.core.windows.net"
    chosen.close()


def test_an_account_url_without_azure_identity_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "azure.identity", None)
    settings = Settings.from_env({}, storage_account_url="https://acct.blob.core.windows.net")
    with pytest.raises(ConfigurationError, match=r"otel-modeldata\[identity\]"):
        from_settings(settings)


def test_a_malformed_connection_string_is_a_configuration_error_without_its_text() -> None:
    settings = Settings.from_env({}, storage_connection_string="AccountKey=s3cret;nonsense")
    with pytest.raises(ConfigurationError, match="OTEL_MODELDATA_STORAGE_CONNECTION_STRING") as caught:
        from_settings(settings)
    assert "s3cret" not in str(caught.value)


def test_close_interrupts_a_retry_in_progress(azurite: Azurite, container_name: str) -> None:
    retrying = threading.Event()

    class Signal(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "retrying" in record.getMessage():
                retrying.set()

    logger = logging.getLogger("otel_modeldata.destinations.blob")
    handler = Signal()
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        stopped = f"http://127.0.0.1:{free_port()}/{azurite.account_name}"
        settings = Settings.from_env(
            {}, storage_connection_string=f"BlobEndpoint={stopped};SharedAccessSignature=sv=x&sig=y"
        )
        writer = BlobDestination.from_settings(settings, deadline=120)
        errors: list[DestinationError] = []

        def append() -> None:
            try:
                writer.append("p", header_line(["x"]), b"1\r\n")
            except DestinationError as exc:
                errors.append(exc)

        thread = threading.Thread(target=append)
        thread.start()
        assert retrying.wait(timeout=10)
        writer.close()
        thread.join(timeout=10)
        assert not thread.is_alive()
        assert len(errors) == 1
        assert "closed" in str(errors[0])
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
