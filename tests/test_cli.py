"""The ``otel-modeldata`` command: outputs, one-line errors and exit statuses (CliRunner and a real run)."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet
import pytest
from click.testing import CliRunner, Result

from _analysis_data import CALLS, DAY1, DAY3, FAILING, collect_shop
from otel_modeldata.cli import main

SCRIPT = Path(sys.executable).with_name("otel-modeldata")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    collected = tmp_path_factory.mktemp("cli") / "collected"
    collect_shop(collected)
    return collected


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_ls_lists_every_day_folder(root: Path) -> None:
    result = run("ls", "--source", str(root), "--designation", "inputs")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "webservice",
        "model",
        "version",
        "designation",
        "day",
        "files",
        "rows",
        "bytes",
    ]
    assert [line.split()[2:7] for line in lines[1:]] == [
        ["1", "inputs", "2026-11-01", "1", "6"],
        ["1", "inputs", "2026-11-02", "3", "3"],
        ["1", "inputs", "2026-11-03", "1", "2"],
        ["2", "inputs", "2026-11-03", "1", "1"],
    ]


def test_ls_json_is_for_machines(root: Path) -> None:
    result = run("ls", "--source", str(root), "--model", "shop", "--json")
    assert result.exit_code == 0, result.stderr
    found = json.loads(result.stdout)
    assert {d["designation"] for d in found} == {"inputs", "predictions", "errors"}
    errors = [d for d in found if d["designation"] == "errors"]
    assert errors == [
        {
            "webservice": "svc-1",
            "model": "shop",
            "version": "1",
            "designation": "errors",
            "day": "2026-11-01",
            "files": 1,
            "rows": 1,
            "bytes": errors[0]["bytes"],
        }
    ]
    assert errors[0]["bytes"] > 0


@pytest.mark.parametrize("command", ["ls", "read", "join"])
def test_an_unknown_model_exits_2_listing_the_models_found(root: Path, command: str) -> None:
    result = run(command, "--source", str(root), "--model", "shp")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"otel-modeldata: no model 'shp' in {root} (models found: shop)\n"


@pytest.mark.parametrize("command", ["read", "join"])
def test_an_empty_range_exits_2_saying_which_days_there_are(root: Path, command: str) -> None:
    result = run(
        command, "--source", str(root), "--model", "shop", "--start", "2026-10-01", "--end", "2026-10-31"
    )
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert (
        "no files for inputs of model 'shop' (every version) from 2026-10-01 to 2026-10-31" in result.stderr
    )
    assert result.stderr.endswith("it holds 2026-11-01 to 2026-11-03\n")


@pytest.mark.parametrize("command", ["ls", "read", "join"])
def test_a_source_that_is_not_a_folder_exits_2_saying_so(tmp_path: Path, command: str) -> None:
    missing = tmp_path / "typo"
    result = run(command, "--source", str(missing), "--model", "shop")
    assert result.exit_code == 2
    assert result.stderr == f"otel-modeldata: no folder {missing}\n"


def test_the_modeldata_folder_itself_is_read_as_its_root(root: Path) -> None:
    whole = run("read", "--source", str(root), "--model", "shop")
    named = run("read", "--source", str(root / "modeldata"), "--model", "shop")
    assert named.exit_code == whole.exit_code == 0
    assert named.stdout == whole.stdout
    assert len(named.stdout.splitlines()) > 1


def test_an_unknown_version_exits_2_listing_the_versions_found(root: Path) -> None:
    result = run("read", "--source", str(root), "--model", "shop", "--version", "9")
    assert result.exit_code == 2
    assert result.stderr.endswith("it holds no inputs of version 9 (versions found: 1, 2)\n")


def test_an_unknown_webservice_exits_2_naming_it(root: Path) -> None:
    result = run("read", "--source", str(root), "--model", "shop", "--webservice", "nope")
    assert result.exit_code == 2
    assert (
        result.stderr
        == f"otel-modeldata: no model 'shop' in {root} under webservice 'nope' (models found: none)\n"
    )


def test_a_bad_date_exits_2(root: Path) -> None:
    result = run("read", "--source", str(root), "--model", "shop", "--start", "2026-13-01")
    assert result.exit_code == 2
    assert result.stderr == "otel-modeldata: start must be a date (YYYY-MM-DD), got '2026-13-01'\n"


def test_unreadable_files_exit_2(root: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(root, broken)
    day = next((broken / "modeldata").rglob("shop/1/inputs/2026/11/01"))
    # A guessing sniffer would skip these lines and read nothing of the file, silently.
    (day / "data_1.csv").write_bytes(b"x,n\r\n1,2\r\n3,4,5\r\n")
    result = run("read", "--source", str(broken), "--model", "shop", "-o", str(tmp_path / "out.csv"))
    assert result.exit_code == 2
    assert result.stderr.startswith("otel-modeldata: cannot read the files: ")
    assert "data_1.csv" in result.stderr
    assert result.stderr.count("\n") == 1


def test_read_writes_csv_to_stdout(root: Path) -> None:
    result = run("read", "--source", str(root), "--model", "shop", "--version", "1", "--end", str(DAY1))
    assert result.exit_code == 0, result.stderr
    frame = pd.read_csv(io.StringIO(result.stdout), keep_default_na=False, na_values=[""])
    assert frame["n"].tolist() == [row[1] for call in CALLS for row in call] + [FAILING[0][1]]
    assert frame["text"].tolist()[0] == "'=1+1"  # CSV is for spreadsheets too: the formula guard is back
    assert result.stderr.startswith("wrote 6 rows")


def test_export_writes_parquet_with_types(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "day3.parquet"
    result = run("export", "--source", str(root), "--model", "shop", "--start", str(DAY3), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"wrote 3 rows (inputs of model 'shop' (every version) from {DAY3}")
    table = pyarrow.parquet.read_table(out)
    assert table.num_rows == 3
    assert str(table.schema.field("n").type) == "int64"
    assert str(table.schema.field("$aml_dc_scoring_timestamp").type) == "timestamp[us, tz=UTC]"
    assert sorted(table.column("$model_version").to_pylist()) == ["1", "1", "2"]


def test_join_writes_inputs_with_predictions(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "joined.parquet"
    result = run(
        "join", "--source", str(root), "--model", "shop", "--version", "1", "--end", str(DAY1), "-o", str(out)
    )
    assert result.exit_code == 0, result.stderr
    frame = pd.read_parquet(out).sort_values("n")
    assert len(frame) == 6
    failed = frame["n"] == FAILING[0][1]
    assert frame.loc[failed, "score"].isna().all()
    assert (frame.loc[~failed, "score"] == frame.loc[~failed, "n"] / 2).all()


def test_the_console_script_runs(root: Path) -> None:
    done = subprocess.run(
        [str(SCRIPT), "ls", "--source", str(root), "--model", "shop", "--designation", "errors", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert [d["rows"] for d in json.loads(done.stdout)] == [1]
    missing = subprocess.run(
        [str(SCRIPT), "read", "--source", str(root), "--model", "nope"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (missing.returncode, missing.stdout) == (2, "")
    assert missing.stderr == f"otel-modeldata: no model 'nope' in {root} (models found: shop)\n"


def test_a_file_naming_a_column_twice_is_one_line_naming_the_file(tmp_path: Path) -> None:
    """Such a file (an older collector wrote it from data with a repeated column name) cannot be
    aligned by name: the readers say which file, the command in one line with status 2."""
    from otel_modeldata import analysis
    from otel_modeldata.csvfmt import RowContext, RowWriter, header_line
    from otel_modeldata.layout import Identity, partition_folder

    ctx = RowContext("c", "2026-11-01T12:00:00.000000Z", "s/g/w", "svc", "dup", "1", "r", "", "")
    writer = RowWriter()
    writer.write([[1, 2]], 2, ctx)
    folder = tmp_path / "modeldata" / partition_folder(Identity(), "dup", "1", "inputs", DAY1)
    folder.mkdir(parents=True)
    (folder / "data.csv").write_bytes(header_line(["a", "a"]) + writer.payload())
    with pytest.raises(ValueError, match=r"data\.csv: the header names 'a' more than once"):
        analysis.read(tmp_path, model="dup")
    for command in ("read", "export"):
        result = run(command, "--source", str(tmp_path), "--model", "dup")
        assert result.exit_code == 2, result.output
        assert result.stdout == ""
        assert len(result.stderr.splitlines()) == 1
        assert "data.csv: the header names 'a' more than once" in result.stderr
