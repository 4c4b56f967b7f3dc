"""Pseudonymised views: people replaced by stable per-deployment pseudonyms, names and free text removed.

The ``reader`` role sees the data through these views, in JSON answers and in every export
format (:mod:`api.access`). Each person (an officer, police staff, or another person such as
a complainant) gets the IRI ``{base}{kind}/p-{hmac}``. The HMAC is keyed by a secret kept in
``DATA_DIR/access/pseudonym.key``, so the pseudonym is the same for every request and every
data version of one deployment, and differs between deployments. Removed:
* the name, identifier, pseudonym and URL of people (:data:`PERSONAL`);
* free text everywhere: descriptions, message content (:data:`FREE_TEXT`);
* the titles of allegations and investigations, which may name people (:data:`TITLED`).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyoxigraph as ox

from graph import heap
from graph.database import Database
from graph.facts import KINDS, Facts, facts
from graph.iri import local_id

__all__ = ["PEOPLE", "PERSONAL", "FREE_TEXT", "Pseudonyms", "secret", "pseudonymous_facts", "VARIANT"]

PEOPLE = ("Officer", "PoliceStaff", "Person")
PERSONAL = frozenset({"name", "identifier", "pseudonym", "url"})
FREE_TEXT = frozenset({"description", "content"})
TITLED = ("Allegation", "Investigation")
#: What a pseudonymised view's version ends with, so caches, ETags and cursors never mix the two.
VARIANT = "~pseudonymised"
_OV = "https://w3id.org/oversight/ontology#"


def secret(data_dir: str | os.PathLike[str]) -> bytes:
    """The deployment's pseudonym key (32 random bytes, made on first use, mode 0600)."""
    path = Path(data_dir) / "access" / "pseudonym.key"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # made by another process meanwhile
            return path.read_bytes()
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_bytes(32))
        return path.read_bytes()


class Pseudonyms:
    """The pseudonym of each person in `f`, both ways, and what a view drops."""

    def __init__(self, f: Facts, key: bytes) -> None:
        self.alias: dict[str, str] = {}
        for person in f.of_type(*PEOPLE):
            digest = hmac.new(key, person.encode("utf-8"), hashlib.sha256).hexdigest()[:20]
            base = person[: len(person) - len(local_id(person))]
            self.alias[person] = f"{base}p-{digest}"
        self.real = {v: k for k, v in self.alias.items()}
        self.titled = frozenset(f.of_type(*TITLED))

    def drops(self, subject: str, name: str) -> bool:
        """Whether the property `name` of `subject` (a real IRI) is left out of the view."""
        return name in FREE_TEXT or (name in PERSONAL and subject in self.alias) or (
            name == "title" and subject in self.titled)

    def facts(self, f: Facts) -> Facts:
        """`f` with people renamed and the dropped properties left out."""
        alias = self.alias
        props = {name: {alias.get(s, s): tuple(sorted(alias.get(o, o) for o in objects))
                        for s, objects in values.items() if not self.drops(s, name)}
                 for name, values in f.props.items()}
        types = {alias.get(s, s): t for s, t in f.types.items()}
        return Facts(f.version + VARIANT, props, types, f.runs)

    def quads(self, quads: Iterable[ox.Quad]) -> Iterator[ox.Quad]:
        """`quads` with people renamed and the dropped properties left out."""
        alias = self.alias
        for quad in quads:
            subject, predicate, obj = quad.subject, quad.predicate, quad.object
            if predicate.value.startswith(_OV) and self.drops(getattr(subject, "value", ""),
                                                                predicate.value[len(_OV):]):
                continue
            if isinstance(subject, ox.NamedNode) and subject.value in alias:
                subject = ox.NamedNode(alias[subject.value])
            if isinstance(obj, ox.NamedNode) and obj.value in alias:
                obj = ox.NamedNode(alias[obj.value])
            yield ox.Quad(subject, predicate, obj, quad.graph_name)


def pseudonymous_facts(db: Database, data_dir: str | os.PathLike[str]) -> tuple[Facts, Pseudonyms]:
    """The pseudonymised view of the current facts, built once per data version and kept beside them.

    Kept as the facts of the version ``{version}~pseudonymised``, so projections and answers built
    on it are cached apart from the real ones.
    """
    real = facts(db)
    version = real.version + VARIANT
    found, names = db.derived.get(("facts", version)), db.derived.get(("pseudonyms", version))
    if found is None or names is None:
        with heap.building():
            names = Pseudonyms(real, secret(data_dir))
            found = names.facts(real)
        with db.derived_lock:
            if db.derived.get(("facts", real.version)) is real:  # not for a version already replaced
                db.derived[("pseudonyms", version)] = names
                db.derived[("facts", version)] = found
    return found, names  # type: ignore[return-value]


assert set(PEOPLE) <= set(KINDS)
