"""Linkage questions: the answers the bundled case's reported facts imply, and invariants on generated graphs."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from typing import Any

import networkx as nx
import pyoxigraph as ox
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph import Database, open_database
from graph.errors import BadParameter
from graph.iri import mint
from graph.linkage.facts import Facts, Filters, Folded, facts, lower, overlap, read_run, upper
from graph.linkage.network import (
    centrality,
    clusters,
    connecting_network,
    paths,
    without_hubs,
)
from graph.linkage.projection import Projection, officer_network, projection
from graph.linkage.questions import (
    bystanders,
    co_accused,
    officers_with,
    repeat_subjects,
    shared_groups,
)
from graph.settings import resolve
from ontology import OV


def by_label(f: Facts) -> dict[str, str]:
    """'A' -> IRI of Officer A (the bundled case's pseudonyms)."""
    return {f.label(o).removeprefix("Officer "): o for o in f.of_type("Officer", "PoliceStaff")}


@pytest.fixture(scope="module")
def bundled(bundled_db: Database) -> Facts:
    return facts(bundled_db)


def test_partial_dates_bound_intervals() -> None:
    assert (lower("2016"), upper("2016")) == ("2016-01-01", "2016-12-31")
    assert (lower("2017-03"), upper("2017-03")) == ("2017-03-01", "2017-03-31")
    assert upper("2017-03-04T10:00:00Z") == "2017-03-04"
    assert overlap(("2016", "2017"), ("2017-06", None)) == ("2017-06-01", "2017-12-31")
    assert overlap(("2016", "2016"), ("2017", None)) is None
    assert overlap((None, None), (None, None)) == (None, None)
    assert (lower("2016Z"), upper("2016-03+01:00")) == ("2016-01-01", "2016-03-31")  # timezones ignored
    assert (lower("-0500"), upper("-0500-03")) == ("-0500-01-01", "-0500-03-31")  # a year before year 1


def test_repeat_subjects_are_the_officers_in_several_investigations(bundled: Facts) -> None:
    names = {v: k for k, v in by_label(bundled).items()}
    answer = repeat_subjects(bundled, min_investigations=2)
    assert {names[r.officer.iri] for r in answer} == {"A", "B", "C", "D", "E"}
    barred_in_several = {"A", "B", "C"}  # barred-list entries from findings in two investigations each
    assert barred_in_several <= {names[r.officer.iri] for r in answer}
    b = next(r for r in answer if names[r.officer.iri] == "B")
    assert b.investigation_count == 2 and b.allegation_count == 3 and "dismissal" in b.outcomes
    assert {i.label for i in b.investigations} == {"I4", "I8"}
    assert b.caveats == ("illustrative",)  # the findings are illustrative assignments: said so
    assert all(e.sources and e.kind == "finding" for e in b.evidence)
    assert {names[r.officer.iri] for r in repeat_subjects(bundled, min_investigations=3)} == set()
    dismissed_only = repeat_subjects(bundled, filters=Filters(outcomes=frozenset({str(OV.DismissalWithoutNotice)})))
    assert {names[r.officer.iri] for r in dismissed_only} == set()  # A and B were dismissed in one investigation each
    assert {names[r.officer.iri] for r in repeat_subjects(bundled, min_investigations=1, min_allegations=3)} == {"B", "D"}


def test_whatsapp_members_share_groups_with_the_dismissed(bundled: Facts) -> None:
    names = {v: k for k, v in by_label(bundled).items()}
    dismissed = officers_with(bundled, outcome=str(OV.DismissalWithoutNotice))
    assert {names[o] for o in dismissed} == {"A", "B"}
    answer = shared_groups(bundled, dismissed)
    others_of_a = {names[s.other.iri] for s in answer if names[s.officer.iri] == "A"}
    assert others_of_a == set("BCDEFGHIJKLMNOPQ")  # the other 16 members of the WhatsApp group
    with_c = next(s for s in answer if names[s.officer.iri] == "A" and names[s.other.iri] == "C")
    assert {g.via.label for g in with_c.groups} == {"WhatsApp group of 17 officers", "Facebook chat group"}
    assert [s.status for s in with_c.other_status] == ["resigned"]
    assert all(g.start == "2016-01-01" and g.end == "2018-12-31" for g in with_c.groups)
    assert shared_groups(bundled, dismissed, filters=Filters("2019", "2020")) == []  # nobody was a member then


def _hand_made(**props: list[tuple[str, str]]) -> Facts:
    return Facts.fold("hand-made", [props])


def test_status_is_taken_for_each_shared_period_not_their_hull() -> None:
    """Two shared periods (open start to 2014, 2017 on): a status in 2012 counts, one in 2015 does not."""
    ov = "https://w3id.org/oversight/ontology#"
    f = _hand_made(
        type=[("a", "Officer"), ("b", "Officer"), ("g", "ChatGroup"), ("h", "ChatGroup"),
              *[(m, "ChatMembership") for m in ("ma", "mb", "na", "nb")], ("s1", "EmploymentStatus"),
              ("s2", "EmploymentStatus")],
        member=[("ma", "a"), ("mb", "b"), ("na", "a"), ("nb", "b")],
        group=[("ma", "g"), ("mb", "g"), ("na", "h"), ("nb", "h")],
        endDate=[("ma", "2014"), ("mb", "2014"), ("s1", "2012"), ("s2", "2015")],
        startDate=[("na", "2017"), ("nb", "2017"), ("s1", "2012"), ("s2", "2015")],
        officer=[("s1", "b"), ("s2", "b")],
        status=[("s1", ov + "Suspended"), ("s2", ov + "Serving")],
    )
    [link] = shared_groups(f, ["a"])
    assert [(g.start, g.end) for g in link.groups] == [(None, "2014-12-31"), ("2017-01-01", None)]
    assert [s.evidence.iri for s in link.other_status] == ["s1"]


def test_ill_typed_counts_do_not_break_a_chat_group() -> None:
    from graph.linkage.entities import chat_group_detail

    f = _hand_made(type=[("g", "ChatGroup")], reportedMemberCount=[("g", "seventeen")])
    assert chat_group_detail(f, "g").reported_member_count is None


def test_louvain_on_the_full_graph_is_the_same_in_every_process() -> None:
    import os
    import subprocess
    import sys

    script = ("from graph import open_database; from graph.settings import resolve; "
              "from graph.ingest.cases import load_bundled; from graph.linkage.projection import projection; "
              "from graph.linkage.network import clusters, paths; "
              "db = open_database(resolve({'STORE': 'memory'}, environ={})); load_bundled(db); "
              "f, g = projection(db, full=True); "
              "print([[m.iri for m in c.members] for c in clusters(f, g, method='louvain')])")
    outputs = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "5", "77")}
    assert len(outputs) == 1


