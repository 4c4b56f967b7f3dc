"""Local vocabularies: a dataset's own code lists (``concepts.csv``), kept as the source wrote them and counted
by filters on the ontology's concepts through their SKOS links, shown to readers without ever exposing an instance.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyoxigraph as ox
import pytest

from graph import Database, InputError, load, plan
from graph.linkage.facts import Filters, facts
from graph.linkage.pseudonyms import pseudonymous_facts
from graph.linkage.questions import co_accused, filter_caveats, repeat_subjects
from ontology import OV
from ontology.concepts import by_notation
from tests.conftest import MINI

CATEGORY = {n: c.iri for n, c in by_notation(str(OV.AllegationCategory)).items()}
OUTCOME = {n: c.iri for n, c in by_notation(str(OV.Outcome)).items()}
CONCEPTS = """scheme,notation,class,label,definition,broader,exact_match,close_match,broad_match,narrow_match,source
mini-cat,D,allegation-category,Discrimination (any),,,,,discrimination,,doc1
mini-cat,D-RACE,allegation-category,Racial discrimination,,D,,,,,doc1
mini-cat,MISC,allegation-category,Miscellaneous,,,,,,,doc1
mini-out,FWW,outcome,Final written warning,The last warning before dismissal,,final-written-warning,,,,doc1
"""


def _folder(tmp_path: Path, concepts_csv: str = CONCEPTS, **edits: tuple[str, str]) -> Path:
    folder = tmp_path / "mini"
    shutil.copytree(MINI, folder)
    (folder / "concepts.csv").write_text(concepts_csv, encoding="utf-8")
    edits = {"allegations.csv": ("a1,inv1,discrimination,", "a1,inv1,mini-cat|D-RACE,"),
             "findings.csv": (",final-written-warning,", ",mini-out|FWW,"), **edits}
    for file, (old, new) in edits.items():
        text = (folder / file).read_text("utf-8")
        assert old in text, (file, old)
        (folder / file).write_text(text.replace(old, new), encoding="utf-8")
    return folder


def test_local_concepts_keep_the_source_value_and_count_under_the_core_ones(db: Database, tmp_path: Path) -> None:
    load(db, plan([_folder(tmp_path)]), user="t")
    f = facts(db)
    (allegation,) = [a for a in f.of_type("Allegation") if f.value(a, "identifier") == "a1"]
    (category,) = f.values(allegation, "category")
    shown = f.concept(category)
    assert (shown.notation, shown.label) == ("D-RACE", "Racial discrimination")  # the source's own value
    assert category != CATEGORY["discrimination"]
    # D-RACE is narrower than D (broader, same scheme), which falls under the core discrimination (broad_match)
    assert category in f.admitted(frozenset({CATEGORY["discrimination"]}))
    assert category not in f.admitted(frozenset({CATEGORY["use-of-force"]}))
    by_category = Filters(categories=frozenset({CATEGORY["discrimination"]}))
    assert {f.value(r.officer.iri, "identifier") for r in
            repeat_subjects(f, min_investigations=1, filters=by_category)} == {"X1", "X2"}
    assert filter_caveats(f, by_category) == ()  # the core concept is used, through the local one
    # an exact match onto the core outcome: a filter on the outcome counts the finding
    by_outcome = Filters(outcomes=frozenset({OUTCOME["final-written-warning"]}))
    assert [f.value(r.officer.iri, "identifier") for r in
            repeat_subjects(f, min_investigations=1, filters=by_outcome)] == ["X1"]
    assert len(co_accused(f, basis="allegation", filters=by_category)) == 1


def test_readers_see_local_concepts_but_never_an_instance_dressed_as_one(db: Database, tmp_path: Path) -> None:
    load(db, plan([_folder(tmp_path)]), user="t")
    f = facts(db)
    officer = next(o for o in f.of_type("Officer"))
    concept = f.values(next(a for a in f.of_type("Allegation") if f.values(a, "category")), "category")[0]
    skos = "http://www.w3.org/2004/02/skos/core#"
    untyped = "https://w3id.org/oversight/id/officer/0123456789abcdef0123"  # an IRI no source types
    # Another source dresses instances as concepts and points concepts at them, every way SKOS allows:
    # an officer (and an untyped IRI) given a scheme and a label; a concept linked to the officer, put in the
    # officer as its scheme (sorted first), given the officer as broader, and the officer's IRI as its
    # notation and label, as an IRI and as text.
    rogue = tmp_path / "rogue.nt"
    rogue.write_text(
        f'<{officer}> <{skos}inScheme> <https://example.org/scheme> .\n'
        f'<{officer}> <{skos}prefLabel> "A real name" .\n'
        f'<{untyped}> <{skos}inScheme> <https://example.org/scheme> .\n'
        f'<{untyped}> <{skos}prefLabel> "Another real name" .\n'
        f'<{concept}> <{skos}exactMatch> <{officer}> .\n'
        f'<{concept}> <{skos}inScheme> <{officer}> .\n'
        f'<{concept}> <{skos}inScheme> <https://a.example/first> .\n'
        f'<{concept}> <{skos}broader> <{officer}> .\n'
        f'<{concept}> <{skos}notation> <{officer}> .\n'
        f'<{concept}> <{skos}prefLabel> "{officer}" .\n', encoding="utf-8")
    load(db, plan([rogue], source="rogue", title="rogue"), user="t")
    view, pseudonyms = pseudonymous_facts(db, tmp_path)
    assert concept in pseudonyms.local and officer not in pseudonyms.local and untyped not in pseudonyms.local
    assert "D-RACE" in view.values(concept, "skos:notation")
    labels = {v for values in view.props["skos:prefLabel"].values() for v in values}
    assert "Racial discrimination" in labels and not labels & {"A real name", "Another real name"}
    shown_values = {v for values in view.props.values() for objects in values.values() for v in objects}
    assert officer not in shown_values and untyped not in shown_values
    assert view.concept(concept).scheme != officer
    shown = list(pseudonyms.quads(db.backend.quads()))
    assert not any(officer in (q.subject.value, q.object.value) or untyped == q.subject.value  # type: ignore[union-attr]
                   for q in shown)
    assert any(q.subject.value == concept and q.predicate.value == skos + "notation" for q in shown)


@pytest.mark.parametrize(("file", "edit", "field", "message"), [
    ("allegations.csv", ("a2,inv2,failure-to-report,", "a2,inv2,mini-cat|NOPE,"), "categories",
     "names no row of concepts.csv (scheme 'mini-cat', notation 'NOPE')"),
    ("allegations.csv", ("a2,inv2,failure-to-report,", "a2,inv2,mini-out|FWW,"), "categories",
     "is a concept of class outcome, not allegation-category"),
    ("investigations.csv", ("Fictional investigation one,concluded,", "Fictional investigation one,mini-cat|D,"),
     "status", "unknown value; accepted: concluded, discontinued, open"),
    ("concepts.csv", ("mini-cat,MISC,allegation-category", "mini cat,MISC,allegation-category"), "scheme",
     "letters, digits and dashes"),
    ("concepts.csv", ("mini-out,FWW,outcome", "mini-out,FWW,outcomes"), "class", "unknown class; accepted:"),
    ("concepts.csv", (",,final-written-warning,", ",,sacked,"), "exact_match", "not a outcome of the ontology"),
    ("concepts.csv", (",D,,,,,doc1", ",D-ZZ,,,,,doc1"), "broader", "names no row of concepts.csv"),
])
def test_bad_local_concepts_are_cell_errors_and_load_nothing(db: Database, tmp_path: Path, file: str,
                                                             edit: tuple[str, str], field: str, message: str) -> None:
    folder = _folder(tmp_path, **{file: edit}) if file != "concepts.csv" else _folder(
        tmp_path, CONCEPTS.replace(*edit))
    before = sorted(str(q) for q in db.backend.quads())
    with pytest.raises(InputError) as caught:
        load(db, plan([folder]), user="t")
    assert any(i.file == file and i.field == field and message in i.message for i in caught.value.issues), \
        [str(i) for i in caught.value.issues]
    assert sorted(str(q) for q in db.backend.quads()) == before


def test_a_local_concept_is_a_skos_concept_of_its_class_in_its_scheme(db: Database, tmp_path: Path) -> None:
    load(db, plan([_folder(tmp_path)]), user="t")
    f = facts(db)
    node = ox.NamedNode(f.values(next(a for a in f.of_type("Allegation") if f.values(a, "category")),
                                 "category")[0])
    about = {(q.predicate.value, q.object.value) for q in db.backend.quads(predicate=None) if q.subject == node}
    skos = "http://www.w3.org/2004/02/skos/core#"
    rdf_type = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
    assert {o for p, o in about if p == rdf_type} == {skos + "Concept", str(OV.AllegationCategory)}
    (scheme,) = [o for p, o in about if p == skos + "inScheme"]
    assert (skos + "notation", "D-RACE") in about and (skos + "prefLabel", "Racial discrimination") in about
    scheme_about = {(q.predicate.value, q.object.value) for q in db.backend.quads(predicate=None)
                    if q.subject.value == scheme}
    assert scheme_about == {(rdf_type, skos + "ConceptScheme"), (skos + "notation", "mini-cat")}
