"""The dataset: per-source named graphs, their provenance in a metadata graph, a data version.

How loads stay all-or-nothing
-----------------------------
Every ingest run writes its source into a *new* named graph
``{base}graph/{source}/{run}`` that no query reads. Only when that graph is
complete and valid does one atomic ``extend`` add the run's record to the
metadata graph; the record with the highest ``ov:sequence`` of a source
names its current graph. Queries see the union of current graphs only, so:

* a failed, invalid or interrupted load (even ``kill -9``) leaves an orphan
  graph that nothing reads, removed by :meth:`Database.collect_garbage` at
  the next open or commit: the store reads exactly as before;
* readers keep answering from the previous version while a load runs;
* re-loading a source replaces it; it never duplicates it.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import pyoxigraph as ox
from rdflib import Dataset

from graph.errors import StorageFull, is_disk_full
from graph.iri import ONTOLOGY_SOURCE, meta_graph, source_graph, source_iri
from graph.prefixes import PREFIXES
from graph.queries import internal
from graph.store.backend import Backend, rdflib_dataset
from graph.store.derived import Derived
from graph.store.snapshots import Snapshots
from ontology import OX

__all__ = ["Database", "LoadListener", "Pin", "SourceRecord", "RunRecord", "ONTOLOGY_SOURCE", "COMPACT_EVERY"]

log = logging.getLogger(__name__)

#: Commits (loads and removals) between compactions of the store (:meth:`Backend.compact`).
COMPACT_EVERY = 16
_REOPEN_ROOM = 16 * 1024 * 1024  # free bytes before a store refusing writes is opened again (it writes to open)
_RDF_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
_RDFS_LABEL = ox.NamedNode("http://www.w3.org/2000/01/rdf-schema#label")
_PROV = "http://www.w3.org/ns/prov#"
_XSD = "http://www.w3.org/2001/XMLSchema#"
_DCT_TITLE = ox.NamedNode("http://purl.org/dc/terms/title")


@dataclass(frozen=True)
class RunRecord:
    """What one ingest run wrote: the source, the graph, and its provenance."""

    run: ox.NamedNode
    source: str
    graph: ox.NamedNode
    loaded_at: str
    loaded_by: str
    title: str | None = None
    origin: str | None = None
    checksum: str | None = None
    licence: str | None = None
    triples: int = 0
    is_deletion: bool = False


@dataclass(frozen=True)
class SourceRecord:
    """A current source: its latest committed run."""

    name: str
    iri: str
    run: str
    graph: ox.NamedNode  # the run's graph, internal: outside the store it is called `stable_graph`
    sequence: int
    loaded_at: str
    loaded_by: str | None
    title: str | None
    origin: str | None
    checksum: str | None
    licence: str | None
    triples: int
    stable_graph: ox.NamedNode  # {base}graph/{name} (graph.iri.source_graph): what queries and exports call it

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if v is not None and k != "stable_graph"}
        out["graph"] = self.stable_graph.value
        return out


@dataclass(frozen=True)
class _State:
    sources: dict[str, SourceRecord]
    runs: dict[str, list[tuple[int, str, ox.NamedNode]]]  # source -> [(sequence, run, graph)]
    version: str

    @property
    def next_sequence(self) -> int:
        return 1 + max((seq for runs in self.runs.values() for seq, _, _ in runs), default=0)


def _literal(solution: Any, name: str) -> str | None:
    value = solution[name]
    return None if value is None else value.value


class Pin:
    """The sources a reader captured (and their data version), their graphs held against garbage collection.

    A context manager: ``with db.pin() as pin: ...`` releases the graphs at the end.
    """

    def __init__(self, db: Database, version: str, sources: dict[str, SourceRecord], graphs: list[str]) -> None:
        self.version, self.sources, self._db, self._graphs = version, sources, db, graphs

    @property
    def graphs(self) -> list[ox.NamedNode]:
        """The pinned sources' graphs, by source name (the ontology's included)."""
        return [record.graph for _, record in sorted(self.sources.items())]

    @property
    def data(self) -> list[SourceRecord]:
        """The pinned sources that queries, exports and the Graph Store read (the ontology's left out), by name."""
        return [record for name, record in sorted(self.sources.items()) if name != ONTOLOGY_SOURCE]

    @property
    def stable_names(self) -> dict[ox.NamedNode, ox.NamedNode]:
        """Each of :attr:`data`'s run graphs -> the source's stable graph name (:func:`graph.iri.source_graph`)."""
        return {record.graph: record.stable_graph for record in self.data}

    def release(self) -> None:
        """Let the graphs go (idempotent)."""
        graphs, self._graphs = self._graphs, []
        if graphs:
            self._db._unpin(graphs)

    def __enter__(self) -> Pin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class LoadListener(Protocol):
    """What keeps data derived from loads (the linkage facts) hears of each load: a hook, in the spirit of
    datasette's plugin hooks, so that loading never imports what is built from it.

    A listener is added to :attr:`Database.listeners` where the database is opened (:func:`graph.open_database`).
    """

    #: What a load's progress calls the listener's work (``indexing for linkage``).
    phase: str

    def staged(self, db: Database, source: str, run: str, staged: Backend, graph: ox.NamedNode, *,
               alone: bool) -> Any:
        """A run of `source` is read: `graph` of the fast scratch store `staged` holds it.

        Called in a thread of its own, beside the run's validation and disk write, before the commit: the run may
        still be refused, so keep nothing outside what is returned. `alone` is whether the load holds only this
        source (so what the data will be after the commit is known). What is returned is given to
        :meth:`committed`. An exception fails the load, which then changes nothing.
        """

    def committed(self, db: Database, run: str, token: Any) -> None:
        """The load that staged `run` is committed; `token` is what :meth:`staged` returned."""


class Database:
    """The store with its sources. Create with :func:`graph.open_database`.

    Writers (loads, deletions) are serialised by :attr:`write_lock`; readers
    never wait for them.
    """

    def __init__(self, backend: Backend, *, base_iri: str, refresh: float = 1.0, grace: float = 3600.0) -> None:
        self.backend = backend
        self.base_iri = base_iri
        self.meta = meta_graph(base=base_iri)
        # A shared store (a SPARQL server other instances write) is asked what is current every `refresh`
        # seconds, and a graph no source uses is kept `grace` seconds after it is first seen unused: another
        # instance may be loading into it, or answering from it. A store of this process alone needs neither.
        self._refresh = refresh if backend.shared else float("inf")
        self._grace = grace if backend.shared else 0.0
        self._unused: dict[ox.NamedNode, float] = {}  # graph -> when collect_garbage first saw it unused
        self._read_at = 0.0
        self._refresh_lock = threading.Lock()
        self.write_lock = threading.RLock()
        self._pins: Counter[str] = Counter()  # graphs readers hold (Database.pin), by IRI
        self._pins_lock = threading.Lock()
        #: What is derived from the data (facts, projections, answers...), by kind and data version.
        self.derived = Derived()
        #: Told of every load (see :class:`LoadListener`).
        self.listeners: list[LoadListener] = []
        path = getattr(backend, "path", None)
        #: Read-only checkpoints for the SPARQL workers (:mod:`graph.sparql.workers`), one per data version.
        self.snapshots = Snapshots(backend, None if path is None else Path(path) / "snapshots")
        self._commits = 0  # since the store was last compacted
        self.needs_recovery = False  # a write failed: probe (and reopen) before the next (see recover)
        self._state = self._read_state()

    # ------------------------------------------------------------------ reading
    def _read_state(self) -> _State:
        current: dict[str, Any] = {}
        runs: dict[str, list[tuple[int, str, ox.NamedNode]]] = {}
        query = internal("runs")
        for sol in self.backend.query(query.text, named_graphs=[self.meta],
                                      substitutions=query.bind({"meta": self.meta})):
            name = sol["name"].value
            sequence = int(sol["sequence"].value)
            runs.setdefault(name, []).append((sequence, sol["run"].value, sol["graph"]))
            # two instances over one store may commit the same sequence: the run's IRI breaks the tie, the same
            # way for every reader
            if name not in current or (sequence, sol["run"].value) > (int(current[name]["sequence"].value),
                                                                      current[name]["run"].value):
                current[name] = sol
        sources = {}
        for name, sol in current.items():
            if sol["deletion"] is not None and sol["deletion"].value in ("true", "1"):  # Virtuoso writes "1"
                continue
            sources[name] = SourceRecord(
                name=name,
                iri=sol["source"].value,
                run=sol["run"].value,
                graph=sol["graph"],
                sequence=int(sol["sequence"].value),
                loaded_at=sol["loadedAt"].value,
                loaded_by=_literal(sol, "loadedBy"),
                title=_literal(sol, "title"),
                origin=_literal(sol, "origin"),
                checksum=_literal(sol, "checksum"),
                licence=_literal(sol, "licence"),
                stable_graph=source_graph(name, base=self.base_iri),
                triples=int(sol["triples"].value) if sol["triples"] is not None else 0,
            )
        runs_key = "\n".join(sorted(s.run for s in sources.values()))
        version = hashlib.sha256(runs_key.encode()).hexdigest()[:16]
        self._read_at = time.monotonic()
        return _State(sources, runs, version)

    @property
    def _state(self) -> _State:
        """What is current: read again when the store is shared and the last reading is older than `refresh`."""
        if time.monotonic() - self._read_at >= self._refresh and self._refresh_lock.acquire(blocking=False):
            try:  # one reader refreshes; the others answer from the reading they have meanwhile
                self._state = self._read_state()
            except Exception as exc:  # noqa: BLE001 - a store that does not answer now: keep the last reading
                log.warning("could not ask the store what is current: %s", exc)
                self._read_at = time.monotonic()
            finally:
                self._refresh_lock.release()
        return self.__state

    @_state.setter
    def _state(self, value: _State) -> None:
        self.__state = value

    @property
    def sources(self) -> dict[str, SourceRecord]:
        """Current sources by name (a snapshot; safe to keep while loads run)."""
        return dict(self._state.sources)

    def pin(self) -> Pin:
        """The current sources, whose graphs stay until :meth:`Pin.release` even if a load replaces them.

        A reader that captured the graphs before a commit would otherwise find them dropped by the
        commit's garbage collection and answer as if the source were empty. Reading the state and
        pinning happen under one lock that :meth:`collect_garbage` also takes, so no commit falls
        between them. A replaced graph that was pinned is dropped by the next collection after its
        release (the next load, or the next start).
        """
        with self._pins_lock:
            state = self._state
            sources = dict(state.sources)
            graphs = [record.graph.value for record in sources.values()]
            self._pins.update(graphs)
        return Pin(self, state.version, sources, graphs)

    def _unpin(self, graphs: list[str]) -> None:
        with self._pins_lock:
            self._pins.subtract(graphs)
            for graph in graphs:
                if self._pins[graph] <= 0:
                    del self._pins[graph]

    def current(self) -> tuple[str, dict[str, SourceRecord]]:
        """The data version and the current sources, read together (a commit cannot fall between)."""
        state = self._state
        return state.version, dict(state.sources)

    @property
    def data_version(self) -> str:
        """Changes whenever any source is loaded, replaced or removed: a key for caches and ETags."""
        return self._state.version

    @property
    def graphs(self) -> list[ox.NamedNode]:
        """The current named graph of every source, by source name."""
        return [record.graph for _, record in sorted(self._state.sources.items())]

    def query(self, text: str, *, bindings: dict[str, Any] | None = None,
              graphs: list[ox.NamedNode] | None = None) -> Any:
        """Run a SPARQL query over the dataset as readers see it.

        The default graph is the union of the current source graphs (or of
        `graphs`); ``GRAPH ?g`` ranges over those graphs and the metadata graph.
        `bindings` maps variable names to pyoxigraph terms.
        """
        graphs = self.graphs if graphs is None else graphs
        return self.backend.query(
            text,
            default_graph=graphs,
            named_graphs=[*graphs, self.meta],
            substitutions={ox.Variable(k): v for k, v in (bindings or {}).items()},
            prefixes=PREFIXES,
        )

    def dataset(self) -> Dataset:
        """The rdflib ``Dataset`` over this store: every graph, metadata and orphans included."""
        return rdflib_dataset(self.backend)

    def source_quads(self, name: str) -> list[ox.Quad]:
        """The statements of the current source `name`, in its graph."""
        return list(self.backend.quads(self._state.sources[name].graph))

    # ------------------------------------------------------------------ writing
    def _run_quads(self, record: RunRecord, sequence: int) -> list[ox.Quad]:
        g = self.meta
        src = source_iri(record.source, base=self.base_iri)
        agent = ox.NamedNode(f"{self.base_iri}agent/"
                             + hashlib.sha256(record.loaded_by.encode()).hexdigest()[:20])
        run = record.run
        quads = [
            ox.Quad(src, _RDF_TYPE, OX.Source, g),
            ox.Quad(src, OX.identifier, ox.Literal(record.source), g),
            ox.Quad(agent, _RDF_TYPE, ox.NamedNode(_PROV + "Agent"), g),
            ox.Quad(agent, _RDFS_LABEL, ox.Literal(record.loaded_by), g),
            ox.Quad(run, _RDF_TYPE, OX.IngestRun, g),
            ox.Quad(run, OX.loadedSource, src, g),
            ox.Quad(run, OX.sequence, ox.Literal(str(sequence), datatype=ox.NamedNode(_XSD + "integer")), g),
            ox.Quad(run, OX.graph, record.graph, g),
            ox.Quad(run, ox.NamedNode(_PROV + "endedAtTime"),
                    ox.Literal(record.loaded_at, datatype=ox.NamedNode(_XSD + "dateTime")), g),
            ox.Quad(run, ox.NamedNode(_PROV + "wasAssociatedWith"), agent, g),
            ox.Quad(run, OX.tripleCount, ox.Literal(str(record.triples), datatype=ox.NamedNode(_XSD + "integer")), g),
            ox.Quad(record.graph, ox.NamedNode(_PROV + "wasGeneratedBy"), run, g),
        ]
        if record.is_deletion:
            quads.append(ox.Quad(run, OX.isDeletion, ox.Literal("true", datatype=ox.NamedNode(_XSD + "boolean")), g))
        for pred, value in ((_DCT_TITLE, record.title), (OX.origin, record.origin),
                            (OX.checksum, record.checksum), (OX.licence, record.licence)):
            if value:
                quads.append(ox.Quad(run, pred, ox.Literal(value), g))
        return quads

    def commit(self, records: list[RunRecord]) -> str:
        """Make the graphs of `records` current, all at once, and return the new data version.

        One atomic write adds every run record: either all the sources change or none does.
        """
        with self.write_lock:
            self._state = self._read_state()  # another instance over the same store may have committed
            sequence = self._state.next_sequence
            quads: list[ox.Quad] = []
            for offset, record in enumerate(records):
                quads.extend(self._run_quads(record, sequence + offset))
            try:
                self.backend.extend(quads)
            except OSError:
                self.needs_recovery = True  # a failed write can leave the store refusing every later one
                raise
            self._state = self._read_state()
            log.debug("committed run(s) of %s; data version %s",
                      ", ".join(sorted({r.source for r in records})), self._state.version)
            try:  # housekeeping: the commit stands even if it fails (a full disk); the next one retries
                self.collect_garbage()
                self._commits += 1
                if self._commits >= COMPACT_EVERY:
                    # Each load adds a few files to the store that are never merged otherwise (bulk loads
                    # go to the bottom level), and each stays open: without this a service that reloads
                    # a source every few minutes runs out of file descriptors within days.
                    self.backend.compact()
                    self._commits = 0
            except OSError as exc:
                self.needs_recovery = True
                log.warning("after a commit, tidying the store failed (it is retried at the next one): %s", exc)
            return self._state.version

    def recover(self) -> None:
        """Make sure the store takes writes again after one failed (a full disk); call before writing.

        RocksDB refuses every write after its write-ahead log failed once, until the store is opened
        again, even when space has come back. A probe write tells; if it fails while the volume has
        room again, the store is reopened (:meth:`Backend.reopen`). Holds :attr:`write_lock`.

        Raises
        ------
        StorageFull
            The volume is still full.
        """
        with self.write_lock:
            if not self.needs_recovery:
                return
            probe = ox.Quad(self.meta, _RDF_TYPE, ox.NamedNode(f"{self.base_iri}probe"), self.meta)
            try:
                self.backend.extend([probe])
                self.backend.remove_quads([probe])
            except OSError as exc:
                if not is_disk_full(exc):
                    raise
                folder = getattr(self.backend, "path", None)
                if folder is None or shutil.disk_usage(folder).free < _REOPEN_ROOM:
                    raise StorageFull("the data volume is full; nothing was changed: free some space") from None
                log.warning("the store refuses writes since the disk filled up: opening it again")
                self.backend.reopen()
                self._state = self._read_state()
            self.needs_recovery = False

    def collect_garbage(self) -> int:
        """Remove graphs and run records that no current source uses; return graphs dropped.

        Safe to interrupt at any point: it only removes what no query reads.
        Must not run while a load is staging (callers hold :attr:`write_lock`).
        """
        with self.write_lock:
            state = self._state
            keep = {record.graph for record in state.sources.values()} | {self.meta}
            with self._pins_lock:
                keep |= {ox.NamedNode(graph) for graph in self._pins}  # replaced, but still being read
            dropped, now, ours = 0, time.monotonic(), f"{self.base_iri}graph/"
            unused = [g for g in self.backend.named_graphs(ours) if g not in keep]
            self._unused = {g: self._unused.get(g, now) for g in unused}  # only graphs of this service's
            for graph in unused:
                if now - self._unused[graph] >= self._grace:
                    self.backend.drop_graph(graph)
                    del self._unused[graph]
                    dropped += 1
            current = {ox.NamedNode(record.run) for record in state.sources.values()}
            stale = {ox.NamedNode(run) for runs in state.runs.values() for _, run, _ in runs} - current
            if stale:
                live = {source_iri(name, base=self.base_iri) for name in state.sources}
                sources = f"{self.base_iri}source/"
                self.backend.remove_quads([
                    q for q in self.backend.quads(self.meta)
                    if q.subject in stale or q.object in stale
                    or (isinstance(q.subject, ox.NamedNode) and q.subject.value.startswith(sources)
                        and q.subject not in live)
                ])
                self._state = self._read_state()
            if dropped:
                log.info("removed %d unused graph(s)", dropped)
            return dropped

    def now(self) -> str:
        return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def close(self) -> None:
        self.snapshots.close()
        self.backend.close()
