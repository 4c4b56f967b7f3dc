"""A full disk is survivable: a real server on a small real filesystem (issue 13, item 7).

The data volume is a tmpfs mounted with ``size=`` (needs root and permission to mount; skipped
otherwise), filled with a file until nothing is left. Loads that meet it get a 507 problem and
change nothing; reads that cannot be audited get a 503; once space returns every route works
again by itself, and the audit chain verifies with the gap recorded.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.audit import records, verify
from tests.conftest import serving
from tests.graph.test_ingest import big_ntriples


@contextlib.contextmanager
def small_volume(folder: Path, megabytes: int) -> Iterator[Path]:
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m,mode=0700", "tmpfs", str(folder)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here: {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


@contextlib.contextmanager
def filled(volume: Path, *, leave: int = 0) -> Iterator[Path]:
    """Fill `volume` with one file until `leave` bytes are free (0: until ENOSPC); remove it on exit."""
    filler = volume / "filler"
    with filler.open("wb", buffering=0) as out:
        block = b"\0" * (1 << 16)
        while True:
            free = shutil.disk_usage(volume).free
            if free <= leave:
                break
            try:
                out.write(block[: max(1, min(len(block), free - leave))])
            except OSError:
                break
    try:
        yield filler
    finally:
        filler.unlink()


def call(url: str, method: str = "GET", body: bytes | None = None, **headers: str) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(url, data=body, method=method, headers={"Accept": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            status, head, raw = answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        status, head, raw = error.code, dict(error.headers), error.read()
    text = raw.decode("utf-8", "replace")
    return status, head, json.loads(text) if head.get("Content-Type", "").endswith("json") and text else text


def test_a_full_disk_refuses_loads_with_507_and_every_route_recovers(tmp_path: Path) -> None:
    data = tmp_path / "big.nt"
    big_ntriples(data, 60_000)  # about 12 MB
    body = data.read_bytes()
    nt = {"Content-Type": "application/n-triples"}
    with small_volume(tmp_path / "vol", 96) as volume:
        store = volume / "store"
        with serving(store, DISK_RESERVE_BYTES="0") as url:
            before = call(url + "/sources")[2]
            assert call(url + "/stats")[0] == 200

            # 1. the volume fills up during a load: 507, nothing changed
            with filled(volume, leave=4 << 20):
                status, head, problem = call(url + "/sources/big", "PUT", body, **nt)
                assert status == 507, (status, problem)
                assert head["Content-Type"] == "application/problem+json" and problem["status"] == 507
                assert "Traceback" not in json.dumps(problem) and str(volume) not in json.dumps(problem)
                assert call(url + "/sources")[2] == before  # the store as it was
                assert call(url + "/linkage/repeat-subjects")[0] == 200  # reads still answered

            # 2. nothing left at all: reads that cannot be audited are refused, and so are loads
            with filled(volume):
                status, head, _ = call(url + "/linkage/repeat-subjects")
                assert status == 503 and int(head["Retry-After"]) >= 1
                assert call(url + "/sources/big", "PUT", body, **nt)[0] in (503, 507)  # 503: not audited
                assert call(url + "/sources/charing-cross", "DELETE")[0] in (503, 507)
                assert call(url + "/health")[0] == 200  # public, not audited

            # 3. space is back: every route works again, by itself
            assert call(url + "/linkage/repeat-subjects")[0] == 200
            assert call(url + "/sources")[2] == before
            status, _, report = call(url + "/sources/big", "PUT", body, **nt)
            assert status == 201, report
            assert call(url + "/sources/big")[2]["triples"] == 180_003
            assert call(url + "/sparql?query=ASK%7B%7D", Accept="application/sparql-results+json")[0] == 200
            assert call(url + "/sources/big", "DELETE")[0] == 204
            assert call(url + "/sources")[2]["data_version"] == before["data_version"]
        log = store / "audit" / "audit.jsonl"
        _, _, problem = verify(log)
        assert problem is None, problem
        lost = [r for r in records(log) if r["event"] == "lost"]
        assert lost and lost[0]["records"] >= 1 and "request" in lost[0]["events"]


def test_reserve_refuses_a_load_before_anything_is_written(tmp_path: Path) -> None:
    data = tmp_path / "big.nt"
    big_ntriples(data, 20_000)
    with small_volume(tmp_path / "vol", 64) as volume:
        with serving(volume / "store", DISK_RESERVE_BYTES=str(48 << 20)) as url:
            before = call(url + "/sources")[2]
            status, _, problem = call(url + "/sources/big", "PUT", data.read_bytes(),
                                      **{"Content-Type": "application/n-triples"})
            assert status == 507 and "nothing was loaded" in problem["detail"], problem
            assert call(url + "/sources")[2] == before


def test_every_write_route_keeps_the_reserve(tmp_path: Path) -> None:
    """The reserve is kept by every way of writing a source, the SPARQL Update route included (it once skipped it):
    with more reserve asked than any disk has, each is refused with 507 and nothing changes."""
    with serving(tmp_path / "store", DISK_RESERVE_BYTES=str(1 << 50), SPARQL_UPDATE="true") as url:
        before = call(url + "/sources")[2]
        status, _, problem = call(url + "/sources/tiny", "PUT", b"<urn:a> <urn:b> <urn:c> .\n",
                                  **{"Content-Type": "application/n-triples"})
        assert status == 507, problem
        update = b'PREFIX ov: <https://w3id.org/oversight/ontology#> INSERT DATA { <urn:x> ov:title "t" }'
        status, _, problem = call(url + "/sparql/update?source=tiny", "POST", update,
                                  **{"Content-Type": "application/sparql-update"})
        assert status == 507 and "nothing was loaded" in problem["detail"], problem
        assert call(url + "/sources")[2] == before
