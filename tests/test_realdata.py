"""Real data: each dataset imports from its shipped mapping alone, and the service's answers equal the
ground truth measured independently in ../shared/data/realdata/README.md.

Skipped when ../shared/data/realdata is absent. Philadelphia (8,403 linkable rows) always runs. Chicago
(244,436 accused rows, 4.8 M statements) takes minutes and GBs to import, so it runs only with
``REALDATA_CHICAGO=1`` in the environment (see docs/benchmarks.md for its figures).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from graph.mapping import import_dataset, read_mapping

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "realdata"
pytestmark = pytest.mark.skipif(not REALDATA.is_dir(), reason="../shared/data/realdata is absent")


@dataclass(frozen=True)
class Truth:
    """The figures of the realdata README for one dataset."""

    officers: int
    complaints: int
    at_least: dict[int, int]  # officers named in >= k complaints
    multi_officer_complaints: int
    edges: int
    components: int  # isolated officers included
    isolated: int
    largest: int
    top5: list[tuple[str, int]]


PHILADELPHIA = Truth(3120, 3308, {2: 1391, 5: 156}, 1604, 4249, 986, 623, 1363,
                     [("40251428", 16), ("66221391", 16), ("47524892", 15), ("65283090", 15), ("23622762", 14)])
CHICAGO = Truth(22813, 134692, {2: 19983, 5: 14586, 10: 8908}, 62290, 224265, 1835, 1689, 20777,
                [("112944", 175), ("113285", 137), ("107464", 136), ("109923", 132), ("117079", 125)])

OFFICERS_IN_COMPLAINTS = """SELECT (COUNT(DISTINCT ?officer) AS ?officers) (COUNT(DISTINCT ?investigation) AS ?complaints)
WHERE { ?finding a ov:Finding ; ov:officer ?officer ; ov:allegation/ov:investigation ?investigation }"""
MULTI_OFFICER = """SELECT (COUNT(*) AS ?complaints) WHERE {
  { SELECT ?investigation WHERE { ?finding a ov:Finding ; ov:officer ?officer ; ov:allegation/ov:investigation ?investigation }
    GROUP BY ?investigation HAVING (COUNT(DISTINCT ?officer) >= 2) } }"""


def _imported(name: str, folder: Path, tmp: Path) -> Iterator[Any]:
    from api import create_app
    from api.database import close, get_db

    app = create_app({"STORE": "oxigraph", "DATA_DIR": str(tmp), "AUTH": False, "TESTING": True})
    with app.app_context():
        report, loaded = import_dataset(get_db(), read_mapping(name), folder, user="test")
    app.config["IMPORT"] = (report, loaded)
    yield app.test_client()
    close(app)


def _sparql(client: Any, query: str) -> list[dict[str, str]]:
    answer = client.post("/sparql", data={"query": query}, headers={"Accept": "text/csv"})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))


def _all(client: Any, url: str) -> list[dict[str, Any]]:
    items, cursor = [], None
    while True:
        answer = client.get(url + (f"&cursor={cursor}" if cursor else "")).get_json()
        items += answer["items"]
        cursor = answer.get("next")
        if not cursor:
            return items


def check_ground_truth(client: Any, truth: Truth) -> None:
    """Every figure, through the linkage API and through SPARQL."""
    counted = _sparql(client, OFFICERS_IN_COMPLAINTS)[0]
    assert (int(counted["officers"]), int(counted["complaints"])) == (truth.officers, truth.complaints)
    named = client.get("/linkage/repeat-subjects?min_investigations=1&limit=5").get_json()
    assert named["total"] == truth.officers
    keys = {row["officer"]: row["key"] for row in _sparql(client, "SELECT ?officer ?key WHERE { VALUES ?officer { "
            + " ".join(f"<{i['officer']['iri']}>" for i in named["items"]) + " } ?officer ov:identifier ?key }")}
    assert [(keys[i["officer"]["iri"]], i["investigation_count"]) for i in named["items"]] == truth.top5
    for k, expected in truth.at_least.items():
        assert client.get(f"/linkage/repeat-subjects?min_investigations={k}&limit=1").get_json()["total"] == expected, k
    assert int(_sparql(client, MULTI_OFFICER)[0]["complaints"]) == truth.multi_officer_complaints
    assert client.get("/linkage/co-accused?limit=1").get_json()["total"] == truth.edges
    clusters = _all(client, "/linkage/clusters?method=components&kinds=co-accused&limit=1000")
    in_network = sum(c["size"] for c in clusters)
    assert truth.officers - in_network == truth.isolated
    assert len(clusters) + truth.isolated == truth.components
    assert max(c["size"] for c in clusters) == truth.largest


@pytest.fixture(scope="module")
def philadelphia(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    yield from _imported("philadelphia-ppd", REALDATA / "philadelphia-ppd", tmp_path_factory.mktemp("phl"))


def test_philadelphia_imports_from_its_mapping_and_reports_what_it_could_not_link(philadelphia: Any) -> None:
    report, loaded = philadelphia.application.config["IMPORT"]
    assert report.rows_read == {"ppd_complaints.csv": 5296, "ppd_complaint_disciplines.csv": 13332}
    unlinked = "no officer_id (initials only): cannot be linked to an officer"
    assert report.rejected[("findings.csv", unlinked)] == 4929  # counted, never turned into officers
    assert report.entities["officers.csv"] == 3120 and [x.source for x in loaded] == ["philadelphia-ppd"]
    source = philadelphia.get("/sources/philadelphia-ppd").get_json()
    assert source["origin"].startswith("import philadelphia-ppd.toml")


def test_philadelphia_answers_equal_the_ground_truth(philadelphia: Any) -> None:
    check_ground_truth(philadelphia, PHILADELPHIA)


@pytest.mark.skipif(os.environ.get("REALDATA_CHICAGO") != "1", reason="set REALDATA_CHICAGO=1 (minutes, GBs)")
def test_chicago_answers_equal_the_ground_truth(tmp_path: Path) -> None:
    for client in _imported("chicago-cpdp", REALDATA / "chicago-cpdp", tmp_path):
        report, _ = client.application.config["IMPORT"]
        assert report.rows_read["complaints-accused.csv.gz"] == 244436
        assert report.rejected == {("names.csv", "no first and last name"): 22}  # nothing else rejected
        check_ground_truth(client, CHICAGO)
