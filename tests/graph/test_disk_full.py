"""The store after a full disk: a failed write leaves RocksDB refusing every later one until it is
opened again; :meth:`Database.recover` does that by itself once space is back (issue 13, item 7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph import delete, load, open_database, plan
from graph.errors import StorageFull
from graph.ingest.cases import bundled_path
from graph.settings import resolve
from tests.api.test_disk_full import filled, small_volume
from tests.graph.test_ingest import big_ntriples


def test_a_store_refusing_writes_after_enospc_is_reopened_when_space_returns(tmp_path: Path) -> None:
    data = tmp_path / "big.nt"
    big_ntriples(data, 2_000)
    with small_volume(tmp_path / "vol", 48) as volume:
        db = open_database(resolve({"STORE": "oxigraph", "DATA_DIR": str(volume / "store")}, environ={}))
        try:
            load(db, plan([bundled_path()], source="cc"), user="test")
            version = db.data_version
            with filled(volume):
                with pytest.raises(StorageFull):
                    delete(db, "cc", user="test")  # the commit's write-ahead log meets ENOSPC
                assert db.data_version == version and "cc" in db.sources
                with pytest.raises(StorageFull):
                    load(db, plan([data], source="big"), user="test")
            assert db.needs_recovery
            load(db, plan([data], source="big"), user="test")  # space is back: probed, reopened, loaded
            assert not db.needs_recovery and db.sources["big"].triples == 6_003
            delete(db, "cc", user="test")
            assert "cc" not in db.sources
        finally:
            db.close()
        reopened = open_database(resolve({"STORE": "oxigraph", "DATA_DIR": str(volume / "store")}, environ={}))
        try:
            assert set(reopened.sources) == {"ontology", "big"}
        finally:
            reopened.close()
