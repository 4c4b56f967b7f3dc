"""The HTTP layer: health, sources (PUT/DELETE with validation), problem documents, OpenAPI."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from api.home import openapi_document
from tests.conftest import MINI

PROBLEM = "application/problem+json"


def zipped(folder: Path, extra: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.glob("*.csv")):
            archive.write(path, path.name)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_health_reports_the_data_version(client: Any) -> None:
    body = client.get("/health").get_json()
    assert body["status"] == "ok" and body["store"] == "oxigraph" and len(body["data_version"]) == 16


def test_put_a_zip_of_csv_files_loads_a_source_and_changes_the_version(client: Any) -> None:
    before = client.get("/health").get_json()["data_version"]
    response = client.put("/sources/mini?title=Fictional", data=zipped(MINI), content_type="application/zip")
    assert response.status_code == 201, response.get_data(as_text=True)
    report = response.get_json()
    assert report["source"] == "mini" and report["triples"] > 100 and report["data_version"] != before
    source = client.get("/sources/mini").get_json()
    assert source["title"] == "Fictional" and source["origin"] == "PUT /sources/mini"
    again = client.put("/sources/mini", data=zipped(MINI), content_type="application/zip")
    assert again.status_code == 200 and again.get_json()["replaced"] is True


def test_put_turtle_then_delete(client: Any) -> None:
    turtle = b"""@prefix ov: <https://w3id.org/oversight/ontology#> .
    <https://example.org/d> a ov:SourceDocument ; ov:identifier "d" ; ov:title "T" ."""
    assert client.put("/sources/doc", data=turtle, content_type="text/turtle").status_code == 201
    assert [s["name"] for s in client.get("/sources").get_json()["sources"]] == ["doc", "ontology"]
    assert client.delete("/sources/doc").status_code == 204
    assert client.get("/sources/doc").status_code == 404


def test_invalid_upload_is_a_problem_listing_every_issue_and_loads_nothing(client: Any, tmp_path: Path) -> None:
    before = client.get("/sources").get_json()
    folder = tmp_path / "bad"
    folder.mkdir()
    for path in MINI.glob("*.csv"):
        (folder / path.name).write_text(path.read_text().replace(",PS,", ",SGT,").replace("2022-03-04", "2022-13-04"))
    response = client.put("/sources/mini", data=zipped(folder), content_type="application/zip")
    assert response.status_code == 400 and response.mimetype == PROBLEM
    problem = response.get_json()
    assert problem["type"].endswith("/invalid-input") and problem["instance"] == "/sources/mini"
    found = {(i["file"], i["line"], i["field"]) for i in problem["issues"]}
    assert found == {("postings.csv", 3, "rank"), ("findings.csv", 2, "date")}
    assert client.get("/sources").get_json() == before


@pytest.mark.parametrize(("name", "data"), [
    ("../officers.csv", b"key\n"),
    ("nested/officers.csv", b"key\n"),
    ("evil.sh", b"#!/bin/sh\n"),
])
def test_zip_members_other_than_the_format_files_are_refused(client: Any, name: str, data: bytes) -> None:
    response = client.put("/sources/x", data=zipped(MINI, {name: data}), content_type="application/zip")
    assert response.status_code == 400 and response.mimetype == PROBLEM
    assert any(i["rule"] == "zip member" for i in response.get_json()["issues"])


def test_errors_are_problem_documents_never_tracebacks(client: Any) -> None:
    cases = [
        (client.put("/sources/x", data=b"x", content_type="text/plain"), 415),
        (client.put("/sources/x", data=b"not a zip", content_type="application/zip"), 400),
        (client.put("/sources/x", data=b"<a> <b> .", content_type="text/turtle"), 400),
        (client.put("/sources/Bad%20Name", data=b"", content_type="text/turtle"), 400),
        (client.put("/sources/ontology", data=b"", content_type="text/turtle"), 400),
        (client.delete("/sources/nothing"), 404),
        (client.delete("/sources/ontology"), 404),
        (client.get("/no/such/route"), 404),
        (client.post("/health"), 405),
    ]
    for response, status in cases:
        assert response.status_code == status
        assert response.mimetype == PROBLEM
        body = response.get_json()
        assert body["status"] == status and body["title"]
        text = response.get_data(as_text=True)
        assert "Traceback" not in text and "/work/" not in text and ".py" not in text


