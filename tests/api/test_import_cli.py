"""``oversight import``: a dry run translates and validates the first rows of each file and loads nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from api.cli import cli

HEADERLESS = Path(__file__).resolve().parents[1] / "data" / "headerless"


def _run(settings: dict[str, Any], *args: str) -> Any:
    return CliRunner().invoke(cli, ["--data-dir", settings["DATA_DIR"], *args], catch_exceptions=False)


def test_a_dry_run_prints_the_report_and_samples_and_loads_nothing(settings: dict[str, Any]) -> None:
    mapping = str(HEADERLESS / "mapping.toml")
    result = _run(settings, "import", mapping, str(HEADERLESS), "--dry-run", "--rows", "3")
    assert result.exit_code == 0, result.output
    assert "dry run: the first 3 rows of each file; nothing loaded" in result.output
    assert "read         3 rows of accused.psv" in result.output and "sample of findings.csv:" in result.output
    assert "officer=7001, allegation=N19-1/FORCE, result=misconduct-proven, outcomes=suspension" in result.output
    stats = _run(settings, "stats")
    assert "northvale" not in stats.output  # nothing was loaded
    body = json.loads(_run(settings, "import", mapping, str(HEADERLESS), "--dry-run", "--json").output)
    assert body["loaded"] is False and body["rows_read"]["accused.psv"] == 8 and body["problems"] == []
    assert body["merged"][0]["table"] == "allegations.csv"


def test_a_dry_run_exits_non_zero_when_the_import_would_fail(settings: dict[str, Any], tmp_path: Path) -> None:
    text = (HEADERLESS / "mapping.toml").read_text("utf-8").replace(', combine = "prefer", prefer = '
                                                                   '["misconduct-proven", "not-proven"]', "")
    (tmp_path / "m.toml").write_text(text, encoding="utf-8")
    result = _run(settings, "import", str(tmp_path / "m.toml"), str(HEADERLESS), "--dry-run")
    assert result.exit_code == 1
    assert "disagreeing rows" in result.output and "findings.csv.result" in result.output


def test_a_misspelt_column_fails_before_reading(settings: dict[str, Any], tmp_path: Path) -> None:
    text = (HEADERLESS / "mapping.toml").read_text("utf-8").replace('column = "incident"', 'column = "incidnet"')
    (tmp_path / "m.toml").write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli, ["--data-dir", settings["DATA_DIR"], "import", str(tmp_path / "m.toml"),
                                      str(HEADERLESS)])
    assert result.exit_code != 0
    assert "column 'incidnet' is not in the header of complaints-2019.txt; nearest: incident" in result.output


def test_import_through_a_running_service_goes_through_its_validated_route(tmp_path: Path) -> None:
    """``import --server``: translated here, sent as the service's own PUT /sources/NAME (a steward's token),
    so a bad token loads nothing and the service's store holds the mapping's result."""
    import subprocess
    import sys
    import urllib.request

    from api.access import Tokens
    from tests.conftest import served

    data = tmp_path / "store"
    data.mkdir()
    steward = Tokens(str(data)).create("steward", "test steward")[1]
    reader = Tokens(str(data)).create("reader", "test reader")[1]
    mapping = str(HEADERLESS / "mapping.toml")
    with served(data, AUTH="true") as (_, url):
        def run(token: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "api", "import", mapping, str(HEADERLESS), "--server", url],
                                  env={**__import__("os").environ, "OVERSIGHT_TOKEN": token},
                                  capture_output=True, text=True, timeout=120)

        refused = run(reader)
        assert refused.returncode == 1 and "Traceback" not in refused.stderr
        done = run(steward)
        assert done.returncode == 0, done.stderr
        assert "through " + url in done.stdout and "read " in done.stdout
        request = urllib.request.Request(url + "/sources", headers={"Authorization": f"Bearer {steward}",
                                                                   "Accept": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            names = {s["name"] for s in __import__("json").load(response)["sources"]}
        assert "northvale" in names
