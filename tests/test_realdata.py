"""Real data: each dataset imports from its shipped mapping alone, and the service's answers equal the
ground truth measured independently in ../shared/data/realdata/README.md, and the answers to a grid of
filtered questions (results, outcomes, categories, bases, thresholds, date windows) recomputed here
directly from the CSV files.

Skipped when ../shared/data/realdata is absent. Philadelphia (8,403 linkable rows) always runs. Chicago
(244,436 accused rows, 4.8 M statements) takes minutes and GBs to import, so it runs only with
``REALDATA_CHICAGO=1`` in the environment (see docs/benchmarks.md for its figures).
"""

from __future__ import annotations

import csv
import io
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from graph.ingest.mapping import import_dataset, read_mapping

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

    app = create_app({"STORE": "oxigraph", "DATA_DIR": str(tmp), "AUTH": False, "TESTING": True,
                      "SPARQL_TIMEOUT": 600})  # a count over Chicago's 244 k findings can pass 30 s on a busy machine
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
        assert _check_grid(client, _chicago_rows()) == []
        windowed = client.get("/linkage/repeat-subjects?min_investigations=1&since=2009&until=2014&limit=1")
        assert windowed.get_json()["total"] < CHICAGO.officers // 2  # 22,366 while complaints never ended


# --------------------------------------------------------------------------- answers recomputed from the files
# Each question of the grid is answered twice: by the service, from the import, and here, directly from the
# dataset's CSV files with the rules the mapping and docs/linkage.md state (nothing here reads the import).

@dataclass(frozen=True)
class Row:
    """One accused row of a dataset, as the grid needs it."""

    officer: str
    complaint: str
    allegation: str  # the allegation's key within the complaint (Philadelphia: the type; Chicago: the code)
    result: str  # the finding's result notation, or ""
    outcomes: frozenset[str]
    categories: frozenset[str]
    date: str  # YYYY-MM-DD of the conduct, as date filters see it, or ""


def _philadelphia_rows() -> list[Row]:
    from datetime import datetime

    folder = REALDATA / "philadelphia-ppd"
    with (folder / "ppd_complaints.csv").open(encoding="utf-8-sig", newline="") as handle:
        received = {r["complaint_id"].strip(): datetime.strptime(r["date_received"].strip(), "%m/%d/%y").date()
                    .isoformat() for r in csv.DictReader(handle) if r["date_received"].strip()}
    result = {"Sustained Finding": "misconduct-proven", "No Sustained Findings": "not-proven"}
    # the types as the mapping's category list puts them (with the categories that admit those, _admitting)
    direct = {"Physical Abuse": "use-of-force", "Verbal Abuse": "authority-respect-courtesy",
              "Unprofessional Conduct": "discreditable-conduct", "Lack of Service": "neglect-of-duty",
              "Departmental Violation": "orders-and-instructions", "Disciplinary Code Violation":
              "orders-and-instructions", "Harassment": "bullying-harassment", "Criminal Allegation":
              "discreditable-conduct", "Civil Rights Complaint": "discrimination", "Domestic": "domestic-abuse",
              "Falsification": "honesty-and-integrity", "Sexual Crime/Misconduct": "sexual-misconduct",
              "Drugs": "drug-misuse", "Other Misconduct": "discreditable-conduct"}
    category = {kind: _admitting(notation) for kind, notation in direct.items()}
    rows = []
    with (folder / "ppd_complaint_disciplines.csv").open(encoding="utf-8-sig", newline="") as handle:
        for r in csv.DictReader(handle):
            if not r["officer_id"].strip():
                continue
            kind = r["allegations_investigated"].strip()
            rows.append(Row(r["officer_id"].strip(), r["complaint_id"].strip(), kind,
                            result.get(r["investigative_findings"].strip(), ""),
                            frozenset({"management-action"} if r["disciplinary_findings"].strip() ==
                                      "Training/Counseling" else ()),
                            frozenset(category.get(kind, ())), received.get(r["complaint_id"].strip(), "")))
    return rows


