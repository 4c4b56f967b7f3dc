"""The app's dataset and its SPARQL workers: opened by :func:`api.create_app`, kept in ``app.extensions``."""

from __future__ import annotations

from flask import Flask, current_app

from graph import Database, open_database
from graph.sparql.workers import Pool

__all__ = ["init_app", "get_db", "get_pool", "stop_workers", "close"]

_KEY = "oversight"
_POOL = "oversight-sparql-pool"


def init_app(app: Flask) -> None:
    """Open the store the app's settings name (raises StoreLocked if another process holds it).

    With ``READ_ONLY`` in the app's config (the CLI's exports), the on-disk store is opened read-only,
    which works beside a running service.
    """
    app.extensions[_KEY] = open_database(app.config["SETTINGS"], read_only=bool(app.config.get("READ_ONLY")))
    settings = app.config["SETTINGS"]
    # No process starts until the first query needs one.
    app.extensions[_POOL] = Pool(settings["SPARQL_WORKERS"], per_client=settings["SPARQL_CLIENT_QUERIES"],
                                 memory_bytes=settings["SPARQL_WORKER_MEMORY"],
                                 output_bytes=settings["SPARQL_MAX_BYTES"],
                                 require_sandbox=settings["SPARQL_SANDBOX"])


def get_db() -> Database:
    """The current app's :class:`graph.Database`."""
    db: Database = current_app.extensions[_KEY]
    return db


def get_pool() -> Pool:
    """The current app's SPARQL workers (:class:`graph.sparql.workers.Pool`)."""
    pool: Pool = current_app.extensions[_POOL]
    return pool


def stop_workers(app: Flask) -> None:
    """Kill the app's SPARQL workers, running or not (first thing at shutdown: waiting requests end at once)."""
    pool = app.extensions.get(_POOL)
    if pool is not None:
        pool.close()


def close(app: Flask) -> None:
    """Stop the workers, close the app's store and release its lock (tests and shutdown)."""
    stop_workers(app)
    db = app.extensions.pop(_KEY, None)
    if db is not None:
        db.close()
