"""``/store``: the Graph Store HTTP Protocol over the sources' stable graph names, with roles, all or nothing."""

from __future__ import annotations

import json
from typing import Any

import pyoxigraph as ox
import pytest
import rdflib

BASE = "https://w3id.org/oversight/id/"
OV = "https://w3id.org/oversight/ontology#"
DOC = f"""@prefix ov: <{OV}> .
<https://example.org/d> a ov:SourceDocument ; ov:identifier "d" ; ov:title "T" ."""
MORE = f"""@prefix ov: <{OV}> .
<https://example.org/e> a ov:SourceDocument ; ov:identifier "e" ; ov:title "U" ."""


def _bearer(text: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {text}"}


def _count(client: Any, graph: str, headers: dict[str, str]) -> int:
    query = f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}"
    return int(client.get("/sparql", query_string={"query": query}, headers=headers).json["results"]["bindings"][0]["n"]["value"])


def test_put_post_get_delete_a_source_graph_by_its_stable_name(client: Any) -> None:
    graph = BASE + "graph/doc"
    created = client.put("/store", query_string={"graph": graph}, data=DOC, content_type="text/turtle")
    assert created.status_code == 201 and created.json["graph"] == graph
    assert client.get("/sources/doc").json["origin"] == f"PUT /store?graph={graph}"
    got = client.get("/store", query_string={"graph": graph})
    assert got.status_code == 200 and got.mimetype == "text/turtle" and got.headers["Vary"] == "Accept"
    assert len(rdflib.Graph().parse(data=got.data, format="turtle")) == 3
    # POST merges: a new version holding both
    merged = client.post("/store", query_string={"graph": graph}, data=MORE, content_type="text/turtle")
    assert merged.status_code == 200 and merged.json["replaced"] is True
    assert _count(client, graph, {}) == 6
    # PUT replaces
    assert client.put("/store", query_string={"graph": graph}, data=MORE, content_type="text/turtle").status_code == 200
    assert _count(client, graph, {}) == 3
    for media, fmt in (("application/n-triples", "nt"), ("application/ld+json", "json-ld"),
                       ("application/rdf+xml", "xml"), ("text/turtle", "turtle")):
        response = client.get("/store", query_string={"graph": graph}, headers={"Accept": media})
        assert response.mimetype == media
        assert {str(o) for o in rdflib.Graph().parse(data=response.data, format=fmt).objects()} >= {"e", "U"}, media
    assert client.head("/store", query_string={"graph": graph}).status_code == 200
    assert client.delete("/store", query_string={"graph": graph}).status_code == 204
    assert client.get("/store", query_string={"graph": graph}).status_code == 404
    assert client.delete("/store", query_string={"graph": graph}).status_code == 404


def test_the_default_graph_and_the_metadata_graph_are_readable_and_never_writable(client: Any) -> None:
    client.put("/store", query_string={"graph": BASE + "graph/doc"}, data=DOC, content_type="text/turtle")
    default = rdflib.Graph().parse(data=client.get("/store?default", headers={"Accept": "application/n-triples"}).data,
                                   format="nt")
    assert len(default) == 3
    meta = client.get("/store", query_string={"graph": BASE + "graph/meta"}, headers={"Accept": "application/n-triples"})
    assert meta.status_code == 200 and f"<{BASE}graph/doc>" in meta.get_data(as_text=True)
    assert f"{BASE}graph/doc/" not in meta.get_data(as_text=True)  # the current run's graph under its stable name
    for target in ({"default": ""}, {"graph": BASE + "graph/meta"}, {"graph": BASE + "graph/ontology"},
                   {"graph": "https://example.org/elsewhere"}, {"graph": BASE + "graph/Bad_Name"},
                   {"graph": BASE + "graph/doc/123"}, {"graph": BASE + "graph/doc\n"}, {"graph": BASE + "graph/doc\r\n"}):
        for method in (client.put, client.post, client.delete):
            response = method("/store", query_string=target, data=MORE, content_type="text/turtle")
            assert response.status_code == 400 and response.mimetype == "application/problem+json", (method, target)
    assert len(rdflib.Graph().parse(data=client.get("/store?default", headers={"Accept": "application/n-triples"}).data,
                                    format="nt")) == 3
    # a run's own graph, or a graph the service does not hold, is not a graph of the store
    run = client.get("/sources/doc").json["run"]
    for graph in (run, BASE + "graph/doc/" + run.rsplit("/", 1)[1], "https://example.org/elsewhere",
                  BASE + "graph/ontology"):
        assert client.get("/store", query_string={"graph": graph}).status_code == 404, graph


