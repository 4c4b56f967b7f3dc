"""oversight-graph's core: the RDF dataset, ingest, validation and (later) projections and linkage.

Never imports Flask: the HTTP layer lives in :mod:`api`.
"""

from __future__ import annotations

from typing import Any

from graph.errors import (
    ConfigError,
    InputError,
    Issue,
    NotFound,
    OversightError,
    StoreLocked,
    StoreUnavailable,
)
from graph.ingest.load import (
    LoadReport,
    SourceInput,
    delete,
    install_ontology,
    load,
    plan,
    validate,
)
from graph.linkage.facts import LISTENER
from graph.store.backend import open_backend
from graph.store.database import Database, SourceRecord

__all__ = [
    "Database", "SourceRecord", "open_database",
    "SourceInput", "LoadReport", "plan", "load", "validate", "delete",
    "OversightError", "ConfigError", "InputError", "Issue", "NotFound", "StoreLocked", "StoreUnavailable",
]


def open_database(settings: dict[str, Any], *, read_only: bool = False) -> Database:
    """Open the store `settings` names, tidy it and make sure the current ontology is loaded.

    Parameters
    ----------
    settings : dict
        Resolved settings (:func:`graph.settings.resolve`).
    read_only : bool
        Open without writing (for queries while a service holds the store).
    """
    db = Database(open_backend(settings, read_only=read_only), base_iri=settings["BASE_IRI"],
                  refresh=settings["STORE_REFRESH"], grace=settings["STORE_GRACE"])
    db.listeners.append(LISTENER)  # loads index the linkage facts as they go
    if not db.backend.is_read_only:
        db.collect_garbage()  # orphans of loads that were interrupted, even by kill -9
        install_ontology(db)
    return db
