"""Readers see pseudonymised views: no real IRI, id, name, identifier, pseudonym or title, and no free text.

The attacks with foreign predicates and real datasets are in test_reader_view.py."""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyoxigraph as ox
import pytest

from api.access import Tokens
from graph.linkage.facts import facts
from graph.linkage.pseudonyms import PEOPLE, READER_PROPERTIES, secret
from ontology import OV, ontology_graph

QUESTIONS = ["/officers?limit=500", "/investigations?limit=500", "/chat-groups", "/linkage/repeat-subjects",
             "/linkage/co-accused?limit=500", "/linkage/shared-groups?outcome=dismissal&limit=500", "/linkage/bystanders",
             "/linkage/clusters", "/linkage/centrality?limit=500"]
EXPORTS = ["full.graphml", "full.gexf", "full.csv", "full.cytoscape.json", "full.ttl", "full.nt", "full.nq",
           "full.trig", "full.jsonld", "officers.graphml?flavour=yed", "officers.csv"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, dict[str, str]], Any]]:
    from api import create_app
    from api.database import close, get_db
    from graph.ingest.cases import load_bundled
    from graph.settings import resolve

    folder = tmp_path_factory.mktemp("pseudonyms")
    app = create_app({**resolve({"STORE": "oxigraph", "DATA_DIR": str(folder / "store")}, environ={}),
                      "TESTING": True})
    with app.app_context():
        load_bundled(get_db())
        db = get_db()
    tokens = Tokens(folder / "store")
    headers = {role: {"Authorization": f"Bearer {tokens.create(role, role)[1]}"} for role in ("reader", "investigator")}
    yield app.test_client(), headers, db
    close(app)


#: The ontology's terms and concept labels, which readers do see (a source value that is a word of them
#: proves nothing).
_CONCEPT_TEXT = ontology_graph().serialize(format="nt").lower()


def _secrets(db: Any) -> tuple[set[str], set[str]]:
    """(what must never appear as a whole value, what must never appear inside any text) in a reader's view."""
    f = facts(db)
    people = set(f.of_type(*PEOPLE))
    values: set[str] = set()
    for quad in db.backend.quads():  # every literal of an ov: property readers may not see
        name = quad.predicate.value.rsplit("#", 1)[-1]
        if quad.predicate.value.startswith(str(OV)) and name not in READER_PROPERTIES and name != "type" \
                and isinstance(quad.object, ox.Literal) and quad.graph_name != db.meta:
            values.add(quad.object.value)
    # source names are the readers' to see (GET /sources): they name graphs in N-Quads and TriG exports
    shown = {v for v in values if len(v) > 3 and v.lower() not in _CONCEPT_TEXT and v not in db.sources}
    inside = set(f.types) | {s.rsplit("/", 1)[1] for s in f.types} | shown
    assert people <= set(f.types)
    return values, inside


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def _text(response: Any) -> str:
    if response.mimetype == "application/zip":
        with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
            return "\n".join(archive.read(name).decode() for name in archive.namelist())
    return response.get_data(as_text=True)


def test_reader_answers_hold_no_person_and_no_free_text(served: tuple[Any, Any, Any]) -> None:
    client, headers, db = served
    whole, inside = _secrets(db)
    assert "Officer A" in whole and len(inside) > 30  # the check has something to find
    for url in QUESTIONS:
        real = client.get(url, headers=headers["investigator"])
        seen = client.get(url, headers=headers["reader"])
        assert seen.status_code == 200 and seen.headers["X-Oversight-View"] == "pseudonymised", url
        assert seen.get_json()["total"] == real.get_json()["total"] if "total" in real.get_json() else True
        strings = list(_strings(seen.get_json()))
        assert not whole & set(strings), (url, whole & set(strings))
        body = seen.get_data(as_text=True)
        assert not [s for s in inside if s in body], url
        assert seen.headers["ETag"] != real.headers["ETag"]
    real_text = client.get("/officers?limit=500", headers=headers["investigator"]).get_data(as_text=True)
    assert "Officer A" in real_text  # investigators see identities


