"""Docs stay true to the code: settings table, data format, CI command, stored queries."""

from __future__ import annotations

import re
from pathlib import Path

import pyoxigraph as ox

from graph.ingest.reference import BEGIN, END, render_docs
from graph.queries import PARAM_TYPES, all_internal
from graph.settings import SETTINGS

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_is_in_the_readme_table_and_nothing_else() -> None:
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `(OVERSIGHT_\w+)` \|", readme, re.MULTILINE))
    assert documented == {s.env for s in SETTINGS}
    for setting in SETTINGS:
        if setting.flag:
            assert re.search(rf"^\| `{setting.env}` \| `{setting.flag}` \|", readme, re.MULTILINE), setting.env


def test_data_format_reference_is_generated_from_the_format() -> None:
    text = (ROOT / "docs" / "data-format.md").read_text()
    generated = text.split(BEGIN)[1].split(END)[0]
    assert generated.strip() == render_docs().strip(), \
        "stale: python -c 'import graph.ingest.reference as r; r.write_docs()'"


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.+?)\n```", readme, re.DOTALL)
    test_command = next(b for b in blocks if "pytest" in b)
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_command in ci.splitlines()


def test_the_readme_commands_do_not_share_an_environment() -> None:
    """Running the tests must not reinstall the package under a running service (issue 13, item 13)."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.+?)\n```", readme, re.DOTALL)
    serve = next(b for b in blocks if "oversight serve" in b)
    test = next(b for b in blocks if "pytest" in b)
    venv = lambda command: set(re.findall(r"python3 -m venv (\S+)", command))  # noqa: E731
    assert venv(serve) and venv(test) and not venv(serve) & venv(test)
    assert all(f"{v}/" not in test for v in venv(serve))  # nor runs anything from the service's


def test_every_stored_query_parses_declares_its_parameters_and_is_used() -> None:
    sources = "\n".join(p.read_text() for p in (ROOT / "graph").rglob("*.py"))
    store = ox.Store()
    for query in all_internal():
        store.query(query.text)  # parses, and runs on an empty store without binding anything
        variables = set(re.findall(r"\?(\w+)", query.text))
        for name, kind, _help in query.params:
            assert kind in PARAM_TYPES
            assert name in variables, f"{query.name}: parameter {name} not used"
        assert f'"{query.name}"' in sources, f"{query.name}.rq is never used"
