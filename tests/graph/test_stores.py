"""One store interface, three real stores: the embedded Oxigraph store, Oxigraph server and Virtuoso.

Each test runs on each store: loads, reloads, deletions, failed and interrupted loads, the linkage facts read
back from the store, and the bundled case's figures. Both servers are real processes on loopback
(:mod:`tests.servers`); the facts from a server are read by a second database opened on it, as a second
service instance would read them (through streamed queries), and compared with the embedded store's.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyoxigraph as ox
import pytest

from graph import Database, InputError, delete, load, open_database, plan
from graph.ingest.cases import load_bundled
from graph.linkage.facts import facts
from graph.linkage.questions import co_accused, officer_iris, repeat_subjects
from graph.settings import resolve
from tests.conftest import MINI
from tests.graph.test_ingest import big_ntriples
from tests.servers import oxigraph_server, virtuoso_server

STORES = ("embedded", "oxigraph-server", "virtuoso")
_numbers = itertools.count()


@pytest.fixture(scope="session")
def virtuoso(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One Virtuoso for the session (it takes seconds to start); each test has a base IRI of its own in it."""
    with virtuoso_server(tmp_path_factory.mktemp("virtuoso")) as (settings, _):
        yield settings


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Resolved settings of a fresh store of each kind (a base IRI of its own: graphs never meet another test's)."""
    base = f"https://w3id.org/oversight/t{os.getpid()}-{next(_numbers)}/"
    if request.param == "embedded":
        yield resolve({"STORE": "oxigraph", "DATA_DIR": str(tmp_path / "store"), "BASE_IRI": base}, environ={})
    elif request.param == "oxigraph-server":
        with oxigraph_server(tmp_path / "oxigraph") as remote:
            yield resolve({**remote, "BASE_IRI": base, "DATA_DIR": str(tmp_path / "data")}, environ={})
    else:
        remote = request.getfixturevalue("virtuoso")
        yield resolve({**remote, "BASE_IRI": base, "DATA_DIR": str(tmp_path / "data")}, environ={})


@pytest.fixture
def db(store: dict[str, Any]) -> Iterator[Database]:
    database = open_database(store)
    yield database
    database.close()


_BOOLEAN = "^^<http://www.w3.org/2001/XMLSchema#boolean>"


def statement(triple: Any, base: str) -> str:
    """A statement as N-Triples, the base IRI taken out, booleans in canonical form (Virtuoso keeps a boolean's
    value, not its lexical form: "true" comes back as "1")."""
    text = str(ox.Triple(triple.subject, triple.predicate, triple.object)).replace(base, "{base}")
    return text.replace(f'"1"{_BOOLEAN}', f'"true"{_BOOLEAN}').replace(f'"0"{_BOOLEAN}', f'"false"{_BOOLEAN}')


def ours(db: Database) -> list[str]:
    """Every statement in this test's graphs (metadata and staged graphs included), as N-Quads lines."""
    return sorted(str(q) for g in db.backend.named_graphs(f"{db.base_iri}graph/") for q in db.backend.quads(g))


def visible(db: Database) -> tuple[str, list[str]]:
    """The data version and the statements of the current sources: what every answer reads."""
    return db.data_version, sorted(str(ox.Triple(q.subject, q.predicate, q.object))
                                   for g in db.graphs for q in db.backend.quads(g))


def answers(db: Database) -> tuple[Any, ...]:
    """The linkage answers of the bundled case, with this store's base IRI taken out (stores differ in it)."""
    f = facts(db)
    shown = (repr(list(repeat_subjects(f, min_investigations=1))), repr(list(co_accused(f))), len(officer_iris(f)))
    return tuple(str(v).replace(db.base_iri, "{base}") for v in shown)


@pytest.fixture(scope="module")
def embedded_answers(tmp_path_factory: pytest.TempPathFactory) -> tuple[tuple[Any, ...], list[str]]:
    base = "https://w3id.org/oversight/reference/"
    db = open_database(resolve({"STORE": "memory", "BASE_IRI": base}, environ={}))
    try:
        load_bundled(db)
        statements = sorted(statement(q, base) for q in db.backend.quads(db.sources["charing-cross"].graph))
        return answers(db), statements
    finally:
        db.close()


def test_the_bundled_case_reads_the_same_on_every_store(
        db: Database, store: dict[str, Any], embedded_answers: tuple[tuple[Any, ...], list[str]]) -> None:
    (report,) = load_bundled(db)
    assert report.triples == 1068 and db.sources["charing-cross"].triples == 1068
    expected_answers, expected_statements = embedded_answers
    statements = sorted(statement(q, db.base_iri) for q in db.backend.quads(db.sources["charing-cross"].graph))
    assert statements == expected_statements
    assert answers(db) == expected_answers  # the facts the load indexed as it went
    if store["STORE"] == "sparql":  # a second instance reads the facts back from the server, by queries
        other = open_database(store)
        try:
            assert other.data_version == db.data_version
            assert answers(other) == expected_answers
        finally:
            other.close()


def test_a_reload_replaces_and_a_deletion_removes(db: Database, tmp_path: Path) -> None:
    first = tmp_path / "doc.nt"
    first.write_text('<https://example.org/a> <https://example.org/p> "one" .\n')
    load(db, plan([first]), user="t")
    version = db.data_version
    first.write_text('<https://example.org/a> <https://example.org/p> "two" .\n'
                     '<https://example.org/b> <https://example.org/p> "three" .\n')
    load(db, plan([first]), user="t")
    assert db.data_version != version
    rows = {(r["o"].value) for r in db.query("SELECT ?o WHERE { ?s <https://example.org/p> ?o }")}
    assert rows == {"two", "three"}  # replaced, never beside the old version
    assert db.sources["doc"].triples == 2
    delete(db, "doc", user="t")
    assert "doc" not in db.sources
    assert not list(db.query("SELECT ?o WHERE { ?s <https://example.org/p> ?o }"))


def test_a_failed_load_leaves_the_store_as_it_was(db: Database, tmp_path: Path) -> None:
    load(db, plan([MINI]), user="t")
    bad = tmp_path / "bad.ttl"
    bad.write_text("<https://example.org/x> a <https://w3id.org/oversight/ontology#Officer> .\n")
    before, everything = visible(db), ours(db)
    with pytest.raises(InputError):
        load(db, plan([MINI, bad]), user="t")
    assert visible(db) == before
    assert ours(db) == everything  # the staged graphs were dropped


def test_a_load_killed_mid_way_changes_nothing_that_is_read(store: dict[str, Any], tmp_path: Path) -> None:
    db = open_database(store)
    load(db, plan([MINI]), user="t")
    before = visible(db)
    big = tmp_path / "big.nt"
    big_ntriples(big, 200_000)
    env = {**os.environ, **{f"OVERSIGHT_{k}": str(v) for k, v in store.items() if isinstance(v, (str, int, float))}}
    proc = subprocess.Popen([sys.executable, "-m", "api", "load", str(big)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    db.close()  # an embedded store is open in one process only
    time.sleep(1.5)  # staging (parsing, validating, writing) takes seconds
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the load finished before it could be killed"
    again = open_database(store)
    try:
        assert visible(again) == before
        assert "big" not in again.sources
    finally:
        again.close()


def test_a_shared_store_keeps_unused_graphs_for_the_grace_period_only(store: dict[str, Any], tmp_path: Path) -> None:
    if store["STORE"] != "sparql":
        pytest.skip("a store of one process drops unused graphs at once (test_ingest)")
    db = open_database({**store, "STORE_GRACE": 0.5})
    try:
        doc = tmp_path / "doc.nt"
        doc.write_text('<https://example.org/a> <https://example.org/p> "one" .\n')
        load(db, plan([doc]), user="t")
        old = db.sources["doc"].graph
        load(db, plan([doc]), user="t")
        assert old in set(db.backend.named_graphs(db.base_iri))  # another instance may still be answering from it
        time.sleep(0.6)
        load(db, plan([doc]), user="t")  # the next commit's collection: the first sighting is past the grace
        graphs = set(db.backend.named_graphs(db.base_iri))
        assert old not in graphs and db.sources["doc"].graph in graphs
    finally:
        db.close()


def test_a_second_instance_sees_a_load_within_the_refresh_time(store: dict[str, Any], tmp_path: Path) -> None:
    if store["STORE"] != "sparql":
        pytest.skip("an embedded store is open in one process only")
    one, two = open_database(store), open_database({**store, "STORE_REFRESH": 0.2})
    try:
        version = two.data_version
        doc = tmp_path / "doc.nt"
        doc.write_text('<https://example.org/a> <https://example.org/p> "one" .\n')
        load(one, plan([doc]), user="t")
        deadline = time.monotonic() + 5
        while two.data_version == version and time.monotonic() < deadline:
            time.sleep(0.05)
        assert two.data_version == one.data_version
        assert two.sources["doc"].graph == one.sources["doc"].graph
        sequence = one.sources["doc"].sequence
        load(two, plan([doc]), user="t")  # its commit reads what is current first: the sequence follows one's
        assert two.sources["doc"].sequence == sequence + 1
    finally:
        one.close()
        two.close()
