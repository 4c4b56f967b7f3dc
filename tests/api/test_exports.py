"""``/export/...`` over HTTP and ``oversight export``: streamed bodies, manifests, conditional requests."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

from api import create_app
from api.database import close
from graph.ingest.cases import bundled_path


@pytest.fixture
def client(bundled_client: Any) -> Any:
    return bundled_client


def test_an_export_links_to_a_manifest_that_describes_it(client: Any) -> None:
    response = client.get("/export/officers.graphml?kinds=co-accused,failed-to-report&min_weight=1")
    assert response.status_code == 200 and response.mimetype == "application/graphml+xml"
    assert response.headers["Content-Disposition"] == 'attachment; filename="officers.graphml"'
    link = response.headers["Link"]
    assert link.startswith("</export/officers.manifest.json?format=graphml&kinds=") and 'rel="describedby"' in link
    described = client.get(link[1:link.index(">")]).json
    assert described["sha256"] == hashlib.sha256(response.data).hexdigest()
    assert described["parameters"] == {"kinds": "co-accused,failed-to-report", "min_weight": "1"}
    graph = nx.read_graphml(io.BytesIO(response.data))
    assert described["counts"]["nodes"] == {"officer": graph.number_of_nodes()}
    assert sum(described["counts"]["edges"].values()) >= graph.number_of_edges()
    assert set(described["counts"]["edges"]) <= {"co-accused", "failed-to-report"}


def test_every_format_of_every_view_answers(client: Any) -> None:
    ids = {o["officer"]["label"]: o["officer"]["id"] for o in client.get("/officers?limit=100").json["items"]}
    inv = client.get("/investigations").json["items"][0]["investigation"]["id"]
    specs = ["full", "officers", f"officer/{ids['Officer A']}", f"investigation/{inv}"]
    for spec in specs:
        for fmt in ("graphml", "gexf", "csv", "cytoscape.json", "ttl", "nt", "nq", "trig", "jsonld"):
            response = client.get(f"/export/{spec}.{fmt}")
            assert response.status_code == 200 and response.data, (spec, fmt)
    with zipfile.ZipFile(io.BytesIO(client.get("/export/full.csv").data)) as archive:
        assert sorted(archive.namelist()) == ["edges.csv", "manifest.json", "nodes.csv"]
        assert json.loads(archive.read("manifest.json"))["view"] == "full"


def test_exports_are_conditional_and_stable(client: Any) -> None:
    first = client.get("/export/full.gexf")
    assert client.get("/export/full.gexf").data == first.data
    assert client.get("/export/full.gexf", headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    head = client.head("/export/full.gexf")
    assert head.status_code == 200 and head.headers["ETag"] == first.headers["ETag"] and head.data == b""


@pytest.mark.parametrize("url, parameter", [
    ("/export/everything.graphml", "view"),
    ("/export/officers.xlsx", "format"),
    ("/export/full.graphml?kinds=co-accused", "kinds"),
    ("/export/officers.gexf?flavour=yed", "flavour"),
    ("/export/officer.graphml", "view"),
    ("/export/officers/x.graphml", "view"),
    ("/export/officer/../../etc/passwd.graphml", "view"),
    ("/export/officer/a.graphml?hops=9", "hops"),
    ("/export/officers/.graphml", "view"),
])
def test_bad_exports_are_problems(client: Any, url: str, parameter: str) -> None:
    response = client.get(url)
    assert response.status_code == 400 and response.mimetype == "application/problem+json", url
    assert response.json["parameter"] == parameter


def test_unknown_entities_are_404(client: Any) -> None:
    response = client.get("/export/investigation/0000.graphml")
    assert response.status_code == 404 and response.mimetype == "application/problem+json"


def test_the_cli_writes_an_export_and_its_manifest(tmp_path: Path) -> None:
    env = {**os.environ, "OVERSIGHT_DATA_DIR": str(tmp_path / "store")}
    loaded = subprocess.run([sys.executable, "-m", "api", "load", str(bundled_path()), "--source", "cc"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0, loaded.stderr
    out = tmp_path / "officers.graphml"
    done = subprocess.run([sys.executable, "-m", "api", "export", "officers", "--format", "graphml", "-o", str(out),
                           "--param", "kinds=co-accused"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    described = json.loads((tmp_path / "officers.graphml.manifest.json").read_text())
    assert described["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert nx.read_graphml(out).number_of_nodes() == 18
    bad = subprocess.run([sys.executable, "-m", "api", "export", "officers", "-o", str(tmp_path / "x"),
                          "--param", "kinds=friends"], env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "kinds" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "x").exists()
    tricky = subprocess.run([sys.executable, "-m", "api", "export", "officers.ttl#", "-o", str(tmp_path / "y")],
                            env=env, capture_output=True, text=True, timeout=120)
    assert tricky.returncode == 1 and not (tmp_path / "y").exists()  # not Turtle under another name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["officers.graphml", "officers.graphml.manifest.json",
                                                          "store"]  # no partial files left


def test_exports_stream_through_a_real_server(server: str) -> None:
    with urllib.request.urlopen(server + "/export/officers.graphml") as response:
        assert response.headers["Content-Type"].startswith("application/graphml+xml")
        assert response.headers.get("Content-Length") is None  # streamed, not buffered
        data = response.read()
    assert nx.read_graphml(io.BytesIO(data)).number_of_nodes() == 18


def test_min_weight_keeps_the_heavier_edges(client: Any) -> None:
    response = client.get("/export/officers.graphml?min_weight=2")
    assert response.status_code == 200
    graph = nx.read_graphml(io.BytesIO(response.data))
    assert graph.number_of_edges() > 0 and all(d["weight"] >= 2 for _, _, d in graph.edges(data=True))
    described = client.get("/export/officers.manifest.json?format=graphml&min_weight=2").json
    assert (described["counts"]["nodes_total"], described["counts"]["edges_total"]) == (
        graph.number_of_nodes(), graph.number_of_edges())


AWKWARD = 'Tab\there, line\nend, crlf\r\nand "quotes" <&> -- done'


def test_awkward_text_survives_graphml_and_gexf(settings: dict[str, Any], tmp_path: Path) -> None:
    from lxml import etree

    app = create_app({**settings, "TESTING": True, "AUTH": False})
    try:
        c = app.test_client()
        body = (f'@prefix ov: <https://w3id.org/oversight/ontology#> .\n'
                f'<https://example.org/doc> a ov:SourceDocument ; ov:identifier "doc" ; ov:title "t" .\n'
                f'<https://example.org/off--x> a ov:Officer ; ov:identifier "x" ; ov:source <https://example.org/doc> ;'
                f' ov:pseudonym {json.dumps(AWKWARD)} .\n')
        assert c.put("/sources/awkward", data=body.encode(), content_type="text/turtle").status_code == 201
        graphml = c.get("/export/officer/off--x.graphml").data
        xsd = Path(__file__).resolve().parents[3] / "shared" / "graphml-xsd" / "graphml.xsd"
        if xsd.is_file():
            schema = etree.XMLSchema(etree.parse(str(xsd), etree.XMLParser(no_network=True)))
            assert schema.validate(etree.fromstring(graphml))
        read = nx.read_graphml(io.BytesIO(graphml))
        assert [d["label"] for _, d in read.nodes(data=True)] == [AWKWARD]
        path = tmp_path / "x.gexf"
        path.write_bytes(c.get("/export/officer/off--x.gexf").data)
        assert [d["label"] for _, d in nx.read_gexf(path, version="1.3").nodes(data=True)] == [AWKWARD]
    finally:
        close(app)


def test_a_saved_construct_query_exports_as_a_graph(client: Any) -> None:
    from lxml import etree

    inquiry = client.get("/investigations").json["items"][0]["inquiry"]["id"]
    response = client.get(f"/export/query/inquiry-network.graphml?inquiry={inquiry}")
    assert response.status_code == 200
    xsd = Path(__file__).resolve().parents[3] / "shared" / "graphml-xsd" / "graphml.xsd"
    if xsd.is_file():
        assert etree.XMLSchema(etree.parse(str(xsd))).validate(etree.fromstring(response.data))
    graph = nx.read_graphml(io.BytesIO(response.data))
    kinds = {d["kind"] for _, _, d in graph.edges(data=True)}
    assert kinds == {"inquiry", "investigation", "allegation", "officer"}
    assert sum(1 for _, d in graph.nodes(data=True) if d["type"] == "officer") == 14  # the officers with findings
    turtle = client.get(f"/export/query/inquiry-network.ttl?inquiry={inquiry}").data
    assert turtle == client.get(f"/queries/inquiry-network?inquiry={inquiry}", headers={"Accept": "text/turtle"}).data
    assert client.get("/export/query/officer-findings.graphml?officer=x").status_code == 400  # a SELECT: no graph
    assert client.get("/export/query/inquiry-network.graphml").json["parameter"] == "inquiry"
