"""The service on each store: embedded Oxigraph, Oxigraph server and Virtuoso, each against itself asked directly.

Usage::

    python bench/stores.py                       # 330,000 triples, seed 1, every store
    python bench/stores.py --sizes 1.6e6 --runs 5
    python bench/stores.py --stores embedded oxigraph-server

For each size and store kind, in one run:

* the store: ``embedded`` (the service's own on-disk Oxigraph store), ``oxigraph-server`` (the ``oxigraph``
  package's server from PyPI, fresh folder) or ``virtuoso`` (Debian's ``virtuoso-opensource``, fresh database,
  ``tests/servers.py``'s virtuoso.ini), all on loopback;
* a real ``oversight serve`` over it (waitress, auth off, ``STORE=sparql`` for the servers); the synthetic file
  (``bench/generate.py``) is PUT to ``/sources/synthetic`` (timed: the load, validation and indexing included);
* the aggregate "officers in >= 2 investigations" (``--runs`` times, median) and a 1-row lookup (100 times,
  median) through the service's ``/sparql`` (JSON, read to the end), and the same text asked of the store
  directly with the source's graph as its default graph (embedded: ``pyoxigraph.Store.read_only`` on a copy of
  the folder; servers: their own endpoint with ``default-graph-uri``, JSON read to the end);
* ``/linkage/repeat-subjects``: its first answer from a second instance started on the loaded store (so the facts
  are read from the store, not kept from the load), and its warm median over 50 requests.

Prints a markdown table and writes bench/out/stores.json. Figures go to docs/benchmarks.md as ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))
from common import MAX_UPLOAD_BYTES, serve, stop  # noqa: E402  # bench/common.py
from sparql import AGGREGATE, BASE_IRI, DECLARED, LOOKUP, PREFIXES  # noqa: E402  # the queries bench/sparql.py times

from graph.iri import graph_iri  # noqa: E402
from tests.servers import oxigraph_server, virtuoso_server  # noqa: E402

STORES = ("embedded", "oxigraph-server", "virtuoso")
SERVER = {"LOAD_BUNDLED": "false", "AUTH": "false", "MAX_UPLOAD_BYTES": MAX_UPLOAD_BYTES, "SPARQL_TIMEOUT": "600",
          "SPARQL_MAX_ROWS": "10000000", "LOG_LEVEL": "WARNING"}


def _read(url: str, data: bytes | None = None, headers: dict[str, str] | None = None, method: str | None = None) -> bytes:
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    with urllib.request.urlopen(request, timeout=3600) as response:
        return response.read()


def _rows(body: bytes) -> int:
    return len(json.loads(body)["results"]["bindings"])


def _timed(call: Callable[[], int]) -> tuple[float, int]:
    start = time.perf_counter()
    rows = call()
    return time.perf_counter() - start, rows


@contextlib.contextmanager
def _store(kind: str, folder: Path) -> Iterator[dict[str, str]]:
    if kind == "embedded":
        yield {}
    elif kind == "oxigraph-server":
        with oxigraph_server(folder / "oxigraph") as settings:
            yield settings
    else:
        with virtuoso_server(folder / "virtuoso") as (settings, _):
            yield settings


def _direct(kind: str, settings: dict[str, str], folder: Path, graph: str) -> Callable[[str], tuple[float, int]]:
    """The store asked directly: the same text, the source's graph as the default graph."""
    if kind == "embedded":
        import pyoxigraph as ox

        copy = folder / "copy"
        shutil.copytree(folder / "one", copy)  # the service holds its folder: a copy, read-only
        store = ox.Store.read_only(str(copy))
        node = ox.NamedNode(graph)
        return lambda query: _timed(lambda: sum(1 for _ in store.query(query, default_graph=[node], prefixes=PREFIXES)))
    endpoint = settings["SPARQL_ENDPOINT"]

    def ask(query: str) -> tuple[float, int]:
        body = urllib.parse.urlencode({"query": DECLARED + query, "default-graph-uri": graph}).encode()
        return _timed(lambda: _rows(_read(endpoint, body, {"Accept": "application/sparql-results+json",
                                                           "Content-Type": "application/x-www-form-urlencoded"})))
    return ask


