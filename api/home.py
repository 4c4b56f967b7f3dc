"""``/``, ``/health``, ``/stats``, ``/openapi.json`` and ``/docs``."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template

from api.answers import pseudonymised
from api.database import get_db
from api.sources import shown
from graph.linkage.pseudonyms import visible_classes
from graph.store.stats import Stats, stats

__all__ = ["bp", "openapi_document"]

bp = Blueprint("home", __name__)


@cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (package data ``api/openapi.json``)."""
    document: dict[str, Any] = json.loads(resources.files("api").joinpath("openapi.json").read_text("utf-8"))
    return document


def _stats() -> Stats:
    found = stats(get_db())
    if pseudonymised():  # readers see the allowlist's classes only (graph.linkage.pseudonyms)
        return Stats(found.data_version, visible_classes(found.classes), found.sources)
    return found


@bp.get("/")
def index() -> str:
    db = get_db()
    return render_template("index.html", sources={name: shown(rec) for name, rec in db.sources.items()},
                           stats=_stats(), store=current_app.config["STORE"])


@bp.get("/health")
def health() -> Response:
    db = get_db()
    return jsonify({"status": "ok", "store": current_app.config["STORE"], "data_version": db.data_version,
                    "sources": len(db.sources)})


@bp.get("/stats")
def show_stats() -> Response:
    return jsonify(_stats().as_dict())


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document())


@bp.get("/docs")
def docs() -> str:
    return render_template("docs.html", api=openapi_document())
