"""Ingest: stage each source into a fresh graph, validate it, then commit all sources at once.

Formats: Turtle, TriG, N-Triples, N-Quads, JSON-LD (parsed by Oxigraph, which
never fetches a remote ``@context``), RDF/XML (without a DOCTYPE: no entity can be
declared, see :func:`refuse_xml_declarations`) and the tabular CSV folder
(:mod:`graph.ingest.converter`). Quads of TriG, N-Quads and JSON-LD named graphs all
go into the source's own graph.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import re
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pyoxigraph as ox

from graph.errors import InputError, Issue, NotFound, StorageFull, is_disk_full
from graph.ingest.converter import Conversion, convert, is_tabular
from graph.ingest.validation import Violation, confirm, curie, validate_graph
from graph.iri import graph_iri, run_iri, source_name_problem
from graph.queries import internal
from graph.store.backend import Backend, OxigraphBackend
from graph.store.database import ONTOLOGY_SOURCE, Database, LoadListener, RunRecord
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
    graph: str
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


def _read_file(backend: Backend, path: Path, graph: ox.NamedNode, phase: str, progress: Progress) -> None:
    """Parse one RDF file into `graph` of `backend`; quads of any graph in the file go into `graph`."""
    fmt = _format(path)
    assert fmt is not None  # plan() refused other files
    if fmt == ox.RdfFormat.RDF_XML:
        refuse_xml_declarations(path)
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


def _write(db: Database, source: SourceInput, graph: ox.NamedNode, scratch: Database) -> None:
    """Bulk-load a parsed source into `graph` of `db` (an unreferenced graph: not transactional, no need)."""
    if all(path.is_file() and _format(path) not in _QUAD_FORMATS for path in source.paths):
        for path in source.paths:  # fastest: Oxigraph parses straight into the store
            db.backend.bulk_load(graph=graph, format=_format(path), path=path)  # type: ignore[arg-type]
    else:
        db.backend.bulk_extend(scratch.backend.quads(graph))


class _Writer(threading.Thread):
    """:func:`_write` on a second core while the main thread validates (both run in Rust, without the GIL)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(name="oversight-writer", daemon=True)
        self.args = args
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            _write(*self.args)
        except BaseException as exc:  # re-raised by the staging thread
            self.error = exc


def _stage(db: Database, source: SourceInput, progress: Progress, *, write: bool = True,
           alone: bool = False) -> _Staged:
    """Parse and validate `source` in a scratch in-memory store and, if `write`, bulk-load it into a
    new graph of `db` that no query reads until :meth:`Database.commit` names it.

    Validating in memory is several times faster than on disk (Oxigraph's
    per-row index lookups); references to other sources are then confirmed
    against `db` (:func:`graph.ingest.validation.confirm`). The disk write runs
    beside validation; if validation fails, the written graph is dropped.
    """
    run, run_node = run_iri(base=db.base_iri)
    graph = graph_iri(source.name, run, base=db.base_iri)
    scratch = Database(OxigraphBackend(None), base_iri=db.base_iri)
    install_ontology(scratch)
    conversions: dict[str, Conversion] = {}
    writer: _Writer | None = None
    digest = checksum(source.paths)
    try:
        for path in source.paths:
            phase = f"{source.name}: reading {path.name}"
            if path.is_dir():
                progress(phase, 0, 1)
                # quads (a graph is given), handed to the scratch store in batches as they are made
                conversions[str(path)] = convert(path, base=db.base_iri, graph=graph, sink=scratch.backend.bulk_extend)
                progress(phase, 1, 1)
            else:
                try:
                    _read_file(scratch.backend, path, graph, phase, progress)
                except SyntaxError as exc:
                    raise InputError([_syntax_issue(path, exc)]) from None
                except (OSError, ValueError) as exc:
                    log.info("cannot read %s: %s", path, exc)
                    kind = _format(path)
                    raise InputError([Issue(path.name, "readable",
                                            f"cannot be read as {kind.name if kind else 'RDF'}")]) from None
        if write:
            writer = _Writer(db, source, graph, scratch)
            writer.start()
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
        if write:  # beside the disk write: what is derived from the run (the linkage facts) is made from the scratch store
            for listener in db.listeners:
                progress(f"{source.name}: {listener.phase}", 0, 1)
                heard.append((listener, listener.staged(db, source.name, run_node.value, scratch.backend, graph,
                                                        alone=alone)))
                progress(f"{source.name}: {listener.phase}", 1, 1)
        if writer is not None:
            progress(f"{source.name}: writing", 0, 1)
            writer.join()
            if writer.error is not None:
                raise writer.error
            progress(f"{source.name}: writing", 1, 1)
        if checksum(source.paths) != digest:  # what was written must be what was validated
            raise InputError([Issue(source.paths[0].name, "unchanged", "the input changed while it was being "
                                    "loaded; load it again once it is complete")])
        return _Staged(source, graph, run_node, digest, triples, heard)
    except BaseException:
        if writer is not None:
            writer.join()  # a bulk load cannot be cancelled: let it end, then drop what it wrote
            _drop_staged(db, graph)
        raise
    finally:
        scratch.close()


def _drop_staged(db: Database, graph: ox.NamedNode) -> None:
    """Drop a staged graph no query reads; if that fails too (a full disk), the next commit's or
    start's garbage collection drops it, and meanwhile it changes no answer."""
    try:
        db.backend.drop_graph(graph)
    except OSError as exc:
        db.needs_recovery = True
        log.warning("left an unreferenced staged graph for garbage collection: %s", exc)


def room(db: Database, sources: Iterable[SourceInput], *, reserve: int) -> None:
    """Refuse a load the data volume has no room for, before anything is written.

    The estimate is about three times the inputs' bytes (the store's indexes, the linkage facts
    kept beside it) plus `reserve`, which keeps space for the small writes a commit and the audit
    log need. A store in memory is never refused. A load that fills the volume anyway fails with
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
    size = sum(path.stat().st_size for source in sources for path in _files(source.paths))
    need = 3 * size + reserve
    free = shutil.disk_usage(folder).free
    if free < need:
        raise StorageFull(f"the data volume has {free / 1e6:.0f} MB free; this load needs about {need / 1e6:.0f} MB "
                          f"(three times its {size / 1e6:.1f} MB of input, and a reserve); nothing was loaded")


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
    return [LoadReport(s.source.name, s.triples, s.checksum, s.graph.value, s.source.name in replaced, version)
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
        reports.append(LoadReport(source.name, staged.triples, staged.checksum, staged.graph.value,
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
