"""Pseudonymised views: what a ``reader`` may see, built from one declared allowlist, every instance re-minted.

The ``reader`` role sees the data through these views, in JSON answers and in every export format
(:mod:`api.access`, :mod:`api.answers`, :mod:`api.exports`). A view keeps only

* instances of a class in :data:`READER_CLASSES`, each under a new IRI
  ``{base}{kind}/p-{HMAC-SHA256(secret, real IRI)}``: the secret is kept in
  ``DATA_DIR/access/pseudonym.key``, so a reader who knows a source key (an officer's payroll
  number, a complaint number) can compute the service's unkeyed IRI (:func:`graph.iri.mint`) but not
  the view's. The same for every request and data version of one deployment, different in another;
* ``rdf:type`` statements naming a class of :data:`READER_CLASSES`;
* statements whose predicate is an ``ov:`` property of :data:`READER_PROPERTIES`, and only with a
  value of the declared shape: a link to another visible instance (re-minted), a concept of the
  ontology's schemes or of a source's local vocabulary, or a literal that is a date, a boolean or an integer;
* of a source's local vocabulary (a mapping's code list: concepts, never instances, so not re-minted), the
  SKOS properties of :data:`READER_VOCABULARY`: each concept's notation and label as the code list gives
  them, its scheme and the links that map it onto the ontology's concepts.

Everything else is dropped: names, pseudonyms, identifiers, titles, descriptions, message content,
URLs and licences (``ov:`` properties not in the table), every predicate and class of another
vocabulary (``foaf:name``, ``rdfs:label``, ``rdfs:comment``, ``skos:prefLabel``, ``foaf:homepage``,
``rdfs:seeAlso``...), untyped or foreign-typed nodes, blank nodes and the metadata graph. Labels are
then composed from pseudonymous ids and concept labels only (:meth:`graph.linkage.facts.Facts.label`).
See docs/decisions/2026-12-02-reader-allowlist.md.
"""

from __future__ import annotations

import contextlib
import fcntl
import hmac
import os
import re
import secrets
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyoxigraph as ox
from rdflib import RDFS, SKOS, URIRef

from graph.errors import ConfigError
from graph.linkage.facts import KINDS, VOCABULARY, Facts, facts
from graph.store import heap
from graph.store.database import Database
from graph.store.derived import Kind, View
from ontology import OV, ontology_graph
from ontology.concepts import concept

__all__ = [
    "BOOLEAN",
    "CONCEPT",
    "DATE",
    "INTEGER",
    "LINK",
    "PEOPLE",
    "READER_CLASSES",
    "READER_PROPERTIES",
    "READER_VOCABULARY",
    "READER_SOURCE_FIELDS",
    "VARIANT",
    "Pseudonyms",
    "pseudonymous_facts",
    "secret",
    "visible_classes",
]

# Value shapes of a visible property.
LINK = "link"  # another visible instance, re-minted
CONCEPT = "concept"  # a concept of one of the ontology's schemes
DATE = "date"  # a date, year-month, year or date-time
BOOLEAN = "boolean"
INTEGER = "integer"

#: The classes (``ov:`` local names) whose instances readers see, under pseudonymous IRIs.
READER_CLASSES = frozenset({
    "Agent", "Officer", "PoliceStaff", "Person", "Organisation", "Force", "OversightBody", "Unit", "Station",
    "Role", "Posting", "ChatGroup", "ChatMembership", "Message", "Allegation", "Investigation", "Inquiry",
    "Finding", "Sanction", "BarredListEntry", "EmploymentStatus", "Report", "Recommendation",
    "SourceDocument", "Event",
})

