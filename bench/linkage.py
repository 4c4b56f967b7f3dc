"""Linkage benchmark: ``GET /linkage/repeat-subjects?min_investigations=2`` over HTTP, against the same
question asked of raw pyoxigraph and rdflib as one SPARQL aggregate.

Usage::

    python bench/linkage.py                   # 1.6e6 triples, seed 1
    python bench/linkage.py --triples 1e5 --requests 100

Methods (each in its own process; peak RSS is that process's):

* ``oversight``: a real ``oversight serve`` (waitress, auth off) on loopback with an
  empty on-disk store. The synthetic file is PUT to ``/sources/synthetic``
  (timed: load). Then, at once, the question is asked (timed: first answer
  after the load, which includes any projection build the load did not
  finish); then ``--requests`` sequential warm requests (p50, p99). The
  first ``co-accused?min_shared=2`` (builds the co-accusal network) and
  ``clusters`` (builds the officer network of all four edge kinds) are timed,
  as the projection builds after a load. The server is then restarted on the
  same store and asked again (first answer after a restart: the facts come
  from the file the load saved beside the store). The server's peak RSS
  (VmHWM) is read from ``/proc`` before the restart.
* ``raw-pyoxigraph``: ``bulk_load`` into an on-disk store, then the SPARQL
  aggregate "officers in >= 2 investigations" (first run and the median of
  three more).
* ``rdflib``: ``Graph().parse`` in memory, then the same SPARQL (once; it is slow).
* ``phases`` (not in the default list): in one process, on an in-memory copy, the time
  of each step: reading the linkage properties, folding the facts, the question, and
  the officer network (co-accused only, and all four kinds).

Prints a markdown table and writes bench/out/linkage.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from common import MAX_UPLOAD_BYTES, free_port, peak_rss_mb, serve, stop, vm  # noqa: E402  # bench/common.py

OUT = BENCH / "out"
QUESTION = "/linkage/repeat-subjects?min_investigations=2"
SPARQL = """PREFIX ov: <https://w3id.org/oversight/ontology#>
SELECT ?officer (COUNT(DISTINCT ?investigation) AS ?n) WHERE {
  ?finding a ov:Finding ; ov:officer ?officer ; ov:allegation ?allegation .
  ?allegation ov:investigation ?investigation .
} GROUP BY ?officer HAVING (COUNT(DISTINCT ?investigation) >= 2)"""
# an empty store; auth off (the default has been on since the access layer: a PUT without a token is a 401)
SERVER = {"LOAD_BUNDLED": "false", "AUTH": "false", "MAX_UPLOAD_BYTES": MAX_UPLOAD_BYTES, "LOG_LEVEL": "WARNING"}


def _get(url: str) -> tuple[float, dict]:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=600) as response:
        body = json.loads(response.read())
    return time.perf_counter() - start, body


def oversight(file: Path, requests: int) -> dict:
    out: dict = {"method": "oversight"}
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()  # kept for the restart
        proc, base = serve(Path(tmp) / "store", port, env=SERVER)
        try:
            start = time.perf_counter()
            request = urllib.request.Request(base + "/sources/synthetic", data=file.read_bytes(), method="PUT",
                                             headers={"Content-Type": "application/n-triples"})
            with urllib.request.urlopen(request, timeout=1800) as response:
                response.read()
            out["load_s"] = time.perf_counter() - start
            out["first_s"], body = _get(base + QUESTION)
            out["answer_total"] = body["total"]
            times = [_get(base + QUESTION)[0] for _ in range(requests)]
            out["warm_p50_ms"] = statistics.median(times) * 1000
            out["warm_p99_ms"] = statistics.quantiles(times, n=100)[98] * 1000 if len(times) >= 100 else max(times) * 1000
            # projections built on first use after the load: the co-accusal network, then the full
            # officer network (all four edge kinds) with its connected components
            out["first_coaccused_s"], _ = _get(base + "/linkage/co-accused?min_shared=2")
            out["first_clusters_s"], _ = _get(base + "/linkage/clusters")
            out["warm_clusters_ms"] = statistics.median(_get(base + "/linkage/clusters")[0] for _ in range(20)) * 1000
            out["server_peak_rss_mb"] = vm(proc.pid)["VmHWM"]
        finally:
            stop(proc)
        # a restart: facts come from disk (or were warmed meanwhile)
        proc, _ = serve(Path(tmp) / "store", port, env=SERVER)
        try:
            out["first_after_restart_s"], _ = _get(base + QUESTION)
        finally:
            stop(proc)
    return out


def raw(file: Path) -> dict:
    import pyoxigraph as ox

    with tempfile.TemporaryDirectory() as tmp:
        store = ox.Store(tmp)
        start = time.perf_counter()
        store.bulk_load(path=str(file), format=ox.RdfFormat.N_TRIPLES)
        load = time.perf_counter() - start
        runs = []
        for _ in range(4):
            start = time.perf_counter()
            n = len(list(store.query(SPARQL)))
            runs.append(time.perf_counter() - start)
        del store
    return {"method": "raw-pyoxigraph", "load_s": load, "first_s": runs[0], "warm_p50_ms": statistics.median(runs[1:]) * 1000,
            "answer_total": n, "peak_rss_mb": peak_rss_mb()}


def rdflib_method(file: Path) -> dict:
    import rdflib

    start = time.perf_counter()
    graph = rdflib.Graph().parse(str(file), format="nt")
    load = time.perf_counter() - start
    start = time.perf_counter()
    n = len(list(graph.query(SPARQL)))
    return {"method": "rdflib", "load_s": load, "first_s": time.perf_counter() - start, "answer_total": n,
            "peak_rss_mb": peak_rss_mb()}


def phases(file: Path) -> dict:
    """In-process: each step of answering, on an in-memory copy of the file (where the time goes)."""
    import pyoxigraph as ox

    from graph.linkage.facts import Facts, read_pairs
    from graph.linkage.projection import Projection, officer_network
    from graph.linkage.questions import repeat_subjects
    from graph.store.backend import OxigraphBackend

    backend, graph = OxigraphBackend(None), ox.NamedNode("urn:bench:graph")
    backend.bulk_load(graph=graph, format=ox.RdfFormat.N_TRIPLES, path=file)
    out: dict = {"method": "phases"}

    def timed(name: str, work):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        result = work()
        out[name] = time.perf_counter() - start
        return result

    pairs = timed("read_pairs_memory_s", lambda: read_pairs(backend, graph))
    f = timed("fold_s", lambda: Facts.fold("bench", [pairs]))
    out["answer_total"] = len(timed("repeat_subjects_s", lambda: repeat_subjects(f)))
    timed("officer_network_coaccused_s", lambda: officer_network(f, Projection(kinds=frozenset({"co-accused"}))))
    timed("officer_network_all_kinds_s", lambda: officer_network(f, Projection()))
    out["load_s"], out["first_s"] = 0.0, out["fold_s"] + out["repeat_subjects_s"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--triples", type=float, default=1.6e6)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--methods", default="oversight,raw-pyoxigraph,rdflib")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        method, path = args.child
        result = {"oversight": lambda f: oversight(f, args.requests), "raw-pyoxigraph": raw,
                  "rdflib": rdflib_method, "phases": phases}[method](Path(path))
        print(json.dumps(result))
        return 0
    n = int(args.triples)
    file = OUT / f"synthetic-{n}-s{args.seed}.nt"
    if not file.exists():
        OUT.mkdir(exist_ok=True)
        subprocess.run([sys.executable, str(BENCH / "generate.py"), "--triples", str(n), "--seed", str(args.seed),
                        "-o", str(file)], check=True)
    results = []
    for method in args.methods.split(","):
        proc = subprocess.run([sys.executable, __file__, "--child", method, str(file), "--requests",
                               str(args.requests)], capture_output=True, text=True, timeout=3600)
        if proc.returncode:
            print(proc.stderr[-2000:], file=sys.stderr)
            continue
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    (OUT / "linkage.json").write_text(json.dumps({"triples": n, "seed": args.seed, "results": results}, indent=2))
    by = {r["method"]: r for r in results}
    print(f"\n| method | load s | first answer s | warm p50 ms | answer rows |\n|---|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['method']} | {r['load_s']:.1f} | {r['first_s']:.3f} | {r.get('warm_p50_ms', float('nan')):.2f}"
              f" | {r['answer_total']} |")
    if "oversight" in by:
        o = by["oversight"]
        for peer in ("raw-pyoxigraph", "rdflib"):
            if peer in by:
                print(f"first answer after load, {peer} / oversight: {by[peer]['first_s'] / o['first_s']:.2f}x; "
                      f"warm p50: {by[peer].get('warm_p50_ms', by[peer]['first_s'] * 1000) / o['warm_p50_ms']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
