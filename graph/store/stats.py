"""Counts of what the store holds: instances per class and statements per source."""

from __future__ import annotations

from dataclasses import dataclass, field

from graph.queries import internal
from graph.store.database import ONTOLOGY_SOURCE, Database

__all__ = ["Stats", "stats"]


@dataclass(frozen=True)
class Stats:
    """Counts at one data version."""

    data_version: str
    classes: dict[str, int] = field(default_factory=dict)  # class IRI -> instances
    sources: dict[str, int] = field(default_factory=dict)  # source name -> statements

    def as_dict(self) -> dict[str, object]:
        return {"data_version": self.data_version, "classes": self.classes, "sources": self.sources}


def stats(db: Database) -> Stats:
    """Instances per class over the loaded sources (the ontology excluded) and statements per source."""
    sources = db.sources
    graphs = [rec.graph for name, rec in sorted(sources.items()) if name != ONTOLOGY_SOURCE]
    classes = {}
    if graphs:
        classes = {sol["class"].value: int(sol["count"].value)
                   for sol in db.query(internal("class-counts").text, graphs=graphs)}
    return Stats(db.data_version, classes, {name: rec.triples for name, rec in sorted(sources.items())})
