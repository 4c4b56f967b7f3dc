"""Investigators' SPARQL: checked on the parsed query, run over the service's own graphs, bounded.

* Every user query and update runs in a confined worker process (:mod:`graph.sparql.workers`,
  :mod:`graph.sparql.sandbox`): :func:`evaluate` and :func:`update_source` on the service's side,
  :func:`run_query` and :func:`run_update` inside the worker. The worker has no network, so
  even a query that slipped past the checks below reaches nothing.
* One text for the check and the engine (:func:`canonical`): codepoint escapes (``\\u0022``)
  are resolved once over the whole text, as SPARQL 1.1 section 19.2 says and rdflib does (Oxigraph
  resolves them only inside strings and IRIs, so the two would otherwise read different
  queries), line ends become LF, and a text whose resolution leaves another escape is refused.
* Only SPARQL 1.1 queries run here (updates go through loads). The query is parsed
  with rdflib's SPARQL 1.1 grammar: ``SERVICE`` anywhere in it is refused (and, as a
  backstop, anywhere in the text that a service could follow it); a graph that ``FROM`` / ``FROM
  NAMED`` names and the service does not hold is an empty graph (never fetched).
* Sources' graphs are called by their stable names (``{base}graph/{source}``) in the text, the dataset and
  the results; the worker renames them to and from the current runs' graphs before the check
  (:mod:`graph.sparql.names`), so the check reads the text that runs.
* The dataset is always given explicitly: by the Protocol's ``default-graph-uri``
  / ``named-graph-uri``, else the query's ``FROM`` clauses, else the union of the
  current source graphs as the default graph and every source graph and the
  metadata graph as named graphs.
* Results are written row by row by :func:`write_results` (the W3C JSON, XML, CSV
  and TSV formats), so the row cap is checked between rows (time is bounded by killing the worker).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyoxigraph as ox
from pyparsing import ParseException
from rdflib import URIRef
from rdflib.plugins.sparql.algebra import translatePrologue
from rdflib.plugins.sparql.parser import parseQuery, parseUpdate
from rdflib.plugins.sparql.parserutils import CompValue

from graph.errors import BadParameter
from graph.prefixes import PREFIXES
from graph.sparql.names import EMPTY_GRAPH, GraphNames
from graph.sparql.workers import Job, Pool
from graph.store.database import Database

__all__ = ["Checked", "canonical", "check", "check_update", "update_source", "graphs_for", "evaluate", "Evaluated", "run_query",
           "run_update", "write_results", "RESULT_FORMATS", "GRAPH_FORMATS"]

#: SELECT and ASK results: media type -> name.
RESULT_FORMATS = {"application/sparql-results+json": "json", "application/sparql-results+xml": "xml",
                  "text/csv": "csv", "text/tab-separated-values": "tsv",
                  "application/json": "json", "application/xml": "xml"}  # what many clients send
#: CONSTRUCT and DESCRIBE results: media type -> pyoxigraph format.
GRAPH_FORMATS = {"text/turtle": ox.RdfFormat.TURTLE, "application/n-triples": ox.RdfFormat.N_TRIPLES,
                 "application/ld+json": ox.RdfFormat.JSON_LD, "application/rdf+xml": ox.RdfFormat.RDF_XML,
                 "application/trig": ox.RdfFormat.TRIG, "application/n-quads": ox.RdfFormat.N_QUADS}


MAX_QUERY_CHARS = 100_000
# Defence in depth: SERVICE followed by what can name a service (an IRI, a variable, a prefixed name),
# with or without space between (``SERVICE<http://...>`` is valid SPARQL).
_SERVICE = re.compile(r"(?i)\bSERVICE\s*(?:SILENT\s*)?(?:<|\?|\$|:|[^\W\d][\w.-]*:)")
_LOAD = re.compile(r"(?i)\bLOAD\s*(?:SILENT\s*)?(?:<|:|[^\W\d][\w.-]*:)")
# SPARQL 1.1 section 19.2: \uXXXX and \UXXXXXXXX anywhere in the text; rdflib also reads \u with 8 digits.
_CODEPOINT = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")
_ANY_ESCAPE = re.compile(r"(?i)\\u[0-9a-f]{4}")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class Checked:
    """A query that passed the checks: its form and the graphs its FROM clauses name."""

    text: str
    form: str  # SELECT | ASK | CONSTRUCT | DESCRIBE
    from_default: tuple[str, ...]
    from_named: tuple[str, ...]


def _names(node: Any) -> Iterator[str]:
    if isinstance(node, CompValue):
        yield node.name
        for value in node.values():
            yield from _names(value)
    elif isinstance(node, (list, tuple)) or type(node).__name__ == "ParseResults":
        for value in node:
            yield from _names(value)


def _is_update(text: str) -> bool:
    try:
        with _PARSE_LOCK:
            parseUpdate(text)
        return True
    except Exception:  # noqa: BLE001 - any failure to parse as an update means "not an update"
        return False


def check(text: str) -> Checked:
    """Parse `text` as a SPARQL 1.1 query and refuse what this endpoint does not run.

    Raises
    ------
    BadParameter
        (parameter ``query``) for a syntax error (with its line and column), an update, ``SERVICE``,
        or a ``FROM`` that is not a full IRI.

    Notes
    -----
    The last 1,024 checked texts are remembered (parsing takes about 2 ms), refusals are not.
    """
    return _check(canonical(text, "query"))


def canonical(text: str, parameter: str = "query") -> str:
    """The one text both the check and the engine read: escapes resolved, LF line ends.

    Parameters
    ----------
    text : str
        The query or update, as given.
    parameter : str
        The request parameter the errors name (``query`` or ``update``).

    Raises
    ------
    BadParameter
        (naming `parameter`) when `text` is empty or too long, an escape names no character (or a
        surrogate), or resolving the escapes leaves another one (``\\u005Cu0022``), which one
        reader would resolve again and the other not.

    Notes
    -----
    rdflib ends a comment only at LF, Oxigraph also at CR, so a CR would let text that rdflib reads
    as a comment run in Oxigraph; Oxigraph resolves codepoint escapes only inside strings and IRIs,
    rdflib everywhere, so ``BIND("\\u0022" AS ?a) SERVICE<...>`` was one string to the check and a
    live ``SERVICE`` to the engine. Both now see a text without escapes.
    """
    if not text.strip():
        raise BadParameter(parameter, "is empty")
    if len(text) > MAX_QUERY_CHARS:
        raise BadParameter(parameter, f"is longer than {MAX_QUERY_CHARS:,} characters")

    def resolve(match: re.Match[str]) -> str:
        code = int(match.group(1) or match.group(2), 16)
        if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            raise BadParameter(parameter, f"the escape {match.group(0)} names no character")
        return chr(code)

    resolved = _CODEPOINT.sub(resolve, text)
    if _ANY_ESCAPE.search(resolved):
        raise BadParameter(parameter, "a codepoint escape (\\uXXXX) makes another escape: write the character itself")
    return resolved.replace("\r\n", "\n").replace("\r", "\n")




#: rdflib's grammar (pyparsing) is not thread-safe (RDFLib/rdflib#1282): concurrent parses of new
#: texts failed with bogus syntax errors under load, so parsing is serialised (about 2 ms a text).
_PARSE_LOCK = threading.Lock()


@lru_cache(maxsize=1024)
def _check(text: str) -> Checked:
    # The grammar alone decides: prefixed names need no declaration to parse (Oxigraph resolves them).
    try:
        with _PARSE_LOCK:
            parsed = parseQuery(text)
    except ParseException as exc:
        if _is_update(text):
            raise BadParameter("query", "SPARQL Update is not accepted here: this endpoint is read-only "
                               "(load data with PUT /sources/NAME or oversight load)") from None
        raise BadParameter("query", f"syntax error at line {exc.lineno}, column {exc.col}: {exc.msg}") from None
    except Exception:  # noqa: BLE001 - the parser's other failures are syntax errors too
        raise BadParameter("query", "not a SPARQL 1.1 query") from None
    query = parsed[1]
    if "ServiceGraphPattern" in set(_names(parsed)) or _SERVICE.search(text):
        raise BadParameter("query", "SERVICE is not allowed: queries run on this service's data only")
    default: list[str] = []
    named: list[str] = []
    clauses = query["datasetClause"] if "datasetClause" in query else []
    for clause in clauses:
        iri = clause["default"] if "default" in clause else clause["named"]
        if isinstance(iri, CompValue) and iri.name == "pname":  # a prefixed name: declared, or predeclared
            try:
                iri = translatePrologue(parsed[0], None, initNs=PREFIXES).absolutize(iri)
            except Exception:  # noqa: BLE001 - rdflib raises a bare Exception for an undeclared prefix
                raise BadParameter("query", f"FROM names the undeclared prefix {iri['prefix']!r}") from None
        if not isinstance(iri, URIRef):
            raise BadParameter("query", "FROM and FROM NAMED take an IRI of one of this service's graphs")
        (default if "default" in clause else named).append(str(iri))
    form = query.name.removesuffix("Query").upper()
    return Checked(text, form, tuple(default), tuple(named))


def graphs_for(checked: Checked, *, default_uris: tuple[str, ...] | list[str], named_uris: tuple[str, ...] | list[str],
               graphs: tuple[str, ...] | list[str], meta: str) -> tuple[list[ox.NamedNode], list[ox.NamedNode]]:
    """The default and named graphs the query runs on.

    By the Protocol's ``default-graph-uri`` / ``named-graph-uri``, else the query's ``FROM``
    clauses, else the union of `graphs` (the current source graphs) as the default graph and
    every one of them and `meta` as named graphs. A graph named that is not one of the
    service's is read as an empty graph (:data:`EMPTY_GRAPH`): never dereferenced, and never
    another graph of the store (a replaced run, a load being staged).

    Parameters
    ----------
    checked : Checked
        The checked query, with the graphs of its ``FROM`` and ``FROM NAMED`` clauses.
    default_uris, named_uris : list of str
        The Protocol's ``default-graph-uri`` and ``named-graph-uri`` (empty: not given); either one given
        overrides the ``FROM`` clauses.
    graphs : list of str
        The IRIs of the current source graphs.
    meta : str
        The IRI of the metadata graph.
    """
    own = {*graphs, meta}
    if default_uris or named_uris:
        default, named = list(default_uris), list(named_uris)
    elif checked.from_default or checked.from_named:
        default, named = list(checked.from_default), list(checked.from_named)
    else:
        nodes = [ox.NamedNode(g) for g in graphs]
        return nodes, [*nodes, ox.NamedNode(meta)]
    known = lambda names: list(dict.fromkeys(g if g in own else EMPTY_GRAPH for g in names))  # noqa: E731
    named_nodes = [ox.NamedNode(g) for g in known(named) if g != EMPTY_GRAPH]
    return [ox.NamedNode(g) for g in known(default)] or [ox.NamedNode(EMPTY_GRAPH)], named_nodes


# --------------------------------------------------------------------------- results
def _json_term(term: Any) -> dict[str, str]:
    if isinstance(term, ox.NamedNode):
        return {"type": "uri", "value": term.value}
    if isinstance(term, ox.BlankNode):
        return {"type": "bnode", "value": term.value}
    out = {"type": "literal", "value": term.value}
    if term.language:
        out["xml:lang"] = term.language
    elif term.datatype.value != "http://www.w3.org/2001/XMLSchema#string":
        out["datatype"] = term.datatype.value
    return out


def _xml(text: str) -> str:
    text = _NOT_XML.sub("\ufffd", text)  # characters XML 1.0 cannot hold at all
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _xml_term(term: Any) -> str:
    if isinstance(term, ox.NamedNode):
        return f"<uri>{_xml(term.value)}</uri>"
    if isinstance(term, ox.BlankNode):
        return f"<bnode>{_xml(term.value)}</bnode>"
    if term.language:
        return f'<literal xml:lang="{_xml(term.language)}">{_xml(term.value)}</literal>'
    if term.datatype.value != "http://www.w3.org/2001/XMLSchema#string":
        return f'<literal datatype="{_xml(term.datatype.value)}">{_xml(term.value)}</literal>'
    return f"<literal>{_xml(term.value)}</literal>"


def _csv(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\r\n') else value


def _csv_term(term: Any) -> str:
    if term is None:
        return ""
    return _csv("_:" + term.value if isinstance(term, ox.BlankNode) else term.value)


def write_results(result: Any, fmt: str, rows: int, state: dict[str, Any],
                  rename: Mapping[Any, Any] | None = None) -> Iterator[str]:
    """SELECT or ASK results in `fmt` (json, xml, csv, tsv), row by row.

    Parameters
    ----------
    rows : int
        Stops after this many rows (``state["truncated"] = True``). Time is bounded by the worker's
        killing (:meth:`graph.sparql.workers.Pool.run`), not here.
    state : dict
        Receives ``rows`` (written) and ``truncated``.
    rename : mapping, optional
        Terms written as other terms (:attr:`graph.sparql.names.GraphNames.outward`: run graphs under their
        stable names).
    """
    if isinstance(result, ox.QueryBoolean):
        result = bool(result)
    if isinstance(result, bool):
        yield {"json": lambda: json.dumps({"head": {}, "boolean": result}) + "\n",
               "xml": lambda: ('<?xml version="1.0"?>\n<sparql xmlns="http://www.w3.org/2005/sparql-results#">'
                               f"<head/><boolean>{'true' if result else 'false'}</boolean></sparql>\n"),
               "csv": lambda: f"_askResult\r\n{'true' if result else 'false'}\r\n",
               "tsv": lambda: f"?_askResult\n{'true' if result else 'false'}\n"}[fmt]()
        return
    names = [v.value for v in result.variables]
    get = (rename or {}).get
    if fmt == "json":
        yield '{"head": {"vars": ' + json.dumps(names) + '}, "results": {"bindings": ['
    elif fmt == "xml":
        yield ('<?xml version="1.0"?>\n<sparql xmlns="http://www.w3.org/2005/sparql-results#"><head>'
               + "".join(f'<variable name="{n}"/>' for n in names) + "</head><results>\n")
    elif fmt == "csv":
        yield ",".join(names) + "\r\n"
    else:
        yield "\t".join("?" + n for n in names) + "\n"
    for count, solution in enumerate(result):
        if count >= rows:
            state["truncated"] = True
            break
        state["rows"] = count + 1
        values = [get(v, v) for v in (solution[n] for n in names)]  # type: ignore[call-overload]
        if fmt == "json":
            row = {n: _json_term(v) for n, v in zip(names, values) if v is not None}
            yield ("," if count else "") + "\n" + json.dumps(row, ensure_ascii=False)
        elif fmt == "xml":
            yield ("<result>" + "".join(f'<binding name="{n}">{_xml_term(v)}</binding>'
                                        for n, v in zip(names, values) if v is not None) + "</result>\n")
        elif fmt == "csv":
            yield ",".join(_csv_term(v) for v in values) + "\r\n"
        else:
            yield "\t".join(str(v) if v is not None else "" for v in values) + "\n"
    yield {"json": "\n]}}\n", "xml": "</results></sparql>\n", "csv": "", "tsv": ""}[fmt]


def check_update(text: str) -> str:
    """Parse `text` as SPARQL 1.1 Update and refuse ``LOAD`` and ``SERVICE``; the text to run (LF line ends).

    Raises
    ------
    BadParameter
        (parameter ``update``) for a syntax error (with its line and column), ``LOAD`` or ``SERVICE``.
    """
    text = canonical(text, "update")
    try:
        with _PARSE_LOCK:
            parsed = parseUpdate(text)
    except ParseException as exc:
        raise BadParameter("update", f"syntax error at line {exc.lineno}, column {exc.col}: {exc.msg}") from None
    except Exception:  # noqa: BLE001 - the parser's other failures are syntax errors too
        raise BadParameter("update", "not a SPARQL 1.1 update") from None
    names = set(_names(parsed))
    if "Load" in names or _LOAD.search(text):
        raise BadParameter("update", "LOAD is not allowed: load data with PUT /sources/NAME or oversight load")
    if "ServiceGraphPattern" in names or _SERVICE.search(text):
        raise BadParameter("update", "SERVICE is not allowed: updates run on this service's data only")
    if _names_a_graph(parsed):
        raise BadParameter("update", "GRAPH, WITH, USING and graph IRIs are not supported: an update changes the "
                           "statements of the one source named by 'source', which it sees as its default graph")
    return text


def _names_a_graph(parsed: Any) -> bool:
    """Whether a parsed update names a graph other than the default one: ``GRAPH`` in its templates, data or
    pattern, ``WITH``, ``USING``, or a graph IRI (or ``NAMED``) in ``CLEAR``/``DROP``/``CREATE``/``ADD``/``MOVE``/``COPY``."""
    if {"QuadsNotTriples", "GraphGraphPattern", "UsingClause"} & set(_names(parsed)):
        return True
    for request in parsed.request:  # (CompValue.get's second argument is not a default: test with `in`)
        if "withClause" in request or request.name == "Create":
            return True
        key = "graph" if request.name in ("Add", "Move", "Copy") else "graphiri"
        targets = request[key] if key in request else []  # noqa: SIM401 - CompValue.get takes no default
        targets = targets if isinstance(targets, list) else [targets]
        if request.name in ("Clear", "Drop", "Add", "Move", "Copy") and any(t not in ("DEFAULT", "ALL") for t in targets):
            return True
    return False


# --------------------------------------------------------------------------- in a worker
def run_query(store: ox.Store, job: Job) -> tuple[str, str | None, int, bool]:
    """Check and evaluate `job` on `store` (inside a worker), writing its results to ``job.output``.

    Returns (form, media written or None when the client accepts no format for that form, rows, truncated).

    Parameters
    ----------
    store : pyoxigraph.Store
        The store the worker opened read-only (``job.store``).
    job : Job
        The query, its dataset, bindings, media types, row limit and output file.
    """
    names = GraphNames(job.names, job.graphs)
    # the stable graph names become the runs' graphs in the text, which is then checked and run as renamed
    written = canonical(job.text) if job.checked else job.text
    text = names.query(written, base=job.base_iri, prefixes=PREFIXES)
    try:
        checked = _check(text) if job.checked else _unchecked(text)
    except BadParameter as renamed:
        if text != written and "syntax error" in str(renamed):  # its position in the text as written, if there too
            try:
                _check(written)
            except BadParameter as original:
                if "syntax error" in str(original):
                    raise original from None
        raise
    media = job.results_media if checked.form in ("SELECT", "ASK") else job.graph_media
    if media is None:
        return checked.form, None, 0, False
    default, named = graphs_for(checked, default_uris=names.inside(job.default_uris),
                                named_uris=names.inside(job.named_uris), graphs=job.graphs, meta=job.meta)
    try:
        result: Any = store.query(checked.text, default_graph=default,  # type: ignore[arg-type]  # list is invariant
                                  named_graphs=named, prefixes=PREFIXES,  # type: ignore[arg-type]
                                  base_iri=job.base_iri or None,
                                  substitutions={ox.Variable(k): names.outside_in(v) for k, v in job.bindings.items()})
    except SyntaxError as exc:  # the grammar passed it, the engine did not: its own position and reason
        raise BadParameter("query", f"the engine could not parse it: {_first_line(_as_written(exc, written, text, job))}"
                           ) from None
    state: dict[str, Any] = {"truncated": False, "rows": 0}
    with open(job.output, "wb") as out:
        if checked.form in ("SELECT", "ASK"):
            for chunk in write_results(result, RESULT_FORMATS[media], job.rows, state, names.outward):
                out.write(chunk.encode("utf-8"))
        else:
            triples = []
            shown = names.outward.get
            for count, triple in enumerate(result):
                if count >= job.rows:
                    state["truncated"] = True
                    break
                triples.append(ox.Triple(shown(triple.subject, triple.subject), shown(triple.predicate, triple.predicate),
                                         shown(triple.object, triple.object)))
            state["rows"] = len(triples)
            fmt = GRAPH_FORMATS[media]
            items = [ox.Quad(t.subject, t.predicate, t.object) for t in triples] \
                if fmt in (ox.RdfFormat.TRIG, ox.RdfFormat.N_QUADS) else triples
            out.write(ox.serialize(items, format=fmt, prefixes=PREFIXES if fmt in (
                ox.RdfFormat.TURTLE, ox.RdfFormat.TRIG, ox.RdfFormat.RDF_XML) else None) or b"")
    return checked.form, media, state["rows"], state["truncated"]


def _as_written(error: SyntaxError, written: str, text: str, job: Job) -> SyntaxError:
    """The engine's syntax error in the query as written (positions before the graph names were renamed), if the
    written text has it too; else `error`."""
    if text == written:
        return error
    try:
        ox.Store().query(written, prefixes=PREFIXES, base_iri=job.base_iri or None)
    except SyntaxError as original:
        return original
    except (OSError, ValueError, RuntimeError):
        pass
    return error


def _first_line(error: Exception) -> str:
    """The first line of a parser's message, clipped: it describes the query's text, nothing else."""
    return (str(error).splitlines() or ["syntax error"])[0][:300]


def _unchecked(text: str) -> Checked:
    """No checks at all (:attr:`Job.checked` False: only the sandbox's own test does this)."""
    head = re.search(r"(?i)\b(SELECT|ASK|CONSTRUCT|DESCRIBE)\b", text)
    return Checked(text, head.group(1).upper() if head else "SELECT", (), ())


def run_update(store: ox.Store, job: Job) -> tuple[str, str | None, int, bool]:
    """Apply the update of `job` to a scratch copy of ``job.update_graph`` (inside a worker).

    The update sees the source's statements as its default graph; the result is written to
    ``job.output`` as N-Triples, for the service to validate and load.

    Parameters
    ----------
    store : pyoxigraph.Store
        The store the worker opened read-only; only ``job.update_graph`` is read from it.
    job : Job
        The update, the graph it changes (None: a source that does not exist yet, which starts empty) and
        the output file.

    Raises
    ------
    BadParameter
        (``update``) When the update is refused (:func:`check_update`), fails to evaluate, or leaves
        statements in a named graph (``GRAPH``, ``WITH``).
    """
    text = check_update(job.text) if job.checked else job.text
    scratch = ox.Store()
    if job.update_graph is not None:
        scratch.bulk_extend(ox.Quad(q.subject, q.predicate, q.object, ox.DefaultGraph())
                            for q in store.quads_for_pattern(None, None, None, ox.NamedNode(job.update_graph)))
    try:
        scratch.update(text, prefixes=PREFIXES)
    except (SyntaxError, ValueError, OSError):
        raise BadParameter("update", "the update could not be evaluated on this source") from None
    if any(True for _ in scratch.named_graphs()):
        raise BadParameter("update", "GRAPH and WITH are not supported: an update changes the statements "
                           "of the one source named by 'source', which it sees as its default graph")
    scratch.dump(job.output, format=ox.RdfFormat.N_TRIPLES, from_graph=ox.DefaultGraph())
    return "UPDATE", "application/n-triples", len(scratch), False


# --------------------------------------------------------------------------- in the service
@dataclass(frozen=True)
class Evaluated:
    """A finished query: its results in the file ``path`` (the caller removes it), and what they are."""

    path: Path
    form: str
    media: str | None
    rows: int
    truncated: bool


def evaluate(db: Database, pool: Pool, text: str, *, timeout: float, rows: int, client: str = "",
             results_media: str | None = "application/sparql-results+json",
             graph_media: str | None = "application/n-triples", default_uris: list[str] | None = None,
             named_uris: list[str] | None = None, bindings: dict[str, Any] | None = None,
             base_iri: str = "") -> Evaluated:
    """Check and run the query `text` in a worker of `pool`, on the graphs current now.

    Parameters
    ----------
    results_media, graph_media : str or None
        The media type to write SELECT/ASK and CONSTRUCT/DESCRIBE results in (None: the client takes
        none; the query is then only checked, and :attr:`Evaluated.media` is None).
    default_uris, named_uris : list of str
        The Protocol's dataset, if given (see :func:`graphs_for`).
    bindings : dict
        Variable name -> pyoxigraph term, substituted before evaluation.
    base_iri : str
        What relative IRIs in the text resolve against (the endpoint's URL; empty: none).

    Raises
    ------
    BadParameter
        Refused by :func:`check` (a graph the service does not hold is not refused: it reads as empty).
    graph.errors.Saturated, graph.errors.ClientBusy, graph.errors.TimeLimit, graph.errors.EvaluationFailed
        See :meth:`graph.sparql.workers.Pool.run`.
    """
    with db.pin() as pin, db.snapshots.reading(pin.version) as store:
        graphs = tuple(rec.graph.value for rec in pin.data)
        names = tuple(rec.stable_graph.value for rec in pin.data)
        handle, output = tempfile.mkstemp(prefix="oversight-results-")
        os.close(handle)
        try:
            outcome = pool.run(Job("query", text, str(store), graphs, db.meta.value, output,
                                   tuple(default_uris or ()), tuple(named_uris or ()), dict(bindings or {}),
                                   results_media, graph_media, rows, base_iri=base_iri, names=names),
                                   timeout=timeout, client=client, forward=db.backend.forward)
        except BaseException:
            os.unlink(output)
            raise
    return Evaluated(Path(output), outcome.form, outcome.media, outcome.rows, outcome.truncated)


def update_source(db: Database, pool: Pool, name: str, text: str, *, user: str, timeout: float,
                  client: str = "", reserve: int = 0) -> Any:
    """Apply the update `text` to the statements of source `name` and load the result as its new version.

    The update is checked (:func:`check_update`) and run in a worker of `pool`, on a scratch store
    holding only that source's statements, as its default graph, so it cannot touch another
    source. The result is validated and committed like any load (all or nothing;
    :func:`graph.ingest.load.load`), with the same title and licence. A source that does not exist yet
    starts empty.

    Parameters
    ----------
    db : Database
        The store.
    pool : Pool
        The workers the update runs in.
    name : str
        The source updated (the caller checks that it is a source name, and not the ontology's).
    text : str
        The SPARQL Update.
    user : str
        Who updates it, recorded as the run's ``loaded_by``.
    timeout : float
        Seconds the worker may take.
    client : str
        Who asks (a token, or an address): the pool bounds the jobs each client has running.
    reserve : int
        Bytes the volume must keep free, as for any load (:func:`graph.ingest.load.room`).

    Returns
    -------
    LoadReport
        Of the source's new version (:func:`graph.ingest.load.load`).

    Raises
    ------
    BadParameter
        When the update is refused, writes to a named graph (``GRAPH``/``WITH``), or fails to evaluate.
    InputError
        When the result breaks the shapes; nothing changes.
    """
    from graph.ingest.load import load, plan

    with tempfile.TemporaryDirectory(prefix="oversight-update-") as tmp:
        path = Path(tmp) / f"{name}.nt"
        with db.pin() as pin, db.snapshots.reading(pin.version) as store:
            record = pin.sources.get(name)
            pool.run(Job("update", text, str(store), (), db.meta.value, str(path),
                         update_graph=record.graph.value if record else None), timeout=timeout, client=client,
                     forward=db.backend.forward)
        sources = [replace(s, origin="SPARQL Update (/sparql/update)",
                           title=record.title if record else None, licence=record.licence if record else None)
                   for s in plan([path], source=name)]
        return load(db, sources, user=user, reserve=reserve)[0]
