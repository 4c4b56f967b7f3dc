"""``/export/{view}.{format}``: graph exports, streamed, each with a manifest.

``/export/officers.graphml?kinds=co-accused`` streams the body; its ``Link`` header names
``/export/officers.manifest.json?format=graphml&kinds=co-accused`` (rel ``describedby``),
which describes it: counts, checksum, sources. ``/export/context.jsonld`` is the JSON-LD
context of JSON-LD exports.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import urlencode

import pyoxigraph as ox
from flask import Blueprint, Response, current_app, request, stream_with_context
from werkzeug.exceptions import Forbidden

from api.access import client_key
from api.answers import FILTER_PARAMS, Params, etag, is_fresh, pseudonymised, view_facts
from api.database import get_db, get_pool
from graph.errors import BadParameter
from graph.export.formats import (
    CONTEXT,
    EXPORT_FORMATS,
    Format,
    body,
    manifest,
    view_quads,
)
from graph.export.views import VIEWS, ExportGraph, constructed, view
from graph.linkage.facts import Facts
from graph.linkage.projection import Projection, projection
from graph.linkage.pseudonyms import pseudonymous_facts
from graph.sparql.engine import check, evaluate
from graph.sparql.saved import bind, saved_query
from graph.store.derived import Kind, is_current

__all__ = ["bp"]

bp = Blueprint("exports", __name__)

_NETWORK_PARAMS = ("kinds", "basis", "max_group_size", "min_weight", *FILTER_PARAMS)


def _split(spec: str) -> tuple[str, str | None, str]:
    """``officer/ID.graphml`` -> (``officer``, ``ID``, ``graphml``); ``.manifest.json`` gives ``manifest``."""
    for suffix in ("manifest.json", "cytoscape.json", *EXPORT_FORMATS):
        if spec.endswith("." + suffix):
            name = spec[: -len(suffix) - 1]
            kind, slash, entity = name.partition("/")
            if slash and not entity:
                raise BadParameter("view", "an id must follow the slash: VIEW/ID.FORMAT")
            return kind, entity or None, "manifest" if suffix == "manifest.json" else suffix
    raise BadParameter("format", "unknown format", accepted=[*EXPORT_FORMATS, "manifest.json"])


def _constructed(f: Facts, name: str) -> ExportGraph:
    """The export of a saved CONSTRUCT query, its parameters bound from the request, run in a SPARQL worker."""
    query = saved_query(name)
    if check(query.text).form != "CONSTRUCT":
        raise BadParameter("view", f"{name} is not a CONSTRUCT query: only graphs can be exported")
    raw = {k: v for k, v in request.args.items() if k not in ("flavour", "format")}
    bindings = bind(query, raw, f)
    settings = current_app.config
    limit = settings["SPARQL_MAX_ROWS"]
    evaluated = evaluate(get_db(), get_pool(), query.text, timeout=settings["SPARQL_TIMEOUT"], rows=limit + 1,
                         client=client_key(), bindings=bindings,
                         graph_media="application/n-triples")
    try:
        triples = [q.triple for q in ox.parse(path=str(evaluated.path), format=ox.RdfFormat.N_TRIPLES)]
    finally:
        evaluated.path.unlink(missing_ok=True)
    if len(triples) > limit:
        raise BadParameter("view", f"the query built more than {limit:,} triples (OVERSIGHT_SPARQL_MAX_ROWS)")
    parameters = {k: v for k, v in raw.items()}
    return constructed(f, name, triples, parameters)


def _export(f: Facts, kind: str, entity: str | None, p: Params) -> ExportGraph:
    if kind == "query" and entity:
        if pseudonymised():
            raise Forbidden("exports of saved queries need the investigator role: they read the store itself")
        return _constructed(f, entity)
    if kind not in VIEWS:
        raise BadParameter("view", f"unknown view {kind!r}", accepted=sorted([*VIEWS, "query/NAME"]))
    classes = VIEWS[kind]
    if (classes is None) != (entity is None):
        raise BadParameter("view", f"the {kind} view takes {'no id' if classes is None else 'an id: ' + kind + '/ID'}")
    hops, min_weight = p.integer("hops", 1, 1, 5), p.integer("min_weight", 1, 1, 1_000_000)
    spec = p.projection()[1] if kind in ("officers", "officer") else None  # parameters before ids
    iri = None
    if classes is not None and entity is not None:
        from api.answers import entity_id
        iri = entity_id(f, entity, "view", *classes)
    db = get_db()

    def networks(wanted: Projection | None, full: bool) -> Any:
        return projection(db, wanted, full=full, f=f)[1]

    parameters = {k: ",".join(v) for k, v in request.args.lists() if k != "format"}
    return view(f, kind, entity=iri, projection=spec, hops=hops, min_weight=min_weight, parameters=parameters,
                networks=networks)


def _params(kind: str, entity: str | None, extra: tuple[str, ...]) -> Params:
    accepted = ("flavour", *extra)
    if kind == "query" and entity:
        accepted += tuple(name for name, _, _ in saved_query(entity).params)
    if kind in ("officers", "officer"):
        accepted += _NETWORK_PARAMS
    if kind == "officer":
        accepted += ("hops",)
    return Params(accepted)


def _stream(export: ExportGraph, fmt: Format, flavour: str, f: Facts) -> Any:
    db = get_db()
    if "triples" in export.extra:  # a saved CONSTRUCT query: its triples are the RDF
        quads: Any = [ox.Quad(t.subject, t.predicate, t.object) for t in export.extra["triples"]]
    else:
        names = pseudonymous_facts(db, current_app.config["DATA_DIR"])[1] if pseudonymised() else None
        quads = view_quads(db, export, with_meta=fmt.name in ("nq", "trig", "jsonld"), names=names) \
            if fmt.is_rdf else ()
    describe = manifest(f, export, fmt, None) if fmt.name == "csv" else None
    if describe is not None:
        describe.pop("generated_at")  # inside the zip: the same data gives the same bytes
    return body(export, fmt, flavour=flavour, quads=quads, describe=describe)


@bp.get("/export/context.jsonld")
def context() -> Response:
    return Response(json.dumps(CONTEXT, indent=1, sort_keys=True) + "\n", mimetype="application/ld+json")


@bp.get("/export/<path:spec>")
def export(spec: str) -> Response:
    kind, entity, name = _split(spec)
    p = _params(kind, entity, ("format",) if name == "manifest" else ())
    flavour = p.choice("flavour", ("plain", "yed"), "plain")
    if name == "manifest":
        fmt = EXPORT_FORMATS[p.choice("format", tuple(EXPORT_FORMATS), "graphml")]
    else:
        fmt = EXPORT_FORMATS[name]
    if flavour == "yed" and fmt.name != "graphml":
        raise BadParameter("flavour", "yed applies to graphml only")
    db = get_db()
    tag = etag(db.data_version)
    if is_fresh(tag):
        response = Response(status=304)
        response.set_etag(tag)
        return response
    f = view_facts(db)
    export_graph = _export(f, kind, entity, p)
    if name == "manifest":
        def describe() -> dict[str, Any]:
            digest = hashlib.sha256()
            for chunk in _stream(export_graph, fmt, flavour, f):
                digest.update(chunk)
            return manifest(f, export_graph, fmt, digest.hexdigest())

        described = db.derived.get_or_build(Kind.MANIFEST, f.version, request.full_path, describe,
                                            keep=lambda: is_current(f.version, db.data_version))
        response = Response(json.dumps(described, indent=1, sort_keys=True, ensure_ascii=False) + "\n",
                            mimetype="application/json")
    else:
        response = Response(stream_with_context(_stream(export_graph, fmt, flavour, f)), mimetype=fmt.media_type)
        base = spec[: -len(fmt.name) - 1]
        query = urlencode([("format", fmt.name), *((k, v) for k, v in request.args.items(multi=True))])
        response.headers["Link"] = f'</export/{base}.manifest.json?{query}>; rel="describedby"; type="application/json"'
        filename = base.replace("/", "-") + ("." + fmt.name if fmt.name != "csv" else ".csv.zip")
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    if pseudonymised():
        response.headers["X-Oversight-View"] = "pseudonymised"
    response.set_etag(tag)
    response.headers["Cache-Control"] = "private, no-cache"
    return response
