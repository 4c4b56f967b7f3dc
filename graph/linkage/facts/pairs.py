"""What the linkage layer reads from one source graph, and how it folds it: property -> subject -> values.

A source graph's pairs are read with plain triple-pattern scans (no SPARQL), once per ingest run;
:mod:`graph.linkage.facts.cache` keeps them, :class:`graph.linkage.facts.accessor.Facts` merges them.
"""

from __future__ import annotations

from sys import intern

import pyoxigraph as ox
from rdflib.namespace import RDF, SKOS

from graph.store.backend import Backend
from ontology import OV

__all__ = ["PREDICATES", "VOCABULARY", "Pairs", "Folded", "read_pairs", "fold_pairs", "read_run"]

_OV = str(OV)
_RDF_TYPE = ox.NamedNode(str(RDF.type))

#: The ``ov:`` properties the linkage layer reads (local names).
PREDICATES = (
    "officer", "allegation", "investigation", "result", "outcome", "category", "evidenceStatus", "source",
    "member", "group", "isAdmin", "startDate", "endDate", "date", "unit", "station", "rank", "status",
    "identifier", "pseudonym", "name", "title", "description", "inquiry", "linkedTo", "concerns", "finding",
    "force", "sender", "sentAt", "contentCategory", "victim", "complainant", "involves", "about", "partOf",
    "conductFrom", "conductTo", "uncoveredOn", "publisher", "url", "platform", "decidedBy",
    "investigatingBody", "reportedMemberCount", "occurredOn", "receivedOn",
)

#: The SKOS properties read from sources, keyed ``skos:NAME``: a source's own concepts (a local vocabulary, such as
#: a mapping's code list) with their notation, label, scheme and the links that map them onto the ontology's.
VOCABULARY = tuple("skos:" + n for n in (
    "notation", "prefLabel", "inScheme", "broader", "narrower", "exactMatch", "closeMatch", "broadMatch", "narrowMatch"))
_SKOS = str(SKOS)

Pairs = dict[str, list[tuple[str, str]]]  # property local name, or "type" -> [(subject, object value)]
Folded = dict[str, dict[str, tuple[str, ...]]]  # the same -> subject -> its sorted values


def read_pairs(backend: Backend, graph: ox.NamedNode) -> Pairs:
    """Every value of the :data:`PREDICATES`, and every ``ov:`` type, in one graph of `backend`.

    Parameters
    ----------
    backend : Backend
        The store scanned (the disk store, or a load's scratch store).
    graph : NamedNode
        The source graph read.
    """
    # Strings are interned: an IRI is one object however many statements name it, here, in the facts
    # folded from these pairs, and (marshal keeps the sharing) in the file they are saved to.
    out: Pairs = {}
    for name in PREDICATES:  # sources hold no RDF-star triple terms (they are not valid data), hence .value
        out[name] = [(intern(q.subject.value), intern(q.object.value))  # type: ignore[union-attr]
                     for q in backend.quads(graph, predicate=ox.NamedNode(_OV + name))]
    for name in VOCABULARY:
        out[name] = [(intern(q.subject.value), intern(q.object.value))  # type: ignore[union-attr]
                     for q in backend.quads(graph, predicate=ox.NamedNode(_SKOS + name[5:]))]
    out["type"] = [(intern(q.subject.value), intern(q.object.value[len(_OV):]))  # type: ignore[union-attr]
                   for q in backend.quads(graph, predicate=_RDF_TYPE)
                   if q.object.value.startswith(_OV)]  # type: ignore[union-attr]
    return out


def fold_pairs(pairs: Pairs) -> Folded:
    """The pairs of one graph as subject -> sorted values, per property (a repeated statement counts once).

    Values are shared: one tuple per distinct value (most repeat: a result, a source, a type).
    """
    merged: dict[str, dict[str, str | set[str]]] = {}
    for name, rows in pairs.items():  # most properties have one value: a bare string until a second comes
        target: dict[str, str | set[str]] = {}
        get = target.get
        for s, o in rows:
            current = get(s)
            if current is None:
                target[s] = o
            elif isinstance(current, str):
                if current != o:
                    target[s] = {current, o}
            else:
                current.add(o)
        merged[name] = target
    shared: dict[str | tuple[str, ...], tuple[str, ...]] = {}

    def one(v: str | set[str]) -> tuple[str, ...]:
        key = v if isinstance(v, str) else tuple(sorted(v))
        found = shared.get(key)
        if found is None:
            found = shared[key] = (key,) if isinstance(key, str) else key
        return found

    out = {name: {s: one(v) for s, v in values.items()} for name, values in merged.items()}
    for name in (*PREDICATES, *VOCABULARY, "type"):
        out.setdefault(name, {})
    return out


def read_run(backend: Backend, graph: ox.NamedNode) -> Folded:
    """The folded pairs of one source graph.

    Parameters
    ----------
    backend : Backend
        The store scanned (the disk store, or a load's scratch store).
    graph : NamedNode
        The source graph read.
    """
    return fold_pairs(read_pairs(backend, graph))
