"""Minting of instance, graph and run IRIs: one function, opaque, stable, with a configurable base."""

from __future__ import annotations

import hashlib
import re
import uuid

from pyoxigraph import NamedNode

__all__ = ["EMPTY_GRAPH", "mint", "local_id", "graph_iri", "source_graph", "run_iri", "source_iri", "meta_graph", "SOURCE_NAME", "RESERVED_SOURCES",
           "ONTOLOGY_SOURCE", "source_name_problem"]

#: Stands for every graph a query names that this service does not hold: no load can write to it, so it is
#: always empty (the Protocol's tests, Fuseki and Oxigraph server treat an unknown graph as an empty one).
EMPTY_GRAPH = "urn:x-oversight:empty-graph"

SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}\Z")
#: Names no one may load a source under: ``ontology`` is the ontology's own source, and ``meta`` names the metadata
#: graph (``{base}graph/meta``), which a source's graph name ``{base}graph/{source}`` must never be.
ONTOLOGY_SOURCE = "ontology"  # the source holding the ontology and shapes
_META = "meta"  # the metadata graph's name, beside the sources' graph names
RESERVED_SOURCES = frozenset({ONTOLOGY_SOURCE, _META})


def source_name_problem(name: str) -> str | None:
    """What is wrong with `name` as the name of a source to load (None: nothing)."""
    if not SOURCE_NAME.match(name or ""):
        return f"source name {name!r} must match {SOURCE_NAME.pattern}"
    if name in RESERVED_SOURCES:
        return f"source name {name!r} is reserved ({', '.join(sorted(RESERVED_SOURCES))} are)"
    return None


def mint(kind: str, key: str, *, base: str) -> NamedNode:
    """Return the IRI of the entity of type `kind` whose source key is `key`.

    Parameters
    ----------
    kind : str
        The entity kind as it appears in the IRI path (``officer``, ``allegation``...).
    key : str
        The entity's key in its source. Hashed, so the IRI never contains a name.
    base : str
        The deployment's base IRI (setting ``OVERSIGHT_BASE_IRI``).

    Returns
    -------
    NamedNode
        ``{base}{kind}/{20 hex digits}``: the same for the same kind and key in
        every load, whatever source the key appears in.
    """
    digest = hashlib.sha256(f"{kind}\x1f{key}".encode()).hexdigest()[:20]
    return NamedNode(f"{base}{kind}/{digest}")


def local_id(iri: str) -> str:
    """The local part of a minted IRI (what ``/officers/{id}`` takes)."""
    return iri.rsplit("/", 1)[-1]


def source_iri(name: str, *, base: str) -> NamedNode:
    """The IRI describing the loaded source `name` in the metadata graph.

    Parameters
    ----------
    name : str
        The source's name (:data:`SOURCE_NAME`).
    base : str
        The deployment's base IRI (setting ``OVERSIGHT_BASE_IRI``).
    """
    return NamedNode(f"{base}source/{name}")


def source_graph(name: str, *, base: str) -> NamedNode:
    """The stable name of source `name`'s graph, ``{base}graph/{name}``: what SPARQL, the Graph Store
    Protocol, the service description and exports call it, whichever run holds it now (:func:`graph_iri`).

    Parameters
    ----------
    name : str
        The source's name (:data:`SOURCE_NAME`).
    base : str
        The deployment's base IRI (setting ``OVERSIGHT_BASE_IRI``).
    """
    return NamedNode(f"{base}graph/{name}")


def graph_iri(name: str, run: str, *, base: str) -> NamedNode:
    """The named graph holding source `name` as written by ingest run `run`: internal to the store, shown
    outside under the source's stable name (:func:`source_graph`).

    Parameters
    ----------
    name : str
        The source's name (:data:`SOURCE_NAME`).
    run : str
        The run's opaque id (:func:`run_iri`): every load of a source writes a new graph.
    base : str
        The deployment's base IRI (setting ``OVERSIGHT_BASE_IRI``).
    """
    return NamedNode(f"{base}graph/{name}/{run}")


def run_iri(*, base: str) -> tuple[str, NamedNode]:
    """A new ingest run: its opaque id and IRI."""
    run = uuid.uuid4().hex
    return run, NamedNode(f"{base}run/{run}")


def meta_graph(*, base: str) -> NamedNode:
    """The metadata graph: PROV records of every ingest run."""
    return NamedNode(f"{base}graph/{_META}")
