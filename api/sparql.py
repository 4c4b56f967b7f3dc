"""``/sparql``: the SPARQL 1.1 Protocol's query operation, read-only and bounded.

GET ``?query=``, POST ``application/x-www-form-urlencoded`` and POST ``application/sparql-query``,
with ``default-graph-uri`` and ``named-graph-uri``. Without a query, ``GET /sparql`` is the
service description. Queries are checked and run in a confined worker process
(:func:`graph.sparql.engine.evaluate`: at most ``SPARQL_WORKERS`` at once, killed at ``SPARQL_TIMEOUT``),
cut at ``SPARQL_MAX_ROWS`` (header ``X-Oversight-Truncated``), written to a file by the worker,
then streamed.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pyoxigraph as ox
from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    jsonify,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import (
    NotAcceptable,
    RequestEntityTooLarge,
    UnsupportedMediaType,
)
from werkzeug.wsgi import wrap_file

from api import audit, editor
from api.access import SPARQL_MAX_BODY, client_key
from api.database import get_db, get_pool
from api.problems import problem
from graph.errors import BadParameter
from graph.iri import source_name_problem
from graph.linkage.facts import facts, warm
from graph.prefixes import PREFIXES
from graph.queries import all_saved
from graph.sparql.engine import (
    GRAPH_FORMATS,
    RESULT_FORMATS,
    canonical,
    evaluate,
    update_source,
)
from graph.sparql.saved import example

__all__ = ["bp", "file_response", "run"]

log = logging.getLogger(__name__)
bp = Blueprint("sparql", __name__)
# ``format=`` names, as Fuseki and SPARQLWrapper use them; "json" and "xml" depend on the query form.
_SHORT = {"csv": "text/csv", "tsv": "text/tab-separated-values", "ttl": "text/turtle", "turtle": "text/turtle",
          "n3": "text/turtle", "nt": "application/n-triples", "ntriples": "application/n-triples",
          "n-triples": "application/n-triples", "jsonld": "application/ld+json", "json-ld": "application/ld+json",
          "rdfxml": "application/rdf+xml", "rdf": "application/rdf+xml", "trig": "application/trig",
          "nq": "application/n-quads", "nquads": "application/n-quads", "rdf+xml": "application/rdf+xml",
          "n-quads": "application/n-quads", "tab-separated-values": "text/tab-separated-values",
          "sparql-results+json": "application/sparql-results+json", "sparql-results+xml": "application/sparql-results+xml",
          "ld+json": "application/ld+json"}
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


@bp.before_request
def _bound_body() -> None:
    """Read no more of a body than the longest query could take (chunked bodies included): 413 past it."""
    if (request.content_length or 0) > SPARQL_MAX_BODY:
        raise RequestEntityTooLarge(f"a SPARQL request body is at most {SPARQL_MAX_BODY:,} bytes")
    request.max_content_length = SPARQL_MAX_BODY


def _utf8_only(parameter: str) -> None:
    """Refuse (415) a body declared in another charset than UTF-8, the Protocol's only encoding."""
    charset = request.mimetype_params.get("charset", "utf-8").strip().lower()
    if charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(f"SPARQL {parameter} bodies are UTF-8 (SPARQL 1.1 Protocol); "
                                   f"charset={charset} is not accepted")


def _body_text(parameter: str) -> str:
    """The request body as UTF-8 text (:func:`_utf8_only`)."""
    _utf8_only(parameter)
    try:
        return request.get_data().decode("utf-8")
    except UnicodeDecodeError:
        raise BadParameter(parameter, "the body is not UTF-8 text") from None


def _request() -> tuple[str | None, list[str], list[str]]:
    """(query, default-graph-uri, named-graph-uri) as the Protocol passes them."""
    args = request.args
    if request.method in ("GET", "HEAD"):
        source = args
    elif request.mimetype == "application/x-www-form-urlencoded":
        _utf8_only("query")
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
    if source is not args:  # a form POST: the dataset may be given in the URL too
        return (queries[0] if queries else None, args.getlist("default-graph-uri") + source.getlist("default-graph-uri"),
                args.getlist("named-graph-uri") + source.getlist("named-graph-uri"))
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


def file_response(path: Path, media: str) -> Response:
    """The file `path` as the response body in `media` (UTF-8 for text types; ``Vary: Accept``); unlinked once open.

    Unlinked at once, so nothing is left behind whether the body is sent, cut short, or never
    read (``HEAD``). Handed to the server as a file, waitress sends it from its own loop, so a
    client that reads slowly holds no request thread.

    Parameters
    ----------
    path : Path
        A scratch file the response now owns.
    media : str
        Its media type.
    """
    handle = open(path, "rb")  # noqa: SIM115 - closed by the WSGI server with the response
    path.unlink(missing_ok=True)
    response = Response(wrap_file(request.environ, handle), mimetype=media, direct_passthrough=True)
    response.content_length = os.fstat(handle.fileno()).st_size
    if media.startswith("text/") or media.endswith(("json", "xml")):
        response.headers["Content-Type"] = f"{media}; charset=utf-8"
    response.headers["Vary"] = "Accept"
    return response


