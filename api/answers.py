"""Reading question parameters and writing answers: strict parameters, paginated deterministic JSON, ETags.

Every JSON answer is built from frozen dataclasses (:mod:`graph.linkage.questions`,
:mod:`graph.linkage.entities`...), serialised with sorted keys, and cached per data
version and URL, so two calls on the same data give byte-identical bodies
and a repeated question costs a dictionary lookup. The ``ETag`` is derived
from the data version and the URL before anything is computed, so
``If-None-Match`` answers 304 without work.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from flask import Response, current_app, g, request
from rdflib import URIRef

from api import audit
from api.database import get_db
from graph.errors import BadParameter, NotFound
from graph.export.formats import generator
from graph.linkage.facts import KINDS, Facts, Filters, facts, lower, upper
from graph.linkage.projection import BASES, EDGE_KINDS, Projection
from graph.linkage.pseudonyms import VARIANT, pseudonymous_facts
from graph.linkage.questions import filter_caveats
from graph.sparql.saved import DATE, ENTITY_ID
from graph.store.database import Database
from graph.store.derived import Kind, is_current
from ontology import OV
from ontology.concepts import by_notation

__all__ = ["entity_id", "Params", "answer", "single", "etag", "is_fresh", "view_facts", "pseudonymised", "FILTER_PARAMS", "PROJECTION_PARAMS", "PAGE_PARAMS"]

PAGE_PARAMS = ("limit", "cursor")
FILTER_PARAMS = ("since", "until", "category", "result", "outcome")
PROJECTION_PARAMS = ("projection", "kinds", "basis", "max_group_size", "ignore", "max_degree", *FILTER_PARAMS)
MAX_LIMIT = 1000


class Params:
    """The query parameters of the current request, checked against the ones the route accepts."""

    def __init__(self, accepted: Iterable[str]) -> None:
        self.accepted = tuple(accepted)
        for name in request.args:
            if name not in self.accepted:
                raise BadParameter(name, "unknown parameter", accepted=sorted(self.accepted))
        for name, values in request.args.lists():
            if len(values) > 1 and name not in {"category", "result", "outcome", "kinds", "ignore", "officers"}:
                raise BadParameter(name, "given more than once")

    def text(self, name: str) -> str | None:
        value = request.args.get(name)
        return value.strip() if value is not None and value.strip() else None

    def integer(self, name: str, default: int, lo: int, hi: int) -> int:
        raw = self.text(name)
        if raw is None:
            return default
        if not re.fullmatch(r"[+-]?[0-9]{1,9}", raw) or not lo <= int(raw) <= hi:
            raise BadParameter(name, f"must be an integer from {lo} to {hi}")
        return int(raw)

    def choice(self, name: str, choices: Iterable[str], default: str) -> str:
        raw = self.text(name)
        if raw is None:
            return default
        if raw not in choices:
            raise BadParameter(name, f"unknown value {raw!r}", accepted=sorted(choices))
        return raw

    def many(self, name: str) -> list[str]:
        """A list: repeated parameters and comma-separated values, de-duplicated in order."""
        out: list[str] = []
        for value in request.args.getlist(name):
            for part in value.split(","):
                if part.strip() and part.strip() not in out:
                    out.append(part.strip())
        return out

    def date(self, name: str) -> str | None:
        raw = self.text(name)
        if raw is not None and not DATE.fullmatch(raw):
            raise BadParameter(name, "must be a date: YYYY, YYYY-MM or YYYY-MM-DD")
        return raw

    def concepts(self, name: str, concept_class: URIRef) -> frozenset[str]:
        known = by_notation(concept_class)
        out = set()
        for notation in self.many(name):
            if notation not in known:
                raise BadParameter(name, f"unknown value {notation!r}", accepted=sorted(known))
            out.add(known[notation].iri)
        return frozenset(out)

    def concept(self, name: str, concept_class: URIRef) -> str | None:
        found = self.concepts(name, concept_class)
        if len(found) > 1:
            raise BadParameter(name, "takes one value")
        return next(iter(found), None)

    def filters(self) -> Filters:
        start, end = self.date("since"), self.date("until")
        if start and end and (lower(start) or "") > (upper(end) or ""):
            raise BadParameter("since", "must not be after 'until'")
        return Filters(start, end, self.concepts("category", OV.AllegationCategory),
                       self.concepts("result", OV.FindingResult), self.concepts("outcome", OV.Outcome))

    def entity(self, f: Facts, name: str, *classes: str, required: bool = False) -> str | None:
        """The IRI that the id in parameter `name` names (404 if there is none of `classes`)."""
        raw = self.text(name)
        if raw is None:
            if required:
                raise BadParameter(name, "is required")
            return None
        return entity_id(f, raw, name, *classes)

    def entities(self, f: Facts, name: str, *classes: str) -> list[str]:
        return [entity_id(f, raw, name, *classes) for raw in self.many(name)]

    def projection(self) -> tuple[bool, Projection]:
        """``projection=officers`` (default) or ``full``, and the officer network's parameters."""
        full = self.choice("projection", ("officers", "full"), "officers") == "full"
        if full:
            for name in ("kinds", "basis", "max_group_size", *FILTER_PARAMS):
                if self.text(name) is not None:
                    raise BadParameter(name, "applies to projection=officers only: the full graph holds "
                                       "every entity and relation, unfiltered")
        kinds = self.many("kinds") or list(EDGE_KINDS)
        for kind in kinds:
            if kind not in EDGE_KINDS:
                raise BadParameter("kinds", f"unknown value {kind!r}", accepted=EDGE_KINDS)
        return full, Projection(kinds=frozenset(kinds), basis=self.choice("basis", BASES, "investigation"),
                                filters=self.filters(),
                                max_group_size=self.integer("max_group_size", 200, 2, 1_000_000))


