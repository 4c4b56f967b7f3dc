"""The ontology's SKOS concepts, read in one place: what the tabular format, mappings and linkage filters take.

Each concept has an IRI, the notation that CSV cells and API parameters use, a label and its scheme. The
SKOS links between them (broader, narrower and the mapping relations) are given as they are stated; what a
link means for a filter is the linkage layer's business (:mod:`graph.linkage.facts`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from rdflib import URIRef
from rdflib.namespace import RDF, SKOS

from ontology import ontology_graph

__all__ = ["Concept", "LINKS", "all_concepts", "by_notation", "concept", "links"]

#: The SKOS links between concepts that the ontology and sources may state (local names).
LINKS = ("broader", "narrower", "exactMatch", "closeMatch", "broadMatch", "narrowMatch")


@dataclass(frozen=True)
class Concept:
    """A SKOS concept: its IRI, its notation (what the API and CSV take), its label and its scheme."""

    iri: str
    notation: str
    label: str
    scheme: str


@cache
def all_concepts() -> dict[str, Concept]:
    """IRI -> concept for every concept of the ontology that has a notation."""
    graph = ontology_graph()
    return {str(c): Concept(str(c), str(graph.value(c, SKOS.notation)), str(graph.value(c, SKOS.prefLabel) or ""),
                            str(graph.value(c, SKOS.inScheme) or ""))
            for c in graph.subjects(SKOS.notation, None)}


def concept(iri: str) -> Concept:
    """The concept `iri`; an IRI the ontology does not define gets its local name as notation and label."""
    local = iri.rsplit("#", 1)[-1]
    return all_concepts().get(iri) or Concept(iri, local, local, "")


@cache
def _by_notation(concept_class: str) -> dict[str, Concept]:
    graph = ontology_graph()
    known = all_concepts()
    return {known[str(c)].notation: known[str(c)] for c in graph.subjects(RDF.type, URIRef(concept_class))
            if str(c) in known}


def by_notation(concept_class: str) -> dict[str, Concept]:
    """Notation -> concept for every concept of `concept_class` (an IRI, such as ``str(OV.Outcome)``).

    The dictionary is shared: do not change it."""
    return _by_notation(str(concept_class))


@cache
def links() -> tuple[tuple[str, str, str], ...]:
    """Every SKOS link between the ontology's concepts, as (local name of the :data:`LINKS` property, subject,
    object)."""
    graph = ontology_graph()
    return tuple((name, str(s), str(o)) for name in LINKS for s, o in graph.subject_objects(SKOS[name]))
