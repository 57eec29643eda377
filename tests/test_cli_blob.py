"""The ``otel-modeldata`` console script over a blob container (Azurite) the real collector wrote.

A user's route: the service collects into a container; later, on a laptop, ``ls`` and ``join``
run against the container's URL with the connection string in the environment, or with no
``--source`` at all (the collector's own variables). They must see what the same rows give
from a local folder, and fail with one line and exit status 2 the same way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from _analysis_data import DAY1, FAILING, collect_shop
from _azurite import Azurite

from csvfiles import BlobStore

pytestmark = pytest.mark.azurite

SCRIPT = Path(sys.executable).with_name("otel-modeldata")


@pytest.fixture(scope="module")
def shop(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BlobStore, Path]]:
    """The shop's days collected twice by the real collector: into a container and into a folder."""
    store = BlobStore(azurite, "clishop")
    collect_shop(store)
    local = tmp_path_factory.mktemp("cli_blob") / "collected"
    collect_shop(local)
    yield store, local
    store.close()


def script(*args: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The console script, as a user runs it, with only ``environment`` of ours set."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AZURE_"))}
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, timeout=120, env={**clean, **environment}
    )


def url(store: BlobStore) -> str:
    return f"{store.service.url.rstrip('/')}/{store.container}"


def test_ls_of_a_container_lists_what_the_same_rows_list_from_a_folder(shop: tuple[BlobStore, Path]) -> None:
    store, local = shop
    secret = {
        "OTEL_MODELDATA_STORAGE_CONNECTION_STRING": store.environment[
            "OTEL_MODELDATA_STORAGE_CONNECTION_STRING"
        ]
    }
    remote = script("ls", "--source", url(store), "--model", "shop", "--json", environment=secret)
    assert remote.returncode == 0, remote.stderr
    here = script("ls", "--source", str(local), "--model", "shop", "--json", environment={})
    assert here.returncode == 0, here.stderr

    def days(listing: str) -> list[tuple[str, str, str, int, int]]:
        return [
            (d["version"], d["designation"], d["day"], d["files"], d["rows"]) for d in json.loads(listing)
        ]

    assert days(remote.stdout) == days(here.stdout)
    assert ("1", "inputs", str(DAY1), 1, 6) in days(remote.stdout)
    assert "AccountKey" not in remote.stdout + remote.stderr


def test_join_of_a_container_without_source_uses_the_collectors_variables(
    shop: tuple[BlobStore, Path], tmp_path: Path
) -> None:
    store, _ = shop
    out = tmp_path / "joined.parquet"
    done = script(
        "join",
        "--model",
        "shop",
        "--version",
        "1",
        "--end",
        str(DAY1),
        "-o",
        str(out),
        environment=store.environment,
    )
    assert done.returncode == 0, done.stderr
    frame = pd.read_parquet(out)
    assert len(frame) == 6
    failed = frame["n"] == FAILING[0][1]
    assert frame.loc[failed, "score"].isna().all()
    assert (frame.loc[~failed, "score"] == frame.loc[~failed, "n"] / 2).all()
    assert "AccountKey" not in done.stdout + done.stderr


def test_an_unknown_model_in_a_container_exits_2_listing_the_models_found(
    shop: tuple[BlobStore, Path],
) -> None:
    store, _ = shop
    done = script("join", "--source", url(store), "--model", "shp", environment=store.environment)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("otel-modeldata: no model 'shp' in ")
    assert done.stderr.endswith("(models found: shop)\n")
    assert "AccountKey" not in done.stderr