def entity_id(f: Facts, raw: str, name: str, *classes: str) -> str:
    """The IRI of the entity of one of `classes` whose id is `raw`, given in the request parameter `name`.

    Parameters
    ----------
    f : Facts
        The facts the request sees (the real ones, or the pseudonymised view's).
    raw : str
        The id given: the local part of an entity's IRI (:data:`~graph.sparql.saved.ENTITY_ID`).
    name : str
        The request parameter it came from, named in the errors.
    *classes : str
        Ontology classes the entity may be of (none: any class of :data:`~graph.linkage.facts.KINDS`).

    Raises
    ------
    BadParameter
        When `raw` is not an id.
    NotFound
        When no entity of those classes has that id.
    """
    if not ENTITY_ID.fullmatch(raw):
        raise BadParameter(name, "must be an id: the local part of an entity's IRI")
    found = f.find(raw, *(classes or tuple(KINDS)))
    if found is None:
        raise NotFound(f"parameter '{name}': no {'entity' if not classes else classes[0].lower()} with id {raw!r}")
    return found


# --------------------------------------------------------------------------- rendering
def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _sources(body: Any, out: set[str]) -> None:
    if isinstance(value := body, dict):
        if "status" in value and isinstance(value.get("sources"), list) and "kind" in value:
            out.update(value["sources"])
        for v in value.values():
            _sources(v, out)
    elif isinstance(body, list):
        for v in body:
            _sources(v, out)


