"""The service description names the service, not the Host a client sent; two first loads of one
source make one 201 (issue 13, item 12)."""

from __future__ import annotations

import http.client
import threading
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pyoxigraph as ox

from tests.conftest import serving
from tests.graph.test_ingest import big_ntriples

SD = "http://www.w3.org/ns/sparql-service-description#"


def _endpoints(turtle: bytes) -> set[str]:
    quads = ox.parse(turtle, format=ox.RdfFormat.TURTLE)
    return {q.object.value for q in quads if q.predicate.value == SD + "endpoint"}


def test_sd_endpoint_does_not_echo_the_host_header(tmp_path: Path) -> None:
    with serving(tmp_path / "served") as url:
        parsed = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
        conn.request("GET", "/sparql", headers={"Host": "evil.example", "Accept": "text/turtle"})
        answer = conn.getresponse()
        assert answer.status == 200
        body = answer.read()
        assert b"evil.example" not in body
        assert _endpoints(body) == {url + "/sparql"}
    with serving(tmp_path / "public", PUBLIC_URL="https://oversight.example.org/") as url:
        request = urllib.request.Request(url + "/sparql", headers={"Accept": "text/turtle", "Host": "evil.example"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert _endpoints(answer.read()) == {"https://oversight.example.org/sparql"}


def test_two_concurrent_first_loads_make_one_201(tmp_path: Path) -> None:
    data = tmp_path / "big.nt"
    big_ntriples(data, 20_000)
    body = data.read_bytes()
    with serving(tmp_path / "served") as url:
        start = threading.Barrier(2)
        statuses: list[Any] = []

        def put() -> None:
            request = urllib.request.Request(url + "/sources/twice", data=body, method="PUT",
                                             headers={"Content-Type": "application/n-triples"})
            start.wait()
            with urllib.request.urlopen(request, timeout=300) as answer:
                statuses.append(answer.status)

        threads = [threading.Thread(target=put) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(statuses) == [200, 201]
