"""Load benchmark: oversight-graph load (with validation) against raw pyoxigraph and rdflib.

Usage::

    python bench/load.py                      # sizes 1e4,1e5,1e6,1.6e6, seed 1
    python bench/load.py --sizes 1e4,1e5 --seed 7

For each size the synthetic file (bench/generate.py) is generated once and
cached in bench/out/. Then each measurement runs in a fresh subprocess, so
its peak RSS (``ru_maxrss`` of that child) is its own:

* ``oversight``: ``graph.load`` into an on-disk Oxigraph store in a temp dir,
  validation included. Only the ``load()`` call is timed (wall). Inside the
  child, functions of ``graph.ingest.load`` are wrapped with timers: ``_read_file``
  (read: parse into the scratch in-memory store), ``validate_graph`` and
  ``confirm`` (validation, and the time of each stored query), ``_write``
  (write: the bulk load into the disk store, which runs in a background
  ``_Writer`` thread beside validation), ``_Writer.join`` (the main thread
  waiting for the write), ``checksum`` and ``Database.commit``. The phases
  overlap, so they are reported side by side and never subtracted from
  each other;
* ``raw-pyoxigraph``: ``pyoxigraph.Store(tmp).bulk_load(path=..., format=N_TRIPLES)``;
* ``raw-pyoxigraph-graph``: the same, into one named graph (``to_graph=``), as
  oversight-graph stages a source: a reference, not one of the issue's targets;
* ``rdflib``: ``rdflib.Graph().parse(file, format="nt")`` in memory (skipped
  above ``--rdflib-max`` triples).

Prints a markdown table and writes bench/out/load.json. Every measurement has
a timeout (``--timeout``), so a run is bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from common import peak_rss_mb  # noqa: E402  # bench/common.py

ROOT = BENCH.parent
OUT = BENCH / "out"
METHODS = ("oversight", "raw-pyoxigraph", "raw-pyoxigraph-graph", "rdflib")
DEFAULT_SIZES = "1e4,1e5,1e6,1.6e6"


# --------------------------------------------------------------------------- children
def _child_oversight(file: Path) -> dict:
    sys.path.insert(0, str(ROOT))  # the editable install may not map `graph`; use this checkout's
    from graph import load, open_database, plan
    from graph.ingest import load as ingest
    from graph.ingest.validation import COMPONENTS
    from graph.queries import internal
    from graph.settings import resolve

    texts = {internal(name).text: name for name in (*COMPONENTS, "value-class", "value-count", "profile-types", "profile-counts", "profile-values", "profile-terms")}
    # phase -> seconds, timed by wrapping functions of graph.ingest.load in this child only. The phases
    # overlap: graph.ingest.load._stage starts the disk write (_write, in a _Writer thread) and validates
    # on the main thread meanwhile, so the phases do not add up to the load time.
    # Main thread, one after another: "read" (_read_file: parse into the scratch store),
    # "validate" (validate_graph), "confirm" (confirm), "wait" (_Writer.join: blocked on the
    # writer after validation), "checksum" (checksum), "commit" (Database.commit).
    # Writer thread: "write" (_write: bulk load into the staged graph of the disk store).
    timings: dict[str, float] = {k: 0.0 for k in ("read", "validate", "confirm", "wait", "checksum", "commit",
                                                   "write")}
    marks: dict[str, float] = {}  # event -> seconds since load() started (when write/validation ran)
    queries: dict[str, float] = {}
    origin = [0.0]

    def timed(phase, function):
        def run(*args, **kwargs):
            started = time.perf_counter()
            marks.setdefault(f"{phase}_start", started - origin[0])
            try:
                return function(*args, **kwargs)
            finally:
                ended = time.perf_counter()
                timings[phase] += ended - started
                marks[f"{phase}_end"] = ended - origin[0]
        return run

    def timed_query(db_query):
        def run(text, **kwargs):
            started = time.perf_counter()
            rows = list(db_query(text, **kwargs))  # materialised so the query's time is all here
            name = texts.get(text, "other")
            queries[name] = queries.get(name, 0.0) + time.perf_counter() - started
            return rows
        return run

    real_validate, real_confirm = ingest.validate_graph, ingest.confirm
    ingest.validate_graph = timed("validate", lambda db_query, *a, **kw: real_validate(timed_query(db_query), *a, **kw))
    ingest.confirm = timed("confirm", lambda db_query, *a, **kw: real_confirm(timed_query(db_query), *a, **kw))
    ingest.checksum = timed("checksum", ingest.checksum)
    ingest._read_file = timed("read", ingest._read_file)
    ingest._write = timed("write", ingest._write)  # looked up by _Writer.run in its own thread
    ingest._Writer.join = timed("wait", ingest._Writer.join)
    rss_before = peak_rss_mb()
    with tempfile.TemporaryDirectory(prefix="bench-oversight-") as tmp:
        db = open_database(resolve({"STORE": "oxigraph", "DATA_DIR": tmp}))
        db.commit = timed("commit", db.commit)
        origin[0] = started = time.perf_counter()
        reports = load(db, plan([file], source="synthetic"), user="bench")
        seconds = time.perf_counter() - started
        db.close()
    validation = timings["validate"] + timings["confirm"]
    main_thread = timings["read"] + validation + timings["wait"] + timings["checksum"] + timings["commit"]
    return {"seconds": seconds, "triples": reports[0].triples, "rss_before_mb": rss_before,
            "read_seconds": timings["read"], "validation_seconds": validation,
            "validate_graph_seconds": timings["validate"], "confirm_seconds": timings["confirm"],
            "write_seconds": timings["write"], "wait_seconds": timings["wait"],
            "checksum_seconds": timings["checksum"], "commit_seconds": timings["commit"],
            # the part of load() on the main thread outside every timed main-thread phase (scratch store
            # and ontology set-up, triple count, threads); the write is not subtracted: it overlaps
            "rest_seconds": seconds - main_thread,
            "marks": {k: round(v, 3) for k, v in sorted(marks.items())},
            "query_seconds": dict(sorted(queries.items()))}


def _child_raw(file: Path, *, named: bool = False) -> dict:
    import pyoxigraph as ox

    rss_before = peak_rss_mb()
    graph = ox.NamedNode("https://w3id.org/oversight/id/graph/bench") if named else None
    with tempfile.TemporaryDirectory(prefix="bench-raw-") as tmp:
        store = ox.Store(tmp)
        started = time.perf_counter()
        if graph is None:
            store.bulk_load(path=str(file), format=ox.RdfFormat.N_TRIPLES)
        else:
            store.bulk_load(path=str(file), format=ox.RdfFormat.N_TRIPLES, to_graph=graph)
        seconds = time.perf_counter() - started
        triples = len(store)
        del store
    return {"seconds": seconds, "triples": triples, "rss_before_mb": rss_before}


def _child_rdflib(file: Path) -> dict:
    import rdflib

    rss_before = peak_rss_mb()
    graph = rdflib.Graph()
    started = time.perf_counter()
    graph.parse(str(file), format="nt")
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "triples": len(graph), "rss_before_mb": rss_before}


CHILDREN = {"oversight": _child_oversight, "raw-pyoxigraph": _child_raw,
            "raw-pyoxigraph-graph": lambda file: _child_raw(file, named=True), "rdflib": _child_rdflib}


def _child(method: str, file: Path) -> int:
    result = CHILDREN[method](file)
    result["peak_rss_mb"] = peak_rss_mb()
    print("RESULT " + json.dumps(result))
    return 0


# --------------------------------------------------------------------------- parent
def _machine() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    versions = {}
    for package in ("rdflib", "pyoxigraph", "pyshacl", "oxrdflib"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {"nproc": len(os.sched_getaffinity(0)), "cpu": model, "memory_gib": mem_gib,
            "platform": platform.platform(), "python": platform.python_version(), "packages": versions}


def _ensure_file(n: int, seed: int) -> tuple[Path, float | None]:
    path = OUT / f"synthetic-{n}-s{seed}.nt"
    if path.exists():
        return path, None
    started = time.perf_counter()
    subprocess.run([sys.executable, str(BENCH / "generate.py"), "--triples", str(n), "--seed", str(seed),
                    "-o", str(path)], check=True)
    return path, time.perf_counter() - started


def _measure(method: str, file: Path, timeout: float) -> dict:
    started = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", method, str(file)],
                              check=False, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "wall_seconds": time.perf_counter() - started}
    wall = time.perf_counter() - started
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        return {"status": "error", "returncode": proc.returncode, "stderr": proc.stderr[-4000:],
                "wall_seconds": wall}
    result = json.loads(lines[-1][len("RESULT "):])
    result.update(status="ok", wall_seconds=wall, triples_per_second=result["triples"] / result["seconds"])
    return result


def _fmt(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{x:,.{digits}f}"


def _table(results: list[dict]) -> str:
    rows = ["| triples | method | load s | triples/s | peak RSS MB | note |",
            "|---:|---|---:|---:|---:|---|"]
    for entry in results:
        for method in METHODS:
            r = entry["methods"].get(method)
            if r is None:
                continue
            if r["status"] != "ok":
                rows.append(f"| {entry['triples']:,} | {method} | – | – | – | {r['status']} |")
                continue
            note = ""
            if method == "oversight":
                note = (f"validation {r['validation_seconds']:.1f} s "
                        f"({100 * r['validation_seconds'] / r['seconds']:.0f}%), read {r['read_seconds']:.1f} s, "
                        f"write {r['write_seconds']:.1f} s beside validation")
            rows.append(f"| {entry['triples']:,} | {method} | {_fmt(r['seconds'], 2)} | "
                        f"{_fmt(r['triples_per_second'], 0)} | {_fmt(r['peak_rss_mb'], 0)} | {note} |")
    rows += ["", ("| triples | oversight / raw pyoxigraph | oversight / raw pyoxigraph (named graph) "
                  "| oversight / rdflib | validation share |"),
             "|---:|---:|---:|---:|---:|"]
    for entry in results:
        ratios = entry["ratios"]
        share = ratios.get("validation_share")
        rows.append(f"| {entry['triples']:,} | {_fmt(ratios.get('oversight_over_raw'), 3)}x | "
                    f"{_fmt(ratios.get('oversight_over_raw_graph'), 3)}x | "
                    f"{_fmt(ratios.get('oversight_over_rdflib'), 2)}x | "
                    f"{'–' if share is None else f'{100 * share:.0f}%'} |")
    phases = [(entry["triples"], entry["methods"]["oversight"]) for entry in results
              if entry["methods"].get("oversight", {}).get("status") == "ok"]
    if phases:
        rows += ["", "oversight phases, seconds. Phases overlap: write runs beside validation (in a second thread),",
                 "so they do not add up to the wall time. \"wait\" is the main thread blocked on the write after",
                 "validation; \"rest\" is wall minus the main-thread phases (read, validation, wait, checksum, commit).",
                 "",
                 ("| triples | wall | read (scratch) | validation | share | write (background) | wait for write "
                  "| checksum | commit | rest |"),
                 "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for n, r in phases:
            rows.append(f"| {n:,} | {r['seconds']:.2f} | {r['read_seconds']:.2f} | {r['validation_seconds']:.2f} | "
                        f"{100 * r['validation_seconds'] / r['seconds']:.0f}% | {r['write_seconds']:.2f} | "
                        f"{r['wait_seconds']:.2f} | {r['checksum_seconds']:.2f} | {r['commit_seconds']:.2f} | "
                        f"{r['rest_seconds']:.2f} |")
    names = sorted({q for e in results for q in e["methods"].get("oversight", {}).get("query_seconds", {})})
    if names:
        rows += ["", "| triples | " + " | ".join(names) + " |", "|---:|" + "---:|" * len(names)]
        for entry in results:
            qs = entry["methods"].get("oversight", {}).get("query_seconds", {})
            rows.append(f"| {entry['triples']:,} | " + " | ".join(_fmt(qs.get(n), 2) for n in names) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES,
                        help=f"comma-separated triple counts (default {DEFAULT_SIZES})")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--methods", default=",".join(METHODS), help="subset of " + ",".join(METHODS))
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds allowed per measurement (default 600); a timeout is recorded, not fatal")
    parser.add_argument("--rdflib-max", type=lambda v: int(float(v)), default=1_700_000,
                        help="skip rdflib above this many triples (default 1.7e6)")
    parser.add_argument("--json", type=Path, default=OUT / "load.json")
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child[0], Path(args.child[1]))

    sizes = [int(float(s)) for s in args.sizes.split(",") if s.strip()]
    methods = [m for m in args.methods.split(",") if m]
    unknown = set(methods) - set(METHODS)
    if unknown:
        parser.error(f"unknown method(s) {sorted(unknown)}")
    OUT.mkdir(parents=True, exist_ok=True)
    run_started = time.perf_counter()
    report = {"started": datetime.now(UTC).isoformat(timespec="seconds"), "seed": args.seed,
              "machine": _machine(), "timeout_seconds": args.timeout, "results": []}
    for n in sizes:
        file, gen_seconds = _ensure_file(n, args.seed)
        entry = {"triples": n, "file": str(file.relative_to(ROOT)), "file_mb": file.stat().st_size / 1e6,
                 "generate_seconds": gen_seconds, "methods": {}}
        size_started = time.perf_counter()
        for method in methods:
            if method == "rdflib" and n > args.rdflib_max:
                entry["methods"][method] = {"status": f"skipped (> {args.rdflib_max:,} triples)"}
                continue
            print(f"[{n:,}] {method} ...", file=sys.stderr, flush=True)
            result = _measure(method, file, args.timeout)
            entry["methods"][method] = result
            if result["status"] == "ok":
                print(f"[{n:,}] {method}: {result['seconds']:.2f} s, {result['triples_per_second']:,.0f} triples/s,"
                      f" peak RSS {result['peak_rss_mb']:,.0f} MB", file=sys.stderr, flush=True)
            else:
                print(f"[{n:,}] {method}: {result['status']} {result.get('stderr', '')}", file=sys.stderr,
                      flush=True)
        entry["wall_seconds"] = time.perf_counter() - size_started
        ok = {m: r for m, r in entry["methods"].items() if r.get("status") == "ok"}
        ratios: dict[str, float] = {}
        if "oversight" in ok:
            ratios["validation_share"] = ok["oversight"]["validation_seconds"] / ok["oversight"]["seconds"]
            for other, key in (("raw-pyoxigraph", "oversight_over_raw"),
                               ("raw-pyoxigraph-graph", "oversight_over_raw_graph"),
                               ("rdflib", "oversight_over_rdflib")):
                if other in ok:
                    ratios[key] = ok["oversight"]["triples_per_second"] / ok[other]["triples_per_second"]
        entry["ratios"] = ratios
        report["results"].append(entry)
        args.json.write_text(json.dumps(report, indent=2) + "\n")  # partial results survive a later failure
    report["wall_seconds"] = time.perf_counter() - run_started
    report["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    m = report["machine"]
    print(f"Machine: {m['nproc']} CPU(s), {m['cpu']}, {m['memory_gib']} GiB; Python {m['python']}; "
          + ", ".join(f"{k} {v}" for k, v in m["packages"].items()))
    print()
    print(_table(report["results"]))
    print()
    print(f"Total wall time {report['wall_seconds']:.0f} s; JSON in {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
