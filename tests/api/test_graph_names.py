"""Stable graph names: a source's graph is ``{base}graph/{source}`` in queries, datasets, results, the service
description, ``/sources`` and exports, whichever run holds it; the runs' own graphs are internal (empty if named)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyoxigraph as ox
import pytest
import rdflib

from api import create_app
from api.database import close, get_db
from graph.ingest.cases import load_bundled
from graph.ingest.load import load, plan
from graph.sparql.names import GraphNames, rename_query

BASE = "https://w3id.org/oversight/id/"
STABLE = BASE + "graph/charing-cross"
COUNT = "SELECT (COUNT(DISTINCT ?o) AS ?n) {} WHERE {{ {} }}"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    app = create_app({"STORE": "memory", "TESTING": True, "AUTH": False,
                      "DATA_DIR": str(tmp_path_factory.mktemp("names"))})
    with app.app_context():
        load_bundled(get_db())
    yield app
    close(app)


def _reload(app: Any, tmp: Path) -> str:
    """Load charing-cross again from its own statements (a new run, the same content); the new run's graph."""
    with app.app_context():
        db = get_db()
        path = tmp / "charing-cross.nt"
        path.write_bytes(ox.serialize([ox.Triple(q.subject, q.predicate, q.object)
                                       for q in db.backend.quads(db.sources["charing-cross"].graph)],
                                      format=ox.RdfFormat.N_TRIPLES) or b"")
        load(db, plan([path], source="charing-cross"), user="test")
        return db.sources["charing-cross"].graph.value


def _officers(client: Any, query: str, **dataset: str) -> int:
    response = client.get("/sparql", query_string={"query": query, **dataset})
    assert response.status_code == 200, response.json
    return int(response.json["results"]["bindings"][0]["n"]["value"])


def test_a_source_graph_keeps_its_name_across_reloads_and_every_way_of_naming_it_works(app: Any, tmp_path: Path) -> None:
    client = app.test_client()
    officer = "?o a ov:Officer"
    ways = [(COUNT.format(f"FROM <{STABLE}>", officer), {}),
            (COUNT.format(f"FROM NAMED <{STABLE}>", f"GRAPH <{STABLE}> {{ {officer} }}"), {}),
            (COUNT.format("", f"GRAPH <{STABLE}> {{ {officer} }}"), {}),
            ("PREFIX g: <https://w3id.org/oversight/id/graph/> " + COUNT.format("", f"GRAPH g:charing-cross {{ {officer} }}"), {}),
            ("BASE <https://w3id.org/oversight/id/graph/> " + COUNT.format("FROM <charing-cross>", officer), {}),
            (COUNT.format("", officer), {"default-graph-uri": STABLE}),
            (COUNT.format("", f"GRAPH ?g {{ {officer} }} FILTER(?g = <{STABLE}>)"), {}),
            (COUNT.format("", f"GRAPH ?g {{ {officer} }}"), {"named-graph-uri": STABLE})]
    before = [_officers(client, query, **dataset) for query, dataset in ways]
    assert before == [18] * len(ways)
    with app.app_context():
        first_run = get_db().sources["charing-cross"].graph.value
    second_run = _reload(app, tmp_path)
    assert second_run != first_run
    assert [_officers(client, query, **dataset) for query, dataset in ways] == before
    # a run's own graph is internal: named directly, in the text or the dataset, it is an empty graph
    for run in (first_run, second_run):
        assert _officers(client, COUNT.format(f"FROM <{run}>", officer)) == 0
        assert _officers(client, COUNT.format("", f"GRAPH <{run}> {{ {officer} }}")) == 0
        assert _officers(client, COUNT.format("", officer), **{"default-graph-uri": run}) == 0


