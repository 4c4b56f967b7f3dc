"""Declarative imports on a small fictional dataset: rejected rows counted, names loaded apart or left out."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from graph import plan
from graph.errors import InputError
from graph.ingest.mapping import import_dataset, read_mapping
from graph.linkage.facts import facts
from graph.linkage.pseudonyms import pseudonymous_facts
from tests.conftest import converted

MAPPING = """
[dataset]
name = "tiny"
title = "A fictional force's complaints"

[files]
accused = "accused.csv"
profiles = "profiles.csv"

[codes.finding]
SU = "misconduct-proven"
NS = "not-proven"

[[tables]]
target = "officers"
from = "profiles"
[tables.columns]
key = { column = "UID", normalise = ["integer"], required = true }

[[tables]]
target = "names"
from = "profiles"
[tables.columns]
of = { column = "UID", normalise = ["integer"], required = true }
name = { template = "{_first} {_last}", required = true, reason = "no first and last name" }
_first = { column = "first" }
_last = { column = "last" }

[[tables]]
target = "investigations"
from = "accused"
[tables.columns]
key = { column = "case", required = true }
status = { value = "concluded" }

[[tables]]
target = "allegations"
from = "accused"
[tables.columns]
key = { template = "{investigation}/{_officer}" }
investigation = { column = "case", required = true }
_officer = { column = "UID", normalise = ["integer"], required = true }

[[tables]]
target = "findings"
from = "accused"
[tables.columns]
officer = { column = "UID", normalise = ["integer"], required = true, reason = "no officer id" }
allegation = { template = "{_case}/{officer}" }
_case = { column = "case", required = true }
result = { column = "finding", codes = "finding" }
"""


def _write(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)


@pytest.fixture
def dataset(tmp_path: Path) -> tuple[Any, Path]:
    (tmp_path / "tiny.toml").write_text(MAPPING, encoding="utf-8")
    folder = tmp_path / "data"
    folder.mkdir()
    _write(folder / "profiles.csv", [["UID", "first", "last"], ["101.0", "Alex", "Example"],
                                     ["102", "Sam", "Sample"], ["103", "", "Unnamed"]])
    _write(folder / "accused.csv", [["UID", "case", "finding"], ["101", "C1", "SU"], ["102", "C1", "NS"],
                                    ["103", "C2", "NS"], ["", "C2", "NS"], ["101", "C3", ""]])
    return read_mapping(tmp_path / "tiny.toml"), folder


def test_names_load_as_a_source_of_their_own(db: Any, dataset: tuple[Any, Path], tmp_path: Path) -> None:
    mapping, folder = dataset
    report, loaded = import_dataset(db, mapping, folder, user="test")
    assert [x.source for x in loaded] == ["tiny", "tiny-names"]
    assert report.rejected[("findings.csv", "no officer id")] == 1  # counted, not invented into an officer
    assert report.rejected[("names.csv", "no first and last name")] == 1
    assert report.entities["names.csv"] == 2 and report.entities["officers.csv"] == 3
    main, names = db.sources["tiny"].graph, db.sources["tiny-names"].graph
    main_text = " ".join(str(q) for q in db.backend.quads(main))
    assert "Alex" not in main_text and "Example" not in main_text  # never in the main graph, keys or IRIs
    name_quads = list(db.backend.quads(names))
    assert {q.predicate.value.rsplit("#", 1)[1] for q in name_quads
            if "source-document" not in q.subject.value} == {"name", "source"}
    assert all("Alex" not in q.subject.value for q in name_quads)
    f = facts(db)
    by_key = {f.value(o, "identifier"): o for o in f.of_type("Officer")}
    assert f.label(by_key["101"]) == "Alex Example"  # investigators see the name
    assert f.label(by_key["103"]) == "103"  # no name: the key
    view, _ = pseudonymous_facts(db, tmp_path)  # readers never see a name
    assert not any("Alex" in v for values in view.props["name"].values() for v in values)


def test_names_can_be_left_out(db: Any, dataset: tuple[Any, Path]) -> None:
    mapping, folder = dataset
    report, loaded = import_dataset(db, mapping, folder, user="test", names=False)
    assert [x.source for x in loaded] == ["tiny"] and "tiny-names" not in db.sources
    assert report.entities["names.csv (left out)"] == 2
    assert facts(db).props["name"] == {}


def test_a_failed_import_loads_neither_source(db: Any, dataset: tuple[Any, Path]) -> None:
    mapping, folder = dataset
    _write(folder / "accused.csv", [["UID", "case", "finding"], ["101", "C1", "XX"]])  # not a code
    before = db.data_version
    with pytest.raises(InputError) as caught:  # the findings rule rejected every row: an error, not a 0
        import_dataset(db, mapping, folder, user="test")
    (issue,) = caught.value.issues
    assert (issue.rule, issue.field, issue.line) == ("empty rule", "tables[4]", 44)
    assert "rejected every one of the 1 rows it read (finding: unknown code 'XX'" in issue.message
    assert db.data_version == before
    (folder / "profiles.csv").write_text("UID,first,last\nnot-a-number,A,B\n", encoding="utf-8")
    _write(folder / "accused.csv", [["UID", "case", "finding"], ["101", "C1", "SU"]])
    with pytest.raises(InputError):  # the finding names officer 101, whom no source defines now
        import_dataset(db, mapping, folder, user="test")
    assert db.data_version == before  # neither the dataset nor its names changed


def test_names_in_a_folder_with_other_tables_are_refused(tmp_path: Path) -> None:
    _write(tmp_path / "officers.csv", [["key", "source"], ["A", "doc"]])
    _write(tmp_path / "names.csv", [["of", "name", "source"], ["A", "Alex Example", "doc"]])
    _write(tmp_path / "sources.csv", [["key", "title"], ["doc", "A document"]])
    with pytest.raises(InputError) as caught:
        converted(tmp_path, base="https://example.org/id/")
    assert any(i.file == "names.csv" and i.rule == "own source" for i in caught.value.issues)
    assert plan([tmp_path])  # a plan is only paths: the refusal comes when the folder is read


COMBINING = """
[dataset]
name = "combining"
title = "A fictional force's findings, some rows repeated"

