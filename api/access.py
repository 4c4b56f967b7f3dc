"""Who may do what: bearer tokens with roles, the role each route needs, and a rate limit per token.

Roles are ordered; each includes the ones before it:

* ``reader``: linkage questions, entities, exports, sources' provenance;
* ``investigator``: also SPARQL and the saved queries;
* ``steward``: also loads (``PUT``/``DELETE /sources``) and ``/sparql/update``;
* ``admin``: also the tokens.

A token is ``ovg_<id>_<secret>``; only a salted hash of the secret is kept, in
``DATA_DIR/access/tokens.json`` (mode 0600). :data:`RULES` names the least role of every
endpoint (by endpoint, else by blueprint); an endpoint it does not name needs ``admin``, so
a new route is closed until someone opens it, and ``tests/api/test_access.py`` walks the URL
map to prove each route enforces its role. Browsers may sign in at ``/login``, which keeps
the token in an HttpOnly, SameSite=Strict cookie; the cookie counts for reading only (GET,
HEAD, and POST to ``/sparql``), so it cannot be used to change data across sites.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
import urllib.parse
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import HTTPException

from api.problems import problem
from graph.errors import BadParameter, NotFound

__all__ = [
    "SPARQL_MAX_BODY",
    "COOKIE",
    "PUBLIC",
    "ROLES",
    "RULES",
    "SIGN_IN",
    "RateLimit",
    "Token",
    "Tokens",
    "admits_body",
    "bp",
    "client_key",
    "init_app",
    "required_role",
    "safe_next",
]

PUBLIC = "public"
ROLES = ("reader", "investigator", "steward", "admin")
COOKIE = "oversight_token"
_BASE = "https://w3id.org/oversight/problems/"

#: The least role of each endpoint ("blueprint.view"), or of every view of a blueprint ("blueprint").
RULES: dict[str, str] = {
    "static": PUBLIC, "editor": PUBLIC, "home.health": PUBLIC, "home.openapi": PUBLIC, "home.docs": PUBLIC,
    "access.login": PUBLIC, "access.logout": PUBLIC, "exports.context": PUBLIC,
    "home": "reader", "entities": "reader", "linkage": "reader", "exports": "reader",
    "sources.list_sources": "reader", "sources.show_source": "reader",
    "sources.put_source": "steward", "sources.delete_source": "steward",
    "sparql.sparql": "investigator", "queries": "investigator",
    "sparql.update": "steward",
    "graphstore.get_graph": "investigator", "graphstore.put_graph": "steward", "graphstore.post_graph": "steward",
    "graphstore.delete_graph": "steward",
    "access.list_tokens": "admin", "access.create_token": "admin", "access.revoke_token": "admin",
}
#: Endpoints a browser's sign-in cookie may reach with POST (they only read).
_COOKIE_POST = {"sparql.sparql", "access.logout"}
_TOKEN = re.compile(r"^ovg_([0-9a-f]{12})_([A-Za-z0-9_-]{43})\Z")
#: The WSGI environ key where the sign-in view leaves its outcome, for :mod:`api.audit` to record.
SIGN_IN = "oversight.sign-in"

bp = Blueprint("access", __name__)


def required_role(endpoint: str | None) -> str:
    """The least role `endpoint` needs (``admin`` when no rule names it: closed by default)."""
    if endpoint is None:
        return PUBLIC  # no route matched: the 404 or 405 says nothing about data
    if endpoint in RULES:
        return RULES[endpoint]
    return RULES.get(endpoint.split(".", 1)[0], "admin")


def allows(role: str, needed: str) -> bool:
    return needed == PUBLIC or (role in ROLES and ROLES.index(role) >= ROLES.index(needed))


@dataclass(frozen=True)
class Token:
    """A token's record: never the secret, only its salted hash."""

    id: str
    name: str
    role: str
    created: str
    salt: str
    digest: str
    revoked: str | None = None

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "role": self.role, "created": self.created,
                "revoked": self.revoked}


def _digest(salt: str, secret: str) -> str:
    return hmac.new(bytes.fromhex(salt), secret.encode("ascii"), hashlib.sha256).hexdigest()


