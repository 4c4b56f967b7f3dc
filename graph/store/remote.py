"""The remote store: any SPARQL 1.1 server (Oxigraph server, Virtuoso...) through the Protocol, as a :class:`Backend`.

The primitives the database is written on (:mod:`graph.store.backend`) map onto the SPARQL 1.1 Protocol, the
Update language and, where the server offers one, the Graph Store Protocol:

* queries go to the query endpoint with their dataset as ``default-graph-uri`` / ``named-graph-uri``, so a query
  reads only the graphs it is given; results are parsed by pyoxigraph as they arrive (JSON, XML, TSV or CSV
  results; N-Triples, Turtle or RDF/XML graphs), so callers iterate them exactly as the embedded store's;
* a bulk load into a fresh graph is one Graph Store ``POST`` (streamed from the file), or ``INSERT DATA`` in
  chunks where there is no Graph Store endpoint (blank nodes are then given stable ``/.well-known/genid/`` IRIs,
  which is how RDF 1.1 says to keep them across requests); no query reads that graph until the commit;
* ``extend`` (the commit) is one ``INSERT DATA`` request: a SPARQL Update request is atomic on the servers tested
  (Oxigraph server, Virtuoso), so a commit lands whole or not at all;
* graphs go with ``DROP SILENT GRAPH``, statements with ``DELETE DATA``.

The store is :attr:`SparqlBackend.shared`: other service instances may write it, so the database re-reads which
runs are current (:meth:`graph.store.database.Database.refresh`) and never drops a graph another instance may be
writing or reading (see :meth:`graph.store.database.Database.collect_garbage`).

Queries on ``/sparql`` run as on the embedded store, checked in a confined worker that has no network; the worker
hands the checked text back, and the service forwards it (:meth:`SparqlBackend.forward`) and gives the worker
the raw answer to write (:mod:`graph.sparql.workers`).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode

import pyoxigraph as ox
import urllib3

from graph.errors import StoreUnavailable
from graph.iri import EMPTY_GRAPH

__all__ = ["SparqlBackend", "RemoteError", "FORWARDED", "prepare", "query_form", "graph_format_for", "results_format_for"]

log = logging.getLogger(__name__)

#: What a remote store's "checkpoint" is: the workers forward their queries (:mod:`graph.sparql.workers`).
FORWARDED = Path("(forwarded to the remote store)")

# By the query's form: a server given both kinds may answer a CONSTRUCT with a results table (Virtuoso does)
# XML first: Virtuoso writes it 4x faster than JSON (6.8 s against 28.9 s for 330,000 rows)
_ACCEPT_RESULTS = "application/sparql-results+xml, application/sparql-results+json;q=0.9"
_ACCEPT_GRAPH = "application/n-triples, text/turtle;q=0.9, application/rdf+xml;q=0.8"
_RESULTS = {
    "application/sparql-results+json": ox.QueryResultsFormat.JSON,
    "application/json": ox.QueryResultsFormat.JSON,
    "application/sparql-results+xml": ox.QueryResultsFormat.XML,
    "text/tab-separated-values": ox.QueryResultsFormat.TSV,
    "text/csv": ox.QueryResultsFormat.CSV,
}
_GRAPHS = {
    "application/n-triples": ox.RdfFormat.N_TRIPLES,
    "text/plain": ox.RdfFormat.N_TRIPLES,
    "text/ntriples": ox.RdfFormat.N_TRIPLES,
    "text/turtle": ox.RdfFormat.TURTLE,
    "application/x-turtle": ox.RdfFormat.TURTLE,
    "application/rdf+xml": ox.RdfFormat.RDF_XML,
    "application/n-quads": ox.RdfFormat.N_QUADS,
}
_CHUNK = 1000  # statements per INSERT DATA / DELETE DATA request (Virtuoso's SPARQL compiler runs out of memory at 5,000)
# What the query's WHERE group opens with: its first "{" after WHERE (or, with no WHERE, after the query form).
_SCAN = re.compile(r'"""(?:[^"\\]|\\.|"(?!""))*"""|' r"'''(?:[^'\\]|\\.|'(?!''))*'''|"
                   r'"(?:[^"\\\n]|\\.)*"|' r"'(?:[^'\\\n]|\\.)*'|#[^\n]*|<[^<>\"{}|^`\\\x00-\x20]*>|"
                   r"(?P<word>(?<![?$\w:])(?i:WHERE|SELECT|ASK|CONSTRUCT|DESCRIBE)\b)|(?P<open>\{)|(?P<close>\})",
                   re.DOTALL)


class RemoteError(Exception):
    """The store answered a request with an error status: `status` and what it said (never shown to clients)."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:300]}")
        self.status, self.body = status, body


