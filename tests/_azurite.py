"""A real Azure Blob Storage for the tests: Azurite, started once per session on loopback.

It is started by ``examples/azurite.py`` (the demo's launcher), in memory, without
telemetry, on a free port; on a fresh clone that installs it with npm into ``.cache/azurite``
first, so plain ``pytest`` works too.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

import azurite as emulator  # examples/azurite.py, found through the line above
from azurite import Azurite, free_port

__all__ = ["Azurite", "azurite", "container_name", "free_port"]


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """Azurite's blob service for the whole session; stopped at the end."""
    with emulator.running(None) as server:
        yield server


@pytest.fixture
def container_name() -> str:
    """A container name no other test uses."""
    return f"t{uuid.uuid4().hex[:24]}"
