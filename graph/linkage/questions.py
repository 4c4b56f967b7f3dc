"""Linkage questions across cases, each link with the evidence and sources behind it.

Every answer item carries ``evidence`` (the findings, memberships or postings
that establish it, as :class:`graph.linkage.facts.Evidence`) and ``caveats``: the
evidence statuses other than ``reported`` it rests on (``illustrative``,
``unconfirmed``), so nothing illustrative passes for fact.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar, overload

import networkx as nx

from graph.iri import local_id
from graph.linkage.facts import (
    OFFICER_CLASSES,
    Evidence,
    Facts,
    Filters,
    overlap,
)
from graph.linkage.projection import Link, Projection, bystander_links, officer_network

T = TypeVar("T")
K = TypeVar("K")

__all__ = ["Lazy", "Ref", "RepeatSubject", "CoAccused", "Shared", "SharedGroup", "StatusAt", "Bystander",
           "ref", "caveats", "filter_caveats", "repeat_subjects", "co_accused", "shared_groups", "bystanders",
           "officers_with"]


class Lazy(Sequence[T]):
    """A sorted answer whose items are built only when read, a page at a time.

    Sorting needs only the keys (counts and IRIs); building an item (labels, evidence) costs far more,
    and a client reads one page of a long answer.
    """

    def __init__(self, keys: list[K], build: Callable[[K], T]) -> None:
        self._keys = keys
        self._build = build

    def __len__(self) -> int:
        return len(self._keys)

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            return [self._build(k) for k in self._keys[index]]
        return self._build(self._keys[index])


@dataclass(frozen=True)
class Ref:
    """A reference to an entity: its kind, local id (what the API takes), full IRI and label."""

    kind: str
    id: str
    iri: str
    label: str


def ref(f: Facts, iri: str) -> Ref:
    """`iri` as a :class:`Ref`.

    Parameters
    ----------
    f : Facts
        The facts that give its kind and label.
    iri : IRI
        Any node.
    """
    return Ref(f.kind(iri), local_id(iri), iri, f.label(iri))


def caveats(evidence: Iterable[Evidence]) -> tuple[str, ...]:
    """The evidence statuses other than ``reported`` among `evidence`, sorted."""
    return tuple(sorted({e.status for e in evidence} - {"reported"}))


def filter_caveats(f: Facts, filters: Filters) -> tuple[str, ...]:
    """What an answer under `filters` cannot say: each category, result or outcome it names that no loaded
    source records at all, neither itself nor a narrower or matching concept (:meth:`Facts.admitted`: a
    source's own local concept mapped onto it counts), so that an empty answer is never read as evidence
    of absence.

    Parameters
    ----------
    f : Facts
        The facts the answer is computed on.
    filters : Filters
        The answer's filters; only their categories, results and outcomes are looked at.

    Notes
    -----
    Reads the inverse of three properties, built once per data version: O(1) per value after that.
    """
    out = []
    for name, wanted in (("category", filters.categories), ("result", filters.results),
                         ("outcome", filters.outcomes)):
        used = f.inverse(name)
        for iri in sorted(wanted, key=lambda c: f.concept(c).notation):
            if not any(c in used for c in f.admitted(frozenset({iri}))):
                out.append(f"{name} '{f.concept(iri).notation}': no loaded source records this {name}"
                           " (or a narrower or matching one)"
                           ", so nothing can match it; an empty answer is not evidence of absence")
    return tuple(out)


def _span(evidence: Iterable[Evidence]) -> tuple[str | None, str | None]:
    starts = [e.start for e in evidence if e.start]
    ends = [e.end for e in evidence if e.end]
    return (min(starts) if starts else None), (max(ends) if ends else None)


@dataclass(frozen=True)
class RepeatSubject:
    """An officer who is the subject of allegations in several investigations."""

    officer: Ref
    investigation_count: int
    allegation_count: int
    investigations: tuple[Ref, ...]
    categories: tuple[str, ...]
    results: tuple[str, ...]
    outcomes: tuple[str, ...]
    evidence: tuple[Evidence, ...]
    caveats: tuple[str, ...]


def repeat_subjects(f: Facts, *, min_investigations: int = 2, min_allegations: int = 1,
                    filters: Filters | None = None) -> Sequence[RepeatSubject]:
    """Officers who are subjects of allegations in at least `min_investigations` investigations.

    Parameters
    ----------
    min_investigations : int
        Distinct investigations an officer must appear in (>= 1).
    min_allegations : int
        Distinct allegations an officer must be a subject of (>= 1).
    filters : Filters, optional
        Which findings count.

    Returns
    -------
    sequence of RepeatSubject (built as read), most investigations first, then most allegations,
    ties by IRI.

    Notes
    -----
    One pass over the findings: O(F) for F findings.
    """
    filters = filters or Filters()
    unfiltered = filters == Filters()
    officer_of, allegation_of = f.props["officer"], f.props["allegation"]
    investigation_of = f.props["investigation"]
    # finding -> (officer, allegation, investigation); the hot loop reads the dictionaries directly
    by_officer: dict[str, list[tuple[str, str, str | None]]] = defaultdict(list)
    for finding in f.of_type("Finding"):
        officers, allegations = officer_of.get(finding), allegation_of.get(finding)
        if officers and allegations and (unfiltered or f.admits_finding(finding, filters)):
            investigation = investigation_of.get(allegations[0])
            by_officer[officers[0]].append((finding, allegations[0], investigation[0] if investigation else None))
    keys = []
    for officer, rows in by_officer.items():
        investigations = len({i for _, _, i in rows if i})
        allegation_count = len({a for _, a, _ in rows})
        if investigations >= min_investigations and allegation_count >= min_allegations:
            keys.append((-investigations, -allegation_count, officer, tuple(x for x, _, _ in rows)))
    keys.sort()

    def build(key: tuple[int, int, str, tuple[str, ...]]) -> RepeatSubject:
        _, _, officer, findings = key
        investigations = {i for i in (f.investigation_of(x) for x in findings) if i}
        allegations = {a for a in (f.value(x, "allegation") for x in findings) if a}
        evidence = tuple(f.evidence(x) for x in findings)
        return RepeatSubject(
            officer=ref(f, officer),
            investigation_count=len(investigations),
            allegation_count=len(allegations),
            investigations=tuple(ref(f, i) for i in sorted(investigations, key=lambda i: (f.label(i), i))),
            categories=tuple(sorted({f.concept(c).notation for a in allegations for c in f.categories_of(a)})),
            results=tuple(sorted({f.concept(r).notation for x in findings for r in f.values(x, "result")})),
            outcomes=tuple(sorted({f.concept(o).notation for x in findings for o in f.values(x, "outcome")})),
            evidence=evidence,
            caveats=caveats(evidence),
        )

    return Lazy(keys, build)


@dataclass(frozen=True)
class Shared:
    """One thing two officers share (an investigation, allegation, group, unit...) and the facts that say so."""

    via: Ref
    start: str | None
    end: str | None
    evidence: tuple[Evidence, ...]


@dataclass(frozen=True)
class CoAccused:
    """Two officers accused together, `weight` times."""

    officer: Ref
    other: Ref
    weight: int
    shared: tuple[Shared, ...]
    start: str | None
    end: str | None
    caveats: tuple[str, ...]


def officers_with(f: Facts, *, unit: str | None = None, outcome: str | None = None,
                  result: str | None = None, station: str | None = None) -> set[str]:
    """Officers posted to `unit` or `station` (at any time), or with a finding of `result` or `outcome`.

    Parameters
    ----------
    f : Facts
        The facts (the real ones, or a view's).
    unit, station : IRI, optional
        Officers with a posting to this unit, or at this station, at any time.
    outcome, result : IRI, optional
        Officers with a finding of this outcome, or of this result, or of a narrower or matching one
        (:meth:`Facts.admitted`).

    Returns
    -------
    set of IRI, the union of what each parameter given selects (empty when none is given).
    """
    found: set[str] = set()
    if unit or station:
        for posting in f.of_type("Posting"):
            if (unit and unit in f.values(posting, "unit")) or (station and station in f.values(posting, "station")):
                found.update(f.values(posting, "officer"))
    if outcome or result:
        outcomes = f.admitted(frozenset({outcome})) if outcome else frozenset()
        results = f.admitted(frozenset({result})) if result else frozenset()
        for finding in f.of_type("Finding"):
            if not outcomes.isdisjoint(f.values(finding, "outcome")) or not results.isdisjoint(f.values(finding, "result")):
                found.update(f.values(finding, "officer"))
    return found


def co_accused(f: Facts, *, min_shared: int = 1, basis: str = "investigation", officers: Iterable[str] = (),
               unit: str | None = None, investigation: str | None = None, inquiry: str | None = None,
               filters: Filters | None = None,
               networks: Callable[[Projection], nx.Graph] | None = None) -> Sequence[CoAccused]:
    """Pairs of officers co-accused at least `min_shared` times (CPDP's co-accusal network).

    Parameters
    ----------
    min_shared : int
        Least number of shared investigations (or allegations, with ``basis="allegation"``).
    basis : str
        ``investigation`` or ``allegation``.
    officers : iterable of IRI
        Keep pairs whose two officers are both in this set (empty: everyone).
    unit : IRI, optional
        Keep pairs whose two officers were both posted to this unit.
    investigation, inquiry : IRI, optional
        Count only what is shared within this investigation, or within the investigations of this inquiry.
    networks : callable, optional
        ``projection -> graph``: a cache of officer networks (default: build the network).

    Returns
    -------
    sequence of CoAccused (built as read), heaviest first, ties by the two IRIs; each pair once,
    `officer` < `other` by IRI.

    Notes
    -----
    Quadratic in the subjects of each investigation (or allegation): the network joins every pair of
    them, so an investigation with k subjects adds k(k-1)/2 edges, built once per projection and data
    version (``networks``) and read in O(E) after. Chicago: 22,813 officers, 224,265 pairs.
    """
    spec = Projection(kinds=frozenset({"co-accused"}), basis=basis, filters=filters or Filters())
    graph = networks(spec) if networks else officer_network(f, spec)
    keep = set(officers) or None
    if unit:
        posted = officers_with(f, unit=unit)
        keep = posted if keep is None else keep & posted
    keys = []
    for a, b, data in graph.edges(data=True):
        a, b = sorted((a, b))
        if keep is not None and (a not in keep or b not in keep):
            continue
        links = []
        for link in data["links"]:
            inv = link.via if basis == "investigation" else f.value(link.via, "investigation")
            if investigation and inv != investigation:
                continue
            if inquiry and (not inv or f.value(inv, "inquiry") != inquiry):
                continue
            links.append(link)
        if len(links) >= min_shared:
            keys.append((-len(links), a, b, tuple(links)))
    keys.sort(key=lambda k: k[:3])

    def build(key: tuple[int, str, str, tuple[Link, ...]]) -> CoAccused:
        _, a, b, links = key
        shared = tuple(Shared(ref(f, k.via), k.start, k.end, tuple(f.evidence(e) for e in k.evidence))
                       for k in links)
        evidence = [e for s in shared for e in s.evidence]
        start, end = _span(evidence)
        return CoAccused(ref(f, a), ref(f, b), len(shared), shared, start, end, caveats(evidence))

    return Lazy(keys, build)


@dataclass(frozen=True)
class StatusAt:
    """An employment status of an officer recorded for (or undated around) the dates concerned."""

    status: str
    start: str | None
    end: str | None
    evidence: Evidence


@dataclass(frozen=True)
class SharedGroup:
    """An officer who shared chat groups with `officer` while both were members."""

    officer: Ref
    other: Ref
    groups: tuple[Shared, ...]
    other_status: tuple[StatusAt, ...]
    caveats: tuple[str, ...]


def _status_during(f: Facts, officer: str, spans: list[tuple[str | None, str | None]]) -> tuple[StatusAt, ...]:
    """The officer's employment statuses that overlap any of `spans` (None ends open), and undated ones."""
    out = []
    for node in f.referrers(officer, "officer"):
        if not f.is_a(node, "EmploymentStatus"):
            continue
        start, end = f.interval(node)
        if (start or end) and all(overlap((start, end), span) is None for span in spans):
            continue
        status = f.value(node, "status")
        out.append(StatusAt(f.concept(status).notation if status else "", start, end, f.evidence(node)))
    return tuple(sorted(out, key=lambda s: (s.start or "", s.status, s.evidence.iri)))


def shared_groups(f: Facts, anchors: Iterable[str], *, filters: Filters | None = None) -> list[SharedGroup]:
    """Officers who shared a chat group with any of `anchors` while both memberships overlapped.

    For each pair, the shared groups with the overlap of the two memberships (None ends: open or
    unknown), and the other officer's employment statuses during that overlap.

    Parameters
    ----------
    f : Facts
        The facts (the real ones, or a view's).
    anchors : iterable of IRI
        The officers whose groups are looked at (for example those dismissed).
    filters : Filters, optional
        Only memberships dated inside the range count.

    Returns
    -------
    list of SharedGroup, by anchor IRI then other IRI.

    Notes
    -----
    O(M) to index the memberships, then for each anchor O(sum of the sizes of its groups): quadratic in a
    group's size when every member is an anchor (a 17-member group: 272 ordered pairs).
    """
    filters = filters or Filters()
    by_member: dict[str, list[str]] = defaultdict(list)
    by_group: dict[str, list[str]] = defaultdict(list)
    for node in f.of_type("ChatMembership"):
        if not filters.admits_interval(*f.interval(node)):
            continue
        member, group = f.value(node, "member"), f.value(node, "group")
        if member and group:
            by_member[member].append(node)
            by_group[group].append(node)
    out = []
    for anchor in sorted(set(anchors)):
        pairs: dict[str, list[Shared]] = defaultdict(list)
        for mine in by_member.get(anchor, ()):
            group = f.value(mine, "group")
            for theirs in by_group[group]:  # type: ignore[index]
                other = f.value(theirs, "member")
                if other == anchor or other is None:
                    continue
                both = overlap(f.interval(mine), f.interval(theirs))
                if both is None:
                    continue
                pairs[other].append(Shared(ref(f, group), both[0], both[1],  # type: ignore[arg-type]
                                           (f.evidence(mine), f.evidence(theirs))))
        for other, groups in sorted(pairs.items()):
            statuses = _status_during(f, other, [(g.start, g.end) for g in groups])
            evidence = [e for g in groups for e in g.evidence] + [s.evidence for s in statuses]
            out.append(SharedGroup(ref(f, anchor), ref(f, other), tuple(sorted(groups, key=lambda g: g.via.iri)),
                                   statuses, caveats(evidence)))
    return out


@dataclass(frozen=True)
class Bystander:
    """An officer found to have failed to report or challenge another officer's conduct."""

    officer: Ref
    subject: Ref
    allegation: Ref
    conduct: Ref
    start: str | None
    end: str | None
    evidence: tuple[Evidence, ...]
    caveats: tuple[str, ...]


def bystanders(f: Facts, *, filters: Filters | None = None) -> list[Bystander]:
    """Who failed to report or challenge whose conduct (see :func:`graph.linkage.projection.bystander_links`).

    Parameters
    ----------
    f : Facts
        The facts (the real ones, or a view's).
    filters : Filters, optional
        As for :func:`~graph.linkage.projection.bystander_links` (default: every finding counts).
    """
    out = []
    for link in bystander_links(f, filters or Filters()):
        own, theirs = link.evidence
        evidence = (f.evidence(own), f.evidence(theirs))
        out.append(Bystander(ref(f, link.source or ""), ref(f, f.value(theirs, "officer") or ""),
                             ref(f, link.via), ref(f, f.value(theirs, "allegation") or ""),
                             link.start, link.end, evidence, caveats(evidence)))
    return out


def officer_iris(f: Facts) -> tuple[str, ...]:
    """Every officer and staff member, sorted."""
    return f.of_type(*OFFICER_CLASSES)