def test_method_not_allowed_says_which_methods(client: Any) -> None:
    response = client.post("/health")
    assert "GET" in response.headers["Allow"]


def test_oversized_bodies_are_refused(settings: dict[str, Any]) -> None:
    from api import create_app
    from api.database import close

    app = create_app({**settings, "MAX_UPLOAD_BYTES": 1000, "AUTH": False})
    try:
        response = app.test_client().put("/sources/big", data=b"#" * 5000, content_type="text/turtle")
        assert response.status_code == 413 and response.mimetype == PROBLEM
    finally:
        close(app)


def test_home_page_says_what_is_loaded_and_links_the_api(client: Any) -> None:
    client.put("/sources/mini", data=zipped(MINI), content_type="application/zip")
    page = client.get("/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "mini" in html and "ov:Officer" in html and "/openapi.json" in html
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"


def test_openapi_document_is_valid(client: Any) -> None:
    document = client.get("/openapi.json").get_json()
    validate(document)
    assert document == openapi_document()
    assert client.get("/docs").status_code == 200


def test_every_route_is_in_the_openapi_document(app: Any) -> None:
    documented = {(path, method.upper()) for path, ops in openapi_document()["paths"].items()
                  for method in ops if method != "parameters"}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(rule))  # <path:spec> is {spec}
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, f"{method} {path} is not in api/openapi.json"


def test_stats_count_classes_of_loaded_sources(client: Any) -> None:
    client.put("/sources/mini", data=zipped(MINI), content_type="application/zip")
    stats = client.get("/stats").get_json()
    assert stats["classes"]["https://w3id.org/oversight/ontology#Officer"] == 3
    assert set(stats["sources"]) == {"mini", "ontology"}


def test_answer_schemas_in_the_openapi_document_match_the_code() -> None:
    from api.schemas import schemas

    documented = openapi_document()["components"]["schemas"]
    for name, schema in schemas().items():
        assert documented.get(name) == schema, f"stale schema {name}: python -m api.schemas"


INJECTED = ('x" .\n<https://w3id.org/oversight/id/officer/evil> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> '
            '<https://w3id.org/oversight/ontology#Officer> .\n<urn:a> <urn:b> "')


@pytest.mark.parametrize("text", [INJECTED, INJECTED.replace("\n", "\r"), INJECTED.replace('"', '\\"'),
                                  INJECTED.replace("\n", "\u2028"), INJECTED + "\\u0022 . \\"])
def test_uploaded_cells_cannot_write_statements_of_their_own(client: Any, tmp_path: Path, text: str) -> None:
    """Cells are written as N-Triples for Oxigraph's parser: a cell that closes its literal and writes statements
    (with line breaks, carriage returns, escaped quotes, Unicode line separators or escape sequences) stays one
    literal with exactly that value, in a pseudonym as in a description, and adds no officer."""
    folder = tmp_path / "hostile"
    folder.mkdir()
    extra = {"investigations.csv": ["evil", "Title", "open", "psd", "", "", text, "2022", "", "reported", "doc1"],
             "officers.csv": ["X7", text, "force", "doc1"]}
    for path in MINI.glob("*.csv"):
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        with (folder / path.name).open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows(rows + ([extra[path.name]] if path.name in extra else []))
    response = client.put("/sources/hostile", data=zipped(folder), content_type="application/zip")
    assert response.status_code == 201, response.get_data(as_text=True)

    def values(query: str) -> list[str]:
        answer = client.get("/sparql", query_string={"query": query},
                            headers={"Accept": "application/sparql-results+json"})
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return [next(iter(b.values()))["value"] for b in answer.get_json()["results"]["bindings"]]

    assert len(values("SELECT ?o WHERE { ?o a ov:Officer }")) == 4  # X1, X2, X3 and X7: no "evil" officer
    assert values("SELECT ?s WHERE { ?s ?p ?o FILTER(CONTAINS(STR(?s), 'evil') || STR(?s) = 'urn:a') }") == []
    assert text.strip() in values("SELECT ?d WHERE { ?i ov:description ?d }")
    assert text.strip() in values("SELECT ?p WHERE { ?o ov:pseudonym ?p }")