def results_format_for(media: str) -> ox.QueryResultsFormat | None:
    """pyoxigraph's results format for a response's media type (parameters ignored), or None."""
    return _RESULTS.get(media.split(";")[0].strip().lower())


def graph_format_for(media: str) -> ox.RdfFormat | None:
    """pyoxigraph's RDF format for a response's media type (parameters ignored), or None."""
    return _GRAPHS.get(media.split(";")[0].strip().lower())


def prepare(text: str, *, prefixes: dict[str, str] | None = None, base_iri: str | None = None,
            substitutions: dict[str, str] | None = None) -> str:
    """`text` as a server that knows none of this service's options reads it the same way.

    Parameters
    ----------
    text : str
        A query.
    prefixes : dict
        Prefixes the text may use undeclared: declared in front of it (those it declares itself are left out).
    base_iri : str
        Declared with ``BASE`` in front, when given.
    substitutions : dict
        Variable name -> a term in SPARQL syntax: given as a one-row ``VALUES`` at the start of the query's WHERE
        group, so every solution has the variable bound to it (as pyoxigraph's ``substitutions`` do, except for
        a variable that is only used inside a sub-query, which has its own scope).
    """
    if substitutions:
        text = _with_values(text, substitutions)
    head = []
    if base_iri:
        head.append(f"BASE <{base_iri}>")
    for name, iri in (prefixes or {}).items():
        if not re.search(rf"(?i)\bPREFIX\s+{re.escape(name)}:", text):
            head.append(f"PREFIX {name}: <{iri}>")
    return "\n".join([*head, text]) if head else text


def query_form(text: str) -> str:
    """The form of the query `text` (``SELECT``, ``ASK``, ``CONSTRUCT`` or ``DESCRIBE``): its first such keyword
    outside strings, IRIs and comments."""
    for match in _SCAN.finditer(text):
        if match.group("word") and match.group("word").upper() != "WHERE":
            return match.group("word").upper()
    return "SELECT"


def _with_values(text: str, substitutions: dict[str, str]) -> str:
    names = " ".join(f"?{name}" for name in substitutions)
    values = " ".join(substitutions.values())
    block = f" VALUES ({names}) {{ ({values}) }} "
    depth, form_seen, where_seen = 0, False, False
    for match in _SCAN.finditer(text):
        if match.group("word"):
            word = match.group("word").upper()
            if depth == 0:
                where_seen |= word == "WHERE"
                form_seen |= word != "WHERE"
        elif match.group("open"):
            # CONSTRUCT's template comes before its WHERE; any other form's first group is its WHERE group
            if depth == 0 and (where_seen or (form_seen and not re.search(r"(?i)\bCONSTRUCT\b", text[:match.start()]))):
                return text[:match.end()] + block + text[match.end():]
            depth += 1
        elif match.group("close"):
            depth -= 1
    raise ValueError("the query has no WHERE group to bind its parameters in")


def _term(term: Any) -> str:
    """A pyoxigraph term in SPARQL syntax (N-Triples' is a subset of it)."""
    return str(term)