[files]
rows = "rows.csv"

[codes.finding]
SU = "misconduct-proven"
NS = "not-proven"
PEND = ""

[codes.outcome]
REP = "written-warning"
SEP = "dismissal"

[[tables]]
target = "officers"
from = "rows"
[tables.columns]
key = { column = "UID", required = true }

[[tables]]
target = "investigations"
from = "rows"
[tables.columns]
key = { column = "case", required = true }
status = { value = "concluded" }

[[tables]]
target = "allegations"
from = "rows"
[tables.columns]
key = { template = "{investigation}/{_type}" }
investigation = { column = "case", required = true }
_type = { column = "type", required = true }

[[tables]]
target = "findings"
from = "rows"
[tables.columns]
officer = { column = "UID", required = true }
allegation = { template = "{_case}/{_type}" }
_case = { column = "case", required = true }
_type = { column = "type", required = true }
result = { column = "finding", codes = "finding", unknown = "empty" }
outcomes = { column = "outcome", codes = "outcome", unknown = "empty" }
"""

ROWS = [["UID", "case", "type", "finding", "outcome", "notes"],
        ["1", "C1", "force", "NS", "", "x"], ["1", "C1", "force", "SU", "REP", "x"],  # the same finding, twice
        ["2", "C1", "force", "PEND", "SEP", "x"], ["2", "C1", "force", "NS", "", "x"],
        ["3", "C2", "rude", "NS", "??", ""], ["3", "C3", "rude", "NS", "??", ""], ["4", "C3", "rude", "XX", "", ""]]


def _combining(tmp_path: Path, declared: str = "") -> tuple[Any, Path]:
    text = COMBINING.replace('unknown = "empty" }\noutcomes', f'unknown = "empty"{declared} }}\noutcomes')
    (tmp_path / "m.toml").write_text(text.replace('codes = "outcome", unknown = "empty" }',
                                                  'codes = "outcome", unknown = "empty", combine = "all" }'),
                                     encoding="utf-8")
    folder = tmp_path / "data"
    folder.mkdir(exist_ok=True)
    _write(folder / "rows.csv", ROWS)
    return read_mapping(tmp_path / "m.toml"), folder


def test_rows_that_disagree_on_a_key_are_an_error_unless_the_mapping_says_how_to_combine(
        db: Any, tmp_path: Path) -> None:
    mapping, folder = _combining(tmp_path)
    before = db.data_version
    with pytest.raises(InputError) as caught:
        import_dataset(db, mapping, folder, user="test")
    (issue,) = caught.value.issues
    assert issue.rule == "disagreeing rows" and issue.field == "findings.csv.result"
    assert "rows.csv:3 and rows.csv:2" in issue.message and "combine" in issue.message
    assert db.data_version == before  # nothing loaded


def test_merged_rows_emptied_codes_and_unmapped_columns_are_counted(db: Any, tmp_path: Path) -> None:
    mapping, folder = _combining(tmp_path, ', combine = "prefer", prefer = ["misconduct-proven", "not-proven"]')
    report, _ = import_dataset(db, mapping, folder, user="test")
    assert report.merged["findings.csv"] == 2 and report.disagreeing["findings.csv"] == 1
    assert report.disagreed[("findings.csv", "result")] == 1  # 1: NS then SU; 2: blank (PEND) then NS: no conflict
    assert report.disagreed[("findings.csv", "outcomes")] == 0
    assert report.merged["allegations.csv"] == 4 and report.disagreeing["allegations.csv"] == 0
    assert report.emptied[("findings.csv", "outcomes")] == {"??": 2}  # unknown codes, counted with their values
    assert report.emptied[("findings.csv", "result")] == {"XX": 1}  # PEND maps to empty on purpose: not counted
    assert report.unmapped == {"rows.csv": ("notes",)}
    text = "\n".join(report.lines())
    assert "merged       2 rows into others of findings.csv" in text and "'??' 2" in text
    assert "unmapped: rows.csv columns notes" in text
    f = facts(db)
    results = {(f.value(f.value(x, "officer") or "", "identifier"), f.value(f.value(x, "allegation") or "",
                "identifier")): (f.values(x, "result"), f.values(x, "outcome")) for x in f.of_type("Finding")}
    proven, not_proven = "https://w3id.org/oversight/ontology#MisconductProven", \
        "https://w3id.org/oversight/ontology#NotProven"
    assert results[("1", "C1/force")][0] == (proven,)  # the most serious of the two rows
    assert results[("2", "C1/force")][0] == (not_proven,)
    assert len(results[("2", "C1/force")][1]) == 1  # SEP kept from the first row
    co = [x for x in f.of_type("Allegation") if f.value(x, "identifier") == "C1/force"]
    assert len(co) == 1 and len(f.referrers(co[0], "allegation")) == 2  # one allegation, two subjects


def test_combine_is_checked_with_the_mapping(tmp_path: Path) -> None:
    (tmp_path / "m.toml").write_text(COMBINING.replace('codes = "finding", unknown = "empty" }',
                                                       'codes = "finding", combine = "all" }'), encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_mapping(tmp_path / "m.toml")
    assert [i.field for i in caught.value.issues] == ["tables[3].columns.result"]
    assert "takes one" in caught.value.issues[0].message


SCOPED = """[dataset]
name = "%s"
title = "A fictional force"
%s
[files]
people = "people.csv"

