"""Slow and idle connections against a real server cannot starve others (issue 13, item 9)."""

from __future__ import annotations

import contextlib
import resource
import socket
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from api.server import adjustments
from graph.settings import resolve
from tests.conftest import serving


def _health(url: str, timeout: float) -> float:
    started = time.monotonic()
    with urllib.request.urlopen(url + "/health", timeout=timeout) as answer:
        assert answer.status == 200
    return time.monotonic() - started


def _open(url: str, count: int, first: bytes) -> list[socket.socket]:
    parsed = urllib.parse.urlsplit(url)
    sockets = []
    for _ in range(count):
        sock = socket.create_connection((parsed.hostname, parsed.port), timeout=10)
        if first:
            sock.sendall(first)
        sockets.append(sock)
    return sockets


def _is_closed(sock: socket.socket, wait: float) -> bool:
    sock.settimeout(wait)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionError:
        return True


def test_partial_request_lines_do_not_starve_health(tmp_path: Path) -> None:
    with serving(tmp_path / "served", HEADER_TIMEOUT="3") as url:
        slow = _open(url, 120, b"GET /hea")  # a request line that never ends (waitress's default limit: 100)
        try:
            assert _health(url, timeout=5) < 5
            time.sleep(3.5)
            slow[0].sendall(b"l")  # a trickle keeps a connection active, but not past the header deadline
            assert all(_is_closed(sock, 3) for sock in slow[:10])
            assert _health(url, timeout=5) < 5
        finally:
            for sock in slow:
                sock.close()


def test_more_than_1024_descriptors_do_not_crash_the_server(tmp_path: Path) -> None:
    """select() cannot watch a descriptor past 1023 (waitress then exits); poll() can."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2400:
        pytest.skip(f"needs 2,400 file descriptors (hard limit {hard})")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2400), hard))
    try:
        with serving(tmp_path / "served", CONNECTION_LIMIT="2000", CHANNEL_TIMEOUT="120") as url:
            idle: list[socket.socket] = []
            with contextlib.ExitStack() as stack:
                idle = _open(url, 1100, b"")
                for sock in idle:
                    stack.callback(sock.close)
                time.sleep(1)  # let the server accept them all: its descriptors pass 1024
                assert _health(url, timeout=10) < 10
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_waitress_options_come_from_the_settings() -> None:
    settings = resolve({"CONNECTION_LIMIT": "77", "CHANNEL_TIMEOUT": "9", "MAX_UPLOAD_BYTES": "1000"}, environ={})
    options = adjustments(settings)
    assert options["connection_limit"] == 77 and options["channel_timeout"] == 9
    assert options["asyncore_use_poll"] is True and options["max_request_body_size"] == 1001
    assert options["cleanup_interval"] <= 3
