"""The facts of each data version, built once and kept: in memory, and per ingest run in a file beside the store.

A load folds its run's pairs from its scratch store while its disk write runs (:data:`LISTENER`, a
:class:`~graph.store.database.LoadListener`) and prepares the next version's facts; a restart reads
each run's saved file instead of the store; :func:`facts` builds what neither provides, holding a pin.
"""

from __future__ import annotations

import contextlib
import logging
import marshal
import os
import threading
from pathlib import Path

import pyoxigraph as ox

from graph.iri import local_id
from graph.linkage.facts.accessor import Facts
from graph.linkage.facts.pairs import PREDICATES, VOCABULARY, Folded, read_run
from graph.store import heap
from graph.store.backend import Backend
from graph.store.database import ONTOLOGY_SOURCE, Database
from graph.store.derived import Kind

__all__ = ["LISTENER", "facts", "seed", "warm", "prepare", "save_run"]

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- cache
_MAGIC = b"OVFACTS3\n"  # a run's folded pairs: marshal (uncompressed: zlib took a third of a restart's read)
_DERIVED = "oversight-derived"


def _saved_path(db: Database, run: str) -> Path | None:
    folder = getattr(db.backend, "path", None)
    return None if folder is None else Path(folder) / _DERIVED / f"{local_id(run)}.facts"


def save_run(db: Database, run: str, folded: Folded) -> None:
    """Keep the folded pairs of ingest run `run` beside an on-disk store, so a restart need not read them from it.

    A run's graph never changes once written, so the file never goes stale; files of runs that are no
    longer current are removed when the facts are next built. Failing to write is logged, not raised.

    Parameters
    ----------
    db : Database
        The store; nothing is kept for a store in memory or one opened read-only.
    run : str
        The run's IRI (the file is named by its local id).
    folded : dict
        The run's folded pairs (:func:`fold_pairs`).
    """
    target = _saved_path(db, run)
    if target is None or db.backend.is_read_only:
        return
    try:
        target.parent.mkdir(exist_ok=True)
        partial = target.with_suffix(".partial")
        partial.write_bytes(_MAGIC + marshal.dumps(folded))
        os.replace(partial, target)
    except OSError as exc:
        log.warning("cannot keep the linkage facts of run %s beside the store: %s", local_id(run), exc.strerror)
        with contextlib.suppress(OSError, UnboundLocalError):
            partial.unlink(missing_ok=True)  # a full disk: leave no half-written file taking space


def _read_saved(db: Database, run: str) -> Folded | None:
    target = _saved_path(db, run)
    if target is None or not target.is_file():
        return None
    try:
        data = target.read_bytes()
        folded = marshal.loads(memoryview(data)[len(_MAGIC):]) if data.startswith(_MAGIC) else None
    except (OSError, ValueError, EOFError, TypeError):
        folded = None
    if (not isinstance(folded, dict) or set(folded) != {*PREDICATES, *VOCABULARY, "type"}  # damaged, or another version's
            or not all(isinstance(values, dict) for values in folded.values())):
        log.info("ignoring the saved linkage facts of run %s", local_id(run))
        return None
    return folded


def _forget_saved(db: Database, runs: set[str]) -> None:
    folder = getattr(db.backend, "path", None)
    if folder is None or db.backend.is_read_only or not (Path(folder) / _DERIVED).is_dir():
        return
    keep = {f"{local_id(run)}.facts" for run in runs}
    for path in (Path(folder) / _DERIVED).iterdir():
        if path.name not in keep:
            path.unlink(missing_ok=True)


def _remember(db: Database, run: str, folded: Folded) -> None:
    """Keep the folded pairs of `run` in memory for the next fold, unless a file beside the store holds them: they
    take about as much memory as the facts themselves, and a fold is rare (a load of another source)."""
    target = _saved_path(db, run)
    if target is None or not target.is_file():
        db.derived.put(Kind.RUN, run, None, folded)


def _run(db: Database, run: str, graph: ox.NamedNode) -> Folded:
    found = db.derived.get(Kind.RUN, run) or _read_saved(db, run)
    if found is None:
        found = read_run(db.backend, graph)
        save_run(db, run, found)
    return found