def _cursor(version: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{version}:{offset}".encode()).decode().rstrip("=")


def _offset(cursor: str | None, version: str) -> int:
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        made_for, offset = raw.split(":")
        value = int(offset)
        if value < 0:
            raise ValueError(offset)
    except ValueError:
        raise BadParameter("cursor", "not a cursor this service gave out") from None
    if made_for != version:
        raise BadParameter("cursor", "the data changed since this cursor was given out; start again without it")
    return value


def pseudonymised() -> bool:
    """Whether this request sees the pseudonymised view (the ``reader`` role)."""
    return bool(g.get("who", {}).get("role") == "reader")


def view_facts(db: Database) -> Facts:
    """The facts this request may see: pseudonymised for readers (:mod:`graph.linkage.pseudonyms`)."""
    if pseudonymised():
        return pseudonymous_facts(db, current_app.config["DATA_DIR"])[0]
    return facts(db)


def etag(version: str) -> str:
    """The ETag of this request's answer at data `version`: known before any work is done.

    The generator is in the tag: a new version of the service may answer the same data differently.
    So is the view: readers' pseudonymised answers never share a tag with the others.
    """
    view = VARIANT if pseudonymised() else ""
    return hashlib.sha256(f"{version}{view}\x1f{generator()}\x1f{request.full_path}".encode()).hexdigest()[:24]


def is_fresh(tag: str) -> bool:
    """Whether the client's ``If-None-Match`` already holds `tag` (``*`` never counts: it would match errors)."""
    conditional = request.if_none_match
    return not conditional.star_tag and conditional.contains_weak(tag)


def _respond(build: Callable[[Facts], dict[str, Any]]) -> Response:
    db = get_db()
    version = db.data_version
    tag = etag(version)
    if is_fresh(tag):
        response = Response(status=304)
    else:
        view = VARIANT if pseudonymised() else ""
        cached = db.derived.get(Kind.ANSWER, version + view, request.full_path)
        if cached is None:
            f = view_facts(db)
            tag = etag(f.version.removesuffix(VARIANT))

            def render() -> tuple[bytes, int | None]:
                content = build(f)
                content["data_version"] = f.version
                items = content.get("items")
                rows = content.get("total", len(items) if isinstance(items, list) else None)
                # compact: the C encoder (an indent makes json fall back to Python, 3x slower on MB answers)
                text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
                return (text + "\n").encode(), rows

            cached = db.derived.get_or_build(Kind.ANSWER, f.version, request.full_path, render,
                                             keep=lambda: is_current(f.version, db.data_version))
        body, rows = cached
        request.environ[audit.ROWS] = rows
        response = Response(body, mimetype="application/json")
    if pseudonymised():
        response.headers["X-Oversight-View"] = "pseudonymised"
    response.set_etag(tag)
    response.headers["Cache-Control"] = "private, no-cache"
    return response


def answer(params: Params, question: str, compute: Callable[[Facts], Sequence[Any]], *,
           parameters: dict[str, Any] | None = None) -> Response:
    """A paginated list answer: ``items`` (one page), ``total``, ``next`` cursor and the cited ``sources``.

    Parameters
    ----------
    params : Params
        The request's checked parameters; ``limit`` (1 to 1000, default 100) and ``cursor`` are read here.
    question : str
        The question's name, given back as ``question``.
    compute : callable
        ``(facts) -> sequence``: every item of the answer, in order, from the facts the request sees. It
        runs only when no answer is cached for this data version and URL.
    parameters : dict, optional
        What the answer says it was asked (``parameters``); by default the request's query parameters,
        repeated values comma-joined.
    """
    limit = params.integer("limit", 100, 1, MAX_LIMIT)

    def build(f: Facts) -> dict[str, Any]:
        offset = _offset(params.text("cursor"), f.version)
        items = compute(f)
        page = _plain(items[offset:offset + limit])
        cited: set[str] = set()
        _sources(page, cited)
        following = offset + limit
        echo = {k: ",".join(v) for k, v in request.args.lists()}
        return {"question": question, "parameters": parameters or echo,
                "caveats": list(filter_caveats(f, params.filters())),
                "total": len(items), "limit": limit, "offset": offset,
                "next": _cursor(f.version, following) if following < len(items) else None,
                "items": page, "sources": {s: _plain(f.source(s)) for s in sorted(cited)}}

    return _respond(build)


def single(compute: Callable[[Facts], Any]) -> Response:
    """One object (a detail or an answer that is not a list), with the sources it cites."""
    def build(f: Facts) -> dict[str, Any]:
        body = _plain(compute(f))
        cited: set[str] = set()
        _sources(body, cited)
        body = body if isinstance(body, dict) else {"result": body}
        body["sources"] = {s: _plain(f.source(s)) for s in sorted(cited)}
        return body

    return _respond(build)