@pytest.mark.parametrize("query", [{}, {"graph": [BASE + "graph/a", BASE + "graph/b"]},
                                   {"graph": BASE + "graph/a", "default": ""}])
def test_a_request_names_exactly_one_graph(client: Any, query: dict[str, Any]) -> None:
    response = client.get("/store", query_string=query)
    assert response.status_code == 400 and response.json["detail"].startswith("parameter 'graph'")


def test_a_bad_body_loads_nothing_and_says_why(client: Any) -> None:
    graph = BASE + "graph/doc"
    client.put("/store", query_string={"graph": graph}, data=DOC, content_type="text/turtle")
    before = client.get("/store", query_string={"graph": graph}, headers={"Accept": "application/n-triples"}).data
    for method in (client.put, client.post):
        broken = method("/store", query_string={"graph": graph}, data=b"<a> <b> ", content_type="text/turtle")
        assert broken.status_code == 400 and broken.mimetype == "application/problem+json"
        invalid = method("/store", query_string={"graph": graph}, content_type="text/turtle",
                         data=f'@prefix ov: <{OV}> . <https://example.org/x> a ov:Officer ; ov:identifier 5 .')
        assert invalid.status_code == 400 and invalid.json["issues"]
        assert {issue["file"] for issue in invalid.json["issues"]} == {"body.ttl"}  # the body, not the current copy
        assert method("/store", query_string={"graph": graph}, data=b"x", content_type="text/plain").status_code == 415
    after = client.get("/store", query_string={"graph": graph}, headers={"Accept": "application/n-triples"}).data
    assert sorted(after.splitlines()) == sorted(before.splitlines())
    assert client.get("/store", query_string={"graph": graph}, headers={"Accept": "text/csv"}).status_code == 406


def test_roles_readers_get_nothing_investigators_read_stewards_write(secured: tuple[Any, dict[str, str]]) -> None:
    app, tokens = secured
    client = app.test_client()
    graph = BASE + "graph/charing-cross"
    assert client.get("/store", query_string={"graph": graph}).status_code == 401
    assert client.get("/store", query_string={"graph": graph}, headers=_bearer(tokens["reader"])).status_code == 403
    got = client.get("/store", query_string={"graph": graph}, headers=_bearer(tokens["investigator"]))
    assert got.status_code == 200
    statements = ox.parse(got.data, format=ox.RdfFormat.TURTLE)
    assert sum(1 for _ in statements) == _count(client, graph, _bearer(tokens["investigator"]))
    for role in ("reader", "investigator"):
        for method in (client.put, client.post, client.delete):
            response = method("/store", query_string={"graph": BASE + "graph/doc"}, data=DOC,
                              content_type="text/turtle", headers=_bearer(tokens[role]))
            assert response.status_code == 403, (role, method)
    made = client.put("/store", query_string={"graph": BASE + "graph/doc"}, data=DOC, content_type="text/turtle",
                      headers=_bearer(tokens["steward"]))
    assert made.status_code == 201 and json.loads(made.data)["source"] == "doc"


def test_a_full_disk_while_writing_a_graph_out_is_507_and_leaves_no_file(client: Any, monkeypatch: pytest.MonkeyPatch,
                                                                        tmp_path: Any) -> None:
    import errno
    import tempfile

    import api.graphstore

    client.put("/store", query_string={"graph": BASE + "graph/doc"}, data=DOC, content_type="text/turtle")
    real = ox.serialize

    def full(triples: Any, out: Any, fmt: Any, **kwargs: Any) -> None:
        real(list(triples)[:1], out, fmt, **kwargs)  # some bytes written, then the volume is full
        raise OSError(errno.ENOSPC, "No space left on device")

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setattr(api.graphstore.ox, "serialize", full)
    response = client.get("/store?default")
    assert response.status_code == 507 and response.mimetype == "application/problem+json"
    assert list(scratch.iterdir()) == []
