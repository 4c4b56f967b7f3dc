"""``/sparql``: the SPARQL 1.1 Protocol's query operation, read-only, never reaching out, bounded."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rdflib
from lxml import etree

from api import create_app
from api.database import close, get_db
from graph.ingest.cases import load_bundled
from tests.conftest import Listener, serving

OFFICERS = "SELECT ?o WHERE { ?o a ov:Officer } ORDER BY ?o"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A test client over the bundled case, with a row cap of 10 and a 2 s time limit."""
    app = create_app({"STORE": "memory", "TESTING": True, "SPARQL_MAX_ROWS": 10, "SPARQL_TIMEOUT": 2.0,
                      "CORS_ORIGINS": ("https://notebook.example",), "AUTH": False,
                      "DATA_DIR": str(tmp_path_factory.mktemp("sparql"))})
    with app.app_context():
        load_bundled(get_db())
    yield app.test_client()
    close(app)


def test_the_three_ways_to_send_a_query_agree(client: Any) -> None:
    query = "SELECT (COUNT(DISTINCT ?o) AS ?n) WHERE { ?o a ov:Officer }"
    answers = [client.get("/sparql", query_string={"query": query}),
               client.post("/sparql", data={"query": query}),
               client.post("/sparql", data=query, content_type="application/sparql-query")]
    for response in answers:
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/sparql-results+json; charset=utf-8"
        assert response.headers["Vary"] == "Accept"
        assert response.json["results"]["bindings"][0]["n"]["value"] == "18"


@pytest.mark.parametrize("accept, media", [
    ("application/sparql-results+xml", "application/sparql-results+xml"),
    ("text/csv", "text/csv"),
    ("text/tab-separated-values", "text/tab-separated-values"),
    ("text/csv;q=0.5, application/sparql-results+xml;q=0.9", "application/sparql-results+xml"),
    ("*/*", "application/sparql-results+json"),
])
def test_select_results_are_negotiated(client: Any, accept: str, media: str) -> None:
    response = client.get("/sparql", query_string={"query": OFFICERS + " LIMIT 3"}, headers={"Accept": accept})
    assert response.status_code == 200 and response.mimetype == media
    text = response.get_data(as_text=True)
    if media == "text/csv":
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0] == ["o"] and len(rows) == 4 and rows[1][0].startswith("https://")
    elif media == "application/sparql-results+xml":
        root = etree.fromstring(response.data)
        assert len(root.findall(".//{http://www.w3.org/2005/sparql-results#}result")) == 3
    elif media == "text/tab-separated-values":
        assert text.splitlines()[0] == "?o" and text.splitlines()[1].startswith("<https://")


def test_construct_is_negotiated_and_format_overrides(client: Any) -> None:
    query = "CONSTRUCT { ?o a ov:Officer } WHERE { ?o a ov:Officer } LIMIT 5"
    for accept, fmt in (("text/turtle", "turtle"), ("application/n-triples", "nt"),
                        ("application/ld+json", "json-ld"), ("application/rdf+xml", "xml")):
        response = client.get("/sparql", query_string={"query": query}, headers={"Accept": accept})
        assert response.status_code == 200 and response.mimetype == accept
        assert len(rdflib.Graph().parse(data=response.data, format=fmt)) == 5
    forced = client.get("/sparql", query_string={"query": query, "format": "nt"}, headers={"Accept": "text/turtle"})
    assert forced.mimetype == "application/n-triples"


def test_what_cannot_be_produced_is_406(client: Any) -> None:
    response = client.get("/sparql", query_string={"query": OFFICERS}, headers={"Accept": "text/turtle"})
    assert response.status_code == 406 and response.mimetype == "application/problem+json"


