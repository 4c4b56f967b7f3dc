"""The app's dataset: opened by :func:`api.create_app`, kept in ``app.extensions``."""

from __future__ import annotations

from flask import Flask, current_app

from graph import Database, open_database

__all__ = ["init_app", "get_db", "close"]

_KEY = "oversight"


def init_app(app: Flask) -> None:
    """Open the store the app's settings name (raises StoreLocked if another process holds it).

    With ``READ_ONLY`` in the app's config (the CLI's exports), the on-disk store is opened read-only,
    which works beside a running service.
    """
    app.extensions[_KEY] = open_database(app.config["SETTINGS"], read_only=bool(app.config.get("READ_ONLY")))


def get_db() -> Database:
    """The current app's :class:`graph.Database`."""
    db: Database = current_app.extensions[_KEY]
    return db


def close(app: Flask) -> None:
    """Close the app's store and release its lock (tests and shutdown)."""
    db = app.extensions.pop(_KEY, None)
    if db is not None:
        db.close()
