"""The :class:`Facts` accessor: the folded properties of the current data with the domain's semantics.

Which class an entity is of, its label, its evidence status, the interval a fact covers, the
concepts a category filter admits (the ontology's SKOS links and the sources' own), what a question
counts (:class:`Filters`) and the evidence and sources an answer carries (:class:`Evidence`, :class:`Source`).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property

from rdflib.namespace import OWL, RDF

from graph.iri import local_id
from graph.linkage.facts.dates import overlap
from graph.linkage.facts.pairs import PREDICATES, VOCABULARY, Folded, Pairs, fold_pairs
from ontology import OV, ontology_graph
from ontology.concepts import Concept, all_concepts, concept, links

__all__ = ["KINDS", "OFFICER_CLASSES", "classes", "Facts", "Evidence", "Source", "Concept", "Filters"]

_OV = str(OV)

#: The kind of an entity in JSON and in evidence, by class local name (most specific first).
KINDS = {
    "Finding": "finding", "ChatMembership": "chat-membership", "Posting": "posting",
    "EmploymentStatus": "employment-status", "BarredListEntry": "barred-list-entry", "Sanction": "sanction",
    "Message": "message", "Allegation": "allegation", "Investigation": "investigation", "Inquiry": "inquiry",
    "ChatGroup": "chat-group", "Officer": "officer", "PoliceStaff": "staff", "Person": "person",
    "Unit": "unit", "Station": "station", "Force": "force", "OversightBody": "organisation",
    "Organisation": "organisation", "SourceDocument": "source-document", "Event": "event", "Report": "report",
    "Recommendation": "recommendation", "Role": "role",
}
OFFICER_CLASSES = ("Officer", "PoliceStaff")


@cache
def classes() -> frozenset[str]:
    """The local names of the ontology's classes: what the accessor's class arguments may name."""
    return frozenset(str(c)[len(_OV):] for c in ontology_graph().subjects(RDF.type, OWL.Class) if str(c).startswith(_OV))


def _known(names: Iterable[str]) -> None:
    unknown = sorted(set(names) - classes())
    if unknown:  # a misspelt class would otherwise match nothing, silently
        raise ValueError(f"not a class of the ontology: {', '.join(unknown)}")


#: Investigation statuses that say it is over (so a missing end date is unknown, not open).
_ENDED = frozenset({str(OV.Concluded), str(OV.InvestigationDiscontinued)})


# --------------------------------------------------------------------------- concepts
#: How each SKOS link makes a filter on one concept admit another: (admits, is admitted), "s" the subject, "o" the
#: object. A filter admits narrower concepts (skos:broader, skos:narrower and skos:broadMatch, skos:narrowMatch
#: across schemes) and concepts said to match (skos:exactMatch, skos:closeMatch: either way round).
_ADMITS = {"broader": (("o", "s"),), "narrower": (("s", "o"),), "broadMatch": (("o", "s"),),
           "narrowMatch": (("s", "o"),), "exactMatch": (("s", "o"), ("o", "s")), "closeMatch": (("s", "o"), ("o", "s"))}


def _admit_links(links: Iterable[tuple[str, str, str]], into: dict[str, set[str]]) -> None:
    """Fold (SKOS local name, subject, object) links into `into`: concept -> the concepts a filter on it admits."""
    for name, s, o in links:
        for a, b in _ADMITS.get(name, ()):
            pair = {"s": s, "o": o}
            into[pair[a]].add(pair[b])


def _walk(children: Mapping[str, Collection[str]], start: Iterable[str]) -> frozenset[str]:
    todo = list(start)
    seen = set(todo)
    while todo:
        for n in children.get(todo.pop(), ()):
            if n not in seen:
                seen.add(n)
                todo.append(n)
    return frozenset(seen)


@cache
def _ontology_links() -> dict[str, frozenset[str]]:
    children: dict[str, set[str]] = defaultdict(set)
    _admit_links(links(), children)
    return {c: frozenset(v) for c, v in children.items()}


@cache
def _narrower_closure() -> dict[str, frozenset[str]]:
    admits = _ontology_links()
    return {c: _walk(admits, (c,)) for c in all_concepts()}


# --------------------------------------------------------------------------- filters and evidence
@dataclass(frozen=True)
class Filters:
    """What a question counts: facts in a date range, allegation categories, finding results, outcomes.

    Categories include their narrower concepts (``honesty-and-integrity`` admits its sub-categories).
    With a date range, only facts dated inside it (overlapping it) count; undated facts are left out.
    Categories, results and outcomes restrict findings (and so co-accusal and failure to report);
    dates restrict findings, memberships and postings.
    """

    date_from: str | None = None
    date_to: str | None = None
    categories: frozenset[str] = frozenset()
    results: frozenset[str] = frozenset()
    outcomes: frozenset[str] = frozenset()

    @property
    def is_dated(self) -> bool:
        return bool(self.date_from or self.date_to)

    def admits_interval(self, start: str | None, end: str | None) -> bool:
        """Whether an interval (partial dates, None for unknown) lies at least partly in the range."""
        if not self.is_dated:
            return True
        if not start and not end:
            return False
        return overlap((start, end), (self.date_from, self.date_to)) is not None

    @cached_property
    def category_closure(self) -> frozenset[str]:
        """The categories and every narrower or matching one of the ontology (:meth:`Facts.admitted` adds the
        loaded sources' own concepts)."""
        closure = _narrower_closure()
        return frozenset().union(*(closure.get(c, {c}) for c in self.categories))

    @staticmethod
    def category_closure_of(category: str) -> frozenset[str]:
        """One category and every narrower or matching one of the ontology."""
        return _narrower_closure().get(category, frozenset({category}))

    def key(self) -> tuple[object, ...]:
        return (self.date_from, self.date_to, tuple(sorted(self.categories)), tuple(sorted(self.results)),
                tuple(sorted(self.outcomes)))


@dataclass(frozen=True)
class Evidence:
    """One fact behind a link: what it is, how sure the source is, and the documents that report it."""

    kind: str  # finding, chat-membership, posting, allegation, investigation, message, ...
    iri: str
    id: str
    label: str
    status: str  # reported | illustrative | unconfirmed
    sources: tuple[str, ...]
    start: str | None = None
    end: str | None = None


@dataclass(frozen=True)
class Source:
    """A source document, as answers cite it."""

    iri: str
    id: str
    title: str
    date: str | None = None
    url: str | None = None
    publisher: str | None = None


# --------------------------------------------------------------------------- facts
@dataclass
class Facts:
    """The folded properties of the current data: ``props[name][subject]`` is a sorted tuple of values.

    Build with :func:`facts`. Treat as read-only: many requests share one.
    """

    version: str
    props: dict[str, dict[str, tuple[str, ...]]]
    types: dict[str, tuple[str, ...]]  # subject -> its ov: classes (local names)
    runs: frozenset[str] = frozenset()  # the ingest runs folded in
    _inverse: dict[tuple[str, str], dict[str, tuple[str, ...]]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _admitted: dict[frozenset[str], frozenset[str]] = field(default_factory=dict, repr=False)

    @classmethod
    def merge(cls, version: str, parts: Sequence[Folded], *, runs: frozenset[str] = frozenset()) -> Facts:
        """The facts of the folded graphs `parts` (a statement made in several folds into one).

        The largest part's dictionaries are copied, the others merged into them; a single part is
        used as it is (shared, never changed)."""
        ordered = sorted(parts, key=lambda part: -len(part.get("type", {})))
        merged: Folded = dict(ordered[0]) if ordered else {}
        if len(ordered) > 1:
            merged = {name: dict(values) for name, values in merged.items()}
            for part in ordered[1:]:
                for name, values in part.items():
                    target = merged.setdefault(name, {})
                    for s, v in values.items():
                        current = target.get(s)
                        if current is None:
                            target[s] = v
                        elif current != v:
                            target[s] = tuple(sorted({*current, *v}))
        types = merged.pop("type", {})
        for name in (*PREDICATES, *VOCABULARY):
            merged.setdefault(name, {})
        return cls(version, merged, types, runs)

    @classmethod
    def fold(cls, version: str, parts: Iterable[Pairs], *, runs: frozenset[str] = frozenset()) -> Facts:
        """The facts of the pairs of several graphs."""
        return cls.merge(version, [fold_pairs(p) for p in parts], runs=runs)

    # ---- reading
    def values(self, subject: str, name: str) -> tuple[str, ...]:
        """The values of property `name` of `subject`, sorted."""
        return self.props[name].get(subject, ())

    def value(self, subject: str, name: str) -> str | None:
        """The first (smallest) value of property `name` of `subject`, or None."""
        found = self.props[name].get(subject)
        return found[0] if found else None

    def inverse(self, name: str) -> dict[str, tuple[str, ...]]:
        """Object -> sorted subjects of property `name` (built on first use, then kept)."""
        key = (name, "")
        found = self._inverse.get(key)
        if found is None:
            out: dict[str, list[str]] = defaultdict(list)
            for s, objects in self.props[name].items():
                for o in objects:
                    out[o].append(s)
            found = {o: tuple(sorted(v)) for o, v in out.items()}
            with self._lock:
                self._inverse[key] = found
        return found

    def referrers(self, obj: str, name: str) -> tuple[str, ...]:
        """Subjects whose property `name` is `obj`."""
        return self.inverse(name).get(obj, ())

    def is_a(self, subject: str, cls: str) -> bool:
        """Whether `subject` is of class `cls` (a local name; ValueError if the ontology has no such class)."""
        if cls not in classes():
            _known((cls,))
        return cls in self.types.get(subject, ())

    def of_type(self, *classes: str) -> tuple[str, ...]:
        """Every subject of one of `classes` (local names), sorted."""
        key = ("type", "|".join(classes))
        found = self._inverse.get(key)
        if found is None:
            _known(classes)
            wanted = set(classes)
            found = {"": tuple(sorted(s for s, t in self.types.items() if not wanted.isdisjoint(t)))}
            with self._lock:
                self._inverse[key] = found
        return found[""]

    def most_referred(self, *classes: str) -> str | None:
        """The subject of one of `classes` that most statements point to (ties: the smallest IRI)."""
        key = ("most-referred", "|".join(classes))
        found = self._inverse.get(key)
        if found is None:
            members = set(self.of_type(*classes))
            counts: dict[str, int] = defaultdict(int)
            for values in self.props.values():
                for objects in values.values():
                    for o in objects:
                        if o in members:
                            counts[o] += 1
            best = min(members, key=lambda m: (-counts[m], m)) if members else None
            found = {"": (best,) if best else ()}
            with self._lock:
                self._inverse[key] = found
        return found[""][0] if found[""] else None

    # ---- concepts: the ontology's, and the sources' own (local vocabularies)
    @cached_property
    def vocabulary(self) -> dict[str, Concept]:
        """The concepts that loaded sources declare (a scheme, a notation), by IRI: local vocabularies."""
        props = self.props
        return {iri: Concept(iri, self.value(iri, "skos:notation") or local_id(iri),
                             self.value(iri, "skos:prefLabel") or self.value(iri, "skos:notation") or local_id(iri),
                             schemes[0])
                for iri, schemes in props.get("skos:inScheme", {}).items()}

    def concept(self, iri: str) -> Concept:
        """The concept `iri`: of the ontology, else of a loaded source's vocabulary (:func:`concept` otherwise)."""
        found = all_concepts().get(iri)
        return found if found is not None else self.vocabulary.get(iri) or concept(iri)

    @cached_property
    def _links(self) -> dict[str, frozenset[str]]:
        """Concept -> the concepts a filter on it admits directly, the ontology's links and the sources' together."""
        children: dict[str, set[str]] = defaultdict(set)
        for c, admitted in _ontology_links().items():
            children[c].update(admitted)
        _admit_links(((name[5:], s, o) for name in VOCABULARY for s, objects in self.props.get(name, {}).items()
                      for o in objects), children)
        return {c: frozenset(v) for c, v in children.items()}

    def admitted(self, concepts: frozenset[str]) -> frozenset[str]:
        """The concepts a filter on `concepts` admits: themselves, every narrower one and every one that matches
        (``skos:exactMatch``, ``closeMatch``, ``broadMatch``...), of the ontology or of a loaded source's own
        vocabulary, so that a filter on a core concept counts data that a mapping left in its local terms.

        Notes
        -----
        Built once per set of concepts and data version: O(links) the first time, a lookup after.
        """
        found = self._admitted.get(concepts)
        if found is None:
            found = self._admitted[concepts] = _walk(self._links, concepts)
        return found

    def kind(self, subject: str) -> str:
        """The entity kind of `subject` (``officer``, ``finding``...), ``entity`` if untyped."""
        types = self.types.get(subject, ())
        for cls, kind in KINDS.items():
            if cls in types:
                return kind
        return "entity"

    def find(self, local: str, *classes: str) -> str | None:
        """The IRI of the entity of one of `classes` whose local id is `local`."""
        key = ("local", "|".join(classes))
        index = self._inverse.get(key)
        if index is None:
            index = {local_id(s): (s,) for s in self.of_type(*classes)}
            with self._lock:
                self._inverse[key] = index
        found = index.get(local)
        return found[0] if found else None

    def label(self, subject: str) -> str:
        """A short human label: pseudonym, name, identifier or title, else the local id."""
        for name in ("pseudonym", "name", "identifier", "title"):
            found = self.value(subject, name)
            if found:
                return found
        return local_id(subject)

    def status(self, node: str) -> str:
        """The evidence status of a statement node: reported (the default), illustrative or unconfirmed."""
        found = self.value(node, "evidenceStatus")
        return concept(found).notation if found else "reported"

    def interval(self, node: str) -> tuple[str | None, str | None]:
        """A node's own (start, end), or its date for both ends.

        A missing end is open, except on a concluded or discontinued investigation: that one ended, on a
        date the source does not give, so it is known to have run only at its start (never "ongoing")."""
        date = self.value(node, "date") or self.value(node, "sentAt")
        start = self.value(node, "startDate") or date
        end = self.value(node, "endDate") or date
        if end is None and start is not None and self.value(node, "status") in _ENDED:
            end = start
        return start, end

    # ---- findings
    def investigation_of(self, finding: str) -> str | None:
        allegation = self.value(finding, "allegation")
        return self.value(allegation, "investigation") if allegation else None

    def finding_interval(self, finding: str) -> tuple[str | None, str | None]:
        """When the conduct a finding is about happened (what date filters compare), from the nearest date that
        says so (``docs/linkage.md``, Dates):

        1. the allegation's conduct: ``ov:occurredOn`` (an instant), else its start and end (conduct that lasted);
        2. the investigation's ``ov:occurredOn`` (the incident complained of);
        3. the period of conduct its inquiry examined;
        4. when the complaint was received (an instant: the conduct came before, on a date not given);
        5. the investigation's own interval (opened to closed; concluded without an end: its start only);
        6. when the finding was decided.
        """
        allegation = self.value(finding, "allegation")
        investigation = self.value(allegation, "investigation") if allegation else None
        if allegation:
            occurred = self.value(allegation, "occurredOn")
            if occurred:
                return occurred, occurred
            start, end = self.value(allegation, "startDate"), self.value(allegation, "endDate")
            if start or end:
                return start, end
        if investigation:
            occurred = self.value(investigation, "occurredOn")
            if occurred:
                return occurred, occurred
            inquiry = self.value(investigation, "inquiry")
            if inquiry:
                start, end = self.value(inquiry, "conductFrom"), self.value(inquiry, "conductTo")
                if start or end:
                    return start, end
            received = self.value(investigation, "receivedOn")
            if received:
                return received, received
            start, end = self.interval(investigation)
            if start or end:
                return start, end
        decided = self.value(finding, "date")
        return decided, decided

    def categories_of(self, allegation: str) -> tuple[str, ...]:
        return self.values(allegation, "category")

    def admits_finding(self, finding: str, filters: Filters) -> bool:
        """Whether a finding counts under `filters`."""
        if filters.categories:
            wanted = self.admitted(filters.categories)
            allegation = self.value(finding, "allegation")
            if not allegation or not wanted.intersection(self.categories_of(allegation)):
                return False
        if filters.results and self.value(finding, "result") not in self.admitted(filters.results):
            return False
        if filters.outcomes and self.admitted(filters.outcomes).isdisjoint(self.values(finding, "outcome")):
            return False
        return not filters.is_dated or filters.admits_interval(*self.finding_interval(finding))

    def findings_of(self, officer: str, filters: Filters | None = None) -> tuple[str, ...]:
        """The findings naming `officer` as subject (those `filters` admit)."""
        found = self.referrers(officer, "officer")
        return tuple(f for f in found if self.is_a(f, "Finding")
                     and (filters is None or self.admits_finding(f, filters)))

    # ---- evidence
    def evidence(self, node: str) -> Evidence:
        """`node` as evidence: its kind, a label that says what it states, its status and sources."""
        kind = self.kind(node)
        label = self.label(node)
        start, end = self.interval(node)
        if kind == "finding":
            officer, allegation = self.value(node, "officer"), self.value(node, "allegation")
            result = self.value(node, "result")
            outcomes = [self.concept(o).label for o in self.values(node, "outcome")]
            label = (f"{self.label(officer or '')}: subject of allegation {self.label(allegation or '')}"
                     + (f"; {self.concept(result).label}" if result else "; no result recorded")
                     + (f"; {', '.join(outcomes)}" if outcomes else ""))
            start, end = self.finding_interval(node)
        elif kind == "chat-membership":
            label = f"{self.label(self.value(node, 'member') or '')}: member of {self.label(self.value(node, 'group') or '')}"
        elif kind == "posting":
            where = [self.label(x) for x in (self.value(node, "unit"), self.value(node, "station")) if x]
            label = f"{self.label(self.value(node, 'officer') or '')}: posted to {', '.join(where) or 'unknown'}"
        elif kind == "message":
            cats = [self.concept(c).label for c in self.values(node, "contentCategory")]
            label = (f"Message by {self.label(self.value(node, 'sender') or '')} in "
                     f"{self.label(self.value(node, 'group') or '')}" + (f" ({', '.join(cats)})" if cats else ""))
        return Evidence(kind, node, local_id(node), label, self.status(node), self.values(node, "source"),
                        start, end)

    def source(self, iri: str) -> Source:
        """The source document `iri` as answers cite it."""
        publisher = self.value(iri, "publisher")
        return Source(iri, self.value(iri, "identifier") or local_id(iri), self.value(iri, "title") or "",
                      self.value(iri, "date"), self.value(iri, "url"), self.label(publisher) if publisher else None)

