"""oversight-graph's HTTP layer: a thin Flask app over :mod:`graph`.

Views parse the request, call one ``graph`` function and render the result;
errors become RFC 9457 problem documents in :mod:`api.problems`.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from graph.settings import resolve

__all__ = ["create_app"]


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app: settings from ``OVERSIGHT_*`` (overridden by `test_config`), then the store.

    Parameters
    ----------
    test_config : dict, optional
        Setting values by name (``DATA_DIR``, ``STORE``...) and any Flask config keys.
    """
    from api import (
        access,
        audit,
        database,
        editor,
        entities,
        exports,
        graphstore,
        home,
        linkage,
        problems,
        saved,
        sources,
        sparql,
    )
    from api.server import public_base

    app = Flask(__name__)
    settings = resolve(test_config)
    app.config.update(settings)
    app.config.update({k: v for k, v in (test_config or {}).items() if k not in settings})  # e.g. TESTING
    app.config["SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings["MAX_UPLOAD_BYTES"]
    app.config["PUBLIC_BASE"] = public_base(settings)  # the service's own URL, never the request's Host
    app.json.sort_keys = True  # type: ignore[attr-defined]
    logging.getLogger("graph").setLevel(settings["LOG_LEVEL"])
    problems.init_app(app)
    database.init_app(app)
    access.init_app(app)
    audit.init_app(app)
    app.register_blueprint(home.bp)
    app.register_blueprint(sources.bp)
    app.register_blueprint(entities.bp)
    app.register_blueprint(linkage.bp)
    app.register_blueprint(exports.bp)
    app.register_blueprint(sparql.bp)
    app.register_blueprint(graphstore.bp)
    app.register_blueprint(saved.bp)
    app.register_blueprint(editor.bp)

    @app.after_request
    def _headers(response):  # type: ignore[no-untyped-def]
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy",
                                        "default-src 'self'; frame-ancestors 'none'; form-action 'self'")
        return response

    return app
