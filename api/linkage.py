"""``/linkage/...``: the linkage questions, each link with its evidence and sources."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import networkx as nx
from flask import Blueprint, Response

from api.answers import (
    FILTER_PARAMS,
    PAGE_PARAMS,
    PROJECTION_PARAMS,
    Params,
    answer,
    single,
)
from api.database import get_db
from graph.errors import BadParameter
from graph.linkage.facts import OFFICER_CLASSES, Facts
from graph.linkage.network import (
    MEASURES,
    METHODS,
    centrality,
    clusters,
    connecting_network,
    paths,
    without_hubs,
)
from graph.linkage.projection import BASES, projection
from graph.linkage.questions import (
    bystanders,
    co_accused,
    officers_with,
    repeat_subjects,
    shared_groups,
)
from ontology import OV

__all__ = ["bp"]

bp = Blueprint("linkage", __name__, url_prefix="/linkage")


@bp.get("/repeat-subjects")
def repeat() -> Response:
    p = Params(("min_investigations", "min_allegations", *FILTER_PARAMS, *PAGE_PARAMS))
    k = p.integer("min_investigations", 2, 1, 1_000_000)
    n = p.integer("min_allegations", 1, 1, 1_000_000)
    filters = p.filters()
    return answer(p, "repeat-subjects",
                  lambda f: repeat_subjects(f, min_investigations=k, min_allegations=n, filters=filters))


@bp.get("/co-accused")
def coaccused() -> Response:
    p = Params(("min_shared", "basis", "officers", "unit", "investigation", "inquiry", *FILTER_PARAMS,
                *PAGE_PARAMS))
    n = p.integer("min_shared", 1, 1, 1_000_000)
    basis = p.choice("basis", BASES, "investigation")
    filters = p.filters()

    def compute(f: Facts) -> Sequence[Any]:
        return co_accused(f, min_shared=n, basis=basis, officers=p.entities(f, "officers", *OFFICER_CLASSES),
                          unit=p.entity(f, "unit", "Unit"),
                          investigation=p.entity(f, "investigation", "Investigation"),
                          inquiry=p.entity(f, "inquiry", "Inquiry"), filters=filters,
                          networks=lambda spec: projection(get_db(), spec, f=f)[1])  # cached per data version

    return answer(p, "co-accused", compute)


@bp.get("/shared-groups")
def shared() -> Response:
    p = Params(("officer", "outcome", "result", "since", "until", *PAGE_PARAMS))
    if sum(1 for name in ("officer", "outcome", "result") if p.text(name)) != 1:
        raise BadParameter("officer", "give exactly one of 'officer', 'outcome' or 'result'")
    outcome, result = p.concept("outcome", OV.Outcome), p.concept("result", OV.FindingResult)
    filters = p.filters()

    def compute(f: Facts) -> list[Any]:
        officer = p.entity(f, "officer", *OFFICER_CLASSES)
        anchors = {officer} if officer else officers_with(f, outcome=outcome, result=result)
        return shared_groups(f, anchors, filters=filters)

    return answer(p, "shared-groups", compute)


@bp.get("/bystanders")
def failed_to_report() -> Response:
    p = Params((*FILTER_PARAMS, *PAGE_PARAMS))
    filters = p.filters()
    return answer(p, "bystanders", lambda f: bystanders(f, filters=filters))


def _graph(p: Params, f: Facts) -> nx.Graph:
    """The projection the request chooses, without the hubs it asks to ignore."""
    full, spec = p.projection()
    _, graph = projection(get_db(), spec, full=full, f=f)  # the request's facts, even if a load lands
    ignore = tuple(p.entities(f, "ignore"))
    max_degree = p.integer("max_degree", 0, 0, 1_000_000_000) or None
    return without_hubs(graph, ignore=ignore, max_degree=max_degree)


def _classes(p: Params) -> tuple[str, ...]:
    return () if p.text("projection") == "full" else OFFICER_CLASSES


@bp.get("/path")
def path() -> Response:
    p = Params(("from", "to", "limit", *PROJECTION_PARAMS))
    limit = p.integer("limit", 1, 1, 100)
    p.projection()  # check its parameters before any work

    def compute(f: Facts) -> list[Any]:
        source = p.entity(f, "from", *_classes(p), required=True)
        target = p.entity(f, "to", *_classes(p), required=True)
        return paths(f, _graph(p, f), source, target, limit=limit)  # type: ignore[arg-type]

    return answer(p, "path", compute)


@bp.get("/connecting-network")
def connecting() -> Response:
    p = Params(("officers", *PROJECTION_PARAMS))
    p.projection()

    def compute(f: Facts) -> Any:
        terminals = p.entities(f, "officers", *_classes(p))
        if len(terminals) < 2:
            raise BadParameter("officers", "give at least two ids, separated by commas")
        return connecting_network(f, _graph(p, f), terminals)

    return single(compute)


@bp.get("/clusters")
def find_clusters() -> Response:
    p = Params(("method", "k", "seed", "min_size", *PROJECTION_PARAMS, *PAGE_PARAMS))
    method = p.choice("method", METHODS, "components")
    k = p.integer("k", 2, 1, 1_000_000)
    seed = p.integer("seed", 0, 0, 2**31 - 1)
    min_size = p.integer("min_size", 2, 1, 1_000_000_000)
    p.projection()
    return answer(p, "clusters", lambda f: clusters(f, _graph(p, f), method=method, k=k, seed=seed,
                                                    min_size=min_size))


@bp.get("/centrality")
def rank() -> Response:
    p = Params(("measure", "top", "sample", "seed", *PROJECTION_PARAMS, *PAGE_PARAMS))
    measure = p.choice("measure", MEASURES, "degree")
    top = p.integer("top", 20, 1, 100_000)
    sample = p.integer("sample", 0, 0, 1_000_000) or None
    seed = p.integer("seed", 0, 0, 2**31 - 1)
    p.projection()

    def compute(f: Facts) -> list[Any]:
        try:
            return centrality(f, _graph(p, f), measure=measure, limit=top, sample=sample, seed=seed)
        except ValueError as exc:
            raise BadParameter("measure", str(exc), accepted=MEASURES) from None

    return answer(p, "centrality", compute)
