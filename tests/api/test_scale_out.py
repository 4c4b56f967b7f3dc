"""Several instances, one store: two real ``oversight serve`` processes over one real Oxigraph server.

A load through one instance is seen by the other within its refresh time (data version, answers, ETags), and
neither ever answers from a mix of versions, while loads go on through the first.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import serving
from tests.servers import oxigraph_server

P = "https://example.org/scale/p"


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def put(url: str, body: str) -> dict[str, Any]:
    request = urllib.request.Request(url, data=body.encode(), method="PUT",
                                     headers={"Content-Type": "application/n-triples"})
    with urllib.request.urlopen(request, timeout=120) as response:
        assert response.status in (200, 201)
        return json.loads(response.read())


def version_of(url: str) -> str:
    return json.loads(get(f"{url}/sources")[2])["data_version"]


def values(url: str) -> list[str]:
    query = urllib.parse.urlencode({"query": f"SELECT ?o WHERE {{ ?s <{P}> ?o }}"})
    status, _, body = get(f"{url}/sparql?{query}", {"Accept": "application/sparql-results+json"})
    assert status == 200, body
    return sorted(b["o"]["value"] for b in json.loads(body)["results"]["bindings"])


def doc(k: int) -> str:
    """Version `k` of the test source: `k` statements, every one saying `k`."""
    return "".join(f'<https://example.org/scale/s{i}> <{P}> "{k}" .\n' for i in range(k))


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    folder = tmp_path_factory.mktemp("scale-out")
    with contextlib.ExitStack() as stack:
        store = stack.enter_context(oxigraph_server(folder / "oxigraph"))
        one = stack.enter_context(serving(folder / "one", **store))  # loads the bundled case into the empty store
        two = stack.enter_context(serving(folder / "two", STORE_REFRESH="0.5", **store))
        yield one, two


def test_the_second_instance_starts_on_what_the_first_loaded(pair: tuple[str, str]) -> None:
    one, two = pair
    assert version_of(two) == version_of(one)
    first = json.loads(get(f"{one}/linkage/repeat-subjects")[2])
    second = json.loads(get(f"{two}/linkage/repeat-subjects")[2])
    assert first["items"] and first == second


def test_a_load_through_one_is_seen_by_the_other_within_its_refresh_time(pair: tuple[str, str]) -> None:
    one, two = pair
    _, headers, _ = get(f"{two}/linkage/repeat-subjects")
    etag = headers["etag"]
    report = put(f"{one}/sources/scale", doc(3))
    started = time.monotonic()
    while version_of(two) != report["data_version"] and time.monotonic() - started < 10:
        time.sleep(0.05)
    seen = time.monotonic() - started
    assert version_of(two) == report["data_version"]
    assert seen < 0.5 + 2  # the refresh time, and a margin for the machine
    assert values(two) == ["3", "3", "3"]
    assert get(f"{two}/linkage/repeat-subjects")[1]["etag"] != etag  # caches follow the data version
    assert get(f"{two}/linkage/repeat-subjects", {"If-None-Match": etag})[0] == 200


def test_neither_instance_answers_from_a_mix_of_versions(pair: tuple[str, str]) -> None:
    one, two = pair
    seen: dict[str, list[list[str]]] = {one: [], two: []}
    stop = threading.Event()

    def read(url: str) -> None:
        while not stop.is_set():
            seen[url].append(values(url))

    readers = [threading.Thread(target=read, args=(url,)) for url in (one, two)]
    for reader in readers:
        reader.start()
    try:
        for k in range(4, 12):
            put(f"{one}/sources/scale", doc(k))
        time.sleep(1.0)  # the other instance's refresh
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    for url, answers in seen.items():
        assert len(answers) > 5, url
        for answer in answers:  # each answer is one whole version: k statements, every one saying k
            assert answer and set(answer) == {str(len(answer))}, (url, answer)
        assert answers[-1] == ["11"] * 11, url


def test_a_deletion_through_the_other_is_seen_by_the_first(pair: tuple[str, str], tmp_path: Path) -> None:
    one, two = pair
    put(f"{one}/sources/gone", doc(2))
    request = urllib.request.Request(f"{two}/sources/gone", method="DELETE")
    started = time.monotonic()
    while time.monotonic() - started < 10:
        try:
            with urllib.request.urlopen(request, timeout=30):
                break
        except urllib.error.HTTPError as exc:  # not seen there yet: a 404 until its refresh
            assert exc.code == 404
            time.sleep(0.1)
    started = time.monotonic()
    while get(f"{one}/sources/gone")[0] != 404 and time.monotonic() - started < 10:
        time.sleep(0.05)
    assert get(f"{one}/sources/gone")[0] == 404
