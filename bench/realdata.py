"""Real-data benchmark (issue 7): Chicago's CPDP complaints imported, served and asked, against raw
pyoxigraph and rdflib asked the same questions.

Usage::

    python bench/realdata.py                            # import into a temp dir, everything, then delete it
    python bench/realdata.py --store /tmp/chi-bench     # keep the store (and its N-Triples dump) there
    python bench/realdata.py --store /tmp/chi-bench --reuse   # skip the import (about 3-4 min) if DIR has it
    python bench/realdata.py --store /tmp/chi-bench --reuse --skip-rdflib --duration 10

The dataset is ``../shared/data/realdata/chicago-cpdp`` (``--data``); its README gives the ground
truth that the answers are checked against (22,813 officers, 19,983 in >= 2 complaints, 224,265
co-accusal pairs, largest component 20,777, top officer UID 112944).

Methods (the heavy ones each in their own process, so a peak RSS is that process's alone):

* ``import``: ``oversight import --json chicago-cpdp DIR`` (the CLI) with ``OVERSIGHT_DATA_DIR``
  set to the store folder, which must be empty (or absent). Wall time, and the child's peak RSS
  and CPU time from ``os.wait4``. ``--reuse`` skips it when ``oversight stats`` shows the
  ``chicago-cpdp`` source in the folder.
* ``serve``: ``python -m api serve`` (waitress, default 8 threads) on the imported folder, with
  ``OVERSIGHT_AUTH=false`` (no tokens) and ``OVERSIGHT_RATE_LIMIT=0`` (the default, 6,000 a minute
  per client address, would answer 429 to a load test from one address). Timed from the start of
  the process, in this order, each the first time it is asked: ``/health``;
  ``repeat-subjects?min_investigations=2`` (waits for the linkage facts); ``co-accused?min_shared=2``
  (builds the co-accusal projection); ``co-accused?limit=1`` (the pair count, projection built);
  ``clusters?method=components&kinds=co-accused&limit=1`` (largest component);
  ``centrality?measure=degree&top=5&kinds=co-accused``; ``repeat-subjects?min_investigations=1&limit=5``
  (the ground truth's top 5 by complaints; labels may be names, so the UIDs are read with ``/sparql``
  as ``ov:identifier``). Then ``--requests`` sequential warm requests each (one
  new connection per request, as bench/linkage.py) of repeat-subjects and co-accused: p50, p99.
  VmRSS and VmHWM of the server from ``/proc``. Finally the server is restarted on the same folder
  and the first repeat-subjects and co-accused answers are timed again (facts from the file saved
  beside the store).
* ``throughput``: a fixed list of warm linkage URLs (repeat-subjects with ``min_investigations``
  1/2/5/10, co-accused with ``min_shared`` 1/2/3/5, co-accused of the top officer paired with each
  of the next 20 (``officers=A,B``), clusters, centrality), each asked once untimed first. Then
  ``--procs`` processes x ``--threads`` threads (default 4 x 4 = 16 clients), each thread with its
  own keep-alive ``http.client.HTTPConnection`` on loopback, walk the list from different offsets
  for ``--duration`` seconds and stop by themselves. Two mixes: ``default`` (the URLs as a client
  would send them, default page size 100: answers of up to 5 MB) and ``small`` (the same questions
  with ``limit=1``: per-request overhead rather than bytes). Requests/s = answers received /
  (last answer - start); p50/p99 latency; non-200 answers and connection errors; server CPU seconds.
* ``sparql``: the peers' three SPARQL texts through the service's ``/sparql`` (first, then the median
  of three more; one more when the first took > 20 s).
* ``dump``: the ``chicago-cpdp`` named graph (not the separate ``chicago-cpdp-names`` source, which
  the questions do not need) of the stopped server's folder, written as N-Triples with
  ``pyoxigraph.Store.read_only(DIR).dump(from_graph=...)`` (the file sits beside the store folder).
* ``raw-pyoxigraph``: ``Store(tmp).bulk_load`` of the dump into a fresh on-disk store (timed: load),
  then each SPARQL question (first run, median of three more; one more when the first took > 20 s).
* ``rdflib``: ``Graph().parse`` of the dump in memory (timed), then each question once, each in a
  forked copy of that process killed after ``--rdflib-query-timeout`` seconds (default 900). Minutes
  and about 6 GB (more while a fork copies pages); ``--skip-rdflib`` skips it, ``--rdflib-timeout``
  bounds the whole child (what finished is kept).

The SPARQL questions: repeat subjects (``SPARQL`` of bench/linkage.py: officers in >= 2 distinct
investigations), the co-accused network (pairs of officers sharing >= 2 investigations, as
``/linkage/co-accused?min_shared=2``), and the co-accused of officer 112944 (officers sharing an
investigation with him, with the count of shared investigations; the service has no per-officer
co-accused question, so its figure for this one is ``/sparql``). Row counts are checked against
the CSV file itself.

Prints markdown tables and writes bench/out/realdata.json (server log: bench/out/realdata-server.log).
"""

from __future__ import annotations

import argparse
import collections
import csv
import datetime
import gzip
import http.client
import json
import multiprocessing
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from common import free_port, peak_rss_mb, serve, stop, vm  # noqa: E402  # bench/common.py
from linkage import SPARQL, _get  # noqa: E402  # bench/linkage.py's question and its GET

