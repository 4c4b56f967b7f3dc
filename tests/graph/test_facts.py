"""The facts cache: per data version, prepared by loads, saved beside the store, never stale."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from graph import delete, load, open_database, plan
from graph.linkage.facts import Facts, facts, read_pairs
from graph.store.derived import Kind
from tests.conftest import MINI


def _from_store(db: Any) -> Facts:
    """The facts read straight from the store's graphs (no cache)."""
    graphs = [rec.graph for name, rec in sorted(db.sources.items()) if name != "ontology"]
    return Facts.fold("direct", [read_pairs(db.backend, g) for g in graphs])


def test_a_load_prepares_the_facts_of_the_new_version(db: Any) -> None:
    load(db, plan([MINI], source="mini"), user="test")
    prepared = db.derived.get(Kind.FACTS, db.data_version)
    assert prepared is not None  # ready before anyone asks
    assert facts(db) is prepared and prepared.props == _from_store(db).props


def test_saved_facts_survive_a_restart_and_damage_is_ignored(settings: dict[str, Any]) -> None:
    db = open_database(settings)
    load(db, plan([MINI], source="mini"), user="test")
    expected = _from_store(db).props
    db.close()
    saved = list((Path(settings["DATA_DIR"]) / "oversight-derived").iterdir())
    assert len(saved) == 1 and saved[0].suffix == ".facts"

    db = open_database(settings)
    assert facts(db).props == expected  # from the saved file
    db.close()

    saved[0].write_bytes(b"OVFACTS3\nnot what was saved")
    db = open_database(settings)
    assert facts(db).props == expected  # damaged: read from the store instead, and saved again
    db.close()
    assert saved[0].read_bytes() != b"OVFACTS3\nnot what was saved"


def test_facts_follow_loads_and_deletions(db: Any) -> None:
    empty = facts(db)
    assert empty.of_type("Officer") == ()
    load(db, plan([MINI], source="mini"), user="test")
    loaded = facts(db)
    assert len(loaded.of_type("Officer")) == 3 and loaded.version != empty.version
    load(db, plan([MINI], source="copy"), user="test")  # the same statements from a second source count once
    both = facts(db)
    assert both.props == loaded.props
    delete(db, "mini", user="test")
    delete(db, "copy", user="test")
    assert facts(db).of_type("Officer") == ()
    assert list((Path(db.backend.path) / "oversight-derived").iterdir()) == []  # files of old runs removed


def test_a_facts_build_racing_a_commit_reads_the_graphs_it_started_with(settings: dict[str, Any],
                                                                          monkeypatch: Any) -> None:
    """Facts built from the store while a reload of the same source commits: the commit's garbage collection
    must not drop the graph being read (the build holds a pin), so the facts are the old data's, never empty,
    and they are not installed as the facts of the newer version."""
    import threading

    import graph.linkage.facts.cache as module

    db = open_database(settings)
    try:
        load(db, plan([MINI], source="mini"), user="test")
        old_version, expected = db.data_version, _from_store(db).props
        db.derived.clear()
        for saved in (Path(settings["DATA_DIR"]) / "oversight-derived").iterdir():
            saved.unlink()  # the facts must come from the store itself
        started, go = threading.Event(), threading.Event()
        original = module.read_run

        def slow_read_run(backend: Any, graph: Any) -> Any:
            started.set()
            assert go.wait(30)
            return original(backend, graph)

        monkeypatch.setattr(module, "read_run", slow_read_run)
        built: list[Any] = []
        builder = threading.Thread(target=lambda: built.append(facts(db)))
        builder.start()
        assert started.wait(30)
        monkeypatch.setattr(module, "read_run", original)
        load(db, plan([MINI], source="mini", title="reloaded"), user="test")  # replaces the graph being read
        assert db.data_version != old_version
        go.set()
        builder.join(30)
        assert built and built[0].version == old_version and built[0].props == expected
        assert len(built[0].of_type("Officer")) == 3
        assert facts(db) is not built[0] and facts(db).version == db.data_version  # not installed as the newer
    finally:
        db.close()


def test_an_entry_is_current_for_its_data_version_in_either_view_and_no_other() -> None:
    from graph.store.derived import View, is_current

    assert is_current("v2", "v2") and is_current("v2" + View.PSEUDONYMISED.suffix, "v2")
    assert not is_current("v2", "v21") and not is_current("v21", "v2")  # never a prefix test
    assert not is_current("v2~other", "v2")
