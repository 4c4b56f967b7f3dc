"""Hostile clients against a real `oversight serve` (auth on): the figures in docs/benchmarks.md.

Run from the repository root: ``.venv/bin/python bench/abuse.py``. It starts its own server (bench/common.py's
``serve``: the bundled case, auth on) on a free loopback port in a temporary folder, and every loop is bounded.

- 40 requests with a 200 KB path: bytes the audit log grew by;
- a 150 MB anonymous PUT sent whole (urllib): seconds to its answer;
- 1,500 requests with random bearer tokens: statuses, and denied records written;
- /health while 120 sockets hold a partial request line.
"""

from __future__ import annotations

import collections
import http.client
import json
import secrets
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import serve, stop  # noqa: E402  # bench/common.py


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "served"
        proc, url = serve(folder, log=Path(tmp) / "served.log", env={"STORE": "oxigraph", "AUTH": "true"}, timeout=60)
        try:
            parsed = urllib.parse.urlsplit(url)
            log = folder / "audit" / "audit.jsonl"
            conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
            size = log.stat().st_size if log.exists() else 0
            for _ in range(40):
                conn.request("GET", "/officers/" + "x" * 200_000)
                conn.getresponse().read()
            print(f"40 requests with a 200 KB path: the audit log grew by {log.stat().st_size - size:,} bytes")

            request = urllib.request.Request(url + "/sources/flood", data=b"x" * 150_000_000, method="PUT",
                                             headers={"Content-Type": "application/n-triples"})
            started = time.monotonic()
            try:
                urllib.request.urlopen(request, timeout=120)
                outcome = "accepted?"
            except urllib.error.HTTPError as error:
                outcome = str(error.code)
            except OSError as error:
                outcome = f"connection error ({error})"
            print(f"150 MB anonymous PUT: {outcome} after {time.monotonic() - started:.2f} s")

            statuses: collections.Counter[int] = collections.Counter()
            started = time.monotonic()
            for _ in range(1500):
                token = f"ovg_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"
                conn.request("GET", "/linkage/repeat-subjects", headers={"Authorization": f"Bearer {token}"})
                answer = conn.getresponse()
                answer.read()
                statuses[answer.status] += 1
            took = time.monotonic() - started
            denied = sum(1 for line in log.open() if json.loads(line)["event"] == "denied")
            print(f"1,500 random tokens in {took:.1f} s: {dict(statuses)}; denied records written: {denied}")

            slow = []
            for _ in range(120):
                sock = socket.create_connection((parsed.hostname, parsed.port), timeout=10)
                sock.sendall(b"GET /hea")
                slow.append(sock)
            started = time.monotonic()
            try:
                with urllib.request.urlopen(url + "/health", timeout=10) as answer:
                    answer.read()
                print(f"/health beside 120 partial request lines: {1000 * (time.monotonic() - started):.0f} ms")
            except OSError as error:
                print(f"/health beside 120 partial request lines: failed after "
                      f"{time.monotonic() - started:.1f} s ({error})")
            for sock in slow:
                sock.close()
        finally:
            stop(proc, timeout=15)


if __name__ == "__main__":
    main()
