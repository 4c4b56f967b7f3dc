"""Faults: loads and a server killed with SIGKILL at random points; the store must read exactly as before, or as after.

    python bench/faults.py                      # 20 trials, seed 1, 1e5 synthetic triples
    python bench/faults.py --trials 3 --triples 1e4

A base store gets the bundled case (``python -m api load``); a snapshot of it is taken in a fresh process:
its data version, sources (run, graph) and every named graph (by source, ``meta``, or ``orphan``) with its
quad count and the SHA-256 of its sorted N-Triples. One full load of the synthetic file (bench/generate.py)
and one PUT of it to a server are timed first. Then, per trial, on a fresh copy of the base store:

1. ``python -m api load FILE --source synthetic`` is killed with SIGKILL after a random delay within the
   load's duration. A read-only snapshot counts orphan graphs; a read-write one (opening collects them)
   must equal the base exactly, or (when the load committed first) be exactly the new version: the
   other sources untouched, the synthetic graph's content as in the timed load, no orphans.
2. ``oversight serve`` is started on that store and killed with SIGKILL after a random delay within a
   ``PUT /sources/synthetic``; restarted, its ``/health`` must give the data version of the store as
   the next snapshot finds it, and that snapshot must be the state before the PUT or exactly after it.

Prints a markdown table of the trials and a summary; writes bench/out/faults.json (work in
bench/out/faults-run/, server logs there too).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from common import MAX_UPLOAD_BYTES, serve, stop  # noqa: E402  # bench/common.py

OUT = BENCH / "out"
SERVER = {"STORE": "oxigraph", "LOAD_BUNDLED": "false", "AUTH": "true", "MAX_UPLOAD_BYTES": MAX_UPLOAD_BYTES}
WORK = OUT / "faults-run"
Snapshot = dict[str, Any]


def snapshot_here(folder: Path, read_only: bool) -> Snapshot:
    """(In the child process.) The store as a reader finds it: version, sources, and every graph's content."""
    import pyoxigraph as ox

    from graph import open_database
    from graph.settings import resolve

    db = open_database(resolve({"STORE": "oxigraph", "DATA_DIR": str(folder)}, environ={}), read_only=read_only)
    try:
        sources = db.sources
        label = {rec.graph.value: name for name, rec in sources.items()} | {db.meta.value: "meta"}
        graphs, store = {}, db.backend.store  # type: ignore[attr-defined]  # an OxigraphBackend
        for graph in [*db.backend.named_graphs(), None]:  # None: the default graph
            lines = sorted(f"{q.subject} {q.predicate} {q.object} ."
                           for q in store.quads_for_pattern(None, None, None, ox.DefaultGraph() if graph is None else graph))
            name = "default" if graph is None else label.get(graph.value, f"orphan {graph.value}")
            graphs[name] = {"quads": len(lines), "sha256": hashlib.sha256("\n".join(lines).encode()).hexdigest()}
        runs = {rec.run.rsplit("/", 1)[1] + ".pairs" for rec in sources.values()}
        derived = sorted(p.name for p in (folder / "oversight-derived").glob("*") if p.name not in runs)
        return {"data_version": db.data_version, "graphs": graphs, "stray_derived_files": derived,
                "sources": {name: {"run": rec.run, "graph": rec.graph.value} for name, rec in sources.items()}}
    finally:
        db.close()


