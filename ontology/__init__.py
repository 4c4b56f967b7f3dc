"""The oversight-graph ontology as data: OWL + SKOS (``oversight.ttl``) and SHACL (``shapes.ttl``).

The Turtle files are package data, parsed once and checked when first used.
Code refers to terms through :data:`OV`, the generated closed namespace (rdflib terms), or :data:`OX`, the
same terms as pyoxigraph nodes.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from rdflib import Graph, Namespace

from ontology.namespace import OV, OX

__all__ = ["OV", "OX", "ONTOLOGY_IRI", "SHAPES", "ontology_graph", "shapes_graph", "turtle"]

ONTOLOGY_IRI = "https://w3id.org/oversight/ontology"
SHAPES = Namespace("https://w3id.org/oversight/shapes#")

_FILES = ("oversight.ttl", "shapes.ttl")


def turtle(name: str) -> str:
    """Return the Turtle text of one ontology file (``oversight.ttl`` or ``shapes.ttl``)."""
    if name not in _FILES:
        raise ValueError(f"no ontology file {name!r}")
    return resources.files("ontology").joinpath(name).read_text("utf-8")


@cache
def ontology_graph() -> Graph:
    """The OWL and SKOS ontology as an rdflib graph (parsed once; do not mutate)."""
    return Graph().parse(data=turtle("oversight.ttl"), format="turtle")


@cache
def shapes_graph() -> Graph:
    """The SHACL shapes as an rdflib graph (parsed once; do not mutate)."""
    return Graph().parse(data=turtle("shapes.ttl"), format="turtle")