class Tokens:
    """The token file of a deployment, re-read when another process (``oversight token``) changes it."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.path = Path(data_dir) / "access" / "tokens.json"
        self._lock = threading.Lock()
        self._seen: tuple[float, int] | None = None
        self._tokens: dict[str, Token] = {}

    def _load(self) -> dict[str, Token]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return {}
        with self._lock:
            if self._seen != (stat.st_mtime, stat.st_size):
                records = json.loads(self.path.read_text("utf-8"))["tokens"]
                self._tokens = {r["id"]: Token(**r) for r in records}
                self._seen = (stat.st_mtime, stat.st_size)
            return self._tokens

    def _save(self, tokens: dict[str, Token]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        scratch = self.path.with_suffix(".tmp")
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"tokens": [asdict(t) for t in tokens.values()]}, out, indent=2, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(scratch, self.path)

    def list(self) -> list[Token]:
        return sorted(self._load().values(), key=lambda t: (t.created, t.id))

    def create(self, role: str, name: Any) -> tuple[Token, str]:
        """A new token: its record, and the token text (shown once, never stored)."""
        if role not in ROLES:
            raise BadParameter("role", f"unknown role {role!r}", accepted=ROLES)
        if not isinstance(name, str) or not name.strip() or len(name) > 200 or not name.isprintable():
            raise BadParameter("name", "must be text of 1 to 200 printable characters")
        secret, salt = secrets.token_urlsafe(32), secrets.token_hex(16)
        token = Token(secrets.token_hex(6), name.strip(), role, _now(), salt, _digest(salt, secret))
        tokens = dict(self._load())
        tokens[token.id] = token
        self._save(tokens)
        return token, f"ovg_{token.id}_{secret}"

    def revoke(self, token_id: str) -> Token:
        tokens = dict(self._load())
        found = tokens.get(token_id)
        if found is None:
            raise NotFound(f"no token with id {token_id!r}")
        if found.revoked is None:
            found = tokens[token_id] = Token(**{**asdict(found), "revoked": _now()})
            self._save(tokens)
        return found

    def verify(self, presented: str) -> Token | None:
        """The live token `presented` names, or None (malformed, unknown, revoked or wrong secret)."""
        match = _TOKEN.fullmatch(presented)
        if not match:
            return None
        found = self._load().get(match.group(1))
        if found is None or found.revoked is not None:
            return None
        return found if hmac.compare_digest(found.digest, _digest(found.salt, match.group(2))) else None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class RateLimit:
    """A token bucket per key: `per_minute` requests a minute, with bursts up to that many.

    Keys whose bucket has refilled are forgotten once more than `keys` are held, so many client
    addresses cannot grow it without bound.
    """

    def __init__(self, per_minute: int, *, keys: int = 10_000) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self.keys = keys
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when allowed, else the seconds to wait."""
        now = time.monotonic()
        with self._lock:
            if len(self._buckets) > self.keys:
                full = self.capacity / self.rate
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full}
            level, then = self._buckets.get(key, (self.capacity, now))
            level = min(self.capacity, level + (now - then) * self.rate)
            if level >= 1:
                self._buckets[key] = (level - 1, now)
                return 0.0
            self._buckets[key] = (level, now)
            return (1 - level) / self.rate


def _unauthorised(detail: str, *, invalid: bool) -> Response:
    wants_page = request.method == "GET" and request.accept_mimetypes.best_match(
        ["application/json", "text/html"]) == "text/html" and not invalid
    if wants_page:  # a browser: to the sign-in page, then back
        here = urllib.parse.quote(request.path, safe="/!$&'()*+,;=:@-._~")
        query = request.query_string.decode("latin-1")
        return redirect(url_for("access.login", next=here + ("?" + query if query else "")), 303)  # type: ignore[return-value]
    response = problem(401, "Unauthorized", detail, type_=_BASE + "unauthorized")
    response.headers["WWW-Authenticate"] = 'Bearer realm="oversight-graph"' + (
        ', error="invalid_token"' if invalid else "")
    return response


def _too_many(wait: float, detail: str) -> Response:
    response = problem(429, "Too Many Requests", detail, type_=_BASE + "rate-limited")
    response.headers["Retry-After"] = str(max(1, round(wait)))
    return response


def _refusal_wait() -> float:
    """Count a refusal of this client's address: 0 when within the limit, else the seconds to wait."""
    limiter: RateLimit | None = current_app.extensions.get("oversight-refusals")
    return limiter.take(request.remote_addr or "") if limiter is not None else 0.0