def snapshot(folder: Path, read_only: bool = False) -> Snapshot:
    """A snapshot taken by a fresh process (read-write: opening collects orphans, as a restart does)."""
    args = [sys.executable, __file__, "--snapshot", str(folder)] + (["--read-only"] if read_only else [])
    done = subprocess.run(args, check=True, capture_output=True, text=True, timeout=600)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def verdict(before: Snapshot, after: Snapshot, synthetic: str) -> str:
    """``as before``, ``new version`` (the synthetic source exactly as loaded, the rest untouched) or what is wrong."""
    before, after = ({k: v for k, v in s.items() if k != "stray_derived_files"} for s in (before, after))
    if after == before:
        return "as before"
    orphans = [g for g in after["graphs"] if g.startswith("orphan")]
    others = {k: v for k, v in before["sources"].items() if k != "synthetic"}
    if orphans:
        return f"BAD: orphan graphs {orphans}"
    if {k: after["sources"].get(k) for k in others} != others or set(after["sources"]) != {*others, "synthetic"}:
        return "BAD: sources changed"
    if after["graphs"].get("synthetic", {}).get("sha256") != synthetic:
        return "BAD: the synthetic graph is not the file's content"
    if after["data_version"] == before["data_version"] or after["sources"] == before["sources"]:
        return "BAD: content changed but not the version"
    return "new version"


