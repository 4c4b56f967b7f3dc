"""``/queries``: the saved, parameterised queries, listed (JSON or HTML) and run like ``/sparql``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request, url_for

from api.database import get_db
from api.sparql import run
from graph.linkage.facts import facts
from graph.queries import all_saved
from graph.sparql.saved import bind, saved_query

__all__ = ["bp"]

bp = Blueprint("queries", __name__)


def _describe(name: str) -> dict[str, Any]:
    query = all_saved()[name]
    return {"name": name, "title": query.title, "description": query.description,
            "parameters": [{"name": p, "type": kind, "help": text} for p, kind, text in query.params],
            "url": url_for("queries.run_saved", name=name), "text": query.text}


@bp.get("/queries")
def list_saved() -> Any:
    described = [_describe(name) for name in all_saved()]
    if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":
        return render_template("queries.html", queries=described)
    return jsonify({"queries": described})


@bp.get("/queries/<name>")
def run_saved(name: str) -> Response:
    """Run a saved query: each parameter is checked against its declared type and bound as one RDF term."""
    query = saved_query(name)
    raw = {k: v for k, v in request.args.items() if k != "format"}
    return run(query.text, bind(query, raw, facts(get_db())))
