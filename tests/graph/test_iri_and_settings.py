"""Minted IRIs are opaque and stable; settings parse, override and fail with the variable's name."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from graph.errors import ConfigError
from graph.iri import mint
from graph.settings import SETTINGS, resolve

BASE = "https://w3id.org/oversight/id/"


@given(st.text(min_size=1, max_size=40))
def test_minted_iris_are_stable_opaque_and_never_contain_the_key(key: str) -> None:
    iri = mint("officer", key, base=BASE).value
    assert iri == mint("officer", key, base=BASE).value
    assert iri.startswith(BASE + "officer/") and len(iri) == len(BASE) + len("officer/") + 20
    assert key not in iri[len(BASE + "officer/"):] or len(key) <= 2  # a 1-2 char key may occur in hex by chance


def test_minting_depends_on_kind_key_and_base() -> None:
    a = mint("officer", "Jane Example", base=BASE).value
    assert "Jane" not in a and "Example" not in a
    assert a != mint("person", "Jane Example", base=BASE).value
    assert mint("officer", "Jane Example", base="https://example.org/x/").value.startswith("https://example.org/x/")


def test_settings_come_from_overrides_then_environment_then_defaults() -> None:
    values = resolve({"PORT": "8080"}, environ={"OVERSIGHT_PORT": "9090", "OVERSIGHT_HOST": "0.0.0.0"})
    assert values["PORT"] == 8080 and values["HOST"] == "0.0.0.0" and values["STORE"] == "oxigraph"
    assert set(values) == {s.name for s in SETTINGS}
    assert all(s.help for s in SETTINGS)


@pytest.mark.parametrize(("name", "value"), [("PORT", "http"), ("STORE", "postgres"), ("BASE_IRI", "urn:x"),
                                             ("LOAD_BUNDLED", "perhaps"), ("THREADS", "0")])
def test_bad_settings_name_the_variable_and_the_rule(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(environ={f"OVERSIGHT_{name}": value})
    assert f"OVERSIGHT_{name}={value!r}" in str(info.value) and "must" in str(info.value)


def test_the_remote_store_needs_an_endpoint_that_answers() -> None:
    """A remote store with no endpoint is a setting error; one that does not answer is a clear StoreUnavailable."""
    from graph import open_database
    from graph.errors import StoreUnavailable

    with pytest.raises(ConfigError, match="OVERSIGHT_SPARQL_ENDPOINT"):
        open_database(resolve({"STORE": "sparql"}, environ={}))
    with pytest.raises(StoreUnavailable, match=r"http://127\.0\.0\.1:1/sparql does not answer"):
        open_database(resolve({"STORE": "sparql", "SPARQL_ENDPOINT": "http://127.0.0.1:1/sparql",
                               "STORE_TIMEOUT": "2"}, environ={}))


@pytest.mark.parametrize("value", ["doc\n", "2020\n", "12\n", "abc\n", "https://example.org/x\n"])
def test_whole_value_patterns_refuse_a_trailing_line_break(value: str) -> None:
    """``$`` also matches before a final newline: every whole-value pattern ends with ``\\Z`` instead."""
    import re

    from api import access
    from graph.ingest import converter, tables
    from graph.iri import SOURCE_NAME, source_name_problem
    from graph.sparql import saved

    patterns = [SOURCE_NAME, converter._DATE, converter._DATETIME, converter._INT, tables._DATE, tables._DATETIME,
                tables._INT, tables.SCHEME_NAME, saved._IRI, saved.ENTITY_ID, saved.DATE, access._TOKEN]
    assert all(isinstance(p, re.Pattern) and not p.match(value) for p in patterns), value
    assert source_name_problem(value) is not None
    assert source_name_problem("doc") is None and SOURCE_NAME.match("doc") and saved.ENTITY_ID.match("abc")