@pytest.mark.parametrize("request_kwargs, parameter", [
    ({"method": "GET", "query_string": {"query": "SELECT * WHERE { ?s ?p }"}}, "query"),
    ({"method": "GET", "query_string": [("query", OFFICERS), ("query", OFFICERS)]}, "query"),
    ({"method": "GET", "query_string": {"query": OFFICERS, "update": "CLEAR ALL"}}, "update"),
    ({"method": "POST", "data": {"update": "DROP ALL"}}, "update"),
    ({"method": "POST", "data": "CLEAR ALL", "content_type": "application/sparql-update"}, "update"),
    ({"method": "GET", "query_string": {"query": "INSERT DATA { <a:a> <a:b> <a:c> }"}}, "query"),
    ({"method": "GET", "query_string": {"query": "LOAD <http://127.0.0.1:9/data.ttl>"}}, "query"),
    ({"method": "POST", "data": {"default-graph-uri": "https://example.org/g"}}, "query"),
    ({"method": "GET", "query_string": {"query": "  "}}, "query"),
    ({"method": "POST", "query_string": {"query": OFFICERS}, "data": {"query": OFFICERS}}, "query"),
    ({"method": "POST", "data": b"SELECT * WHERE { ?s ?p \xff }", "content_type": "application/sparql-query"}, "query"),
    ({"method": "GET", "query_string": {"query": "SELECT * WHERE { ?s ?p <a b> }"}}, "query"),
])
def test_malformed_and_update_requests_are_400_problems(client: Any, request_kwargs: dict, parameter: str) -> None:
    response = client.open("/sparql", **request_kwargs)
    assert response.status_code == 400 and response.mimetype == "application/problem+json"
    assert response.json["parameter"] == parameter


def test_protocol_details(client: Any) -> None:
    """HEAD is GET without a body; bodies are UTF-8 only; a form POST takes the dataset from the URL too;
    relative IRIs resolve against the endpoint; SPARQLWrapper's format names are accepted."""
    head = client.head("/sparql", query_string={"query": OFFICERS})
    assert head.status_code == 200 and head.data == b""
    utf16 = client.post("/sparql", data=OFFICERS.encode("utf-16"), content_type="application/sparql-query; charset=UTF-16")
    assert utf16.status_code == 415 and utf16.mimetype == "application/problem+json"
    form16 = client.post("/sparql", data="query=ASK%7B%7D".encode("utf-16"),
                         content_type="application/x-www-form-urlencoded; charset=UTF-16")
    assert form16.status_code == 415
    graphs = client.get("/sparql", query_string={"query": "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s a ov:Officer } }"})
    graph = graphs.json["results"]["bindings"][0]["g"]["value"]
    count = "SELECT (COUNT(*) AS ?n) WHERE { ?s a ov:Officer }"
    posted = client.post("/sparql?" + urllib.parse.urlencode({"default-graph-uri": "urn:none"}), data={"query": count})
    assert posted.json["results"]["bindings"][0]["n"]["value"] == "0"  # the URL's dataset was used
    posted = client.post("/sparql?" + urllib.parse.urlencode({"default-graph-uri": graph}), data={"query": count})
    assert posted.json["results"]["bindings"][0]["n"]["value"] == "18"
    relative = client.get("/sparql", query_string={"query": "SELECT ?x WHERE { BIND(<officer/1> AS ?x) }"})
    assert relative.status_code == 200 and relative.json["results"]["bindings"][0]["x"]["value"].endswith("/officer/1")
    rdfxml = client.get("/sparql", query_string={"query": "CONSTRUCT { ?s a ov:Officer } WHERE { ?s a ov:Officer }",
                                                  "format": "rdf+xml"})
    assert rdfxml.status_code == 200 and rdfxml.mimetype == "application/rdf+xml"


def test_syntax_errors_say_where(client: Any) -> None:
    detail = client.get("/sparql", query_string={"query": "SELECT ?s\nWHERE { ?s ?p }"}).json["detail"]
    assert "line 2" in detail and "column" in detail


def test_nothing_reaches_the_network_or_the_file_system(client: Any) -> None:
    listener = Listener()
    try:
        url = f"http://127.0.0.1:{listener.port}/sparql"
        for query in (f"SELECT * WHERE {{ SERVICE <{url}> {{ ?s ?p ?o }} }}",
                      f"SELECT * WHERE {{ ?a ?b ?c OPTIONAL {{ SERVICE SILENT <{url}> {{ ?s ?p ?o }} }} }}",
                      # rdflib reads a comment up to LF, Oxigraph up to CR: the text is normalised before both
                      f"SELECT * WHERE {{ # x\r SERVICE <{url}> {{ ?x ?y ?z }} \n }}",
                      f"ASK {{ # x\r service silent <{url}> {{ ?x ?y ?z }} \n }}"):
            response = client.get("/sparql", query_string={"query": query})
            assert response.status_code == 400 and response.mimetype == "application/problem+json", query
        # a graph the service does not hold is an empty graph, as the Protocol's tests expect: never fetched
        for query in (f"SELECT * FROM <{url}> WHERE {{ ?s ?p ?o }}",
                      f"SELECT * FROM NAMED <{url}> WHERE {{ GRAPH ?g {{ ?s ?p ?o }} }}",
                      "SELECT * FROM <file:///etc/passwd> WHERE { ?s ?p ?o }"):
            response = client.get("/sparql", query_string={"query": query})
            assert response.status_code == 200 and response.json["results"]["bindings"] == [], query
        response = client.get("/sparql", query_string={"query": OFFICERS, "default-graph-uri": url})
        assert response.status_code == 200 and response.json["results"]["bindings"] == []
        time.sleep(0.3)
        assert not listener.connected
    finally:
        listener.close()


