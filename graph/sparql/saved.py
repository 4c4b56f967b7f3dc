"""Saved queries for investigators: their parameters, checked against the declared types, bound as RDF terms.

A value never becomes query text: it is parsed by its declared type (an IRI or an entity id,
an integer, a date, a string, a concept notation) and substituted as one term.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pyoxigraph as ox

from graph.errors import BadParameter, NotFound
from graph.linkage.facts import KINDS, Facts
from graph.queries import QueryText, all_saved
from ontology import OV
from ontology.concepts import by_notation

__all__ = ["saved_query", "bind", "example", "DATE", "ENTITY_ID"]

_XSD = "http://www.w3.org/2001/XMLSchema#"
_IRI = re.compile(r"^https?://[^\s<>\"{}|\\^`]+\Z")
#: What parameters may hold, here and in the HTTP questions (ASCII digits only: \d would take any script's).
ENTITY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}\Z")
DATE = re.compile(r"^[0-9]{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?)?\Z")


def saved_query(name: str) -> QueryText:
    """The saved query `name` (404 if there is none)."""
    found = all_saved().get(name)
    if found is None:
        raise NotFound(f"no saved query named {name!r}")
    return found


def _term(f: Facts, name: str, kind: str, raw: str) -> Any:
    base, _, detail = kind.partition(":")
    if base == "integer":
        if not re.fullmatch(r"[+-]?[0-9]{1,18}", raw):
            raise BadParameter(name, "must be an integer")
        return ox.Literal(str(int(raw)), datatype=ox.NamedNode(_XSD + "integer"))
    if base == "date":
        if not DATE.fullmatch(raw):
            raise BadParameter(name, "must be a date: YYYY, YYYY-MM or YYYY-MM-DD")
        datatype = {4: "gYear", 7: "gYearMonth"}.get(len(raw), "date")
        return ox.Literal(raw, datatype=ox.NamedNode(_XSD + datatype))
    if base == "string":
        return ox.Literal(raw)
    if base == "concept":
        known = by_notation(OV[detail]) if detail else {}
        if raw not in known:
            raise BadParameter(name, f"unknown value {raw!r}", accepted=sorted(known))
        return ox.NamedNode(known[raw].iri)
    classes = tuple(detail.split("|")) if detail else tuple(KINDS)
    if _IRI.fullmatch(raw):
        if detail and not any(f.is_a(raw, c) for c in classes):
            raise NotFound(f"parameter '{name}': no {' or '.join(classes)} with IRI {raw!r}")
        return ox.NamedNode(raw)
    if not ENTITY_ID.fullmatch(raw):
        raise BadParameter(name, "must be an entity id (the local part of its IRI) or a full http(s) IRI")
    found = f.find(raw, *classes)
    if found is None:
        raise NotFound(f"parameter '{name}': no {' or '.join(classes) if detail else 'entity'} with id {raw!r}")
    return ox.NamedNode(found)


def bind(query: QueryText, raw: Mapping[str, str], f: Facts) -> dict[str, Any]:
    """RDF terms for the parameters of `query` from their text values `raw` (every parameter required).

    Parameters
    ----------
    query : QueryText
        The saved query (:func:`saved_query`), with its declared parameters and their types.
    raw : mapping of str to str
        The values given, by parameter name (trimmed here).
    f : Facts
        The facts entity ids are looked up in, and IRIs of a declared class checked against.

    Raises
    ------
    BadParameter
        For a name that is not a parameter of the query, a parameter missing or blank, or a value not of its
        declared type.
    NotFound
        For an id or IRI that names no entity of the parameter's classes.
    """
    declared = {name: kind for name, kind, _ in query.params}
    for name in raw:
        if name not in declared:
            raise BadParameter(name, "not a parameter of this query", accepted=sorted(declared))
    missing = [name for name in declared if not raw.get(name, "").strip()]
    if missing:
        raise BadParameter(missing[0], "is required")
    return {name: _term(f, name, kind, raw[name].strip()) for name, kind in declared.items()}


_WHERE = re.compile(r"\bWHERE\s*\{", re.IGNORECASE)


def example(query: QueryText, f: Facts) -> str:
    """The text of `query` ready to run as it stands, for the query page's examples.

    Each parameter gets its ``# example:`` value, or for ``iri:Class`` the entity of that
    class most statements point to, bound by a ``BIND`` at the start of the outer ``WHERE`` (the
    value is checked by its declared type first, like any other). A parameter with no
    example stays a variable.

    Parameters
    ----------
    query : QueryText
        The saved query.
    f : Facts
        The facts that give an ``iri:Class`` parameter its example entity (:meth:`Facts.most_referred`),
        and check each value.
    """
    given = dict(query.examples)
    binds = []
    for name, kind, _ in query.params:
        base, _, detail = kind.partition(":")
        raw = given.get(name)
        if raw is None and base == "iri" and detail:
            raw = f.most_referred(*detail.split("|"))
        if raw is None:
            continue
        try:
            term = _term(f, name, kind, raw)
        except (BadParameter, NotFound):
            continue
        short = term.value if isinstance(term, ox.Literal) and term.datatype.value == _XSD + "integer" else term
        binds.append(f"BIND({short} AS ?{name})")
    if not binds:
        return query.text
    return _WHERE.sub(lambda m: m.group(0) + "\n  " + " ".join(binds), query.text, count=1)