#: The ``ov:`` properties readers see, each with the one shape of value it may have. Not here, so never
#: shown: identifier, name, pseudonym, title, description, content, url, licence, and the provenance
#: properties of the metadata graph.
READER_PROPERTIES: dict[str, str] = {
    # links between entities
    "officer": LINK, "allegation": LINK, "investigation": LINK, "finding": LINK, "inquiry": LINK,
    "member": LINK, "group": LINK, "sender": LINK, "unit": LINK, "station": LINK, "force": LINK,
    "partOf": LINK, "roleIn": LINK, "victim": LINK, "complainant": LINK, "involves": LINK, "about": LINK,
    "concerns": LINK, "linkedTo": LINK, "investigatingBody": LINK, "decidedBy": LINK, "publisher": LINK,
    "report": LINK, "addressedTo": LINK, "source": LINK,
    # concepts of the ontology's schemes (their labels are the ontology's, never a source's)
    "category": CONCEPT, "result": CONCEPT, "outcome": CONCEPT, "status": CONCEPT, "rank": CONCEPT,
    "platform": CONCEPT, "contentCategory": CONCEPT, "evidenceStatus": CONCEPT, "personRole": CONCEPT,
    # literals
    "date": DATE, "startDate": DATE, "endDate": DATE, "sentAt": DATE, "conductFrom": DATE, "conductTo": DATE,
    "uncoveredOn": DATE, "occurredOn": DATE, "receivedOn": DATE, "isAdmin": BOOLEAN, "isDisbanded": BOOLEAN, "reportedMemberCount": INTEGER,
    "number": INTEGER,
}

#: The SKOS properties readers see of the concepts of a source's local vocabulary (keys of ``Facts.props``):
#: code-list values and their mapping onto the ontology, never a statement about an instance.
READER_VOCABULARY = frozenset(VOCABULARY)
_SKOS = "http://www.w3.org/2004/02/skos/core#"

#: What readers see of a loaded source's record (``GET /sources``): not who loaded it, nor the file it came from.
READER_SOURCE_FIELDS = ("name", "iri", "run", "graph", "sequence", "loaded_at", "title", "checksum", "licence",
                        "triples")

_LITERAL = {
    DATE: re.compile(r"-?[0-9]{4}(-[0-9]{2}(-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?"
                     r"(Z|[+-][0-9]{2}:[0-9]{2})?)?)?)?"),
    BOOLEAN: re.compile(r"true|false|1|0"),
    INTEGER: re.compile(r"[+-]?[0-9]{1,18}"),
}

#: The ``ov:`` classes whose instances are concepts (of a scheme): a source's own concept carries one of these
#: types and no other, so that an instance (an officer given a skos:inScheme) is never shown as a concept.
_CONCEPT_TYPES = frozenset(str(c).rsplit("#", 1)[-1] for c in ontology_graph().transitive_subjects(
    RDFS.subClassOf, URIRef(str(SKOS.Concept))) if str(c).startswith(str(OV)))
_SKOS_LINKS = frozenset(n for n in VOCABULARY if n not in ("skos:notation", "skos:prefLabel"))

PEOPLE = ("Officer", "PoliceStaff", "Person")
#: What a pseudonymised view's version ends with, so caches, ETags and cursors never mix the two.
VARIANT = View.PSEUDONYMISED.suffix
_OV = str(OV)
_XSD = "http://www.w3.org/2001/XMLSchema#"
_RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
_STRING = ox.NamedNode(_XSD + "string")


def secret(data_dir: str | os.PathLike[str]) -> bytes:
    """The deployment's pseudonym key (32 random bytes, made on first use, mode 0600).

    The key is written whole to a private temporary file, then linked into place, which fails if another
    process made one meanwhile (then that one is used; where the filesystem has no hard links, it is moved into
    place under a file lock, if no key is there by then): no reader ever sees a partly written key.

    Raises
    ------
    ConfigError
        The key file exists but is not 32 bytes (damaged, or emptied by hand): pseudonyms made with it would not
        be those readers saw before, and an empty key would make them guessable, so nothing is shown.
    """
    path = Path(data_dir) / "access" / "pseudonym.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, partial = tempfile.mkstemp(prefix=".pseudonym-", dir=path.parent)  # mode 0600
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(secrets.token_bytes(32))
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(partial, path)
            except FileExistsError:  # made by another process meanwhile: theirs is the key
                pass
            except OSError:  # a filesystem without hard links: the same, under a lock the instances share
                with open(path.parent / ".pseudonym.lock", "a") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX)
                    if not path.exists():
                        os.replace(partial, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)
    key = path.read_bytes()
    if len(key) != 32:
        raise ConfigError("the pseudonym key (access/pseudonym.key in the data folder) is damaged: restore it from "
                          "a backup; deleting it makes new pseudonyms for every instance")
    return key