def test_graph_queries_see_the_sources_and_from_may_name_them(client: Any) -> None:
    rows = client.get("/sparql", query_string={
        "query": "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s a ov:Officer } }"}).json["results"]["bindings"]
    [graph] = [r["g"]["value"] for r in rows]
    assert graph == "https://w3id.org/oversight/id/graph/charing-cross"  # its stable name (tests/api/test_graph_names.py)
    own = client.get("/sparql", query_string={"query": f"SELECT (COUNT(*) AS ?n) FROM <{graph}> WHERE {{ ?s a ov:Officer }}"})
    assert own.status_code == 200 and own.json["results"]["bindings"][0]["n"]["value"] == "18"
    meta = client.get("/sparql", query_string={"query": "SELECT ?s WHERE { ?s a ov:Officer }",
                                               "default-graph-uri": "https://w3id.org/oversight/id/graph/meta"})
    assert meta.status_code == 200 and meta.json["results"]["bindings"] == []  # the protocol's dataset wins


def test_rows_are_capped_and_say_so(client: Any) -> None:
    response = client.get("/sparql", query_string={"query": OFFICERS}, headers={"Accept": "text/csv"})
    assert response.headers["X-Oversight-Truncated"] == "true" and response.headers["X-Oversight-Row-Limit"] == "10"
    assert len(response.get_data(as_text=True).strip().splitlines()) == 11
    small = client.get("/sparql", query_string={"query": OFFICERS + " LIMIT 3"})
    assert "X-Oversight-Truncated" not in small.headers


def test_the_service_description_lists_formats_graphs_and_prefixes(client: Any) -> None:
    response = client.get("/sparql", headers={"Accept": "text/turtle"})
    assert response.status_code == 200 and response.mimetype == "text/turtle"
    graph = rdflib.Graph().parse(data=response.data, format="turtle")
    sd = rdflib.Namespace("http://www.w3.org/ns/sparql-service-description#")
    service = next(graph.subjects(rdflib.RDF.type, sd.Service))
    formats = {str(f).rsplit("/", 1)[1] for f in graph.objects(service, sd.resultFormat)}
    assert {"SPARQL_Results_JSON", "SPARQL_Results_XML", "SPARQL_Results_CSV", "SPARQL_Results_TSV", "Turtle"} <= formats
    names = {str(n) for n in graph.objects(None, sd.name)}
    assert names == {"https://w3id.org/oversight/id/graph/charing-cross", "https://w3id.org/oversight/id/graph/meta"}
    # the default graph is the union of the source graphs, not of every named graph (the metadata graph is not in it)
    assert (service, sd.feature, sd.UnionDefaultGraph) not in graph
    prefixes = {str(p) for p in graph.objects(None, rdflib.URIRef("http://www.w3.org/ns/shacl#prefix"))}
    assert {"ov", "skos", "prov"} <= prefixes
    jsonld = client.get("/sparql", headers={"Accept": "application/ld+json"})
    assert jsonld.mimetype == "application/ld+json" and json.loads(jsonld.data)


