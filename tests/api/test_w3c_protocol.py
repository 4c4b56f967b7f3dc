"""The W3C SPARQL 1.1 Protocol tests (query side, and the ``bad_*`` ones) against a real server over HTTP.

The cases follow the protocol manifest of the W3C test suite (``w3c/rdf-tests``,
``sparql/sparql11/protocol/manifest.ttl``), written here as data: for each test, the request (method,
path with query string, headers, body bytes) and what the answer must be (status class; for 2xx, the
kind of result - boolean, tabular or RDF - and the boolean). A real ``oversight serve`` is started on
loopback (:func:`tests.conftest.serving`, authentication off, ``SPARQL_UPDATE`` on), with the tests' graph
data loaded as sources, and every request goes over a socket.

How this service differs from the endpoint the manifest assumes, and how the cases are adapted:

- The endpoint is ``/sparql``, not ``/sparql/``.
- The service is query-only at ``/sparql``: the positive ``update_*`` tests are out of scope. Every
  ``bad_update_*`` request sent to ``/sparql`` must get a 4xx (an update there is refused outright), and
  is sent again to the update route, ``POST /sparql/update?source=scratch`` (on with
  ``OVERSIGHT_SPARQL_UPDATE=true``; without authentication the local user is an admin), where it must
  get a 4xx too, and leave the ``scratch`` source as it was. ``?source=`` is required by that route, so it
  is added: without it every request would be refused for that reason alone.
- Graph data: the manifest's ``dataN.nt`` files are not in the suite, so each is reconstructed minimally,
  as ``<http://kasei.us/2009/09/sparql/data/dataN.rdf> a foaf:Document`` (all the queries need is that
  each ``dataN.rdf`` IRI has ``a ?type``, the same type in all of them). Each is loaded as source ``dataN``
  (``PUT /sources/dataN``), so its graph is ``https://w3id.org/oversight/id/graph/dataN``; that name
  replaces the dataset IRI ``http://kasei.us/.../dataN.rdf`` in ``default-graph-uri`` and
  ``named-graph-uri`` and in ``FROM`` (the IRIs used as subjects inside queries stay). ``data0.rdf`` has
  no data in the manifest and is kept as is: the service reads a graph it does not hold as empty.
- ``query_multiple_dataset``: the manifest's path encodes the ``&`` between its two ``named-graph-uri``
  parameters (``%26``), which makes one parameter whose value is not an IRI; the test as designed
  (w3c/rdf-tests issue #78: two named graphs, the protocol dataset overriding ``FROM``) sends two, as here.
- Requests go through :mod:`http.client`, not :mod:`urllib.request`: urllib adds
  ``Content-Type: application/x-www-form-urlencoded`` to any request with a body, and the
  ``*_missing_*_type`` tests must send a body with no ``Content-Type`` at all. ``Host`` is the loopback
  address the server listens on, not ``www.example``.
- No ``Accept`` is sent, as in the manifest: any boolean (JSON or XML), tabular (JSON, XML, CSV, TSV)
  or RDF media type is accepted, and the body must parse as one.
"""

from __future__ import annotations

import contextlib
import csv
import http.client
import io
import json
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import pyoxigraph as ox
import pytest
import rdflib

from tests.conftest import serving
from tests.servers import oxigraph_server, virtuoso_server

GRAPH = "https://w3id.org/oversight/id/graph/"
KASEI = "http://kasei.us/2009/09/sparql/data/"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RESULTS_NS = "{http://www.w3.org/2005/sparql-results#}"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
QUERY = {"Content-Type": "application/sparql-query"}
UPDATE = {"Content-Type": "application/sparql-update"}
SCRATCH = b'<http://example.org/person/1> <http://xmlns.com/foaf/0.1/givenName> "Bill" .\n'


def kasei(n: int) -> str:
    return f"{KASEI}data{n}.rdf"


def graph(n: int) -> str:
    """The service's graph for manifest dataset ``dataN.rdf``; ``data0.rdf`` (no data) stays as it is."""
    return kasei(0) if n == 0 else f"{GRAPH}data{n}"


def qs(*pairs: tuple[str, str]) -> str:
    return urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote, safe="")


class Case(NamedTuple):
    name: str
    method: str
    query: str = ""  # the query string, without "?"
    headers: Mapping[str, str] = MappingProxyType({})
    body: bytes | None = None
    status: int = 2  # status class: 2 for "2xx or 3xx", 4 for "4xx"
    form: str | None = None  # "boolean", "tabular" or "RDF"
    boolean: bool | None = None
    triples: int | None = None  # the RDF result's size, where the query fixes it


