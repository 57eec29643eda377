"""A process that collects model data to Blob Storage, steered step by step by the spool tests.

``python _spool_worker.py <folder> <step>...``; settings come from ``OTEL_MODELDATA_*``.
Steps: ``configure``; ``calls:N`` (N calls, then a flush); ``queue:N`` (N calls, no flush);
``for:SECONDS`` (calls as fast as it can for that long, then a flush); ``report:NAME`` (stats() to
``<folder>/NAME.json``); ``await:NAME`` (until ``<folder>/NAME`` exists); ``replayed``
(until the spool folder holds no entry); ``crash_after_append`` (SIGKILL this process
between a replayed append and the removal of its entry); ``shutdown``; ``hang``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import otel_modeldata
from otel_modeldata import collect_io
from otel_modeldata.destinations import spooling
from otel_modeldata.spool import Spool

POLL_SECONDS = 0.02


@collect_io("spool_model", feature_names=["a", "b"], prediction_names=["score"])
def score(rows: list[list[float]]) -> list[float]:
    """Sum the features of each row."""
    return [float(a + b) for a, b in rows]


def until(condition: object, what: str, timeout: float = 60) -> None:
    give_up = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > give_up:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(POLL_SECONDS)


def main(folder: Path, steps: list[str]) -> None:
    handle = None
    spool = Spool(os.environ["OTEL_MODELDATA_SPOOL_DIR"], 1)
    for step in steps:
        name, _, argument = step.partition(":")
        if name == "configure":
            handle = otel_modeldata.configure()
        elif name in ("calls", "queue"):
            for n in range(int(argument)):
                score([[n, 1.0], [n, 2.0]])
            assert handle is not None
            assert name == "queue" or handle.force_flush()
        elif name == "for":
            stop, n = time.monotonic() + float(argument), 0
            while time.monotonic() < stop:
                score([[n, 1.0], [n, 2.0]])
                n += 1
            assert handle is not None
            handle.force_flush()
        elif name == "report":
            target = folder / f"{argument}.json"
            target.with_suffix(".tmp").write_text(json.dumps(otel_modeldata.stats()))
            target.with_suffix(".tmp").rename(target)
        elif name == "await":
            until((folder / argument).exists, argument)
        elif name == "replayed":
            until(lambda: not spool.has_entries(), "the spool to be replayed")
        elif name == "crash_after_append":
            spooling.after_append = lambda: os.kill(os.getpid(), signal.SIGKILL)
        elif name == "shutdown":
            assert handle is not None
            handle.shutdown()
        elif name == "hang":
            threading.Event().wait()
        else:
            raise SystemExit(f"unknown step {step!r}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])
