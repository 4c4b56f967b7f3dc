"""Access: every route enforces its role, tokens are stored hashed, the audit log is a verifiable chain."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from api.access import PUBLIC, ROLES, RateLimit, Tokens, required_role
from api.audit import records, verify
from graph.ingest.cases import bundled_path
from tests.conftest import serving

JSON = {"Accept": "application/json"}


def _bearer(text: str) -> dict[str, str]:
    return {**JSON, "Authorization": f"Bearer {text}"}


def _routes(app: Any) -> list[tuple[str, str, str]]:
    """(method, URL, endpoint) of every route, with harmless sample values in its variables."""
    samples = {"name": "nope", "id": "nope", "token_id": "nope", "spec": "full.csv", "version": "0",
               "filename": "style.css"}
    out = []
    for rule in app.url_map.iter_rules():
        url = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: samples[m.group(1)], str(rule))
        out += [(method, url, rule.endpoint) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return out


def test_every_route_enforces_its_role(secured: tuple[Any, dict[str, str]]) -> None:
    """Walks the URL map: a route added later is covered, and one no rule names needs admin."""
    app, texts = secured
    client = app.test_client()
    # every route is refused to several roles from one address: more than the refusal limit a minute allows
    app.extensions["oversight-refusals"] = RateLimit(10_000)
    checked = 0
    for method, url, endpoint in _routes(app):
        needed = required_role(endpoint)
        anonymous = client.open(url, method=method, headers=JSON)
        if needed == PUBLIC:
            assert anonymous.status_code not in (401, 403), (method, url)
            continue
        assert anonymous.status_code == 401, (method, url, anonymous.status_code)
        assert anonymous.mimetype == "application/problem+json" and "Bearer" in anonymous.headers["WWW-Authenticate"]
        for role in ROLES:
            answer = client.open(url, method=method, headers=_bearer(texts[role]))
            answer.close()  # ends a streamed body
            if ROLES.index(role) < ROLES.index(needed):
                assert answer.status_code == 403, (method, url, role, answer.status_code)
                assert needed in answer.get_json()["detail"]
            else:
                assert answer.status_code not in (401, 403), (method, url, role, answer.get_data(as_text=True))
        checked += 1
    assert checked >= 25
    assert required_role("some_new_blueprint.view") == "admin"  # closed until a rule opens it


@pytest.mark.parametrize("header", [
    "Bearer", "Bearer ", "Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer ovg_0123456789ab_" + "A" * 43,
    "Bearer ovg_zzzzzzzzzzzz_" + "A" * 43, "Bearer ovg_0123456789ab_" + "A" * 4000, "Bearer \x00\x01",
    "bearer ovg_../../etc/passwd",
])
def test_malformed_or_unknown_tokens_get_401(secured: tuple[Any, dict[str, str]], header: str) -> None:
    app, _ = secured
    answer = app.test_client().get("/linkage/repeat-subjects", headers={**JSON, "Authorization": header})
    assert answer.status_code == 401 and answer.mimetype == "application/problem+json"
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]
    assert "Traceback" not in answer.get_data(as_text=True)


def test_tokens_are_kept_as_salted_hashes_and_revocation_is_immediate(secured: tuple[Any, dict[str, str]],
                                                                      settings: dict[str, Any]) -> None:
    app, texts = secured
    stored = Path(settings["DATA_DIR"]) / "access" / "tokens.json"
    content = stored.read_text()
    assert all(text.split("_", 2)[2] not in content for text in texts.values())
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    digests = [t["digest"] for t in json.loads(content)["tokens"]]
    assert len(set(digests)) == len(digests)
    client = app.test_client()
    assert client.get("/stats", headers=_bearer(texts["reader"])).status_code == 200
    reader_id = texts["reader"].split("_")[1]
    Tokens(settings["DATA_DIR"]).revoke(reader_id)  # as `oversight token revoke` would, from outside
    assert client.get("/stats", headers=_bearer(texts["reader"])).status_code == 401
    listed = client.get("/tokens", headers=_bearer(texts["admin"])).get_json()["tokens"]
    assert {t["id"]: t["revoked"] is not None for t in listed}[reader_id]
    assert all("digest" not in t and "salt" not in t for t in listed)


def test_browsers_sign_in_with_a_cookie_that_only_reads(secured: tuple[Any, dict[str, str]]) -> None:
    app, texts = secured
    client = app.test_client()
    page = client.get("/officers", headers={"Accept": "text/html"})
    assert page.status_code == 303 and page.headers["Location"].startswith("/login?next=/officers")
    wrong = client.post("/login", data={"token": "ovg_nope", "next": "/"})
    assert wrong.status_code == 200 and "malformed, unknown or revoked" in wrong.get_data(as_text=True)
    assert "Set-Cookie" not in wrong.headers
    offsite = client.post("/login", data={"token": texts["steward"], "next": "//evil.example/"})
    assert offsite.status_code == 303 and offsite.headers["Location"] == "/"
    cookie = offsite.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert client.get("/officers", headers=JSON).status_code == 200
    assert client.post("/sparql", data={"query": "ASK {}"}, headers=JSON).status_code == 200
    # the cookie never changes data: a cross-site form cannot use it
    assert client.delete("/sources/charing-cross", headers=JSON).status_code == 401
    assert client.post("/sparql/update?source=x", data={"update": "INSERT DATA {}"}, headers=JSON).status_code == 401
    client.post("/logout")
    assert client.get("/officers", headers=JSON).status_code == 401


def test_each_token_is_rate_limited(settings: dict[str, Any]) -> None:
    from api import create_app
    from api.database import close

    app = create_app({**settings, "TESTING": True, "RATE_LIMIT": 3})
    text = Tokens(settings["DATA_DIR"]).create("reader", "busy")[1]
    client = app.test_client()
    codes = [client.get("/stats", headers=_bearer(text)).status_code for _ in range(4)]
    other = Tokens(settings["DATA_DIR"]).create("reader", "other")[1]
    try:
        assert codes == [200, 200, 200, 429]
        limited = client.get("/stats", headers=_bearer(text))
        assert limited.mimetype == "application/problem+json" and int(limited.headers["Retry-After"]) >= 1
        assert client.get("/stats", headers=_bearer(other)).status_code == 200  # per token
        assert client.get("/health").status_code == 200  # public routes are not counted
    finally:
        close(app)


# ------------------------------------------------------------------------------------------- audit

def test_requests_are_audited_in_a_chain_that_shows_tampering(secured: tuple[Any, dict[str, str]],
                                                              settings: dict[str, Any]) -> None:
    app, texts = secured
    client = app.test_client()
    query = "SELECT ?o WHERE { ?o a ov:Officer }"
    # each body is read to its end, as a server sends it: the response record is written then
    assert client.get("/linkage/repeat-subjects", headers=_bearer(texts["reader"])).data
    assert client.post("/sparql", data={"query": query},
                       headers={**_bearer(texts["investigator"]), "Accept": "text/csv"}).data
    exported = client.get("/export/officers.graphml", headers=_bearer(texts["reader"])).data
    assert client.get("/stats", headers=JSON).data  # refused: recorded as denied
    assert client.get("/health").data  # public: not recorded
    path = Path(settings["DATA_DIR"]) / "audit" / "audit.jsonl"
    log = list(records(path))
    events = [(r["event"], r.get("path") or r.get("request")) for r in log]
    assert [e for e, _ in events] == ["request", "response"] * 3 + ["denied"]
    first, sparql = log[0], log[2]
    assert first["who_name"] == "test reader" and first["who_role"] == "reader" and first["route"]
    assert log[1]["rows"] == 5 and log[1]["status"] == 200  # Officers A-E
    assert sparql["sparql"] == query and log[3]["rows"] == 18
    assert log[5]["sha256"] == hashlib.sha256(exported).hexdigest() and log[5]["bytes"] == len(exported)
    assert verify(path)[2] is None

    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:2] + lines[3:]))  # a record deleted
    assert "line 3" in str(verify(path)[2])
    edited = lines[2].replace("?o a ov:Officer", "?o a ov:Person")
    path.write_text("".join(lines[:2] + [edited] + lines[3:]))  # a record edited
    assert verify(path)[2] == "line 3: the record was changed after it was written"
    path.write_text("".join(lines))
    assert verify(path) == (7, json.loads(lines[-1])["hash"], None)


def test_no_disclosure_without_an_audit_record(secured: tuple[Any, dict[str, str]], settings: dict[str, Any]) -> None:
    app, texts = secured
    path = Path(settings["DATA_DIR"]) / "audit" / "audit.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.mkdir()  # the log cannot be opened for appending
    answer = app.test_client().get("/officers", headers=_bearer(texts["reader"]))
    assert answer.status_code == 503 and answer.mimetype == "application/problem+json"
    assert "Officer" not in answer.get_data(as_text=True) and str(path) not in answer.get_data(as_text=True)


def test_the_cli_manages_tokens_and_checks_the_audit_log(tmp_path: Path) -> None:
    env = {**os.environ, "OVERSIGHT_DATA_DIR": str(tmp_path / "store")}

    def oversight(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "api", *args], env=env, capture_output=True, text=True,
                              timeout=120)

    created = oversight("token", "create", "--role", "investigator", "--name", "Analyst One")
    assert created.returncode == 0 and "shown only this once" in created.stderr
    text = created.stdout.strip()
    assert re.fullmatch(r"ovg_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", text)
    listed = oversight("token", "list").stdout
    assert "investigator" in listed and "Analyst One" in listed and text.split("_", 2)[2] not in listed
    bad = oversight("token", "create", "--role", "superuser", "--name", "x")
    assert bad.returncode != 0 and "superuser" in bad.stderr
    assert oversight("load", str(bundled_path()), "--source", "cc").returncode == 0
    assert oversight("export", "officers", "--format", "csv", "-o", str(tmp_path / "o.zip")).returncode == 0
    verified = oversight("audit", "verify")
    assert verified.returncode == 0 and "4 records, chain intact" in verified.stdout  # the export and its manifest
    shown = [json.loads(line) for line in oversight("audit", "show", "--path", "/export/officers.csv").stdout.splitlines()]
    assert [r["event"] for r in shown] == ["request", "response"] and shown[0]["who_name"].startswith("cli:")
    assert shown[1]["sha256"] == hashlib.sha256((tmp_path / "o.zip").read_bytes()).hexdigest()
    log = tmp_path / "store" / "audit" / "audit.jsonl"
    log.write_text(log.read_text().replace('"status":200', '"status":404'))
    broken = oversight("audit", "verify")
    assert broken.returncode == 1 and "line 2: the record was changed" in broken.stderr, broken.stderr
    revoked = oversight("token", "revoke", text.split("_")[1])
    assert revoked.returncode == 0 and "revoked" in oversight("token", "list").stdout
    assert oversight("token", "revoke", "000000000000").returncode == 1


def test_serve_refuses_a_public_address_without_auth(tmp_path: Path) -> None:
    env = {**os.environ, "OVERSIGHT_DATA_DIR": str(tmp_path / "store")}
    refused = subprocess.run([sys.executable, "-m", "api", "serve", "--no-auth", "--host", "0.0.0.0", "--port", "0"],
                             env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "refusing to serve 0.0.0.0 without authentication" in refused.stderr


def test_a_real_server_needs_tokens_end_to_end(tmp_path: Path) -> None:
    folder = tmp_path / "served"
    steward = Tokens(folder).create("steward", "loader")[1]
    reader = Tokens(folder).create("reader", "reader")[1]
    with serving(folder, AUTH="true") as url:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url + "/linkage/repeat-subjects", timeout=10)
        assert refused.value.code == 401 and refused.value.headers["Content-Type"] == "application/problem+json"
        request = urllib.request.Request(url + "/linkage/repeat-subjects", headers=_bearer(reader))
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert json.load(answer)["total"] == 5
        env = {**os.environ, "OVERSIGHT_TOKEN": reader}
        put = [sys.executable, "-m", "api", "load", "--server", url, str(bundled_path()), "--source", "cc2"]
        weak = subprocess.run(put, env=env, capture_output=True, text=True, timeout=120)
        assert weak.returncode == 1 and "Forbidden" in weak.stderr
        env["OVERSIGHT_TOKEN"] = steward
        done = subprocess.run(put, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        request = urllib.request.Request(url + "/sources/cc2", headers=_bearer(steward))
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert json.load(answer)["loaded_by"] == "loader"  # provenance names the token, not a header
        request = urllib.request.Request(url + "/sources/cc2", headers=_bearer(reader))
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert "loaded_by" not in json.load(answer)  # a person's name: not in the reader view
    assert verify(folder / "audit" / "audit.jsonl")[2] is None


@pytest.mark.parametrize(("method", "url"), [
    ("GET", "/export/..%2F..%2F..%2Fetc%2Fpasswd.csv"), ("GET", "/export/../../etc/passwd"),
    ("GET", "/export/officer/..%2F..%2Fx.graphml"), ("GET", "/queries/..%2F..%2Fetc%2Fpasswd"),
    ("GET", "/editor/4.6.2/..%2F..%2F..%2Fetc%2Fpasswd"), ("GET", "/editor/..%2F4.6.2/yasgui.min.js"),
    ("GET", "/sources/..%2F..%2Fetc"), ("PUT", "/sources/..%2F..%2Fetc"), ("DELETE", "/sources/..%2Fontology"),
    ("GET", "/static/..%2F..%2Fapi%2F__init__.py"), ("GET", "/officers/..%2F..%2Fetc%2Fpasswd"),
])
def test_traversal_in_names_reaches_nothing(secured: tuple[Any, dict[str, str]], method: str, url: str) -> None:
    app, texts = secured
    answer = app.test_client().open(url, method=method, data=b"<a> <b> <c> .", content_type="text/turtle",
                                    headers=_bearer(texts["admin"]))
    body = answer.get_data(as_text=True)
    assert 400 <= answer.status_code < 500, (url, answer.status_code)
    assert "root:" not in body and "import" not in body and "Traceback" not in body
    assert answer.mimetype == "application/problem+json" or answer.status_code == 404


def test_two_writers_of_one_audit_log_keep_one_chain(tmp_path: Any) -> None:
    """The service and the CLI append to the same file: each sees the other's records before chaining."""
    from api.audit import AuditLog, verify

    path = tmp_path / "audit.jsonl"
    service, cli = AuditLog(path), AuditLog(path)
    for i in range(5):
        service.append({"event": "request", "n": i})
        service.append({"event": "response", "n": i})
        cli.append({"event": "cli", "n": i})
    count, _, problem = verify(path)
    assert (count, problem) == (15, None)
