"""Reading what the collector wrote, the way a user would."""

from __future__ import annotations

import csv
from datetime import datetime, timezone
from pathlib import Path

IDENTITY = ("sub-1", "rg-1", "ws-1", "svc-1")


def partition_dir(
    root: Path,
    model: str,
    designation: str,
    version: str = "1",
    identity: tuple[str, ...] = IDENTITY,
    day: datetime | None = None,
) -> Path:
    """The folder the layout promises for today's (or ``day``'s) rows."""
    day = day or datetime.now(timezone.utc)
    return root.joinpath(
        "modeldata", *identity, model, version, designation, f"{day:%Y}", f"{day:%m}", f"{day:%d}"
    )


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of one CSV file."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def data_files(root: Path) -> list[Path]:
    """Every CSV file below ``root``, sorted."""
    return sorted(root.rglob("*.csv"))
