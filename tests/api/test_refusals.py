"""Anonymous abuse against a real server: refusals are rate-limited, their records bounded, and bodies
are never read before authentication (issue 13, items 8 and 12)."""

from __future__ import annotations

import http.client
import json
import secrets
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from api.access import Tokens
from api.audit import records, verify
from tests.conftest import serving


def _connection(url: str) -> http.client.HTTPConnection:
    parsed = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)


def _ask(conn: http.client.HTTPConnection, method: str, path: str, headers: dict[str, str] | None = None,
         body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    conn.request(method, path, body=body, headers={"Accept": "application/json", **(headers or {})})
    response = conn.getresponse()
    return response.status, dict(response.getheaders()), response.read()


def _raw(url: str, head: bytes, *, wait: float = 5.0) -> tuple[bytes, float]:
    """Send `head` (request line and headers, no body) and read the answer until the server closes."""
    parsed = urllib.parse.urlsplit(url)
    started = time.monotonic()
    with socket.create_connection((parsed.hostname, parsed.port), timeout=wait) as sock:
        sock.sendall(head)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except TimeoutError:
            pass  # the server is still waiting for the body it was promised
    return answer, time.monotonic() - started


@pytest.fixture
def guarded(tmp_path: Path) -> Any:
    """A real server with authentication on, a steward token, and its audit log."""
    folder = tmp_path / "served"
    steward = Tokens(folder).create("steward", "loader")[1]
    with serving(folder, AUTH="true", MAX_UPLOAD_BYTES=str(1 << 20)) as url:
        yield url, steward, folder / "audit" / "audit.jsonl"


def test_random_bearer_tokens_get_429_and_write_a_bounded_log(guarded: Any) -> None:
    url, steward, log = guarded
    conn = _connection(url)
    statuses = []
    started = time.monotonic()
    for _ in range(1500):
        status, headers, body = _ask(conn, "GET", "/linkage/repeat-subjects",
                                     {"Authorization": f"Bearer ovg_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"})
        statuses.append(status)
        if status == 429:
            assert int(headers["Retry-After"]) >= 1
            assert json.loads(body)["status"] == 429
    assert statuses[:60] == [401] * 60  # the limit, REFUSAL_LIMIT=60 a minute
    assert statuses.count(429) >= 1400
    # a valid token from the same address is not locked out by the guesser
    status, _, _ = _ask(conn, "GET", "/linkage/repeat-subjects", {"Authorization": f"Bearer {steward}"})
    assert status == 200
    denied = [r for r in records(log) if r["event"] == "denied"]
    # 60, one more when a 429 streak starts, and one a second as the bucket refills; the rest are counted
    assert 60 <= len(denied) <= 60 + 1 + round(time.monotonic() - started) + 1, len(denied)
    assert sum(r.get("unrecorded_before", 0) for r in denied) + len(denied) <= 1500
    assert verify(log)[2] is None


def test_long_paths_write_clipped_records(guarded: Any) -> None:
    url, _, log = guarded
    conn = _connection(url)
    before = log.stat().st_size if log.exists() else 0
    for _ in range(40):
        status, _, _ = _ask(conn, "GET", "/officers/" + "x" * 200_000)
        assert status == 401
    grown = log.stat().st_size - before
    assert grown < 40 * 1500, grown  # was 4 MB: each record kept the whole 200 KB path
    last = list(records(log))[-1]
    assert "[truncated: 200010 characters, sha256 " in last["path"]


def test_failed_sign_ins_are_rate_limited_and_audited(guarded: Any) -> None:
    url, steward, log = guarded
    conn = _connection(url)
    form = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"}
    statuses = []
    for _ in range(70):
        status, headers, _ = _ask(conn, "POST", "/login", form, urllib.parse.urlencode(
            {"token": f"ovg_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"}).encode())
        statuses.append(status)
    assert statuses[:60] == [200] * 60 and statuses[60:] == [429] * 10  # the page again, then 429
    status, headers, _ = _ask(conn, "POST", "/login", form, urllib.parse.urlencode({"token": steward}).encode())
    assert status == 303 and "oversight_token=" in headers["Set-Cookie"]  # a valid token still signs in
    sign_ins = [r for r in records(log) if r["event"] == "sign-in"]
    assert [r["outcome"] for r in sign_ins[:60]] == ["refused"] * 60
    assert sign_ins[60]["outcome"] == "rate-limited" and sign_ins[60]["status"] == 429
    assert sign_ins[-1]["outcome"] == "signed-in" and sign_ins[-1]["who_name"] == "loader"
    assert all(r["addr"] == "127.0.0.1" for r in sign_ins)


def test_an_anonymous_150_mb_put_is_refused_before_its_body(guarded: Any) -> None:
    url, steward, _ = guarded
    head = (b"PUT /sources/flood HTTP/1.1\r\nHost: x\r\nContent-Type: application/n-triples\r\n"
            b"Content-Length: 150000000\r\n\r\n")
    answer, took = _raw(url, head)  # no body is sent at all: a server that waits for it never answers
    assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]
    assert b"application/problem+json" in answer and took < 4
    wrong = head.replace(b"Host: x\r\n", b"Host: x\r\nAuthorization: Bearer ovg_000000000000_" + b"A" * 43 + b"\r\n")
    assert _raw(url, wrong)[0].startswith(b"HTTP/1.1 401 ")
    # a steward's body over MAX_UPLOAD_BYTES: 413 before it is read
    big = head.replace(b"Host: x\r\n", b"Host: x\r\nAuthorization: Bearer " + steward.encode() + b"\r\n")
    answer, took = _raw(url, big)
    assert answer.startswith(b"HTTP/1.1 413 ") and b"application/problem+json" in answer and took < 4
    # clients that ask first are never invited to send the body
    asked = head.replace(b"Host: x\r\n", b"Host: x\r\nExpect: 100-continue\r\n")
    answer, _ = _raw(url, asked)
    assert answer.startswith(b"HTTP/1.1 401 ") and b"100 Continue" not in answer
    # a client that sends its whole body before it reads (urllib) sees the 401, not a reset
    request = urllib.request.Request(url + "/sources/flood", data=b"x" * 150_000_000, method="PUT",
                                     headers={"Content-Type": "application/n-triples"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 401
    # and a steward's body within the limit is read and loaded as before
    conn = _connection(url)
    body = b"<https://example.org/a> <https://example.org/b> <https://example.org/c> .\n"
    status, _, text = _ask(conn, "PUT", "/sources/small", {"Authorization": f"Bearer {steward}",
                                                           "Content-Type": "application/n-triples"}, body)
    assert status == 400 and b"ov:" in text or status in (200, 201)  # validated: refused by the shapes or loaded
    status, _, _ = _ask(_connection(url), "GET", "/health")
    assert status == 200


def _refused_from(url: str, forwarded: str) -> int:
    conn = _connection(url)
    try:
        return _ask(conn, "GET", "/linkage/repeat-subjects",
                    {"Authorization": "Bearer ovg_bad_bad", "X-Forwarded-For": forwarded})[0]
    finally:
        conn.close()


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_refusal_limit(tmp_path: Path) -> None:
    """With OVERSIGHT_TRUSTED_PROXY naming the proxy (here the loopback test client), X-Forwarded-For names the
    client: one guesser is held at the limit while another client behind the same proxy is not, and the audit log
    records the forwarded address."""
    folder = tmp_path / "served"
    with serving(folder, AUTH="true", REFUSAL_LIMIT="3", TRUSTED_PROXY="127.0.0.1") as url:
        assert [_refused_from(url, "198.51.100.7") for _ in range(5)][-1] == 429
        assert _refused_from(url, "198.51.100.8") == 401  # another client behind the proxy
        before = {r.get("addr") for r in records(folder / "audit" / "audit.jsonl") if r["event"] == "denied"}
        for odd in ("unknown", "x" * 4000, "198.51.100.9, "):  # not an address: counts as the proxy (limit 3)
            assert _refused_from(url, odd) == 401
        assert _refused_from(url, "2001:db8::1") == 401
    addresses = {r.get("addr") for r in records(folder / "audit" / "audit.jsonl") if r["event"] == "denied"}
    assert {"198.51.100.7", "198.51.100.8"} <= before and "127.0.0.1" not in before
    assert addresses - before == {"127.0.0.1", "2001:db8::1"}


def test_without_a_trusted_proxy_a_forged_forwarded_for_changes_nothing(tmp_path: Path) -> None:
    """Without the setting the header is the client's own word: writing a new address in it each time must not
    buy a new refusal budget, and the audit log keeps the connection's address."""
    folder = tmp_path / "served"
    with serving(folder, AUTH="true", REFUSAL_LIMIT="3") as url:
        statuses = [_refused_from(url, f"203.0.113.{i}") for i in range(6)]
    assert statuses[:3] == [401] * 3 and statuses[-1] == 429
    addresses = {r.get("addr") for r in records(folder / "audit" / "audit.jsonl") if r["event"] == "denied"}
    assert addresses == {"127.0.0.1"}
