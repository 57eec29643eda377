"""End-to-end demo: a scoring service collecting its inputs and predictions into CSV files.

It starts ``service.py`` on a free local port with ``OTEL_MODELDATA_LOCAL_DIR`` set to
``--out``, sends real HTTP scoring requests (iris rows, batches of 1 to 10, every third
with its own ``x-request-id``), stops the service with SIGTERM, then shows the partition
files and checks that every input row joins its prediction. Exits 1 when anything failed.

With ``--azurite`` the service writes to Azure Blob Storage instead: a local Azurite
(installed with npm into ``.cache/azurite`` on first use) keeping its data in
``<out>/azurite``; the demo reads the blobs back with azure-storage-blob and prints the
commands that open them again later.

    python examples/demo.py --out ./modeldata-local
    python examples/demo.py --azurite
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import azurite
import pandas as pd
from azure.storage.blob import ContainerClient
from score import FEATURE_NAMES, MODEL_NAME, MODEL_VERSION, PREDICTION_NAMES
from sklearn.datasets import load_iris

SERVICE = Path(__file__).resolve().with_name("service.py")
JOIN_KEYS = ["$aml_dc_correlation_id", "$row_index"]
SHOWN_COLUMNS = ["$aml_request_id", "$row_index", "$aml_dc_correlation_id"]
ID_COLUMNS = {"$aml_dc_correlation_id": str, "$aml_request_id": str}
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
REQUEST_TIMEOUT = 10.0
SHOWN_PROBLEMS = 10
CONTAINER = "modeldata"
#: Inherited variables that would send the service's rows somewhere else than the demo looks.
DESTINATION_VARIABLES = (
    "OTEL_MODELDATA_LOCAL_DIR",
    "OTEL_MODELDATA_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_CONNECTION_STRING",
    "OTEL_MODELDATA_STORAGE_ACCOUNT_URL",
    "OTEL_MODELDATA_CONTAINER",
    "OTEL_MODELDATA_BLOB_PREFIX",
)


class DemoError(RuntimeError):
    """Something the demo cannot go on without (the service did not start or stop)."""


@dataclass(frozen=True)
class Call:
    """One scoring request: its rows and the ``x-request-id`` it sends, if any."""

    rows: list[list[float]]
    request_id: str | None


def plan(requests: int, seed: int = 0, run_id: str = "") -> list[Call]:
    """The requests to send; the same for the same seed, so a test can recount them."""
    rng = random.Random(seed)
    iris = load_iris().data.tolist()
    calls = []
    for i in range(requests):
        rows = [iris[rng.randrange(len(iris))] for _ in range(rng.randint(1, 10))]
        calls.append(Call(rows, f"demo-{run_id}-{i:04d}" if i % 3 == 0 else None))
    return calls


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_healthy(process: subprocess.Popen[bytes], base_url: str, timeout: float) -> None:
    """Poll ``/health`` until it answers, the service exits, or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{base_url}/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DemoError(f"the service did not answer {base_url}/health within {timeout:.0f}s")
        try:
            code = process.wait(timeout=min(0.1, remaining))
        except subprocess.TimeoutExpired:
            continue
        raise DemoError(f"the service exited with code {code} before answering /health")


def score(base_url: str, call: Call) -> None:
    """Send one request; raise unless it returns one prediction per row and echoes the request id."""
    body = json.dumps({"data": call.rows}).encode()
    headers = {"Content-Type": "application/json"}
    if call.request_id:
        headers["x-request-id"] = call.request_id
    req = urllib.request.Request(f"{base_url}/score", data=body, headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT) as response:
        predictions = json.load(response)
        echoed = response.headers.get("x-request-id")
    if not isinstance(predictions, list) or len(predictions) != len(call.rows):
        raise ValueError(f"expected {len(call.rows)} predictions, got {predictions!r}")
    if not echoed or (call.request_id and echoed != call.request_id):
        raise ValueError(f"x-request-id {call.request_id!r} came back as {echoed!r}")


