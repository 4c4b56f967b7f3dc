"""Read-only checkpoints of the store, one per data version, for the SPARQL workers (:mod:`graph.sparql.workers`).

Oxigraph may not be opened read-only by one process while another writes it, so workers never
open the live store: they open a checkpoint (RocksDB hard-links the store's immutable files, so
one takes milliseconds and almost no space). A checkpoint is made at the first query of each
data version while the reader's graphs are pinned (:meth:`graph.store.database.Database.pin`), so
it holds them whatever commits meanwhile. The newest checkpoint is kept; an older one is
removed once no job reads it. A worker that still has a removed checkpoint open keeps its
files until it opens the next one (at most one stale checkpoint a worker).
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["Snapshots"]


class Snapshots:
    """The checkpoints of one store, in `folder` (on the store's file system, for hard links)."""

    def __init__(self, backend: Any, folder: Path | None) -> None:
        self._backend, self._folder = backend, folder
        self._by_version: dict[str, Path] = {}
        self._readers: Counter[Path] = Counter()
        self._newest: Path | None = None
        self._lock = threading.Lock()
        self._numbers = itertools.count()
        if folder is not None and not backend.is_read_only:
            shutil.rmtree(folder, ignore_errors=True)  # left by a process that was killed

    @contextlib.contextmanager
    def reading(self, version: str) -> Iterator[Path]:
        """The folder of a checkpoint holding (at least) the graphs of data version `version`.

        The caller must hold a pin on that version's graphs while it asks, so that a checkpoint
        made now still has them.
        """
        path = self._acquire(version)
        try:
            yield path
        finally:
            self._release(path)

    def _acquire(self, version: str) -> Path:
        with self._lock:
            path = self._by_version.get(version)
            if path is None:
                if self._folder is None or self._backend.is_read_only:
                    path = self._backend.checkpoint(Path())  # a read-only store is its own checkpoint
                else:
                    self._folder.mkdir(parents=True, exist_ok=True)
                    path = self._backend.checkpoint(self._folder / f"{version}-{next(self._numbers)}")
                self._by_version[version] = path
                self._newest = path
                self._prune()
            self._readers[path] += 1
            return path

    def _release(self, path: Path) -> None:
        with self._lock:
            self._readers[path] -= 1
            if self._readers[path] <= 0:
                del self._readers[path]
            self._prune()

    def _prune(self) -> None:
        for version, path in list(self._by_version.items()):
            if path != self._newest and path not in self._readers:
                del self._by_version[version]
                if self._folder is not None and path.parent == self._folder:
                    shutil.rmtree(path, ignore_errors=True)

    def close(self) -> None:
        """Remove every checkpoint (at close of the store)."""
        with self._lock:
            self._by_version.clear()
            self._newest = None
            if self._folder is not None and not self._backend.is_read_only:
                shutil.rmtree(self._folder, ignore_errors=True)
