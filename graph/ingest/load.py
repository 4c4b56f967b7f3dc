"""Ingest: stage each source into a fresh graph, validate it, then commit all sources at once.

Formats: Turtle, TriG, N-Triples, N-Quads, JSON-LD (parsed by Oxigraph, which
never fetches a remote ``@context``), RDF/XML (without a DOCTYPE: no entity can be
declared, see :func:`refuse_xml_declarations`) and the tabular CSV folder
(:mod:`graph.ingest.converter`). Quads of TriG, N-Quads and JSON-LD named graphs all
go into the source's own graph.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Any

import pyoxigraph as ox

from graph.errors import InputError, Issue, NotFound, StorageFull, StoreUnavailable, is_disk_full
from graph.ingest.converter import Conversion, convert, is_tabular
from graph.ingest.validation import Violation, confirm, curie, validate_graph
from graph.iri import graph_iri, run_iri, source_graph, source_name_problem
from graph.queries import internal
from graph.store.backend import Backend, OxigraphBackend
from graph.store.database import (
    ONTOLOGY_SOURCE,
    Database,
    LoadListener,
    RunRecord,
)
from ontology import turtle

__all__ = ["SourceInput", "LoadReport", "plan", "load", "validate", "delete", "install_ontology", "RDF_SUFFIXES",
           "Progress", "quiet", "room"]

log = logging.getLogger(__name__)

RDF_SUFFIXES: dict[str, ox.RdfFormat] = {
    ".ttl": ox.RdfFormat.TURTLE,
    ".trig": ox.RdfFormat.TRIG,
    ".nt": ox.RdfFormat.N_TRIPLES,
    ".nq": ox.RdfFormat.N_QUADS,
    ".jsonld": ox.RdfFormat.JSON_LD,
    ".json": ox.RdfFormat.JSON_LD,
    ".rdf": ox.RdfFormat.RDF_XML,
    ".owl": ox.RdfFormat.RDF_XML,
}
_ENCODING = re.compile(rb"""^<\?xml[^>]*\bencoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_DECLARATION = re.compile(rb"<!(?!--|\[CDATA\[)")  # DOCTYPE, ENTITY, ELEMENT, ATTLIST...
_QUAD_FORMATS = {ox.RdfFormat.TRIG, ox.RdfFormat.N_QUADS, ox.RdfFormat.JSON_LD}

Progress = Callable[[str, int, int], None]  # (phase, done, total)


def quiet(phase: str, done: int, total: int) -> None:
    """A :data:`Progress` that reports nothing.

    Parameters
    ----------
    phase : str
        What is being done (``committing``, ``NAME: validating``...).
    done, total : int
        Steps done, and steps in all (0: not known).
    """
    return None


@dataclass(frozen=True)
class SourceInput:
    """One source to load: its name, its files or folders, and how to describe it."""

    name: str
    paths: tuple[Path, ...]
    title: str | None = None
    licence: str | None = None
    origin: str | None = None


@dataclass(frozen=True)
class LoadReport:
    """What a load (or a validation) did for one source."""

    source: str
    triples: int
    checksum: str
    graph: str  # the source's stable graph name (graph.iri.source_graph)
    replaced: bool
    data_version: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _source_name(path: Path) -> str:
    name = path.name
    for suffix in RDF_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name.lower().replace(" ", "-").replace("_", "-")


def plan(paths: Iterable[Path], *, source: str | None = None, title: str | None = None,
         licence: str | None = None) -> list[SourceInput]:
    """Turn CLI paths into sources: one per path, or all into `source` when given.

    Parameters
    ----------
    paths : iterable of Path
        Files in an RDF syntax (known by their suffix, :data:`RDF_SUFFIXES`) and folders of the tabular format.
    source : str, optional
        One source name for all the paths. Without it each path is a source named after it (lower case,
        its suffix removed, spaces and underscores made hyphens).
    title, licence : str, optional
        How each planned source is described.

    Raises
    ------
    InputError
        A path that does not exist, a format we do not read, or a bad source name.
    """
    paths = [Path(p) for p in paths]
    issues: list[Issue] = []
    for path in paths:
        if not path.exists():
            issues.append(Issue(str(path), "exists", "no such file or folder"))
        elif path.is_dir() and not is_tabular(path):
            issues.append(Issue(str(path), "format", "folder holds none of the tabular format's CSV files "
                                "(see docs/data-format.md)"))
        elif path.is_file() and _format(path) is None:
            issues.append(Issue(str(path), "format", "unknown file type; accepted: "
                                + ", ".join(RDF_SUFFIXES) + " or a folder of CSV files"))
    if not paths:
        issues.append(Issue("-", "arguments", "give at least one file or folder"))
    groups = [(source, paths)] if source else [(_source_name(p), [p]) for p in paths]
    names = [name for name, _ in groups]
    for name, group in groups:
        problem = source_name_problem(name or "")
        if problem:
            issues.append(Issue(str(group[0]), "source name", f"{problem}; choose one with --source"))
        if names.count(name) > 1:
            issues.append(Issue(str(group[0]), "source name", f"two paths map to source {name!r}; use --source"))
    if issues:
        raise InputError(sorted(set(issues), key=str))
    return [SourceInput(name, tuple(group), title=title, licence=licence,
                        origin=" ".join(str(p) for p in group)) for name, group in groups]