[[tables]]
target = "officers"
from = "people"
[tables.columns]
key = { column = "id", required = true }
pseudonym = { column = "label" }
"""


def test_keys_of_different_datasets_name_different_officers(db: Any, tmp_path: Path) -> None:
    """Two forces both number their officers from 1: their officer 1s are two people, not one (keys are scoped by
    the dataset; the shown identifier is the source's own). A mapping that declares another's scope shares its
    officers, on purpose."""
    for name, extra, labels in (("north", "", "N"), ("south", "", "S"), ("north-roster", 'scope = "north"', "R")):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "people.csv").write_text(f"id,label\n1,{labels}1\n2,{labels}2\n", encoding="utf-8")
        (folder / "m.toml").write_text(SCOPED % (name, extra), encoding="utf-8")
        import_dataset(db, read_mapping(folder / "m.toml"), folder, user="test")
    f = facts(db)
    officers = f.of_type("Officer")
    assert len(officers) == 4  # north 1, 2 (shared with north-roster); south 1, 2
    assert sorted(f.value(o, "identifier") or "" for o in officers) == ["1", "1", "2", "2"]
    by_pseudonyms = sorted(tuple(sorted(f.values(o, "pseudonym"))) for o in officers)
    assert by_pseudonyms == [("N1", "R1"), ("N2", "R2"), ("S1",), ("S2",)]


def test_a_scope_is_checked(tmp_path: Path) -> None:
    (tmp_path / "m.toml").write_text(SCOPED % ("north", 'scope = "Not A Name"\nlicense = "typo"'), encoding="utf-8")
    with pytest.raises(InputError) as error:
        read_mapping(tmp_path / "m.toml")
    assert {i.field for i in error.value.issues} >= {"dataset.scope", "dataset"}


@pytest.mark.parametrize("text", ["dataset = 5\n", "dataset = [1]\n", '[dataset]\nname = "x"\ntitle = "t"\nlicense = "typo"\n'])
def test_a_malformed_dataset_section_is_reported_not_a_traceback(tmp_path: Path, text: str) -> None:
    (tmp_path / "m.toml").write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as error:
        read_mapping(tmp_path / "m.toml")
    assert any(i.field == "dataset" for i in error.value.issues)