def test_bystanders_point_at_the_conduct_they_did_not_report(bundled: Facts) -> None:
    names = {v: k for k, v in by_label(bundled).items()}
    found = {(names[b.officer.iri], names[b.subject.iri], b.conduct.label) for b in bystanders(bundled)}
    assert found == {("E", "A", "I1-1"), ("G", "F", "I3-1"), ("H", "C", "I5-1")}


def test_coaccused_in_the_bundled_case(bundled: Facts) -> None:
    names = {v: k for k, v in by_label(bundled).items()}
    pairs = {(names[p.officer.iri], names[p.other.iri]): p for p in co_accused(bundled)}
    assert frozenset(("B", "C")) in {frozenset(k) for k in pairs}  # both subjects in I4
    i8 = set("ABEIJKLM")
    assert {frozenset(k) for k in pairs} >= {frozenset(p) for p in itertools.combinations(i8, 2)}
    i9 = next(i for i in bundled.of_type("Investigation") if bundled.label(i) == "I9")
    only_i9 = co_accused(bundled, basis="allegation", investigation=i9)
    assert [(names[p.officer.iri], names[p.other.iri]) for p in only_i9] in ([("D", "N")], [("N", "D")])


def test_paths_and_hubs_on_the_bundled_case(bundled_db: Database, bundled: Facts) -> None:
    o = by_label(bundled)
    _, officers = projection(bundled_db, Projection(kinds=frozenset({"co-accused", "failed-to-report"})))
    assert paths(bundled, officers, o["G"], o["C"]) == []  # F and G stand apart from the others
    [route] = paths(bundled, officers, o["E"], o["C"])
    assert route.length == 2 and all(h.evidence for h in route.hops)
    _, full = projection(bundled_db, full=True)
    force = next(n for n in bundled.of_type("Force"))
    direct = paths(bundled, full, o["F"], o["N"], limit=5)
    assert any(force in [n.iri for n in p.nodes] for p in direct)  # the force joins everyone...
    avoided = paths(bundled, without_hubs(full, ignore=(force,)), o["F"], o["N"], limit=5)
    assert avoided and all(force not in [n.iri for n in p.nodes] for p in avoided)  # ...unless ignored
    assert avoided[0].length > direct[0].length
    with pytest.raises(BadParameter):
        paths(bundled, without_hubs(officers, ignore=(o["F"],)), o["F"], o["G"])


def test_clusters_and_centrality_are_reproducible(bundled_db: Database, bundled: Facts) -> None:
    _, g = projection(bundled_db)
    assert clusters(bundled, g, method="louvain", seed=3) == clusters(bundled, g, method="louvain", seed=3)
    components = clusters(bundled, g)
    assert components[0].size == 17  # the WhatsApp group joins its 17 members; the colleague stands alone
    top = centrality(bundled, g, measure="betweenness", limit=3)
    assert [r.rank for r in top] == [1, 2, 3] and top[0].score >= top[1].score >= top[2].score
    for measure in ("degree", "closeness", "eigenvector"):
        assert len(centrality(bundled, g, measure=measure, limit=5)) == 5
    net = connecting_network(bundled, g, [by_label(bundled)[x] for x in "FN"])
    assert net.is_connected and len(net.nodes) >= 2 and all(h.evidence for h in net.links)


# --------------------------------------------------------------------------- generated graphs
OV_NS = str(OV)
BASE = "https://example.org/id/"


