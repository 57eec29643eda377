"""Pre-forking servers: a forked child writes its own rows once, and never the parent's."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

import otel_modeldata
from _azurite import Azurite
from otel_modeldata import ModelDataCollector

from csvfiles import BlobStore, LocalStore
from gates import WAIT, Gate, hold, written

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
CHILD_ROWS = [f"child-{i}" for i in range(3)]


def fork_and_collect(handle: otel_modeldata.ModelDataHandle, collector: ModelDataCollector) -> int:
    """Fork; the child collects ``CHILD_ROWS`` and exits 0 only if its books show exactly those, written."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            for row in CHILD_ROWS:
                collector.collect([[row]])
            flushed = handle.force_flush(timeout_millis=int(WAIT * 1000))
            stats = otel_modeldata.stats()
            if flushed and stats["rows_accepted"] == stats["rows_written"] == len(CHILD_ROWS):
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_rows_queued_at_the_fork_are_written_once_by_the_parent(local_root: Path, gate: Gate) -> None:
    store = LocalStore(local_root)
    handle = store.configure()
    collector = ModelDataCollector("forked", designation="inputs", feature_names=["x"])
    hold(handle, gate, collector)
    parent_rows = [f"parent-{i}" for i in range(1, 5)]
    for row in parent_rows:
        collector.collect([[row]])  # queued in the parent when it forks

    child_exit = fork_and_collect(handle, collector)
    gate.opened.set()
    assert handle.force_flush(timeout_millis=int(WAIT * 1000))

    assert child_exit == 0, "the child's books did not show exactly its own rows, written"
    assert sorted(written(store, "forked")) == sorted(["0", *parent_rows, *CHILD_ROWS])
    stats = otel_modeldata.stats()
    assert (stats["rows_accepted"], stats["rows_written"], stats["rows_unaccounted"]) == (5, 5, 0)


def test_a_child_forked_while_the_parent_was_writing_can_write(local_root: Path) -> None:
    store = LocalStore(local_root)
    handle = store.configure()
    assert handle.exporter is not None
    collector = ModelDataCollector("busy", designation="inputs", feature_names=["x"])
    collector.collect([["parent"]])
    assert handle.force_flush(timeout_millis=int(WAIT * 1000))

    # The parent's exporting thread is inside a write, holding the destination's lock, at fork().
    writing, forked = threading.Event(), threading.Event()

    def write_in_parent() -> None:
        with handle.exporter.destination._lock:  # type: ignore[union-attr]
            writing.set()
            forked.wait(WAIT)

    exporter_thread = threading.Thread(target=write_in_parent)
    exporter_thread.start()
    assert writing.wait(WAIT)
    try:
        child_exit = fork_and_collect(handle, collector)
    finally:
        forked.set()
        exporter_thread.join(WAIT)

    assert child_exit == 0, "the child could not write: a lock held at fork() stayed locked"
    assert sorted(written(store, "busy")) == sorted(["parent", *CHILD_ROWS])


def bytes_sent(port: int) -> dict[int, int]:
    """This process's open connections to ``port``: bytes each has sent, by local port (from ``ss``)."""
    listed = subprocess.run(
        ["ss", "-tinpH", "state", "established", f"( dport = :{port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = {}
    for connection in re.split(r"\n(?=\S)", listed.strip()):
        ends = re.search(r":(\d+)\s+\S+:\d+\s+users:.*\bpid=(\d+),", connection)
        if ends is not None and int(ends[2]) == os.getpid():
            sent = re.search(r"\bbytes_sent:(\d+)", connection)
            found[int(ends[1])] = int(sent[1]) if sent else 0
    return found


@pytest.mark.azurite
@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2) to read each connection's bytes")
def test_a_child_forked_after_blob_writes_sends_nothing_on_the_parents_connections(
    azurite: Azurite, container_name: str
) -> None:
    """Two processes on one connection mix their requests and responses: the child must open its own."""
    store = BlobStore(azurite, container_name)
    try:
        handle = store.configure()
        collector = ModelDataCollector("pooled", designation="inputs", feature_names=["x"])
        collector.collect([["parent"]])
        assert handle.force_flush(timeout_millis=int(WAIT * 1000))
        before = bytes_sent(azurite.port)
        assert before, "the parent kept no connection to Azurite open: the child would have nothing to share"

        child_exit = fork_and_collect(handle, collector)

        assert child_exit == 0, "the child's books did not show exactly its own rows, written"
        after = bytes_sent(azurite.port)
        assert {port: after.get(port) for port in before} == before, (
            "the child wrote on the parent's connection"
        )
        collector.collect([["parent again"]])
        assert handle.force_flush(timeout_millis=int(WAIT * 1000))
        assert sorted(written(store, "pooled")) == sorted(["parent", *CHILD_ROWS, "parent again"])
        stats = otel_modeldata.stats()
        assert (stats["rows_accepted"], stats["rows_written"], stats["rows_unaccounted"]) == (2, 2, 0)
    finally:
        store.close()


def test_a_child_forked_while_the_parent_was_appending_to_the_same_file_can_write(
    local_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At fork() the parent's export is inside its append: the child's own append to that file must not
    wait for it (the parent's threads, which would end it, did not follow into the child)."""
    store = LocalStore(local_root)
    handle = store.configure()
    assert handle.exporter is not None
    destination = handle.exporter.destination
    parent, appending, forked = os.getpid(), threading.Event(), threading.Event()
    real_append = destination._append

    def append_held_in_parent(path: str, payload: bytes, header: bytes) -> None:
        if os.getpid() == parent and not forked.is_set():
            appending.set()
            forked.wait(WAIT)
        real_append(path, payload, header)

    monkeypatch.setattr(destination, "_append", append_held_in_parent)
    collector = ModelDataCollector("appending", designation="inputs", feature_names=["x"])
    collector.collect([["parent"]])
    flusher = threading.Thread(target=handle.force_flush)
    flusher.start()
    assert appending.wait(WAIT)
    try:
        child_exit = fork_and_collect(handle, collector)
    finally:
        forked.set()
        flusher.join(WAIT)

    assert child_exit == 0, "the child's append waited for the parent's, which never ends in the child"
    assert sorted(written(store, "appending")) == sorted(["parent", *CHILD_ROWS])
