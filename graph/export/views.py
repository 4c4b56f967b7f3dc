"""Export views: which nodes and edges an export holds, with typed attributes, in a stable order.

A view is chosen by name (``full``, ``officers``, ``investigation/{id}``,
``officer/{id}``, ``chat-group/{id}``, ``inquiry/{id}``) and turned into an
:class:`ExportGraph`: declared attributes (one type per name), then nodes and
edges produced lazily in sorted order, so writers stream them and two exports
of the same view on the same data version are byte-identical. Writers live in
:mod:`graph.export.graphml` and :mod:`graph.export.formats`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from graph.errors import BadParameter, NotFound
from graph.iri import local_id
from graph.linkage.facts import Facts
from graph.linkage.projection import EDGE_KINDS, Projection, full_graph, officer_network

__all__ = ["Attribute", "ExportGraph", "VIEWS", "view", "constructed", "HUB_KINDS", "survey"]

#: Views and the entity kind an id names in them (None: no id). ``query/NAME`` (a saved CONSTRUCT query) is
#: handled by :func:`constructed`.
VIEWS = {"full": None, "officers": None, "investigation": ("Investigation",),
         "officer": ("Officer", "PoliceStaff"), "chat-group": ("ChatGroup",), "inquiry": ("Inquiry",)}
#: How far from its centre an entity view reaches in the full graph (undirected hops).
_RADIUS = {"investigation": 3, "chat-group": 2, "inquiry": 4}
#: Kinds an entity view does not pass through, besides :data:`HUB_KINDS` (an investigation's inquiry would
#: bring in every other investigation of it).
_ALSO_HUBS = {"investigation": frozenset({"inquiry"}), "chat-group": frozenset(), "inquiry": frozenset()}
#: Kinds that join everything to everything; entity views do not pass through them.
HUB_KINDS = frozenset({"force", "organisation", "source-document", "station", "unit", "role", "report"})


@dataclass(frozen=True)
class Attribute:
    """A declared attribute: its name, its type (``string``, ``int``, ``double``, ``boolean``) and what it is on."""

    name: str
    type: str
    domain: str  # node | edge


_NODE_ATTRS = (Attribute("label", "string", "node"), Attribute("name", "string", "node"),
               Attribute("type", "string", "node"), Attribute("iri", "string", "node"),
               Attribute("sources", "string", "node"))
_EDGE_ATTRS = (Attribute("kind", "string", "edge"), Attribute("weight", "int", "edge"),
               Attribute("sources", "string", "edge"))
_OFFICER_EDGE_ATTRS = (*_EDGE_ATTRS, *(Attribute(k.replace("-", "_"), "int", "edge") for k in EDGE_KINDS),
                       Attribute("start", "string", "edge"), Attribute("end", "string", "edge"),
                       Attribute("evidence", "string", "edge"))


@dataclass
class ExportGraph:
    """What an export holds. Nodes and edges are produced on demand, always in the same order."""

    view: str
    parameters: dict[str, str]
    directed: bool
    node_attrs: tuple[Attribute, ...]
    edge_attrs: tuple[Attribute, ...]
    node_keys: list[str]  # sorted IRIs
    edge_keys: list[tuple[str, str, Any]]  # sorted (source IRI, target IRI, key)
    node_data: Callable[[str], dict[str, Any]]
    edge_data: Callable[[tuple[str, str, Any]], dict[str, Any]]
    version: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def nodes(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for node in self.node_keys:
            yield node, self.node_data(node)

    def edges(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for key in self.edge_keys:
            yield key[0], key[1], self.edge_data(key)


def survey(export: ExportGraph) -> tuple[dict[str, Any], set[str]]:
    """In one pass over the export: nodes per type, edges per kind and the totals; and the sources cited.

    An officer-network edge of several kinds (``co-member;co-posted``) counts once under each kind, so
    the per-kind counts can add up to more than ``edges_total``.
    """
    nodes: Counter[str] = Counter()
    edges: Counter[str] = Counter()
    cited: set[str] = set()
    for _, d in export.nodes():
        nodes[str(d.get("type", ""))] += 1
        cited.update(s for s in str(d.get("sources", "")).split(";") if s)
    for _, _, d in export.edges():
        for kind in str(d.get("kind", "")).split(";"):
            edges[kind] += 1
        cited.update(s for s in str(d.get("sources", "")).split(";") if s)
    return ({"nodes": dict(sorted(nodes.items())), "edges": dict(sorted(edges.items())),
             "nodes_total": sum(nodes.values()), "edges_total": len(export.edge_keys)}, cited)


def _node_data(f: Facts) -> Callable[[str], dict[str, Any]]:
    def data(node: str) -> dict[str, Any]:
        label = f.label(node)
        return {"label": label, "name": label, "type": f.kind(node), "iri": node,
                "sources": ";".join(f.values(node, "source"))}
    return data


def _officers(f: Facts, graph: nx.Graph, name: str, parameters: dict[str, str]) -> ExportGraph:
    adjacency, sources_of = graph.adj, f.props["source"]

    def edge(key: tuple[str, str, Any]) -> dict[str, Any]:
        data = adjacency[key[0]][key[1]]
        links = data["links"]
        evidence = sorted({e for link in links for e in link.evidence})
        starts = [k.start for k in links if k.start]
        ends = [k.end for k in links if k.end]
        out = {"kind": data["kind"], "weight": data["weight"],
               "sources": ";".join(sorted({s for e in evidence for s in sources_of.get(e, ())})),
               "start": min(starts) if starts else "", "end": max(ends) if ends else "",
               "evidence": ";".join(evidence)}
        for kind in EDGE_KINDS:
            out[kind.replace("-", "_")] = data.get(kind, 0)
        return out

    edges = sorted((a, b, None) if a < b else (b, a, None) for a, b in graph.edges())
    return ExportGraph(name, parameters, False, _NODE_ATTRS, _OFFICER_EDGE_ATTRS, sorted(graph.nodes),
                       edges, _node_data(f), edge, f.version)


def _entities(f: Facts, graph: nx.MultiDiGraph, name: str, parameters: dict[str, str]) -> ExportGraph:
    def edge(key: tuple[str, str, Any]) -> dict[str, Any]:
        return {"kind": key[2], "weight": 1, "sources": ";".join(f.values(key[0], "source"))}

    edges = sorted(graph.edges(keys=True))
    return ExportGraph(name, parameters, True, _NODE_ATTRS, _EDGE_ATTRS, sorted(graph.nodes), edges,
                       _node_data(f), edge, f.version)


def constructed(f: Facts, name: str, triples: list[Any], parameters: dict[str, str]) -> ExportGraph:
    """The graph a saved CONSTRUCT query built: its IRIs as nodes, its IRI-valued triples as edges.

    Literal-valued triples have no place in a node-and-edge graph; the RDF formats keep them all
    (``extra["triples"]``).

    Parameters
    ----------
    f : Facts
        The facts that label the nodes and name the sources of the nodes and edges.
    name : str
        The saved query's name: the view is ``query/{name}``.
    triples : list of Triple
        What the query built (pyoxigraph triples), also kept whole in ``extra["triples"]``.
    parameters : dict
        The query parameters given, recorded in the export.
    """
    edges = sorted({(t.subject.value, t.object.value, t.predicate.value.rsplit("#", 1)[-1].rsplit("/", 1)[-1])
                    for t in triples if hasattr(t.object, "value") and type(t.object).__name__ == "NamedNode"
                    and type(t.subject).__name__ == "NamedNode"})
    nodes = sorted({n for s, o, _ in edges for n in (s, o)})

    def edge(key: tuple[str, str, Any]) -> dict[str, Any]:
        return {"kind": key[2], "weight": 1, "sources": ";".join(f.values(key[0], "source"))}

    export = ExportGraph(f"query/{name}", parameters, True, _NODE_ATTRS, _EDGE_ATTRS, nodes, edges,
                         _node_data(f), edge, f.version)
    export.extra["triples"] = triples
    return export


def _around(f: Facts, full: nx.MultiDiGraph, centre: str, radius: int, hubs: frozenset[str]) -> nx.MultiDiGraph:
    """The part of the full graph within `radius` undirected hops of `centre`, not passing through hubs."""
    undirected = full.to_undirected(as_view=True)
    seen, frontier = {centre}, [centre]
    for _ in range(radius):
        following = []
        for node in frontier:
            for other in sorted(undirected[node]):
                if other not in seen and f.kind(other) not in hubs:
                    seen.add(other)
                    following.append(other)
        frontier = following
    return full.subgraph(seen)


def view(f: Facts, name: str, *, entity: str | None = None, projection: Projection | None = None,
         hops: int = 1, min_weight: int = 1, parameters: dict[str, str] | None = None,
         networks: Callable[[Projection | None, bool], nx.Graph] | None = None) -> ExportGraph:
    """The export graph of view `name` (see :data:`VIEWS`).

    Parameters
    ----------
    entity : IRI
        The centre of an entity view (``investigation``, ``officer``, ``chat-group``, ``inquiry``).
    projection : Projection
        The officer network of the ``officers`` and ``officer`` views.
    hops : int
        Radius of the ``officer`` ego network in the officer network.
    min_weight : int
        Edges of the officer network with a smaller weight are left out.
    networks : callable, optional
        ``(projection, full) -> graph``: a cache of projections (default: build them).
    """
    build = networks or (lambda p, full: full_graph(f) if full else officer_network(f, p or Projection()))
    parameters = parameters or {}
    if name in ("officers", "officer"):
        graph = build(projection, False)
        if min_weight > 1:
            whole = graph
            graph = nx.subgraph_view(whole, filter_edge=lambda a, b: whole.edges[a, b]["weight"] >= min_weight)
        if name == "officer":
            if entity not in graph:
                raise NotFound("no officer with that id")
            graph = nx.ego_graph(graph, entity, radius=hops)
        label = name if entity is None else f"{name}/{local_id(entity)}"
        return _officers(f, graph, label, parameters)
    if name not in _RADIUS and name != "full":
        raise BadParameter("view", f"unknown view {name!r}", accepted=sorted(VIEWS))
    full = build(None, True)
    if name == "full":
        return _entities(f, full, name, parameters)
    if entity is None:
        raise BadParameter("view", f"the {name} view needs an id: {name}/ID")
    around = _around(f, full, entity, _RADIUS[name], HUB_KINDS | _ALSO_HUBS[name])
    return _entities(f, around, f"{name}/{local_id(entity)}", parameters)
