"""Functions, lookups and filters in mappings, on the fictional dataset in ``tests/data/riverton/``.

Riverton has yearly complaint registers without a header, an allegations file known only by column positions
that names officers by star number, and a roster (the one file with a header) that gives each star number's
employee id. Its mapping extracts, replaces, splits, keys allegations by their row, looks the officers up in the
roster and keeps only the officers and names the allegations concern.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from graph.errors import InputError
from graph.ingest.mapping import dry_run, import_dataset, read_mapping, translate
from graph.linkage.facts import facts
from ontology import OV
from ontology.concepts import by_notation

RIVERTON = Path(__file__).resolve().parents[1] / "data" / "riverton"
OUTCOMES = {n: c.iri for n, c in by_notation(str(OV.Outcome)).items()}


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(RIVERTON, tmp_path / "riverton")
    return tmp_path / "riverton"


def _edit(folder: Path, old: str, new: str) -> Any:
    text = (folder / "mapping.toml").read_text("utf-8")
    assert old in text, old
    (folder / "mapping.toml").write_text(text.replace(old, new), encoding="utf-8")
    return read_mapping(folder / "mapping.toml")


def test_riverton_imports_with_functions_lookups_and_filters(db: Any) -> None:
    report, loaded = import_dataset(db, read_mapping(RIVERTON / "mapping.toml"), RIVERTON, user="test")
    assert [x.source for x in loaded] == ["riverton", "riverton-names"]
    assert report.rows_read == {"cases-2021.txt": 2, "cases-2022.txt": 1, "allegations.psv": 8, "roster.tsv": 6}
    assert report.entities == {"investigations.csv": 3, "allegations.csv": 8, "findings.csv": 5,
                               "officers.csv": 4, "names.csv": 4, "postings.csv": 4, "concepts.csv": 4}
    # every row that made nothing is counted, with its reason: rejected, filtered out, or a value emptied
    assert report.rejected == {("findings.csv", "_star: not found in column 'star' of roster"): 1,
                               ("findings.csv", "no star number"): 1}
    assert report.examples[("findings.csv", "_star: not found in column 'star' of roster")] == "allegations.psv:6"
    assert report.filtered == {("findings.csv", "where[0]: column 4 differs 'WITHDRAWN'"): 1,
                               ("officers.csv", "where[0]: column 'star' matches '^[0-9]{4}$'"): 1,
                               ("officers.csv", "where[1]: column 'employee_id' in findings.csv officer"): 1,
                               ("names.csv", "where[0]: column 'star' in column 2 of allegations"): 2,
                               ("postings.csv", "where[0]: column 'employee_id' in findings.csv officer"): 2}
    assert report.filtered_first[("officers.csv", "where[1]: column 'employee_id' in findings.csv officer")] == \
        "roster.tsv:6"
    assert report.emptied == {("findings.csv", "outcomes"): {"8 HOURS TRAINING": 1}}
    assert report.unmatched == {("allegations.csv", "categories"): {"general complaint": 1}}
    assert report.unmapped["roster.tsv"] == ("status",)  # read twice (two steps), unread by either
    assert report.kept == {("postings.csv", "rank"): {"Probationer": 1}}  # not declared: kept, no match
    text = "\n".join(report.lines())
    assert "kept         1 values of postings.csv rank that its vocabulary does not declare" in text
    assert "filtered     2 rows for names.csv: where[0]: column 'star' in column 2 of allegations does not hold" \
        in text and "extract found nothing (most frequent: 'general complaint' 1)" in text

    f = facts(db)
    officers = {f.value(o, "identifier"): o for o in f.of_type("Officer")}
    assert set(officers) == {"E100", "E101", "E102", "E103"}  # E104 never accused, E105 has no star: left out
    assert f.label(officers["E100"]) == "Jamie Doe"
    by_id = {f.value(x, "identifier"): x for x in f.of_type("Investigation", "Allegation")}
    assert set(by_id) >= {"2021-0017", "2021-0042", "2022-0003", "allegations.psv/1"}  # extract; the row's place
    assert f.value(by_id["2021-0017"], "receivedOn") == "2021-03-15"
    assert f.value(by_id["2021-0017"], "description") == "Traffic stop at 5th & Main; complainant's car searched"
    assert f.value(by_id["2021-0042"], "description") == "Caf\u00e9 on Elm street \u2013 evening"  # cp1252
    (first,) = f.referrers(by_id["allegations.psv/1"], "allegation")
    assert f.value(first, "officer") == officers["E100"]  # star #4411, looked up in the roster
    assert set(f.values(first, "outcome")) == {OUTCOMES["written-warning"], OUTCOMES["suspension"]}  # split
    (third,) = f.referrers(by_id["allegations.psv/3"], "allegation")
    assert f.values(third, "outcome") == (OUTCOMES["suspension"],)  # the unknown piece dropped, counted
    assert f.values(by_id["allegations.psv/1"], "category") == (str(OV.UseOfForce),)
    assert f.values(by_id["allegations.psv/4"], "category") == ()
    assert f.referrers(by_id["allegations.psv/5"], "allegation") == ()  # WITHDRAWN: filtered, no finding


def test_a_dry_run_of_riverton_loads_nothing(db: Any) -> None:
    before = db.data_version
    report, problems, _outside = dry_run(db, read_mapping(RIVERTON / "mapping.toml"), RIVERTON, rows=3)
    assert problems == [] and db.data_version == before and "riverton" not in db.sources
    assert report.rows_read["allegations.psv"] == 3 and report.rows_read["roster.tsv"] == 3
    assert report.samples["findings.csv"][0] == {"officer": "E100", "allegation": "allegations.psv/1",
                                                 "result": "misconduct-proven",
                                                 "outcomes": "written-warning;suspension", "source": "riverton"}
    assert report.samples["names.csv"][0]["name"] == "(withheld)"
    # the lookup and the in = { file = ... } read their files whole, even in a dry run: no key is "not found"
    assert not any("not found" in reason for _, reason in report.rejected)


def test_row_keys_are_stable_file_and_line(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    first = translate(read_mapping(folder / "mapping.toml"), folder, tmp_path / "a")
    lines = (folder / "allegations.psv").read_text("utf-8").splitlines()
    (folder / "allegations.psv").write_text("\n".join(lines[:3] + lines[4:]) + "\n", encoding="utf-8")
    second = translate(read_mapping(folder / "mapping.toml"), folder, tmp_path / "b")
    keys = [(tmp_path / x / "riverton" / "allegations.csv").read_text("utf-8").splitlines() for x in "ab"]
    assert keys[0][1:4] == keys[1][1:4]  # rows before the one removed keep their keys
    assert first.entities["allegations.csv"] == 8 and second.entities["allegations.csv"] == 7


def test_a_lookup_key_not_found_can_leave_the_cell_empty_and_is_counted(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    m = _edit(folder, 'column = "employee_id", required = true }\nresult',
              'column = "employee_id", unknown = "empty", required = true, reason = "not on the roster" }\nresult')
    report = translate(m, folder, tmp_path / "out")
    assert report.not_found == {("findings.csv", "officer"): {"9999": 1}}
    assert "  emptied      1 values of findings.csv officer: key not found by the lookup (most frequent: '9999' 1)" \
        in report.lines()
    assert report.rejected[("findings.csv", "not on the roster")] == 1  # then blank, and required: rejected


def test_a_lookup_key_on_several_rows_is_counted(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    with (folder / "roster.tsv").open("a", encoding="utf-8") as handle:
        handle.write("E900\t4411\tOfficer\tZoe\tSam\tACTIVE\n")  # a second employee with star 4411
    report = translate(read_mapping(folder / "mapping.toml"), folder, tmp_path / "out")
    assert report.ambiguous == {"roster 'star'": 1}
    assert "  lookup: 1 keys of roster 'star' are on several rows; the first row of each is used" in report.lines()
    assert "E900" not in (tmp_path / "out" / "riverton" / "findings.csv").read_text("utf-8")


BASE = """[dataset]
name = "ops"
title = "A fictional force"