def test_cors_is_off_unless_the_origin_is_configured(client: Any) -> None:
    allowed = client.get("/sparql", query_string={"query": OFFICERS}, headers={"Origin": "https://notebook.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://notebook.example"
    other = client.get("/sparql", query_string={"query": OFFICERS}, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


@pytest.fixture
def bounded_server(tmp_path: Path) -> Iterator[str]:
    """A real `oversight serve` with a 2 s query limit, two query workers, and a row cap too high to
    end a runaway query before its time limit does."""
    with serving(tmp_path / "served", SPARQL_TIMEOUT="2", SPARQL_WORKERS="2", SPARQL_MAX_ROWS="1000000000") as url:
        yield url


def _ask(url: str, query: str) -> tuple[int, float]:
    start = time.monotonic()
    try:
        with urllib.request.urlopen(url + "/sparql?" + urllib.parse.urlencode({"query": query}), timeout=60) as r:
            r.read()
            return r.status, time.monotonic() - start
    except urllib.error.HTTPError as error:
        return error.code, time.monotonic() - start


def test_a_runaway_query_is_stopped_without_starving_the_others(bounded_server: str) -> None:
    runaway = "SELECT ?a ?d ?g WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"  # streams: stopped between rows
    results: list[tuple[int, float]] = []
    thread = threading.Thread(target=lambda: results.append(_ask(bounded_server, runaway)))
    thread.start()
    time.sleep(0.3)
    ordinary = [_ask(bounded_server, "SELECT (COUNT(*) AS ?n) WHERE { ?o a ov:Officer }") for _ in range(5)]
    thread.join()
    status, seconds = results[0]
    assert status == 503 and seconds < 10
    assert all(code == 200 and took < 2 for code, took in ordinary)


def test_results_are_well_formed_whatever_the_values(client: Any) -> None:
    query = 'SELECT ?e ?l WHERE { BIND("a\\u0001b" AS ?e) BIND("x"@en AS ?l) }'
    xml = client.get("/sparql", query_string={"query": query}, headers={"Accept": "application/sparql-results+xml"})
    assert etree.fromstring(xml.data) is not None
    plain = client.get("/sparql", query_string={"query": query}, headers={"Accept": "application/json"})
    assert plain.status_code == 200 and plain.json["results"]["bindings"][0]["l"]["xml:lang"] == "en"


def test_cors_preflight_lets_configured_origins_post(client: Any) -> None:
    response = client.options("/sparql", headers={"Origin": "https://notebook.example",
                                                  "Access-Control-Request-Method": "POST"})
    assert response.headers["Access-Control-Allow-Origin"] == "https://notebook.example"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in response.headers["Access-Control-Allow-Headers"]
    assert "X-Oversight-Truncated" in response.headers["Access-Control-Expose-Headers"]


def test_protocol_clients_over_real_http(server: str) -> None:
    """SPARQLWrapper and plain HTTP against a real `oversight serve`: the Protocol's cases, good and bad."""
    from SPARQLWrapper import CSV, JSON, POST, TURTLE, SPARQLWrapper

    client = SPARQLWrapper(server + "/sparql")
    client.setQuery("SELECT (COUNT(DISTINCT ?o) AS ?n) WHERE { ?o a ov:Officer }")
    client.setReturnFormat(JSON)
    assert client.query().convert()["results"]["bindings"][0]["n"]["value"] == "18"
    client.setMethod(POST)  # form POST
    client.setReturnFormat(CSV)
    assert client.query().convert().decode().splitlines() == ["n", "18"]
    client.setQuery("CONSTRUCT { ?o a ov:Officer } WHERE { ?o a ov:Officer }")
    client.setReturnFormat(TURTLE)
    assert len(rdflib.Graph().parse(data=client.query().convert(), format="turtle")) == 18

    direct = urllib.request.Request(server + "/sparql", data=b"ASK { ?s a ov:Officer }", method="POST",
                                    headers={"Content-Type": "application/sparql-query",
                                             "Accept": "application/sparql-results+xml"})
    with urllib.request.urlopen(direct) as response:
        assert response.headers["Content-Type"] == "application/sparql-results+xml; charset=utf-8"
        assert b"<boolean>true</boolean>" in response.read()
    for url, headers, status in (
            ("/sparql?query=SELECT%20*%20WHERE%20%7B", {}, 400),
            ("/sparql?query=CLEAR%20ALL", {}, 400),
            ("/sparql?query=SELECT%20*%20WHERE%20%7B%3Fs%20%3Fp%20%3Fo%7D", {"Accept": "image/png"}, 406)):
        request = urllib.request.Request(server + url, headers=headers)
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(request)
        assert error.value.code == status
        assert error.value.headers["Content-Type"].startswith("application/problem+json")
    with urllib.request.urlopen(urllib.request.Request(server + "/sparql", headers={"Accept": "text/turtle"})) as r:
        assert "sd:Service" in r.read().decode()