def _chicago_rows() -> list[Row]:
    import gzip

    folder = REALDATA / "chicago-cpdp"
    with gzip.open(folder / "complaints-complaints.csv.gz", "rt", encoding="utf-8-sig", newline="") as handle:
        dated = {r["cr_id"].strip(): (r["incident_date"].strip() or r["complaint_date"].strip())[:10]
                 for r in csv.DictReader(handle)}  # the incident, else when the complaint was made
    result = {"SU": "misconduct-proven", "NS": "not-proven", "UN": "no-case-to-answer", "EX": "no-case-to-answer",
              "NAF": "discontinued", "NC": "discontinued"}
    outcome = {"SEPARATION": "dismissal", "ADMIN. TERMINATION": "dismissal", "ADMINISTRATIVE TERMINATION": "dismissal",
               "SEPARATED OTHER CASE": "dismissal", "RESIGNED": "resigned-or-retired",
               "RESIGNED -NOT SERVED": "resigned-or-retired", "REPRIMAND": "written-warning",
               "VIOLATION NOTED": "management-action"}
    # each code's family (its first two characters), as the mapping's vocabulary maps it onto the core categories
    family = {"01": "offensive-language", "02": "alcohol-misuse", "03": "unlawful-search-or-arrest",
              "04": "rule-violation", "05": "use-of-force", "06": "corruption", "07": "rule-violation",
              "08": "criminal-conduct", "10": "rule-violation", "12": "neglect-of-duty", "15": "drug-misuse",
              "18": "use-of-force", "19": "use-of-force", "20": "use-of-force", "S0": "use-of-force",
              "S1": "use-of-force", "S2": "use-of-force"}
    rows = []
    with gzip.open(folder / "complaints-accused.csv.gz", "rt", encoding="utf-8-sig", newline="") as handle:
        for r in csv.DictReader(handle):
            officer, complaint = str(int(float(r["UID"]))), r["cr_id"].strip()
            penalty = r["final_outcome"].strip().upper()
            outcomes = {outcome[penalty]} if penalty in outcome else {"suspension"} if "SUSPEN" in penalty else set()
            code = r["complaint_code"].strip()
            core = family.get(code[:2]) if code else None
            rows.append(Row(officer, complaint, code or "uncoded", result.get(r["final_finding"].strip(), ""),
                            frozenset(outcomes), _admitting(core) if core else frozenset(), dated.get(complaint, "")))
    return rows


def _admitting(notation: str) -> frozenset[str]:
    """The allegation categories whose filter counts a value that falls under the one of `notation`: itself and,
    following the ontology's SKOS links upwards, every broader or matching category (docs/linkage.md)."""
    from rdflib import RDF, SKOS

    from ontology import OV, ontology_graph

    graph = ontology_graph()
    up = {SKOS.broader: "o", SKOS.broadMatch: "o", SKOS.narrower: "s", SKOS.narrowMatch: "s",
          SKOS.exactMatch: "both", SKOS.closeMatch: "both"}  # (subject, object): which end admits the other
    counted_by: dict[Any, set[Any]] = {}  # concept -> the concepts whose filter counts it directly
    for link, end in up.items():
        for s_, o in graph.subject_objects(link):
            if end in ("o", "both"):
                counted_by.setdefault(s_, set()).add(o)
            if end in ("s", "both"):
                counted_by.setdefault(o, set()).add(s_)
    (start,) = [c for c in graph.subjects(RDF.type, OV.AllegationCategory) if str(graph.value(c, SKOS.notation))
                == notation]
    seen, todo = {start}, [start]
    while todo:
        for c in counted_by.get(todo.pop(), ()):
            if c not in seen:
                seen.add(c)
                todo.append(c)
    return frozenset(str(graph.value(c, SKOS.notation)) for c in seen)


def _findings(rows: list[Row]) -> dict[tuple[str, str, str], Row]:
    """One finding per (complaint, allegation, officer): the most serious result, every outcome (the mapping's
    combine rules)."""
    rank = {"misconduct-proven": 0, "not-proven": 1}
    out: dict[tuple[str, str, str], Row] = {}
    for row in rows:
        key = (row.complaint, row.allegation, row.officer)
        seen = out.get(key)
        if seen is None:
            out[key] = row
        else:
            best = min((seen.result, row.result), key=lambda v: rank.get(v, 2) if v else 3)
            out[key] = Row(row.officer, row.complaint, row.allegation, best, seen.outcomes | row.outcomes,
                           seen.categories | row.categories, seen.date)
    return out


def _admits(row: Row, q: dict[str, str]) -> bool:
    if "result" in q and row.result != q["result"]:
        return False
    if "outcome" in q and q["outcome"] not in row.outcomes:
        return False
    if "category" in q and q["category"] not in row.categories:
        return False
    if "since" in q or "until" in q:
        lo, hi = q.get("since", "0000") + "-01-01", q.get("until", "9999") + "-12-31"
        return bool(row.date) and lo <= row.date <= hi
    return True


