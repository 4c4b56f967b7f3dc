"""Stores: the Oxigraph store on disk or in memory, or a SPARQL server (:mod:`graph.store.remote`), chosen by name.

A backend offers the few primitives the rest of the code needs, in pyoxigraph
terms: query with an explicit dataset, bulk load into one named graph, an
atomic add, and graph removal. Everything else (sources, versions, ingest)
is written once on top of them, so no module branches on the store kind.
"""

from __future__ import annotations

import gc
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Protocol

import pyoxigraph as ox
from rdflib import Dataset
from rdflib.store import Store as RdflibStore

from graph.errors import ConfigError, StoreLocked, StoreUnavailable

__all__ = ["Backend", "OxigraphBackend", "open_backend", "rdflib_dataset", "BACKENDS"]

log = logging.getLogger(__name__)


class Backend(Protocol):
    """What every store kind provides."""

    is_read_only: bool
    #: Whether other processes may write the store (a SPARQL server): then what is current is re-read, and
    #: nothing another process may be writing or reading is removed (:meth:`Database.collect_garbage`).
    shared: bool

    def query(
        self,
        text: str,
        *,
        default_graph: list[ox.NamedNode] | None = None,
        named_graphs: list[ox.NamedNode] | None = None,
        substitutions: dict[ox.Variable, Any] | None = None,
        prefixes: dict[str, str] | None = None,
    ) -> Any: ...

    def bulk_load(
        self,
        *,
        graph: ox.NamedNode,
        format: ox.RdfFormat,
        path: Path | None = None,
        data: bytes | IO[bytes] | None = None,
    ) -> None: ...

    def bulk_extend(self, quads: Iterable[ox.Quad]) -> None: ...

    def extend(self, quads: Iterable[ox.Quad]) -> None: ...

    def quads(self, graph: ox.NamedNode | None = None, *,
              predicate: ox.NamedNode | None = None) -> Iterator[ox.Quad]: ...

    def named_graphs(self, prefix: str = "") -> Iterator[ox.NamedNode]:
        """The store's named graphs (those whose IRI starts with `prefix`)."""
        ...

    def drop_graph(self, graph: ox.NamedNode) -> None: ...

    def remove_quads(self, quads: Iterable[ox.Quad]) -> None: ...

    def rdflib_store(self) -> RdflibStore: ...

    def forward(self, text: str, default_graph: list[str], named_graphs: list[str], target: str, *,
                timeout: float, max_bytes: int) -> str:
        """Run a SPARQL worker's checked query on the store, its raw answer written to `target`; its media type.

        Only for a store whose :meth:`checkpoint` is :data:`graph.store.remote.FORWARDED` (the workers read a
        checkpoint of any other).
        """
        ...

    def reopen(self) -> None:
        """Open the store again (after a failed write left it refusing writes); a no-op where not needed."""

    def checkpoint(self, target: Path) -> Path:
        """A read-only copy of the store as it is now, in `target`, for the query workers (:mod:`graph.store.snapshots`).

        A read-only backend answers with its own folder (it is never written while it is open).
        """
        ...

    def compact(self) -> None:
        """Merge the store's files (after loads and removals), so that open files stay bounded."""
        ...

    def close(self) -> None: ...


