"""Shared fixtures: settings on a temporary store, databases, the Flask app and a real server."""

from __future__ import annotations

import contextlib
import io
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from graph import Database, open_database
from graph.ingest.cases import load_bundled
from graph.ingest.converter import convert
from graph.settings import resolve

DATA = Path(__file__).parent / "data"
MINI = DATA / "mini"


def converted(folder: Path, *, base: str = "https://w3id.org/oversight/id/") -> str:
    """The N-Triples the converter writes for the tabular `folder`."""
    out = io.StringIO()
    convert(folder, base=base, write=out.write)
    return out.getvalue()


@pytest.fixture
def settings(tmp_path: Path) -> dict[str, Any]:
    """Resolved settings for an on-disk Oxigraph store in a fresh temporary folder."""
    return resolve({"STORE": "oxigraph", "DATA_DIR": str(tmp_path / "store")}, environ={})


@pytest.fixture
def db(settings: dict[str, Any]) -> Iterator[Database]:
    """An open on-disk database holding only the ontology."""
    database = open_database(settings)
    yield database
    database.close()


@pytest.fixture
def memory_db() -> Iterator[Database]:
    """An in-memory database holding only the ontology (fast; for property tests)."""
    database = open_database(resolve({"STORE": "memory"}, environ={}))
    yield database
    database.close()


@pytest.fixture(scope="session")
def bundled_db() -> Iterator[Database]:
    """An in-memory database with the bundled Charing Cross case loaded (shared: do not write)."""
    database = open_database(resolve({"STORE": "memory"}, environ={}))
    load_bundled(database)
    yield database
    database.close()


@pytest.fixture(scope="session")
def bundled_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A Flask test client over an in-memory store with the bundled case (shared: do not write).

    Authentication is off (tests of access use their own app); the audit log is in a temporary folder.
    """
    from api import create_app
    from api.database import close, get_db

    application = create_app({"STORE": "memory", "TESTING": True, "AUTH": False,
                              "DATA_DIR": str(tmp_path_factory.mktemp("bundled"))})
    with application.app_context():
        load_bundled(get_db())
    yield application.test_client()
    close(application)


@pytest.fixture
def app(settings: dict[str, Any]) -> Iterator[Any]:
    """The Flask app over a fresh on-disk store (ontology only), authentication off."""
    from api import create_app
    from api.database import close

    application = create_app({**settings, "TESTING": True, "AUTH": False})
    yield application
    close(application)


@pytest.fixture
def client(app: Any) -> Any:
    """Flask test client of :func:`app`."""
    return app.test_client()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def served(folder: Path, *, environ: dict[str, str] | None = None,
           **settings: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Run a real `oversight serve` (waitress) in a subprocess on a free loopback port, with
    ``OVERSIGHT_*`` `settings` (authentication off unless ``AUTH="true"``) and other variables
    `environ`; yield the process and its base URL, and stop it."""
    port = free_port()
    env = {**os.environ, "OVERSIGHT_DATA_DIR": str(folder), "OVERSIGHT_PORT": str(port),
           "OVERSIGHT_STORE": "oxigraph", "OVERSIGHT_AUTH": "false",
           **{f"OVERSIGHT_{k}": v for k, v in settings.items()}, **(environ or {})}
    log_path = folder.with_name(folder.name + ".log")  # a file, not a pipe: a full pipe would stall the server
    log = log_path.open("w")
    proc = subprocess.Popen([sys.executable, "-m", "api", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2):
                break
        except OSError:
            if proc.poll() is not None:
                log.close()
                raise RuntimeError("server exited: " + log_path.read_text()) from None
            time.sleep(0.2)
    else:
        proc.kill()
        log.close()
        raise RuntimeError("server did not start in 60 s")
    try:
        yield proc, url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@contextlib.contextmanager
def serving(folder: Path, **settings: str) -> Iterator[str]:
    """:func:`served`, yielding only the base URL."""
    with served(folder, **settings) as (_, url):
        yield url


class Listener:
    """A loopback TCP listener standing for any internal service an attacker would reach: it records
    every connection made to it (and answers with an empty SPARQL result)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def connected(self) -> bool:
        return bool(self.received)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            conn.settimeout(1)
            try:
                self.received.append(conn.recv(4096) or b"(connected)")
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/sparql-results+json\r\n"
                             b"Content-Length: 55\r\n\r\n"
                             b'{"head":{"vars":["s"]},"results":{"bindings":[]}}     ')
            except OSError:
                self.received.append(b"(connected)")
            finally:
                conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """A real `oversight serve` on a fresh store; yields its base URL.

    The store starts empty, so the service loads the bundled case, as on a first run.
    """
    with serving(tmp_path / "served") as url:
        yield url


@pytest.fixture
def secured(settings: dict[str, Any]) -> Iterator[tuple[Any, dict[str, str]]]:
    """An app with authentication on and the bundled case, and a token of each role."""
    from api import create_app
    from api.access import ROLES, Tokens
    from api.database import close, get_db

    app = create_app({**settings, "TESTING": True, "SPARQL_UPDATE": True})
    with app.app_context():
        load_bundled(get_db())
    tokens = Tokens(settings["DATA_DIR"])
    texts = {role: tokens.create(role, f"test {role}")[1] for role in ROLES}
    yield app, texts
    close(app)
