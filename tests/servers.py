"""Real SPARQL servers on loopback, for the store tests and the benchmarks: Oxigraph server and Virtuoso.

Oxigraph server is the ``oxigraph`` package from PyPI (its ``oxigraph`` command, beside the interpreter);
Virtuoso is Debian's ``virtuoso-opensource`` (``virtuoso-t`` and ``isql-vt``), which ``.ci/run`` installs.
Where one is missing the tests that need it skip, unless ``OVERSIGHT_TEST_SERVERS=required`` (as in CI), when
they fail.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["oxigraph_binary", "oxigraph_server", "virtuoso_binaries", "virtuoso_server", "VIRTUOSO_INI", "isql",
           "missing"]

# Buffers as Virtuoso's own guide gives them for 4 GB of memory; no result-row cap and no time limit (a limit
# would return partial "anytime" results).
VIRTUOSO_INI = """[Database]
DatabaseFile = {db}/virtuoso.db
ErrorLogFile = {db}/virtuoso.log
LockFile = {db}/virtuoso.lck
TransactionFile = {db}/virtuoso.trx
xa_persistent_file = {db}/virtuoso.pxa
ErrorLogLevel = 7
FileExtend = 200
MaxCheckpointRemap = 2000
Striping = 0
TempStorage = TempDatabase

[TempDatabase]
DatabaseFile = {db}/virtuoso-temp.db
TransactionFile = {db}/virtuoso-temp.trx
MaxCheckpointRemap = 2000
Striping = 0

[Parameters]
ServerPort = 127.0.0.1:{sql}
DisableUnixSocket = 1
CheckpointInterval = 60
CaseMode = 2
DirsAllowed = ., {allowed}
NumberOfBuffers = 340000
MaxDirtyBuffers = 250000
MaxQueryMem = 2G
ThreadsPerQuery = 4

[HTTPServer]
ServerPort = 127.0.0.1:{http}
ServerRoot = {db}
ServerThreads = 10
MaxClientConnections = 10

[SPARQL]
ResultSetMaxRows = 10000000
MaxQueryExecutionTime = 0
"""


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def missing(what: str) -> None:
    """Skip the test for want of `what`, or fail it where the servers are required (CI)."""
    if os.environ.get("OVERSIGHT_TEST_SERVERS") == "required":
        pytest.fail(f"{what} is required here (OVERSIGHT_TEST_SERVERS=required) but missing")
    pytest.skip(f"{what} is not installed")


def _wait(proc: subprocess.Popen[bytes], port: int, log: Path, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise RuntimeError(f"no server listening on {port} after {seconds:g} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def oxigraph_binary() -> str | None:
    """The ``oxigraph`` command of the PyPI package (beside this interpreter, or on the path)."""
    beside = Path(sys.executable).with_name("oxigraph")
    return str(beside) if beside.exists() else shutil.which("oxigraph")


@contextlib.contextmanager
def oxigraph_server(folder: Path) -> Iterator[dict[str, str]]:
    """A fresh Oxigraph server storing in `folder`; yields the settings that make it the service's store."""
    binary = oxigraph_binary()
    if binary is None:
        missing("Oxigraph server (pip install oxigraph)")
    port = _port()
    log = folder.with_name(folder.name + ".oxigraph.log")
    with log.open("wb") as out:
        proc = subprocess.Popen([binary, "serve", "--location", str(folder), "--bind", f"127.0.0.1:{port}"],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait(proc, port, log)
        url = f"http://127.0.0.1:{port}"
        yield {"STORE": "sparql", "SPARQL_ENDPOINT": f"{url}/query", "SPARQL_UPDATE_ENDPOINT": f"{url}/update",
               "SPARQL_STORE_ENDPOINT": f"{url}/store"}
    finally:
        _stop(proc)


def virtuoso_binaries() -> tuple[str, str] | None:
    """``virtuoso-t`` and ``isql-vt``, if installed."""
    found = shutil.which("virtuoso-t"), shutil.which("isql-vt")
    return (found[0], found[1]) if found[0] and found[1] else None


def isql(binary: str, port: int, sql: str) -> str:
    """Run `sql` as Virtuoso's administrator through ``isql-vt``; its output (RuntimeError on an error)."""
    done = subprocess.run([binary, f"127.0.0.1:{port}", "dba", "dba", f"exec={sql}"], check=False,
                          capture_output=True, text=True, timeout=4 * 3600)
    if done.returncode or "*** Error" in done.stdout + done.stderr:
        raise RuntimeError(f"isql-vt failed on {sql!r}: {done.stdout}{done.stderr}")
    return done.stdout


@contextlib.contextmanager
def virtuoso_server(folder: Path, *, allowed: Path | None = None) -> Iterator[tuple[dict[str, str], int]]:
    """A fresh Virtuoso storing in `folder`, its SPARQL endpoint open to updates (as a deployment grants its
    service account); yields the settings that make it the service's store, and its SQL port."""
    binaries = virtuoso_binaries()
    if binaries is None:
        missing("Virtuoso (apt-get install virtuoso-opensource)")
        raise AssertionError  # unreachable: missing() skips or fails
    server, client = binaries
    folder.mkdir(parents=True, exist_ok=True)
    sql, http = _port(), _port()
    ini = folder / "virtuoso.ini"
    ini.write_text(VIRTUOSO_INI.format(db=folder, sql=sql, http=http, allowed=allowed or folder))
    proc = subprocess.Popen([server, "+foreground", "+configfile", str(ini)], cwd=folder,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for port in (http, sql):  # the HTTP server comes online first
            _wait(proc, port, folder / "virtuoso.log")
        isql(client, sql, "GRANT SPARQL_UPDATE TO \"SPARQL\"; DB.DBA.RDF_DEFAULT_USER_PERMS_SET ('nobody', 7);")
        yield {"STORE": "sparql", "SPARQL_ENDPOINT": f"http://127.0.0.1:{http}/sparql"}, sql
    finally:
        _stop(proc)