def _format(path: Path) -> ox.RdfFormat | None:
    return next((fmt for suffix, fmt in RDF_SUFFIXES.items() if path.name.lower().endswith(suffix)), None)


def _files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        else:
            yield path


def checksum(paths: Iterable[Path]) -> str:
    """``sha256:`` of the inputs' bytes (folders file by file, in name order)."""
    digest = hashlib.sha256()
    for path in _files(paths):
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return "sha256:" + digest.hexdigest()


@dataclass
class _Staged:
    source: SourceInput
    graph: ox.NamedNode
    run: ox.NamedNode
    checksum: str
    triples: int
    heard: list[tuple[LoadListener, Any]] = field(default_factory=list)  # the database's listeners, what they staged


def _syntax_issue(path: Path, exc: SyntaxError) -> Issue:
    message = str(exc.msg if hasattr(exc, "msg") else exc)
    return Issue(path.name, "syntax", message, line=exc.lineno)


class _CountingReader(io.RawIOBase):
    """A binary file that reports how many bytes the parser has read (for progress bars)."""

    def __init__(self, handle: IO[bytes], report: Callable[[int], None]) -> None:
        self.handle, self.report, self.done = handle, report, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self.handle.readinto(buffer)  # type: ignore[attr-defined]
        self.done += count
        self.report(self.done)
        return count


@contextlib.contextmanager
def _reading(path: Path, phase: str, progress: Progress) -> Iterator[IO[bytes]]:
    total = path.stat().st_size
    with path.open("rb") as handle:
        yield io.BufferedReader(_CountingReader(handle, lambda done: progress(phase, done, total)), 1 << 20)


def refuse_xml_declarations(path: Path) -> None:
    """Refuse XML that is not UTF-8, or that has a DOCTYPE, entity or other markup declaration.

    Checked on the bytes before any parser sees them: an internal DTD's entities expand without
    limit (pyoxigraph 0.5.13 grew 540 bytes to 100 MB; rdflib took 18 s on 500 bytes) and
    external ones read files or URLs. RDF/XML needs none of them. Comments and CDATA stay allowed.

    Raises
    ------
    InputError
        Naming the file, the line and the rule broken.
    """
    with path.open("rb") as handle:
        head = handle.read(4096)
        if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\x4c\x6f\xa7\x94")) or b"\x00" in head or (
                (declared := _ENCODING.match(head.removeprefix(b"\xef\xbb\xbf")))
                and declared.group(1).lower() not in (b"utf-8", b"utf8", b"us-ascii", b"ascii")):
            raise InputError([Issue(path.name, "xml encoding", "RDF/XML must be UTF-8", line=1)])
        handle.seek(0)
        carry, lines = b"", 0
        while True:
            block = handle.read(1 << 20)
            data = carry + block
            limit = len(data) - 8 if block else len(data)  # a match in the last bytes waits for more
            found = next((m for m in _DECLARATION.finditer(data) if m.start() < limit), None)
            if found:
                word = data[found.end():found.end() + 8].split(b" ")[0].split(b"\n")[0]
                raise InputError([Issue(path.name, "xml declaration",
                                        f"<!{word.decode('ascii', 'replace')} is refused: RDF/XML may not declare "
                                        "a DOCTYPE or entities (they can expand without limit or read files)",
                                        line=lines + data.count(b"\n", 0, found.start()) + 1)])
            if not block:
                return
            lines += data.count(b"\n", 0, max(limit, 0))
            carry = data[max(limit, 0):]


