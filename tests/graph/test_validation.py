"""The store-side SHACL validator agrees with pyshacl, the reference implementation."""

from __future__ import annotations

from pathlib import Path

import pyoxigraph as ox
import pyshacl
import rdflib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oxrdflib._converter import to_ox
from rdflib import RDF, Literal, Namespace, URIRef

from graph import Database
from graph.ingest.cases import bundled_path
from graph.ingest.validation import validate_graph
from ontology import ontology_graph, shapes_graph
from tests.conftest import MINI, converted

OVN = Namespace("https://w3id.org/oversight/ontology#")
SH = Namespace("http://www.w3.org/ns/shacl#")
BASE = "https://w3id.org/oversight/id/"
STAGING = ox.NamedNode("urn:test:staging")


def as_graph(folder: Path) -> rdflib.Graph:
    return rdflib.Graph().parse(data=converted(folder, base=BASE), format="nt")


MINI_GRAPH = as_graph(MINI)
BUNDLED_GRAPH = as_graph(bundled_path())


def reference(graph: rdflib.Graph) -> list[tuple[str, str, str]]:
    _, report, _ = pyshacl.validate(graph + ontology_graph(), shacl_graph=shapes_graph(), inference="none")
    return sorted((str(report.value(r, SH.focusNode)), str(report.value(r, SH.resultPath)),
                   "sh:" + str(report.value(r, SH.sourceConstraintComponent)).split("#")[1])
                  for r in report.subjects(RDF.type, SH.ValidationResult))


def ours(db: Database, graph: rdflib.Graph) -> list[tuple[str, str, str]]:
    db.backend.extend(ox.Quad(to_ox(s), to_ox(p), to_ox(o), STAGING) for s, p, o in graph)
    try:
        found = validate_graph(db.query, staging=STAGING, shapes=db.sources["ontology"].graph, context=[])
    finally:
        db.backend.drop_graph(STAGING)
    return sorted(v.key for v in found if v.component.startswith("sh:"))


def test_valid_data_is_valid_for_both(memory_db: Database) -> None:
    assert reference(BUNDLED_GRAPH) == [] == ours(memory_db, BUNDLED_GRAPH)
    assert reference(MINI_GRAPH) == [] == ours(memory_db, MINI_GRAPH)


SUBJECTS = sorted({s for s in MINI_GRAPH.subjects(RDF.type, None)})
PREDICATES = sorted({p for p in MINI_GRAPH.predicates() if p != RDF.type})
BAD_OBJECTS = [Literal("not a date"), Literal("42", datatype=URIRef("http://www.w3.org/2001/XMLSchema#integer")),
               Literal("x", lang="en"), URIRef(BASE + "officer/nowhere"), OVN.Dismissed, OVN.Constable,
               OVN.WhatsApp, URIRef(BASE + "source-document/missing"),
               # ill-typed: the datatype is right, the lexical form is not (SHACL's sh:datatype rejects them)
               # normalize=False: rdflib would otherwise rewrite "yes"^^xsd:boolean as "false" before we see it
               *(Literal(text, datatype=URIRef("http://www.w3.org/2001/XMLSchema#" + dt), normalize=False) for text, dt in (
                   ("seventeen", "integer"), ("2016-13", "gYearMonth"), ("2016-02-30", "date"), ("yes", "boolean"),
                   ("20x6", "gYear")))]

mutation = st.one_of(
    st.tuples(st.just("remove"), st.integers(0, len(MINI_GRAPH) - 1)),
    st.tuples(st.just("add"), st.sampled_from(SUBJECTS), st.sampled_from(PREDICATES), st.sampled_from(BAD_OBJECTS)),
    st.tuples(st.just("retype"), st.sampled_from(SUBJECTS), st.sampled_from(
        [OVN.Officer, OVN.Finding, OVN.Posting, OVN.Allegation, OVN.ChatMembership, OVN.Investigation])),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(mutation, min_size=1, max_size=4))
def test_same_violations_as_pyshacl_on_broken_data(memory_db: Database, mutations: list[tuple]) -> None:
    graph = rdflib.Graph()
    for triple in MINI_GRAPH:
        graph.add(triple)
    triples = sorted(MINI_GRAPH)
    for m in mutations:
        if m[0] == "remove":
            graph.remove(triples[m[1]])
        elif m[0] == "add":
            graph.add((m[1], m[2], m[3]))
        else:
            graph.add((m[1], RDF.type, m[2]))
    assert ours(memory_db, graph) == reference(graph)


def test_misspelt_ontology_terms_are_reported(memory_db: Database) -> None:
    graph = rdflib.Graph()
    graph.add((URIRef(BASE + "officer/1"), URIRef(str(OVN) + "pseudonymn"), Literal("x")))
    memory_db.backend.extend(ox.Quad(to_ox(s), to_ox(p), to_ox(o), STAGING) for s, p, o in graph)
    found = validate_graph(memory_db.query, staging=STAGING, shapes=memory_db.sources["ontology"].graph, context=[])
    assert [(v.component, v.path) for v in found] == [("ontology term", str(OVN) + "pseudonymn")]


def test_ill_typed_literals_are_violations_as_for_pyshacl(memory_db: Database) -> None:
    graph = rdflib.Graph()
    for triple in MINI_GRAPH:
        graph.add(triple)
    group = next(s for s in MINI_GRAPH.subjects(RDF.type, OVN.ChatGroup))
    graph.remove((group, OVN.reportedMemberCount, None))
    graph.add((group, OVN.reportedMemberCount,
               Literal("seventeen", datatype=URIRef("http://www.w3.org/2001/XMLSchema#integer"))))
    found = ours(memory_db, graph)
    assert found == reference(graph) and [v[2] for v in found] == ["sh:DatatypeConstraintComponent"]