def test_results_descriptions_listings_and_exports_give_the_stable_names(app: Any) -> None:
    client = app.test_client()
    rows = client.get("/sparql", query_string={"query": "SELECT DISTINCT ?g { GRAPH ?g { ?s ?p ?o } }"}).json
    names = {r["g"]["value"] for r in rows["results"]["bindings"]}
    assert names == {STABLE, BASE + "graph/meta"}
    for accept in ("text/csv", "text/tab-separated-values", "application/sparql-results+xml"):
        text = client.get("/sparql", query_string={"query": "SELECT DISTINCT ?g { GRAPH ?g { ?s a ov:Officer } }"},
                          headers={"Accept": accept}).get_data(as_text=True)
        assert STABLE in text and STABLE + "/" not in text, accept
    constructed = client.get("/sparql", headers={"Accept": "application/n-triples"}, query_string={
        "query": "CONSTRUCT { ?g a <http://www.w3.org/ns/sparql-service-description#Graph> } "
                 "WHERE { GRAPH ?g { ?s a ov:Officer } }"}).get_data(as_text=True)
    assert constructed.split()[0] == f"<{STABLE}>"
    # the metadata graph's record of the current run names the graph as queries do
    meta = client.get("/sparql", query_string={"query": f"ASK {{ GRAPH <{BASE}graph/meta> {{ ?run ?p <{STABLE}> }} }}"})
    assert meta.json["boolean"] is True

    description = rdflib.Graph().parse(data=client.get("/sparql", headers={"Accept": "text/turtle"}).data,
                                       format="turtle")
    described = {str(n) for n in description.objects(None, rdflib.URIRef(
        "http://www.w3.org/ns/sparql-service-description#name"))}
    assert described == {STABLE, BASE + "graph/meta"}
    listed = {s["name"]: s["graph"] for s in client.get("/sources").json["sources"]}
    assert listed["charing-cross"] == STABLE and listed["ontology"] == BASE + "graph/ontology"
    exported = rdflib.Dataset()
    exported.parse(io.BytesIO(client.get("/export/full.nq").data), format="nquads")
    assert {str(g.identifier) for g in exported.graphs() if len(g)} == {STABLE, BASE + "graph/meta"}
    assert (None, None, rdflib.URIRef(STABLE)) in exported.graph(rdflib.URIRef(BASE + "graph/meta"))
    with app.app_context():
        run = get_db().sources["charing-cross"].graph.value  # replaced runs' graphs stay named in their records
    assert run not in client.get("/export/full.trig").get_data(as_text=True)
    assert run not in client.get("/sparql", headers={"Accept": "application/n-triples"}, query_string={
        "query": f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ GRAPH <{BASE}graph/meta> {{ ?s ?p ?o }} }}"}).get_data(as_text=True)


@pytest.mark.parametrize("text", [
    'SELECT ("<https://b/graph/cc>" AS ?x) {}',
    "SELECT ('<https://b/graph/cc>' AS ?x) {}",
    'SELECT ("""a " <https://b/graph/cc> " b""" AS ?x) {}',
    "SELECT * {} # GRAPH <https://b/graph/cc>",
    "PREFIX g: <https://b/other/> SELECT * { GRAPH g:cc {} }",
    "SELECT * { GRAPH <https://b/graph/cc/more> {} }",
    "SELECT * { ?s ?p _:cc }",
])
def test_what_is_not_an_iri_of_a_stable_name_is_left_as_written(text: str) -> None:
    assert rename_query(text, GraphNames(["https://b/graph/cc"], ["https://b/graph/cc/r1"]).inward,
                        base="https://b/sparql", prefixes={"ov": "https://b/ontology#"}) == text


@pytest.mark.parametrize("text, renamed", [
    ("SELECT * { GRAPH <https://b/graph/cc> {} }", "SELECT * { GRAPH <https://b/graph/cc/r1> {} }"),
    ("SELECT * FROM <graph/cc> {}", "SELECT * FROM <https://b/graph/cc/r1> {}"),
    ("BASE <https://b/graph/x> SELECT * FROM <cc> {}", "BASE <https://b/graph/x> SELECT * FROM <https://b/graph/cc/r1> {}"),
    ("prefix g: <https://b/graph/> SELECT * { GRAPH g:cc {} }",
     "prefix g: <https://b/graph/> SELECT * { GRAPH <https://b/graph/cc/r1> {} }"),
    ("PREFIX : <https://b/graph/> SELECT * { GRAPH :cc{} }", "PREFIX : <https://b/graph/> SELECT * { GRAPH <https://b/graph/cc/r1>{} }"),
    ("SELECT * { GRAPH gr:cc {} }", "SELECT * { GRAPH <https://b/graph/cc/r1> {} }"),  # a predeclared prefix
    ("SELECT * { GRAPH <https://b/graph/cc/r1> {} }", "SELECT * { GRAPH <urn:x-oversight:empty-graph> {} }"),
    ('SELECT * { ?s ?p "x" . GRAPH <https://b/graph/cc> {} } # x', 'SELECT * { ?s ?p "x" . GRAPH <https://b/graph/cc/r1> {} } # x'),
])
def test_stable_names_become_the_current_runs_graphs_and_runs_become_empty(text: str, renamed: str) -> None:
    assert rename_query(text, GraphNames(["https://b/graph/cc"], ["https://b/graph/cc/r1"]).inward,
                        base="https://b/sparql", prefixes={"gr": "https://b/graph/"}) == renamed


