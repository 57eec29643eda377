"""Start-up and shut-down: rows are flushed at exit and on SIGTERM; the app's own handler is kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import otel_modeldata

from csvfiles import Store, data_files, read_rows

SCRIPT = """
import os, signal, sys
import otel_modeldata

{setup}
otel_modeldata.configure(local_dir=sys.argv[1])

@otel_modeldata.collect_io("life")
def run(data):
    return [sum(r) for r in data]

for i in range(25):
    run([[i, i]])
{ending}
"""


def run_script(tmp_path: Path, ending: str, setup: str = "") -> subprocess.CompletedProcess[str]:
    script = tmp_path / "app.py"
    script.write_text(SCRIPT.format(setup=textwrap.dedent(setup), ending=textwrap.dedent(ending)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["OTEL_BLRP_SCHEDULE_DELAY"] = "60000"  # nothing is exported before the exit path flushes
    return subprocess.run(
        [sys.executable, str(script), str(tmp_path / "out")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def written_rows(tmp_path: Path) -> int:
    return sum(len(read_rows(f)[1]) for f in data_files(tmp_path / "out"))


def test_rows_are_flushed_at_normal_exit(tmp_path: Path) -> None:
    result = run_script(tmp_path, "print('done')")
    assert result.returncode == 0, result.stderr
    assert written_rows(tmp_path) == 50


def test_rows_are_flushed_on_sigterm_and_the_process_still_dies_of_it(tmp_path: Path) -> None:
    result = run_script(tmp_path, "os.kill(os.getpid(), signal.SIGTERM)\nsignal.pause()")
    assert result.returncode == -signal.SIGTERM, result.stderr
    assert written_rows(tmp_path) == 50


def test_sigterm_inside_the_queues_critical_section_still_flushes_and_dies(tmp_path: Path) -> None:
    ending = """
    handoff = otel_modeldata.providers._runtime.handoff
    with handoff._lock:  # where run() is when appending: the handler must not wait for this lock
        os.kill(os.getpid(), signal.SIGTERM)
        sum(range(1000))
    signal.pause()
    """
    result = run_script(tmp_path, ending)
    assert result.returncode == -signal.SIGTERM, result.stderr
    assert written_rows(tmp_path) == 50


def test_the_applications_own_sigterm_handler_is_kept(tmp_path: Path) -> None:
    setup = """
    def graceful(signum, frame):
        print("app handler ran")
        sys.exit(0)
    signal.signal(signal.SIGTERM, graceful)
    """
    result = run_script(tmp_path, "os.kill(os.getpid(), signal.SIGTERM)\nsignal.pause()", setup)
    assert result.returncode == 0, result.stderr
    assert "app handler ran" in result.stdout
    assert written_rows(tmp_path) == 50


def test_shutdown_is_idempotent_and_allows_a_new_configure(local_root: Path) -> None:
    handle = otel_modeldata.configure(local_dir=str(local_root))
    handle.shutdown()
    handle.shutdown()
    again = otel_modeldata.configure(local_dir=str(local_root / "second"))
    assert again is not handle

    @otel_modeldata.collect_io("after")
    def run(data: list[int]) -> int:
        return 0

    run([1])
    again.force_flush()
    assert [f.relative_to(local_root).parts[0] for f in data_files(local_root)] == ["second", "second"]


def test_force_flush_writes_before_the_schedule_delay(
    monkeypatch: pytest.MonkeyPatch, local_root: Path
) -> None:
    monkeypatch.setenv("OTEL_BLRP_SCHEDULE_DELAY", "600000")
    handle = otel_modeldata.configure(local_dir=str(local_root))

    @otel_modeldata.collect_io("flushy")
    def run(data: list[int]) -> int:
        return 0

    run([1, 2])
    assert data_files(local_root) == []
    assert handle.force_flush(timeout_millis=10_000)
    assert len(data_files(local_root)) == 2


def test_losses_are_reported_at_shutdown(local_root: Path, caplog: pytest.LogCaptureFixture) -> None:
    handle = otel_modeldata.configure(local_dir=str(local_root))

    @otel_modeldata.collect_io("lossy", feature_names=["a"])
    def run(data: object) -> int:
        return 0

    run([[1, 2]])
    with caplog.at_level("WARNING", logger="otel_modeldata"):
        handle.shutdown()
    assert "rows not written" in caplog.text
    assert "wrong_feature_count" in caplog.text


def test_after_shutdown_calls_are_counted_and_nothing_is_written_anywhere(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    handle = store.configure()
    labels = otel_modeldata.ModelDataCollector("closing", designation="labels")

    @otel_modeldata.collect_io("closing")
    def run(data: list[list[int]]) -> list[int]:
        return [sum(row) for row in data]

    run([[1, 2]])
    handle.shutdown()
    written = store.files()
    accepted = otel_modeldata.stats()["rows_accepted"]
    with caplog.at_level("WARNING", logger="otel_modeldata"):
        assert [run([[3, 4]]) for _ in range(3)] == [[7]] * 3
        labels.collect([[1]])
    assert otel_modeldata.stats()["rows_accepted"] == accepted
    assert not (tmp_path / "modeldata-local").exists()
    assert store.files() == written
    assert otel_modeldata.stats()["calls_not_collected"] == {"shut_down": 4}
    assert caplog.text.count("collection was shut down") == 1


@pytest.mark.parametrize(
    ("ending", "exit_code"),
    [
        pytest.param("os.kill(os.getpid(), signal.SIGTERM)\nsignal.pause()", -signal.SIGTERM, id="sigterm"),
        pytest.param("print('done')", 0, id="normal-exit"),
    ],
)
def test_a_destination_that_hangs_delays_the_exit_by_a_few_seconds_only(
    tmp_path: Path, ending: str, exit_code: int
) -> None:
    stuck = (
        "import time\notel_modeldata.providers._handle.exporter.export = lambda records: time.sleep(3600)\n"
    )
    started = time.monotonic()
    result = run_script(
        tmp_path, stuck + ending, setup="os.environ['OTEL_MODELDATA_SHUTDOWN_TIMEOUT_MILLIS'] = '2000'"
    )
    assert time.monotonic() - started < 12, result.stderr  # 2 s of waiting for the rows, and start-up
    assert result.returncode == exit_code, result.stderr
    assert "rows not written" in result.stderr  # the loss is reported, not hidden


def test_a_process_that_never_collects_still_dies_of_sigterm_at_once(tmp_path: Path) -> None:
    script = tmp_path / "idle.py"
    script.write_text(
        "import os, signal\nimport otel_modeldata\nos.kill(os.getpid(), signal.SIGTERM)\nsignal.pause()\n"
    )
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == -signal.SIGTERM, result.stderr