ASK_BOTH = f"ASK {{ <{kasei(1)}> a ?type . <{kasei(2)}> a ?type . }}"
ASK_NAMED = f"ASK {{ GRAPH ?g1 {{ <{kasei(1)}> a ?type }} GRAPH ?g2 {{ <{kasei(2)}> a ?type }} }}"
ASK_FULL = (f"ASK {{\n  <{kasei(3)}> a ?type\n  GRAPH ?g1 {{ <{kasei(1)}> a ?type }}\n"
            f"  GRAPH ?g2 {{ <{kasei(2)}> a ?type }}\n}}")
ASK_FROM = (f"ASK FROM <{graph(3)}> {{ GRAPH ?g1 {{ <{kasei(1)}> a ?type }} "
            f"GRAPH ?g2 {{ <{kasei(2)}> a ?type }} }}")
DG = [("default-graph-uri", graph(n)) for n in range(4)]
NG = [("named-graph-uri", graph(n)) for n in range(4)]

QUERY_CASES = [
    Case("query_post_form", "POST", qs(DG[0]), FORM, b"query=ASK%20%7B%7D", form="boolean", boolean=True),
    Case("query_dataset_default_graphs_get", "GET", qs(("query", ASK_BOTH), DG[1], DG[2]),
         form="boolean", boolean=True),
    Case("query_dataset_default_graphs_post", "POST", qs(DG[1], DG[2]), QUERY, ASK_BOTH.encode(),
         form="boolean", boolean=True),
    Case("query_dataset_named_graphs_post", "POST", qs(NG[1], NG[2]), QUERY, ASK_NAMED.encode(),
         form="boolean", boolean=True),
    Case("query_dataset_named_graphs_get", "GET", qs(("query", ASK_NAMED), NG[1], NG[2]),
         form="boolean", boolean=True),
    Case("query_dataset_full", "POST", qs(DG[3], NG[1], NG[2]), QUERY, ASK_FULL.encode(),
         form="boolean", boolean=True),
    Case("query_multiple_dataset", "POST", qs(NG[1], NG[2]), QUERY, ASK_FROM.encode(),
         form="boolean", boolean=True),
    Case("query_get", "GET", qs(("query", "ASK {}"), DG[0]), form="boolean", boolean=True),
    Case("query_content_type_select", "POST", qs(DG[0]), QUERY, b"SELECT (1 AS ?value) {}", form="tabular"),
    Case("query_content_type_ask", "POST", qs(DG[0]), QUERY, b"ASK {}", form="boolean"),
    Case("query_content_type_describe", "POST", qs(DG[0]), QUERY, b"DESCRIBE <http://example.org/>",
         form="RDF", triples=0),
    Case("query_content_type_construct", "POST", qs(DG[0]), QUERY, b"CONSTRUCT { <s> <p> 1 } WHERE {}",
         form="RDF", triples=1),
    Case("query_post_direct", "POST", "", QUERY, b"ASK {}", form="boolean", boolean=True),
    Case("bad_query_method", "PUT", qs(("query", "ASK {}"), DG[0]), FORM, status=4),
    Case("bad_multiple_queries", "GET", qs(("query", "ASK {}"), ("query", "SELECT * {}")), status=4),
    Case("bad_query_wrong_media_type", "POST", "", {"Content-Type": "text/plain"}, b"ASK {}", status=4),
    Case("bad_query_missing_form_type", "POST", "", {}, b"query=ASK%20%7B%7D", status=4),
    Case("bad_query_missing_direct_type", "POST", "", {}, b"ASK {}", status=4),
    Case("bad_query_non_utf8", "POST", "", {"Content-Type": "application/sparql-query; charset=UTF-16"},
         "ASK {}".encode("utf-16"), status=4),  # with a BOM, as the manifest says
    Case("bad_query_syntax", "GET", qs(("query", "ASK {")), status=4),
]

CONFLICT = (b"PREFIX foaf:  <http://xmlns.com/foaf/0.1/>\nWITH <http://example/addresses>\n"
            b"DELETE { ?person foaf:givenName 'Bill' }\nINSERT { ?person foaf:givenName 'William' }\n"
            b"WHERE {\n    ?person foaf:givenName 'Bill'\n}")