@pytest.mark.parametrize("text, renamed", [
    # comments where white space may be, in declarations
    ("PREFIX #c\n g: <https://b/graph/> SELECT * { GRAPH g:cc {} }",
     "PREFIX #c\n g: <https://b/graph/> SELECT * { GRAPH <https://b/graph/cc/r1> {} }"),
    ("PREFIX g: #c\n <https://b/graph/> SELECT * { GRAPH g:cc {} }",
     "PREFIX g: #c\n <https://b/graph/> SELECT * { GRAPH <https://b/graph/cc/r1> {} }"),
    ("BASE #c\n <https://b/graph/> SELECT * FROM <cc> {}", "BASE #c\n <https://b/graph/> SELECT * FROM <https://b/graph/cc/r1> {}"),
    # RFC 3986 resolution, as the engine resolves (a base's fragment is dropped; an empty query or fragment is kept)
    ("BASE <https://b/graph/cc#x> SELECT * FROM <> {}", "BASE <https://b/graph/cc#x> SELECT * FROM <https://b/graph/cc/r1> {}"),
    ("BASE <https://b/graph/> SELECT * FROM <cc#> {}", "BASE <https://b/graph/> SELECT * FROM <cc#> {}"),
    ("BASE <https://b/graph/> SELECT * FROM <cc?> {}", "BASE <https://b/graph/> SELECT * FROM <cc?> {}"),
    ("BASE <https://b/graph/x/> SELECT * FROM <../cc> {}", "BASE <https://b/graph/x/> SELECT * FROM <https://b/graph/cc/r1> {}"),
    # a variable named base is not a declaration; a comparison is not an IRI
    ("SELECT * { ?s ?base <https://b/graph/> GRAPH <graph/cc> {} }",
     "SELECT * { ?s ?base <https://b/graph/> GRAPH <https://b/graph/cc/r1> {} }"),
    ("SELECT * { GRAPH ?g {} FILTER(?k<2&&?g=gr:cc&&?k>0) }",
     "SELECT * { GRAPH ?g {} FILTER(?k<2&&?g=<https://b/graph/cc/r1>&&?k>0) }"),
])
def test_declarations_and_relative_iris_are_read_as_the_engine_reads_them(text: str, renamed: str) -> None:
    assert rename_query(text, GraphNames(["https://b/graph/cc"], ["https://b/graph/cc/r1"]).inward,
                        base="https://b/sparql", prefixes={"gr": "https://b/graph/"}) == renamed


def test_syntax_errors_give_positions_in_the_text_as_written(app: Any) -> None:
    text = f"SELECT * FROM <{STABLE}> FROM <{STABLE}> WHERE {{ ?s ?p ?o . FILTER( }}"
    plain = text.replace(STABLE, "https://x/y")
    renamed = app.test_client().get("/sparql", query_string={"query": text}).json["detail"]
    unrenamed = app.test_client().get("/sparql", query_string={"query": plain}).json["detail"]
    shift = len(STABLE) - len("https://x/y")

    def column(detail: str) -> int:
        return int(detail.split("column ")[1].split(":")[0])

    assert "syntax error" in renamed and column(renamed) == column(unrenamed) + 2 * shift


def test_from_with_a_prefixed_name_is_a_graph_like_any_other(app: Any) -> None:
    client = app.test_client()
    officer = "?o a ov:Officer"
    assert _officers(client, "PREFIX ex: <https://example.org/> " + COUNT.format("FROM ex:elsewhere", officer)) == 0
    assert _officers(client, "PREFIX g: <https://w3id.org/oversight/id/graph/> "
                     + COUNT.format("FROM g:charing-cross", officer)) == 18
    refused = client.get("/sparql", query_string={"query": COUNT.format("FROM zz:x", officer)})
    assert refused.status_code == 400 and "undeclared prefix 'zz'" in refused.json["detail"]


def test_engine_syntax_errors_give_positions_in_the_text_as_written(app: Any) -> None:
    """A query rdflib's grammar passes and Oxigraph refuses (an unknown function) reports Oxigraph's position in the
    text as the client wrote it, not in the renamed one."""
    tail = " WHERE { ?s ?p ?o FILTER(<urn:x:f>(?o) && ex:unknown(?o)) }"
    text = f"SELECT * FROM <{STABLE}>" + tail
    plain = "SELECT * FROM <https://x/y>" + tail
    client = app.test_client()
    renamed = client.get("/sparql", query_string={"query": text}).json
    unrenamed = client.get("/sparql", query_string={"query": plain}).json
    assert renamed["status"] == unrenamed["status"] == 400
    shift = len(STABLE) - len("https://x/y")

    def column(detail: str) -> int:  # "... error at 1:84: expected ..."
        return int(detail.split(" at 1:")[1].split(":")[0])

    assert "the engine could not parse it" in renamed["detail"]
    assert column(renamed["detail"]) == column(unrenamed["detail"]) + shift  # the renamed run graph is 33 longer