def measure(kind: str, file: Path, officer: str, runs: int) -> dict[str, Any]:
    out: dict[str, Any] = {"store": kind}
    with tempfile.TemporaryDirectory() as tmp, _store(kind, Path(tmp)) as remote:
        env = {**SERVER, **remote, "STORE": remote.get("STORE", "oxigraph")}
        proc, base = serve(Path(tmp, "one"), env=env, timeout=120)
        try:
            start = time.perf_counter()
            _read(base + "/sources/synthetic", file.read_bytes(), {"Content-Type": "application/n-triples"}, "PUT")
            out["load_s"] = time.perf_counter() - start
            sources = json.loads(_read(base + "/sources"))["sources"]
            run = next(s["run"] for s in sources if s["name"] == "synthetic").rsplit("/", 1)[1]
            graph = graph_iri("synthetic", run, base=BASE_IRI).value  # the run's graph: /sources gives the stable name
            if kind == "embedded":
                stop(proc)  # the store folder is then free to copy
                proc, base = serve(Path(tmp, "one"), env=env, timeout=120)
            direct = _direct(kind, remote, Path(tmp), graph)

            def http(query: str) -> tuple[float, int]:
                body = urllib.parse.urlencode({"query": query}).encode()
                return _timed(lambda: _rows(_read(base + "/sparql", body, {
                    "Accept": "application/sparql-results+json", "Content-Type": "application/x-www-form-urlencoded"})))

            ways = {"service": http, "direct": direct}
            lookup = LOOKUP % officer
            out["rows"] = {name: (ask(AGGREGATE)[1], ask(lookup)[1]) for name, ask in ways.items()}  # warm-up
            aggregate: dict[str, list[float]] = {name: [] for name in ways}
            for _ in range(runs):
                for name, ask in ways.items():
                    aggregate[name].append(ask(AGGREGATE)[0])
            looked: dict[str, list[float]] = {name: [] for name in ways}
            for _ in range(100):
                for name, ask in ways.items():
                    looked[name].append(ask(lookup)[0])
            for name in ways:
                out[f"aggregate_{name}_s"] = statistics.median(aggregate[name])
                out[f"lookup_{name}_ms"] = statistics.median(looked[name]) * 1000
            # a second instance on the loaded store (embedded: the same one restarted) answers from the store
            stop(proc)
            second = Path(tmp, "one" if kind == "embedded" else "two")
            proc, base = serve(second, env=env, timeout=600)
            start = time.perf_counter()
            _read(base + "/linkage/repeat-subjects")
            out["repeat_first_s"] = time.perf_counter() - start
            warm = []
            for _ in range(50):
                start = time.perf_counter()
                _read(base + "/linkage/repeat-subjects")
                warm.append(time.perf_counter() - start)
            out["repeat_warm_ms"] = statistics.median(warm) * 1000
        finally:
            stop(proc)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", type=float, default=[330_000])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--stores", nargs="+", choices=STORES, default=list(STORES))
    args = parser.parse_args(argv)
    results = []
    for size in (int(s) for s in args.sizes):
        file = BENCH / "out" / f"synthetic-{size}-s{args.seed}.nt"
        if not file.exists():
            file.parent.mkdir(exist_ok=True)
            subprocess.run([sys.executable, str(BENCH / "generate.py"), "--triples", str(size), "--seed",
                            str(args.seed), "-o", str(file)], check=True)
        digest = hashlib.sha256(f"officer\x1f{args.seed}\x1f7".encode()).hexdigest()[:20]  # generate.py's 8th officer
        officer = f"https://w3id.org/oversight/id/officer/{digest}"
        for kind in args.stores:
            print(f"{size:,} triples on {kind} ...", file=sys.stderr, flush=True)
            results.append({"triples": size, **measure(kind, file, officer, args.runs)})
    print("| triples | store | load s | aggregate: /sparql s | direct s | ratio | lookup: /sparql ms | direct ms "
          "| ratio | repeat-subjects first s | warm p50 ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['triples']:,} | {r['store']} | {r['load_s']:.1f} | {r['aggregate_service_s']:.3f} "
              f"| {r['aggregate_direct_s']:.3f} | {r['aggregate_service_s'] / r['aggregate_direct_s']:.2f} "
              f"| {r['lookup_service_ms']:.1f} | {r['lookup_direct_ms']:.1f} "
              f"| {r['lookup_service_ms'] / r['lookup_direct_ms']:.2f} | {r['repeat_first_s']:.2f} "
              f"| {r['repeat_warm_ms']:.1f} |")
        if len(set(r["rows"].values())) > 1:
            print(f"WARNING: rows differ on {r['store']}: {r['rows']}", file=sys.stderr)
    (BENCH / "out").mkdir(exist_ok=True)
    (BENCH / "out" / "stores.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
