"""SPARQL evaluation in confined, killable worker processes: the one path every user query takes.

The endpoint, the saved queries, query exports, ``/sparql/update`` and ``oversight query`` all
hand a :class:`Job` to a :class:`Pool`. A worker is a process forked from a single-threaded fork
server (so it starts in milliseconds with rdflib and pyoxigraph already imported); it confines
itself first (:func:`graph.sparql.sandbox.confine`: no network, bounded memory and output), then, for
each job, opens the job's store read-only (a checkpoint of the service's store: see
:mod:`graph.store.snapshots`), checks the text with :mod:`graph.sparql.engine` (the parse happens here, so a
slow parse is bounded by the time limit and holds no lock in the service), evaluates it and
writes the results to the job's output file.

The service waits at most the time limit for the answer; past it the worker is killed
(``SIGKILL``) and replaced at the next demand, so a runaway stops within moments of its limit
and frees its place. When every place is taken a request is refused at once
(:class:`graph.errors.Saturated`, a 503 with ``Retry-After``) instead of holding a server thread;
one client may hold at most ``per_client`` places (:class:`graph.errors.ClientBusy`, a 429).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from graph.errors import (
    BadParameter,
    ClientBusy,
    EvaluationFailed,
    OversightError,
    SandboxRefused,
    Saturated,
    TimeLimit,
)
from graph.sparql import sandbox as _sandbox

__all__ = ["Job", "Outcome", "Pool"]

log = logging.getLogger(__name__)

# The service and the fork server (which imports this module first) hold tokens, keys and the store:
# no worker may read their memory (graph.sparql.sandbox.undumpable).
_sandbox.undumpable()

#: How long a new worker may take to report that it is confined and ready.
_START_SECONDS = 60.0


@dataclass(frozen=True)
class Job:
    """One query or update, with everything the worker needs (picklable: terms are pyoxigraph's).

    Attributes
    ----------
    kind : str
        ``query`` (SELECT, ASK, CONSTRUCT, DESCRIBE) or ``update`` (applied to a scratch copy of
        ``update_graph``, the result written as N-Triples).
    store : str
        Folder of the store to open read-only, or :data:`graph.store.remote.FORWARDED` (the store is a SPARQL
        server: the worker has no network, so it hands the checked query back to the service, which forwards it
        and gives the worker the raw answer to write).
    graphs : tuple of str
        The current source graphs: the default dataset is their union, plus ``meta`` as a named graph.
    results_media, graph_media : str or None
        The negotiated media type for SELECT/ASK and for CONSTRUCT/DESCRIBE results (None: the
        client accepts none; the worker then only reports the form).
    checked : bool
        False skips :mod:`graph.sparql.engine`'s checks: for the test that proves the sandbox alone holds.
    base_iri : str
        Relative IRIs in the text resolve against it (empty: no base, and relative IRIs are refused).
    """

    kind: str
    text: str
    store: str
    graphs: tuple[str, ...]
    meta: str
    output: str
    default_uris: tuple[str, ...] = ()
    named_uris: tuple[str, ...] = ()
    bindings: dict[str, Any] = field(default_factory=dict)
    results_media: str | None = None
    graph_media: str | None = None
    rows: int = 100_000
    update_graph: str | None = None
    checked: bool = True
    base_iri: str = ""
    names: tuple[str, ...] = ()  # the stable names of `graphs`, in their order (graph.sparql.names)
    seconds: float = 0.0  # set by Pool.run: the processor time the job may take (RLIMIT_CPU)


@dataclass(frozen=True)
class Outcome:
    """What a job produced: its form, the media type written to the output file, rows and truncation."""

    form: str
    media: str | None
    rows: int = 0
    truncated: bool = False


class _Worker:
    def __init__(self, context: Any, limits: dict[str, int]) -> None:
        ours, theirs = context.Pipe(duplex=True)
        self.process = context.Process(target=_main, args=(theirs, limits), name="oversight-sparql", daemon=True)
        self.process.start()
        theirs.close()
        self.conn: Connection = ours
        self.confinement: dict[str, Any] = {}
        self.store: str | None = None  # the checkpoint its last job read (it keeps it open)
        self._killed = False
        self._kill_lock = threading.Lock()

    def ready(self, timeout: float) -> dict[str, Any]:
        try:
            if not self.conn.poll(timeout):
                raise EvaluationFailed("a query worker did not start in time")
            status, detail = self.conn.recv()
        except (EOFError, OSError):
            raise EvaluationFailed("a query worker could not start") from None
        if status != "ready":
            raise SandboxRefused(f"a query worker could not confine itself: {detail}")
        self.confinement = detail
        return detail

    def kill(self) -> None:
        """Kill the process and close the connection, once (shutdown and a request may race here)."""
        with self._kill_lock:
            if self._killed:
                return
            self._killed = True
        try:
            if self.process.pid is not None:
                os.kill(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.join(timeout=5)
        self.conn.close()

    @property
    def alive(self) -> bool:
        return self.process.is_alive()


class Pool:
    """Up to `size` confined worker processes, started on demand and reused.

    Parameters
    ----------
    size : int
        Most jobs running at once.
    per_client : int
        Most jobs one client (a token, or an address) may have running at once.
    memory_bytes, output_bytes : int
        Each worker's ``RLIMIT_DATA`` and ``RLIMIT_FSIZE`` (:func:`graph.sparql.sandbox.confine`).
    require_sandbox : bool
        Refuse to run jobs on a worker that could not install its seccomp filter.
    """

    def __init__(self, size: int, *, per_client: int | None = None, memory_bytes: int = 4 << 30,
                 output_bytes: int = 1 << 30, require_sandbox: bool = True) -> None:
        self.size, self.per_client = size, per_client or size
        self._limits = {"memory_bytes": memory_bytes, "output_bytes": output_bytes,
                        "require_sandbox": int(require_sandbox)}
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["graph.sparql.workers", "graph.sparql.engine", "pyoxigraph"])
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._starting = 0  # places reserved by requests whose worker is being started
        self._clients: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._closed = False
        self.confinement: dict[str, Any] = {}

    def _take(self, client: str, store: str) -> _Worker | None:
        """An idle worker (one that has `store` open if there is one), or None when one must be started.

        Either way the place is taken: idle + busy + starting never exceeds :attr:`size`.
        """
        with self._lock:
            if self._closed:
                raise Saturated(5)
            if self._clients[client] >= self.per_client:
                raise ClientBusy(self.per_client)
            for worker in [w for w in self._idle if not w.alive]:
                self._idle.remove(worker)
                worker.kill()
            if not self._idle and len(self._busy) + self._starting >= self.size:
                raise Saturated(1)
            self._clients[client] += 1
            if not self._idle:
                self._starting += 1
                return None
            warm = [w for w in self._idle if w.store == store]
            worker = warm[-1] if warm else self._idle[-1]
            self._idle.remove(worker)
            self._busy.add(worker)
            return worker

    def _give_back(self, worker: _Worker | None, client: str, *, healthy: bool, store: str) -> None:
        stale: list[_Worker] = []
        with self._lock:
            self._clients[client] -= 1
            if self._clients[client] <= 0:
                del self._clients[client]
            if worker is None:
                return
            self._busy.discard(worker)
            if healthy and not self._closed:
                worker.store = store
                self._idle.append(worker)
                # idle workers that still hold an older checkpoint would keep its files (deleted, but
                # open) for as long as they idle: let them go, they start again in milliseconds
                stale = [w for w in self._idle if w.store != store]
                for w in stale:
                    self._idle.remove(w)
            else:
                stale = [worker]
        for w in stale:
            w.kill()

    def run(self, job: Job, *, timeout: float, client: str = "", forward: Any = None) -> Outcome:
        """Run `job` on a worker within `timeout` seconds.

        `forward` is the store's :meth:`graph.store.remote.SparqlBackend.forward`, for a job whose store is
        :data:`graph.store.remote.FORWARDED`: the worker's checked query runs on the store through it.

        Raises
        ------
        BadParameter
            The text was refused by the checks, or names graphs that are not this service's.
        Saturated, ClientBusy
            No place for it now (nothing ran).
        TimeLimit
            It ran past `timeout`; the worker was killed.
        EvaluationFailed
            The engine failed on it (or the worker died).
        SandboxRefused
            A worker could not be confined.
        """
        worker = self._take(client, job.store)
        healthy = False
        answers: list[str] = []  # the store's raw answers to forwarded queries, removed at the end
        try:
            if worker is None:
                try:
                    worker = _Worker(self._context, self._limits)
                finally:
                    with self._lock:
                        self._starting -= 1
                        if worker is not None:
                            self._busy.add(worker)
                self.confinement = worker.ready(_START_SECONDS)
            started = time.monotonic()
            deadline = started + timeout
            worker.conn.send(replace(job, seconds=timeout))
            while True:
                if not worker.conn.poll(max(deadline - time.monotonic(), 0)):
                    log.info("query stopped at its time limit (%.1f s)", time.monotonic() - started)
                    raise TimeLimit(f"the query ran longer than {timeout:g} s and was stopped")
                try:
                    status, *detail = worker.conn.recv()
                except (EOFError, OSError):
                    raise EvaluationFailed("the query's worker stopped: it may have needed more memory than a query "
                                           "may take (OVERSIGHT_SPARQL_WORKER_MEMORY), or the service is stopping") from None
                if status != "forward":
                    break
                worker.conn.send(self._forward(forward, detail, deadline, answers))
            healthy = True
        finally:
            for answer in answers:
                with contextlib.suppress(OSError):
                    os.unlink(answer)
            self._give_back(worker, client, healthy=healthy, store=job.store)
        if status == "ok":
            return Outcome(*detail)
        if status == "bad":
            parameter, message, accepted = detail
            raise BadParameter(parameter, message, accepted)
        raise EvaluationFailed(detail[0])

    def _forward(self, forward: Any, detail: list[Any], deadline: float, answers: list[str]) -> tuple[Any, ...]:
        """Run a worker's checked query on the store (it has no network) into a scratch file it then reads."""
        text, default, named = detail
        if forward is None:
            return ("failed", "this store's queries cannot be forwarded")
        handle, path = tempfile.mkstemp(prefix="oversight-forward-")
        os.close(handle)
        answers.append(path)
        try:
            media = forward(text, default, named, path, timeout=max(deadline - time.monotonic(), 0.1),
                            max_bytes=self._limits["output_bytes"])
        except SyntaxError:
            return ("syntax", "the store could not parse the query")
        except TimeoutError:
            return ("failed", "the store did not answer within the query's time limit")
        except OSError:
            return ("large", "")
        except OversightError as exc:  # StoreUnavailable: its message is the service's own
            return ("failed", str(exc))
        return ("forwarded", path, media)

    def close(self) -> None:
        """Kill every worker, running or idle (at shutdown; running jobs end as EvaluationFailed)."""
        with self._lock:
            self._closed = True
            workers = [*self._idle, *self._busy]
            self._idle.clear()
        for worker in workers:
            worker.kill()


# --------------------------------------------------------------------------- inside a worker
def _main(conn: Connection, limits: dict[str, int]) -> None:
    from graph.sparql.sandbox import SandboxUnavailable, confine

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the service's to handle
    try:
        confinement = confine(memory_bytes=limits["memory_bytes"], output_bytes=limits["output_bytes"]).as_dict()
    except SandboxUnavailable as exc:
        if limits["require_sandbox"]:
            conn.send(("refused", str(exc)))
            return
        confinement = {"seccomp": False, "network_namespace": False}
    conn.send(("ready", confinement))
    opened: tuple[str, Any] | None = None
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        _cpu_budget(job.seconds)
        try:
            if opened is None or opened[0] != job.store:
                opened = None  # the old store is closed before the new one opens
                opened = (job.store, _open(job.store, conn))
            reply: tuple[Any, ...] = ("ok", *_evaluate(opened[1], job))
        except BadParameter as exc:
            reply = ("bad", exc.parameter, exc.message, exc.accepted)
        except _Relayed as exc:
            reply = ("failed", str(exc))
        except OSError as exc:
            import errno

            too_large = exc.errno == errno.EFBIG or (Path(job.output).exists()
                                                     and Path(job.output).stat().st_size >= limits["output_bytes"])
            reply = ("failed", "the results are larger than this service's limit (OVERSIGHT_SPARQL_MAX_BYTES)"
                     if too_large else "the store could not be read")
        except MemoryError:
            reply = ("failed", "the query needed more memory than a query may take (OVERSIGHT_SPARQL_WORKER_MEMORY)")
        except Exception:  # noqa: BLE001 - engine text may quote data or addresses: never relayed
            reply = ("failed", "the query could not be evaluated on this data")
        conn.send(reply)


def _open(store: str, conn: Connection) -> Any:
    """The store a job reads: a checkpoint opened read-only, or the service's remote store through `conn`."""
    import pyoxigraph as ox

    from graph.store.remote import FORWARDED

    return _Forwarded(conn) if store == str(FORWARDED) else ox.Store.read_only(store)


class _Relayed(Exception):
    """The service could not run a forwarded query: its message (the service's own) is the job's failure."""


class _Forwarded:
    """The store, for a worker whose service keeps it on a SPARQL server: the part of pyoxigraph's ``Store`` the
    jobs use, each query sent to the service (which holds the network) and its answer read from the file the
    service wrote it to."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def query(self, text: str, *, default_graph: Any = None, named_graphs: Any = None, prefixes: Any = None,
              base_iri: str | None = None, substitutions: Any = None) -> Any:
        import errno

        import pyoxigraph as ox

        from graph.store.remote import graph_format_for, prepare, results_format_for

        text = prepare(text, prefixes=prefixes, base_iri=base_iri,
                       substitutions={v.value: str(t) for v, t in (substitutions or {}).items()})
        self.conn.send(("forward", text, [g.value for g in default_graph or ()],
                        [g.value for g in named_graphs or ()]))
        status, *detail = self.conn.recv()
        if status == "syntax":
            raise SyntaxError(detail[0])
        if status == "large":
            raise OSError(errno.EFBIG, "the store's answer is too large")
        if status != "forwarded":
            raise _Relayed(detail[0])
        path, media = detail
        results, graph = results_format_for(media), graph_format_for(media)
        if results is not None:
            return ox.parse_query_results(path=path, format=results)
        if graph is not None:
            return (ox.Triple(q.subject, q.predicate, q.object) for q in ox.parse(path=path, format=graph))
        raise _Relayed("the store answered in a format this service does not read")

    def quads_for_pattern(self, subject: Any, predicate: Any, obj: Any, graph: Any) -> Any:
        import pyoxigraph as ox

        triples = self.query("CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }", default_graph=[graph], named_graphs=[])
        return (ox.Quad(t.subject, t.predicate, t.object, graph) for t in triples)


def _cpu_budget(seconds: float) -> None:
    """Let this job use `seconds` more of the processor (and a margin), then be killed by the kernel.

    The service kills a worker at its time limit; this bounds a worker whose service died
    (``kill -9``, out of memory) and can no longer kill it.
    """
    import resource

    if seconds <= 0:
        return
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(usage.ru_utime + usage.ru_stime + seconds) + 5
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _evaluate(store: Any, job: Job) -> tuple[str, str | None, int, bool]:
    from graph.sparql import engine as sparql

    if job.kind == "update":
        return sparql.run_update(store, job)
    return sparql.run_query(store, job)
