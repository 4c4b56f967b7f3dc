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
from functools import cache
from typing import Any

import pyoxigraph as ox
from rdflib import RDF, RDFS, Namespace
from rdflib.collection import Collection

from graph.queries import internal
from ontology import OV, ontology_graph, shapes_graph

__all__ = ["Violation", "validate_graph", "confirm", "COMPONENTS", "curie"]

SH = Namespace("http://www.w3.org/ns/shacl#")
OV_NS = str(OV)

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
    OV_NS: "ov:",
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
    shape: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        """(focus, path, component): what the pyshacl comparison matches on."""
        return (self.focus, self.path, self.component)


@dataclass(frozen=True)
class _Rule:
    """One property constraint of one shape, as Python data (for reading the profile)."""

    target: str
    path: str
    min_count: int | None
    max_count: int | None
    value_query: str | None  # shacl-datatype, shacl-class or shacl-or
    datatypes: frozenset[str]
    classes: frozenset[str]


@dataclass(frozen=True)
class _Model:
    ancestors: dict[str, frozenset[str]]  # class -> itself and its superclasses
    rules: dict[str, tuple[_Rule, ...]]  # target class -> rules
    terms: frozenset[str]  # terms the ontology defines

    def supers(self, cls: str) -> frozenset[str]:
        return self.ancestors.get(cls, frozenset({cls}))

    def rules_for(self, cls: str) -> list[_Rule]:
        return [rule for target in self.supers(cls) for rule in self.rules.get(target, ())]

    def conforms(self, rule: _Rule, datatype: str | None, cls: str | None) -> bool:
        by_datatype = datatype is not None and datatype in rule.datatypes
        by_class = cls is not None and bool(self.supers(cls) & rule.classes)
        return by_datatype or by_class


@cache
def _model() -> _Model:
    """The shapes and class hierarchy of the packaged ontology, read once."""
    ont, shapes = ontology_graph(), shapes_graph()
    parents: dict[str, set[str]] = {}
    for child, parent in ont.subject_objects(RDFS.subClassOf):
        parents.setdefault(str(child), set()).add(str(parent))

    def closure(cls: str) -> frozenset[str]:
        seen, todo = {cls}, [cls]
        while todo:
            for parent in parents.get(todo.pop(), ()):
                if parent not in seen:
                    seen.add(parent)
                    todo.append(parent)
        return frozenset(seen)

    rules: dict[str, list[_Rule]] = {}
    for shape, target in shapes.subject_objects(SH.targetClass):
        for prop in shapes.objects(shape, SH.property):
            head = shapes.value(prop, SH["or"])
            alternatives = list(Collection(shapes, head)) if head is not None else [prop]
            datatypes = frozenset(str(d) for a in alternatives for d in shapes.objects(a, SH.datatype))
            classes = frozenset(str(c) for a in alternatives for c in shapes.objects(a, SH["class"]))
            kind = ("shacl-or" if head is not None else "shacl-datatype" if datatypes
                    else "shacl-class" if classes else None)
            low, high = shapes.value(prop, SH.minCount), shapes.value(prop, SH.maxCount)
            rules.setdefault(str(target), []).append(_Rule(
                str(target), str(shapes.value(prop, SH.path)), int(str(low)) if low is not None else None,
                int(str(high)) if high is not None else None, kind, datatypes, classes))
    terms = frozenset(str(t) for t in ont.subjects(RDF.type, None) if str(t).startswith(OV_NS))
    return _Model({c: closure(c) for c in set(parents) | {p for ps in parents.values() for p in ps}},
                  {k: tuple(v) for k, v in rules.items()}, terms)


def _suspects(db_query: Callable[..., Any], staging: ox.NamedNode, graphs: list[ox.NamedNode],
              model: _Model) -> set[tuple[str, str | None, str | None]]:
    """(query, type, property) triples that may hold violations, from three aggregate profiles.

    Sound, not exact: anything that could break a rule is a suspect; the
    stored per-row query of the component then decides, for that type and
    property only. On valid data nothing is a suspect.
    """
    bind = {"staging": staging}
    nodes = {r["type"].value: int(r["nodes"].value)
             for r in db_query(internal("profile-types").text, bindings=bind, graphs=graphs)}
    counts = {(r["type"].value, r["path"].value): (int(r["nodes"].value), int(r["values"].value))
              for r in db_query(internal("profile-counts").text, bindings=bind, graphs=graphs)}
    kinds: dict[tuple[str, str], set[tuple[str | None, str | None]]] = {}
    for r in db_query(internal("profile-values").text, bindings=bind, graphs=graphs):
        kinds.setdefault((r["type"].value, r["path"].value), set()).add(
            (r["datatype"].value if r["datatype"] is not None else None,
             r["class"].value if isinstance(r["class"], ox.NamedNode) else None))
    suspects: set[tuple[str, str | None, str | None]] = set()
    for cls, total in nodes.items():
        for rule in model.rules_for(cls):
            with_path, values = counts.get((cls, rule.path), (0, 0))
            if rule.min_count and with_path < total:  # some node has no value
                suspects.add(("shacl-min-count", cls, rule.path))
            if rule.min_count and rule.min_count > 1 and with_path:
                suspects.add(("shacl-min-count-many", cls, rule.path))
            # The node with the most values has at most 1 + (values - nodes with a value).
            if rule.max_count is not None and values - with_path >= rule.max_count:
                suspects.add(("shacl-max-count", cls, rule.path))
            if rule.value_query and any(not model.conforms(rule, dt, vc)
                                        for dt, vc in kinds.get((cls, rule.path), ())):
                suspects.add((rule.value_query, cls, rule.path))
    used = set(nodes) | {r["term"].value for r in db_query(internal("profile-terms").text, bindings=bind,
                                                             graphs=graphs)}
    if any(t.startswith(OV_NS) and t not in model.terms for t in used):
        suspects.add(("unknown-terms", None, None))
    return suspects


