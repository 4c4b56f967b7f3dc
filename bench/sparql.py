"""SPARQL endpoint benchmark: ``/sparql`` over HTTP against raw pyoxigraph and Virtuoso, in one run.

Usage::

    python bench/sparql.py                      # 330,000 and 1,600,000 triples, seed 1
    python bench/sparql.py --sizes 1e5 --runs 3
    python bench/sparql.py --no-peers           # oversight and raw pyoxigraph only

For each size:

* Virtuoso open source (``--peers``, the default; skipped with a message when
  ``virtuoso-t``/``isql-vt`` are missing and cannot be installed with apt-get as root):
  started on loopback (free SQL and HTTP ports) in a fresh temporary database with its
  own virtuoso.ini (``tests.servers.VIRTUOSO_INI``: 4 GB of buffers, no result-row or time limits).
  The synthetic file is bulk-loaded into the graph ``GRAPH`` with ``ld_dir``,
  ``rdf_loader_run()`` and ``checkpoint`` through ``isql-vt`` (timed: the load), and the
  graph's triple count is checked. Virtuoso is stopped (process group) at the end,
  also on error or Ctrl-C.
* a real ``oversight serve`` (waitress, auth off) on loopback with an empty on-disk store; the
  synthetic file is PUT to ``/sources/synthetic`` (timed: the load).

Then each query is run once, untimed, every way, and then, alternating so all see the
same caches:

* the aggregate "officers in >= 2 investigations" (``--runs`` times; median), through
  ``/sparql`` (JSON results, read to the end), through ``pyoxigraph.Store.read_only`` on
  the same folder with the source's graph as default graph (results read to the end),
  and through Virtuoso's ``/sparql`` with ``default-graph-uri`` (JSON results, read to
  the end; the ``ov:`` prefix declared in the text, as Virtuoso does not know it);
* a 1-row lookup (one officer's identifier; 200 times; median and p99), the same three ways.

Prints markdown tables (times; loads and row counts) and writes bench/out/sparql.json.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))
from common import MAX_UPLOAD_BYTES, serve, stop  # noqa: E402  # bench/common.py

from graph.iri import graph_iri  # noqa: E402
from tests.servers import isql, virtuoso_server  # noqa: E402  # the Virtuoso the store tests start

# an empty store, auth off (a PUT without a token is a 401 otherwise), no SPARQL limit in the way
SERVER = {"LOAD_BUNDLED": "false", "AUTH": "false", "MAX_UPLOAD_BYTES": MAX_UPLOAD_BYTES, "SPARQL_TIMEOUT": "600",
          "SPARQL_MAX_ROWS": "10000000", "LOG_LEVEL": "WARNING"}
AGGREGATE = """SELECT ?officer (COUNT(DISTINCT ?investigation) AS ?n) WHERE {
  ?finding a ov:Finding ; ov:officer ?officer ; ov:allegation ?allegation .
  ?allegation ov:investigation ?investigation .
} GROUP BY ?officer HAVING (COUNT(DISTINCT ?investigation) >= 2)"""
LOOKUP = "SELECT ?id WHERE { <%s> ov:identifier ?id }"
Ask = Callable[[str], tuple[float, int]]  # query text -> (seconds, rows read)
PREFIXES = {"ov": "https://w3id.org/oversight/ontology#"}
DECLARED = "".join(f"PREFIX {name}: <{iri}>\n" for name, iri in PREFIXES.items())
GRAPH = "urn:x-bench:synthetic"
BASE_IRI = "https://w3id.org/oversight/id/"  # the service's default (OVERSIGHT_BASE_IRI)
VIRTUOSO_PARAMS = {"default-graph-uri": GRAPH, "format": "application/sparql-results+json"}
def _http(base: str, query: str, params: dict[str, str] | None = None) -> tuple[float, int]:
    start = time.perf_counter()
    url = base + "/sparql?" + urllib.parse.urlencode({"query": query, **(params or {})})
    with urllib.request.urlopen(url, timeout=600) as response:
        rows = len(json.loads(response.read())["results"]["bindings"])
    return time.perf_counter() - start, rows


def _raw(store: object, graph: object, query: str) -> tuple[float, int]:
    start = time.perf_counter()
    rows = sum(1 for _ in store.query(query, default_graph=[graph], prefixes=PREFIXES))  # type: ignore[attr-defined]
    return time.perf_counter() - start, rows


def _virtuoso(base: str, query: str) -> tuple[float, int]:
    return _http(base, DECLARED + query, VIRTUOSO_PARAMS)


def _virtuoso_count(base: str) -> int:
    query = urllib.parse.urlencode({"query": "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }", **VIRTUOSO_PARAMS})
    with urllib.request.urlopen(base + "/sparql?" + query, timeout=600) as response:
        return int(json.loads(response.read())["results"]["bindings"][0]["n"]["value"])


def virtuoso_binaries(install: bool) -> tuple[str, str] | None:
    """``virtuoso-t`` and ``isql-vt``; installed with apt-get when missing, asked to and root."""
    found = shutil.which("virtuoso-t"), shutil.which("isql-vt")
    if None in found and install and os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing virtuoso-opensource-7-bin with apt-get", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        command = ["apt-get", "install", "-y", "--no-install-recommends", "virtuoso-opensource-7-bin"]
        if subprocess.run(command, check=False, env=env).returncode:
            subprocess.run(["apt-get", "update"], check=False, env=env)
            subprocess.run(command, check=False, env=env)
        found = shutil.which("virtuoso-t"), shutil.which("isql-vt")
    return (found[0], found[1]) if found[0] and found[1] else None


@contextlib.contextmanager
def virtuoso(binaries: tuple[str, str], file: Path) -> Iterator[tuple[str, float]]:
    """A fresh Virtuoso on loopback (tests/servers.py) with ``file`` bulk-loaded into ``GRAPH``: its base URL and load
    seconds."""
    with tempfile.TemporaryDirectory() as db, virtuoso_server(Path(db), allowed=file.parent) as (settings, sql):
        start = time.perf_counter()
        folder, name, graph = (str(v).replace("'", "''") for v in (file.parent, file.name, GRAPH))
        isql(binaries[1], sql, f"ld_dir('{folder}', '{name}', '{graph}'); rdf_loader_run(); checkpoint;")
        seconds = time.perf_counter() - start
        errors = isql(binaries[1], sql, "select ll_file, ll_error from DB.DBA.LOAD_LIST where ll_error is not null;")
        if "0 Rows." not in errors:
            raise RuntimeError(f"Virtuoso bulk load failed: {errors}")
        yield settings["SPARQL_ENDPOINT"].removesuffix("/sparql"), seconds


def virtuoso_version(server: str) -> str:
    done = subprocess.run([server, "-?"], check=False, capture_output=True, text=True)
    text = done.stdout + done.stderr
    return next((line.strip() for line in text.splitlines() if line.startswith("Version")), "unknown")


def measure(n: int, seed: int, runs: int, peer: tuple[str, str] | None) -> dict:
    import pyoxigraph as ox

    file = BENCH / "out" / f"synthetic-{n}-s{seed}.nt"
    if not file.exists():
        file.parent.mkdir(exist_ok=True)
        subprocess.run([sys.executable, str(BENCH / "generate.py"), "--triples", str(n), "--seed", str(seed),
                        "-o", str(file)], check=True)
    digest = hashlib.sha256(f"officer\x1f{seed}\x1f7".encode()).hexdigest()[:20]  # generate.py's 8th officer
    officer = f"https://w3id.org/oversight/id/officer/{digest}"
    out: dict = {"triples": n}
    with contextlib.ExitStack() as stack:
        ways: dict[str, Ask] = {}
        if peer:
            peer_base, out["virtuoso_load_s"] = stack.enter_context(virtuoso(peer, file))
            out["virtuoso_triples"] = _virtuoso_count(peer_base)
            ways["virtuoso"] = lambda query: _virtuoso(peer_base, query)
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        proc, base = serve(Path(tmp, "store"), env=SERVER, timeout=60)
        try:
            request = urllib.request.Request(base + "/sources/synthetic",
                                             data=file.read_bytes(), method="PUT",
                                             headers={"Content-Type": "application/n-triples"})
            start = time.perf_counter()
            urllib.request.urlopen(request, timeout=1800).read()
            out["oversight_load_s"] = time.perf_counter() - start
            sources = json.loads(urllib.request.urlopen(base + "/sources").read())["sources"]
            run = next(s["run"] for s in sources if s["name"] == "synthetic").rsplit("/", 1)[1]
            graph = graph_iri("synthetic", run, base=BASE_IRI)  # the run's graph: /sources gives the stable name
            store = ox.Store.read_only(f"{tmp}/store")
            ways = {"http": lambda query: _http(base, query), "raw": lambda query: _raw(store, graph, query), **ways}
            lookup = LOOKUP % officer
            rows = {name: (ask(AGGREGATE)[1], ask(lookup)[1]) for name, ask in ways.items()}  # warm-up, untimed
            agg: dict[str, list[float]] = {name: [] for name in ways}
            for _ in range(runs):
                for name, ask in ways.items():
                    agg[name].append(ask(AGGREGATE)[0])
            look: dict[str, list[float]] = {name: [] for name in ways}
            for _ in range(200):
                for name, ask in ways.items():
                    look[name].append(ask(lookup)[0])
        finally:
            stop(proc)
    for name in ways:
        out[f"aggregate_{name}_s"] = statistics.median(agg[name])
        out[f"lookup_{name}_ms"] = statistics.median(look[name]) * 1000
        out[f"lookup_{name}_p99_ms"] = statistics.quantiles(look[name], n=100)[98] * 1000
    out.update(aggregate_rows=(rows["http"][0], rows["raw"][0]), lookup_rows=rows["http"][1])
    if "virtuoso" in rows:
        out.update(virtuoso_aggregate_rows=rows["virtuoso"][0], virtuoso_lookup_rows=rows["virtuoso"][1])
    if len(set(rows.values())) > 1 or out.get("virtuoso_triples", n) != n:
        print(f"WARNING: the engines disagree at {n:,} triples: rows {rows},"
              f" Virtuoso holds {out.get('virtuoso_triples')} triples", file=sys.stderr, flush=True)
    return out


def _cell(r: dict, key: str, scale: str) -> str:
    return format(r[key], scale) if key in r else "–"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="3.3e5,1.6e6")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--peers", action=argparse.BooleanOptionalAction, default=True,
                        help="also measure Virtuoso open source (installed with apt-get if missing and root)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the servers are stopped
    peer = virtuoso_binaries(install=True) if args.peers else None
    if args.peers and not peer:
        print("Virtuoso skipped: virtuoso-t or isql-vt not found, and not installable here", flush=True)
    elif peer:
        print(f"Virtuoso: {virtuoso_version(peer[0])}", flush=True)
    results = []
    for size in args.sizes.split(","):
        results.append(measure(int(float(size)), args.seed, args.runs, peer))
        print(json.dumps(results[-1]), flush=True)
    (BENCH / "out" / "sparql.json").write_text(json.dumps(results, indent=2))
    print("\n| triples | aggregate /sparql s | aggregate raw s | ratio | lookup /sparql ms (p50) | lookup raw ms |"
          " overhead ms | aggregate Virtuoso s | lookup Virtuoso ms (p50) | /sparql vs Virtuoso |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        versus = f"{r['aggregate_http_s'] / r['aggregate_virtuoso_s']:.2f}x" if "aggregate_virtuoso_s" in r else "–"
        print(f"| {r['triples']:,} | {r['aggregate_http_s']:.3f} | {r['aggregate_raw_s']:.3f} |"
              f" {r['aggregate_http_s'] / r['aggregate_raw_s']:.2f}x | {r['lookup_http_ms']:.2f} |"
              f" {r['lookup_raw_ms']:.2f} | {r['lookup_http_ms'] - r['lookup_raw_ms']:.2f} |"
              f" {_cell(r, 'aggregate_virtuoso_s', '.3f')} | {_cell(r, 'lookup_virtuoso_ms', '.2f')} | {versus} |")
    print("\n| triples | load oversight (PUT) s | load Virtuoso s | aggregate rows /sparql, raw, Virtuoso |"
          " lookup rows /sparql, Virtuoso |")
    print("|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['triples']:,} | {r['oversight_load_s']:.1f} | {_cell(r, 'virtuoso_load_s', '.1f')} |"
              f" {r['aggregate_rows'][0]:,}, {r['aggregate_rows'][1]:,}, {_cell(r, 'virtuoso_aggregate_rows', ',')} |"
              f" {r['lookup_rows']}, {_cell(r, 'virtuoso_lookup_rows', '')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
