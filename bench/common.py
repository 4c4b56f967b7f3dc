"""What the benchmark scripts share: a free loopback port, this process's memory, the memory and CPU time of
another live process, and a real ``oversight serve`` started on a store folder, waited for and stopped.

Every script in bench/ still runs on its own (``python bench/x.py``, from the repository root or anywhere: the
script's folder is ``sys.path[0]``, and each also puts it there itself) and imports these with
``from common import ...``. Only light modules are imported at the top: socket, subprocess and urllib are
imported by the functions that use them, so importing this module adds nothing to the peak RSS that a
benchmark's measuring child (bench/load.py, bench/linkage.py) reports.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import subprocess

__all__ = ["MAX_UPLOAD_BYTES", "free_port", "peak_rss_mb", "rss_mb", "serve", "server_env", "stop", "vm"]

MAX_UPLOAD_BYTES = 4 * 1024**3
"""``OVERSIGHT_MAX_UPLOAD_BYTES`` for benchmarks that PUT synthetic files of millions of triples."""

_TAIL = 2000  # characters of a server's log quoted when it fails to start


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free just now (bound as port 0, read, released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def peak_rss_mb() -> float:
    """The peak resident memory of this process so far, in MB (``ru_maxrss``, which Linux gives in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _status_mb(pid: int | str, keys: tuple[str, ...]) -> dict[str, float]:
    """The ``/proc/PID/status`` lines named `keys` (``VmRSS`` ...) in MB; a key the file lacks is left out."""
    out: dict[str, float] = {}
    prefixes = tuple(key + ":" for key in keys)
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(prefixes):
            out[line.split(":", 1)[0]] = int(line.split()[1]) / 1024
            if len(out) == len(keys):
                break
    return out


def rss_mb() -> float:
    """The resident memory of this process now, in MB (``VmRSS``; 0.0 where /proc has none)."""
    return _status_mb("self", ("VmRSS",)).get("VmRSS", 0.0)


def vm(pid: int) -> dict[str, float]:
    """``VmRSS`` and ``VmHWM`` (peak) in MB, and ``cpu_s`` (user + system CPU seconds) of the live process `pid`."""
    out = _status_mb(pid, ("VmRSS", "VmHWM"))
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    out["cpu_s"] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def server_env(store: Path, port: int, **extra: object) -> dict[str, str]:
    """The environment of ``python -m api serve``: this process's, with the store folder, the port and `extra`.

    Parameters
    ----------
    store : Path
        The data folder (``OVERSIGHT_DATA_DIR``).
    port : int
        The loopback port (``OVERSIGHT_PORT``).
    **extra : object
        Further settings by name without the ``OVERSIGHT_`` prefix (``AUTH="true"``, ``THREADS=4``), each
        given as ``str(value)``; a value of None sets nothing (the server's default, or this environment's).
    """
    return {**os.environ, "OVERSIGHT_DATA_DIR": str(store), "OVERSIGHT_PORT": str(port),
            **{f"OVERSIGHT_{name}": str(value) for name, value in extra.items() if value is not None}}


def _tail(log: Path | None) -> str:
    if log is None:
        return " (its output went to /dev/null: pass log= to keep it)"
    try:
        return f"; the end of {log}:\n" + log.read_text(errors="replace")[-_TAIL:]
    except OSError as exc:
        return f"; {log} unreadable: {exc}"


def serve(store: Path, port: int | None = None, *, log: Path | None = None, env: Mapping[str, object] | None = None,
          cwd: Path | None = None, timeout: float = 120.0) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``python -m api serve`` (waitress) on `store` and wait until its ``/health`` answers.

    Parameters
    ----------
    store : Path
        The data folder (``OVERSIGHT_DATA_DIR``); the server creates it if absent.
    port : int, optional
        The loopback port; None: a free one (:func:`free_port`). Pass the same port to restart on it.
    log : Path, optional
        A file the server's stdout and stderr are appended to, after a line naming the start (a file, not a
        pipe: a full pipe would stall the server). None: both go to /dev/null.
    env : Mapping, optional
        Settings for :func:`server_env`, by name without ``OVERSIGHT_`` (``{"AUTH": "true", "THREADS": None}``).
    cwd : Path, optional
        The server's working directory, which ``python -m api`` imports ``api`` from first; None: this process's.
    timeout : float
        Seconds to wait for ``/health``.

    Returns
    -------
    tuple
        The server process and its base URL (``http://127.0.0.1:PORT``).

    Raises
    ------
    RuntimeError
        When the server exits before ``/health`` answers, or it does not answer within `timeout` (it is then
        stopped); the message ends with the tail of `log`.
    """
    import subprocess
    import urllib.request

    port = free_port() if port is None else port
    environ = server_env(store, port, **(env or {}))
    command = [sys.executable, "-m", "api", "serve"]
    if log is None:
        proc = subprocess.Popen(command, env=environ, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    else:
        with log.open("ab") as handle:
            handle.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC serve {store} on port"
                         f" {port}\n".encode())
            handle.flush()
            proc = subprocess.Popen(command, env=environ, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as response:
                response.read()
            return proc, url
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"the server on {store} exited with {proc.returncode} before /health answered"
                                   + _tail(log)) from None
            time.sleep(0.05)
    stop(proc)
    raise RuntimeError(f"the server on {store} did not answer /health within {timeout:g} s" + _tail(log))


def stop(proc: subprocess.Popen[bytes], timeout: float = 60.0) -> float:
    """Stop a server: SIGTERM, then SIGKILL if it is still running after `timeout` s. The seconds it took.

    Parameters
    ----------
    proc : subprocess.Popen
        The server (from :func:`serve`); one that has already exited is only reaped.
    timeout : float
        Seconds between SIGTERM and SIGKILL.
    """
    import subprocess

    start = time.monotonic()
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return time.monotonic() - start