def _n(kind: str, key: object) -> ox.NamedNode:
    return mint(kind, str(key), base=BASE)


@st.composite
def cases(draw: Any) -> list[tuple[int, int, int]]:
    """Findings as (officer, allegation, investigation) index triples, on a few officers and investigations."""
    n_officers = draw(st.integers(2, 7))
    n_investigations = draw(st.integers(1, 5))
    allegations = [(a, draw(st.integers(0, n_investigations - 1))) for a in range(draw(st.integers(1, 8)))]
    rows = draw(st.lists(st.tuples(st.integers(0, n_officers - 1), st.sampled_from(allegations)),
                         min_size=1, max_size=20, unique=True))
    return [(o, a, i) for o, (a, i) in rows]


def _load(db: Database, rows: list[tuple[int, int, int]]) -> Folded:
    g = ox.NamedNode(BASE + "graph/generated")
    t, p = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type"), lambda x: ox.NamedNode(OV_NS + x)
    quads = []
    for o, a, i in rows:
        finding = _n("finding", (o, a))
        quads += [ox.Quad(_n("officer", o), t, p("Officer"), g), ox.Quad(_n("allegation", a), t, p("Allegation"), g),
                  ox.Quad(_n("investigation", i), t, p("Investigation"), g), ox.Quad(finding, t, p("Finding"), g),
                  ox.Quad(finding, p("officer"), _n("officer", o), g), ox.Quad(finding, p("allegation"), _n("allegation", a), g),
                  ox.Quad(_n("allegation", a), p("investigation"), _n("investigation", i), g)]
    db.backend.extend(quads)
    return read_run(db.backend, g)


@pytest.fixture(scope="module")
def scratch() -> Iterator[Database]:
    database = open_database(resolve({"STORE": "memory"}, environ={}))
    yield database
    database.close()


def _facts(db: Database, rows: list[tuple[int, int, int]]) -> Facts:
    for graph in list(db.backend.named_graphs()):
        if graph.value.startswith(BASE):
            db.backend.drop_graph(graph)
    return Facts.merge("generated", [_load(db, rows)])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=cases(), basis=st.sampled_from(["allegation", "investigation"]))
def test_coaccusal_is_symmetric_and_weights_count_what_is_shared(scratch: Database, rows: Any, basis: str) -> None:
    f = _facts(scratch, rows)
    unit = {(o, a, i): (a if basis == "allegation" else i) for o, a, i in rows}
    shared: Counter[tuple[int, int]] = Counter()
    by_unit: dict[int, set[int]] = {}
    for row, u in unit.items():
        by_unit.setdefault(u, set()).add(row[0])
    for members in by_unit.values():
        for a, b in itertools.combinations(sorted(members), 2):
            shared[(a, b)] += 1
    expected = {(str(_n("officer", a).value), str(_n("officer", b).value)): w for (a, b), w in shared.items()}
    answer = co_accused(f, basis=basis)
    got = {}
    for pair in answer:
        got[(pair.officer.iri, pair.other.iri)] = pair.weight
        assert pair.officer.iri < pair.other.iri  # each pair once
        for s in pair.shared:  # every piece of evidence really connects the two officers through `via`
            officers = {f.value(e.iri, "officer") for e in s.evidence}
            assert officers == {pair.officer.iri, pair.other.iri}
            vias = {f.value(e.iri, "allegation") if basis == "allegation" else f.investigation_of(e.iri)
                    for e in s.evidence}
            assert vias == {s.via.iri}
    assert got == {tuple(sorted(k)): v for k, v in expected.items()}
    g = officer_network(f, Projection(kinds=frozenset({"co-accused"}), basis=basis))
    for a, b, data in g.edges(data=True):  # the undirected projection holds the same weights
        assert data["weight"] == got[tuple(sorted((a, b)))]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=cases(), k=st.integers(1, 4))
def test_repeat_subjects_agree_with_a_brute_force_count(scratch: Database, rows: Any, k: int) -> None:
    f = _facts(scratch, rows)
    investigations: dict[int, set[int]] = {}
    for o, _, i in rows:
        investigations.setdefault(o, set()).add(i)
    expected = {str(_n("officer", o).value): len(v) for o, v in investigations.items() if len(v) >= k}
    got = {r.officer.iri: r.investigation_count for r in repeat_subjects(f, min_investigations=k)}
    assert got == expected


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=cases(), data=st.data())
def test_path_lengths_equal_networkx_shortest_paths(scratch: Database, rows: Any, data: Any) -> None:
    f = _facts(scratch, rows)
    g = officer_network(f, Projection(kinds=frozenset({"co-accused"})))
    nodes = sorted(g.nodes)
    a, b = data.draw(st.sampled_from(nodes)), data.draw(st.sampled_from(nodes))
    found = paths(f, g, a, b, limit=3)
    if nx.has_path(g, a, b):
        assert found and all(p.length == nx.shortest_path_length(g, a, b) for p in found)
        for p in found:  # consecutive nodes are joined by the hop's evidence
            assert [h.source.iri for h in p.hops] == [n.iri for n in p.nodes[:-1]]
            assert all(h.evidence for h in p.hops)
    else:
        assert found == []