OUT = BENCH / "out"
REPO = BENCH.parent
DATA = REPO.parent / "shared" / "data" / "realdata" / "chicago-cpdp"
MAPPING = "chicago-cpdp"
TOP_UID = "112944"
OV = "https://w3id.org/oversight/ontology#"

# the realdata README's figures (all vintages)
TRUTH = {"officers": 22813, "at_least_2": 19983, "edges": 224265, "largest": 20777,
         "top5": ["112944 (175)", "113285 (137)", "107464 (136)", "109923 (132)", "117079 (125)"]}

REPEAT = "/linkage/repeat-subjects?min_investigations=2"
COACCUSED = "/linkage/co-accused?min_shared=2"
CLUSTERS = "/linkage/clusters?method=components&kinds=co-accused&limit=1"
CENTRALITY = "/linkage/centrality?measure=degree&top=5&kinds=co-accused"
TOP5 = "/linkage/repeat-subjects?min_investigations=1&limit=5"

COACCUSED_OF = """PREFIX ov: <https://w3id.org/oversight/ontology#>
SELECT ?other (COUNT(DISTINCT ?investigation) AS ?n) WHERE {
  ?officer a ov:Officer ; ov:identifier "%s" .
  ?f1 a ov:Finding ; ov:officer ?officer ; ov:allegation ?a1 . ?a1 ov:investigation ?investigation .
  ?f2 a ov:Finding ; ov:officer ?other ; ov:allegation ?a2 . ?a2 ov:investigation ?investigation .
  FILTER(?other != ?officer)
} GROUP BY ?other""".replace("%s", TOP_UID)
COACCUSED_NETWORK = """PREFIX ov: <https://w3id.org/oversight/ontology#>
SELECT ?a ?b (COUNT(DISTINCT ?investigation) AS ?n) WHERE {
  ?f1 a ov:Finding ; ov:officer ?a ; ov:allegation ?a1 . ?a1 ov:investigation ?investigation .
  ?f2 a ov:Finding ; ov:officer ?b ; ov:allegation ?a2 . ?a2 ov:investigation ?investigation .
  FILTER(STR(?a) < STR(?b))
} GROUP BY ?a ?b HAVING (COUNT(DISTINCT ?investigation) >= 2)"""
# name -> (SPARQL text, the service's own question for the same thing or None)
QUESTIONS = {"repeat-subjects": (SPARQL, REPEAT), "co-accused-network": (COACCUSED_NETWORK, COACCUSED),
             "co-accused-of-112944": (COACCUSED_OF, None)}

# the server's settings: auth and the rate limit off (one client address), no SPARQL limits that would cut the
# peers' questions short
SERVER = {"LOAD_BUNDLED": "false", "AUTH": "false", "RATE_LIMIT": "0", "SPARQL_TIMEOUT": "900",
          "SPARQL_MAX_ROWS": "10000000", "LOG_LEVEL": "WARNING"}
SERVER_LOG = OUT / "realdata-server.log"


# --------------------------------------------------------------------------- small helpers
def _q(values: list[float], p: int) -> float:
    """The p-th percentile (1-99) in ms; the largest value when there are fewer than 100."""
    if not values:
        return float("nan")
    if len(values) < 100:
        return (statistics.median(values) if p == 50 else max(values)) * 1000
    return statistics.quantiles(values, n=100)[p - 1] * 1000


def _fetch(base: str, url: str, timeout: float = 600) -> tuple[float, int, int]:
    """(seconds, status, body bytes); a non-200 answer is returned, not raised."""
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(base + url, timeout=timeout) as response:
            status, n = response.status, len(response.read())
    except urllib.error.HTTPError as exc:
        status, n = exc.code, len(exc.read())
    return time.perf_counter() - start, status, n


def _sparql_http(base: str, query: str) -> tuple[float, int]:
    start = time.perf_counter()
    request = urllib.request.Request(base + "/sparql", data=urllib.parse.urlencode({"query": query}).encode(),
                                     headers={"Accept": "application/sparql-results+json"}, method="POST")
    with urllib.request.urlopen(request, timeout=900) as response:
        rows = len(json.loads(response.read())["results"]["bindings"])
    return time.perf_counter() - start, rows


def _runs(done: list[float]) -> int:
    """How many runs of a SPARQL question: the first and three more, or one more when the first took > 20 s."""
    return 4 if not done or done[0] <= 20 else 2


def _identifiers(base: str, iris: list[str]) -> dict[str, str]:
    """ov:identifier of each IRI, through /sparql (the linkage answers do not carry it)."""
    query = ("PREFIX ov: <https://w3id.org/oversight/ontology#>\nSELECT ?o ?id WHERE { VALUES ?o { "
             + " ".join(f"<{iri}>" for iri in iris) + " } ?o ov:identifier ?id }")
    request = urllib.request.Request(base + "/sparql", data=urllib.parse.urlencode({"query": query}).encode(),
                                      headers={"Accept": "application/sparql-results+json"}, method="POST")
    with urllib.request.urlopen(request, timeout=120) as response:
        rows = json.loads(response.read())["results"]["bindings"]
    return {row["o"]["value"]: row["id"]["value"] for row in rows}


