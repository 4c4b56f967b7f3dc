"""Mappings read any CSV dialect, and check every column they name against the files before reading a row.

The dataset in ``tests/data/headerless/`` is fictional: two yearly complaint files of one shape (latin-1,
';'-separated, quoted with ', a title line, no header) and a '|'-separated accused file known only by
column positions.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from graph.errors import InputError
from graph.ingest.mapping import import_dataset, read_mapping, translate
from graph.linkage.facts import facts
from ontology import OV

HEADERLESS = Path(__file__).resolve().parents[1] / "data" / "headerless"


def test_a_headerless_multi_file_dataset_imports_from_its_mapping(db: Any, tmp_path: Path) -> None:
    report, _ = import_dataset(db, read_mapping(HEADERLESS / "mapping.toml"), HEADERLESS, user="test")
    assert report.rows_read == {"complaints-2019.txt": 2, "complaints-2020.txt": 2, "accused.psv": 8}  # glob, list
    assert report.unmapped["complaints-2019.txt"] == ("note",)  # the named columns of a headerless file
    assert report.rejected[("findings.csv", "no officer number")] == 1
    f = facts(db)
    by_id = {f.value(x, "identifier"): x for x in f.of_type("Investigation", "Allegation")}
    assert f.value(by_id["N19-1"], "occurredOn") == "2019-02-28"  # skipRows, quoteChar, skipInitialSpace
    assert f.value(by_id["N19-1"], "receivedOn") == "2019-03-01"
    assert f.value(by_id["N19-2"], "occurredOn") is None  # a blank cell
    both = f.referrers(by_id["N20-2/FORCE"], "allegation")  # one allegation, two subjects
    assert len(both) == 2 and f.values(by_id["N20-2/FORCE"], "category") == (str(OV.UseOfForce),)
    (combined,) = f.referrers(by_id["N20-1/FORCE"], "allegation")  # two rows, the more serious result kept
    assert f.values(combined, "result") == (str(OV.MisconductProven),)
    assert f.values(combined, "outcome") == (str(OV.DismissalWithoutNotice),)


def _mapping(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "m.toml"
    path.write_text(text, encoding="utf-8")
    return read_mapping(path)


BASE = """[dataset]
name = "strict"
title = "A fictional force"

[files]
people = "people.csv"

[[tables]]
target = "officers"
from = "people"
[tables.columns]
key = { column = "%s", required = true }
"""


def test_a_column_missing_from_the_header_fails_before_any_row_is_read(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_text(" UID ,unit_name\n1,A\n", encoding="utf-8")  # header names are trimmed
    report = translate(_mapping(tmp_path, BASE % "UID"), tmp_path, tmp_path / "out")
    assert report.entities["officers.csv"] == 1
    with pytest.raises(InputError) as caught:
        translate(_mapping(tmp_path, BASE % "UDI"), tmp_path, tmp_path / "out2")
    (issue,) = caught.value.issues
    assert (issue.file, issue.line, issue.field, issue.rule) == ("m.toml", 12, "tables[0].columns.key",
                                                                 "column exists")
    assert issue.message == "column 'UDI' is not in the header of people.csv; nearest: UID"


def test_positions_and_headerless_files_are_checked_too(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_text("1,A\n2,B\n", encoding="utf-8")
    text = (BASE % "x").replace('people = "people.csv"', '[files.people]\nurl = "people.csv"\nheader = false')
    with pytest.raises(InputError) as caught:
        translate(_mapping(tmp_path, text), tmp_path, tmp_path / "out")
    assert "has no header (header = false)" in caught.value.issues[0].message
    text = text.replace('column = "x"', "column = 3")
    with pytest.raises(InputError) as caught:
        translate(_mapping(tmp_path, text), tmp_path, tmp_path / "out")
    assert caught.value.issues[0].message == "people.csv has 2 columns, not 3"
    report = translate(_mapping(tmp_path, text.replace("column = 3", "column = 1")), tmp_path, tmp_path / "o")
    assert report.entities["officers.csv"] == 2 and report.rows_read["people.csv"] == 2  # no row lost to a header


@pytest.mark.parametrize(("entry", "message"), [
    ('[files.people]\nurl = "people.csv"\ndelimiter = ";;"', "must be one character"),
    ('[files.people]\nurl = "people.csv"\nquotechar = "\'"', "unknown key 'quotechar'"),
    ('[files.people]\nurl = "people.csv"\ncolumns = ["a"]', "say header = false"),
    ('[files.people]\nurl = "people.csv"\nencoding = "klingon"', "unknown encoding"),
    ('[files.people]\nheader = false', "give url"),
])
def test_dialects_are_checked_with_the_mapping(tmp_path: Path, entry: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        _mapping(tmp_path, (BASE % "UID").replace('[files]\npeople = "people.csv"', entry))
    assert message in str(caught.value)


def test_column_zero_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        _mapping(tmp_path, (BASE % "UID").replace('column = "UID"', "column = 0"))
    assert "position (1 for the first column)" in str(caught.value)


def test_a_rule_that_makes_no_row_fails_unless_lowered_to_a_warning(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_text("UID\n\n \n", encoding="utf-8")
    report = translate(_mapping(tmp_path, BASE % "UID"), tmp_path, tmp_path / "out")
    assert [i.rule for i in report.errors] == ["empty rule"]
    assert "rejected every one of the 1 rows it read (UID is blank: 1)" in report.errors[0].message
    lowered = (BASE % "UID").replace('from = "people"', 'from = "people"\nempty = "warn"')
    report = translate(_mapping(tmp_path, lowered), tmp_path, tmp_path / "out2")
    assert report.errors == [] and [i.rule for i in report.warnings] == ["empty rule"]


def test_the_headerless_fixture_is_what_the_docs_describe(tmp_path: Path) -> None:
    shutil.copytree(HEADERLESS, tmp_path / "d")
    (tmp_path / "d" / "complaints-2021.txt").write_bytes(b"title\nN21-1;'01.01.2021';;''\n")  # the glob finds it
    report = translate(read_mapping(tmp_path / "d" / "mapping.toml"), tmp_path / "d", tmp_path / "out")
    assert report.rows_read["complaints-2021.txt"] == 1 and report.entities["investigations.csv"] == 5


@pytest.mark.parametrize("name", ["/etc/passwd", "../outside.csv", "sub/../../outside.csv", "~/x.csv", "../*.csv"])
def test_files_outside_the_dataset_folder_are_refused(tmp_path: Path, name: str) -> None:
    """A mapping names files inside its dataset's folder only: an absolute path, '..' or '~' is an input error
    naming the entry (not a traceback, and never a file read from elsewhere)."""
    from graph.ingest.dialect import FileSpec, resolve

    (tmp_path / "outside.csv").write_text("a\n1\n")
    folder = tmp_path / "dataset"
    folder.mkdir()
    with pytest.raises(InputError) as error:
        resolve(FileSpec((name,)), folder)
    assert error.value.issues[0].rule == "inside the dataset folder"
