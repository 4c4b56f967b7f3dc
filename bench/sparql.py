"""SPARQL endpoint benchmark: ``/sparql`` over HTTP against raw pyoxigraph on the same store, in one run.

Usage::

    python bench/sparql.py                      # 330,000 and 1,600,000 triples, seed 1
    python bench/sparql.py --sizes 1e5 --runs 3

For each size: a real ``oversight serve`` (waitress) on loopback with an empty on-disk
store; the synthetic file is PUT to ``/sources/synthetic``. Then, alternating so both
see the same caches:

* the aggregate "officers in >= 2 investigations" (``--runs`` times; median), through
  ``/sparql`` (JSON results, read to the end) and through ``pyoxigraph.Store.read_only``
  on the same folder with the source's graph as default graph (results read to the end);
* a 1-row lookup (one officer's identifier; 200 times; median and p99), the same two ways.

Prints a markdown table and writes bench/out/sparql.json. (Virtuoso, which the issue
also names, is not measured yet.)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
AGGREGATE = """SELECT ?officer (COUNT(DISTINCT ?investigation) AS ?n) WHERE {
  ?finding a ov:Finding ; ov:officer ?officer ; ov:allegation ?allegation .
  ?allegation ov:investigation ?investigation .
} GROUP BY ?officer HAVING (COUNT(DISTINCT ?investigation) >= 2)"""
LOOKUP = "SELECT ?id WHERE { <%s> ov:identifier ?id }"
PREFIXES = {"ov": "https://w3id.org/oversight/ontology#"}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _http(base: str, query: str) -> tuple[float, int]:
    start = time.perf_counter()
    url = base + "/sparql?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=600) as response:
        rows = len(json.loads(response.read())["results"]["bindings"])
    return time.perf_counter() - start, rows


def _raw(store: object, graph: object, query: str) -> tuple[float, int]:
    start = time.perf_counter()
    rows = sum(1 for _ in store.query(query, default_graph=[graph], prefixes=PREFIXES))  # type: ignore[attr-defined]
    return time.perf_counter() - start, rows


def measure(n: int, seed: int, runs: int) -> dict:
    import pyoxigraph as ox

    file = BENCH / "out" / f"synthetic-{n}-s{seed}.nt"
    if not file.exists():
        file.parent.mkdir(exist_ok=True)
        subprocess.run([sys.executable, str(BENCH / "generate.py"), "--triples", str(n), "--seed", str(seed),
                        "-o", str(file)], check=True)
    digest = hashlib.sha256(f"officer\x1f{seed}\x1f7".encode()).hexdigest()[:20]  # generate.py's 8th officer
    officer = f"https://w3id.org/oversight/id/officer/{digest}"
    out: dict = {"triples": n}
    with tempfile.TemporaryDirectory() as tmp:
        port = _port()
        env = {**os.environ, "OVERSIGHT_DATA_DIR": f"{tmp}/store", "OVERSIGHT_PORT": str(port),
               "OVERSIGHT_LOAD_BUNDLED": "false", "OVERSIGHT_MAX_UPLOAD_BYTES": str(4 * 1024**3),
               "OVERSIGHT_SPARQL_TIMEOUT": "600", "OVERSIGHT_SPARQL_MAX_ROWS": "10000000",
               "OVERSIGHT_LOG_LEVEL": "WARNING"}
        proc = subprocess.Popen([sys.executable, "-m", "api", "serve"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    urllib.request.urlopen(base + "/health", timeout=2).read()
                    break
                except OSError:
                    time.sleep(0.1)
            request = urllib.request.Request(base + "/sources/synthetic",
                                             data=file.read_bytes(), method="PUT",
                                             headers={"Content-Type": "application/n-triples"})
            urllib.request.urlopen(request, timeout=1800).read()
            sources = json.loads(urllib.request.urlopen(base + "/sources").read())["sources"]
            graph = ox.NamedNode(next(s["graph"] for s in sources if s["name"] == "synthetic"))
            store = ox.Store.read_only(f"{tmp}/store")
            agg_http, agg_raw = [], []
            for _ in range(runs):
                seconds, rows_http = _http(base, AGGREGATE)
                agg_http.append(seconds)
                seconds, rows_raw = _raw(store, graph, AGGREGATE)
                agg_raw.append(seconds)
            look_http, look_raw = [], []
            for _ in range(200):
                look_http.append(_http(base, LOOKUP % officer)[0])
                look_raw.append(_raw(store, graph, LOOKUP % officer)[0])
            out.update(aggregate_rows=(rows_http, rows_raw),
                       aggregate_http_s=statistics.median(agg_http), aggregate_raw_s=statistics.median(agg_raw),
                       lookup_http_ms=statistics.median(look_http) * 1000, lookup_raw_ms=statistics.median(look_raw) * 1000,
                       lookup_http_p99_ms=statistics.quantiles(look_http, n=100)[98] * 1000,
                       lookup_rows=_http(base, LOOKUP % officer)[1])
        finally:
            proc.terminate()
            proc.wait(60)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="3.3e5,1.6e6")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    results = []
    for size in args.sizes.split(","):
        results.append(measure(int(float(size)), args.seed, args.runs))
        print(json.dumps(results[-1]), flush=True)
    (BENCH / "out" / "sparql.json").write_text(json.dumps(results, indent=2))
    print("\n| triples | aggregate /sparql s | aggregate raw s | ratio | lookup /sparql ms (p50) | lookup raw ms | overhead ms |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['triples']:,} | {r['aggregate_http_s']:.3f} | {r['aggregate_raw_s']:.3f} |"
              f" {r['aggregate_http_s'] / r['aggregate_raw_s']:.2f}x | {r['lookup_http_ms']:.2f} |"
              f" {r['lookup_raw_ms']:.2f} | {r['lookup_http_ms'] - r['lookup_raw_ms']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
