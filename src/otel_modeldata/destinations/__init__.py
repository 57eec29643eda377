"""Where model data is written: a local folder (default) or Azure Blob Storage."""

from __future__ import annotations

from ..settings import Settings
from .base import Destination, DestinationError
from .local import LocalDestination

__all__ = ["Destination", "DestinationError", "LocalDestination", "from_settings"]


def from_settings(settings: Settings) -> Destination:
    """The destination the settings ask for: blob storage when configured, else the local folder."""
    if settings.uses_blob_storage:
        from .blob import BlobDestination

        return BlobDestination.from_settings(settings)
    return LocalDestination(settings.local_dir, settings.file_mode)
