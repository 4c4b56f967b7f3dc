"""Projections of the facts into networkx graphs: the full typed graph and the officer network.

Every edge of the officer network keeps the facts that support it as
:class:`Link` records (kind, what the officers share, the statement nodes
that say so, when), and its weight counts them. Node and edge attributes are
plain Python values, so the graphs can be exported as they are.

Projections are cached per data version and parameters, next to the facts
they come from (:func:`graph.linkage.facts.facts`).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

import networkx as nx

from graph.iri import local_id
from graph.linkage.facts import OFFICER_CLASSES, Facts, Filters, facts, lower, upper
from graph.store import heap
from graph.store.database import Database
from graph.store.derived import Kind
from ontology import OV

__all__ = ["EDGE_KINDS", "BASES", "Link", "Projection", "officer_network", "full_graph", "projection",
           "bystander_links", "FAILURE_TO_REPORT"]

EDGE_KINDS = ("co-accused", "co-member", "co-posted", "failed-to-report")
BASES = ("investigation", "allegation")
FAILURE_TO_REPORT = str(OV.FailureToReport)
_OPEN_START, _OPEN_END = "0000-01-01", "9999-12-31"


class Link(NamedTuple):
    """One reason two officers are linked (a named tuple: Chicago's projection makes 291,883 of them, and a
    frozen dataclass took three times as long to make).

    `via` is what they share (an investigation or allegation, a chat group, a
    unit or station), `evidence` the statement nodes that establish it, and
    `start`/`end` when the link held (partial dates; None when unknown). For
    ``failed-to-report``, `source` is the officer who failed to report and `via`
    the failure-to-report allegation.
    """

    kind: str
    via: str
    evidence: tuple[str, ...]
    start: str | None = None
    end: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class Projection:
    """Which officer network to build.

    Parameters
    ----------
    kinds : frozenset of str
        Edge kinds to include (:data:`EDGE_KINDS`).
    basis : str
        Co-accusal on the same ``investigation`` (as CPDP's complaints) or the same ``allegation``.
    filters : Filters
        Which findings, memberships and postings count.
    max_group_size : int
        Chat groups, units and stations with more members than this are hubs: they link everyone to
        everyone, so they give no co-member or co-posted edges (listed in ``graph.graph["hubs"]``).
    """

    kinds: frozenset[str] = frozenset(EDGE_KINDS)
    basis: str = "investigation"
    filters: Filters = field(default_factory=Filters)
    max_group_size: int = 200

    def key(self) -> tuple[object, ...]:
        return (tuple(sorted(self.kinds)), self.basis, self.filters.key(), self.max_group_size)


_Edges = dict[tuple[str, str], list[Link]]  # (officer, officer) in IRI order -> links


def _add(edges: _Edges, a: str, b: str, link: Link) -> None:
    edges.setdefault((a, b) if a < b else (b, a), []).append(link)


def _coaccused(f: Facts, graph: nx.Graph, edges: _Edges, p: Projection) -> None:
    officer_of, allegation_of = f.props["officer"], f.props["allegation"]
    investigation_of = f.props["investigation"]
    everything = p.filters == Filters()
    shared: dict[str, dict[str, list[str]]] = defaultdict(dict)  # via -> officer -> findings
    for finding in f.of_type("Finding"):  # the hot loop reads the dictionaries directly
        officers, allegations = officer_of.get(finding), allegation_of.get(finding)
        if not officers or not allegations or officers[0] not in graph:
            continue
        if not everything and not f.admits_finding(finding, p.filters):
            continue
        if p.basis == "allegation":
            via = allegations[0]
        else:
            investigations = investigation_of.get(allegations[0])
            if not investigations:
                continue
            via = investigations[0]
        shared[via].setdefault(officers[0], []).append(finding)  # each list sorted, as the findings are
    for via, by_officer in shared.items():
        if len(by_officer) < 2:
            continue
        start, end = f.interval(via)
        if not (start or end):
            start, end = f.finding_interval(next(iter(by_officer.values()))[0])
        for a, b in itertools.combinations(sorted(by_officer), 2):  # a < b: the edge's key as _add makes it
            x, y = by_officer[a], by_officer[b]
            evidence = (tuple(x + y) if x[-1] < y[0] else tuple(y + x) if y[-1] < x[0]
                        else tuple(sorted(x + y)))
            edges.setdefault((a, b), []).append(Link("co-accused", via, evidence, start, end))


def _intervals(f: Facts, graph: nx.Graph, edges: _Edges, kind: str,
               groups: Iterable[tuple[str, list[tuple[str, str]]]], p: Projection) -> None:
    """Co-member and co-posted: pairs of memberships (or postings) of one place whose intervals overlap."""
    hubs = graph.graph.setdefault("hubs", [])
    for via, rows in groups:
        members = {who for who, _ in rows}
        if len(members) > p.max_group_size:
            hubs.append(via)
            continue
        spans = []
        for who, node in sorted(rows):
            start, end = f.interval(node)
            if p.filters.admits_interval(start, end):  # open or unknown ends compare as the extremes
                spans.append((who, node, lower(start) or _OPEN_START, upper(end) or _OPEN_END))
        for (a, na, a_lo, a_hi), (b, nb, b_lo, b_hi) in itertools.combinations(spans, 2):
            lo, hi = max(a_lo, b_lo), min(a_hi, b_hi)
            if a != b and lo <= hi:
                first, second = sorted([(a, na), (b, nb)])
                _add(edges, first[0], second[0], Link(kind, via, (first[1], second[1]),
                                                      None if lo == _OPEN_START else lo,
                                                      None if hi == _OPEN_END else hi))


def _memberships(f: Facts, graph: nx.Graph) -> list[tuple[str, list[tuple[str, str]]]]:
    by_group: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for node in f.of_type("ChatMembership"):
        member, group = f.value(node, "member"), f.value(node, "group")
        if member is not None and member in graph and group:
            by_group[group].append((member, node))
    return sorted(by_group.items())


def _postings(f: Facts, graph: nx.Graph) -> list[tuple[str, list[tuple[str, str]]]]:
    by_place: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for node in f.of_type("Posting"):
        officer = f.value(node, "officer")
        if officer is None or officer not in graph:
            continue
        for place in (f.value(node, "unit"), f.value(node, "station")):
            if place:
                by_place[place].append((officer, node))
    return sorted(by_place.items())


def bystander_links(f: Facts, filters: Filters) -> list[Link]:
    """Failure to report, from findings on failure-to-report allegations, sorted.

    Each such finding links its officer (the bystander, ``Link.source``) to every subject of the
    allegations it ``ov:concerns``; when none is recorded, to the subjects of the other allegations of
    the same investigation. Dates, results and outcomes in `filters` apply to the bystander's finding;
    categories to the conduct that went unreported.

    Parameters
    ----------
    f : Facts
        The facts (the real ones, or a view's).
    filters : Filters
        Which findings count: its dates, results and outcomes those of the bystanders, its categories
        those of the allegations they failed to report (see above).
    """
    own = Filters(filters.date_from, filters.date_to, results=filters.results, outcomes=filters.outcomes)
    conduct = Filters(categories=filters.categories)
    links = []
    failures = f.referrers(FAILURE_TO_REPORT, "category")
    for finding in sorted(x for a in failures for x in f.referrers(a, "allegation")):
        allegation = f.value(finding, "allegation")
        bystander = f.value(finding, "officer")
        if not allegation or not bystander or not f.is_a(finding, "Finding"):
            continue
        if not f.admits_finding(finding, own):
            continue
        concerned = f.values(allegation, "concerns")
        if not concerned:
            investigation = f.value(allegation, "investigation")
            concerned = tuple(a for a in f.referrers(investigation, "investigation") if a != allegation
                              and FAILURE_TO_REPORT not in f.categories_of(a)) if investigation else ()
        for target in concerned:
            for other in f.referrers(target, "allegation"):
                subject = f.value(other, "officer")
                if (not subject or subject == bystander or not f.is_a(other, "Finding")
                        or not f.admits_finding(other, conduct)):
                    continue
                start, end = f.finding_interval(other)
                links.append(Link("failed-to-report", allegation, (finding, other), start, end, source=bystander))
    return sorted(links, key=lambda k: (k.source or "", k.via, k.evidence))


def officer_network(f: Facts, p: Projection) -> nx.Graph:
    """The officer-to-officer network `p` describes.

    Nodes are officers and staff (IRIs) with ``id``, ``iri``, ``label`` and ``type``; edges have
    ``links`` (list of :class:`Link`), ``weight`` (how many links), ``kind`` (the kinds, ``;``-joined)
    and one weight per kind (``co-accused`` ...). Edges between the same two officers merge.

    Parameters
    ----------
    f : Facts
        The facts (the real ones, or a view's).
    p : Projection
        Which edge kinds, on what basis, under which filters, and the largest group that is not a hub.

    Notes
    -----
    Co-member and co-posted edges are quadratic in the size of a group; groups larger than
    ``p.max_group_size`` are skipped as hubs.
    """
    graph = nx.Graph(hubs=[])
    graph.add_nodes_from((officer, {"id": local_id(officer), "iri": officer, "label": f.label(officer),
                                    "type": "officer" if f.is_a(officer, "Officer") else "staff"})
                         for officer in f.of_type(*OFFICER_CLASSES))
    edges: _Edges = {}
    if "co-accused" in p.kinds:
        _coaccused(f, graph, edges, p)
    if "co-member" in p.kinds:
        _intervals(f, graph, edges, "co-member", _memberships(f, graph), p)
    if "co-posted" in p.kinds:
        _intervals(f, graph, edges, "co-posted", _postings(f, graph), p)
    if "failed-to-report" in p.kinds:
        for link in bystander_links(f, p.filters):
            other = next(f.value(e, "officer") for e in link.evidence[1:])
            if link.source in graph and other in graph:
                _add(edges, link.source, other, link)  # type: ignore[arg-type]

    def attributes(links: list[Link]) -> dict[str, object]:
        if len(links) == 1:  # most edges
            return {"links": links, "weight": 1, "kind": links[0].kind, links[0].kind: 1}
        links.sort(key=lambda k: (k.kind, k.via, k.evidence))
        counts: dict[str, int] = {}
        for link in links:
            counts[link.kind] = counts.get(link.kind, 0) + 1
        return {"links": links, "weight": len(links), "kind": ";".join(sorted(counts)), **counts}

    graph.add_edges_from((a, b, attributes(links)) for (a, b), links in edges.items())
    return graph


def full_graph(f: Facts) -> nx.MultiDiGraph:
    """Every typed entity a node, every ``ov:`` relation between two of them an edge (``predicate``).

    Source documents are nodes, but ``ov:source`` is provenance, not a relation: it is the nodes'
    ``sources`` attribute (``;``-joined IRIs) rather than edges that would join everything to them.
    """
    graph = nx.MultiDiGraph()
    for node in sorted(f.types):
        graph.add_node(node, id=local_id(node), iri=node, label=f.label(node), type=f.kind(node),
                       sources=";".join(f.values(node, "source")))
    for name in sorted(f.props):
        if name == "source":  # provenance, kept as the node attribute: not a relation between entities
            continue
        for subject, objects in sorted(f.props[name].items()):
            if subject not in f.types:
                continue
            for obj in objects:
                if obj in f.types and obj != subject:
                    graph.add_edge(subject, obj, key=name, predicate=name)
    return graph


def projection(db: Database, p: Projection | None = None, *, full: bool = False,
               f: Facts | None = None) -> tuple[Facts, nx.Graph]:
    """The projection `p` (or the full graph) of the facts `f` (default: the current ones), cached.

    Parameters
    ----------
    db : Database
        The store, whose derived cache keeps the projection.
    p : Projection, optional
        The officer network built (default: :class:`Projection`'s defaults); ignored with `full`.
    full : bool
        Build the full typed graph (:func:`full_graph`) instead of an officer network.
    f : Facts, optional
        The facts projected (default: the current ones, :func:`~graph.linkage.facts.facts`).

    Returns
    -------
    The facts used, and the graph: shared with every caller that asks for it, so never to be changed.
    """
    current: Facts = f if f is not None else facts(db)
    f = current

    def build() -> nx.Graph:
        with heap.building():
            return full_graph(f) if full else officer_network(f, p or Projection())

    found = db.derived.get_or_build(Kind.PROJECTION, f.version, "full" if full else (p or Projection()).key(),
                                    build, keep=lambda: db.derived.get(Kind.FACTS, f.version) is f)  # not for a version replaced
    return current, found
