"""The query page at ``GET /sparql`` (Accept: text/html), its examples and its editor's installation.

The page in a real browser is in ``test_browser.py``.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
import tarfile
from pathlib import Path
from typing import Any

import pytest

from api import editor
from graph.queries import all_saved

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture
def client(bundled_client: Any) -> Any:
    return bundled_client


def _config(page: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="sparql-config">(.*?)</script>', page, re.S)
    assert found, "the page carries its configuration"
    return json.loads(found.group(1))


def test_a_browser_gets_the_page_and_a_client_the_service_description(client: Any) -> None:
    page = client.get("/sparql", headers={"Accept": BROWSER})
    assert page.mimetype == "text/html" and page.headers["Vary"] == "Accept"
    assert "script-src" not in page.headers["Content-Security-Policy"]  # scripts only from 'self'
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    for accept in ("*/*", "text/turtle", "text/turtle, text/html;q=0.5"):
        described = client.get("/sparql", headers={"Accept": accept})
        assert described.mimetype == "text/turtle", accept
        assert b"sd:Service" in described.data


def test_the_page_prefills_every_standard_prefix_and_offers_each_saved_query(client: Any) -> None:
    config = _config(client.get("/sparql", headers={"Accept": BROWSER}).get_data(as_text=True))
    assert config["endpoint"] == "/sparql"
    for prefix in ("rdf", "rdfs", "owl", "xsd", "skos", "foaf", "org", "prov", "dcterms", "sioc", "time", "ov"):
        assert re.search(rf"^PREFIX {prefix}: <", config["query"], re.M), prefix
    assert set(config["examples"]) == set(all_saved())
    first = client.post("/sparql", data={"query": config["query"]}, headers={"Accept": "text/csv"})
    officers = client.get("/stats").json["classes"]["https://w3id.org/oversight/ontology#Officer"]
    assert first.status_code == 200 and len(first.data.splitlines()) == 1 + min(25, officers)  # runs as it stands


def _rows(response: Any) -> list[tuple[str, ...]]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return sorted(tuple(r) for r in csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_each_example_answers_what_its_saved_query_answers(client: Any) -> None:
    """The examples bind the parameters in the text; /queries binds them as terms: same rows."""
    examples = _config(client.get("/sparql", headers={"Accept": BROWSER}).get_data(as_text=True))["examples"]
    for name, query in all_saved().items():
        text = examples[name]["text"]
        binds = dict(re.findall(r"BIND\((\S+) AS \?(\w+)\)", text))
        params = {p: b.strip("<>") for b, p in binds.items()}
        assert set(params) == {p for p, _, _ in query.params} - ({"statement"} if name == "statement-sources" else set())
        accept = {"Accept": "text/csv" if "SELECT" in text.split("WHERE")[0] else "application/n-triples"}
        direct = client.post("/sparql", data={"query": text}, headers=accept)
        if name == "statement-sources":  # no example value: the variable stays open, a saved run needs one
            assert len(_rows(direct)) > 100
            continue
        outcome = params.get("outcome")
        if outcome:  # the saved query takes the concept's notation
            params["outcome"] = "dismissal"
        saved = client.get(f"/queries/{name}", query_string=params, headers=accept)
        # more than the header: an IRI parameter's example is the entity most statements point to
        assert _rows(direct) == _rows(saved) and len(_rows(direct)) > 1, name


def test_without_the_editor_the_page_is_a_plain_form_that_works(client: Any, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(client.application.config, "EDITOR_DIR", str(tmp_path / "none"))
    page = client.get("/sparql", headers={"Accept": BROWSER}).get_data(as_text=True)
    assert '<form method="post" action="/sparql" id="plain">' in page and "yasgui.min.js" not in page
    assert client.get(f"/editor/{editor.VERSION}/yasgui.min.js").status_code == 404
    query = re.search(r'<textarea name="query"[^>]*>(.*?)</textarea>', page, re.S).group(1)  # type: ignore[union-attr]
    answer = client.post("/sparql", data={"query": query.replace("&lt;", "<").replace("&gt;", ">"), "format": "csv"})
    assert answer.status_code == 200 and answer.mimetype == "text/csv"


def _tarball(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _pin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(editor, "INTEGRITY", "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode())


def test_the_editor_is_taken_only_when_it_matches_its_pinned_integrity(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    good = _tarball({"package/build/yasgui.min.js": b"js", "package/build/yasgui.min.css": b"css",
                     "package/../../outside.js": b"x", "package/build/yasgui.esm.js": b"unused"})
    with pytest.raises(editor.EditorError, match="integrity"):
        editor.extract(good, tmp_path)  # the real pin does not match this archive
    assert not editor.installed(tmp_path) and not any(tmp_path.iterdir())
    _pin(monkeypatch, good)
    folder = editor.extract(good, tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["yasgui.min.css", "yasgui.min.js"]
    assert not (tmp_path.parent / "outside.js").exists() and editor.installed(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder.name]  # no scratch left behind
    lacking = _tarball({"package/build/yasgui.min.js": b"js"})
    _pin(monkeypatch, lacking)
    with pytest.raises(editor.EditorError, match="lacks package/build/yasgui.min.css"):
        editor.extract(lacking, tmp_path / "other")
    assert not editor.installed(tmp_path / "other")


def test_an_unreachable_registry_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(editor.EditorError, match="could not download http://127.0.0.1:9/"):
        editor.install(tmp_path, "http://127.0.0.1:9", timeout=5)
    assert not editor.installed(tmp_path)