def validate_graph(db_query: Callable[..., Any], *, staging: ox.NamedNode, shapes: ox.NamedNode,
                   context: list[ox.NamedNode],
                   step: Callable[[int, int], None] = lambda done, total: None) -> list[Violation]:
    """Every violation of the shapes by focus nodes typed in `staging`.

    Parameters
    ----------
    db_query : callable
        :meth:`graph.store.database.Database.query`.
    staging : NamedNode
        The graph being validated; only nodes typed there are focus nodes.
    shapes : NamedNode
        The graph holding the ontology and the shapes (those of the package).
    context : list of NamedNode
        Graphs that values may be described in (other sources, the ontology):
        a reference to an officer loaded from another source is valid.
    step : callable, optional
        Called with (steps done, steps) as validation proceeds (progress).

    Returns
    -------
    list of Violation, sorted by focus node, property and component.

    Notes
    -----
    Two passes. Four aggregate profile queries summarise the staged graph
    (nodes per type; nodes and values per type and property; kinds of
    values; properties used): O(T) for T staged triples, in Oxigraph. Python
    reads them against the shapes to list the (component, type, property)
    that could be violated; only those run the component's per-row query,
    restricted to that type and property. Valid data costs the profiles only.
    """
    graphs = [staging, *[g for g in context if g != staging]]
    if shapes not in graphs:
        graphs.append(shapes)
    step(0, 1)  # the profile: one step, whose length is known only once it is done
    suspects = sorted(_suspects(db_query, staging, graphs, _model()), key=str)
    step(1, len(suspects) + 1)
    found: dict[tuple[str, str, str, str, str], Violation] = {}
    for done, (name, cls, path) in enumerate(suspects, start=1):
        component, template = COMPONENTS[name]
        bindings: dict[str, Any] = {"staging": staging, "shapes": shapes}
        if cls is not None and path is not None:
            bindings.update(type=ox.NamedNode(cls), path=ox.NamedNode(path))
        for sol in db_query(internal(name).text, bindings=bindings, graphs=graphs):
            violation = _violation(name, component, template, sol)
            # One result per shape, as SHACL has it, even when several suspects find it.
            key = (violation.focus, violation.shape, violation.path, violation.component, str(violation.value))
            found.setdefault(key, violation)
        step(done + 1, len(suspects) + 1)
    return sorted(found.values(), key=lambda v: (v.focus, v.path, v.component, str(v.value)))


def _violation(name: str, component: str, template: str, sol: Any) -> Violation:
    path = sol["term"] if name == "unknown-terms" else sol["path"]
    counted = name in {"shacl-min-count", "shacl-min-count-many", "shacl-max-count"}
    value = None if counted or name == "unknown-terms" else sol["value"]
    fields = {
        "expected": sol["expected"].value if counted else curie(sol["expected"]) if name != "unknown-terms" else "",
        "count": sol["count"].value if counted else "",
        "value": curie(value),
        "path": curie(path),
    }
    return Violation(
        focus=sol["focus"].value if isinstance(sol["focus"], ox.NamedNode) else f"_:{sol['focus'].value}",
        path=path.value,
        component=component,
        message=template.format(**fields),
        value=value,
        count=int(sol["count"].value) if counted else 0,
        expected=sol["expected"] if name != "unknown-terms" else None,
        shape=sol["shape"].value if name != "unknown-terms" else "",
    )


def confirm(db_query: Callable[..., Any], violations: list[Violation], *, context: list[ox.NamedNode]) -> list[Violation]:
    """Drop the violations that the data of other sources (`context`) resolves.

    A staged source is validated on its own (in a scratch store, for speed);
    a reference to an officer another source describes, or a minimum count
    met with values from another source, is then confirmed against the
    current graphs. One small query per such violation.

    Parameters
    ----------
    db_query : callable
        :meth:`graph.store.database.Database.query` of the store holding the other sources.
    violations : list of Violation
        What validating the staged source on its own found (:func:`validate_graph`).
    context : list of NamedNode
        The graphs that may type a referenced node as its class requires, or hold the values a minimum
        count lacks (other sources, the ontology); empty: every violation is kept.
    """
    if not context:
        return violations
    kept = []
    for v in violations:
        if v.component == "sh:ClassConstraintComponent" and isinstance(v.value, ox.NamedNode):
            query = internal("value-class")
            if next(iter(db_query(query.text, bindings={"value": v.value, "expected": v.expected},
                                  graphs=context)), None) is not None:
                continue
        elif v.component == "sh:MinCountConstraintComponent" and not v.focus.startswith("_:"):
            query = internal("value-count")
            row = next(iter(db_query(query.text, bindings={"focus": ox.NamedNode(v.focus),
                                                           "path": ox.NamedNode(v.path)}, graphs=context)), None)
            found = v.count + (int(row["count"].value) if row is not None else 0)
            if isinstance(v.expected, ox.Literal) and found >= int(v.expected.value):
                continue
        kept.append(v)
    return kept
