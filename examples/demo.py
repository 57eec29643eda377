"""End-to-end demo: a scoring service collecting its inputs and predictions into CSV files.

It starts ``service.py`` on a free local port with ``OTEL_MODELDATA_LOCAL_DIR`` set to
``--out``, sends real HTTP scoring requests (iris rows, batches of 1 to 10, every third
with its own ``x-request-id``), stops the service with SIGTERM, then shows the partition
files and checks that every input row joins its prediction. Exits 1 when anything failed.

    python examples/demo.py --out ./modeldata-local
"""

from __future__ import annotations

import argparse
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
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
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


def data_files(out: Path, designation: str) -> list[Path]:
    """This model's CSV files of one designation, in every partition under ``out``."""
    pattern = f"modeldata/*/*/*/*/{MODEL_NAME}/{MODEL_VERSION}/{designation}/*/*/*/*.csv"
    return sorted(out.glob(pattern))


def read(files: list[Path]) -> dict[Path, pd.DataFrame]:
    """The rows of each file."""
    return {path: pd.read_csv(path, dtype=ID_COLUMNS) for path in files}


def combined(frames: dict[Path, pd.DataFrame]) -> pd.DataFrame:
    """All rows of ``frames`` as one table (empty when there are none)."""
    return pd.concat(frames.values(), ignore_index=True) if frames else pd.DataFrame()


def show(title: str, frames: dict[Path, pd.DataFrame], columns: list[str], added: int) -> None:
    """Print where a designation's rows are and its first rows."""
    print(f"\n{title} ({added} rows added by this run):")
    for path, frame in frames.items():
        print(f"  {path}  ({len(frame)} rows)")
    table = combined(frames)
    if not table.empty:
        print(f"  columns: {', '.join(table.columns)}")
        print(table[columns].head().to_string(index=False))


def run_demo(out: Path, requests: int, seed: int) -> list[str]:
    """Run the whole demo; return the problems found (empty when everything worked)."""
    run_id = uuid.uuid4().hex[:8]
    calls = plan(requests, seed, run_id)
    before = {d: len(combined(read(data_files(out, d)))) for d in ("inputs", "predictions")}
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "OTEL_MODELDATA_LOCAL_DIR": str(out.resolve())}
    command = [sys.executable, str(SERVICE), "--host", "127.0.0.1", "--port", str(port), "--quiet"]
    print(f"starting the service on {base_url} (OTEL_MODELDATA_LOCAL_DIR={out.resolve()})", flush=True)
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

    tables: dict[str, pd.DataFrame] = {}
    for designation, names in (("inputs", FEATURE_NAMES), ("predictions", PREDICTION_NAMES)):
        frames = read(data_files(out, designation))
        table = tables[designation] = combined(frames)
        added = len(table) - before[designation]
        show(designation, frames, [*names, *SHOWN_COLUMNS], added)
        if not frames:
            problems.append(f"no {designation} file under {out}")
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
        "--out", type=Path, default=Path("modeldata-local"), help="collection folder (default %(default)s)"
    )
    parser.add_argument("--requests", type=int, default=300, help="scoring requests (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed for picking rows (default %(default)s)")
    args = parser.parse_args(argv)
    if args.requests < 1:
        parser.error("--requests must be at least 1")
    try:
        problems = run_demo(args.out, args.requests, args.seed)
    except DemoError as exc:
        problems = [str(exc)]
    except KeyboardInterrupt:
        print("\ndemo interrupted", file=sys.stderr)
        return 130
    for problem in problems[:SHOWN_PROBLEMS]:
        print(f"demo: {problem}", file=sys.stderr)
    if len(problems) > SHOWN_PROBLEMS:
        print(f"demo: ... and {len(problems) - SHOWN_PROBLEMS} more problems", file=sys.stderr)
    print("\ndemo FAILED" if problems else "\ndemo OK")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
