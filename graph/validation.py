"""SHACL validation of a staged source, run by the store itself.

The shapes are data (``ontology/shapes.ttl``, loaded with the ontology). One
generic stored query per SHACL constraint component the shapes use
(``shacl-*.rq``) finds every violation of that component in one pass, with the
shapes graph bound as a parameter, so validation runs at Oxigraph's speed and
scales to millions of statements. pyshacl stays the reference: the tests check
that it reports the same violations on valid and broken data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyoxigraph as ox

from graph.queries import stored

__all__ = ["Violation", "validate_graph", "confirm", "COMPONENTS", "curie"]

# query name -> (SHACL constraint component, message template)
COMPONENTS: dict[str, tuple[str, str]] = {
    "shacl-min-count": ("sh:MinCountConstraintComponent", "needs at least {expected} value(s), has {count}"),
    "shacl-min-count-many": ("sh:MinCountConstraintComponent", "needs at least {expected} value(s), has {count}"),
    "shacl-max-count": ("sh:MaxCountConstraintComponent", "allows at most {expected} value(s), has {count}"),
    "shacl-class": ("sh:ClassConstraintComponent", "{value} is not a known {expected}"),
    "shacl-datatype": ("sh:DatatypeConstraintComponent", "{value} is not a literal of type {expected}"),
    "shacl-or": ("sh:OrConstraintComponent", "{value} is not of an accepted type"),
    "unknown-terms": ("ontology term", "{path} is not a term of the ontology"),
}

_SHORT = {
    "https://w3id.org/oversight/ontology#": "ov:",
    "http://www.w3.org/2001/XMLSchema#": "xsd:",
    "http://www.w3.org/2004/02/skos/core#": "skos:",
}


def curie(term: ox.NamedNode | ox.Literal | ox.BlankNode | None) -> str:
    if term is None:
        return ""
    if isinstance(term, ox.NamedNode):
        for ns, prefix in _SHORT.items():
            if term.value.startswith(ns):
                return prefix + term.value[len(ns):]
        return f"<{term.value}>"
    if isinstance(term, ox.Literal):
        return repr(term.value)
    return "a list of alternatives"


@dataclass(frozen=True)
class Violation:
    """One SHACL result: the focus node, the property, the component and a readable message."""

    focus: str
    path: str
    component: str
    message: str
    value: ox.NamedNode | ox.Literal | ox.BlankNode | None = None
    count: int = 0
    expected: ox.NamedNode | ox.Literal | ox.BlankNode | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        """(focus, path, component): what the pyshacl comparison matches on."""
        return (self.focus, self.path, self.component)


def validate_graph(db_query: Callable[..., Any], *, staging: ox.NamedNode, shapes: ox.NamedNode,
                   context: list[ox.NamedNode],
                   step: Callable[[int, int], None] = lambda done, total: None) -> list[Violation]:
    """Every violation of the shapes by focus nodes typed in `staging`.

    Parameters
    ----------
    db_query : callable
        :meth:`graph.database.Database.query`.
    staging : NamedNode
        The graph being validated; only nodes typed there are focus nodes.
    shapes : NamedNode
        The graph holding the ontology and the shapes.
    context : list of NamedNode
        Graphs that values may be described in (other sources, the ontology):
        a reference to an officer loaded from another source is valid.
    step : callable, optional
        Called with (components done, components) after each component (progress).

    Returns
    -------
    list of Violation, sorted by focus node, property and component.

    Notes
    -----
    One query per constraint component: O(C) queries for C components, each
    a join of the shapes against the staged nodes' types.
    """
    graphs = [staging, *[g for g in context if g != staging]]
    if shapes not in graphs:
        graphs.append(shapes)
    found: list[Violation] = []
    for done, (name, (component, template)) in enumerate(COMPONENTS.items(), start=1):
        query = stored(name)
        bindings = {"staging": staging, "shapes": shapes}
        for sol in db_query(query.text, bindings=bindings, graphs=graphs):
            path = sol["term"] if name == "unknown-terms" else sol["path"]
            value = None if name in {"shacl-min-count", "shacl-min-count-many", "shacl-max-count", "unknown-terms"} else sol["value"]
            counted = name in {"shacl-min-count", "shacl-min-count-many", "shacl-max-count"}
            fields = {
                "expected": sol["expected"].value if counted else curie(sol["expected"]) if name != "unknown-terms" else "",
                "count": sol["count"].value if counted else "",
                "value": curie(value),
                "path": curie(path),
            }
            found.append(Violation(
                focus=sol["focus"].value if isinstance(sol["focus"], ox.NamedNode) else f"_:{sol['focus'].value}",
                path=path.value,
                component=component,
                message=template.format(**fields),
                value=value,
                count=int(sol["count"].value) if counted else 0,
                expected=sol["expected"] if name != "unknown-terms" else None,
            ))
        step(done, len(COMPONENTS))
    return sorted(found, key=lambda v: (v.focus, v.path, v.component, str(v.value)))


def confirm(db_query: Callable[..., Any], violations: list[Violation], *, context: list[ox.NamedNode]) -> list[Violation]:
    """Drop the violations that the data of other sources (`context`) resolves.

    A staged source is validated on its own (in a scratch store, for speed);
    a reference to an officer another source describes, or a minimum count
    met with values from another source, is then confirmed against the
    current graphs. One small query per such violation.
    """
    if not context:
        return violations
    kept = []
    for v in violations:
        if v.component == "sh:ClassConstraintComponent" and isinstance(v.value, ox.NamedNode):
            query = stored("value-class")
            if next(iter(db_query(query.text, bindings={"value": v.value, "expected": v.expected},
                                  graphs=context)), None) is not None:
                continue
        elif v.component == "sh:MinCountConstraintComponent" and not v.focus.startswith("_:"):
            query = stored("value-count")
            row = next(iter(db_query(query.text, bindings={"focus": ox.NamedNode(v.focus),
                                                           "path": ox.NamedNode(v.path)}, graphs=context)), None)
            found = v.count + (int(row["count"].value) if row is not None else 0)
            if isinstance(v.expected, ox.Literal) and found >= int(v.expected.value):
                continue
        kept.append(v)
    return kept