class OxigraphBackend:
    """pyoxigraph's ``Store``: on disk when `path` is given, else in memory.

    Parameters
    ----------
    path : Path or None
        The store folder. ``None`` gives an in-memory store (for scratch work: it cannot be
        checkpointed, so queries cannot run on it in workers), unless `temporary`.
    read_only : bool
        Open an on-disk store read-only. This works while another process
        holds it read-write, and sees the data as it was when opened.
    temporary : bool
        With no `path`: a store in a new temporary folder, removed on :meth:`close` (the
        ``memory`` store kind: lost on exit, and checkpointed like any on-disk store).
    """

    def __init__(self, path: Path | None = None, *, read_only: bool = False, temporary: bool = False) -> None:
        self._temporary = None
        self.shared = False  # a store folder is locked by the one process that has it open
        if path is None and temporary:
            self._temporary = tempfile.mkdtemp(prefix="oversight-store-")
            path = Path(self._temporary) / "store"
        self.path = path
        self.is_read_only = read_only
        try:
            if path is None:
                self.store = ox.Store()
            elif read_only:
                self.store = ox.Store.read_only(str(path))
            else:
                path.mkdir(parents=True, exist_ok=True)
                self.store = ox.Store(str(path))
        except OSError as exc:
            if "lock" in str(exc).lower():
                raise StoreLocked(
                    f"the store in {path} is open in another process (a running `oversight serve`?)."
                    " Stop it, or go through it: oversight load --server URL PATH... or oversight import --server URL MAPPING FOLDER"
                ) from None
            log.error("cannot open store at %s: %s", path, exc)
            raise StoreUnavailable(f"the store in {path} cannot be opened") from None

    def query(self, text: str, *, default_graph: list[ox.NamedNode] | None = None,
              named_graphs: list[ox.NamedNode] | None = None,
              substitutions: dict[ox.Variable, Any] | None = None,
              prefixes: dict[str, str] | None = None) -> Any:
        return self.store.query(
            text,
            default_graph=default_graph,  # type: ignore[arg-type]  # list is invariant; NamedNodes are fine
            named_graphs=named_graphs,  # type: ignore[arg-type]
            substitutions=substitutions,
            prefixes=prefixes,
        )

    def bulk_load(self, *, graph: ox.NamedNode, format: ox.RdfFormat, path: Path | None = None,
                  data: bytes | IO[bytes] | None = None) -> None:
        # bulk_load is not transactional; callers only ever bulk-load into a fresh
        # graph that no query reads until an atomic commit names it (see sources.py).
        # In memory (a load's scratch store) the transactional load is the faster and smaller one: Chicago's
        # 4.9 M quads in 18.6 s and 1.66 GB, against 21.0 s and 1.91 GB for bulk_load (measured 2026-12-03).
        parse = self.store.load if self.path is None else self.store.bulk_load
        if path is not None:
            parse(path=str(path), format=format, to_graph=graph)
        else:
            parse(input=data, format=format, to_graph=graph)

    def bulk_extend(self, quads: Iterable[ox.Quad]) -> None:
        self.store.bulk_extend(quads)

    def extend(self, quads: Iterable[ox.Quad]) -> None:
        self.store.extend(quads)  # transactional: all or nothing

    def quads(self, graph: ox.NamedNode | None = None, *,
              predicate: ox.NamedNode | None = None) -> Iterator[ox.Quad]:
        return iter(self.store.quads_for_pattern(None, predicate, None, graph))

    def named_graphs(self, prefix: str = "") -> Iterator[ox.NamedNode]:
        return (g for g in self.store.named_graphs() if isinstance(g, ox.NamedNode) and g.value.startswith(prefix))

    def drop_graph(self, graph: ox.NamedNode) -> None:
        self.store.remove_graph(graph)

    def remove_quads(self, quads: Iterable[ox.Quad]) -> None:
        for quad in list(quads):
            self.store.remove(quad)

    def rdflib_store(self) -> RdflibStore:
        from oxrdflib import OxigraphStore

        return OxigraphStore(store=self.store)

    def forward(self, text: str, default_graph: list[str], named_graphs: list[str], target: str, *,
                timeout: float, max_bytes: int) -> str:
        raise StoreUnavailable("the workers read this store's checkpoints: nothing is forwarded")

    def checkpoint(self, target: Path) -> Path:
        if self.is_read_only and self.path is not None:
            return self.path
        if self.path is None:
            raise StoreUnavailable("an in-memory scratch store cannot be checkpointed")
        self.store.backup(str(target))  # hard links to the store's immutable files: milliseconds
        return target

    def compact(self) -> None:
        if not self.is_read_only:
            self.store.optimize()

    def reopen(self) -> None:
        # RocksDB keeps refusing writes after one failed (ENOSPC on its write-ahead log) until it is
        # opened again. Its lock is held until every reference to the old store is gone, so wait for
        # readers still iterating over it.
        if self.path is None or self.is_read_only:
            return
        del self.store
        gc.collect()
        for _ in range(100):
            try:
                self.store = ox.Store(str(self.path))
                return
            except OSError as exc:
                if "lock" not in str(exc).lower():
                    log.error("cannot open the store again: %s", exc)
                    break
                time.sleep(0.1)
        raise StoreUnavailable("the store could not be opened again after the disk filled up: restart the service")

    def close(self) -> None:
        if not self.is_read_only:
            self.store.flush()
        del self.store
        if self._temporary is not None:
            shutil.rmtree(self._temporary, ignore_errors=True)


def _sparql_backend(settings: dict[str, Any], read_only: bool) -> Backend:
    from graph.store.remote import SparqlBackend

    if not settings["SPARQL_ENDPOINT"]:
        raise ConfigError("OVERSIGHT_STORE=sparql needs OVERSIGHT_SPARQL_ENDPOINT (the store's query URL)")
    return SparqlBackend(settings["SPARQL_ENDPOINT"], settings["SPARQL_UPDATE_ENDPOINT"],
                         settings["SPARQL_STORE_ENDPOINT"], timeout=settings["STORE_TIMEOUT"], read_only=read_only)


BACKENDS: dict[str, Callable[[dict[str, Any], bool], Backend]] = {
    "oxigraph": lambda s, ro: OxigraphBackend(Path(s["DATA_DIR"]), read_only=ro),
    "memory": lambda s, ro: OxigraphBackend(None, temporary=True),
    "sparql": _sparql_backend,
}


def open_backend(settings: dict[str, Any], *, read_only: bool = False) -> Backend:
    """Open the store that `settings` (see :mod:`graph.settings`) names.

    Parameters
    ----------
    settings : dict
        Resolved settings: ``STORE`` (``oxigraph``, ``memory`` or ``sparql``) and what that kind needs
        (``DATA_DIR`` for ``oxigraph``).
    read_only : bool
        Open an ``oxigraph`` or ``sparql`` store read-only; ``memory`` ignores it.
    """
    return BACKENDS[settings["STORE"]](settings, read_only)


def rdflib_dataset(backend: Backend) -> Dataset:
    """An rdflib ``Dataset`` over the same store (shares its data; no copy)."""
    return Dataset(store=backend.rdflib_store())