class SparqlBackend:
    """A SPARQL 1.1 server as the store.

    Parameters
    ----------
    query_url, update_url : str
        The server's query and update endpoints.
    store_url : str
        Its Graph Store endpoint (empty: loads go through ``INSERT DATA``).
    timeout : float
        Seconds a request may take to answer (loads and queries alike; a bulk load's body counts apart).
    read_only : bool
        Never write (``oversight query`` opens it so).
    """

    path = None  # no local folder: no saved derived data, no checkpoints
    #: Other processes may write it: the database re-reads what is current, and keeps what others may read.
    shared = True

    def __init__(self, query_url: str, update_url: str, store_url: str = "", *, timeout: float = 300.0,
                 read_only: bool = False) -> None:
        self.query_url, self.update_url, self.store_url = query_url, update_url or query_url, store_url
        self.timeout = timeout
        self.is_read_only = read_only
        self.http = urllib3.PoolManager(maxsize=16, block=False, retries=False,
                                        timeout=urllib3.Timeout(connect=10.0, read=timeout))
        try:
            bool(self.query("ASK {}"))  # reachable, and answers SPARQL
        except StoreUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure here means: not a SPARQL endpoint we can use
            log.error("the SPARQL store at %s does not answer queries: %s", query_url, exc)
            raise StoreUnavailable(f"the SPARQL store at {query_url} does not answer queries") from None

    # ------------------------------------------------------------------ HTTP
    def _request(self, url: str, fields: list[tuple[str, str]] | None = None, *, body: Any = None,
                 media: str = "", accept: str = "*/*", method: str = "POST", stream: bool = False,
                 timeout: float | None = None) -> urllib3.BaseHTTPResponse:
        headers = {"Accept": accept}
        options: dict[str, Any] = {"preload_content": not stream}
        if timeout is not None:
            options["timeout"] = urllib3.Timeout(connect=10.0, read=max(timeout, 0.1))
        if fields is not None and method != "POST":
            url, body = f"{url}?{urlencode(fields)}", None
        elif fields is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded; charset=UTF-8"
            body = urlencode(fields).encode()
        else:
            headers["Content-Type"] = media
            options["chunked"] = hasattr(body, "read")
        try:
            response = self.http.request(method, url, body=body, headers=headers, **options)
        except (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ConnectTimeoutError):
            raise TimeoutError("the SPARQL store did not answer in time") from None
        except urllib3.exceptions.HTTPError as exc:
            log.error("the SPARQL store at %s cannot be reached: %s", url, exc)
            raise StoreUnavailable("the SPARQL store cannot be reached") from None
        if response.status >= 300:
            text = response.data.decode("utf-8", "replace") if not stream else response.read(4096).decode("utf-8", "replace")
            response.release_conn()
            raise RemoteError(response.status, text)
        return response

    def _update(self, text: str) -> None:
        if self.is_read_only:
            raise StoreUnavailable("the store was opened read-only")
        try:
            self._request(self.update_url, [("update", text)]).release_conn()
        except RemoteError as exc:
            log.error("the SPARQL store refused an update: %s", exc)
            raise StoreUnavailable("the SPARQL store refused a write") from None

    # ------------------------------------------------------------------ the Backend primitives
    def query(self, text: str, *, default_graph: list[ox.NamedNode] | None = None,
              named_graphs: list[ox.NamedNode] | None = None,
              substitutions: dict[ox.Variable, Any] | None = None,
              prefixes: dict[str, str] | None = None, base_iri: str | None = None) -> Any:
        text = prepare(text, prefixes=prefixes, base_iri=base_iri,
                       substitutions={v.value: _term(t) for v, t in (substitutions or {}).items()})
        response = self._query(text, default_graph, named_graphs)
        return _parsed(response)

    def _query(self, text: str, default_graph: list[ox.NamedNode] | None,
               named_graphs: list[ox.NamedNode] | None, *, timeout: float | None = None) -> urllib3.BaseHTTPResponse:
        fields = [("query", text)]
        # an empty list is "no graph": the one graph no load writes stands for it (a server given no
        # default-graph-uri would read its own default graph instead)
        if default_graph is not None:
            fields += [("default-graph-uri", g.value) for g in default_graph or [ox.NamedNode(EMPTY_GRAPH)]]
        if named_graphs is not None:
            fields += [("named-graph-uri", g.value) for g in named_graphs or [ox.NamedNode(EMPTY_GRAPH)]]
        try:
            accept = _ACCEPT_GRAPH if query_form(text) in ("CONSTRUCT", "DESCRIBE") else _ACCEPT_RESULTS
            return self._request(self.query_url, fields, accept=accept, stream=True, timeout=timeout)
        except RemoteError as exc:
            if exc.status == 400:
                raise SyntaxError("the store could not parse the query") from None
            log.error("the SPARQL store failed a query: %s", exc)
            raise StoreUnavailable("the SPARQL store failed a query") from None

    def forward(self, text: str, default_graph: list[str], named_graphs: list[str], target: str, *,
                timeout: float, max_bytes: int) -> str:
        """Run the checked query `text` on the store and write its raw answer to the file `target`.

        For the SPARQL workers, which have no network (:mod:`graph.sparql.workers`). Returns the answer's media
        type. Raises SyntaxError when the store refuses the text, OSError when the answer is larger than
        `max_bytes`, StoreUnavailable when the store fails.
        """
        response = self._query(text, [ox.NamedNode(g) for g in default_graph],
                               [ox.NamedNode(g) for g in named_graphs], timeout=timeout)
        written = 0
        try:
            with open(target, "wb") as out:
                for block in response.stream(1 << 16):
                    written += len(block)
                    if written > max_bytes:
                        import errno

                        raise OSError(errno.EFBIG, "the store's answer is larger than the limit")
                    out.write(block)
        except urllib3.exceptions.ReadTimeoutError:
            raise TimeoutError("the SPARQL store did not answer in time") from None
        except urllib3.exceptions.HTTPError:
            raise StoreUnavailable("the SPARQL store stopped answering") from None
        finally:
            response.release_conn()
        return response.headers.get("Content-Type", "")

    def bulk_load(self, *, graph: ox.NamedNode, format: ox.RdfFormat, path: Path | None = None,
                  data: bytes | IO[bytes] | None = None) -> None:
        if self.store_url:
            with open(path, "rb") if path is not None else contextlib.nullcontext(data) as body:
                try:
                    self._request(f"{self.store_url}?{urlencode([('graph', graph.value)])}",
                                  body=body, media=format.media_type).release_conn()
                except RemoteError as exc:
                    log.error("the SPARQL store refused a Graph Store load: %s", exc)
                    raise StoreUnavailable("the SPARQL store refused a write") from None
            return
        quads = ox.parse(path=str(path), format=format) if path is not None else ox.parse(data, format=format)
        self.bulk_extend(ox.Quad(q.subject, q.predicate, q.object, graph) for q in quads)

    def bulk_extend(self, quads: Iterable[ox.Quad]) -> None:
        for chunk in _chunks(quads):
            self._update("INSERT DATA {\n" + _grouped(chunk, skolem=True) + "}")

    def extend(self, quads: Iterable[ox.Quad]) -> None:
        quads = list(quads)
        if quads:
            self._update("INSERT DATA {\n" + _grouped(quads) + "}")  # one request: all or nothing

    def quads(self, graph: ox.NamedNode | None = None, *, predicate: ox.NamedNode | None = None) -> Iterator[ox.Quad]:
        p = "?p" if predicate is None else _term(predicate)
        g = "?g" if graph is None else _term(graph)
        for row in self.query(f"SELECT * WHERE {{ GRAPH {g} {{ ?s {p} ?o }} }}",
                              named_graphs=None if graph is None else [graph]):
            yield ox.Quad(row["s"], predicate or row["p"], row["o"], graph or row["g"])

    def named_graphs(self, prefix: str = "") -> Iterator[ox.NamedNode]:
        # GROUP BY, not DISTINCT: Virtuoso answers it from its graph index (14 ms against 3.4 s on a
        # million statements), and only this service's graphs are asked for (a server holds others')
        where = f"FILTER(STRSTARTS(STR(?g), {_term(ox.Literal(prefix))}))" if prefix else ""
        for row in self.query(f"SELECT ?g WHERE {{ GRAPH ?g {{ ?s ?p ?o }} {where} }} GROUP BY ?g"):
            if isinstance(row["g"], ox.NamedNode):
                yield row["g"]

    def drop_graph(self, graph: ox.NamedNode) -> None:
        self._update(f"DROP SILENT GRAPH {_term(graph)}")

    def remove_quads(self, quads: Iterable[ox.Quad]) -> None:
        for chunk in _chunks(q for q in quads if not _has_blank(q)):
            self._update("DELETE DATA {\n" + _grouped(chunk) + "}")

    def rdflib_store(self) -> Any:
        from rdflib.plugins.stores.sparqlstore import SPARQLUpdateStore

        return SPARQLUpdateStore(query_endpoint=self.query_url, update_endpoint=self.update_url)

    def checkpoint(self, target: Path) -> Path:
        return FORWARDED

    def compact(self) -> None:
        """The server compacts its own storage."""

    def reopen(self) -> None:
        """Nothing to open again: each request is its own."""

    def close(self) -> None:
        self.http.clear()


