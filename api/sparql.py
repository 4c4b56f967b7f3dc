"""``/sparql``: the SPARQL 1.1 Protocol's query operation, read-only and bounded.

GET ``?query=``, POST ``application/x-www-form-urlencoded`` and POST ``application/sparql-query``,
with ``default-graph-uri`` and ``named-graph-uri``. Without a query, ``GET /sparql`` is the
service description. Queries are checked by :func:`graph.sparql.check` before they run, run
on a bounded pool (``SPARQL_WORKERS``) within ``SPARQL_TIMEOUT``, and are cut at
``SPARQL_MAX_ROWS`` (header ``X-Oversight-Truncated``). Results are spooled (to disk past
8 MB), then streamed.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import IO, Any

import pyoxigraph as ox
from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    jsonify,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import NotAcceptable, UnsupportedMediaType

from api import audit, editor
from api.database import get_db
from api.problems import problem
from graph.database import ONTOLOGY_SOURCE, Pin
from graph.errors import BadParameter
from graph.facts import facts, warm
from graph.iri import SOURCE_NAME
from graph.prefixes import PREFIXES
from graph.queries import all_saved
from graph.saved import example
from graph.sparql import (
    GRAPH_FORMATS,
    RESULT_FORMATS,
    Checked,
    Limits,
    TimeLimit,
    check,
    check_update,
    dataset,
    execute,
    update_source,
    write_results,
)

__all__ = ["bp", "init_app", "run"]

log = logging.getLogger(__name__)
bp = Blueprint("sparql", __name__)
_POOL = "oversight-sparql-pool"
# ``format=`` names, as Fuseki and SPARQLWrapper use them; "json" and "xml" depend on the query form.
_SHORT = {"csv": "text/csv", "tsv": "text/tab-separated-values", "ttl": "text/turtle", "turtle": "text/turtle",
          "n3": "text/turtle", "nt": "application/n-triples", "ntriples": "application/n-triples",
          "n-triples": "application/n-triples", "jsonld": "application/ld+json", "json-ld": "application/ld+json",
          "rdfxml": "application/rdf+xml", "rdf": "application/rdf+xml", "trig": "application/trig",
          "nq": "application/n-quads", "nquads": "application/n-quads"}
_SHORT_RESULTS = {"json": "application/sparql-results+json", "xml": "application/sparql-results+xml"}
_SHORT_GRAPHS = {"json": "application/ld+json", "xml": "application/rdf+xml"}
_SD = "http://www.w3.org/ns/sparql-service-description#"
_FORMATS = "http://www.w3.org/ns/formats/"
_FORMAT_IRIS = ("SPARQL_Results_JSON", "SPARQL_Results_XML", "SPARQL_Results_CSV", "SPARQL_Results_TSV",
                "Turtle", "N-Triples", "JSON-LD", "RDF_XML", "TriG", "N-Quads")
_FIRST_QUERY = """
SELECT ?officer ?identifier ?pseudonym WHERE {
  ?officer a ov:Officer .
  OPTIONAL { ?officer ov:identifier ?identifier }
  OPTIONAL { ?officer ov:pseudonym ?pseudonym }
}
ORDER BY ?identifier
LIMIT 25
"""


def init_app(app: Flask) -> None:
    """The bounded pool queries run on."""
    app.extensions[_POOL] = ThreadPoolExecutor(max_workers=app.config["SPARQL_WORKERS"],
                                               thread_name_prefix="oversight-sparql")


def _body_text(parameter: str) -> str:
    """The request body as text in its declared charset (UTF-8 by default)."""
    try:
        return request.get_data().decode(request.mimetype_params.get("charset", "utf-8"))
    except (UnicodeDecodeError, LookupError):
        raise BadParameter(parameter, "the body is not text in its declared charset (UTF-8 by default)") from None


def _request() -> tuple[str | None, list[str], list[str]]:
    """(query, default-graph-uri, named-graph-uri) as the Protocol passes them."""
    args = request.args
    if request.method == "GET":
        source = args
    elif request.mimetype == "application/x-www-form-urlencoded":
        source = request.form
    elif request.mimetype == "application/sparql-query":
        if "query" in args:
            raise BadParameter("query", "with application/sparql-query the query is the body, not a parameter")
        return _body_text("query"), args.getlist("default-graph-uri"), args.getlist("named-graph-uri")
    elif request.mimetype == "application/sparql-update":
        raise BadParameter("update", "SPARQL Update is not accepted here: this endpoint is read-only")
    else:
        raise UnsupportedMediaType("POST application/x-www-form-urlencoded or application/sparql-query")
    if "update" in source or "update" in args:
        raise BadParameter("update", "SPARQL Update is not accepted here: this endpoint is read-only")
    if request.method == "POST" and "query" in args:
        raise BadParameter("query", "with a form POST the query goes in the body only")
    queries = source.getlist("query")
    if len(queries) > 1:
        raise BadParameter("query", "given more than once")
    if request.method == "POST" and not queries:
        raise BadParameter("query", "is required")
    return (queries[0] if queries else None, source.getlist("default-graph-uri"),
            source.getlist("named-graph-uri"))


def _media_type(form: str) -> str:
    """The result media type: ``format=`` first, then ``Accept`` with q-values; 406 when nothing fits."""
    offered = list(RESULT_FORMATS if form in ("SELECT", "ASK") else GRAPH_FORMATS)
    chosen = request.args.get("format") or request.form.get("format") if request.method == "POST" else \
        request.args.get("format")
    if chosen:
        by_form = _SHORT_RESULTS if form in ("SELECT", "ASK") else _SHORT_GRAPHS
        media = by_form.get(chosen) or _SHORT.get(chosen, chosen)
        if media not in offered:
            raise BadParameter("format", f"cannot give {form} results as {chosen!r}", accepted=offered)
        return media
    if not request.accept_mimetypes or request.accept_mimetypes.best == "*/*":
        return offered[0]
    best = request.accept_mimetypes.best_match(offered)
    if best is None:
        raise NotAcceptable(f"{form} results are available as: {', '.join(offered)}")
    return best


def _produce(db: Any, checked: Checked, default: list[ox.NamedNode], named: list[ox.NamedNode], media: str,
             limits: Limits, cancel: threading.Event, bindings: dict[str, Any], pin: Pin) -> tuple[str, Any]:
    """("ok", (spool, {"truncated", "rows"})), ("timeout", None) or ("failed", None).

    Errors never leave the worker thread: Oxigraph's result objects must be dropped on the thread that
    made them (pyo3 leaks them otherwise), so the frame that holds them ends here.
    """
    try:
        if cancel.is_set():  # the client has had its 503 while this waited for a worker
            return "timeout", None
        return "ok", _write(db, checked, default, named, media, limits, cancel, bindings)
    except TimeLimit:
        return "timeout", None
    except Exception:  # engine errors may carry remote or internal text: logged, never relayed
        log.warning("query evaluation failed", exc_info=True)
        return "failed", None
    finally:
        pin.release()


def _write(db: Any, checked: Checked, default: list[ox.NamedNode], named: list[ox.NamedNode], media: str,
           limits: Limits, cancel: threading.Event, bindings: dict[str, Any]) -> tuple[IO[bytes], dict[str, Any]]:
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # type: ignore[assignment]
    state: dict[str, Any] = {"truncated": False, "rows": 0}
    result = execute(db, checked, default, named, bindings)
    if checked.form in ("SELECT", "ASK"):
        for chunk in write_results(result, RESULT_FORMATS[media], limits, state):
            if cancel.is_set():
                raise TimeLimit()
            spool.write(chunk.encode("utf-8"))
    else:
        triples = []
        for count, triple in enumerate(result):
            if count >= limits.rows:
                state["truncated"] = True
                break
            if cancel.is_set():
                raise TimeLimit()
            triples.append(triple)
        state["rows"] = len(triples)
        fmt = GRAPH_FORMATS[media]
        items = [ox.Quad(t.subject, t.predicate, t.object) for t in triples] \
            if fmt in (ox.RdfFormat.TRIG, ox.RdfFormat.N_QUADS) else triples
        spool.write(ox.serialize(items, format=fmt, prefixes=PREFIXES if fmt in (
            ox.RdfFormat.TURTLE, ox.RdfFormat.TRIG, ox.RdfFormat.RDF_XML) else None) or b"")
    spool.seek(0)
    return spool, state


def _stream(spool: IO[bytes]) -> Any:
    try:
        while chunk := spool.read(65536):
            yield chunk
    finally:
        spool.close()


def _description(db: Any) -> list[ox.Quad]:
    rdf_type = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
    sd = lambda local: ox.NamedNode(_SD + local)  # noqa: E731
    service = ox.NamedNode(request.base_url)
    quads = [ox.Quad(service, rdf_type, sd("Service")), ox.Quad(service, sd("endpoint"), service),
             ox.Quad(service, sd("supportedLanguage"), sd("SPARQL11Query")),
             ox.Quad(service, sd("feature"), sd("UnionDefaultGraph"))]
    quads += [ox.Quad(service, sd("resultFormat"), ox.NamedNode(_FORMATS + f)) for f in _FORMAT_IRIS]
    data, default = ox.BlankNode("dataset"), ox.BlankNode("default")
    quads += [ox.Quad(service, sd("defaultDataset"), data), ox.Quad(data, rdf_type, sd("Dataset")),
              ox.Quad(data, sd("defaultGraph"), default), ox.Quad(default, rdf_type, sd("Graph"))]
    graphs = [rec.graph for name, rec in sorted(db.sources.items()) if name != "ontology"] + [db.meta]
    for i, graph in enumerate(graphs):
        node = ox.BlankNode(f"g{i}")
        quads += [ox.Quad(data, sd("namedGraph"), node), ox.Quad(node, rdf_type, sd("NamedGraph")),
                  ox.Quad(node, sd("name"), graph)]
    sh = "http://www.w3.org/ns/shacl#"
    for i, (prefix, iri) in enumerate(sorted(PREFIXES.items())):  # the prefixes queries need not declare
        node = ox.BlankNode(f"p{i}")
        quads += [ox.Quad(service, ox.NamedNode(sh + "declare"), node),
                  ox.Quad(node, ox.NamedNode(sh + "prefix"), ox.Literal(prefix)),
                  ox.Quad(node, ox.NamedNode(sh + "namespace"),
                          ox.Literal(iri, datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#anyURI")))]
    return quads


def _page() -> str:
    """The query page: YASGUI when it is installed (:mod:`api.editor`), else a plain form."""
    settings = current_app.config
    f = facts(get_db())
    saved = all_saved()
    examples = {name: {"title": q.title, "description": q.description, "text": example(q, f)}
                for name, q in saved.items()}
    query = "".join(f"PREFIX {p}: <{iri}>\n" for p, iri in PREFIXES.items()) + _FIRST_QUERY
    config = {"endpoint": url_for("sparql.sparql"), "query": query, "examples": examples}
    return render_template("sparql.html", config=config, editor=editor.installed(settings["EDITOR_DIR"]),
                           editor_version=editor.VERSION,
                           examples=[{"name": n, **e} for n, e in examples.items()], prefixes=sorted(PREFIXES),
                           timeout=f"{settings['SPARQL_TIMEOUT']:g}", max_rows=settings["SPARQL_MAX_ROWS"])


def _service_description() -> Response | str:
    offered = ["text/turtle", "application/n-triples", "application/ld+json", "application/rdf+xml"]
    accept = request.accept_mimetypes
    if accept and accept.best != "*/*" and accept.best_match(["text/html", *offered]) == "text/html":
        response = current_app.make_response(_page())
        response.headers["Vary"] = "Accept"
        # the editor styles elements inline (CodeMirror, YASR): styles may be inline, scripts may not
        response.headers["Content-Security-Policy"] = ("default-src 'self'; style-src 'self' 'unsafe-inline'; "
                                                       "img-src 'self' data:; frame-ancestors 'none'")
        return response
    media = accept.best_match(offered) if accept else offered[0]
    if accept and accept.best != "*/*" and media is None:
        raise NotAcceptable(f"the service description is available as: {', '.join(offered)}")
    media = media or offered[0]
    body = ox.serialize(_description(get_db()), format=GRAPH_FORMATS[media], prefixes={"sd": _SD}) or b""
    response = Response(body, mimetype=media)
    response.headers["Vary"] = "Accept"
    return response


@bp.route("/sparql", methods=["GET", "POST"])
def sparql() -> Response | str:
    query, default_uris, named_uris = _request()
    if query is None:
        return _service_description()
    return run(check(query), {}, default_uris=default_uris, named_uris=named_uris)


@bp.post("/sparql/update")
def update() -> Response:
    """SPARQL 1.1 Update on one source (``?source=NAME``), for stewards; off unless SPARQL_UPDATE is set.

    The update sees the source's statements as its default graph; the result is validated and
    committed as the source's new version, all or nothing (:func:`graph.sparql.update_source`).
    """
    if not current_app.config["SPARQL_UPDATE"]:
        return problem(403, "Updates are off", "this service does not take SPARQL Update "
                       "(OVERSIGHT_SPARQL_UPDATE=true turns it on, for the steward role)",
                       type_="https://w3id.org/oversight/problems/update-off")
    if request.mimetype == "application/sparql-update":
        text = _body_text("update")
    elif request.mimetype == "application/x-www-form-urlencoded":
        if "query" in request.form:
            raise BadParameter("query", "queries go to /sparql; this route takes 'update'")
        updates = request.form.getlist("update")
        if len(updates) != 1:
            raise BadParameter("update", "give exactly one 'update'")
        text = updates[0]
    else:
        raise UnsupportedMediaType("POST application/sparql-update or application/x-www-form-urlencoded")
    names = request.args.getlist("source")
    if len(names) != 1 or not SOURCE_NAME.match(names[0]) or names[0] == ONTOLOGY_SOURCE:
        raise BadParameter("source", "give the one source to update, such as ?source=charing-cross")
    db = get_db()
    report = update_source(db, names[0], check_update(text), user=g.who["name"])
    warm(db)
    return jsonify({**report.as_dict(), "data_version": db.data_version})


def run(checked: Checked, bindings: dict[str, Any], *, default_uris: list[str] | None = None,
        named_uris: list[str] | None = None) -> Response:
    """Run a checked query on the bounded pool and answer with its negotiated, capped results.

    The graphs it reads are pinned (:meth:`graph.database.Database.pin`) until it has run, so a load
    that commits meanwhile cannot drop them.
    """
    db = get_db()
    pin = db.pin()
    try:
        default, named = dataset(db, checked, default_uris=default_uris or [], named_uris=named_uris or [],
                                 sources=pin.sources)
        media = _media_type(checked.form)
    except BaseException:
        pin.release()
        raise
    settings = current_app.config
    limits = Limits(settings["SPARQL_TIMEOUT"], settings["SPARQL_MAX_ROWS"])
    cancel = threading.Event()
    future = current_app.extensions[_POOL].submit(_produce, db, checked, default, named, media, limits, cancel,
                                                  bindings, pin)
    try:
        status, produced = future.result(timeout=limits.seconds)
    except FutureTimeout:
        status, produced = "timeout", None
    if status == "timeout":
        cancel.set()  # a queued query never starts; a running one stops at its next row
        if future.cancel():
            pin.release()
        return problem(503, "Query time limit", f"the query ran longer than {limits.seconds:g} s and was stopped",
                       type_="https://w3id.org/oversight/problems/query-time-limit")
    if status == "failed":
        return problem(400, "Query failed", "the query could not be evaluated on this data",
                       type_="https://w3id.org/oversight/problems/query-failed")
    spool, state = produced
    truncated = state["truncated"]
    request.environ[audit.ROWS] = state["rows"]
    response = Response(_stream(spool), mimetype=media)
    if media.startswith("text/") or media.endswith(("json", "xml")):
        response.headers["Content-Type"] = f"{media}; charset=utf-8"
    response.headers["Vary"] = "Accept"
    if truncated:
        response.headers["X-Oversight-Truncated"] = "true"
        response.headers["X-Oversight-Row-Limit"] = str(limits.rows)
    return response


@bp.after_app_request
def _cors(response: Response) -> Response:
    origins = current_app.config.get("CORS_ORIGINS") or ()
    origin = request.headers.get("Origin")
    if request.path == "/sparql" and origin and ("*" in origins or origin in origins):
        response.headers["Access-Control-Allow-Origin"] = "*" if "*" in origins else origin
        response.headers["Access-Control-Allow-Methods"] = "GET, POST"
        response.headers["Access-Control-Allow-Headers"] = "Accept, Content-Type"
        response.headers["Access-Control-Expose-Headers"] = "X-Oversight-Truncated, X-Oversight-Row-Limit"
        response.headers.add("Vary", "Origin")
    return response
