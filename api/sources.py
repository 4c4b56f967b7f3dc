"""``/sources``: list, describe, load (PUT) and remove (DELETE) sources of the dataset."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from werkzeug.exceptions import UnsupportedMediaType

from api.answers import pseudonymised
from api.database import get_db
from api.uploads import MEDIA_TYPES, write_body
from graph import NotFound, delete, load, plan
from graph.linkage.facts import warm
from graph.linkage.pseudonyms import READER_SOURCE_FIELDS
from graph.store.database import SourceRecord

__all__ = ["bp", "shown"]

bp = Blueprint("sources", __name__)


def shown(record: SourceRecord) -> dict[str, Any]:
    """A source's record as this request may see it: readers do not see who loaded it, nor from where."""
    out = record.as_dict()
    if pseudonymised():
        out = {k: v for k, v in out.items() if k in READER_SOURCE_FIELDS}
    return out


@bp.get("/sources")
def list_sources() -> Response:
    db = get_db()
    return jsonify({"data_version": db.data_version,
                    "sources": [shown(rec) for _, rec in sorted(db.sources.items())]})


@bp.get("/sources/<name>")
def show_source(name: str) -> Response:
    record = get_db().sources.get(name)
    if record is None:
        raise NotFound(f"no source named {name!r}")
    return jsonify(shown(record))


@bp.put("/sources/<name>")
def put_source(name: str) -> tuple[Response, int]:
    """Load the request body as source `name`, replacing it if it exists (validated, all or nothing)."""
    media_type = request.mimetype
    if media_type not in MEDIA_TYPES:
        raise UnsupportedMediaType(f"Content-Type must be one of: {', '.join(MEDIA_TYPES)}")
    db = get_db()
    with tempfile.TemporaryDirectory(prefix="oversight-upload-") as tmp:
        path = write_body(request.get_data(cache=False), media_type, Path(tmp),
                          max_bytes=current_app.config["MAX_UPLOAD_BYTES"])
        sources = [replace(s, origin=f"PUT /sources/{name}") for s in
                   plan([path], source=name, title=request.args.get("title"), licence=request.args.get("licence"))]
        reports = load(db, sources, user=g.who["name"], reserve=current_app.config["DISK_RESERVE_BYTES"])
    warm(db)
    body = reports[0].as_dict()
    body["data_version"] = db.data_version
    return jsonify(body), 200 if reports[0].replaced else 201  # decided under the write lock: one 201 per name


@bp.delete("/sources/<name>")
def delete_source(name: str) -> tuple[str, int]:
    db = get_db()
    delete(db, name, user=g.who["name"])
    warm(db)
    return "", 204