def prepare(db: Database, source: str, run: str, folded: Folded) -> Facts:
    """The facts the data will have once run `run` of `source` is committed: its pairs folded with those
    of the other current sources. A load builds them while its disk write runs (see :func:`seed`).

    Parameters
    ----------
    db : Database
        The store: the runs of its current sources are folded with the new one.
    source : str
        The source being loaded; its current run, if any, is left out (the new run replaces it).
    run : str
        The new run's IRI.
    folded : dict
        The new run's folded pairs (:func:`read_run` of the load's scratch store).
    """
    _, sources = db.current()
    parts = {rec.run: _run(db, rec.run, rec.graph) for name, rec in sorted(sources.items())
             if name not in (ONTOLOGY_SOURCE, source)}
    parts[run] = folded
    return Facts.merge("pending", list(parts.values()), runs=frozenset(parts))


def seed(db: Database, run: str, folded: Folded, prepared: Facts | None = None) -> None:
    """After a commit: remember the folded pairs a load read from its fast scratch store (see
    :func:`_remember`), and install the facts it prepared if they are those of the version now current.

    Parameters
    ----------
    db : Database
        The store, just committed.
    run : str
        The IRI of the run the load committed.
    folded : dict
        Its folded pairs.
    prepared : Facts, optional
        What :func:`prepare` built for the load (a load of one source): installed only if the current
        sources' runs are exactly those it was built from.
    """
    _remember(db, run, folded)
    version, sources = db.current()
    runs = {r.run for n, r in sources.items() if n != ONTOLOGY_SOURCE}
    if prepared is not None and prepared.runs == runs:
        prepared.version = version
        _install(db, prepared, {})


def _install(db: Database, built: Facts, parts: dict[str, Folded]) -> None:
    """Make `built` the facts of its version; forget what belongs to other versions and runs.

    Facts of a version that a commit has already replaced are not kept (they would evict the newer).
    """
    if built.version != db.data_version:
        return
    if db.derived.keep(built.version, built.runs):
        heap.dropped()
    for run, folded in parts.items():
        _remember(db, run, folded)
    db.derived.put(Kind.FACTS, built.version, None, built)
    if db.write_lock.acquire(blocking=False):  # never while another thread loads: its new file would go
        try:
            _forget_saved(db, set(built.runs))
        finally:
            db.write_lock.release()


class _Indexer:
    """Hears of loads (:class:`~graph.store.database.LoadListener`): folds each new run's pairs from the load's fast
    scratch store (beside its validation) and, for a load of one source, prepares the next version's facts, so
    the first question after a load is fast; once the run is committed, saves its pairs beside the store."""

    phase = "indexing for linkage"

    def staged(self, db: Database, source: str, run: str, staged: Backend, graph: ox.NamedNode, *,
               alone: bool) -> tuple[Folded, Facts | None]:
        with heap.building():
            folded = read_run(staged, graph)
            return folded, prepare(db, source, run, folded) if alone else None

    def committed(self, db: Database, run: str, token: tuple[Folded, Facts | None]) -> None:
        save_run(db, run, token[0])  # only now: a refused run leaves no file
        seed(db, run, *token)


#: The listener :func:`graph.open_database` adds to every database it opens.
LISTENER = _Indexer()


def warm(db: Database) -> threading.Thread:
    """Build the current :class:`Facts` in a background thread (after a load, at start-up)."""

    def build() -> None:
        try:
            facts(db)
        except Exception:  # a store closed under it at shutdown: the next request builds instead
            log.debug("warming the facts failed", exc_info=True)

    thread = threading.Thread(target=build, name="oversight-facts", daemon=True)
    thread.start()
    return thread


def facts(db: Database) -> Facts:
    """The :class:`Facts` of the data version current now (built at most once per version).

    Building holds a lock that only other builders wait for; a request that
    already holds a :class:`Facts` keeps reading it. Each run's folded pairs come
    from memory, else from the file a load saved beside the store, else from the store.
    """
    found: Facts | None = db.derived.get(Kind.FACTS, db.data_version)
    if found is not None:
        return found
    with db.pin() as pin:  # the graphs read stay, even if a commit replaces them meanwhile

        def build() -> Facts:
            runs = {rec.run: rec for name, rec in sorted(pin.sources.items()) if name != ONTOLOGY_SOURCE}
            with heap.building():
                parts = {run: _run(db, run, record.graph) for run, record in runs.items()}
                built = Facts.merge(pin.version, list(parts.values()), runs=frozenset(runs))
            _install(db, built, parts)
            log.debug("facts for data version %s: %d subjects", pin.version, len(built.types))
            return built

        return db.derived.get_or_build(Kind.FACTS, pin.version, None, build, keep=lambda: False)  # _install keeps