def _read_file(backend: Backend, path: Path, fmt: ox.RdfFormat, graph: ox.NamedNode, phase: str,
               progress: Progress) -> None:
    """Parse one RDF file into `graph` of `backend`; quads of any graph in the file go into `graph`."""
    with _reading(path, phase, progress) as stream:
        if fmt in _QUAD_FORMATS:
            backend.bulk_extend(ox.Quad(q.subject, q.predicate, q.object, graph)
                                for q in ox.parse(stream, format=fmt))
        else:
            backend.bulk_load(graph=graph, format=fmt, data=stream)


def _violation_issue(v: Violation, conversions: dict[str, Conversion], fallback: str) -> Issue:
    for conversion in conversions.values():
        if v.focus in conversion.locations:
            file, line = conversion.locations[v.focus]
            column = conversion.columns.get((file, v.path))
            value = v.value.value if isinstance(v.value, (ox.Literal, ox.NamedNode)) else None
            return Issue(file, v.component, v.message, line=line, field=column or curie(ox.NamedNode(v.path)), value=value,
                         focus=v.focus)
    return Issue(fallback, v.component, v.message, field=curie(ox.NamedNode(v.path)), focus=v.focus)


def _write(db: Database, files: list[tuple[Path, ox.RdfFormat]] | None, graph: ox.NamedNode,
           scratch: Database) -> None:
    """Bulk-load a source into `graph` of `db` (an unreferenced graph: not transactional, no need): Oxigraph
    parses `files` straight into the store, or (None: a file's own graphs had to be renamed) copies the scratch's."""
    if files is not None:
        for path, fmt in files:
            db.backend.bulk_load(graph=graph, format=fmt, path=path)
    else:
        db.backend.bulk_extend(scratch.backend.quads(graph))


class _Beside(threading.Thread):
    """A call run beside the staging thread (the disk write, the listeners' indexing), whose result or error
    :meth:`result` hands back. Oxigraph's parsing and queries run in Rust without the GIL, so on two cores the
    write, the validation and the indexing overlap."""

    def __init__(self, name: str, call: Callable[[], Any]) -> None:
        super().__init__(name=f"oversight-{name}", daemon=True)
        self.call = call
        self.value: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.value = self.call()
        except BaseException as exc:  # re-raised by the staging thread
            self.error = exc

    def result(self) -> Any:
        self.join()
        if self.error is not None:
            raise self.error
        return self.value


class _Feed:
    """N-Triples text written here is parsed into `graph` of each of `stores` as it is written (each a bulk load in a
    thread of its own, reading a named pipe): a converted folder is loaded as it is made, never held or written out
    whole. Text written once it is closed is dropped."""

    def __init__(self, folder: Path, stores: list[Backend], graph: ox.NamedNode) -> None:
        self.readers: list[_Beside] = []
        self.handles: list[IO[bytes]] = []
        try:
            for store in stores:
                fifo = folder / f"feed-{len(list(folder.iterdir()))}.nt"
                os.mkfifo(fifo, 0o600)
                reader = _Beside("reader", partial(store.bulk_load, graph=graph, format=ox.RdfFormat.N_TRIPLES,
                                                   path=fifo))
                reader.start()
                self.readers.append(reader)
                self.handles.append(_open_fifo(fifo, reader))
        except BaseException:
            self.close()
            raise

    def write(self, text: str) -> None:
        data = text.encode("utf-8")
        for handle in self.handles:
            handle.write(data)

    def close(self) -> None:
        """End the text (each parser then finishes); a parser that failed first closed its pipe, hence no error."""
        for handle in self.handles:
            with contextlib.suppress(OSError):
                handle.close()
        self.handles = []


def _named(progress: Progress, source: str, phase: str, done: int, total: int) -> None:
    progress(f"{source}: {phase}", done, total)


def _open_fifo(fifo: Path, reader: _Beside) -> IO[bytes]:
    """Open a named pipe for writing once `reader` has opened it to read (never waiting on a reader that died)."""
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # ENXIO: not opened for reading yet
                raise
            if not reader.is_alive():
                reader.result()  # its error
                raise OSError(errno.EPIPE, "the parser ended before reading") from None
            time.sleep(0.001)
    os.set_blocking(fd, True)
    return os.fdopen(fd, "wb", buffering=1 << 20)


