"""The bundled demonstration case: the IOPC's linked Charing Cross investigations (report of 2022-02-01).

Facts from the news account in ``shared/seed/``; which officer was in which
investigation is not public, so those rows are marked ``illustrative`` in the
data itself (``ov:evidenceStatus ov:Illustrative``), chosen to agree with
every reported figure.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from graph.ingest.load import LoadReport, SourceInput, load
from graph.store.database import Database

__all__ = ["BUNDLED_SOURCE", "bundled_path", "load_bundled"]

BUNDLED_SOURCE = "charing-cross"


def bundled_path() -> Path:
    """The folder of the bundled case's CSV files (package data)."""
    return Path(str(resources.files("graph.ingest").joinpath("bundled", BUNDLED_SOURCE)))


def load_bundled(db: Database, *, user: str = "oversight") -> list[LoadReport]:
    """Load the bundled case as source ``charing-cross``.

    Parameters
    ----------
    db : Database
        The store it is loaded into (:func:`graph.ingest.load.load`: all or nothing, replacing an earlier load).
    user : str
        Who loads it, recorded as the run's ``loaded_by``.
    """
    source = SourceInput(BUNDLED_SOURCE, (bundled_path(),),
                         title="IOPC linked investigations at Charing Cross police station (demo case)",
                         licence="Facts from public reporting; illustrative assignments marked in the data",
                         origin="package:graph/ingest/bundled/charing-cross")
    return load(db, [source], user=user)