[files]
people = "people.csv"
other = "other.csv"

[[tables]]
target = "officers"
from = "people"
%s
[tables.columns]
key = { column = "id", required = true }
"""


@pytest.mark.parametrize(("where", "kept"), [
    ('{ column = "grade", equals = "A" }', ["1", "4"]),
    ('{ column = "grade", differs = "A" }', ["2", "3", "5"]),
    ('{ column = "grade", one_of = ["B", "C"] }', ["2", "3"]),
    ('{ column = "grade", one_of = ["B", "C"], negate = true }', ["1", "4", "5"]),
    ('{ column = "years", min = 10 }', ["2", "3"]),  # "ten" is not a number: fails both min and max
    ('{ column = "years", max = 10.5 }', ["1", "2", "4"]),
    ('{ column = 2, matches = "^[AB]$" }', ["1", "2", "4"]),
    ('{ column = "id", in = { file = "other", column = "ref" } }', ["1", "3"]),
    ('{ column = "id", in = { file = "other", column = 1 }, negate = true }', ["2", "4", "5"]),
    ('{ column = "code", extract = "([0-9]+)", normalise = ["integer"], in = { file = "other", column = "ref" } }',
     ["1", "3"]),  # the functions made both sides: "x01" and "1" are 1
    ('{ column = "grade", replace = ["[BC]", "A"], equals = "A" }', ["1", "2", "3", "4"]),
])
def test_each_where_operator_keeps_only_the_rows_that_pass(tmp_path: Path, where: str, kept: list[str]) -> None:
    (tmp_path / "people.csv").write_text("id,grade,years,code\n1,A,3,x01\n2,B,10,x2\n3,C,12,x03\n4,A,1,x4\n5,,ten,\n",
                                         encoding="utf-8")
    (tmp_path / "other.csv").write_text("ref,x\n1,a\n03,b\n3,c\n", encoding="utf-8")
    (tmp_path / "m.toml").write_text(BASE % f"where = [{where}]", encoding="utf-8")
    report = translate(read_mapping(tmp_path / "m.toml"), tmp_path, tmp_path / "out")
    import csv

    with (tmp_path / "out" / "ops" / "officers.csv").open(encoding="utf-8") as handle:
        made = list(csv.DictReader(handle))
    assert [row["identifier"] for row in made] == kept  # the dataset's own keys, shown
    assert [row["key"] for row in made] == [f"ops/{k}" for k in kept]  # keys scoped by the dataset
    assert sum(report.filtered.values()) == 5 - len(kept) and not report.rejected  # left out, not rejected


def test_a_rule_whose_where_keeps_nothing_fails_the_import_and_says_why(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_text("id\n1\n2\n", encoding="utf-8")
    (tmp_path / "other.csv").write_text("ref\n", encoding="utf-8")
    (tmp_path / "m.toml").write_text(BASE % 'where = { column = "id", equals = "9" }', encoding="utf-8")
    report = translate(read_mapping(tmp_path / "m.toml"), tmp_path, tmp_path / "out")
    (error,) = report.errors
    assert (error.rule, error.field, error.line) == ("empty rule", "tables[0]", 9)
    assert "made no row: its where left out 2 of the 2 rows it read" in error.message


@pytest.mark.parametrize(("change", "field", "message"), [
    ('where = [{ column = "id", equal = "1" }]', "tables[0].where[0]", "unknown keys ['equal']"),
    ('where = [{ column = "id" }]', "tables[0].where[0]", "give exactly one of equals, differs, one_of"),
    ('where = [{ column = "id", matches = "(" }]', "tables[0].where[0]", "not a regular expression: '('"),
    ('where = [{ column = "id", in = { file = "nowhere", column = "x" } }]', "tables[0].where[0]",
     "names no entry of [files]: 'nowhere'"),
    ('where = [{ column = "id", in = { table = "findings", column = "officer" } }]', "tables[0].where[0]",
     "names no table that a rule of this mapping fills: 'findings'"),
    ('where = [{ column = "id", min = "3" }]', "tables[0].where[0]", "give a number"),
    ('where = [{ column = 0, equals = "1" }]', "tables[0].where[0]", "position (1 for the first)"),
    ('where = "id = 1"', "tables[0].where", "give a condition"),
])
def test_where_is_checked_when_the_mapping_is_read(tmp_path: Path, change: str, field: str, message: str) -> None:
    (tmp_path / "m.toml").write_text(BASE % change, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_mapping(tmp_path / "m.toml")
    (issue,) = caught.value.issues
    assert (issue.field, issue.line) == (field, 12) and message in issue.message, str(issue)


@pytest.mark.parametrize(("column", "message"), [
    ('{ column = "id", extract = "([0-9" }', "extract: not a regular expression"),
    ('{ column = "id", extract = "(a)(b)" }', "at most one group"),
    ('{ column = "id", replace = ["a"] }', 'give ["pattern", "replacement"]'),
    ('{ column = "id", replace = ["(a)", "\\\\2"] }', "bad replacement"),
    ('{ column = "id", split = "+" }', "split makes several values: it needs a column that takes several"),
    ('{ row = false }', "say row = true"),
    ('{ row = true, column = "id" }', "give exactly one of column, value, template or row"),
    ('{ lookup = "nowhere", on = "_x", match = "a", column = "b" }', "lookup: names no entry of [files]"),
    ('{ lookup = "other", match = "a", column = "b" }', "a lookup takes column"),
    ('{ lookup = "other", on = "key", match = "a", column = "b" }', "'key' is not another column of this rule"),
    ('{ column = "id", on = "x" }', "on and match go with lookup"),
])
def test_functions_are_checked_when_the_mapping_is_read(tmp_path: Path, column: str, message: str) -> None:
    (tmp_path / "m.toml").write_text(BASE.replace('key = { column = "id", required = true }', f"key = {column}")
                                     % "", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_mapping(tmp_path / "m.toml")
    issues = [i for i in caught.value.issues if i.field == "tables[0].columns.key"]
    assert issues and issues[0].line == 14 and any(message in f"{i.rule}: {i.message}" for i in issues), \
        caught.value.issues


def test_columns_that_need_each_other_in_a_circle_are_refused(tmp_path: Path) -> None:
    text = (BASE % "").replace('key = { column = "id", required = true }',
                               'key = { template = "{_a}" }\n_a = { lookup = "other", on = "key", match = "ref", '
                               'column = "x" }')
    (tmp_path / "m.toml").write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_mapping(tmp_path / "m.toml")
    assert [(i.rule, i.field) for i in caught.value.issues] == [("order", "tables[0]")]


def test_lookup_and_in_columns_are_checked_against_their_files_before_any_row(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    m = _edit(folder, 'match = "star", column = "employee_id"', 'match = "star_no", column = "employee_id"')
    with pytest.raises(InputError) as caught:
        translate(m, folder, tmp_path / "out")
    (issue,) = caught.value.issues
    assert (issue.file, issue.line, issue.field, issue.rule) == ("mapping.toml", 72, "tables[2].columns.officer",
                                                                 "column exists")
    assert issue.message == "column 'star_no' is not in the header of roster.tsv; nearest: star"
    _edit(folder, 'match = "star_no"', 'match = "star"')  # restored; now break the in = { file = ... }
    m = _edit(folder, 'in = { file = "allegations", column = 2 }', 'in = { file = "allegations", column = 9 }')
    with pytest.raises(InputError) as caught:
        translate(m, folder, tmp_path / "out2")
    (issue,) = caught.value.issues
    assert (issue.line, issue.field) == (88, "tables[4].where[0]")
    assert issue.message == "allegations.psv has 5 columns, not 9"


def test_a_table_test_on_a_table_filled_by_a_filtered_rule_is_refused(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    m = _edit(folder, 'in = { file = "allegations", column = 2 }', 'in = { table = "officers", column = "key" }')
    with pytest.raises(InputError) as caught:
        translate(m, folder, tmp_path / "out")
    (issue,) = caught.value.issues
    assert issue.field == "tables[4].where[0]" and "officers is filled by a rule that itself keeps" in issue.message


def test_riverton_ranks_stay_in_riverton_terms_and_count_under_the_core_ranks(db: Any) -> None:
    import_dataset(db, read_mapping(RIVERTON / "mapping.toml"), RIVERTON, user="test")
    f = facts(db)
    officers = {f.value(o, "identifier"): o for o in f.of_type("Officer")}
    rank = {f.value(p, "officer"): f.value(p, "rank") for p in f.of_type("Posting")}
    concept = {o: f.concept(rank[officers[o]]) for o in ("E100", "E101", "E102", "E103")}
    assert {o: (c.notation, c.label) for o, c in concept.items()} == {
        "E100": ("Sergeant", "Sergeant"), "E101": ("Officer", "Police officer"),
        "E102": ("Probationer", "Probationer"), "E103": ("Detective", "Detective")}
    (scheme,) = {c.scheme for c in concept.values()}
    assert scheme.startswith("https://w3id.org/oversight/id/scheme/")  # the dataset's own scheme, not the core's
    ranks = {n: c.iri for n, c in by_notation(str(OV.Rank)).items()}
    assert concept["E100"].iri in f.admitted(frozenset({ranks["supervisor"]}))  # exact_match
    assert concept["E103"].iri in f.admitted(frozenset({ranks["detective"]}))  # broad_match: falls under it
    assert concept["E101"].iri in f.admitted(frozenset({ranks["officer"]}))
    assert concept["E102"].iri not in f.admitted(frozenset({ranks["officer"]}))  # kept with no match: never guessed
    assert concept["E103"].iri not in f.admitted(frozenset({ranks["supervisor"]}))


@pytest.mark.parametrize(("old", "new", "message"), [
    ('rank = { column = "rank", scheme = "riverton-rank" }', 'rank = { column = "rank", scheme = "riverton-ranks" }',
     "names no entry of [vocabularies]: 'riverton-ranks'"),
    ('rank = { column = "rank", scheme = "riverton-rank" }',
     'rank = { column = "rank", scheme = "riverton-rank", codes = "finding" }', "not both"),
    ('class = "rank"', 'class = "outcome"', "holds outcome concepts; rank takes rank"),  # the column's line
    ('class = "rank"', 'class = "ranks"', "unknown class 'ranks'; accepted: allegation-category"),
    ('Sergeant = { exact_match = "supervisor" }', 'Sergeant = { same_as = "supervisor" }',
     "unknown keys ['same_as']"),
    ('result = { column = 4, codes = "finding" }', 'result = { column = 4, codes = "finding", unknown = "keep" }',
     "'keep' goes with scheme"),
])
def test_vocabulary_mistakes_are_named_with_their_line(tmp_path: Path, old: str, new: str, message: str) -> None:
    folder = _copy(tmp_path)
    with pytest.raises(InputError) as caught:
        _edit(folder, old, new)
    (issue,) = [i for i in caught.value.issues if message in str(i)]
    lines = (folder / "mapping.toml").read_text("utf-8").splitlines()
    at = lines.index('rank = { column = "rank", scheme = "riverton-rank" }') if "holds" in message else lines.index(new)
    assert issue.line == at + 1, str(issue)


def test_a_vocabulary_match_onto_no_core_concept_is_a_cell_error(db: Any, tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    m = _edit(folder, 'Sergeant = { exact_match = "supervisor" }', 'Sergeant = { exact_match = "sergeant" }')
    with pytest.raises(InputError) as caught:
        import_dataset(db, m, folder, user="test")
    assert any(i.file == "concepts.csv" and i.field == "exact_match" and "not a rank of the ontology" in i.message
               for i in caught.value.issues), caught.value.issues
    assert "riverton" not in db.sources


def test_undeclared_ranks_can_be_rejected_instead_of_kept(db: Any, tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    m = _edit(folder, 'scheme = "riverton-rank" }', 'scheme = "riverton-rank", unknown = "reject" }')
    report, _ = import_dataset(db, m, folder, user="test")
    assert report.kept == {}
    assert report.rejected[("postings.csv", "rank: 'Probationer' is not a concept of [vocabularies.riverton-rank]")] == 1
    assert report.entities["concepts.csv"] == 3


def test_default_reads_a_blank_cell_as_a_value_before_the_other_functions(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    m = _edit(folder, '_star = { column = 2, extract = "([0-9]+)", required = true, reason = "no star number" }',
              '_star = { column = 2, extract = "([0-9]+)", required = true, reason = "no star number", default = "#6002" }')
    report = translate(m, folder, tmp_path / "out")
    assert ("findings.csv", "no star number") not in report.rejected
    assert report.entities["findings.csv"] == 6  # line 7 is now star #6002's (E103) finding
    with pytest.raises(InputError) as caught:
        _edit(folder, 'default = "#6002"', 'default = " "')
    assert any("default goes with column" in i.message for i in caught.value.issues)
