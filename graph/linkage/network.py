"""Network analysis on a projection: paths, connecting networks, clusters and centrality (i2's Find Path,
Find Connecting Network, Find Clusters and social-network measures), every hop explained."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import networkx as nx
from networkx.algorithms.approximation import steiner_tree

from graph.errors import BadParameter
from graph.linkage.facts import Evidence, Facts
from graph.linkage.questions import Ref, caveats, ref

__all__ = ["Hop", "Path", "ConnectingNetwork", "Cluster", "Ranked", "without_hubs", "paths",
           "connecting_network", "clusters", "centrality", "MEASURES", "METHODS"]

MEASURES = ("degree", "betweenness", "closeness", "eigenvector")
METHODS = ("components", "k-core", "louvain")


@dataclass(frozen=True)
class Hop:
    """One step of a path: from one node to the next, and why they are linked."""

    source: Ref
    target: Ref
    kinds: tuple[str, ...]  # officer network: edge kinds; full graph: the properties
    weight: int
    evidence: tuple[Evidence, ...]


@dataclass(frozen=True)
class Path:
    """A shortest path between two nodes, each hop explained."""

    length: int
    nodes: tuple[Ref, ...]
    hops: tuple[Hop, ...]
    caveats: tuple[str, ...]


def without_hubs(graph: nx.Graph, *, ignore: tuple[str, ...] = (), max_degree: int | None = None) -> nx.Graph:
    """A view of `graph` without the nodes in `ignore` and those of degree above `max_degree`.

    Parameters
    ----------
    graph : networkx.Graph
        A projection (:func:`graph.linkage.projection.projection`); it is not changed.
    ignore : tuple of IRI
        Nodes left out (such as a unit that links everyone).
    max_degree : int, optional
        Nodes of a higher degree in `graph` are left out too (None: none for their degree).
    """
    drop = set(ignore)
    if max_degree is not None:
        drop |= {n for n, d in graph.degree() if d > max_degree}
    return nx.restricted_view(graph, drop, []) if drop else graph


def _hop(f: Facts, graph: nx.Graph, a: str, b: str) -> Hop:
    data = graph.get_edge_data(a, b)
    if graph.is_multigraph():
        edges = {**(data or {}), **(graph.get_edge_data(b, a) or {})} if graph.is_directed() else data
        kinds = tuple(sorted(edges))
        evidence: tuple[Evidence, ...] = ()
        for node in (a, b):  # a statement node on either end is the evidence itself
            if f.kind(node) in {"finding", "chat-membership", "posting", "employment-status",
                                "barred-list-entry", "message", "sanction"}:
                evidence += (f.evidence(node),)
        return Hop(ref(f, a), ref(f, b), kinds, len(kinds), evidence)
    links = data["links"]
    seen: dict[str, Evidence] = {}
    for link in links:
        for node in link.evidence:
            seen.setdefault(node, f.evidence(node))
    return Hop(ref(f, a), ref(f, b), tuple(sorted({k.kind for k in links})), data["weight"],
               tuple(seen[k] for k in sorted(seen)))


def _undirected(graph: nx.Graph) -> nx.Graph:
    """`graph` as a simple undirected graph. For the full (multi, directed) graph, a copy built in sorted
    order: its views list neighbours in hash order, which changes between processes and would change
    Louvain's communities, Steiner trees' tie-breaks and which shortest paths are found first."""
    if not graph.is_directed() and not graph.is_multigraph():
        return graph
    simple = nx.Graph()
    simple.add_nodes_from(sorted(graph.nodes))
    simple.add_edges_from(sorted({(u, v) if u < v else (v, u) for u, v in graph.edges() if u != v}))
    return simple


def paths(f: Facts, graph: nx.Graph, source: str, target: str, *, limit: int = 1) -> list[Path]:
    """Up to `limit` shortest paths from `source` to `target` (ignoring direction), each hop explained.

    Parameters
    ----------
    f : Facts
        The facts the projection was made from, which label the nodes and explain the links.
    graph : networkx.Graph
        The projection the facts were made into, perhaps without its hubs (:func:`without_hubs`); direction
        is ignored.
    source, target : IRI
        The two ends; both must be nodes of `graph`.
    limit : int
        Most paths returned (default 1), the first in IRI order of the first 10,000 shortest paths found.

    Returns
    -------
    list of Path, in a stable order (by the IRIs along them); empty when no path exists.

    Raises
    ------
    BadParameter
        (``from`` or ``to``) When an end is not a node of `graph`.
    """
    g = _undirected(graph)
    for end in (source, target):
        if end not in g:
            raise BadParameter("from" if end == source else "to",
                               "not a node of this projection (not an officer, or removed as a hub)")
    try:
        found = sorted(itertools.islice(nx.all_shortest_paths(g, source, target), 10_000))[:limit]
    except nx.NetworkXNoPath:
        return []
    out = []
    for nodes in found:
        hops = tuple(_hop(f, graph, a, b) for a, b in zip(nodes, nodes[1:]))
        out.append(Path(len(hops), tuple(ref(f, n) for n in nodes), hops,
                        caveats(e for h in hops for e in h.evidence)))
    return out


@dataclass(frozen=True)
class ConnectingNetwork:
    """The smallest subgraph found that joins the given officers."""

    terminals: tuple[Ref, ...]
    nodes: tuple[Ref, ...]
    links: tuple[Hop, ...]
    is_connected: bool
    caveats: tuple[str, ...]


def connecting_network(f: Facts, graph: nx.Graph, terminals: list[str]) -> ConnectingNetwork:
    """The smallest subgraph joining `terminals` (i2's Find Connecting Network).

    Parameters
    ----------
    f : Facts
        The facts the projection was made from, which label the nodes and explain the links.
    graph : networkx.Graph
        The projection the facts were made into, perhaps without its hubs (:func:`without_hubs`); direction
        is ignored.
    terminals : list of IRI
        The nodes to join (officers, or any entity in the full graph); each must be a node of `graph`.

    Raises
    ------
    BadParameter
        (``officers``) When some of `terminals` are not nodes of `graph`.

    Notes
    -----
    A Steiner tree (Mehlhorn's 2-approximation, networkx), so it is small but not always
    the smallest. Terminals in different components get one tree per component
    (``is_connected`` false).
    """
    g = _undirected(graph)
    missing = [t for t in terminals if t not in g]
    if missing:
        raise BadParameter("officers", f"{len(missing)} of them are not nodes of this projection "
                           "(not officers, or removed as hubs)")
    nodes: set[str] = set()
    edges: list[tuple[str, str]] = []
    groups: dict[int, list[str]] = {}
    component_of = {}
    for i, component in enumerate(nx.connected_components(g)):
        for t in terminals:
            if t in component:
                component_of[t] = i
    for t in sorted(set(terminals)):
        groups.setdefault(component_of[t], []).append(t)
    for members in groups.values():
        nodes.update(members)
        if len(members) > 1:
            tree = steiner_tree(nx.Graph(g.subgraph(nx.node_connected_component(g, members[0]))), members,
                                weight=None, method="mehlhorn")
            nodes.update(tree.nodes)
            edges.extend(tuple(sorted(e)) for e in tree.edges)  # type: ignore[misc]
    hops = tuple(_hop(f, graph, a, b) for a, b in sorted(set(edges)))
    return ConnectingNetwork(tuple(ref(f, t) for t in sorted(set(terminals))),
                             tuple(ref(f, n) for n in sorted(nodes)), hops, len(groups) <= 1,
                             caveats(e for h in hops for e in h.evidence))


@dataclass(frozen=True)
class Cluster:
    """A group of officers found together, largest first."""

    rank: int
    size: int
    members: tuple[Ref, ...]
    internal_links: int


def clusters(f: Facts, graph: nx.Graph, *, method: str = "components", k: int = 2, seed: int = 0,
             min_size: int = 2) -> list[Cluster]:
    """Connected components, the `k`-core's components, or Louvain communities (fixed `seed`).

    Parameters
    ----------
    f : Facts
        The facts the projection was made from, which label the nodes and explain the links.
    graph : networkx.Graph
        The projection the facts were made into, perhaps without its hubs (:func:`without_hubs`); direction
        is ignored.
    method : str
        ``components``, ``k-core`` or ``louvain`` (:data:`METHODS`).
    k : int
        With ``k-core``: the least degree of a member within the core (default 2).
    seed : int
        With ``louvain``: the random seed, so that the same data gives the same communities.
    min_size : int
        Clusters with fewer members are left out (default 2).

    Returns
    -------
    list of Cluster with at least `min_size` members, largest first, ties by the first member's IRI.

    Raises
    ------
    ValueError
        For another `method`.
    """
    g = _undirected(graph)
    if method == "components":
        groups = [set(c) for c in nx.connected_components(g)]
    elif method == "k-core":
        core = nx.k_core(nx.Graph(g), k)  # on a copy: k_core does not take graph views
        groups = [set(c) for c in nx.connected_components(core)]
    elif method == "louvain":
        groups = [set(c) for c in nx.community.louvain_communities(g, weight="weight", seed=seed)]
    else:
        raise ValueError(method)
    ordered = sorted((sorted(c) for c in groups if len(c) >= min_size), key=lambda c: (-len(c), c[0]))
    return [Cluster(i + 1, len(c), tuple(ref(f, n) for n in c), g.subgraph(c).number_of_edges())
            for i, c in enumerate(ordered)]


@dataclass(frozen=True)
class Ranked:
    """An officer's rank and score under a centrality measure."""

    rank: int
    officer: Ref
    score: float
    degree: int


def centrality(f: Facts, graph: nx.Graph, *, measure: str = "degree", limit: int = 20,
               sample: int | None = None, seed: int = 0) -> list[Ranked]:
    """Officers ranked by `measure` (degree, betweenness, closeness, eigenvector), highest first.

    Betweenness is exact unless `sample` pivots are asked for (then seeded). Eigenvector centrality that
    does not converge raises ``ValueError``. Scores are rounded to 9 digits so answers are byte-stable.

    Parameters
    ----------
    f : Facts
        The facts the projection was made from, which label the nodes and explain the links.
    graph : networkx.Graph
        The projection the facts were made into, perhaps without its hubs (:func:`without_hubs`); direction
        is ignored.
    measure : str
        ``degree``, ``betweenness``, ``closeness`` or ``eigenvector`` (:data:`MEASURES`).
    limit : int
        How many of the highest ranked are returned (default 20).
    sample : int, optional
        With ``betweenness``: estimate from this many pivots, when that is fewer than the nodes (None: exact).
    seed : int
        The random seed of the pivots.

    Raises
    ------
    ValueError
        For another `measure`, or when eigenvector centrality does not converge.
    """
    g = _undirected(graph)  # on the full graph, one edge per pair is what the measures mean
    if measure == "degree":
        scores = nx.degree_centrality(g)
    elif measure == "betweenness":
        k = sample if sample and sample < g.number_of_nodes() else None
        scores = nx.betweenness_centrality(g, k=k, seed=seed if k else None)
    elif measure == "closeness":
        scores = nx.closeness_centrality(g)
    elif measure == "eigenvector" and g.number_of_edges() == 0:
        scores = {n: 0.0 for n in g}  # no links, no centrality (networkx would spread 1/sqrt(n))
    elif measure == "eigenvector":
        try:
            scores = nx.eigenvector_centrality(g, max_iter=1000, tol=1e-9)
        except (nx.PowerIterationFailedConvergence, nx.NetworkXException) as exc:
            raise ValueError("eigenvector centrality did not converge on this projection") from exc
    else:
        raise ValueError(measure)
    ranked = sorted(scores.items(), key=lambda kv: (-round(kv[1], 9), kv[0]))[:limit]
    return [Ranked(i + 1, ref(f, n), round(s, 9), g.degree(n)) for i, (n, s) in enumerate(ranked)]