def _git() -> dict[str, Any]:
    def run(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30,
                                  check=False).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    return {"head": run("rev-parse", "--short", "HEAD"), "dirty": run("status", "--short").splitlines()}


def _oversight_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("oversight")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "api"]


def _csv_truth(folder: Path) -> dict[str, int]:
    """Row counts the SPARQL questions must give, from complaints-accused.csv.gz itself."""
    by_complaint: dict[str, set[int]] = collections.defaultdict(set)
    with gzip.open(folder / "complaints-accused.csv.gz", "rt", newline="") as fh:
        for row in csv.DictReader(fh):
            by_complaint[row["cr_id"]].add(int(float(row["UID"])))
    per_officer: collections.Counter[int] = collections.Counter()
    pairs: collections.Counter[tuple[int, int]] = collections.Counter()
    others: set[int] = set()
    top = int(TOP_UID)
    for officers in by_complaint.values():
        per_officer.update(officers)
        ordered = sorted(officers)
        for i, a in enumerate(ordered):
            for b in ordered[i + 1:]:
                pairs[(a, b)] += 1
        if top in officers:
            others |= officers - {top}
    return {"repeat-subjects": sum(1 for n in per_officer.values() if n >= 2),
            "co-accused-network": sum(1 for n in pairs.values() if n >= 2),
            "co-accused-of-112944": len(others)}


# --------------------------------------------------------------------------- import and dump
def has_data(store: Path) -> bool:
    if not store.is_dir() or not any(store.iterdir()):
        return False
    proc = subprocess.run([*_oversight_cmd(), "stats", "--format", "json"], capture_output=True, text=True,
                          timeout=300, check=False, env={**os.environ, "OVERSIGHT_DATA_DIR": str(store)})
    return proc.returncode == 0 and json.loads(proc.stdout)["sources"].get(MAPPING, 0) > 0


def do_import(store: Path, folder: Path, timeout: float) -> dict[str, Any]:
    """``oversight import`` in a child process: wall time, and its own peak RSS and CPU (os.wait4)."""
    store.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OVERSIGHT_DATA_DIR": str(store)}
    out_path, err_path = OUT / "realdata-import.json", OUT / "realdata-import.err"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        start = time.perf_counter()
        proc = subprocess.Popen([*_oversight_cmd(), "import", "--json", MAPPING, str(folder)], env=env,
                                stdout=out, stderr=err, cwd=REPO)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.2)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    result: dict[str, Any] = {"wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024,
                              "cpu_s": usage.ru_utime + usage.ru_stime, "returncode": proc.returncode,
                              "timed_out": time.monotonic() > deadline}
    if proc.returncode == 0:
        report = json.loads(out_path.read_text())
        loads = report["load"] if isinstance(report["load"], list) else [report["load"]]  # one or more sources
        result.update(sources={x["source"]: x["triples"] for x in loads},
                      graph=next(x["graph"] for x in loads if x["source"] == MAPPING),
                      rows_read=sum(report["rows_read"].values()), rejected=report["rejected"])
    else:
        result["stderr"] = err_path.read_text()[-2000:]
    return result


def dump(store: Path, graph: str, file: Path) -> dict[str, Any]:
    """The source's named graph as N-Triples (a child process; the server is stopped)."""
    import pyoxigraph as ox

    start = time.perf_counter()
    ox.Store.read_only(str(store)).dump(str(file), format=ox.RdfFormat.N_TRIPLES, from_graph=ox.NamedNode(graph))
    return {"method": "dump", "dump_s": time.perf_counter() - start, "bytes": file.stat().st_size,
            "peak_rss_mb": peak_rss_mb()}


# --------------------------------------------------------------------------- the service
def first_answers(base: str, started: float, out: dict[str, Any]) -> None:
    """Each question the first time, in order, with its check against the ground truth."""
    checks = out.setdefault("checks", {})
    steps = [("repeat_subjects", REPEAT), ("co_accused", COACCUSED), ("co_accused_pairs", "/linkage/co-accused?limit=1"),
             ("largest_component", CLUSTERS), ("centrality_top5", CENTRALITY), ("top5_by_complaints", TOP5)]
    for name, url in steps:
        try:
            seconds, body = _get(base + url)
        except (OSError, ValueError) as exc:
            out[f"first_{name}_error"] = repr(exc)[:300]
            continue
        out[f"first_{name}_s"] = seconds
        if name == "repeat_subjects":
            out["first_repeat_subjects_since_start_s"] = time.perf_counter() - started
            checks["officers in >= 2 complaints"] = (body["total"], TRUTH["at_least_2"])
        elif name == "co_accused":
            out["co_accused_min2_total"] = body["total"]
        elif name == "co_accused_pairs":
            checks["co-accusal pairs"] = (body["total"], TRUTH["edges"])
        elif name == "largest_component":
            checks["largest component"] = (body["items"][0]["size"], TRUTH["largest"])
        elif name == "centrality_top5":
            uid = _identifiers(base, [i["officer"]["iri"] for i in body["items"]])
            out["centrality_top5"] = [f"{uid.get(i['officer']['iri'])} ({i['degree']})" for i in body["items"]]
        else:  # labels are names when the mapping's names source is loaded: the UIDs are ov:identifier
            iris = [i["officer"]["iri"] for i in body["items"]]
            uid = _identifiers(base, iris)
            checks["top 5 by complaints"] = ([f"{uid.get(iri)} ({i['investigation_count']})"
                                              for iri, i in zip(iris, body["items"], strict=True)], TRUTH["top5"])


