"""The table of settings: every one documented, every one overridable by an ``OVERSIGHT_*`` variable.

The README's settings table is checked against :data:`SETTINGS` by a test.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graph.errors import ConfigError

__all__ = ["Setting", "SETTINGS", "STORE_KINDS", "resolve", "default_data_dir"]

STORE_KINDS = ("oxigraph", "memory", "sparql")


def default_data_dir() -> str:
    """``$XDG_DATA_HOME/oversight-graph``, or ``~/.local/share/oversight-graph``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "oversight-graph")


def default_editor_dir() -> str:
    """``$XDG_CACHE_HOME/oversight-graph/editor``, or ``~/.cache/oversight-graph/editor``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(base) / "oversight-graph" / "editor")


def _store(value: str) -> str:
    if value not in STORE_KINDS:
        raise ValueError(f"must be one of {', '.join(STORE_KINDS)}")
    return value


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError("must be a whole number") from None


def _port(value: str) -> int:
    port = _int(value)
    if not 0 <= port <= 65535:
        raise ValueError("must be a port number from 0 to 65535")
    return port


def _positive(value: str) -> int:
    number = _int(value)
    if number < 1:
        raise ValueError("must be a whole number of at least 1")
    return number


def _natural(value: str) -> int:
    number = _int(value)
    if number < 0:
        raise ValueError("must be a whole number of at least 0")
    return number


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("must be true or false")


def _seconds(value: str) -> float:
    seconds = float(value)
    if not 0 < seconds <= 3600:
        raise ValueError("must be a number of seconds from 0 to 3600")
    return seconds


def _origins(value: str) -> tuple[str, ...]:
    origins = tuple(value.split())
    for origin in origins:
        if origin != "*" and not origin.startswith(("https://", "http://")):
            raise ValueError("must be origins such as https://example.org, separated by spaces, or *")
    return origins


def _http_url(value: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise ValueError("must be an http(s) URL")
    return value


def _optional_url(value: str) -> str:
    return value and _http_url(value)


def _public_url(value: str) -> str:
    if value and (not value.startswith(("https://", "http://")) or not value.endswith("/")):
        raise ValueError("must be an http(s) URL ending in '/', or empty")
    return value


def _address(value: str) -> str:
    if value:
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError:
            raise ValueError("must be one IP address (such as 127.0.0.1), or empty") from None
    return value


def _iri_base(value: str) -> str:
    if not (value.startswith("https://") or value.startswith("http://")) or not value.endswith(("/", "#")):
        raise ValueError("must be an http(s) IRI ending in '/' or '#'")
    return value


@dataclass(frozen=True)
class Setting:
    """One setting: its name (``OVERSIGHT_`` + name is the variable), default, parser and help."""

    name: str
    default: Callable[[], str]
    parse: Callable[[str], Any]
    help: str
    flag: str | None = None

    @property
    def env(self) -> str:
        return f"OVERSIGHT_{self.name}"


SETTINGS: tuple[Setting, ...] = (
    Setting("DATA_DIR", default_data_dir, str,
            "Folder of the on-disk Oxigraph store (created if missing).", "--data-dir"),
    Setting("STORE", lambda: "oxigraph", _store,
            "Store kind: `oxigraph` (on disk in DATA_DIR), `memory` (a throwaway Oxigraph store in a temporary folder, lost on exit) "
            "or `sparql` (a remote SPARQL 1.1 endpoint).", "--store"),
    Setting("SPARQL_ENDPOINT", lambda: "", _optional_url,
            "Query URL of the SPARQL server that is the store when STORE is `sparql` (Oxigraph server: "
            "`http://host:7878/query`; Virtuoso: `http://host:8890/sparql`)."),
    Setting("SPARQL_UPDATE_ENDPOINT", lambda: "", _optional_url,
            "Update URL of that server (defaults to SPARQL_ENDPOINT; Oxigraph server: `http://host:7878/update`)."),
    Setting("SPARQL_STORE_ENDPOINT", lambda: "", _optional_url,
            "Graph Store Protocol URL of that server, where it offers one (Oxigraph server: `http://host:7878/store`): "
            "loads stream through it; without it they go as INSERT DATA in chunks."),
    Setting("STORE_TIMEOUT", lambda: "600", _seconds,
            "Seconds a request to the SPARQL server that is the store may take to answer."),
    Setting("STORE_REFRESH", lambda: "1", _seconds,
            "With a shared store (STORE `sparql`), how often, in seconds, an instance asks the store which "
            "sources are current: another instance's load is seen within this time."),
    Setting("STORE_GRACE", lambda: "3600", _seconds,
            "With a shared store, seconds a graph that no source uses any more (replaced, or left by a failed load) is "
            "kept before it is removed: another instance may still be loading it or answering from it."),
    Setting("BASE_IRI", lambda: "https://w3id.org/oversight/id/", _iri_base,
            "Base of minted instance IRIs and of the store's graph IRIs."),
    Setting("HOST", lambda: "127.0.0.1", str, "Address `oversight serve` binds to.", "--host"),
    Setting("PORT", lambda: "5000", _port, "Port `oversight serve` listens on.", "--port"),
    Setting("THREADS", lambda: "16", _positive, "Worker threads of the WSGI server (waitress).", "--threads"),
    Setting("MAX_UPLOAD_BYTES", lambda: str(512 * 1024 * 1024), _positive,
            "Largest request body `PUT /sources/{name}` accepts, in bytes."),
    Setting("LOAD_BUNDLED", lambda: "true", _bool,
            "Whether `oversight serve` loads the bundled Charing Cross case into an empty store."),
    Setting("LOG_LEVEL", lambda: "INFO", str.upper, "Logging level (DEBUG, INFO, WARNING, ERROR)."),
    Setting("SPARQL_TIMEOUT", lambda: "30", _seconds,
            "Seconds a query on `/sparql` may run before the client gets a 503 problem."),
    Setting("SPARQL_MAX_ROWS", lambda: "100000", _positive,
            "Most result rows (or triples) `/sparql` returns; longer results are cut and say so in a header."),
    Setting("SPARQL_WORKERS", lambda: "8", _positive,
            "Most SPARQL queries run at once, each in a confined worker process; past that a query gets a 503 "
            "with Retry-After at once, so runaway queries never take the server's threads. Keep it below THREADS."),
    Setting("SPARQL_CLIENT_QUERIES", lambda: "6", _positive,
            "Most SPARQL queries one token (or, without auth, one address) may have running at once; more get a 429."),
    Setting("SPARQL_WORKER_MEMORY", lambda: str(4 << 30), _positive,
            "Memory, in bytes, one SPARQL worker process may take (RLIMIT_DATA); a query past it fails with a 400."),
    Setting("SPARQL_MAX_BYTES", lambda: str(1 << 30), _positive,
            "Largest SPARQL result, in bytes, a worker may write; a larger one fails with a 400."),
    Setting("SPARQL_SANDBOX", lambda: "true", _bool,
            "Whether SPARQL runs only in workers confined by a seccomp filter that denies them the network "
            "(Linux x86-64 and AArch64). `false` runs them unconfined where the filter is unavailable."),
    Setting("EDITOR_DIR", default_editor_dir, str,
            "Folder of the query page's editor (YASGUI), which `oversight serve` downloads from the npm "
            "registry and verifies when it is missing."),
    Setting("NPM_REGISTRY", lambda: "https://registry.npmjs.org", _http_url,
            "The npm registry (or a mirror of it) the editor is downloaded from."),
    Setting("SPARQL_UPDATE", lambda: "false", _bool,
            "Whether `POST /sparql/update` takes SPARQL Update (for the steward role)."),
    Setting("AUTH", lambda: "true", _bool,
            "Whether requests need a bearer token (`oversight token create`). `oversight serve --no-auth` turns "
            "it off, on a loopback address only."),
    Setting("RATE_LIMIT", lambda: "6000", _natural,
            "Requests a minute each token (or, without auth, each client address) may make; 0: no limit."),
    Setting("REFUSAL_LIMIT", lambda: "60", _natural,
            "Refused requests (401, 403, failed sign-ins) a minute each client address may make before it "
            "gets 429; 0: no limit."),
    Setting("TRUSTED_PROXY", lambda: "", _address,
            "Address of the one reverse proxy in front of the service (such as 127.0.0.1): the client address in "
            "its `X-Forwarded-For` is then the one per-address limits, the audit log and the SPARQL workers' shares "
            "count. Empty: that header is ignored (any client could write it), and every client behind a proxy "
            "shares the proxy's address."),
    Setting("CONNECTION_LIMIT", lambda: "1000", _positive,
            "Most connections the server holds open at once; past it, new ones wait to be accepted."),
    Setting("CHANNEL_TIMEOUT", lambda: "30", _seconds,
            "Seconds a connection may stay idle (no bytes in or out, no request running) before it is closed."),
    Setting("HEADER_TIMEOUT", lambda: "10", _seconds,
            "Seconds a client has to send a request's line and headers, from its first byte; slower "
            "connections are closed."),
    Setting("PUBLIC_URL", lambda: "", _public_url,
            "The service's public base URL (such as `https://oversight.example.org/`), named in the SPARQL "
            "service description; empty: the address `oversight serve` binds (never the request's Host)."),
    Setting("DISK_RESERVE_BYTES", lambda: str(64 * 1024 * 1024), _natural,
            "Free space a load must leave on the data volume (beyond an estimate of what it writes), else it "
            "is refused with 507 before anything is written."),
    Setting("AUDIT_CHECKPOINT", lambda: "", str,
            "File (on another volume or host) where the service appends the audit log's record count and head "
            "hash; empty: no checkpoints. Check with `oversight audit verify --checkpoint FILE`."),
    Setting("AUDIT_CHECKPOINT_SECONDS", lambda: "300", _seconds,
            "Seconds between audit checkpoints (one is written only when the log has grown)."),
    Setting("TOKEN", lambda: "", str,
            "Bearer token the command line sends to a running service (`oversight load --server`, `oversight import --server`)."),
    Setting("CORS_ORIGINS", lambda: "", _origins,
            "Origins allowed to call `/sparql` from a browser, separated by spaces (empty: CORS off)."),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def resolve(overrides: Mapping[str, Any] | None = None,
            environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return every setting's value: an override, else its ``OVERSIGHT_*`` variable, else its default.

    Parameters
    ----------
    overrides : mapping, optional
        Values by setting name (for example from CLI flags or ``test_config``);
        ``None`` values are ignored. Strings are parsed; other values are kept.
    environ : mapping, optional
        The environment to read (``os.environ`` by default).

    Raises
    ------
    ConfigError
        When a value does not parse; the message names the variable and the rule.
    """
    environ = os.environ if environ is None else environ
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        if setting.name in overrides:
            raw, origin = overrides[setting.name], setting.flag or setting.name
        elif setting.env in environ:
            raw, origin = environ[setting.env], setting.env
        else:
            raw, origin = setting.default(), f"default of {setting.env}"
        if not isinstance(raw, str):
            values[setting.name] = raw
            continue
        try:
            values[setting.name] = setting.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{origin}={raw!r}: {exc}") from None
    if not values["SPARQL_UPDATE_ENDPOINT"]:
        values["SPARQL_UPDATE_ENDPOINT"] = values["SPARQL_ENDPOINT"]
    return values
