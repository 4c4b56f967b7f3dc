"""Exports: schema-valid GraphML that independent readers load with types intact; GEXF, CSV, Cytoscape
JSON and RDF that round-trip; stable bytes."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import igraph
import networkx as nx
import pytest
import rdflib
import rustworkx
from lxml import etree
from pyld import jsonld
from rdflib.compare import isomorphic

from graph import Database
from graph.export.formats import EXPORT_FORMATS, body, manifest, view_quads
from graph.export.views import ExportGraph, view
from graph.iri import local_id
from graph.linkage.facts import Facts, facts

XSD = Path(__file__).resolve().parents[3] / "shared" / "graphml-xsd" / "graphml.xsd"


@pytest.fixture(scope="module")
def bundled(bundled_db: Database) -> Facts:
    return facts(bundled_db)


def _one(f: Facts, cls: str, label: str) -> str:
    return next(x for x in f.of_type(cls) if f.label(x) == label)


def views(f: Facts) -> dict[str, ExportGraph]:
    """Every kind of view on the bundled case."""
    return {
        "full": view(f, "full"),
        "officers": view(f, "officers"),
        "officer": view(f, "officer", entity=_one(f, "Officer", "Officer C"), hops=2),
        "investigation": view(f, "investigation", entity=_one(f, "Investigation", "I4")),
        "chat-group": view(f, "chat-group", entity=next(iter(f.of_type("ChatGroup")))),
        "inquiry": view(f, "inquiry", entity=next(iter(f.of_type("Inquiry")))),
    }


def text(export: ExportGraph, fmt: str, **kw: Any) -> bytes:
    return b"".join(body(export, EXPORT_FORMATS[fmt], **kw))


@pytest.fixture(scope="module")
def schema() -> Any:
    if not XSD.is_file():
        pytest.skip("../shared/graphml-xsd is absent")
    return etree.XMLSchema(etree.parse(str(XSD), etree.XMLParser(no_network=True)))


def test_every_graphml_view_is_valid_against_the_schema(bundled: Facts, schema: Any) -> None:
    for name, export in views(bundled).items():
        document = etree.fromstring(text(export, "graphml"), etree.XMLParser(no_network=True, resolve_entities=False))
        assert schema.validate(document), (name, schema.error_log.last_error)
        keys = document.findall("{http://graphml.graphdrawing.org/xmlns}key")
        assert all(k.get("for") in ("node", "edge") and k.get("attr.type") != "long" for k in keys)
        assert "id" not in {k.get("attr.name") for k in keys}
        names = [(k.get("for"), k.get("attr.name")) for k in keys]
        assert len(names) == len(set(names))  # one type per name
        graph = document.find("{http://graphml.graphdrawing.org/xmlns}graph")
        tags = [child.tag.rsplit("}", 1)[1] for child in graph]
        assert tags == sorted(tags, key=lambda t: t != "node")  # all nodes before all edges
        assert all("/" not in n.get("id") for n in graph.iter("{http://graphml.graphdrawing.org/xmlns}node"))


def test_schema_validation_is_not_a_formality(schema: Any) -> None:
    broken = (b'<graphml xmlns="http://graphml.graphdrawing.org/xmlns"><graph edgedefault="undirected">'
              b'<node id="a"/><edge source="a" target="missing"/></graph></graphml>')
    assert not schema.validate(etree.fromstring(broken))


def test_independent_readers_get_the_graph_with_types_intact(bundled: Facts, tmp_path: Path) -> None:
    export = views(bundled)["officers"]
    path = tmp_path / "officers.graphml"
    path.write_bytes(text(export, "graphml"))
    n_nodes, n_edges = len(export.node_keys), len(export.edge_keys)

    g = nx.read_graphml(path)
    assert (g.number_of_nodes(), g.number_of_edges()) == (n_nodes, n_edges)
    for _, _, data in g.edges(data=True):
        assert isinstance(data["weight"], int) and isinstance(data["co_accused"], int)
        assert data["weight"] == sum(data[k] for k in ("co_accused", "co_member", "co_posted", "failed_to_report"))
    assert {d["iri"] for _, d in g.nodes(data=True)} == set(export.node_keys)
    assert all(isinstance(d["label"], str) and d["name"] == d["label"] for _, d in g.nodes(data=True))

    r = rustworkx.read_graphml(str(path))[0]
    assert (r.num_nodes(), r.num_edges()) == (n_nodes, n_edges)
    assert all(isinstance(r.get_edge_data(a, b)["weight"], int) for a, b in r.edge_list())

    i = igraph.Graph.Read_GraphML(str(path))
    assert (i.vcount(), i.ecount()) == (n_nodes, n_edges)
    assert set(i.vs["iri"]) == set(export.node_keys) and all(isinstance(k, str) for k in i.es["kind"])
    # igraph keeps every numeric attribute as a double (its C core has no integer attributes): values agree.
    assert sorted(i.es["weight"]) == sorted(float(d["weight"]) for _, _, d in export.edges())


def test_yed_flavour_adds_labels_and_colours_and_stays_readable(bundled: Facts, tmp_path: Path) -> None:
    data = text(views(bundled)["officers"], "graphml", flavour="yed")
    assert b"y:ShapeNode" in data and b'<y:Fill color="#1F77B4"' in data
    path = tmp_path / "yed.graphml"
    path.write_bytes(data)
    assert nx.read_graphml(path).number_of_nodes() == 18
    assert b"y:" not in text(views(bundled)["officers"], "graphml")  # the default file has no yEd extensions


def test_gexf_is_read_back_by_networkx(bundled: Facts, tmp_path: Path) -> None:
    export = views(bundled)["full"]
    path = tmp_path / "full.gexf"
    path.write_bytes(text(export, "gexf"))
    g = nx.read_gexf(path, version="1.3")
    assert g.is_directed() and (g.number_of_nodes(), g.number_of_edges()) == (len(export.node_keys), len(export.edge_keys))
    node = next(iter(g.nodes(data=True)))[1]
    assert {"label", "type", "iri", "viz"} <= set(node) and set(node["viz"]["color"]) >= {"r", "g", "b"}


def test_csv_zip_matches_the_graphml_counts_and_its_own_checksums(bundled: Facts) -> None:
    import hashlib

    export = views(bundled)["officers"]
    with zipfile.ZipFile(io.BytesIO(text(export, "csv", describe={"view": "officers"}))) as archive:
        nodes = list(csv.DictReader(io.TextIOWrapper(archive.open("nodes.csv"), encoding="utf-8")))
        edges = list(csv.DictReader(io.TextIOWrapper(archive.open("edges.csv"), encoding="utf-8")))
        described = json.loads(archive.read("manifest.json"))
        for name in ("nodes.csv", "edges.csv"):
            assert hashlib.sha256(archive.read(name)).hexdigest() == described["files"][name]["sha256"]
    g = nx.read_graphml(io.BytesIO(text(export, "graphml")))
    assert (len(nodes), len(edges)) == (g.number_of_nodes(), g.number_of_edges())
    assert {r["node"] for r in nodes} >= {r["source"] for r in edges} | {r["target"] for r in edges}


def test_cytoscape_elements(bundled: Facts) -> None:
    export = views(bundled)["investigation"]
    document = json.loads(text(export, "cytoscape.json"))
    nodes, edges = document["elements"]["nodes"], document["elements"]["edges"]
    ids = {n["data"]["id"] for n in nodes}
    assert len(nodes) == len(export.node_keys) and all(e["data"]["source"] in ids for e in edges)
    assert all({"label", "type", "iri"} <= set(n["data"]) for n in nodes)


def _dataset(data: bytes, fmt: str) -> set[tuple[str, ...]]:
    d = rdflib.Dataset()
    d.parse(data=data, format=fmt)
    return {tuple(str(t) for t in q) for q in d.quads((None, None, None, None))}


def test_rdf_formats_round_trip(bundled_db: Database, bundled: Facts) -> None:
    for name, export in views(bundled).items():
        quads = {fmt: text(export, fmt, quads=view_quads(bundled_db, export, with_meta=True))
                 for fmt in ("nq", "trig", "jsonld")}
        expected = _dataset(quads["nq"], "nquads")
        assert expected and _dataset(quads["trig"], "trig") == expected, name
        expanded = jsonld.to_rdf(json.loads(quads["jsonld"]), {"format": "application/n-quads"})
        assert _dataset(expanded.encode(), "nquads") == expected, name
        triples = {fmt: text(export, fmt, quads=view_quads(bundled_db, export, with_meta=False))
                   for fmt in ("ttl", "nt")}
        ttl = rdflib.Graph().parse(data=triples["ttl"], format="turtle")
        nt = rdflib.Graph().parse(data=triples["nt"], format="nt")
        assert len(ttl) > 0 and isomorphic(ttl, nt), name
        assert {(s, p, o) for s, p, o, _ in expected if not _.endswith("graph/meta")} == \
            {tuple(str(t) for t in triple) for triple in nt}, name


def test_exports_are_byte_identical_and_manifests_describe_them(bundled: Facts) -> None:
    import hashlib

    for fmt in ("graphml", "gexf", "cytoscape.json", "csv"):
        first, second = views(bundled)["officers"], views(bundled)["officers"]
        assert text(first, fmt, describe={}) == text(second, fmt, describe={}), fmt
    export = views(bundled)["officers"]
    data = text(export, "graphml")
    described = manifest(bundled, export, EXPORT_FORMATS["graphml"], hashlib.sha256(data).hexdigest())
    assert described["counts"]["nodes"] == {"officer": 18} and described["data_version"] == bundled.version
    assert described["sources"] and all(v["title"] for v in described["sources"].values())


def test_entity_views_stay_near_their_centre(bundled: Facts) -> None:
    inv = views(bundled)["investigation"]
    labels = {bundled.label(n) for n in inv.node_keys}
    assert {"I4", "I4-1", "I4-2", "I4-3", "Officer B", "Officer C"} <= labels
    assert "I1" not in labels and not any(bundled.kind(n) == "force" for n in inv.node_keys)
    ego = views(bundled)["officer"]
    assert local_id(_one(bundled, "Officer", "Officer C")) in {local_id(n) for n in ego.node_keys}