def stop(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM, then wait: the service finishes its requests and flushes its rows before exiting."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise DemoError(f"the service did not stop within {STOP_TIMEOUT:.0f}s of SIGTERM") from None


class Store(Protocol):
    """Where the service writes its rows, and how the demo reads them back."""

    #: Variables that point the service at this store.
    environment: dict[str, str]
    #: What the store is, for the output (no secrets).
    description: str

    def files(self, designation: str) -> list[str]:
        """This model's CSV files of one designation, in every partition, sorted."""
        ...

    def read(self, name: str) -> pd.DataFrame:
        """The rows of one file."""
        ...


class LocalFolder:
    """The local default: ``<out>/modeldata/...``."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.environment = {"OTEL_MODELDATA_LOCAL_DIR": str(out.resolve())}
        self.description = f"OTEL_MODELDATA_LOCAL_DIR={out.resolve()}"

    def files(self, designation: str) -> list[str]:
        pattern = f"modeldata/*/*/*/*/{MODEL_NAME}/{MODEL_VERSION}/{designation}/*/*/*/*.csv"
        return [str(path) for path in sorted(self.out.glob(pattern))]

    def read(self, name: str) -> pd.DataFrame:
        return pd.read_csv(name, dtype=ID_COLUMNS)


class BlobContainer:
    """Azure Blob Storage (here Azurite): ``<container>/<subscriptionid>/...`` append blobs."""

    def __init__(self, connection_string: str, endpoint: str, container: str = CONTAINER) -> None:
        self.environment = {
            "OTEL_MODELDATA_STORAGE_CONNECTION_STRING": connection_string,
            "OTEL_MODELDATA_CONTAINER": container,
        }
        self.description = f"OTEL_MODELDATA_STORAGE_CONNECTION_STRING=<Azurite at {endpoint}>"
        self.container = container
        self.client = ContainerClient.from_connection_string(connection_string, container)

    def blobs(self) -> list[tuple[str, int]]:
        """Every blob of the container with its size; none when the container does not exist."""
        if not self.client.exists():
            return []
        return sorted((blob.name, blob.size) for blob in self.client.list_blobs())

    def files(self, designation: str) -> list[str]:
        wanted = (MODEL_NAME, str(MODEL_VERSION), designation)
        return [
            f"{self.container}/{name}"
            for name, _ in self.blobs()
            if name.endswith(".csv") and len(parts := name.split("/")) == 11 and tuple(parts[4:7]) == wanted
        ]

    def read(self, name: str) -> pd.DataFrame:
        data = self.client.download_blob(name.removeprefix(f"{self.container}/")).readall()
        return pd.read_csv(io.BytesIO(data), dtype=ID_COLUMNS)

    def show(self) -> None:
        """List the container, as a user would see it."""
        print(f"\nblobs in container {self.container}:")
        for name, size in self.blobs():
            print(f"  {name}  ({size} bytes)")


def read(store: Store, designation: str) -> dict[str, pd.DataFrame]:
    """The rows of each of a designation's files."""
    return {name: store.read(name) for name in store.files(designation)}


def combined(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """All rows of ``frames`` as one table (empty when there are none)."""
    return pd.concat(frames.values(), ignore_index=True) if frames else pd.DataFrame()


def show(title: str, frames: dict[str, pd.DataFrame], columns: list[str], added: int) -> None:
    """Print where a designation's rows are and its first rows."""
    print(f"\n{title} ({added} rows added by this run):")
    for path, frame in frames.items():
        print(f"  {path}  ({len(frame)} rows)")
    table = combined(frames)
    if not table.empty:
        print(f"  columns: {', '.join(table.columns)}")
        print(table[columns].head().to_string(index=False))


def run_demo(store: Store, requests: int, seed: int) -> list[str]:
    """Run the whole demo; return the problems found (empty when everything worked)."""
    run_id = uuid.uuid4().hex[:8]
    calls = plan(requests, seed, run_id)
    before = {d: len(combined(read(store, d))) for d in ("inputs", "predictions")}
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    inherited = {k: v for k, v in os.environ.items() if k not in DESTINATION_VARIABLES}
    env = {**inherited, **store.environment}
    command = [sys.executable, str(SERVICE), "--host", "127.0.0.1", "--port", str(port), "--quiet"]
    print(f"starting the service on {base_url} ({store.description})", flush=True)
    process = subprocess.Popen(command, env=env)
    problems: list[str] = []
    sent_rows = sent_with_id = 0
    try:
        wait_until_healthy(process, base_url, STARTUP_TIMEOUT)
        started = time.monotonic()
        for call in calls:
            try:
                score(base_url, call)
            except (OSError, ValueError) as exc:
                problems.append(f"request {call.request_id or '(no id)'} failed: {exc}")
                continue
            sent_rows += len(call.rows)
            sent_with_id += len(call.rows) if call.request_id else 0
        elapsed = time.monotonic() - started
        print(
            f"sent {len(calls)} scoring requests ({sent_rows} rows, "
            f"{sum(c.request_id is not None for c in calls)} with x-request-id) in {elapsed:.1f}s, "
            f"{len(problems)} failed",
            flush=True,
        )
    finally:
        code = stop(process)
    print(f"service stopped with exit code {code}")
    if code != 0:
        problems.append(f"the service exited with code {code}")

    if isinstance(store, BlobContainer):
        store.show()
    tables: dict[str, pd.DataFrame] = {}
    for designation, names in (("inputs", FEATURE_NAMES), ("predictions", PREDICTION_NAMES)):
        frames = read(store, designation)
        table = tables[designation] = combined(frames)
        added = len(table) - before[designation]
        show(designation, frames, [*names, *SHOWN_COLUMNS], added)
        if not frames:
            problems.append(f"no {designation} file in {store.description}")
        elif added != sent_rows:
            problems.append(f"{added} new {designation} rows, {sent_rows} sent")
    inputs, predictions = tables["inputs"], tables["predictions"]
    if not inputs.empty and not predictions.empty:
        ours = inputs["$aml_request_id"].str.startswith(f"demo-{run_id}-").sum()
        print(f"\nx-request-id: {ours}/{sent_with_id} rows sent with an id carry it in $aml_request_id")
        if ours != sent_with_id:
            problems.append(f"{ours} rows carry this run's request ids, {sent_with_id} were sent")
        found = inputs[JOIN_KEYS].merge(predictions[JOIN_KEYS].drop_duplicates(), on=JOIN_KEYS, how="inner")
        keys = " + ".join(JOIN_KEYS)
        print(f"join: {len(found)}/{len(inputs)} input rows found their prediction on {keys}")
        if len(found) != len(inputs):
            problems.append(f"{len(inputs) - len(found)} input rows have no prediction")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("modeldata-local"),
        help="collection folder; with --azurite, Azurite's data goes in OUT/azurite (default %(default)s)",
    )
    parser.add_argument("--requests", type=int, default=300, help="scoring requests (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed for picking rows (default %(default)s)")
    parser.add_argument(
        "--azurite",
        action="store_true",
        help="write to Azure Blob Storage in a local Azurite keeping its data in OUT/azurite",
    )
    args = parser.parse_args(argv)
    if args.requests < 1:
        parser.error("--requests must be at least 1")
    later: list[str] = []
    try:
        with store_for(args.out, args.azurite, later) as store:
            problems = run_demo(store, args.requests, args.seed)
    except (DemoError, azurite.AzuriteError) as exc:
        problems = [str(exc)]
    except KeyboardInterrupt:
        print("\ndemo interrupted", file=sys.stderr)
        return 130
    for problem in problems[:SHOWN_PROBLEMS]:
        print(f"demo: {problem}", file=sys.stderr)
    if len(problems) > SHOWN_PROBLEMS:
        print(f"demo: ... and {len(problems) - SHOWN_PROBLEMS} more problems", file=sys.stderr)
    if later:
        print("\nAzurite is stopped; its data stays on disk. To look at the container yourself:")
        for line in later:
            print(f"  {line}")
    print("\ndemo FAILED" if problems else "\ndemo OK")
    return 1 if problems else 0


@contextmanager
def store_for(out: Path, use_azurite: bool, later: list[str]) -> Iterator[Store]:
    """The local folder ``out``, or Azurite with its data in ``out/azurite`` (running meanwhile).

    For Azurite, ``later`` receives the commands that open its data again once it is stopped.
    """
    if not use_azurite:
        yield LocalFolder(out)
        return
    with azurite.running(out / "azurite") as server:
        print(f"Azurite serving {server.endpoint} with its data in {server.location}", flush=True)
        store = BlobContainer(server.connection_string, server.endpoint)
        try:
            yield store
        finally:
            store.client.close()
            later.extend(azurite.look_later(server, store.container))


if __name__ == "__main__":
    raise SystemExit(main())