def _refused(response: Response) -> Response:
    """`response` (a 401 or 403), or a 429 once this client address has been refused too often.

    Refusals are counted per address, not per token: a guesser sends a new token each time. A
    request with a valid token and the role it needs is never counted, so a legitimate user who
    shares an address (a proxy, a NAT) with a guesser is not locked out.
    """
    wait = _refusal_wait()
    if wait:
        return _too_many(wait, f"more than {current_app.config['REFUSAL_LIMIT']} refused requests a minute "
                         "from this address")
    return response


def _header_token(authorization: str | None, cookie: str | None, *, cookie_counts: bool) -> str | None:
    """The token text a request presents (Authorization first, then the cookie where it counts)."""
    if authorization is not None:
        scheme, _, value = authorization.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else ""
    return cookie if cookie is not None and cookie_counts else None


def _presented() -> str | None:
    """The token text of this request, or None when it presents none."""
    return _header_token(request.headers.get("Authorization"), request.cookies.get(COOKIE),
                         cookie_counts=request.method in ("GET", "HEAD") or request.endpoint in _COOKIE_POST)


#: The largest body /sparql and /sparql/update read: a query or update of the most characters
#: :data:`graph.sparql.engine.MAX_QUERY_CHARS` allows, UTF-8 (up to 4 bytes each), form-encoded (3 per byte).
SPARQL_MAX_BODY = 1_200_000


def client_key() -> str:
    """Who a request counts against, for rate limits and the SPARQL workers' shares: its token, else its address."""
    who = getattr(g, "who", None) or {}
    return str(who.get("token") or request.remote_addr or "")