def test_every_export_format_is_pseudonymised_for_readers(served: tuple[Any, Any, Any]) -> None:
    client, headers, db = served
    _, inside = _secrets(db)
    for spec in EXPORTS:
        seen = client.get(f"/export/{spec}", headers=headers["reader"])
        assert seen.status_code == 200, (spec, seen.get_data(as_text=True)[:300])
        text = _text(seen)
        assert "/p-" in text, spec  # the people are there, under pseudonyms
        leaked = [s for s in inside if s in text]
        assert not leaked, (spec, leaked[:5])
        real = _text(client.get(f"/export/{spec}", headers=headers["investigator"]))
        assert [s for s in inside if s in real], spec  # the same export for an investigator names them
    refused = client.get("/export/query/inquiry-network.ttl?inquiry=x", headers=headers["reader"])
    assert refused.status_code == 403 and refused.mimetype == "application/problem+json"


def test_pseudonyms_are_stable_and_usable_as_ids(served: tuple[Any, Any, Any]) -> None:
    client, headers, db = served
    first = client.get("/linkage/repeat-subjects", headers=headers["reader"]).get_json()["items"]
    again = client.get("/linkage/repeat-subjects", headers={**headers["reader"], "Cache-Control": "no-cache"})
    assert [i["officer"]["id"] for i in first] == [i["officer"]["id"] for i in again.get_json()["items"]]
    pseudonym = first[0]["officer"]["id"]
    assert pseudonym.startswith("p-")
    detail = client.get(f"/officers/{pseudonym}", headers=headers["reader"])
    assert detail.status_code == 200 and detail.get_json()["officer"]["id"] == pseudonym
    path = client.get(f"/linkage/path?from={pseudonym}&to={first[1]['officer']['id']}", headers=headers["reader"])
    assert path.status_code == 200
    real_id = client.get("/linkage/repeat-subjects", headers=headers["investigator"]).get_json()["items"][0]
    assert client.get(f"/officers/{real_id['officer']['id']}", headers=headers["reader"]).status_code == 404
    # the network export draws the same people under the same pseudonyms
    graphml = client.get("/export/officers.graphml", headers=headers["reader"]).get_data(as_text=True)
    assert pseudonym in graphml


def test_another_deployment_has_other_pseudonyms(served: tuple[Any, Any, Any], tmp_path: Any) -> None:
    from graph.linkage.pseudonyms import Pseudonyms, secret

    _, _, db = served
    f = facts(db)
    here = Pseudonyms(f, secret(tmp_path / "one"), base=db.base_iri)
    there = Pseudonyms(f, secret(tmp_path / "two"), base=db.base_iri)
    again = Pseudonyms(f, secret(tmp_path / "one"), base=db.base_iri)
    assert here.alias == again.alias and set(here.alias.values()).isdisjoint(there.alias.values())
    quads = list(here.quads(db.backend.quads()))
    assert quads and all(isinstance(q.subject, ox.NamedNode) and q.subject.value in here.real for q in quads)


def test_the_key_is_made_whole_once_and_a_damaged_one_is_refused(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from graph.errors import ConfigError

    with ThreadPoolExecutor(8) as pool:  # first use from many threads at once: one key, never a partial one
        keys = set(pool.map(lambda _: secret(tmp_path / "many"), range(32)))
    assert len(keys) == 1 and len(next(iter(keys))) == 32
    folder = tmp_path / "many" / "access"
    assert sorted(p.name for p in folder.iterdir()) == ["pseudonym.key"]  # no temporary file left
    assert (folder / "pseudonym.key").stat().st_mode & 0o077 == 0

    (folder / "pseudonym.key").write_bytes(b"")  # emptied (a crash mid-write in the old code left this)
    with pytest.raises(ConfigError, match="damaged"):
        secret(tmp_path / "many")


def test_the_key_is_made_once_where_the_filesystem_has_no_hard_links(tmp_path: Path, monkeypatch: Any) -> None:
    """Some filesystems (FAT, several network and object-store mounts) refuse hard links with EPERM/ENOTSUP: the
    key is then moved into place under a lock, still one key for all first users and no temporary file left."""
    from concurrent.futures import ThreadPoolExecutor

    def no_links(source: Any, target: Any) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: secret(tmp_path / "fat"), range(32)))
    assert len(keys) == 1 and len(next(iter(keys))) == 32
    assert sorted(p.name for p in (tmp_path / "fat" / "access").iterdir()) == [".pseudonym.lock", "pseudonym.key"]
    assert secret(tmp_path / "fat") in keys