def _stage(db: Database, source: SourceInput, progress: Progress, *, write: bool = True,
           alone: bool = False) -> _Staged:
    """Parse and validate `source` in a scratch in-memory store and, if `write`, bulk-load it into a
    new graph of `db` that no query reads until :meth:`Database.commit` names it.

    A tabular folder is converted to N-Triples (its cells checked) that Oxigraph parses into the scratch
    store and into `db` as it is written; at the first bad cell the parsers are stopped. RDF files are
    parsed into the scratch store first; once all of them are read (no syntax error), Oxigraph parses
    them into `db` on the second core while the scratch store is validated and indexed. Validating in
    memory is several times faster than on disk (Oxigraph's per-row index lookups); references to other
    sources are then confirmed against `db` (:func:`graph.ingest.validation.confirm`). If anything
    fails, the written graph is dropped.
    """
    run, run_node = run_iri(base=db.base_iri)
    graph = graph_iri(source.name, run, base=db.base_iri)
    scratch = Database(OxigraphBackend(None), base_iri=db.base_iri)
    install_ontology(scratch)
    conversions: dict[str, Conversion] = {}
    writer: _Beside | None = None
    indexer: _Beside | None = None
    beside: list[_Beside] = []  # every thread started: joined before the scratch store closes
    digest = checksum(source.paths)
    work = tempfile.TemporaryDirectory(prefix="oversight-load-")  # the named pipes
    formats = {path: None if path.is_dir() else _format(path) for path in source.paths}
    direct = write and not any(fmt in _QUAD_FORMATS for fmt in formats.values())  # else graphs renamed, in Python
    files: list[tuple[Path, ox.RdfFormat]] = []  # RDF files the disk store parses once every file is read
    pending: list[_Beside] = []  # the disk store's parse of each converted folder, running
    try:
        for path, fmt in formats.items():
            if fmt is None:  # a tabular folder: its N-Triples parsed by both stores as it is converted
                for parse in pending:
                    parse.result()  # one bulk load into the disk store at a time
                feed = _Feed(Path(work.name), [scratch.backend, db.backend] if direct else [scratch.backend], graph)
                beside += feed.readers
                try:  # at the first bad cell the feed closes: the parsers end, the disk store's graph is dropped
                    conversions[str(path)] = convert(path, base=db.base_iri, write=feed.write, stop=feed.close,
                                                     progress=partial(_named, progress, source.name))
                except BrokenPipeError:
                    feed.close()
                    for reader in feed.readers:
                        reader.result()  # why a parser stopped reading
                    raise
                finally:
                    feed.close()
                feed.readers[0].result()
                pending += feed.readers[1:]
                continue
            if fmt == ox.RdfFormat.RDF_XML:
                refuse_xml_declarations(path)
            try:
                _read_file(scratch.backend, path, fmt, graph, f"{source.name}: reading {path.name}", progress)
            except SyntaxError as exc:
                raise InputError([_syntax_issue(path, exc)]) from None
            except (OSError, ValueError) as exc:
                if is_disk_full(exc):
                    raise
                log.info("cannot read %s: %s", path, exc)
                raise InputError([Issue(path.name, "readable", f"cannot be read as {fmt.name}")]) from None
            files.append((path, fmt))
        if write:  # every file read: the disk store parses the rest beside validation (graphs renamed: copied)

            def write_rest() -> None:
                for parse in pending:
                    parse.result()  # one bulk load into the disk store at a time
                _write(db, files if direct else None, graph, scratch)

            writer = _Beside("writer", write_rest)
            # what is derived from the run (the linkage facts) is made from the scratch store, beside validation
            indexer = _Beside("indexer", lambda: [
                (listener, listener.staged(db, source.name, run_node.value, scratch.backend, graph, alone=alone))
                for listener in db.listeners])
            for thread in (writer, indexer):
                thread.start()
                beside.append(thread)
        phase = f"{source.name}: validating"
        violations = validate_graph(scratch.query, staging=graph, shapes=scratch.sources[ONTOLOGY_SOURCE].graph,
                                    context=[], step=lambda done, total: progress(phase, done, total))
        others = [rec.graph for name, rec in sorted(db.sources.items()) if name != source.name]
        violations = confirm(db.query, violations, context=others)
        if violations:
            fallback = source.paths[0].name
            raise InputError([_violation_issue(v, conversions, fallback) for v in violations],
                             f"{source.name}: {len(violations)} violation(s) of the shapes; nothing was loaded")
        triples = int(next(iter(scratch.query(internal("count-statements").text, graphs=[graph])))["statements"].value)
        heard: list[tuple[LoadListener, Any]] = []
        if indexer is not None:
            phase = f"{source.name}: " + ", ".join(listener.phase for listener in db.listeners)
            progress(phase, 0, 1)
            heard = indexer.result()
            progress(phase, 1, 1)
        if writer is not None:
            progress(f"{source.name}: writing", 0, 1)
            writer.result()
            progress(f"{source.name}: writing", 1, 1)
        if checksum(source.paths) != digest:  # what was written must be what was validated
            raise InputError([Issue(source.paths[0].name, "unchanged", "the input changed while it was being "
                                    "loaded; load it again once it is complete")])
        return _Staged(source, graph, run_node, digest, triples, heard)
    except BaseException:
        for thread in beside:
            thread.join()  # a bulk load cannot be cancelled: let it end, then drop what it wrote
        if write:
            _drop_staged(db, graph)
        raise
    finally:
        scratch.close()
        work.cleanup()