def warm(base: str, url: str, requests: int) -> dict[str, Any]:
    times, bad, size = [], 0, 0
    for _ in range(requests):
        seconds, status, size = _fetch(base, url)
        times.append(seconds)
        bad += status != 200
    return {"url": url, "p50_ms": _q(times, 50), "p99_ms": _q(times, 99), "max_ms": max(times) * 1000,
            "non_200": bad, "bytes": size}


def mix_urls(base: str) -> dict[str, list[str]]:
    """The throughput mixes: warm linkage questions (ids of the top officers come from the service)."""
    _, top = _get(base + "/linkage/repeat-subjects?min_investigations=1&limit=21")
    ids = [i["officer"]["id"] for i in top["items"]]
    default = [f"/linkage/repeat-subjects?min_investigations={k}" for k in (1, 2, 5, 10)]
    default += [f"/linkage/co-accused?min_shared={k}" for k in (1, 2, 3, 5)]
    default += [f"/linkage/co-accused?officers={ids[0]},{other}" for other in ids[1:]]
    default += ["/linkage/clusters?method=components&kinds=co-accused&limit=10",
                "/linkage/centrality?measure=degree&top=5&kinds=co-accused",
                "/linkage/centrality?measure=degree&top=20&kinds=co-accused"]
    small = [u.replace("limit=10", "limit=1") if "limit=" in u else u + "&limit=1" for u in default]
    return {"default": default, "small": small}


