"""``/store``: the SPARQL 1.1 Graph Store HTTP Protocol over the sources' graphs (indirect identification).

``GET /store?graph=IRI`` (or ``?default``) gives a graph as investigators query it: a source's statements under
its stable name ``{base}graph/{source}`` (:mod:`graph.sparql.names`), the metadata graph, or, with ``?default``,
the union of the sources (SPARQL's default graph); ``HEAD`` the same without a body. ``PUT`` replaces a source
with the body, ``POST`` adds the body's statements to it (a new version holding both) and ``DELETE`` removes
it, for stewards, through the same validated, all-or-nothing loader as ``PUT /sources/NAME``. A graph the
service does not hold is 404; only ``{base}graph/{source}`` names can be written.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import pyoxigraph as ox
from flask import Blueprint, Response, current_app, g, jsonify, request
from werkzeug.exceptions import NotAcceptable, UnsupportedMediaType

from api.database import get_db
from api.sparql import file_response
from api.uploads import MEDIA_TYPES, write_body
from graph import NotFound, delete, load, plan
from graph.errors import BadParameter, StorageFull, is_disk_full
from graph.iri import SOURCE_NAME, source_graph, source_name_problem
from graph.linkage.facts import warm
from graph.prefixes import PREFIXES
from graph.store.database import Database, Pin

__all__ = ["GRAPH_MEDIA", "bp"]

bp = Blueprint("graphstore", __name__)

#: What ``GET`` offers, the first the default (a graph: no quad formats).
GRAPH_MEDIA = {"text/turtle": ox.RdfFormat.TURTLE, "application/n-triples": ox.RdfFormat.N_TRIPLES,
               "application/ld+json": ox.RdfFormat.JSON_LD, "application/rdf+xml": ox.RdfFormat.RDF_XML}


def _target() -> str | None:
    """The graph IRI the request names (``?graph=``), or None for ``?default``; exactly one of the two."""
    graphs = request.args.getlist("graph")
    if ("default" in request.args) == bool(graphs) or len(graphs) > 1:
        raise BadParameter("graph", "name one graph: ?graph=IRI (a source's graph, as /sources lists it) or ?default")
    return graphs[0] if graphs else None


def _source_of(db: Database, iri: str) -> str | None:
    """The source whose stable graph name is `iri`, if `iri` has that form (whether or not it exists yet)."""
    prefix = f"{db.base_iri}graph/"
    name = iri[len(prefix):] if iri.startswith(prefix) else ""
    return name if name and source_name_problem(name) is None else None


def _graphs(db: Database, pin: Pin, iri: str | None) -> tuple[list[ox.NamedNode], dict[ox.NamedNode, ox.NamedNode]]:
    """The store's graphs that graph `iri` (None: the default graph) is, in the pinned version, and each current
    run's graph -> its stable name."""
    current = {rec.stable_graph.value: rec for rec in pin.data}
    stable = pin.stable_names
    if iri is None:
        return list(stable), stable
    if iri == db.meta.value:
        return [db.meta], stable
    if iri in current:
        return [current[iri].graph], stable
    raise NotFound(f"this service holds no graph {iri!r} (GET /sparql lists its graphs)")


def _media() -> str:
    accept = request.accept_mimetypes
    if not accept or accept.best == "*/*":
        return next(iter(GRAPH_MEDIA))
    best = accept.best_match(list(GRAPH_MEDIA))
    if best is None:
        raise NotAcceptable(f"a graph is available as: {', '.join(GRAPH_MEDIA)}")
    return best


def _serialised(triples: Iterable[ox.Triple], media: str) -> Response:
    """`triples` written in `media` to a scratch file (a full disk: 507, the file removed), sent as that file."""
    handle, name = tempfile.mkstemp(prefix="oversight-graph-")
    os.close(handle)
    try:
        fmt = GRAPH_MEDIA[media]
        with open(name, "wb") as out:
            ox.serialize(triples, out, fmt,
                         prefixes=PREFIXES if fmt in (ox.RdfFormat.TURTLE, ox.RdfFormat.RDF_XML) else None)
    except BaseException as exc:
        os.unlink(name)
        if is_disk_full(exc):
            raise StorageFull("no room to write the graph out; try again later, or ask for one source's graph") from None
        raise
    return file_response(Path(name), media)


@bp.get("/store")
def get_graph() -> Response:
    """A graph (investigators): a source's, the metadata graph, or the default graph."""
    iri = _target()
    media = _media()
    db = get_db()
    with db.pin() as pin:  # a load that lands meanwhile must not drop the graphs being read
        graphs, stable = _graphs(db, pin, iri)
        # the metadata graph names a current run's graph as queries do
        return _serialised((ox.Triple(stable.get(q.subject, q.subject), q.predicate,  # type: ignore[arg-type]
                                         stable.get(q.object, q.object))  # type: ignore[arg-type]
                               for graph in graphs for q in db.backend.quads(graph)), media)


def _writable(db: Database) -> str:
    iri = _target()
    name = _source_of(db, iri) if iri is not None else None
    if name is None:
        raise BadParameter("graph", f"only a source's graph, {db.base_iri}graph/NAME, can be written "
                           f"(NAME matching {SOURCE_NAME.pattern}, not 'ontology' or 'meta')")
    return name


def _upload(db: Database, name: str, *, merge: bool) -> tuple[Response, int]:
    media_type = request.mimetype
    if media_type not in MEDIA_TYPES:
        raise UnsupportedMediaType(f"Content-Type must be one of: {', '.join(MEDIA_TYPES)}")
    with tempfile.TemporaryDirectory(prefix="oversight-upload-") as tmp:
        path = write_body(request.get_data(cache=False), media_type, Path(tmp),
                          max_bytes=current_app.config["MAX_UPLOAD_BYTES"])
        origin = f"{request.method} /store?graph={source_graph(name, base=db.base_iri).value}"
        with db.write_lock:  # POST: what is added to is what is current (no load in between)
            record = db.sources.get(name)
            paths = [path]
            if merge and record is not None:
                paths.append(Path(tmp) / "current.nt")  # after the body: issues name the body's file first
                ox.serialize((ox.Triple(q.subject, q.predicate, q.object) for q in db.backend.quads(record.graph)),
                             str(paths[1]), ox.RdfFormat.N_TRIPLES)
            title = request.args.get("title") or (record.title if record else None)
            licence = request.args.get("licence") or (record.licence if record else None)
            sources = [replace(s, origin=origin) for s in plan(paths, source=name, title=title, licence=licence)]
            reports = load(db, sources, user=g.who["name"], reserve=current_app.config["DISK_RESERVE_BYTES"])
    warm(db)
    body = reports[0].as_dict()
    body["data_version"] = db.data_version
    return jsonify(body), 200 if reports[0].replaced else 201


@bp.put("/store")
def put_graph() -> tuple[Response, int]:
    """Replace (or create) a source's graph with the body (stewards): 201 created, 200 replaced."""
    db = get_db()
    return _upload(db, _writable(db), merge=False)


@bp.post("/store")
def post_graph() -> tuple[Response, int]:
    """Add the body's statements to a source's graph (stewards): validated as a new version of both."""
    db = get_db()
    return _upload(db, _writable(db), merge=True)


@bp.delete("/store")
def delete_graph() -> tuple[str, int]:
    """Remove a source (stewards): 204; 404 if there is none."""
    db = get_db()
    delete(db, _writable(db), user=g.who["name"])
    warm(db)
    return "", 204