UPDATE_CASES = [
    Case("bad_update_get", "GET", qs(("update", "CLEAR ALL")), status=4),
    Case("bad_multiple_updates", "POST", "", FORM, b"update=CLEAR%20NAMED&update=CLEAR%20DEFAULT", status=4),
    Case("bad_update_wrong_media_type", "POST", "", {"Content-Type": "text/plain"}, b"CLEAR NAMED", status=4),
    Case("bad_update_missing_form_type", "POST", "", {}, b"update=CLEAR%20NAMED", status=4),
    Case("bad_update_non_utf8", "POST", "", {"Content-Type": "application/sparql-update; charset=UTF-16"},
         "CLEAR NAMED".encode("utf-16"), status=4),
    Case("bad_update_syntax", "POST", "", FORM, b"update=CLEAR%20XYZ", status=4),
    Case("bad_update_dataset_conflict", "POST", qs(("using-named-graph-uri", "http://example/people")),
         UPDATE, CONFLICT, status=4),
]


class Answer(NamedTuple):
    status: int
    media: str
    body: bytes


def send(url: str, method: str, path: str, headers: Mapping[str, str], body: bytes | None) -> Answer:
    """One request as given (no header added but Host, Accept-Encoding and Content-Length)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=dict(headers))
        response = conn.getresponse()
        media = (response.getheader("Content-Type") or "").split(";")[0].strip().lower()
        return Answer(response.status, media, response.read())
    finally:
        conn.close()


def at(path: str, query: str) -> str:
    return f"{path}?{query}" if query else path


@pytest.fixture(scope="module", params=["embedded", "oxigraph-server", "virtuoso"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real server with data1..data3 (the manifest's graph data) and a ``scratch`` source for updates, on each
    kind of store: the embedded one, and a real Oxigraph server or Virtuoso (:mod:`tests.servers`)."""
    folder = tmp_path_factory.mktemp("w3c-protocol") / "store"
    with contextlib.ExitStack() as stack:
        remote: dict[str, str] = {}
        if request.param == "oxigraph-server":
            remote = stack.enter_context(oxigraph_server(folder.with_name("oxigraph")))
        elif request.param == "virtuoso":
            remote, _ = stack.enter_context(virtuoso_server(folder.with_name("virtuoso")))
        url = stack.enter_context(serving(folder, SPARQL_UPDATE="true", **remote))
        nt = {"Content-Type": "application/n-triples"}
        for n in (1, 2, 3):
            triple = f"<{kasei(n)}> <{RDF_TYPE}> <http://xmlns.com/foaf/0.1/Document> .\n"
            loaded = send(url, "PUT", f"/sources/data{n}", nt, triple.encode())
            assert loaded.status == 201, loaded
            assert json.loads(loaded.body)["graph"] == graph(n)
        loaded = send(url, "PUT", "/sources/scratch", nt, SCRATCH)
        assert loaded.status == 201, loaded
        yield url


def state(url: str) -> tuple[str, str]:
    """The data version and the scratch source's checksum: what no refused request may change."""
    sources = json.loads(send(url, "GET", "/sources", {}, None).body)
    scratch = json.loads(send(url, "GET", "/sources/scratch", {}, None).body)
    return sources["data_version"], scratch["checksum"]


def check_boolean(answer: Answer) -> bool:
    if answer.media in ("application/sparql-results+json", "application/json"):
        value = json.loads(answer.body)["boolean"]
    else:
        assert answer.media in ("application/sparql-results+xml", "application/xml"), answer.media
        node = ET.fromstring(answer.body).find(RESULTS_NS + "boolean")
        assert node is not None and node.text in ("true", "false"), answer.body[:200]
        value = node.text == "true"
    assert isinstance(value, bool)
    return value


def check_tabular(answer: Answer) -> list[dict[str, str]]:
    """The rows of a SELECT result, as variable -> lexical value."""
    if answer.media in ("application/sparql-results+json", "application/json"):
        data = json.loads(answer.body)
        assert isinstance(data["head"]["vars"], list)
        return [{k: v["value"] for k, v in b.items()} for b in data["results"]["bindings"]]
    if answer.media in ("application/sparql-results+xml", "application/xml"):
        root = ET.fromstring(answer.body)
        assert root.find(RESULTS_NS + "head") is not None
        return [{b.get("name"): "".join(b.itertext()) for b in r.iter(RESULTS_NS + "binding")}
                for r in root.iter(RESULTS_NS + "result")]
    assert answer.media in ("text/csv", "text/tab-separated-values"), answer.media
    rows = list(csv.DictReader(io.StringIO(answer.body.decode("utf-8")),
                               delimiter="," if answer.media == "text/csv" else "\t"))
    return [{k.lstrip("?"): v for k, v in row.items()} for row in rows]


