"""The `oversight` command: load, validate, query, stats; precise errors and non-zero exits."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from api.cli import cli
from tests.conftest import MINI


@pytest.fixture
def run(settings: dict[str, Any]) -> Any:
    """Invoke the CLI on the test store; returns the click Result."""
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(cli, ["--data-dir", settings["DATA_DIR"], *args], catch_exceptions=False)

    return invoke


def test_load_then_query_and_stats(run: Any) -> None:
    result = run("load", str(MINI))
    assert result.exit_code == 0, result.output
    assert "loaded mini:" in result.output and "data version" in result.output
    table = run("query", "SELECT ?p WHERE { ?o a ov:Officer ; ov:pseudonym ?p } ORDER BY ?p")
    assert table.output.splitlines() == ["p", "----------", "Officer X1", "Officer X2", "Officer X3", "(3 rows)"]
    rows = list(csv.reader(io.StringIO(run("query", "--format", "csv",
                                           "SELECT ?p WHERE { ?o ov:pseudonym ?p } ORDER BY ?p").output)))
    assert rows == [["p"], ["Officer X1"], ["Officer X2"], ["Officer X3"]]
    results = json.loads(run("query", "--format", "json", "ASK { ?o a ov:Officer }").output)
    assert results["boolean"] is True
    stats = json.loads(run("stats", "--format", "json").output)
    assert stats["classes"]["https://w3id.org/oversight/ontology#Finding"] == 3


def test_construct_prints_n_triples(run: Any) -> None:
    run("load", str(MINI))
    out = run("query", "CONSTRUCT { ?o a ov:Officer } WHERE { ?o a ov:Officer }").output
    assert len(out.strip().splitlines()) == 3 and all(line.endswith(" .") for line in out.strip().splitlines())


def test_a_broken_csv_prints_file_line_field_rule_exits_1_and_changes_nothing(run: Any, tmp_path: Path) -> None:
    run("load", str(MINI))
    before = run("stats", "--format", "json").output
    bad = tmp_path / "mini"
    shutil.copytree(MINI, bad)
    text = (bad / "findings.csv").read_text().replace("misconduct-proven", "misconduct-proved")
    (bad / "findings.csv").write_text(text)
    result = run("load", str(bad))
    assert result.exit_code == 1
    assert "findings.csv:2: field 'result': unknown value; accepted:" in result.output
    assert "Traceback" not in result.output
    assert run("stats", "--format", "json").output == before


def test_validate_checks_without_loading(run: Any, tmp_path: Path) -> None:
    assert run("validate", str(MINI)).exit_code == 0
    assert set(json.loads(run("stats", "--format", "json").output)["sources"]) == {"ontology"}
    bad = tmp_path / "x.ttl"
    bad.write_text("<https://example.org/o> a <https://w3id.org/oversight/ontology#Officer> .")
    result = run("validate", str(bad))
    assert result.exit_code == 1 and "needs at least 1 value(s)" in result.output


def test_bad_query_is_an_error_not_a_traceback(run: Any) -> None:
    result = run("query", "SELECT WHERE {")
    assert result.exit_code == 1 and "query syntax" in result.output and "Traceback" not in result.output


def test_bad_setting_names_the_variable(monkeypatch: Any, settings: dict[str, Any]) -> None:
    monkeypatch.setenv("OVERSIGHT_PORT", "http")
    result = CliRunner().invoke(cli, ["--data-dir", settings["DATA_DIR"], "stats"])
    assert result.exit_code == 1 and "OVERSIGHT_PORT='http'" in result.output


def test_a_failing_disk_is_an_error_message_not_a_traceback(run: Any, monkeypatch: Any) -> None:
    from graph.store.backend import OxigraphBackend

    scratch_load = OxigraphBackend.bulk_load

    def full(self: OxigraphBackend, **kwargs: Any) -> None:  # the source's disk write fails; the scratch store's works
        if self.path is None or "/graph/mini/" not in kwargs["graph"].value:
            return scratch_load(self, **kwargs)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(OxigraphBackend, "bulk_load", full)
    result = run("load", str(MINI))
    assert result.exit_code == 3
    assert "No space left on device; nothing was changed" in result.output and "Traceback" not in result.output
    monkeypatch.undo()
    assert set(json.loads(run("stats", "--format", "json").output)["sources"]) == {"ontology"}


@pytest.mark.parametrize("command", [("stats",), ("query", "ASK {}"), ("validate", str(MINI))])
def test_reading_commands_work_on_an_empty_folder_made_for_the_store(tmp_path: Path, command: tuple[str, ...]) -> None:
    folder = tmp_path / "data"
    folder.mkdir()  # a new user's `mkdir data`: no store in it yet
    result = CliRunner().invoke(cli, ["--data-dir", str(folder), *command])
    assert result.exit_code == 0, result.output
    assert "cannot be opened" not in result.output