def _description(db: Any) -> list[ox.Quad]:
    rdf_type = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
    sd = lambda local: ox.NamedNode(_SD + local)  # noqa: E731
    service = ox.NamedNode(current_app.config["PUBLIC_BASE"] + "sparql")  # api.server.public_base: never Host
    quads = [ox.Quad(service, rdf_type, sd("Service")), ox.Quad(service, sd("endpoint"), service),
             ox.Quad(service, sd("supportedLanguage"), sd("SPARQL11Query"))]
    # Not sd:UnionDefaultGraph: the default graph is the union of the source graphs, and the metadata graph
    # (provenance) is a named graph only, so the default graph is not the union of all named graphs.
    quads += [ox.Quad(service, sd("resultFormat"), ox.NamedNode(_FORMATS + f)) for f in _FORMAT_IRIS]
    data, default = ox.BlankNode("dataset"), ox.BlankNode("default")
    quads += [ox.Quad(service, sd("defaultDataset"), data), ox.Quad(data, rdf_type, sd("Dataset")),
              ox.Quad(data, sd("defaultGraph"), default), ox.Quad(default, rdf_type, sd("Graph"))]
    graphs = [rec.stable_graph for name, rec in sorted(db.sources.items()) if name != "ontology"] + [db.meta]
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
    return run(query, {}, default_uris=default_uris, named_uris=named_uris)


@bp.post("/sparql/update")
def update() -> Response:
    """SPARQL 1.1 Update on one source (``?source=NAME``), for stewards; off unless SPARQL_UPDATE is set.

    The update sees the source's statements as its default graph; the result is validated and
    committed as the source's new version, all or nothing (:func:`graph.sparql.engine.update_source`).
    """
    if not current_app.config["SPARQL_UPDATE"]:
        return problem(403, "Updates are off", "this service does not take SPARQL Update "
                       "(OVERSIGHT_SPARQL_UPDATE=true turns it on, for the steward role)",
                       type_="https://w3id.org/oversight/problems/update-off")
    if request.mimetype == "application/sparql-update":
        text = _body_text("update")
    elif request.mimetype == "application/x-www-form-urlencoded":
        _utf8_only("update")
        if "query" in request.form:
            raise BadParameter("query", "queries go to /sparql; this route takes 'update'")
        updates = request.form.getlist("update")
        if len(updates) != 1:
            raise BadParameter("update", "give exactly one 'update'")
        text = updates[0]
    else:
        raise UnsupportedMediaType("POST application/sparql-update or application/x-www-form-urlencoded")
    if any(k in request.args or k in request.form for k in ("using-graph-uri", "using-named-graph-uri")):
        raise BadParameter("using-graph-uri", "an update sees the one source named by 'source' as its default graph; "
                           "using-graph-uri and using-named-graph-uri are not supported")
    names = request.args.getlist("source")
    if len(names) != 1 or source_name_problem(names[0]):
        raise BadParameter("source", "give the one source to update, such as ?source=charing-cross")
    db = get_db()
    report = update_source(db, get_pool(), names[0], text, user=g.who["name"],
                           timeout=current_app.config["SPARQL_TIMEOUT"], client=client_key(),
                           reserve=current_app.config["DISK_RESERVE_BYTES"])
    warm(db)
    return jsonify({**report.as_dict(), "data_version": db.data_version})


def _offered_media() -> dict[str, Any]:
    """The negotiated media type for each kind of result, or the error to give if the query is of that kind."""
    out: dict[str, Any] = {}
    for kind, form in (("results", "SELECT"), ("graphs", "CONSTRUCT")):
        try:
            out[kind] = _media_type(form)
        except (BadParameter, NotAcceptable) as error:
            out[kind] = error
    return out


def run(text: str, bindings: dict[str, Any], *, default_uris: list[str] | None = None,
        named_uris: list[str] | None = None) -> Response:
    """Check and run the query `text` in a confined worker and answer with its negotiated, capped results.

    See :func:`graph.sparql.engine.evaluate`; refusals and failures become problems through
    :mod:`api.problems` (503 with ``Retry-After`` when every worker is busy, 429 past a client's
    share, 503 at the time limit, 400 when the engine fails).

    Parameters
    ----------
    text : str
        The query: a client's, or a saved one's (at most 100,000 characters: :func:`graph.sparql.engine.canonical`).
    bindings : dict
        Variable name -> pyoxigraph term, substituted before evaluation (a saved query's parameters;
        empty for ``/sparql``).
    default_uris, named_uris : list of str, optional
        The Protocol's ``default-graph-uri`` and ``named-graph-uri``, if given
        (:func:`graph.sparql.engine.graphs_for`).
    """
    settings = current_app.config
    canonical(text)  # empty or too long: refused here, before a worker is asked
    offered = _offered_media()
    evaluated = evaluate(get_db(), get_pool(), text, timeout=settings["SPARQL_TIMEOUT"],
                         rows=settings["SPARQL_MAX_ROWS"], client=client_key(),
                         results_media=None if isinstance(offered["results"], Exception) else offered["results"],
                         graph_media=None if isinstance(offered["graphs"], Exception) else offered["graphs"],
                         default_uris=default_uris, named_uris=named_uris, bindings=bindings,
                         base_iri=settings["PUBLIC_BASE"] + "sparql")
    if evaluated.media is None:
        evaluated.path.unlink(missing_ok=True)
        raise offered["results" if evaluated.form in ("SELECT", "ASK") else "graphs"]
    media = evaluated.media
    request.environ[audit.ROWS] = evaluated.rows
    response = file_response(evaluated.path, media)
    if evaluated.truncated:
        response.headers["X-Oversight-Truncated"] = "true"
        response.headers["X-Oversight-Row-Limit"] = str(settings["SPARQL_MAX_ROWS"])
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
