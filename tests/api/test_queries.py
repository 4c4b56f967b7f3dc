"""Saved queries: listed, run with typed parameters bound as terms, from HTTP and the CLI."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pyoxigraph as ox
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.queries import PARAM_TYPES, all_saved


@pytest.fixture
def client(bundled_client: Any) -> Any:
    return bundled_client


def rows(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_every_saved_query_parses_and_projects_its_parameters() -> None:
    assert len(all_saved()) >= 6
    for name, query in all_saved().items():
        ox.Store().query(query.text)
        projection = query.text.split("WHERE", 1)[0]
        for param, kind, _ in query.params:
            assert kind.split(":")[0] in PARAM_TYPES
            assert re.search(rf"\?{param}\b", projection), f"{name}: ?{param} must be projected to be bound"


def test_the_list_says_what_each_query_takes(client: Any) -> None:
    listed = {q["name"]: q for q in client.get("/queries").json["queries"]}
    assert listed["officers-in-several-investigations"]["parameters"][0]["type"] == "integer"
    assert listed["shared-groups-with-outcome"]["parameters"][0]["type"] == "concept:Outcome"
    page = client.get("/queries", headers={"Accept": "text/html"})
    assert page.mimetype == "text/html" and "co-accused-pairs" in page.get_data(as_text=True)


def test_saved_queries_answer_what_the_linkage_questions_do(client: Any) -> None:
    csv_ = {"Accept": "text/csv"}
    ids = {o["officer"]["label"]: o["officer"]["id"] for o in client.get("/officers?limit=100").json["items"]}
    several = rows(client.get("/queries/officers-in-several-investigations?min=2", headers=csv_))
    assert sorted(r["identifier"] for r in several) == list("ABCDE")
    pairs = rows(client.get("/queries/co-accused-pairs?min=1", headers=csv_))
    assert len(pairs) == client.get("/linkage/co-accused").json["total"]
    group = next(g["id"] for g in client.get("/chat-groups").json["items"] if "WhatsApp" in g["label"])
    assert len({r["member"] for r in rows(client.get(f"/queries/chat-group-members?group={group}", headers=csv_))}) == 17
    shared = rows(client.get("/queries/shared-groups-with-outcome?outcome=dismissal", headers=csv_))
    others = {r["other"] for r in shared}
    assert {f"https://w3id.org/oversight/id/officer/{ids[f'Officer {x}']}" for x in "OPQ"} <= others
    findings = rows(client.get(f"/queries/officer-findings?officer={ids['Officer B']}", headers=csv_))
    assert len({r["allegation"] for r in findings}) == 3
    sources = rows(client.get("/queries/statement-sources", query_string={"statement": findings[0]["finding"]},
                              headers=csv_))
    assert sources and sources[0]["title"].startswith("News account") and sources[0]["loadedAt"]


@pytest.mark.parametrize("url, status", [
    ("/queries/nope", 404),
    ("/queries/officers-in-several-investigations", 400),
    ("/queries/officers-in-several-investigations?min=two", 400),
    ("/queries/officers-in-several-investigations?min=2&max=3", 400),
    ("/queries/shared-groups-with-outcome?outcome=sacked", 400),
    ("/queries/officer-findings?officer=0000", 404),
    ("/queries/officer-findings?officer=%3E%20%7D%20SERVICE%20%3Chttp://x%3E", 400),
])
def test_bad_saved_query_requests_are_problems(client: Any, url: str, status: int) -> None:
    response = client.get(url)
    assert response.status_code == status and response.mimetype == "application/problem+json"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.text(max_size=40))
def test_a_hostile_value_never_changes_the_query(client: Any, value: str) -> None:
    """Whatever the value, the answer is a problem or rows about exactly the officer it names."""
    response = client.get("/queries/officer-findings", query_string={"officer": value}, headers={"Accept": "text/csv"})
    assert response.status_code in (200, 400, 404)
    if response.status_code == 200:
        officers = {r["officer"] for r in csv.DictReader(io.StringIO(response.get_data(as_text=True)))}
        assert len(officers) <= 1
    number = client.get("/queries/officers-in-several-investigations", query_string={"min": value})
    assert number.status_code == (200 if re.fullmatch(r"[+-]?[0-9]{1,18}", value.strip()) else 400)


def test_the_cli_runs_saved_queries(tmp_path: Any) -> None:
    import os
    import subprocess
    import sys

    from graph.ingest.cases import bundled_path

    env = {**os.environ, "OVERSIGHT_DATA_DIR": str(tmp_path / "store")}
    subprocess.run([sys.executable, "-m", "api", "load", str(bundled_path()), "--source", "cc"], env=env, check=True,
                   capture_output=True, timeout=120)
    done = subprocess.run([sys.executable, "-m", "api", "query", "--saved", "officers-in-several-investigations",
                           "--param", "min=2", "--format", "csv"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and len(done.stdout.strip().splitlines()) == 6
    bad = subprocess.run([sys.executable, "-m", "api", "query", "--saved", "officers-in-several-investigations",
                          "--param", "min=lots"], env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "min" in bad.stderr and "Traceback" not in bad.stderr
    service = subprocess.run([sys.executable, "-m", "api", "query", "SELECT * WHERE { SERVICE <http://127.0.0.1:9/> "
                              "{ ?s ?p ?o } }"], env=env, capture_output=True, text=True, timeout=120)
    assert service.returncode == 1 and "SERVICE" in service.stderr
