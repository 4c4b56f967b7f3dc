"""The project's SPARQL texts: ``internal/*.rq`` (the code's own) and ``saved/*.rq`` (offered to investigators), each with a header of title, description and typed parameters.

Query text is read once and never edited: input reaches a query only as RDF
terms bound to its declared parameters (pyoxigraph ``substitutions``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import pyoxigraph as ox

__all__ = ["QueryText", "internal", "all_internal", "all_saved", "PARAM_TYPES"]

PARAM_TYPES = ("iri", "string", "integer", "date", "concept")  # iri:Class and concept:Class name the class
_HEADER = re.compile(r"^#\s*(title|description|param|example):\s*(.*)$")
_PARAM = re.compile(r"^(\w+)\s+(\w+(?::\w+(?:\|\w+)*)?)\s*(?:--|—)\s*(.+)$")


@dataclass(frozen=True)
class QueryText:
    """A parsed ``.rq`` file."""

    name: str
    title: str
    description: str
    params: tuple[tuple[str, str, str], ...]  # (name, type, help)
    text: str
    examples: tuple[tuple[str, str], ...] = ()  # (name, value) from ``# example: name=value``

    def bind(self, values: dict[str, Any]) -> dict[ox.Variable, Any]:
        """Substitutions for `values` (RDF terms by parameter name); rejects undeclared names."""
        declared = {name for name, _, _ in self.params}
        unknown = set(values) - declared
        if unknown:
            raise ValueError(f"{self.name}: undeclared parameter(s) {sorted(unknown)}")
        return {ox.Variable(k): v for k, v in values.items()}


def _parse(name: str, text: str) -> QueryText:
    fields: dict[str, str] = {}
    params: list[tuple[str, str, str]] = []
    examples: list[tuple[str, str]] = []
    for line in text.splitlines():
        match = _HEADER.match(line)
        if not match:
            if line.strip() and not line.startswith("#"):
                break
            continue
        key, value = match.groups()
        if key == "param":
            pmatch = _PARAM.match(value)
            if not pmatch or pmatch.group(2).split(":")[0] not in PARAM_TYPES:
                raise ValueError(f"{name}.rq: bad param line {value!r}")
            params.append((pmatch.group(1), pmatch.group(2), pmatch.group(3)))
        elif key == "example":
            pname, eq, pvalue = value.partition("=")
            if not eq:
                raise ValueError(f"{name}.rq: bad example line {value!r} (name=value)")
            examples.append((pname.strip(), pvalue.strip()))
        else:
            fields[key] = value
    if "title" not in fields or "description" not in fields:
        raise ValueError(f"{name}.rq: header needs title and description")
    unknown = {n for n, _ in examples} - {n for n, _, _ in params}
    if unknown:
        raise ValueError(f"{name}.rq: example for undeclared parameter(s) {sorted(unknown)}")
    return QueryText(name, fields["title"], fields["description"], tuple(params), text, tuple(examples))


@cache
def internal(name: str) -> QueryText:
    """The internal query ``graph/queries/internal/{name}.rq`` (used by the code)."""
    text = resources.files("graph.queries").joinpath("internal", f"{name}.rq").read_text("utf-8")
    return _parse(name, text)


def all_internal() -> list[QueryText]:
    """Every internal query the code uses, by name."""
    folder = resources.files("graph.queries").joinpath("internal")
    names = sorted(p.name[:-3] for p in folder.iterdir() if p.name.endswith(".rq"))
    return [internal(n) for n in names]


def all_saved() -> dict[str, QueryText]:
    """The saved queries offered to investigators (``graph/queries/saved/*.rq``), by name."""
    folder = resources.files("graph.queries").joinpath("saved")
    found = {}
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if path.name.endswith(".rq"):
            found[path.name[:-3]] = _parse(path.name[:-3], path.read_text("utf-8"))
    return found