def visible_classes(counts: dict[str, int]) -> dict[str, int]:
    """Instances per class (class IRI -> count) for readers: the classes of :data:`READER_CLASSES` only."""
    return {iri: n for iri, n in counts.items() if iri.startswith(_OV) and iri[len(_OV):] in READER_CLASSES}


def _is_concept(iri: str) -> bool:
    return bool(concept(iri).scheme)


class Pseudonyms:
    """The view's IRI of every visible instance of `f`, both ways, and the filter of :data:`READER_PROPERTIES`.

    Parameters
    ----------
    f : Facts
        The real facts.
    key : bytes
        The deployment's secret (:func:`secret`).
    base : str
        The deployment's base IRI: view IRIs never keep a source's own namespace, which may say who.
    """

    def __init__(self, f: Facts, key: bytes, *, base: str) -> None:
        self.alias: dict[str, str] = {}
        for subject, types in f.types.items():
            if READER_CLASSES.isdisjoint(types):
                continue
            digest = hmac.digest(key, subject.encode("utf-8"), "sha256").hex()[:20]
            self.alias[subject] = f"{base}{f.kind(subject)}/p-{digest}"
        self.real = {v: k for k, v in self.alias.items()}
        # The sources' own concepts, shown as the code list gives them: subjects with a scheme, typed with concept
        # classes only (as the shapes require of a value), and the schemes they are in, which are typed nothing
        # of ours (a scheme is no instance).
        typed = f.types
        self.local = frozenset(c for c in f.vocabulary if typed.get(c) and _CONCEPT_TYPES.issuperset(typed[c]))
        in_scheme = f.props.get("skos:inScheme", {})
        self.schemes = frozenset(s for c in self.local for s in in_scheme.get(c, ()) if not typed.get(s))

    def vocabulary(self, name: str, value: str) -> bool:
        """Whether readers see `value` of the SKOS property `name` (``skos:exactMatch``...) of a local concept:
        a link to a concept or scheme, never to an instance; a literal (notation, label) that is not the real
        IRI of a visible instance written as text."""
        if name not in _SKOS_LINKS:
            return value not in self.alias
        return value in self.local or value in self.schemes or value.startswith(_OV)

    def value(self, name: str, value: str) -> str | None:
        """`value` of property `name` as the view shows it (re-minted), or None if the view drops it."""
        shape = READER_PROPERTIES.get(name)
        if shape == LINK:
            return self.alias.get(value)
        if shape == CONCEPT:
            return value if _is_concept(value) or value in self.local else None
        if shape is None or not _LITERAL[shape].fullmatch(value):
            return None
        return value

    def facts(self, f: Facts) -> Facts:
        """`f` as readers see it: visible instances re-minted, everything not allowed left out."""
        alias, view = self.alias, self.value
        props: dict[str, dict[str, tuple[str, ...]]] = {}
        for name, values in f.props.items():
            kept: dict[str, tuple[str, ...]] = {}
            if name in READER_PROPERTIES:
                for s, objects in values.items():
                    subject = alias.get(s)
                    if subject is None:
                        continue
                    shown = tuple(sorted(v for v in (view(name, o) for o in objects) if v is not None))
                    if shown:
                        kept[subject] = shown
            if name in READER_VOCABULARY:
                kept = {s: shown for s, objects in values.items() if s in self.local
                        and (shown := tuple(o for o in objects if self.vocabulary(name, o)))}
            props[name] = kept  # every property keeps its key: code reads props[name] unguarded
        types = {alias[s]: tuple(t for t in ts if t in READER_CLASSES) for s, ts in f.types.items() if s in alias}
        return Facts(f.version + VARIANT, props, types, f.runs)

    def quads(self, quads: Iterable[ox.Quad]) -> Iterator[ox.Quad]:
        """`quads` as readers see them: the same rule as :meth:`facts`, statement by statement."""
        alias = self.alias
        for quad in quads:
            subject, predicate, obj = quad.subject, quad.predicate.value, quad.object
            if isinstance(subject, ox.NamedNode) and subject.value in self.local and (
                    predicate.startswith(_SKOS) and "skos:" + predicate[len(_SKOS):] in READER_VOCABULARY):
                name = "skos:" + predicate[len(_SKOS):]
                if isinstance(obj, ox.Literal | ox.NamedNode) and isinstance(obj, ox.Literal) != (
                        name in _SKOS_LINKS) and self.vocabulary(name, obj.value):
                    yield quad  # a concept of a local vocabulary, as the code list gives it
                continue
            if not isinstance(subject, ox.NamedNode) or subject.value not in alias:
                continue
            if predicate == _RDF_TYPE:
                if not (isinstance(obj, ox.NamedNode) and obj.value.startswith(_OV)
                        and obj.value[len(_OV):] in READER_CLASSES):
                    continue
                shown: ox.NamedNode | ox.Literal = obj
            elif predicate.startswith(_OV) and (shape := READER_PROPERTIES.get(predicate[len(_OV):])):
                if isinstance(obj, ox.Literal) == (shape in (LINK, CONCEPT)):
                    continue  # a literal where a link is due, or the other way round
                value = self.value(predicate[len(_OV):], obj.value)  # type: ignore[union-attr]
                if value is None:
                    continue
                if isinstance(obj, ox.Literal):  # keep an XSD datatype; anything else (a language) goes
                    datatype = obj.datatype if obj.datatype.value.startswith(_XSD) else _STRING
                    shown = ox.Literal(value, datatype=datatype)
                else:
                    shown = ox.NamedNode(value)
            else:
                continue
            yield ox.Quad(ox.NamedNode(alias[subject.value]), quad.predicate, shown, quad.graph_name)


