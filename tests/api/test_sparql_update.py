"""``POST /sparql/update``: stewards change one source with SPARQL Update, validated and all or nothing."""

from __future__ import annotations

from typing import Any

import pytest

OFFICERS = "SELECT (COUNT(*) AS ?n) WHERE { ?o a ov:Officer }"


@pytest.fixture
def setup(secured: tuple[Any, dict[str, str]]) -> tuple[Any, dict[str, dict[str, str]]]:
    app, texts = secured
    return app.test_client(), {role: {"Authorization": f"Bearer {texts[role]}", "Accept": "application/json"}
                               for role in ("investigator", "steward")}


def _count(client: Any, headers: dict[str, str]) -> int:
    answer = client.get("/sparql", query_string={"query": OFFICERS},
                        headers={**headers, "Accept": "application/sparql-results+json"})
    return int(answer.get_json()["results"]["bindings"][0]["n"]["value"])


NEW_OFFICER = """INSERT DATA {
  <https://w3id.org/oversight/id/officer/zz-new> a ov:Officer ; ov:identifier "Z" ; ov:pseudonym "Officer Z" ;
    ov:source <https://w3id.org/oversight/id/source-document/%s> .
}"""


def test_a_steward_inserts_and_the_change_is_a_new_validated_version(setup: tuple[Any, dict[str, str]]) -> None:
    client, headers = setup
    before = _count(client, headers["investigator"])
    document = client.get("/sparql", query_string={
        "query": "SELECT ?d WHERE { ?d a ov:SourceDocument } LIMIT 1"},
        headers={**headers["investigator"], "Accept": "text/csv"}).get_data(as_text=True).split()[1]
    text = NEW_OFFICER % document.rsplit("/", 1)[1]
    version = client.get("/health").get_json()["data_version"]
    done = client.post("/sparql/update?source=charing-cross", data=text,
                       headers={**headers["steward"], "Content-Type": "application/sparql-update"})
    assert done.status_code == 200, done.get_data(as_text=True)
    assert done.get_json()["replaced"] is True and done.get_json()["data_version"] != version
    assert _count(client, headers["investigator"]) == before + 1
    source = client.get("/sources/charing-cross", headers=headers["investigator"]).get_json()
    assert source["loaded_by"] == "test steward" and source["origin"] == "SPARQL Update (/sparql/update)"
    assert any(o["officer"]["label"] == "Officer Z" for o in client.get(
        "/officers?limit=100", headers=headers["investigator"]).get_json()["items"])  # linkage facts follow


@pytest.mark.parametrize(("body", "status", "words"), [
    ("INSERT DATA { <https://example.org/x> a ov:Officer }", 400, "invalid"),  # breaks the shapes
    ("LOAD <http://127.0.0.1:9/data.ttl>", 400, "LOAD is not allowed"),
    ("INSERT { ?s ?p ?o } WHERE { SERVICE <http://127.0.0.1:9/sparql> { ?s ?p ?o } }", 400, "SERVICE"),
    ("INSERT DATA { GRAPH <urn:x> { <urn:a> <urn:b> <urn:c> } }", 400, "GRAPH, WITH, USING and graph IRIs are not"),
    # a graph named anywhere is refused before it runs, even where nothing would be written to it
    ("WITH <urn:x> DELETE { ?s ?p ?o } WHERE { ?s <urn:nothing> ?o }", 400, "GRAPH, WITH, USING and graph IRIs are not"),
    ("DELETE { ?s ?p ?o } USING <urn:x> WHERE { ?s <urn:nothing> ?o }", 400, "GRAPH, WITH, USING and graph IRIs are not"),
    ("DELETE { ?s ?p ?o } WHERE { GRAPH ?g { ?s <urn:nothing> ?o } }", 400, "GRAPH, WITH, USING and graph IRIs are not"),
    ("CLEAR GRAPH <urn:x>", 400, "GRAPH, WITH, USING and graph IRIs are not"),
    ("COPY DEFAULT TO <urn:x>", 400, "GRAPH, WITH, USING and graph IRIs are not"),
    ("DELETE WHERE { ?s ?p ?o", 400, "syntax error at line 1"),
    ("", 400, "empty"),
])
def test_bad_updates_change_nothing(setup: tuple[Any, dict[str, str]], body: str, status: int, words: str) -> None:
    client, headers = setup
    version = client.get("/health").get_json()["data_version"]
    answer = client.post("/sparql/update?source=charing-cross", data=body,
                         headers={**headers["steward"], "Content-Type": "application/sparql-update"})
    assert answer.status_code == status and answer.mimetype == "application/problem+json"
    assert words.lower() in answer.get_data(as_text=True).lower()
    assert client.get("/health").get_json()["data_version"] == version


def test_updates_need_a_steward_and_the_setting(setup: tuple[Any, dict[str, str]]) -> None:
    client, headers = setup
    update = {"update": "DELETE WHERE { ?s ov:pseudonym ?p }"}
    assert client.post("/sparql/update?source=charing-cross", data=update,
                       headers=headers["investigator"]).status_code == 403
    assert client.post("/sparql", data=update, headers=headers["investigator"]).status_code == 400  # read-only
    assert client.post("/sparql/update", data=update, headers=headers["steward"]).status_code == 400  # no source
    client.application.config["SPARQL_UPDATE"] = False
    off = client.post("/sparql/update?source=charing-cross", data=update, headers=headers["steward"])
    assert off.status_code == 403 and "OVERSIGHT_SPARQL_UPDATE" in off.get_json()["detail"]
