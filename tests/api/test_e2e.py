"""End to end through a real server: `oversight serve` (waitress) on loopback, real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.conftest import MINI
from tests.graph.test_ingest import big_ntriples


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            body = response.read().decode()
            return response.status, json.loads(body) if response.headers.get_content_type().endswith("json") else body
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read().decode())


def test_a_fresh_service_serves_the_bundled_case(server: str) -> None:
    status, page = get(server + "/")
    assert status == 200 and "charing-cross" in page
    status, stats = get(server + "/stats")
    assert stats["classes"]["https://w3id.org/oversight/ontology#Investigation"] == 9
    status, problem = get(server + "/sources/none")
    assert status == 404 and problem["status"] == 404


def test_cli_loads_through_the_running_service(server: str, tmp_path: Path) -> None:
    env = {**os.environ, "OVERSIGHT_DATA_DIR": str(tmp_path / "unused")}
    result = subprocess.run([sys.executable, "-m", "api", "load", "--server", server, str(MINI)],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "loaded mini through" in result.stdout
    assert get(server + "/sources/mini")[1]["triples"] > 100
    bad = tmp_path / "bad.ttl"
    bad.write_text("<https://example.org/o> a <https://w3id.org/oversight/ontology#Officer> .\n")
    result = subprocess.run([sys.executable, "-m", "api", "load", "--server", server, str(bad)],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "body.ttl: field 'ov:identifier'" in result.stderr and "Traceback" not in result.stderr


def test_readers_keep_answering_from_the_previous_version_while_a_load_runs(server: str, tmp_path: Path) -> None:
    big = tmp_path / "big.nt"
    big_ntriples(big, 50_000)
    before = get(server + "/health")[1]["data_version"]
    outcome: dict[str, Any] = {}

    def put() -> None:
        request = urllib.request.Request(server + "/sources/big", data=big.read_bytes(), method="PUT",
                                         headers={"Content-Type": "application/n-triples"})
        with urllib.request.urlopen(request, timeout=300) as response:
            outcome["status"] = response.status
            outcome["version"] = json.load(response)["data_version"]

    question = server + "/linkage/repeat-subjects?min_investigations=1&limit=1"
    status, answer = get(question)
    assert status == 200 and answer["data_version"] == before
    answers = {before: answer["total"]}
    loader = threading.Thread(target=put)
    loader.start()
    seen, asked = [], 0
    while loader.is_alive():
        status, body = get(server + "/health")
        assert status == 200
        seen.append(body["data_version"])
        status, answer = get(question)  # a linkage answer, from the facts of one version, never a mix
        assert status == 200, answer
        assert answers.setdefault(answer["data_version"], answer["total"]) == answer["total"]
        asked += answer["data_version"] == before
    loader.join()
    assert asked >= 1 and set(answers) <= {before, outcome["version"]}
    assert outcome["status"] == 201
    seen.append(get(server + "/health")[1]["data_version"])
    assert seen[0] == before and seen[-1] == outcome["version"]
    assert set(seen) == {before, outcome["version"]}  # never a half-loaded version in between
    assert seen.count(before) >= 2  # readers were answered while the load ran


def test_sigterm_stops_the_service_cleanly(tmp_path: Path) -> None:
    """As a process manager stops it: requests answered, the audit chain complete, the store's lock released."""
    import signal
    import time

    from api.audit import log_path
    from graph import open_database
    from graph.settings import resolve
    from tests.conftest import free_port

    folder, port = tmp_path / "store", free_port()
    env = {**os.environ, "OVERSIGHT_DATA_DIR": str(folder), "OVERSIGHT_PORT": str(port),
           "OVERSIGHT_STORE": "oxigraph", "OVERSIGHT_AUTH": "false"}
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "api", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/linkage/repeat-subjects", timeout=5) as r:
                    assert r.status == 200
                break
            except OSError:
                time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    assert "stopped" in (tmp_path / "serve.log").read_text()
    records = [json.loads(line) for line in log_path(folder).read_text().splitlines()]
    assert records[-2]["path"] == "/linkage/repeat-subjects"
    assert records[-1]["event"] == "response" and records[-1]["request"] == records[-2]["id"]
    assert records[-1]["complete"] and records[-1]["status"] == 200
    open_database(resolve({"STORE": "oxigraph", "DATA_DIR": str(folder)}, environ={})).close()  # lock released
