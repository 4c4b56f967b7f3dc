"""Investigators' SPARQL: checked on the parsed query, run over the service's own graphs, bounded.

* Only SPARQL 1.1 queries run here (updates go through loads). The query is parsed
  with rdflib's SPARQL 1.1 grammar before Oxigraph sees it: ``SERVICE`` anywhere in
  it is refused (Oxigraph would call out to any address), and ``FROM`` / ``FROM
  NAMED`` may name only the service's own graphs (rdflib and Oxigraph would
  otherwise dereference them).
* The dataset is always given explicitly: by the Protocol's ``default-graph-uri``
  / ``named-graph-uri``, else the query's ``FROM`` clauses, else the union of the
  current source graphs as the default graph and every source graph and the
  metadata graph as named graphs.
* Results are written row by row by :func:`write_results` (the W3C JSON, XML, CSV
  and TSV formats), so a row cap and a deadline are checked between rows.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pyoxigraph as ox
from pyparsing import ParseException
from rdflib import URIRef
from rdflib.plugins.sparql.parser import parseQuery, parseUpdate
from rdflib.plugins.sparql.parserutils import CompValue

from graph.database import ONTOLOGY_SOURCE, Database, SourceRecord
from graph.errors import BadParameter
from graph.prefixes import PREFIXES

__all__ = ["Checked", "check", "check_update", "update_source", "dataset", "execute", "write_results", "RESULT_FORMATS", "GRAPH_FORMATS",
           "Limits", "TimeLimit"]

#: SELECT and ASK results: media type -> name.
RESULT_FORMATS = {"application/sparql-results+json": "json", "application/sparql-results+xml": "xml",
                  "text/csv": "csv", "text/tab-separated-values": "tsv",
                  "application/json": "json", "application/xml": "xml"}  # what many clients send
#: CONSTRUCT and DESCRIBE results: media type -> pyoxigraph format.
GRAPH_FORMATS = {"text/turtle": ox.RdfFormat.TURTLE, "application/n-triples": ox.RdfFormat.N_TRIPLES,
                 "application/ld+json": ox.RdfFormat.JSON_LD, "application/rdf+xml": ox.RdfFormat.RDF_XML,
                 "application/trig": ox.RdfFormat.TRIG, "application/n-quads": ox.RdfFormat.N_QUADS}


class TimeLimit(Exception):
    """The query ran past its time limit."""


@dataclass(frozen=True)
class Limits:
    seconds: float
    rows: int


MAX_QUERY_CHARS = 100_000
# Defence in depth: SERVICE followed by what can name a service (an IRI, a variable, a prefixed name).
_SERVICE = re.compile(r"(?i)\bSERVICE\s+(?:SILENT\s+)?(?:<|\?|\$|[A-Za-z_][\w.-]*:)")
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
    return _check(_normalised(text, "query"))


def _normalised(text: str, parameter: str) -> str:
    """`text` with LF line ends, if it is neither empty nor too long (else a BadParameter naming `parameter`).

    One text for the check and the run: rdflib ends a comment only at LF, Oxigraph also at CR, so a CR
    would let text that rdflib reads as a comment run in Oxigraph.
    """
    if not text.strip():
        raise BadParameter(parameter, "is empty")
    if len(text) > MAX_QUERY_CHARS:
        raise BadParameter(parameter, f"is longer than {MAX_QUERY_CHARS:,} characters")
    return text.replace("\r\n", "\n").replace("\r", "\n")


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
        iri = clause.get("default") if "default" in clause else clause.get("named")
        if not isinstance(iri, URIRef):
            raise BadParameter("query", "FROM and FROM NAMED take a full IRI (<...>) of one of this service's graphs")
        (default if "default" in clause else named).append(str(iri))
    form = query.name.removesuffix("Query").upper()
    return Checked(text, form, tuple(default), tuple(named))


def dataset(db: Database, checked: Checked, *, default_uris: list[str], named_uris: list[str],
            sources: dict[str, SourceRecord] | None = None) -> tuple[list[ox.NamedNode], list[ox.NamedNode]]:
    """The default and named graphs the query runs on; only the service's own graphs may be named.

    `sources` are the sources to use (those of a :meth:`Database.pin`), else the current ones.
    """
    sources = {name: rec for name, rec in (db.sources if sources is None else sources).items()
               if name != ONTOLOGY_SOURCE}
    own = {rec.graph.value for rec in sources.values()} | {db.meta.value}
    if default_uris or named_uris:
        default, named, where = default_uris, named_uris, "default-graph-uri"
    elif checked.from_default or checked.from_named:
        default, named, where = list(checked.from_default), list(checked.from_named), "query"
    else:
        graphs = [rec.graph for _, rec in sorted(sources.items())]
        return graphs, [*graphs, db.meta]
    unknown = sorted((set(default) | set(named)) - own)
    if unknown:
        raise BadParameter(where, f"{len(unknown)} graph(s) named are not graphs of this service; "
                           "see the service description (GET /sparql) for the graphs there are")
    return [ox.NamedNode(g) for g in default], [ox.NamedNode(g) for g in named]


def execute(db: Database, checked: Checked, default: list[ox.NamedNode], named: list[ox.NamedNode],
            bindings: dict[str, Any] | None = None) -> Any:
    """Run the checked query (lazily: solutions are computed as they are read), `bindings` as terms."""
    return db.backend.query(checked.text, default_graph=default, named_graphs=named, prefixes=PREFIXES,
                            substitutions={ox.Variable(k): v for k, v in (bindings or {}).items()})


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


def write_results(result: Any, fmt: str, limits: Limits, state: dict[str, Any]) -> Iterator[str]:
    """SELECT or ASK results in `fmt` (json, xml, csv, tsv), row by row.

    Stops after ``limits.rows`` rows (``state["truncated"] = True``) and raises :class:`TimeLimit` past
    the deadline (checked between rows).
    """
    deadline = time.monotonic() + limits.seconds
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
        if count >= limits.rows:
            state["truncated"] = True
            break
        if time.monotonic() > deadline:
            raise TimeLimit()
        state["rows"] = count + 1
        values = [solution[n] for n in names]
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
    text = _normalised(text, "update")
    try:
        with _PARSE_LOCK:
            parsed = parseUpdate(text)
    except ParseException as exc:
        raise BadParameter("update", f"syntax error at line {exc.lineno}, column {exc.col}: {exc.msg}") from None
    except Exception:  # noqa: BLE001 - the parser's other failures are syntax errors too
        raise BadParameter("update", "not a SPARQL 1.1 update") from None
    names = set(_names(parsed))
    if "Load" in names or re.search(r"(?i)\bLOAD\s+(?:SILENT\s+)?<", text):
        raise BadParameter("update", "LOAD is not allowed: load data with PUT /sources/NAME or oversight load")
    if "ServiceGraphPattern" in names or _SERVICE.search(text):
        raise BadParameter("update", "SERVICE is not allowed: updates run on this service's data only")
    return text


def update_source(db: Database, name: str, text: str, *, user: str) -> Any:
    """Apply the checked update `text` to the statements of source `name` and load the result as its new version.

    The update runs on a scratch in-memory store holding only that source's statements, as its
    default graph, so it cannot touch another source. The result is validated and committed like
    any load (all or nothing; :func:`graph.ingest.load`), with the same title and licence. A
    source that does not exist yet starts empty.

    Raises
    ------
    BadParameter
        When the update writes to a named graph (``GRAPH``/``WITH``), or fails to evaluate.
    InputError
        When the result breaks the shapes; nothing changes.
    """
    import tempfile
    from dataclasses import replace
    from pathlib import Path

    from graph.ingest import load, plan

    scratch = ox.Store()
    record = db.sources.get(name)
    if record is not None:
        scratch.bulk_extend(ox.Quad(q.subject, q.predicate, q.object, ox.DefaultGraph())
                            for q in db.backend.quads(record.graph))
    try:
        scratch.update(text, prefixes=PREFIXES)
    except (SyntaxError, ValueError, OSError):
        raise BadParameter("update", "the update could not be evaluated on this source") from None
    if any(True for _ in scratch.named_graphs()):
        raise BadParameter("update", "GRAPH and WITH are not supported: an update changes the statements "
                           "of the one source named by 'source', which it sees as its default graph")
    with tempfile.TemporaryDirectory(prefix="oversight-update-") as tmp:
        path = Path(tmp) / f"{name}.nt"
        scratch.dump(str(path), format=ox.RdfFormat.N_TRIPLES, from_graph=ox.DefaultGraph())
        sources = [replace(s, origin="SPARQL Update (/sparql/update)",
                           title=record.title if record else None, licence=record.licence if record else None)
                   for s in plan([path], source=name)]
        return load(db, sources, user=user)[0]