def admits_body(app: Flask, method: str, path: str, headers: dict[str, str]) -> bool:
    """Whether a request may have its body read: decided on the request line and headers alone.

    The WSGI server (:mod:`api.server`) asks before it reads a body, so an anonymous client, a
    token without the route's role, or a body over ``MAX_UPLOAD_BYTES`` costs no more than its
    headers: the request then reaches the app without its body, and the app refuses it (401,
    403, 413) as it would have anyway. `headers` are keyed as waitress keys them (``AUTHORIZATION``,
    ``CONTENT_LENGTH``).

    Parameters
    ----------
    app : Flask
        The application: its ``MAX_UPLOAD_BYTES`` and ``AUTH`` settings, its routes and its tokens decide.
    method, path : str
        The request line's method and path, matched against the app's routes.
    headers : dict
        The request headers, keyed as waitress keys them (``AUTHORIZATION``, ``CONTENT_LENGTH``, ``COOKIE``).
    """
    try:
        length = int(headers.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    if length > app.config["MAX_UPLOAD_BYTES"]:
        return False
    if not app.config["AUTH"]:
        return True
    try:
        endpoint, _ = app.url_map.bind("localhost").match(path, method=method)
    except HTTPException:  # 404, 405, a redirect: no view will read the body
        return False
    if str(endpoint).startswith("sparql.") and length > SPARQL_MAX_BODY:
        return False  # a query is at most 100,000 characters: no reason to read 512 MB first
    needed = required_role(str(endpoint))
    if needed == PUBLIC:
        return True
    cookies: dict[str, str] = {}
    for part in headers.get("COOKIE", "").split(";"):
        key, _, value = part.strip().partition("=")
        cookies.setdefault(key, value)
    text = _header_token(headers.get("AUTHORIZATION"), cookies.get(COOKIE),
                         cookie_counts=method in ("GET", "HEAD") or endpoint in _COOKIE_POST)
    token = app.extensions["oversight-tokens"].verify(text) if text else None
    return token is not None and allows(token.role, needed)


def _guard() -> Response | None:
    needed = required_role(request.endpoint)
    config = current_app.config
    g.who = {"token": None, "name": "anonymous", "role": None}
    if not config["AUTH"]:
        g.who = {"token": None, "name": config.get("LOCAL_USER") or "anonymous (no-auth)", "role": "admin"}
    elif needed != PUBLIC or request.headers.get("Authorization"):
        text = _presented()
        if text is None:
            if needed == PUBLIC:
                return None
            return _refused(_unauthorised(f"this route needs a bearer token with the role {needed!r} or higher",
                                          invalid=False))
        token = current_app.extensions["oversight-tokens"].verify(text)
        if token is None:
            return _refused(_unauthorised("the token is malformed, unknown or revoked", invalid=True))
        g.who = {"token": token.id, "name": token.name, "role": token.role}
        if not allows(token.role, needed):
            return _refused(problem(403, "Forbidden", f"this route needs the role {needed!r} or higher; "
                                    f"the token has {token.role!r}", type_=_BASE + "forbidden"))
    limiter: RateLimit | None = current_app.extensions.get("oversight-rate")
    if limiter is not None and needed != PUBLIC:
        wait = limiter.take(client_key())
        if wait:
            return _too_many(wait, f"more than {config['RATE_LIMIT']} requests a minute with this token")
    return None


def init_app(app: Flask) -> None:
    app.extensions["oversight-tokens"] = Tokens(app.config["DATA_DIR"])
    if app.config["RATE_LIMIT"]:
        app.extensions["oversight-rate"] = RateLimit(app.config["RATE_LIMIT"])
    if app.config["REFUSAL_LIMIT"]:
        app.extensions["oversight-refusals"] = RateLimit(app.config["REFUSAL_LIMIT"])
    app.before_request(_guard)
    app.register_blueprint(bp)


# ------------------------------------------------------------------ sign-in for browsers, tokens over HTTP

def safe_next(target: str | None) -> str:
    """`target` if it is a path of this service to return to after sign-in, else ``/``.

    An allowlist, not a list of tricks: printable ASCII without spaces or backslashes, starting
    with exactly one ``/``. Browsers drop tabs and newlines from URLs and read ``\\`` as ``/``, so
    ``/<TAB>/evil.example`` or ``/\\evil.example`` would otherwise leave for another site, and a
    newline cannot go in a header at all.
    """
    if (target and len(target) <= 2048 and target.startswith("/") and not target.startswith("//")
            and all("!" <= c <= "~" and c != "\\" for c in target)):
        return target
    return "/"


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """A form that takes a token and keeps it in a cookie for this browser.

    Failed sign-ins count as refusals of the client's address (429 past ``REFUSAL_LIMIT``), and
    every attempt is recorded in the audit log (:mod:`api.audit`).
    """
    target = safe_next(request.values.get("next"))
    error = None
    if request.method == "POST":
        text = request.form.get("token", "").strip()
        token = current_app.extensions["oversight-tokens"].verify(text)
        if token is not None:
            request.environ[SIGN_IN] = {"outcome": "signed-in", "who_token": token.id, "who_name": token.name,
                                        "who_role": token.role}
            response = redirect(target, 303)
            response.set_cookie(COOKIE, text, httponly=True, samesite="Strict", secure=request.is_secure,
                                max_age=12 * 3600, path="/")
            return response
        match = _TOKEN.fullmatch(text)
        request.environ[SIGN_IN] = {"outcome": "refused", "who_token": match.group(1) if match else None}
        wait = _refusal_wait()
        if wait:
            request.environ[SIGN_IN]["outcome"] = "rate-limited"
            page = render_template("login.html", next=target, error="Too many failed sign-ins from this "
                                   "address: wait a minute and try again.")
            return Response(page, status=429, headers={"Retry-After": str(max(1, round(wait)))},
                            mimetype="text/html")
        error = "That token is malformed, unknown or revoked."
    return render_template("login.html", next=target, error=error)


@bp.post("/logout")
def logout() -> Response:
    response = redirect(url_for("access.login"), 303)
    response.delete_cookie(COOKIE, path="/")
    return response  # type: ignore[return-value]


@bp.get("/tokens")
def list_tokens() -> Response:
    tokens = current_app.extensions["oversight-tokens"]
    return current_app.response_class(json.dumps({"tokens": [t.public() for t in tokens.list()]}, indent=2),
                                      mimetype="application/json")


@bp.post("/tokens")
def create_token() -> tuple[Response, int]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadParameter("body", 'must be a JSON object such as {"role": "reader", "name": "analyst"}')
    role, name = body.get("role"), body.get("name")
    if not isinstance(role, str):
        raise BadParameter("role", "must be one of the roles, as text", accepted=ROLES)
    token, text = current_app.extensions["oversight-tokens"].create(role, name)
    return current_app.response_class(json.dumps({**token.public(), "token": text}, indent=2),
                                      mimetype="application/json"), 201


@bp.delete("/tokens/<token_id>")
def revoke_token(token_id: str) -> Response:
    token = current_app.extensions["oversight-tokens"].revoke(token_id)
    return current_app.response_class(json.dumps(token.public(), indent=2), mimetype="application/json")