def _drop_staged(db: Database, graph: ox.NamedNode) -> None:
    """Drop a staged graph no query reads; if that fails too (a full disk), the next commit's or
    start's garbage collection drops it, and meanwhile it changes no answer."""
    try:
        db.backend.drop_graph(graph)
    except (OSError, StoreUnavailable) as exc:  # a full disk, or a SPARQL server that stopped answering
        db.needs_recovery = True
        log.warning("left an unreferenced staged graph for garbage collection: %s", exc)


#: Bytes a load writes per byte of a tabular folder (29 measured on Chicago: 56 MB of CSV, a 1.6 GB store).
TABULAR_GROWTH = 30


def room(db: Database, sources: Iterable[SourceInput], *, reserve: int) -> None:
    """Refuse a load the data volume has no room for, before anything is written.

    The estimate is what the load writes: three times an RDF file's bytes (the store's indexes, the
    linkage facts kept beside it) and :data:`TABULAR_GROWTH` times a tabular folder's (its minted IRIs
    are long), plus `reserve`, which keeps space for the small writes a commit and the audit log need.
    A store in memory is never refused. A load that fills the volume anyway fails with
    :class:`~graph.errors.StorageFull` and changes nothing.

    Parameters
    ----------
    db : Database
        The store; the free space is that of its backend's folder.
    sources : iterable of SourceInput
        What is to be loaded: the bytes of all their files count.
    reserve : int
        Bytes to keep free beyond the estimate (``DISK_RESERVE_BYTES``).

    Raises
    ------
    StorageFull
        Naming the free space and the estimate (never the path).
    """
    folder = getattr(db.backend, "path", None)
    if folder is None:
        return
    size = need = 0
    for path in (path for source in sources for path in source.paths):
        given = sum(p.stat().st_size for p in _files([path]))
        size += given
        need += (TABULAR_GROWTH if path.is_dir() else 3) * given
    need += reserve
    free = shutil.disk_usage(folder).free
    if free < need:
        raise StorageFull(f"the data volume has {free / 1e6:.0f} MB free; this load needs about {need / 1e6:.0f} MB "
                          f"(what it writes for its {size / 1e6:.1f} MB of input, and a reserve); nothing was loaded")


def _full(exc: BaseException) -> StorageFull:
    log.error("no space left during a load or removal: %s", exc)
    return StorageFull("No space left on device; nothing was changed: free some space on the data volume and "
                       "try again")


