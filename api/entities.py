"""``/officers``, ``/investigations``, ``/chat-groups``: listings, details and timelines."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from api.answers import PAGE_PARAMS, Params, answer, single
from graph.linkage.entities import (
    chat_group_detail,
    entity,
    investigation_detail,
    list_chat_groups,
    list_investigations,
    list_officers,
    officer_detail,
    timeline,
)
from graph.linkage.facts import Facts
from ontology import OV

__all__ = ["bp"]

bp = Blueprint("entities", __name__)


@bp.get("/officers")
def officers() -> Response:
    p = Params(("station", "status", "outcome", "category", *PAGE_PARAMS))
    status = p.concept("status", OV.EmploymentStatusValue)
    outcome, category = p.concept("outcome", OV.Outcome), p.concept("category", OV.AllegationCategory)

    def compute(f: Facts) -> list[Any]:
        return list_officers(f, station=p.entity(f, "station", "Station"), status=status, outcome=outcome,
                             category=category)

    return answer(p, "officers", compute)


@bp.get("/officers/<id>")
def officer(id: str) -> Response:
    Params(())
    return single(lambda f: officer_detail(f, entity(f, "officers", id)))


@bp.get("/investigations")
def investigations() -> Response:
    p = Params(("inquiry", "status", *PAGE_PARAMS))
    status = p.concept("status", OV.InvestigationStatus)
    return answer(p, "investigations",
                  lambda f: list_investigations(f, inquiry=p.entity(f, "inquiry", "Inquiry"), status=status))


@bp.get("/investigations/<id>")
def investigation(id: str) -> Response:
    Params(())
    return single(lambda f: investigation_detail(f, entity(f, "investigations", id)))


@bp.get("/chat-groups")
def chat_groups() -> Response:
    p = Params(PAGE_PARAMS)
    return answer(p, "chat-groups", list_chat_groups)


@bp.get("/chat-groups/<id>")
def chat_group(id: str) -> Response:
    Params(())
    return single(lambda f: chat_group_detail(f, entity(f, "chat-groups", id)))


@bp.get("/officers/<id>/timeline", defaults={"kind": "officers"})
@bp.get("/investigations/<id>/timeline", defaults={"kind": "investigations"})
@bp.get("/chat-groups/<id>/timeline", defaults={"kind": "chat-groups"})
def show_timeline(kind: str, id: str) -> Response:
    p = Params(PAGE_PARAMS)
    return answer(p, "timeline", lambda f: timeline(f, kind, entity(f, kind, id)))
