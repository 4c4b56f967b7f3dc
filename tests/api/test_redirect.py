"""After sign-in, /login sends the browser only to a path of this service (issue 13, item 11)."""

from __future__ import annotations

import http.client
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from api.access import Tokens, safe_next
from tests.conftest import serving

HOSTILE = [
    "/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example", "/\x0b/evil.example", "/\x00/evil.example",
    "//evil.example", "///evil.example", "/\\evil.example", "\\\\evil.example", "/\\/evil.example",
    "https://evil.example/", "http:evil.example", "javascript:alert(1)", "evil.example", " /x", "/ /evil.example",
    "/\u3000/evil.example", "/\uff0f/evil.example", "/x\u2028y", "\t//evil.example", "", "/" + "a" * 3000,
]
SAFE = ["/", "/officers", "/officers/p-1?since=2020&kinds=a,b", "/sparql#top", "/%2F/evil.example",
        "/%09/x", "/a/@evil.example", "/a//b"]


@pytest.mark.parametrize("target", HOSTILE)
def test_hostile_next_values_fall_back_to_the_home_page(target: str) -> None:
    assert safe_next(target) == "/"


@pytest.mark.parametrize("target", SAFE)
def test_paths_of_this_service_are_kept(target: str) -> None:
    assert safe_next(target) == target


def test_a_real_server_never_redirects_off_site(tmp_path: Path) -> None:
    folder = tmp_path / "served"
    token = Tokens(folder).create("reader", "reader")[1]
    with serving(folder, AUTH="true") as url:
        parsed = urllib.parse.urlsplit(url)
        # raw query strings as an attacker sends them: encoded tabs, newlines, backslashes, slashes
        raw = ["/%09/evil.example", "/%0a/evil.example", "/%0d%0a/evil.example", "%2F%2Fevil.example",
               "/%5Cevil.example", "%5C%5Cevil.example", "//evil.example", "/%5C/evil.example",
               "https%3A%2F%2Fevil.example", "/%E3%80%80/evil.example", "/%00/evil.example"]
        for value in raw:
            conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
            conn.request("POST", "/login?next=" + value, body=urllib.parse.urlencode({"token": token}),
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
            answer = conn.getresponse()
            answer.read()
            assert answer.status == 303, (value, answer.status)
            assert answer.getheader("Location") == "/", (value, answer.getheader("Location"))
            conn.close()
        conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
        conn.request("POST", "/login?next=/officers%3Fsince%3D2020", body=urllib.parse.urlencode({"token": token}),
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert conn.getresponse().getheader("Location") == "/officers?since=2020"


def test_the_sign_in_redirect_keeps_where_the_browser_was(secured: tuple[Any, dict[str, str]]) -> None:
    app, _ = secured
    page = app.test_client().get("/officers?outcome=dismissal", headers={"Accept": "text/html"})
    assert page.status_code == 303
    target = urllib.parse.parse_qs(urllib.parse.urlsplit(page.headers["Location"]).query)["next"][0]
    assert target == "/officers?outcome=dismissal" and safe_next(target) == target