def load(db: Database, sources: list[SourceInput], *, user: str,
         progress: Progress = quiet, reserve: int = 0) -> list[LoadReport]:
    """Validate and load `sources`, all or nothing.

    Every source is staged and validated first; only if all are valid does one
    atomic commit make them current (replacing earlier loads of the same names).
    With `reserve`, a load the volume has no room for is refused first (:func:`room`).

    Parameters
    ----------
    db : Database
        The store.
    sources : list of SourceInput
        The sources to load (:func:`plan`).
    user : str
        Who loads them, recorded as each run's ``loaded_by``.
    progress : callable
        Told ``(phase, done, total)`` as the load goes (:data:`Progress`; default :func:`quiet`).
    reserve : int
        Bytes the volume must keep free beyond the estimate (:func:`room`); 0, the default, skips the check.

    Raises
    ------
    InputError
        With every issue found; the store is unchanged.
    StorageFull
        No room (before or during the load); the store is unchanged.
    """
    with db.write_lock:
        if reserve:
            room(db, sources, reserve=reserve)
        db.recover()
        staged: list[_Staged] = []
        try:
            for source in sources:
                staged.append(_stage(db, source, progress, alone=len(sources) == 1))
            replaced = set(db.sources)
            now = db.now()
            progress("committing", 0, 1)
            version = db.commit([
                RunRecord(run=s.run, source=s.source.name, graph=s.graph, loaded_at=now, loaded_by=user,
                          title=s.source.title, origin=s.source.origin, checksum=s.checksum,
                          licence=s.source.licence, triples=s.triples)
                for s in staged
            ])
            progress("committing", 1, 1)
            for s in staged:
                for listener, token in s.heard:
                    listener.committed(db, s.run.value, token)
                log.info("loaded source %s: %d statements; data version %s", s.source.name, s.triples, version)
        except BaseException as exc:
            for s in staged:
                if s.graph not in db.graphs:
                    _drop_staged(db, s.graph)
            if is_disk_full(exc):
                db.needs_recovery = True
                raise _full(exc) from None
            raise
    return [LoadReport(s.source.name, s.triples, s.checksum, source_graph(s.source.name, base=db.base_iri).value,
                       s.source.name in replaced, version)
            for s in staged]


def validate(db: Database, sources: list[SourceInput], *, progress: Progress = quiet) -> list[LoadReport]:
    """Check `sources` as :func:`load` would, without loading them.

    Writes nothing, so it works on a read-only store and while a service holds the store.

    Parameters
    ----------
    db : Database
        The store: references to what its current sources describe are valid.
    sources : list of SourceInput
        The sources to check (:func:`plan`), each on its own.
    progress : callable
        Told ``(phase, done, total)`` as the check goes (default :func:`quiet`).
    """
    reports = []
    for source in sources:
        staged = _stage(db, source, progress, write=False)
        reports.append(LoadReport(source.name, staged.triples, staged.checksum, source_graph(source.name, base=db.base_iri).value,
                                  source.name in db.sources))
    return reports


def delete(db: Database, name: str, *, user: str) -> str:
    """Remove the source `name` (one atomic commit); return the new data version.

    Parameters
    ----------
    db : Database
        The store.
    name : str
        The source to remove (never the ontology's).
    user : str
        Who removes it, recorded as the deletion run's ``loaded_by``.

    Raises
    ------
    NotFound
        When no source has that name.
    """
    with db.write_lock:
        if name not in db.sources or name == ONTOLOGY_SOURCE:
            raise NotFound(f"no source named {name!r}")
        db.recover()
        run, run_node = run_iri(base=db.base_iri)
        try:
            return db.commit([RunRecord(run=run_node, source=name, graph=db.sources[name].graph,
                                        loaded_at=db.now(), loaded_by=user, is_deletion=True)])
        except OSError as exc:
            if is_disk_full(exc):
                raise _full(exc) from None
            raise


def install_ontology(db: Database) -> bool:
    """Load the packaged ontology and shapes as the built-in source ``ontology`` if they changed.

    Returns True when it (re)loaded them. Skipped on a read-only store.
    """
    text = (turtle("oversight.ttl") + "\n" + turtle("shapes.ttl")).encode()
    digest = "sha256:" + hashlib.sha256(text).hexdigest()
    current = db.sources.get(ONTOLOGY_SOURCE)
    if (current is not None and current.checksum == digest) or db.backend.is_read_only:
        return False
    with db.write_lock:
        run, run_node = run_iri(base=db.base_iri)
        graph = graph_iri(ONTOLOGY_SOURCE, run, base=db.base_iri)
        try:
            for name in ("oversight.ttl", "shapes.ttl"):
                db.backend.bulk_load(graph=graph, format=ox.RdfFormat.TURTLE, data=turtle(name).encode())
            triples = sum(1 for _ in db.backend.quads(graph))
            db.commit([RunRecord(run=run_node, source=ONTOLOGY_SOURCE, graph=graph, loaded_at=db.now(),
                                 loaded_by="oversight", title="oversight-graph ontology and shapes",
                                 origin="package:ontology", checksum=digest, triples=triples,
                                 licence="CC-BY-4.0")])
        except BaseException:
            db.backend.drop_graph(graph)
            raise
    return True