def check_rdf(answer: Answer) -> list[Any]:
    rdf_format = ox.RdfFormat.from_media_type(answer.media)
    assert rdf_format is not None, f"{answer.media} is not an RDF media type"
    return list(ox.parse(answer.body, format=rdf_format))


@pytest.mark.parametrize("case", QUERY_CASES + UPDATE_CASES, ids=lambda c: c.name)
def test_on_the_query_endpoint(server: str, case: Case) -> None:
    before = state(server) if case.status == 4 else None
    answer = send(server, case.method, at("/sparql", case.query), case.headers, case.body)
    described = f"{case.method} {at('/sparql', case.query)} -> {answer.status} {answer.media} {answer.body[:300]!r}"
    if case.status == 4:
        assert 400 <= answer.status < 500, described
        assert state(server) == before
        return
    assert 200 <= answer.status < 400, described
    if case.form == "boolean":
        value = check_boolean(answer)
        assert case.boolean is None or value is case.boolean, described
    elif case.form == "tabular":
        assert check_tabular(answer) == [{"value": "1"}], described
    elif case.form == "RDF":
        triples = check_rdf(answer)
        assert case.triples is None or len(triples) == case.triples, described


ON_UPDATE_ROUTE = [pytest.param(c, id=c.name) for c in UPDATE_CASES]


@pytest.mark.parametrize("case", ON_UPDATE_ROUTE)
def test_on_the_update_route(server: str, case: Case) -> None:
    """Each ``bad_update_*`` request, sent to the update route on an existing source, is refused and changes nothing."""
    before = state(server)
    path = at("/sparql/update", qs(("source", "scratch")) + (f"&{case.query}" if case.query else ""))
    answer = send(server, case.method, path, case.headers, case.body)
    assert 400 <= answer.status < 500, f"{case.method} {path} -> {answer.status} {answer.media} {answer.body[:300]!r}"
    assert state(server) == before


def test_the_update_route_is_on_for_this_user(server: str) -> None:
    """The control for :func:`test_on_the_update_route`: a well-formed update there succeeds (so the refusals
    above are the requests' own faults, not the route being off or the user not being a steward)."""
    before = state(server)
    body = qs(("update", 'INSERT DATA { <http://example.org/person/2> <http://xmlns.com/foaf/0.1/givenName> "Ann" }'))
    answer = send(server, "POST", "/sparql/update?source=scratch", FORM, body.encode())
    assert answer.status == 200, answer
    assert state(server)[1] != before[1]


def test_the_graph_store_round_trips_a_graph_over_http(server: str) -> None:
    """The Graph Store HTTP Protocol over the same server: PUT, GET (negotiated), POST (merge), DELETE."""
    target = urllib.parse.quote("https://w3id.org/oversight/id/graph/gsp", safe="")
    path = f"/store?graph={target}"
    first = f"<{kasei(7)}> <{RDF_TYPE}> <http://xmlns.com/foaf/0.1/Document> .\n".encode()
    second = f"<{kasei(8)}> <{RDF_TYPE}> <http://xmlns.com/foaf/0.1/Document> .\n".encode()
    assert send(server, "PUT", path, {"Content-Type": "application/n-triples"}, first).status == 201
    got = send(server, "GET", path, {"Accept": "application/n-triples"}, None)
    assert (got.status, got.media, got.body) == (200, "application/n-triples", first)
    assert send(server, "POST", path, {"Content-Type": "application/n-triples"}, second).status == 200
    merged = send(server, "GET", path, {"Accept": "text/turtle"}, None)
    assert merged.media == "text/turtle"
    assert {str(s) for s in rdflib.Graph().parse(data=merged.body, format="turtle").subjects()} == {kasei(7), kasei(8)}
    # the graph the store wrote is what a query reads under the same name
    ask = f"ASK {{ GRAPH <https://w3id.org/oversight/id/graph/gsp> {{ <{kasei(8)}> a ?t }} }}"
    asked = send(server, "GET", "/sparql?query=" + urllib.parse.quote(ask), {}, None)
    assert check_boolean(asked) is True
    assert send(server, "DELETE", path, {}, None).status == 204
    assert send(server, "GET", path, {}, None).status == 404