def _expected(findings: dict[tuple[str, str, str], Row], question: str, q: dict[str, str]) -> int:
    kept = [r for r in findings.values() if _admits(r, q)]
    if question == "repeat-subjects":
        complaints: dict[str, set[str]] = {}
        for r in kept:
            complaints.setdefault(r.officer, set()).add(r.complaint)
        return sum(1 for c in complaints.values() if len(c) >= int(q.get("min_investigations", "2")))
    by_via: dict[tuple[str, ...], set[str]] = {}
    for r in kept:
        via = (r.complaint, r.allegation) if q.get("basis") == "allegation" else (r.complaint,)
        by_via.setdefault(via, set()).add(r.officer)
    weights: dict[tuple[str, str], int] = {}
    for officers in by_via.values():
        for pair in itertools.combinations(sorted(officers), 2):
            weights[pair] = weights.get(pair, 0) + 1
    return sum(1 for w in weights.values() if w >= int(q.get("min_shared", "1")))


GRID = [  # (question, parameters): results, outcomes, categories, bases, thresholds and date windows
    ("repeat-subjects", "min_investigations=1&result=misconduct-proven"),
    ("repeat-subjects", "min_investigations=2&result=misconduct-proven"),
    ("repeat-subjects", "min_investigations=1&result=not-proven"),
    ("repeat-subjects", "min_investigations=1&outcome=management-action"),
    ("repeat-subjects", "min_investigations=1&outcome=dismissal"),
    ("repeat-subjects", "min_investigations=1&outcome=resigned-or-retired"),
    ("repeat-subjects", "min_investigations=1&outcome=suspension"),
    ("repeat-subjects", "min_investigations=1&category=use-of-force"),
    ("repeat-subjects", "min_investigations=2&category=discreditable-conduct"),
    ("repeat-subjects", "min_investigations=1&category=honesty-and-integrity"),
    ("repeat-subjects", "min_investigations=1&category=rule-violation"),
    ("repeat-subjects", "min_investigations=1&category=criminal-conduct"),
    ("repeat-subjects", "min_investigations=1&category=neglect-of-duty&result=misconduct-proven"),
    ("repeat-subjects", "min_investigations=1&since=2009&until=2014"),
    ("repeat-subjects", "min_investigations=1&since=2016&until=2017"),
    ("repeat-subjects", "min_investigations=3&since=2015"),
    ("repeat-subjects", "min_investigations=1&until=1990"),
    ("repeat-subjects", "min_investigations=1&since=2016&result=misconduct-proven"),
    ("co-accused", "result=misconduct-proven"),
    ("co-accused", "basis=allegation"),
    ("co-accused", "basis=allegation&category=use-of-force"),
    ("co-accused", "basis=allegation&result=misconduct-proven"),
    ("co-accused", "min_shared=2"),
    ("co-accused", "since=2009&until=2014"),
    ("co-accused", "since=2018&basis=allegation"),
]


def _check_grid(client: Any, rows: list[Row]) -> list[str]:
    findings = _findings(rows)
    used = {"result": {r.result for r in rows}, "outcome": {o for r in rows for o in r.outcomes},
            "category": {c for r in rows for c in r.categories}}
    wrong = []
    for question, query in GRID:
        q = dict(part.split("=") for part in query.split("&"))
        body = client.get(f"/linkage/{question}?{query}&limit=1").get_json()
        expected = _expected(findings, question, q)
        unused = [name for name in ("result", "outcome", "category") if name in q and q[name] not in used[name]]
        if body["total"] != expected:
            wrong.append(f"{question}?{query}: service {body['total']}, files {expected}")
        if bool(body["caveats"]) != bool(unused):  # a concept no source records is said, never a bare 0
            wrong.append(f"{question}?{query}: caveats {body['caveats']} for unused {unused}")
    return wrong


def test_philadelphia_answers_equal_counts_from_the_files(philadelphia: Any) -> None:
    rows = _philadelphia_rows()
    assert _check_grid(philadelphia, rows) == []
    sustained = philadelphia.get("/linkage/repeat-subjects?min_investigations=1&result=misconduct-proven&limit=1")
    assert sustained.get_json()["total"] == 1007  # the figure: 949 while the first row won
    assert philadelphia.get("/linkage/co-accused?result=misconduct-proven&limit=1").get_json()["total"] == 847