def _parsed(response: urllib3.BaseHTTPResponse) -> Any:
    media = response.headers.get("Content-Type", "")
    results, graph = results_format_for(media), graph_format_for(media)
    if results is not None:
        parsed: Any = ox.parse_query_results(response, format=results)  # type: ignore[arg-type]  # a binary stream
        if isinstance(parsed, ox.QueryBoolean):
            response.release_conn()
        return parsed
    if graph is not None:
        return (ox.Triple(q.subject, q.predicate, q.object) for q in ox.parse(response, format=graph))  # type: ignore[arg-type]
    response.release_conn()
    raise StoreUnavailable(f"the SPARQL store answered in a format this service does not read ({media[:60]})")


def _chunks(quads: Iterable[ox.Quad]) -> Iterator[list[ox.Quad]]:
    chunk: list[ox.Quad] = []
    for quad in quads:
        chunk.append(quad)
        if len(chunk) >= _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _has_blank(quad: ox.Quad) -> bool:
    return isinstance(quad.subject, ox.BlankNode) or isinstance(quad.object, ox.BlankNode)


def _skolem(term: Any, graph: Any) -> Any:
    if isinstance(term, ox.BlankNode):
        return ox.NamedNode(f"{graph.value}/.well-known/genid/{term.value}")
    return term


def _grouped(quads: list[ox.Quad], *, skolem: bool = False) -> str:
    """`quads` as the body of INSERT DATA / DELETE DATA, by graph."""
    by_graph: dict[Any, list[str]] = {}
    for q in quads:
        s, o = (_skolem(q.subject, q.graph_name), _skolem(q.object, q.graph_name)) if skolem else (q.subject, q.object)
        by_graph.setdefault(q.graph_name, []).append(f"{_term(s)} {_term(q.predicate)} {_term(o)} .")
    parts = []
    for graph, lines in by_graph.items():
        body = "\n".join(lines)
        parts.append(body + "\n" if isinstance(graph, ox.DefaultGraph) else f"GRAPH {_term(graph)} {{\n{body}\n}}\n")
    return "".join(parts)

