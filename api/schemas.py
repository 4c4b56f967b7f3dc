"""JSON Schemas of the answers, derived from the dataclasses that produce them.

``python -m api.schemas`` writes them into ``api/openapi.json``
(``components.schemas``); a test fails when the document is stale, so the
OpenAPI document cannot drift from the code.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any

from graph.linkage import entities, facts, network
from graph.linkage import questions as linkage

__all__ = ["schemas", "ANSWERS", "write"]

#: Answer item types, by schema name.
ANSWERS: tuple[type, ...] = (
    linkage.RepeatSubject, linkage.CoAccused, linkage.SharedGroup, linkage.Bystander, network.Path,
    network.ConnectingNetwork, network.Cluster, network.Ranked, entities.OfficerSummary, entities.OfficerDetail,
    entities.InvestigationSummary, entities.InvestigationDetail, entities.ChatGroupDetail, entities.TimelineEvent,
    facts.Source, linkage.Ref,
)
_SCALARS = {str: {"type": "string"}, int: {"type": "integer"}, float: {"type": "number"},
            bool: {"type": "boolean"}}


def _schema(hint: Any, found: dict[str, Any]) -> dict[str, Any]:
    origin = typing.get_origin(hint)
    if hint in _SCALARS:
        return dict(_SCALARS[hint])
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        inner = _schema(options[0], found)
        return {"anyOf": [inner, {"type": "null"}]} if "$ref" in inner else {**inner, "type": [inner["type"], "null"]}
    if origin in (tuple, list):
        return {"type": "array", "items": _schema(typing.get_args(hint)[0], found)}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        _add(hint, found)
        return {"$ref": f"#/components/schemas/{hint.__name__}"}
    raise TypeError(f"no schema for {hint!r}")


def _add(cls: type, found: dict[str, Any]) -> None:
    if cls.__name__ in found:
        return
    found[cls.__name__] = {}
    hints = typing.get_type_hints(cls)
    fields = [f for f in dataclasses.fields(cls) if not f.name.startswith("_")]
    found[cls.__name__] = {
        "type": "object",
        "description": (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else cls.__name__,
        "required": [f.name for f in fields],
        "properties": {f.name: _schema(hints[f.name], found) for f in fields},
    }


def schemas() -> dict[str, Any]:
    """Schema name -> JSON Schema, for every answer type and what it contains."""
    found: dict[str, Any] = {}
    for cls in ANSWERS:
        _add(cls, found)
    return dict(sorted(found.items()))


def write(path: Path = Path(__file__).with_name("openapi.json")) -> None:
    """Put :func:`schemas` into the OpenAPI document's components."""
    document = json.loads(path.read_text("utf-8"))
    document["components"]["schemas"].update(schemas())
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    write()
