"""Ingest: formats round-trip, loads are all-or-nothing, idempotent, persistent and survive kill -9."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyoxigraph as ox
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oxrdflib._converter import from_ox
from rdflib import Graph, Literal, URIRef
from rdflib.compare import isomorphic

from graph import Database, InputError, StoreLocked, delete, load, open_database, plan
from graph.ingest.cases import bundled_path
from graph.ingest.converter import convert
from graph.settings import resolve
from tests.conftest import MINI, converted

BASE = "https://w3id.org/oversight/id/"


def snapshot(db: Database) -> list[str]:
    """Every quad in the store, metadata and orphans included."""
    return sorted(str(q) for q in db.backend.quads())


def visible(db: Database) -> tuple[str, list[str]]:
    return db.data_version, sorted(str(q) for g in db.graphs for q in db.backend.quads(g))


def plain(term: Any) -> Any:
    """RDF 1.1 makes "x" and "x"^^xsd:string one literal; rdflib keeps them apart, so normalise."""
    if isinstance(term, Literal) and term.datatype == URIRef("http://www.w3.org/2001/XMLSchema#string"):
        return Literal(str(term))
    return term


def as_rdflib(quads: list[ox.Quad]) -> Graph:
    graph = Graph()
    for q in quads:
        graph.add((from_ox(q.subject), from_ox(q.predicate), plain(from_ox(q.object))))
    return graph


def test_tabular_load_holds_exactly_the_converted_statements(memory_db: Database) -> None:
    load(memory_db, plan([MINI]), user="t")
    expected = Graph().parse(data=converted(MINI, base=BASE), format="nt")  # rdflib's parser reads what Oxigraph loaded
    assert isomorphic(as_rdflib(memory_db.source_quads("mini")), expected)


@pytest.mark.parametrize("fmt", [ox.RdfFormat.TURTLE, ox.RdfFormat.N_TRIPLES, ox.RdfFormat.N_QUADS,
                                 ox.RdfFormat.TRIG, ox.RdfFormat.JSON_LD])
def test_every_rdf_format_round_trips(bundled_db: Database, memory_db: Database, tmp_path: Path,
                                      fmt: ox.RdfFormat) -> None:
    original = bundled_db.source_quads("charing-cross")
    path = tmp_path / f"case.{fmt.file_extension}"
    if fmt.supports_datasets:
        data = ox.serialize(original, format=fmt)
    else:
        data = ox.serialize([q.triple for q in original], format=fmt)
    path.write_bytes(data)
    load(memory_db, plan([path], source="copy"), user="t")
    assert isomorphic(as_rdflib(memory_db.source_quads("copy")), as_rdflib(original))


def test_blank_nodes_survive_a_turtle_round_trip(memory_db: Database, tmp_path: Path) -> None:
    path = tmp_path / "b.ttl"
    path.write_text("""@prefix ov: <https://w3id.org/oversight/ontology#> .
        <https://example.org/doc> a ov:SourceDocument ; ov:identifier "d" ; ov:title "T" .
        <https://example.org/e> a ov:Event ; ov:identifier "e" ; ov:description "x" ;
            ov:evidenceStatus ov:Reported ; ov:source <https://example.org/doc> ;
            ov:about [ ov:description "anonymous node" ] .""")
    load(memory_db, plan([path]), user="t")
    assert isomorphic(as_rdflib(memory_db.source_quads("b")), Graph().parse(path))


def test_loading_twice_equals_loading_once(db: Database) -> None:
    load(db, plan([MINI]), user="t")
    once = as_rdflib(db.source_quads("mini"))
    graphs_once = len(list(db.backend.named_graphs()))
    meta_once = len(list(db.backend.quads(db.meta)))
    report = load(db, plan([MINI]), user="t")[0]
    assert report.replaced
    assert isomorphic(as_rdflib(db.source_quads("mini")), once)
    assert len(list(db.backend.named_graphs())) == graphs_once  # the old graph is gone, not kept beside
    assert len(list(db.backend.quads(db.meta))) == meta_once


def test_delete_removes_the_source_and_its_graph(db: Database) -> None:
    load(db, plan([MINI]), user="t")
    version = db.data_version
    delete(db, "mini", user="t")
    assert "mini" not in db.sources and db.data_version != version
    assert set(db.backend.named_graphs()) == {db.sources["ontology"].graph, db.meta}


def test_several_sources_load_all_or_nothing(db: Database, tmp_path: Path) -> None:
    bad = tmp_path / "bad.ttl"
    bad.write_text("<https://example.org/x> a <https://w3id.org/oversight/ontology#Officer> .\n")
    before = snapshot(db)
    with pytest.raises(InputError) as info:
        load(db, plan([MINI, bad]), user="t")
    assert snapshot(db) == before
    assert {i.rule for i in info.value.issues} == {"sh:MinCountConstraintComponent"}


def _two_sources_with_the_same_officers(db: Database, tmp_path: Path) -> None:
    load(db, plan([MINI]), user="t")
    copy = tmp_path / "other"
    shutil.copytree(MINI, copy)
    load(db, plan([copy]), user="t")


def _count(db: Database, query: str) -> int:
    return int(next(iter(db.query(query)))[0].value)


def test_the_default_graph_is_the_union_of_current_sources_only(db: Database, tmp_path: Path) -> None:
    _two_sources_with_the_same_officers(db, tmp_path)
    distinct = "SELECT (COUNT(DISTINCT ?o) AS ?n) WHERE { ?o a ov:Officer }"
    assert _count(db, distinct) == 3
    delete(db, "mini", user="t")
    assert _count(db, distinct) == 3
    delete(db, "other", user="t")
    assert _count(db, distinct) == 0


@pytest.mark.xfail(strict=True, reason="Oxigraph #1919: a merged default graph is a bag in pyoxigraph 0.5 "
                   "(fixed upstream by PR #1920); when this passes, drop the caveat in docs/decisions")
def test_a_triple_stated_by_two_sources_matches_once(db: Database, tmp_path: Path) -> None:
    _two_sources_with_the_same_officers(db, tmp_path)
    assert _count(db, "SELECT (COUNT(*) AS ?n) WHERE { ?o a ov:Officer }") == 3


# ---------------------------------------------------------------- bad input changes nothing

CORRUPTIONS = [
    ("postings.csv", "rank", "PCX", "concept"),
    ("postings.csv", "start", "2019-13", "date"),
    ("postings.csv", "officer", "", "required"),
    ("findings.csv", "allegation", "nope", "sh:ClassConstraintComponent"),
    ("findings.csv", "officer", "person:X1", "sh:ClassConstraintComponent"),
    ("memberships.csv", "admin", "maybe", "boolean"),
    ("chat_groups.csv", "reported_member_count", "three", "integer"),
    ("investigations.csv", "status", "closed", "concept"),
    ("officers.csv", "key", "X2", "unique key"),
    ("sources.csv", "url", "ftp://x", "url"),
]


def corrupt(src: Path, dst: Path, file: str, column: str, value: str, row: int) -> int:
    shutil.copytree(src, dst)
    path = dst / file
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    index = row % len(rows)
    if rows[index][column] == value:  # that row already holds it: corrupt the next one
        index = (index + 1) % len(rows)
    rows[index][column] = value
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return index + 2  # header is line 1


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(CORRUPTIONS), st.integers(0, 10), st.booleans())
def test_a_load_with_any_injected_error_changes_nothing(memory_db: Database, tmp_path_factory: Any,
                                                        corruption: tuple[str, str, str, str], row: int,
                                                        preload: bool) -> None:
    if preload and "mini" not in memory_db.sources:
        load(memory_db, plan([MINI]), user="t")
    file, column, value, rule = corruption
    folder = tmp_path_factory.mktemp("bad") / "mini"
    line = corrupt(MINI, folder, file, column, value, row)
    before = snapshot(memory_db)
    with pytest.raises(InputError) as info:
        load(memory_db, plan([folder]), user="t")
    assert snapshot(memory_db) == before
    issue = next(i for i in info.value.issues if i.rule == rule)
    assert issue.file == file
    if rule != "unique key":  # a repeated key is reported on the later of the two rows
        assert issue.line == line
    assert issue.field == column or (rule == "unique key" and issue.field == "key")


def test_error_report_names_file_line_field_rule_and_accepted_values(memory_db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "mini"
    corrupt(MINI, folder, "postings.csv", "rank", "Constable", 1)
    with pytest.raises(InputError) as info:
        load(memory_db, plan([folder]), user="t")
    text = str(info.value)
    assert "postings.csv:3: field 'rank'" in text and "accepted: AC, CI" in text and "[concept]" in text


def test_syntax_errors_name_the_line(memory_db: Database, tmp_path: Path) -> None:
    path = tmp_path / "broken.ttl"
    path.write_text("<https://example.org/a> <https://example.org/b> <https://example.org/c> .\n<a> <b> \n")
    with pytest.raises(InputError) as info:
        load(memory_db, plan([path]), user="t")
    (issue,) = info.value.issues
    assert (issue.file, issue.line, issue.rule) == ("broken.ttl", 2, "syntax")


def test_json_ld_remote_contexts_are_never_fetched(memory_db: Database, tmp_path: Path) -> None:
    path = tmp_path / "remote.jsonld"
    path.write_text('{"@context": "http://127.0.0.1:9/context.jsonld", "@id": "https://example.org/a", "name": "x"}')
    with pytest.raises(InputError) as info:
        load(memory_db, plan([path]), user="t")
    assert info.value.issues[0].rule == "syntax"


def test_unknown_formats_and_missing_paths_are_refused(tmp_path: Path) -> None:
    (tmp_path / "data.xls").write_text("<rdf:RDF/>")
    with pytest.raises(InputError) as info:
        plan([tmp_path / "data.xls", tmp_path / "missing.ttl"])
    assert {i.rule for i in info.value.issues} == {"format", "exists"}


# ---------------------------------------------------------------- persistence, locking, kill -9

def test_data_survives_a_restart(settings: dict[str, Any]) -> None:
    db = open_database(settings)
    load(db, plan([MINI]), user="t")
    before = visible(db)
    db.close()
    again = open_database(settings)
    try:
        assert visible(again) == before
        assert "mini" in again.sources
    finally:
        again.close()


def test_a_second_writer_is_refused_with_a_way_forward(db: Database, settings: dict[str, Any]) -> None:
    env = {**os.environ, "OVERSIGHT_DATA_DIR": settings["DATA_DIR"]}
    result = subprocess.run([sys.executable, "-m", "api", "load", str(MINI)], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 3
    assert "oversight load --server" in result.stderr and "Traceback" not in result.stderr
    with pytest.raises(StoreLocked):
        open_database(settings)


def big_ntriples(path: Path, officers: int) -> None:
    ov, base = "https://w3id.org/oversight/ontology#", BASE
    with path.open("w") as out:
        out.write(f'<{base}source-document/d> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{ov}SourceDocument> .\n'
                  f'<{base}source-document/d> <{ov}identifier> "d" .\n<{base}source-document/d> <{ov}title> "T" .\n')
        for i in range(officers):
            s = f"<{base}officer/{i:08x}>"
            out.write(f"{s} <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{ov}Officer> .\n"
                      f'{s} <{ov}identifier> "{i}" .\n{s} <{ov}source> <{base}source-document/d> .\n')


@pytest.mark.parametrize(("sig", "delay"), [(signal.SIGKILL, 0.3), (signal.SIGKILL, 0.8), (signal.SIGKILL, 1.5),
                                            (signal.SIGINT, 0.8)])
def test_a_load_killed_mid_way_leaves_the_store_as_it_was(settings: dict[str, Any], tmp_path: Path,
                                                          sig: signal.Signals, delay: float) -> None:
    db = open_database(settings)
    load(db, plan([MINI]), user="t")
    before = visible(db)
    everything = snapshot(db)
    db.close()
    big = tmp_path / "big.nt"
    big_ntriples(big, 400_000)
    env = {**os.environ, "OVERSIGHT_DATA_DIR": settings["DATA_DIR"]}
    # a shell's background job ignores SIGINT, and children inherit that: give the load a terminal's default
    proc = subprocess.Popen([sys.executable, "-m", "api", "load", str(big)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(delay)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL, "the load finished before it could be killed"
    else:  # Ctrl-C: a message, no traceback, exit 130
        assert proc.returncode == 130, err
        assert "interrupted: nothing was changed" in err and "Traceback" not in err
    again = open_database(settings)
    try:
        assert visible(again) == before
        assert snapshot(again) == everything  # the orphan staging graph was collected on open
    finally:
        again.close()


def test_references_to_entities_of_another_source_are_valid_only_while_it_is_loaded(
        memory_db: Database, tmp_path: Path) -> None:
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "sources.csv").write_text("key,title\ndoc2,Second fictional file\n")
    (extra / "findings.csv").write_text(
        "officer,allegation,result,outcomes,decided_by,date,evidence,source\n"
        "X3,a2,no-case-to-answer,,,,reported,doc2\n")
    with pytest.raises(InputError) as info:  # X3 and a2 are described by no loaded source
        load(memory_db, plan([extra]), user="t")
    assert {(i.file, i.line, i.field) for i in info.value.issues} == {("findings.csv", 2, "officer"),
                                                                       ("findings.csv", 2, "allegation")}
    load(memory_db, plan([MINI]), user="t")
    load(memory_db, plan([extra]), user="t")
    assert _count(memory_db, "SELECT (COUNT(DISTINCT ?o) AS ?n) WHERE { ?f ov:officer ?o }") == 3


ROUND_TRIP_FORMATS = [ox.RdfFormat.TURTLE, ox.RdfFormat.N_TRIPLES, ox.RdfFormat.N_QUADS, ox.RdfFormat.TRIG,
                      ox.RdfFormat.JSON_LD]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(ROUND_TRIP_FORMATS + ["tabular"]), st.integers(1, 3))
def test_loading_k_times_equals_loading_once(bundled_db: Database, tmp_path_factory: Any,
                                             fmt: Any, times: int) -> None:
    folder = tmp_path_factory.mktemp("idem")
    if fmt == "tabular":
        path = bundled_path()
    else:
        quads = bundled_db.source_quads("charing-cross")
        path = folder / f"case.{fmt.file_extension}"
        path.write_bytes(ox.serialize(quads if fmt.supports_datasets else [q.triple for q in quads], format=fmt))
    once = open_database(resolve({"STORE": "memory"}, environ={}))
    again = open_database(resolve({"STORE": "memory"}, environ={}))
    try:
        load(once, plan([path], source="case"), user="t")
        for _ in range(times):
            load(again, plan([path], source="case"), user="t")
        assert isomorphic(as_rdflib(again.source_quads("case")), as_rdflib(once.source_quads("case")))
        assert len(list(again.backend.named_graphs())) == len(list(once.backend.named_graphs()))
        assert len(list(again.backend.quads(again.meta))) == len(list(once.backend.quads(once.meta)))
    finally:
        once.close()
        again.close()


def test_the_rdflib_api_sees_the_same_store(bundled_db: Database) -> None:
    """rdflib's Dataset over the Oxigraph store (oxrdflib) shares the data: no copy, same statements."""
    from rdflib import URIRef as U

    dataset = bundled_db.dataset()
    record = bundled_db.sources["charing-cross"]
    graph = dataset.graph(U(record.graph.value))
    assert len(graph) == record.triples
    officer = U("https://w3id.org/oversight/ontology#Officer")
    rdf_type = U("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
    assert len(set(graph.subjects(rdf_type, officer))) == 18


def test_event_references_must_name_their_kind(memory_db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "events"
    folder.mkdir()
    (folder / "sources.csv").write_text("key,title\nd,Fictional\n")
    (folder / "events.csv").write_text("key,description,involves,source\ne1,Something happened,X1,d\n")
    with pytest.raises(InputError) as info:
        load(memory_db, plan([folder]), user="t")
    (issue,) = info.value.issues
    assert (issue.file, issue.line, issue.field, issue.rule) == ("events.csv", 2, "involves", "ref")
    assert "KIND:KEY" in issue.message


def test_an_input_changed_during_the_load_is_refused(db: Database, tmp_path: Path, monkeypatch: Any) -> None:
    import graph.ingest.load as ingest

    path = tmp_path / "case.nt"
    path.write_text(converted(MINI, base=BASE), encoding="utf-8")
    original = ingest._write

    def tampering(*args: Any) -> None:  # someone appends to the file after it was validated
        with path.open("a") as handle:
            handle.write('<https://example.org/x> <https://w3id.org/oversight/ontology#pseudonym> "x" .\n')
        original(*args)

    monkeypatch.setattr(ingest, "_write", tampering)
    before = snapshot(db)
    with pytest.raises(InputError) as info:
        load(db, plan([path]), user="t")
    assert info.value.issues[0].rule == "unchanged"
    assert snapshot(db) == before


def test_a_pinned_graph_outlives_the_load_that_replaces_it(memory_db: Database) -> None:
    """A reader that captured the graphs before a commit still reads them (found under load: /sparql
    answered as if a source were empty while it was being re-imported)."""
    from graph.ingest.cases import load_bundled

    load_bundled(memory_db)
    pin = memory_db.pin()
    old = pin.sources["charing-cross"].graph
    count = sum(1 for _ in memory_db.backend.quads(old))
    load_bundled(memory_db)  # replaces the source: a new graph, the old one retired
    assert memory_db.sources["charing-cross"].graph != old
    assert sum(1 for _ in memory_db.backend.quads(old)) == count  # still readable while pinned
    pin.release()
    pin.release()  # idempotent
    memory_db.collect_garbage()
    assert old not in set(memory_db.backend.named_graphs())


def test_concurrent_checks_of_new_query_texts_all_succeed() -> None:
    """rdflib's parser is not thread-safe (rdflib#1282): under load, valid queries were refused."""
    from concurrent.futures import ThreadPoolExecutor

    from graph.sparql.engine import check

    texts = [f"SELECT ?s WHERE {{ ?s a ov:Officer ; ov:identifier ?id . FILTER(?id != 'x{i}') }} LIMIT {i + 1}"
             for i in range(400)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        forms = list(pool.map(lambda t: check(t).form, texts))
    assert forms == ["SELECT"] * len(texts)


@pytest.mark.parametrize("name", ["ontology", "meta", "Meta", "-x", "a" * 65])
def test_reserved_and_malformed_source_names_are_refused_before_anything_is_read(tmp_path: Path, name: str) -> None:
    """'ontology' is the ontology's own source and 'meta' names the metadata graph: no load may take either name,
    whichever way it comes (a file, a folder, a mapping's dataset name)."""
    from graph.ingest.mapping import read_mapping

    data = tmp_path / "x.nt"
    data.write_text("<urn:a> <urn:b> <urn:c> .\n")
    with pytest.raises(InputError) as error:
        plan([data], source=name)
    assert error.value.issues[0].rule == "source name"
    mapping = tmp_path / "m.toml"
    mapping.write_text(f'[dataset]\nname = "{name}"\ntitle = "t"\n')
    with pytest.raises(InputError) as error:
        read_mapping(mapping)
    assert any(i.rule == "source name" and i.field == "dataset.name" for i in error.value.issues)


AWKWARD = ['say "no" \\ then\nleave', "tab\there\r\nand \x01 \x7f bell", "naïve café 東京 🚓",
           "ends with a backslash \\", '"""', "<http://example.org/> . _:b ^^"]


def test_every_cell_value_loads_exactly_as_written(memory_db: Database, tmp_path: Path) -> None:
    """The converter writes N-Triples for Oxigraph's parser: quotes, backslashes, line breaks, control characters
    and non-ASCII text in a cell come back as the same value, each statement intact."""
    folder = tmp_path / "awkward"
    shutil.copytree(MINI, folder)
    with (folder / "investigations.csv").open("a", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        for i, text in enumerate(AWKWARD):
            writer.writerow([f"odd{i}", f"Odd {i}", "open", "psd", "", "", text, "2022", "", "reported", "doc1"])
    load(memory_db, plan([folder]), user="t")
    found = {q.object.value for q in memory_db.source_quads("awkward")
             if q.predicate.value.endswith("#description")}
    assert set(AWKWARD) <= found
    assert len(Graph().parse(data=converted(folder, base=BASE), format="nt")) == len(
        memory_db.source_quads("awkward"))  # and rdflib's parser reads the same statements


def test_the_converter_stops_writing_at_the_first_bad_cell(tmp_path: Path) -> None:
    """What the converter writes is parsed into the disk store as it is written; at the first issue it calls `stop`
    (the load closes the pipes, so the parsers end and little is left to drop) and writes nothing more, while it still
    checks and reports every other cell."""
    folder = tmp_path / "bad"
    shutil.copytree(MINI, folder)
    with (folder / "stations.csv").open("a", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerow(["south", "Fictional South", "force", "doc1", "a cell too many"])
    with (folder / "postings.csv").open("a", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerow(["X1", "", "north", "PC", "someday", "", "reported", "doc1"])
    written: list[str] = []
    stops: list[int] = []
    with pytest.raises(InputError) as info:
        convert(folder, base=BASE, write=written.append, stop=lambda: stops.append(len(written)))
    assert {i.file for i in info.value.issues} == {"stations.csv", "postings.csv"}  # both still found
    assert stops == [len(written)]  # stopped once, and nothing was written after
    assert 0 < len("".join(written)) < len(converted(MINI, base=BASE))


def test_a_source_of_several_folders_and_files_loads_each_once_into_the_disk_store(db: Database,
                                                                                   tmp_path: Path) -> None:
    """Each folder is parsed into the disk store as it is converted, the RDF files after: one bulk load at a time,
    every statement of every part in the source's graph."""
    second = tmp_path / "second"
    second.mkdir()
    (second / "sources.csv").write_text("key,title\ndoc2,A second fictional document\n", encoding="utf-8")
    (second / "officers.csv").write_text("key,pseudonym,source\nX9,Officer X9,doc2\n", encoding="utf-8")
    extra = tmp_path / "extra.nt"
    extra.write_text(f'<{BASE}officer/extra> <https://w3id.org/oversight/ontology#identifier> "extra" .\n',
                     encoding="utf-8")
    load(db, plan([MINI, second, extra], source="parts"), user="t")
    expected = {*Graph().parse(data=converted(MINI, base=BASE), format="nt"),
                *Graph().parse(data=converted(second, base=BASE), format="nt"), *Graph().parse(extra, format="nt")}
    assert len(db.source_quads("parts")) == len(expected)


@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
       st.sampled_from([None, "integer", "date", "anyURI"]))
@settings(max_examples=300, deadline=None)
def test_any_text_is_written_as_one_n_triples_literal_with_the_same_value(text: str, datatype: str | None) -> None:
    """The converter's literal writer, against Oxigraph's parser: any text (every code point but surrogates, which
    UTF-8 cannot carry) comes back as the same value, in exactly one statement."""
    from graph.ingest.converter import _lit

    line = f"<urn:x:s> <urn:x:p> {_lit(text, datatype)} .\n"
    (triple,) = ox.parse(line.encode("utf-8"), format=ox.RdfFormat.N_TRIPLES)
    assert triple.object.value == text