def pseudonymous_facts(db: Database, data_dir: str | os.PathLike[str]) -> tuple[Facts, Pseudonyms]:
    """The pseudonymised view of the current facts, built once per data version and kept beside them.

    Kept as the facts of the version ``{version}~pseudonymised``, so projections and answers built
    on it are cached apart from the real ones.

    Parameters
    ----------
    db : Database
        The store: its current facts are the real ones pseudonymised.
    data_dir : str or path-like
        The data folder, where the deployment's pseudonym key is kept (:func:`secret`).

    Returns
    -------
    The view's facts, and the :class:`Pseudonyms` that made them (which rewrite statements for readers).
    """
    real = facts(db)
    version = real.version + VARIANT

    def build() -> tuple[Facts, Pseudonyms]:
        with heap.building():
            names = Pseudonyms(real, secret(data_dir), base=db.base_iri)
            return names.facts(real), names

    found, names = db.derived.get_or_build(Kind.PSEUDONYMS, version, None, build,
                                           keep=lambda: db.derived.get(Kind.FACTS, real.version) is real)
    if db.derived.get(Kind.FACTS, version) is not found and db.derived.get(Kind.FACTS, real.version) is real:
        db.derived.put(Kind.FACTS, version, None, found)  # projections of the view are cached against it
    return found, names


assert set(PEOPLE) <= set(KINDS) and READER_CLASSES - {"Agent"} <= set(KINDS)