def _client_proc(port: int, urls: list[str], threads: int, first: int, start_at: float, duration: float,
                 queue: Any) -> None:
    """One load-test process: `threads` keep-alive clients until start_at + duration."""
    results: list[dict[str, Any]] = []
    lock = threading.Lock()

    def client(offset: int) -> None:
        lat: list[float] = []
        statuses: collections.Counter[int] = collections.Counter()
        errors, nbytes, last = 0, 0, start_at
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        i = offset
        time.sleep(max(0.0, start_at - time.time()))
        end = start_at + duration
        while time.time() < end:
            url = urls[i % len(urls)]
            i += 1
            t0 = time.perf_counter()
            try:
                conn.request("GET", url)
                response = conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException):
                errors += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                continue
            lat.append(time.perf_counter() - t0)
            last = time.time()
            statuses[response.status] += 1
            nbytes += len(body)
        conn.close()
        with lock:
            results.append({"lat": lat, "statuses": dict(statuses), "errors": errors, "bytes": nbytes, "last": last})

    pool = [threading.Thread(target=client, args=(first + t,)) for t in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(duration + 300)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    results[0]["cpu_s"] = usage.ru_utime + usage.ru_stime  # this whole client process
    queue.put(results)


def load_test(port: int, urls: list[str], procs: int, threads: int, duration: float, server_pid: int) -> dict[str, Any]:
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    start_at = time.time() + 1.0
    stride = max(1, len(urls) // (procs * threads))
    workers = [ctx.Process(target=_client_proc, args=(port, urls, threads, p * threads * stride, start_at, duration,
                                                      queue), daemon=True) for p in range(procs)]
    cpu_before = vm(server_pid)["cpu_s"]
    for w in workers:
        w.start()
    results: list[dict[str, Any]] = []
    try:
        for _ in workers:
            results += queue.get(timeout=duration + 360)
    finally:
        for w in workers:
            w.join(10)
            if w.is_alive():
                w.kill()
    lat = [x for r in results for x in r["lat"]]
    statuses: collections.Counter[int] = collections.Counter()
    for r in results:
        statuses.update({int(k): v for k, v in r["statuses"].items()})
    elapsed = max(r["last"] for r in results) - start_at if lat else duration
    nbytes = sum(r["bytes"] for r in results)
    return {"clients": procs * threads, "procs": procs, "threads": threads, "duration_s": duration,
            "urls": len(urls), "requests": len(lat), "elapsed_s": elapsed, "rps": len(lat) / elapsed,
            "p50_ms": _q(lat, 50), "p99_ms": _q(lat, 99), "max_ms": max(lat) * 1000 if lat else float("nan"),
            "non_200": sum(v for k, v in statuses.items() if k != 200), "statuses": dict(statuses),
            "errors": sum(r["errors"] for r in results), "mb_per_s": nbytes / elapsed / 1e6,
            "mean_body_kb": nbytes / max(1, len(lat)) / 1e3, "server_cpu_s": vm(server_pid)["cpu_s"] - cpu_before,
            "client_cpu_s": sum(r.get("cpu_s", 0.0) for r in results)}


def service(store: Path, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"method": "oversight"}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    settings = {**SERVER, "THREADS": args.server_threads or None}  # None: the setting's default
    proc, _ = serve(store, port, log=SERVER_LOG, env=settings, cwd=REPO, timeout=180)
    try:
        out["health_s"] = time.perf_counter() - started
        out["server_threads"] = args.server_threads or "default"
        out["graph"] = next(s["graph"] for s in _get(base + "/sources")[1]["sources"] if s["name"] == MAPPING)
        first_answers(base, started, out)
        out["after_first_answers"] = vm(proc.pid)
        print(f"  first answers: { {k: round(v, 3) for k, v in out.items() if k.startswith('first_') and isinstance(v, float)} }",
              file=sys.stderr, flush=True)
        out["warm"] = {name: warm(base, url, args.requests) for name, url in (("repeat_subjects", REPEAT),
                                                                              ("co_accused", COACCUSED))}
        out["after_warm"] = vm(proc.pid)
        mixes = mix_urls(base)
        out["throughput"] = {}
        for mix in args.mixes.split(","):
            start = time.perf_counter()
            primed = [_fetch(base, url) for url in mixes[mix]]  # untimed: every answer is warm before the run
            prime = {"prime_s": time.perf_counter() - start, "prime_non_200": sum(s != 200 for _, s, _ in primed),
                     "prime_slowest_s": max(t for t, _, _ in primed)}
            print(f"  throughput {mix}: {len(mixes[mix])} URLs primed in {prime['prime_s']:.1f} s", file=sys.stderr,
                  flush=True)
            out["throughput"][mix] = {**load_test(port, mixes[mix], args.procs, args.threads, args.duration, proc.pid),
                                      **prime}
        out["mix_urls"] = mixes
        out["after_throughput"] = vm(proc.pid)
        out["sparql"] = {}
        for name, (text, _) in QUESTIONS.items():
            try:
                first, rows = _sparql_http(base, text)
                runs = [first]
                while len(runs) < _runs(runs):
                    runs.append(_sparql_http(base, text)[0])
                out["sparql"][name] = {"first_s": first, "warm_s": statistics.median(runs[1:]), "rows": rows,
                                       "warm_runs": len(runs) - 1}
            except (OSError, ValueError, KeyError) as exc:
                out["sparql"][name] = {"error": repr(exc)[:300]}
        out["end"] = vm(proc.pid)
    finally:
        stop(proc)
    start = time.perf_counter()
    # a restart: the facts come from the file beside the store
    proc, _ = serve(store, port, log=SERVER_LOG, env=settings, cwd=REPO, timeout=180)
    try:
        out["restart_first_repeat_subjects_s"] = _get(base + REPEAT)[0]
        out["restart_since_start_s"] = time.perf_counter() - start
        out["restart_first_co_accused_s"] = _get(base + COACCUSED)[0]
        out["after_restart"] = vm(proc.pid)
    finally:
        stop(proc)
    return out


# --------------------------------------------------------------------------- the peers (children)
def raw(file: Path) -> None:
    import pyoxigraph as ox

    with tempfile.TemporaryDirectory(prefix="realdata-raw-", dir=file.parent) as tmp:
        store = ox.Store(tmp)
        start = time.perf_counter()
        store.bulk_load(path=str(file), format=ox.RdfFormat.N_TRIPLES)
        _emit({"step": "load", "load_s": time.perf_counter() - start, "peak_rss_mb": peak_rss_mb()})
        for name, (text, _) in QUESTIONS.items():
            runs: list[float] = []
            rows = 0
            while len(runs) < _runs(runs):
                start = time.perf_counter()
                rows = len(list(store.query(text)))  # type: ignore[arg-type]
                runs.append(time.perf_counter() - start)
            _emit({"step": name, "first_s": runs[0], "warm_s": statistics.median(runs[1:]), "rows": rows,
                   "peak_rss_mb": peak_rss_mb()})
        del store


def rdflib_method(file: Path, query_timeout: float) -> None:
    """Parse once; each question in a forked copy of the process (the graph shared copy-on-write), killed
    after `query_timeout` seconds, so one question that never ends does not cost the others."""
    import rdflib

    start = time.perf_counter()
    graph = rdflib.Graph().parse(str(file), format="nt")
    _emit({"step": "load", "load_s": time.perf_counter() - start, "triples": len(graph), "peak_rss_mb": peak_rss_mb()})
    for name in ("repeat-subjects", "co-accused-of-112944", "co-accused-network"):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the question's own process
            os.close(read)
            try:
                start = time.perf_counter()
                rows = len(list(graph.query(QUESTIONS[name][0])))
                record: dict[str, Any] = {"first_s": time.perf_counter() - start, "rows": rows}
            except BaseException as exc:  # noqa: BLE001  (reported, never raised out of the fork)
                record = {"error": repr(exc)[:300]}
            record["peak_rss_mb"] = peak_rss_mb()
            os.write(write, json.dumps(record).encode())
            os._exit(0)
        os.close(write)
        deadline = time.monotonic() + query_timeout
        while not os.waitpid(pid, os.WNOHANG)[0]:
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                break
            time.sleep(0.5)
        with os.fdopen(read) as fh:
            text = fh.read()
        record = json.loads(text) if text else {"timed_out_s": query_timeout, "peak_rss_mb": peak_rss_mb()}
        _emit({"step": name, **record})


def _emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def child(method: str, args: list[str], timeout: float) -> dict[str, Any]:
    """Run ``--child method args`` in a fresh process; keep every JSON line it printed before any timeout."""
    log = OUT / f"realdata-{method}.log"
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, __file__, "--child", method, *args], stdout=out,
                                stderr=subprocess.STDOUT, cwd=REPO)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(60)
    result: dict[str, Any] = {"method": method, "wall_s": time.perf_counter() - start, "returncode": proc.returncode,
                              "timed_out": proc.returncode == -9}
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            step = record.pop("step", None)
            if step is None or step == "load":
                result.update(record)
            else:
                result.setdefault("questions", {})[step] = record
                result["peak_rss_mb"] = max(result.get("peak_rss_mb", 0.0), record.get("peak_rss_mb", 0.0))
    if proc.returncode:
        result["tail"] = log.read_text()[-1500:]
    return result


