"""The bundled Charing Cross case answers its reported figures through SPARQL."""

from __future__ import annotations

import pytest

from graph import Database


def scalar(db: Database, query: str) -> int:
    rows = list(db.query(query))
    assert len(rows) == 1
    return int(rows[0][0].value)


STATUS = """SELECT (COUNT(DISTINCT ?o) AS ?n) WHERE {
  ?s a ov:EmploymentStatus ; ov:officer ?o ; ov:status/skos:notation ?code .
  FILTER NOT EXISTS { ?s ov:endDate ?end } FILTER (?code = "%s") }"""


@pytest.mark.parametrize(("query", "reported"), [
    ("SELECT (COUNT(DISTINCT ?o) AS ?n) WHERE { ?f a ov:Finding ; ov:officer ?o }", 14),
    ("SELECT (COUNT(?i) AS ?n) WHERE { ?i a ov:Investigation ; ov:inquiry ?q }", 9),
    ("""SELECT (COUNT(DISTINCT ?o) AS ?n) WHERE { ?s a ov:EmploymentStatus ; ov:officer ?o ; ov:status ov:Dismissed .
        ?b a ov:BarredListEntry ; ov:officer ?o .
        ?f a ov:Finding ; ov:officer ?o ; ov:result ov:GrossMisconductProven }""", 2),
    (STATUS % "resigned", 2),
    (STATUS % "serving", 9),
    (STATUS % "contractor-staff-role", 1),
    (STATUS % "dismissed", 2),
    ("""SELECT (COUNT(DISTINCT ?m) AS ?n) WHERE { ?g a ov:ChatGroup ; ov:platform ov:WhatsApp ; ov:reportedMemberCount 17 .
        ?ms a ov:ChatMembership ; ov:group ?g ; ov:member ?m . ?m a ov:Officer }""", 17),
    ("SELECT (COUNT(?r) AS ?n) WHERE { ?r a ov:Recommendation ; ov:report/ov:publisher/ov:name ?p }", 15),
    ("SELECT (COUNT(?i) AS ?n) WHERE { ?i a ov:Investigation ; ov:status ov:InvestigationDiscontinued }", 1),
    ("SELECT (COUNT(?b) AS ?n) WHERE { ?b a ov:BarredListEntry }", 7),
])
def test_reported_figures(bundled_db: Database, query: str, reported: int) -> None:
    assert scalar(bundled_db, query) == reported


def test_barred_list_placements_outnumber_dismissals_so_barred_officers_repeat_across_investigations(
        bundled_db: Database) -> None:
    rows = list(bundled_db.query("""
        SELECT ?o (COUNT(DISTINCT ?inv) AS ?n) WHERE {
          ?b a ov:BarredListEntry ; ov:officer ?o .
          ?f a ov:Finding ; ov:officer ?o ; ov:allegation/ov:investigation ?inv }
        GROUP BY ?o"""))
    assert len(rows) == 4  # two dismissed, two resigned
    assert all(int(r["n"].value) >= 2 for r in rows)


def test_inquiry_dates_as_reported(bundled_db: Database) -> None:
    row = next(iter(bundled_db.query("""SELECT ?from ?to ?uncovered ?launched WHERE {
        ?q a ov:Inquiry ; ov:conductFrom ?from ; ov:conductTo ?to ; ov:uncoveredOn ?uncovered ; ov:startDate ?launched }""")))
    assert [row[v].value for v in ("from", "to", "uncovered", "launched")] == ["2016", "2018", "2017", "2018-03"]


def test_every_statement_node_cites_a_source_and_has_an_evidence_status(bundled_db: Database) -> None:
    assert scalar(bundled_db, """SELECT (COUNT(?s) AS ?n) WHERE {
        ?s a ?c . FILTER (STRSTARTS(STR(?s), "https://w3id.org/oversight/id/"))
        FILTER (?c NOT IN (ov:SourceDocument)) FILTER NOT EXISTS { ?s ov:source ?d } }""") == 0
    assert scalar(bundled_db, """SELECT (COUNT(?s) AS ?n) WHERE {
        ?s a ?c . VALUES ?c { ov:Finding ov:ChatMembership ov:Posting ov:BarredListEntry ov:EmploymentStatus ov:Message }
        FILTER NOT EXISTS { ?s ov:evidenceStatus ?e } }""") == 0


def test_which_officer_was_in_which_investigation_is_marked_illustrative(bundled_db: Database) -> None:
    """The report does not name subjects per investigation, so no finding may present that as fact."""
    assert scalar(bundled_db, """SELECT (COUNT(?f) AS ?n) WHERE {
        ?f a ov:Finding . FILTER NOT EXISTS { ?f ov:evidenceStatus ov:Illustrative } }""") == 0
    assert scalar(bundled_db, """SELECT (COUNT(?m) AS ?n) WHERE {
        ?m a ov:ChatMembership . FILTER NOT EXISTS { ?m ov:evidenceStatus ov:Illustrative } }""") == 0


def test_no_officer_has_a_name_only_pseudonyms(bundled_db: Database) -> None:
    assert scalar(bundled_db, "SELECT (COUNT(?o) AS ?n) WHERE { ?o a ov:Officer ; ov:name ?x }") == 0
    pseudonyms = {r[0].value for r in bundled_db.query("SELECT ?p WHERE { ?o a ov:Officer ; ov:pseudonym ?p }")}
    assert {f"Officer {c}" for c in "ABCDEFGHIJKLMN"} <= pseudonyms
