"""Declarative imports on a small fictional dataset: rejected rows counted, names loaded apart or left out."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from graph import plan
from graph.errors import InputError
from graph.facts import facts
from graph.mapping import import_dataset, read_mapping
from graph.pseudonyms import pseudonymous_facts
from graph.tabular import convert

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
    report, _ = import_dataset(db, mapping, folder, user="test")
    assert report.rejected[("findings.csv", "finding: unknown code 'XX' (not in [codes.finding])")] == 1
    before = db.data_version
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
        convert(tmp_path, base="https://example.org/id/")
    assert any(i.file == "names.csv" and i.rule == "own source" for i in caught.value.issues)
    assert plan([tmp_path])  # a plan is only paths: the refusal comes when the folder is read