# --------------------------------------------------------------------------- report
def _status(ok: bool | None) -> str:
    return "—" if ok is None else ("met" if ok else "**missed**")


def _f(value: Any, fmt: str = ".2f") -> str:
    return format(value, fmt) if isinstance(value, (int, float)) else "—"


def report(result: dict[str, Any]) -> None:
    imp, svc = result.get("import") or {}, result.get("service") or {}
    w = svc.get("warm", {})
    tp = svc.get("throughput", {})
    rs, co = w.get("repeat_subjects", {}), w.get("co_accused", {})
    resident = svc.get("after_throughput", svc.get("end", {})).get("VmRSS")
    hwm = svc.get("end", {}).get("VmHWM")
    best = max((t.get("rps", 0) for t in tp.values()), default=None)

    def row(figure: str, measured: str, target: str, ok: bool | None) -> None:
        print(f"| {figure} | {measured} | {target} | {_status(ok)} |")

    print("\n| figure (issue 7) | measured | target | status |\n|---|---:|---:|---|")
    if "wall_s" in imp:
        when = f" (reused: imported {imp['imported_utc']} UTC)" if imp.get("reused") else ""
        row(f"import, with validation (wall; peak RSS){when}",
            f"{imp['wall_s']:.1f} s; {imp['peak_rss_mb'] / 1024:.1f} GB", "≤ 30 s", imp["wall_s"] <= 30)
    fr, fc = svc.get("first_repeat_subjects_s"), svc.get("first_co_accused_s")
    if fr is not None:
        row("`repeat-subjects`, first answer after server start (waits for facts)", f"{fr:.2f} s", "≤ 1 s", fr <= 1)
    if "restart_first_repeat_subjects_s" in svc:
        x = svc["restart_first_repeat_subjects_s"]
        row("`repeat-subjects`, first answer after a restart", f"{x:.2f} s", "≤ 1 s", x <= 1)
    if rs:
        row("`repeat-subjects`, warm p50 / p99", f"{rs['p50_ms']:.1f} / {rs['p99_ms']:.1f} ms", "≤ 10 / 50 ms",
            rs["p50_ms"] <= 10 and rs["p99_ms"] <= 50)
    if fc is not None:
        row("`co-accused`, first answer (builds the projection)", f"{fc:.2f} s", "≤ 3 s", fc <= 3)
    if co:
        row("`co-accused`, warm p50 / p99", f"{co['p50_ms']:.1f} / {co['p99_ms']:.1f} ms", "≤ 10 / 50 ms",
            co["p50_ms"] <= 10 and co["p99_ms"] <= 50)
    if "first_largest_component_s" in svc:
        x = svc["first_largest_component_s"]
        row("largest component (first)", f"{x:.2f} s", "≤ 2 s", x <= 2)
    if "first_centrality_top5_s" in svc:
        x = svc["first_centrality_top5_s"]
        row("top-5 degree centrality (first)", f"{x:.2f} s", "≤ 2 s", x <= 2)
    if resident is not None:
        row("server resident memory (VmRSS after the load test; VmHWM at the end)",
            f"{resident / 1024:.2f} GB; {hwm / 1024:.2f} GB", "≤ 1.5 GB", resident <= 1536)
    if best is not None:
        row("warm questions, 16 clients (best mix)", f"{best:.0f} requests/s", "≥ 500/s", best >= 500)

    if svc.get("checks"):
        print("\n| answer | service | ground truth | equal |\n|---|---:|---:|---|")
        for name, (got, want) in svc["checks"].items():
            print(f"| {name} | {got} | {want} | {'yes' if got == want else '**no**'} |")
        truth = result.get("csv_truth") or {}
        for name, q in svc.get("sparql", {}).items():
            if "rows" in q:
                print(f"| /sparql {name} rows | {q['rows']} | {truth.get(name)} | {'yes' if q['rows'] == truth.get(name) else '**no**'} |")

    if svc:
        print("\n| first answers after server start | s |\n|---|---:|")
        print(f"| /health answers | {_f(svc.get('health_s'))} |")
        for key in ("repeat_subjects", "co_accused", "co_accused_pairs", "largest_component", "centrality_top5",
                    "top5_by_complaints"):
            print(f"| {key} | {_f(svc.get(f'first_{key}_s'), '.3f')} |")
        print(f"| after a restart: repeat_subjects / co_accused | {_f(svc.get('restart_first_repeat_subjects_s'), '.3f')}"
              f" / {_f(svc.get('restart_first_co_accused_s'), '.3f')} |")
        print("\n| warm, sequential, new connection each | requests | p50 ms | p99 ms | max ms | non-200 | body KB |"
              "\n|---|---:|---:|---:|---:|---:|---:|")
        for name, x in w.items():
            print(f"| {x['url']} | {result['args']['requests']} | {x['p50_ms']:.1f} | {x['p99_ms']:.1f} | "
                  f"{x['max_ms']:.1f} | {x['non_200']} | {x['bytes'] / 1e3:.0f} |")
        print("\n| mix | URLs | clients | s | requests | req/s | p50 ms | p99 ms | non-200 | errors | MB/s | "
              "mean body KB | server CPU s | client CPU s |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for mix, t in tp.items():
            print(f"| {mix} | {t['urls']} | {t['procs']}×{t['threads']} | {t['elapsed_s']:.1f} | {t['requests']} | "
                  f"{t['rps']:.0f} | {t['p50_ms']:.1f} | {t['p99_ms']:.1f} | {t['non_200']} | {t['errors']} | "
                  f"{t['mb_per_s']:.0f} | {t['mean_body_kb']:.0f} | {t['server_cpu_s']:.1f} | {t['client_cpu_s']:.1f} |")
        print("\n| server memory (MB) | VmRSS | VmHWM |\n|---|---:|---:|")
        for when in ("after_first_answers", "after_warm", "after_throughput", "end", "after_restart"):
            if when in svc:
                print(f"| {when} | {svc[when]['VmRSS']:.0f} | {svc[when]['VmHWM']:.0f} |")

    peers = {m: result[m] for m in ("raw-pyoxigraph", "rdflib") if result.get(m)}
    if peers or svc.get("sparql"):
        print("\n| question | method | load s | first s | warm s | rows | peak RSS MB |\n|---|---|---:|---:|---:|---:|---:|")
        for name, (_, url) in QUESTIONS.items():
            if url == REPEAT and fr is not None:
                print(f"| {name} | oversight {url} | {_f(imp.get('wall_s'), '.1f')} | {fr:.3f} | "
                      f"{rs.get('p50_ms', float('nan')) / 1000:.4f} | {svc['checks'].get('officers in >= 2 complaints', ('—',))[0]} | "
                      f"{_f(hwm, '.0f')} |")
            if url == COACCUSED and fc is not None:
                print(f"| {name} | oversight {url} | {_f(imp.get('wall_s'), '.1f')} | {fc:.3f} | "
                      f"{co.get('p50_ms', float('nan')) / 1000:.4f} | {svc.get('co_accused_min2_total', '—')} | {_f(hwm, '.0f')} |")
            q = svc.get("sparql", {}).get(name, {})
            if "rows" in q:
                print(f"| {name} | oversight /sparql | — | {q['first_s']:.3f} | {q['warm_s']:.4f} | {q['rows']} | — |")
            for method, p in peers.items():
                pq = p.get("questions", {}).get(name) or {}
                if "rows" in pq:
                    rows = str(pq["rows"])
                elif "timed_out_s" in pq:
                    rows = f"not done in {pq['timed_out_s']:.0f} s"
                else:
                    rows = pq.get("error") or ("timed out" if p.get("timed_out") else "—")
                print(f"| {name} | {method} | {_f(p.get('load_s'), '.1f')} | {_f(pq.get('first_s'), '.3f')} | "
                      f"{_f(pq.get('warm_s'), '.4f')} | {rows} | {_f(pq.get('peak_rss_mb', p.get('peak_rss_mb')), '.0f')} |")
        print("\nRatios oversight / peer (below 1: oversight faster). A warm `/linkage` answer is the service's "
              "answer cache (per data version and URL); a warm peer answer is the query run again.\n")
        print("| question | oversight way | peer | first | warm |\n|---|---|---|---:|---:|")
        for name, (_, url) in QUESTIONS.items():
            ours = []
            if url == REPEAT and fr is not None and rs:
                ours.append((url, fr, rs["p50_ms"] / 1000))
            if url == COACCUSED and fc is not None and co:
                ours.append((url, fc, co["p50_ms"] / 1000))
            q = svc.get("sparql", {}).get(name, {})
            if "rows" in q:
                ours.append(("/sparql", q["first_s"], q["warm_s"]))
            for way, first, warm_s in ours:
                for method, p in peers.items():
                    pq = p.get("questions", {}).get(name)
                    if pq and "first_s" in pq:
                        pw = pq.get("warm_s", pq["first_s"])
                        print(f"| {name} | {way} | {method} | {first / pq['first_s']:.3g}× | {warm_s / pw:.3g}× |")
        for method, p in peers.items():
            if "load_s" in p and "wall_s" in imp:
                print(f"\nload: oversight import {imp['wall_s']:.1f} s vs {method} {p['load_s']:.1f} s of the dump "
                      f"({imp['wall_s'] / p['load_s']:.2f}×)")


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", type=Path, help="the data dir (OVERSIGHT_DATA_DIR); default a temp dir, deleted")
    parser.add_argument("--reuse", action="store_true", help="skip the import if --store already holds the data")
    parser.add_argument("--data", type=Path, default=DATA, help="the chicago-cpdp folder")
    parser.add_argument("--requests", type=int, default=200, help="sequential warm requests per question")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of each load-test mix")
    parser.add_argument("--procs", type=int, default=4, help="load-test client processes")
    parser.add_argument("--threads", type=int, default=4, help="client threads (connections) per process")
    parser.add_argument("--mixes", default="default,small")
    parser.add_argument("--server-threads", type=int, default=None, help="OVERSIGHT_THREADS (default: the setting's)")
    parser.add_argument("--skip-raw", action="store_true")
    parser.add_argument("--skip-rdflib", action="store_true")
    parser.add_argument("--import-timeout", type=float, default=1800)
    parser.add_argument("--raw-timeout", type=float, default=1800)
    parser.add_argument("--rdflib-timeout", type=float, default=3600, help="the whole rdflib child")
    parser.add_argument("--rdflib-query-timeout", type=float, default=900, help="each rdflib question")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        method, *rest = args.child
        if method == "dump":
            _emit(dump(Path(rest[0]), rest[1], Path(rest[2])))
        else:
            raw(Path(rest[0])) if method == "raw-pyoxigraph" else rdflib_method(Path(rest[0]), float(rest[1]))
        return 0

    OUT.mkdir(exist_ok=True)
    temporary = args.store is None
    store = Path(tempfile.mkdtemp(prefix="oversight-realdata-")) / "store" if temporary else args.store.resolve()
    nt = store.with_name(store.name + "-chicago.nt")
    result: dict[str, Any] = {
        "started_utc": f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M:%S}",
        "loadavg_start": os.getloadavg(), "git_start": _git(), "store": str(store),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "child"},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "mem_gb": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3},
        "parts_s": {}}

    def part(name: str, work):  # type: ignore[no-untyped-def]
        """Run one part, keep what it returns under result[name] (None if it failed), save the JSON so far."""
        print(f"[{time.strftime('%H:%M:%S')}] {name} (load average {os.getloadavg()[0]:.2f})", file=sys.stderr,
              flush=True)
        start = time.perf_counter()
        result[name] = None
        try:
            result[name] = work()
            return result[name]
        except Exception as exc:  # noqa: BLE001  (a benchmark part that fails is reported, the rest still runs)
            result.setdefault("errors", {})[name] = repr(exc)[:500]
            print(f"  {name} failed: {exc!r}", file=sys.stderr, flush=True)
            return None
        finally:
            result["parts_s"][name] = time.perf_counter() - start
            (OUT / "realdata.json").write_text(json.dumps(result, indent=2, default=str))

    previous_import = None  # with --reuse: the figures of the run that imported into this folder, if saved
    try:
        previous = json.loads((OUT / "realdata.json").read_text())
        if previous.get("store") == str(store) and (previous.get("import") or {}).get("wall_s"):
            previous_import = {**previous["import"], "reused": True,
                               "imported_utc": previous["import"].get("imported_utc", previous.get("started_utc"))}
    except (OSError, ValueError):
        pass
    try:
        part("csv_truth", lambda: _csv_truth(args.data))
        if args.reuse and has_data(store):
            result["import"] = previous_import or {"reused": True}
        else:
            if store.exists() and any(store.iterdir()):
                parser.error(f"{store} is not empty: remove it, or pass --reuse to use the data it holds")
            nt.unlink(missing_ok=True)
            part("import", lambda: do_import(store, args.data, args.import_timeout))
            if not result["import"] or result["import"].get("returncode"):
                print(json.dumps(result["import"], indent=2), file=sys.stderr)
                return 1
        result["service"] = part("service", lambda: service(store, args)) or {}
        graph = result["service"].get("graph") or result["import"].get("graph")
        mark = nt.with_name(nt.name + ".graph")
        if not args.skip_raw or not args.skip_rdflib:
            if not (nt.exists() and mark.exists() and mark.read_text() == graph):
                nt.unlink(missing_ok=True)
                part("dump", lambda: child("dump", [str(store), str(graph), str(nt)], 1800))
                if result["dump"] and not result["dump"].get("returncode"):
                    mark.write_text(str(graph))
            else:
                result["dump"] = {"reused": str(nt)}
            if not args.skip_raw and nt.exists():
                part("raw-pyoxigraph", lambda: child("raw-pyoxigraph", [str(nt)], args.raw_timeout))
            if not args.skip_rdflib and nt.exists():
                part("rdflib", lambda: child("rdflib", [str(nt), str(args.rdflib_query_timeout)],
                                             args.rdflib_timeout))
    finally:
        result["loadavg_end"] = os.getloadavg()
        result["git_end"] = _git()
        result["finished_utc"] = f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M:%S}"
        (OUT / "realdata.json").write_text(json.dumps(result, indent=2, default=str))
        if temporary:
            shutil.rmtree(store.parent, ignore_errors=True)
    report(result)
    print(f"\nparts (s): {', '.join(f'{k} {v:.0f}' for k, v in result['parts_s'].items())}; load average "
          f"{result['loadavg_start'][0]:.2f} at the start, {result['loadavg_end'][0]:.2f} at the end; "
          f"git {result['git_start']['head']}" + (" (dirty: " + ", ".join(result["git_start"]["dirty"]) + ")"
                                                   if result["git_start"]["dirty"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