def load(folder: Path, file: Path, source: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OVERSIGHT_DATA_DIR": str(folder), "OVERSIGHT_STORE": "oxigraph"}
    return subprocess.Popen([sys.executable, "-m", "api", "load", str(file), "--source", source], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def put(url: str, token: str, file: Path, result: dict[str, Any]) -> None:
    request = urllib.request.Request(url + "/sources/synthetic", data=file.read_bytes(), method="PUT", headers={
        "Content-Type": "application/n-triples", "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            result.update(status=response.status, body=json.loads(response.read()))
    except OSError as exc:
        result.update(status=0, error=f"{type(exc).__name__}: {exc}")


def health(url: str) -> str:
    return str(json.loads(urllib.request.urlopen(url + "/health", timeout=10).read())["data_version"])


def crash_put(folder: Path, file: Path, delay: float | None, log: Path) -> dict[str, Any]:
    """Serve `folder`, PUT the file, SIGKILL the server `delay` s into the PUT (None: let it finish)."""
    from api.access import Tokens

    token = Tokens(folder).create("steward", "faults steward")[1]
    proc, url = serve(folder, log=log, env=SERVER, timeout=60)
    result: dict[str, Any] = {"health_before": health(url)}
    sender = threading.Thread(target=put, args=(url, token, file, result))
    start = time.perf_counter()
    sender.start()
    if delay is None:
        sender.join()
        result["seconds"] = time.perf_counter() - start
        proc.terminate()
    else:
        time.sleep(delay)
        proc.kill()
        sender.join()
    proc.wait(60)
    result["server_exit"] = proc.returncode
    proc, url = serve(folder, log=log, env=SERVER, timeout=60)  # the restart after the crash
    try:
        result["health_after"] = health(url)
    finally:
        stop(proc)
    return result


def main(argv: list[str] | None = None) -> int:
    from graph.ingest.cases import bundled_path

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--triples", type=float, default=1e5)
    parser.add_argument("--snapshot", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--read-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.snapshot:
        print(json.dumps(snapshot_here(args.snapshot, args.read_only)))
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    n, rng = int(args.triples), random.Random(args.seed)
    file = OUT / f"synthetic-{n}-s{args.seed}.nt"
    if not file.exists():
        subprocess.run([sys.executable, str(BENCH / "generate.py"), "--triples", str(n), "--seed", str(args.seed),
                        "-o", str(file)], check=True)
    shutil.rmtree(WORK, ignore_errors=True)
    base, timing, trial = WORK / "base", WORK / "timing", WORK / "trial"
    assert load(base, bundled_path(), "charing-cross").wait() == 0, "the bundled case did not load"
    before = snapshot(base)
    shutil.copytree(base, timing)
    start = time.perf_counter()
    assert load(timing, file, "synthetic").wait() == 0, "the synthetic file did not load"
    load_s = time.perf_counter() - start
    loaded = snapshot(timing)
    synthetic = loaded["graphs"]["synthetic"]["sha256"]
    assert verdict(before, loaded, synthetic) == "new version", verdict(before, loaded, synthetic)
    timed = crash_put(timing, file, None, WORK / "timing-server.log")
    put_s = timed["seconds"]
    assert timed.get("status") == 200 and timed["health_after"] == timed["body"]["data_version"], timed
    print(f"load of {n:,} triples: {load_s:.1f} s (process start to exit); PUT through a server: {put_s:.1f} s; "
          f"seed {args.seed}; {os.cpu_count()} CPUs, Python {sys.version.split()[0]}", flush=True)
    trials = []
    for t in range(args.trials):
        shutil.rmtree(trial, ignore_errors=True)
        shutil.copytree(base, trial)
        delay = rng.uniform(0, load_s)
        proc = load(trial, file, "synthetic")
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=600)
        killed = proc.returncode == -signal.SIGKILL
        raw = snapshot(trial, read_only=True)
        after = snapshot(trial)
        state = verdict(before, after, synthetic)
        ok = state in ("as before", "new version") if killed else state == "new version" and proc.returncode == 0
        put_delay = rng.uniform(0, put_s)
        crash = crash_put(trial, file, put_delay, WORK / f"trial-{t}-server.log")
        final = snapshot(trial)
        crash_state = verdict(after, final, synthetic)
        crash_ok = (crash_state in ("as before", "new version") and crash["health_before"] == after["data_version"]
                    and crash["health_after"] == final["data_version"])
        trials.append({"trial": t, "load_kill_s": round(delay, 2), "load": ("killed after commit" if state == "new version"
                       else "killed") if killed else f"finished (exit {proc.returncode})", "orphans": sum(g.startswith("orphan") for g in raw["graphs"]),
                       "stray_files": after["stray_derived_files"] + final["stray_derived_files"],
                       "store": state, "store_ok": ok, "put_kill_s": round(put_delay, 2), "put_status": crash.get("status"),
                       "server_exit": crash["server_exit"], "after_restart": crash_state, "health_before": crash["health_before"],
                       "health_after": crash["health_after"], "restart_ok": crash_ok})
        r = trials[-1]
        print(f"trial {t}: load {r['load']} at {delay:.2f} s -> {state} ({r['orphans']} orphan graph(s) before reopening);"
              f" server killed {put_delay:.2f} s into a PUT -> {crash_state}, /health {crash['health_after']}"
              f" {'ok' if crash_ok else 'WRONG'}", flush=True)
    summary = {"trials": len(trials), "loads_killed": sum(r["load"].startswith("killed") for r in trials),
               "loads_finished_first": sum(r["load"].startswith("finished") for r in trials),
               "store_as_before": sum(r["store"] == "as before" for r in trials),
               "store_new_version": sum(r["store"] == "new version" for r in trials),
               "store_bad": sum(not r["store_ok"] for r in trials),
               "put_crash_as_before": sum(r["after_restart"] == "as before" for r in trials),
               "put_crash_new_version": sum(r["after_restart"] == "new version" for r in trials),
               "restart_bad": sum(not r["restart_ok"] for r in trials),
               "stray_derived_files": sum(len(r["stray_files"]) for r in trials)}
    (OUT / "faults.json").write_text(json.dumps({"seed": args.seed, "triples": n, "load_s": load_s, "put_s": put_s,
                                                 "nproc": os.cpu_count(), "python": sys.version.split()[0], "loadavg_end": os.getloadavg(),
                                                 "base": before, "summary": summary, "trials": trials}, indent=2))
    print("\n| trial | load killed at s | load | orphans before reopen | store after | ok |"
          " server killed at s into PUT | PUT answer | store after restart | /health after restart | ok |")
    print("|---:|---:|---|---:|---|---|---:|---|---|---|---|")
    for r in trials:
        print(f"| {r['trial']} | {r['load_kill_s']:.2f} | {r['load']} | {r['orphans']} | {r['store']} |"
              f" {'yes' if r['store_ok'] else 'NO'} | {r['put_kill_s']:.2f} | {r['put_status'] or 'none'} | {r['after_restart']} |"
              f" {r['health_after']} | {'yes' if r['restart_ok'] else 'NO'} |")
    print("\n" + "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in summary.items()))
    return 1 if summary["store_bad"] or summary["restart_bad"] else 0


if __name__ == "__main__":
    sys.exit(main())
