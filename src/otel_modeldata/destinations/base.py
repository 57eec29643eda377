"""The one small interface every destination implements, and the file choice they share.

A destination receives whole CSV lines for a partition folder and a header. It puts them
in a file of that folder whose first line is that header: ``data.csv`` when it is free
or already has that header, otherwise a sibling ``data_<tag>.csv``; a file never mixes
two headers and the header is written exactly once, even with several processes.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod

from ..layout import file_name, header_tag


class DestinationError(OSError):
    """A write failed after the destination's own retries; nothing was half-written."""


class Destination(ABC):
    """Appends CSV payloads to partition files. Subclasses provide three primitives."""

    def __init__(self) -> None:
        self._files: dict[tuple[str, bytes], str] = {}
        self._lock = threading.Lock()

    def append(self, folder: str, header: bytes, payload: bytes) -> None:
        """Append ``payload`` (whole lines) under ``header`` in ``folder``, or raise ``DestinationError``."""
        key = (folder, header)
        with self._lock:
            path = self._files.get(key)
            if path is None:
                path = self._choose_file(folder, header)
                self._files[key] = path
        self._append(path, payload)

    def _choose_file(self, folder: str, header: bytes) -> str:
        for tag in (None, header_tag(header)):
            path = f"{folder}/{file_name(tag)}"
            if self._create(path, header) or self._read_header(path, len(header)) == header:
                return path
        raise DestinationError(f"{folder}: both data files have other headers")

    def forget(self, folder: str, header: bytes) -> None:
        """Drop the cached file choice, e.g. after the file was removed or rolled over."""
        with self._lock:
            self._files.pop((folder, header), None)

    @abstractmethod
    def _create(self, path: str, header: bytes) -> bool:
        """Create ``path`` holding exactly ``header``; False if it already exists."""

    @abstractmethod
    def _read_header(self, path: str, size: int) -> bytes:
        """The first ``size`` bytes of ``path`` (or fewer if it is shorter)."""

    @abstractmethod
    def _append(self, path: str, payload: bytes) -> None:
        """Append ``payload`` to the existing ``path`` in one piece."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the default holds none."""

    @abstractmethod
    def describe(self) -> str:
        """Where the data goes, for logs; never contains a secret."""
