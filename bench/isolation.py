"""SPARQL in confined workers (issue 13): what the worker design costs, and what runaways, reloads and time do to it.

    python bench/isolation.py                       # 400 cheap queries a way, 3 rounds of 4 runaways, 1,000 cycles
    python bench/isolation.py --runs 100 --rounds 1 --cycles 200 --previous ''     # a quicker run, no old version

A real ``oversight serve`` (bench/common.py's ``serve`` with bench/stress.py's settings: auth on, tokens made
beforehand with ``api.access.Tokens``, the bundled case, ``OVERSIGHT_SPARQL_TIMEOUT`` = ``--timeout``) on
loopback, over a fresh store in bench/out/isolation-run/. Four parts, one run:

1. **Cost.** A count (``CHEAP``) and a 1-row lookup, ``--runs`` times each, alternating between the ways
   so all see the same machine: through ``/sparql`` (keep-alive, JSON read to the end); on raw pyoxigraph
   in this process, over a copy of the server's own read-only checkpoint, with the same default graph,
   results serialised as JSON; and, unless ``--previous ''``, through ``/sparql`` of the version at commit
   ``--previous`` (before the workers: queries ran in the server's threads), extracted with ``git
   archive`` and served from that folder with this venv. ``/health`` is timed in the same loop.
2. **Runaways.** ``--rounds`` times: cheap queries and ``/health`` alternate for ``--idle`` turns with no
   runaway, then the same while 4 cross-join runaways (``RUNAWAY``) run at once; reported as ratios of
   busy to idle p50/p99. Each runaway's answer (it must be a 503) is timed from its request, so "past the
   limit" is that time minus the limit. Then the next cheap query is timed, and the forkserver's
   children counted.
3. **Descriptors.** ``--cycles`` PUT/DELETE cycles of a small Turtle source by a steward (a cheap query every
   ``--query-every``), sampled every ``--sample-every``: the server's open descriptors, the workers'
   (and how many of theirs are deleted files), and the ``*.sst`` files of the store and of its checkpoints.
4. **Memory.** VmRSS (and PSS, which shares the forkserver's pages out fairly) of the server, the forkserver
   and each worker (its children): idle, during and after the runaways, and after the cycles.

Every loop is bounded in count and by ``--max-seconds``; all traffic is to 127.0.0.1 (the editor's registry
is pointed at a closed loopback port). Figures are ratios to a peer in the same run, never assertions.
Prints markdown tables; writes bench/out/isolation.json. Exit 1 if a runaway was not a 503 or a cheap query
failed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from common import free_port, serve, stop, vm  # noqa: E402  # bench/common.py: the server, VmRSS/VmHWM/CPU of a process
from stress import SERVER, Client, pct  # noqa: E402  # bench/stress.py: server settings, client, percentile

OUT = BENCH / "out"
CHEAP = "SELECT (COUNT(*) AS ?n) WHERE { ?o a ov:Officer }"
FIRST_OFFICER = "SELECT ?o WHERE { ?o a ov:Officer } ORDER BY ?o LIMIT 1"
LOOKUP = "SELECT ?id WHERE { <%s> ov:identifier ?id }"
# A cross join of three patterns: about 6e10 rows to count on the bundled case.
RUNAWAY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"
TOKEN_MAKER = "import sys; from api.access import Tokens; print(Tokens(sys.argv[1]).create(sys.argv[2], 'bench')[1])"


def _path(text: str) -> str:
    return "/sparql?" + urllib.parse.urlencode({"query": text})


def _ask(client: Client, token: str, text: str) -> tuple[float, bytes]:
    status, _, body, seconds = client.send("GET", _path(text), token)
    if status != 200:
        raise RuntimeError(f"{status} for {text[:60]!r}: {body[:300]!r}")
    return seconds, body


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
    return found


def _pss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _forkserver(server: int) -> int | None:
    for pid in _children(server):
        with contextlib.suppress(OSError):
            if b"forkserver" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
    return None


def _descriptors(pid: int) -> tuple[int, int]:
    """Open descriptors of `pid`, and how many of them are files deleted since."""
    fds = deleted = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            deleted += os.readlink(f"/proc/{pid}/fd/{fd}").endswith(" (deleted)")
            fds += 1
    return fds, deleted


def memory(server: int) -> dict[str, Any]:
    """MB of the server, its forkserver and the forkserver's children (the workers)."""
    out: dict[str, Any] = {"server_rss": vm(server)["VmRSS"], "server_hwm": vm(server)["VmHWM"],
                           "server_pss": _pss_mb(server)}
    fork = _forkserver(server)
    workers = []
    for pid in _children(fork) if fork else []:
        with contextlib.suppress(OSError, KeyError):
            workers.append((vm(pid)["VmRSS"], _pss_mb(pid)))
    out.update(forkserver_rss=vm(fork)["VmRSS"] if fork else None, workers=len(workers),
               workers_rss=sum(w[0] for w in workers), workers_pss=sum(w[1] for w in workers),
               worker_rss_max=max((w[0] for w in workers), default=0.0))
    return out


def files(server: int, store: Path) -> dict[str, int]:
    fds, _ = _descriptors(server)
    fork = _forkserver(server)
    worker = [_descriptors(pid) for pid in (_children(fork) if fork else []) if Path(f"/proc/{pid}").exists()]
    snaps = store / "snapshots"
    return {"server_fds": fds, "server_rss": round(vm(server)["VmRSS"]), "workers": len(worker), "worker_fds": sum(w[0] for w in worker),
            "worker_deleted_fds": sum(w[1] for w in worker), "store_sst": len(list(store.glob("*.sst"))),
            "snapshot_sst": len(list(snaps.glob("*/*.sst"))),
            "snapshots": len(list(snaps.iterdir())) if snaps.is_dir() else 0}


def gone(pids: list[int], limit: float) -> float | None:
    """Seconds until none of `pids` is alive (a zombie counts as gone); None if some outlive `limit`."""
    start = time.monotonic()
    while time.monotonic() < start + limit:
        alive = []
        for pid in pids:
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                    alive.append(pid)
        if not alive:
            return round(time.monotonic() - start, 2)
        time.sleep(0.05)
    return None


def previous_server(commit: str, folder: Path) -> tuple[subprocess.Popen[bytes], int, str]:
    """The version at `commit`, extracted with git archive and served from its folder with this venv."""
    tree = folder / "tree"
    archive = subprocess.run(["git", "-C", str(BENCH.parent), "archive", commit], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tree, filter="data")
    store = folder / "store"
    token = subprocess.run([sys.executable, "-c", TOKEN_MAKER, str(store), "investigator"], cwd=tree, check=True,
                           capture_output=True, text=True).stdout.strip()
    port = free_port()
    # run in the old tree: `python -m api` then imports the old tree's packages (sys.path[0] is the cwd)
    proc, _ = serve(store, port, log=folder / "server.log", env=SERVER, cwd=tree)
    return proc, port, token


def cost(ways: dict[str, Any], runs: int, deadline: float) -> dict[str, dict[str, float]]:
    """p50/p99 ms of each way's count and lookup, alternating ways; ``ways``: name -> (ask(text), lookup text)."""
    times: dict[str, list[float]] = {f"{name} {q}": [] for name in ways for q in ("count", "lookup", "health")}
    answers = {}
    for name, (ask, lookup, health) in ways.items():  # warm-up, untimed: workers started, checkpoints made
        answers[name] = [json.loads(ask(text)[1])["results"]["bindings"] for text in (CHEAP, lookup) for _ in range(5)]
    for _ in range(runs):
        if time.monotonic() > deadline:
            break
        for name, (ask, lookup, health) in ways.items():
            times[f"{name} count"].append(ask(CHEAP)[0])
            times[f"{name} lookup"].append(ask(lookup)[0])
            if health:
                times[f"{name} health"].append(health())
    out = {key: {"n": len(v), "p50_ms": pct(v, 0.5) * 1000, "p99_ms": pct(v, 0.99) * 1000}
           for key, v in times.items() if v}
    for name, found in answers.items():
        out[f"{name} count"]["answer"] = found[0][0]["n"]["value"]
        out[f"{name} lookup"]["rows"] = len(found[5])
    return out


def alternate(client: Client, token: str, turns: int, until: Any, deadline: float) -> dict[str, list[float]]:
    """Cheap query, then /health, `turns` times at most or until ``until()`` is true."""
    cheap: list[float] = []
    health: list[float] = []
    for _ in range(turns):
        if until() or time.monotonic() > deadline:
            break
        cheap.append(_ask(client, token, CHEAP)[0])
        status, _, _, seconds = client.send("GET", "/health", None)
        health.append(seconds if status == 200 else float("nan"))
    return {"cheap": cheap, "health": health}


def runaways(port: int, server: int, tokens: list[str], timeout: float, rounds: int, idle_turns: int,
             deadline: float) -> dict[str, Any]:
    client = Client(port)
    idle: dict[str, list[float]] = {"cheap": [], "health": []}
    busy: dict[str, list[float]] = {"cheap": [], "health": []}
    answers: list[tuple[int, float]] = []
    after, mem_busy, workers_after = [], [], []
    for _ in range(rounds):
        if time.monotonic() > deadline - timeout - 30:
            break
        for key, values in alternate(client, tokens[0], idle_turns, lambda: False, deadline).items():
            idle[key] += values
        mine: list[tuple[int, float]] = []

        def runaway(token: str) -> None:
            status, _, _, seconds = Client(port, timeout=timeout + 120).send("GET", _path(RUNAWAY), token)
            mine.append((status, seconds))

        threads = [threading.Thread(target=runaway, args=(tokens[1 + i],)) for i in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(0.3)  # the four have their workers
        mem_busy.append(memory(server))
        done = lambda: not any(t.is_alive() for t in threads)  # noqa: E731
        for key, values in alternate(client, tokens[0], 100_000, done, deadline).items():
            busy[key] += values
        for thread in threads:
            thread.join(timeout + 120)
        after.append(_ask(client, tokens[0], CHEAP)[0])  # the next query, straight after the four 503s
        time.sleep(0.2)
        workers_after.append(memory(server)["workers"])
        answers += mine
    ratio = {f"{key} {p}": pct(busy[key], q) / pct(idle[key], q) for key in busy for p, q in (("p50", .5), ("p99", .99))}
    return {"idle": {k: {"n": len(v), "p50_ms": pct(v, .5) * 1000, "p99_ms": pct(v, .99) * 1000} for k, v in idle.items()},
            "busy": {k: {"n": len(v), "p50_ms": pct(v, .5) * 1000, "p99_ms": pct(v, .99) * 1000} for k, v in busy.items()},
            "ratio_busy_to_idle": ratio, "runaway_status": [s for s, _ in answers],
            "past_limit_s": sorted(round(s - timeout, 3) for _, s in answers),
            "next_query_ms": [round(s * 1000, 1) for s in after], "workers_after_round": workers_after,
            "memory_during": mem_busy}


def cycles(port: int, server: int, store: Path, steward: str, investigator: str, count: int, every: int,
           query_every: int, deadline: float) -> list[dict[str, Any]]:
    client, samples, began = Client(port), [{"cycle": 0, "t_s": 0.0, **files(server, store)}], time.monotonic()
    for i in range(1, count + 1):
        if time.monotonic() > deadline:
            break
        body = (f'@prefix ov: <https://w3id.org/oversight/ontology#> .\n'  # tests/api/test_sparql_isolation.py's
                f'<https://example.org/d{i}> a ov:SourceDocument ; ov:identifier "d{i}" ; ov:title "T" .\n').encode()
        status, _, answer, _ = client.send("PUT", "/sources/scratch", steward, body, "text/turtle")
        if status not in (200, 201):
            raise RuntimeError(f"PUT {status}: {answer[:300]!r}")
        if i % query_every == 0:
            _ask(client, investigator, CHEAP)
        status, _, answer, _ = client.send("DELETE", "/sources/scratch", steward)
        if status >= 300:
            raise RuntimeError(f"DELETE {status}: {answer[:300]!r}")
        if i % every == 0:
            samples.append({"cycle": i, "t_s": round(time.monotonic() - began, 1), **files(server, store)})
    return samples


def main(argv: list[str] | None = None) -> int:
    import pyoxigraph as ox

    from api.access import Tokens
    from graph.prefixes import PREFIXES

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=400, help="timed turns of each cheap query, each way")
    parser.add_argument("--timeout", type=float, default=5, help="OVERSIGHT_SPARQL_TIMEOUT")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of 4 runaways")
    parser.add_argument("--idle", type=int, default=100, help="idle turns (cheap query + /health) before a round")
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--sample-every", type=int, default=100)
    parser.add_argument("--query-every", type=int, default=10)
    parser.add_argument("--previous", default="447599f", help="commit before the workers; '' to skip")
    parser.add_argument("--max-seconds", type=float, default=1800, help="the whole run stops by then")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the servers are stopped
    start = time.monotonic()
    deadline = start + args.max_seconds
    run = OUT / "isolation-run"
    shutil.rmtree(run, ignore_errors=True)
    store = run / "store"
    os.environ.update(OVERSIGHT_SPARQL_TIMEOUT=f"{args.timeout:g}", OVERSIGHT_NPM_REGISTRY="http://127.0.0.1:9/")
    tokens = {role: [Tokens(store).create(role, f"bench {role} {i}")[1] for i in range(5)]
              for role in ("investigator", "steward")}
    report: dict[str, Any] = {"nproc": os.cpu_count(), "python": sys.version.split()[0], "loadavg": [os.getloadavg()],
                              "head": subprocess.run(["git", "-C", str(BENCH), "rev-parse", "HEAD"], check=False,
                                                     capture_output=True, text=True).stdout.strip(),
                              "settings": vars(args)}
    procs: list[subprocess.Popen[bytes]] = []
    failed = False
    try:
        port = free_port()
        proc, _ = serve(store, port, log=run / "server.log", env=SERVER)
        procs.append(proc)
        client, investigator = Client(port), tokens["investigator"][0]
        ask = lambda text: _ask(client, investigator, text)  # noqa: E731
        health = lambda: client.send("GET", "/health", None)[3]  # noqa: E731
        officer = json.loads(ask(FIRST_OFFICER)[1])["results"]["bindings"][0]["o"]["value"]
        sources = json.loads(client.send("GET", "/sources", investigator)[2])["sources"]
        graphs = [ox.NamedNode(s["graph"]) for s in sources if s["name"] != "ontology"]
        checkpoint = max((store / "snapshots").iterdir(), key=lambda p: p.stat().st_mtime)
        shutil.copytree(checkpoint, run / "raw-copy")
        raw = ox.Store.read_only(str(run / "raw-copy"))

        def ask_raw(text: str) -> tuple[float, bytes]:
            began = time.perf_counter()
            body = raw.query(text, default_graph=graphs, prefixes=PREFIXES).serialize(  # type: ignore[union-attr]
                format=ox.QueryResultsFormat.JSON)
            return time.perf_counter() - began, body

        ways: dict[str, Any] = {"workers": (ask, LOOKUP % officer, health), "raw": (ask_raw, LOOKUP % officer, None)}
        if args.previous:
            old, old_port, old_token = previous_server(args.previous, run / "previous")
            procs.append(old)
            old_client = Client(old_port)
            ask_old = lambda text: _ask(old_client, old_token, text)  # noqa: E731
            old_officer = json.loads(ask_old(FIRST_OFFICER)[1])["results"]["bindings"][0]["o"]["value"]
            ways["previous"] = (ask_old, LOOKUP % old_officer, lambda: old_client.send("GET", "/health", None)[3])
        report["cost"] = cost(ways, args.runs, deadline)
        report["memory_idle"] = memory(proc.pid)
        if args.previous:
            report["previous_forkserver"] = _forkserver(old.pid)  # None: its queries ran in its threads
            report["previous_memory_idle"] = {"server_rss": vm(old.pid)["VmRSS"], "server_pss": _pss_mb(old.pid)}
            report["previous_stop_s"] = stop(old, timeout=30)
            procs.remove(old)
        report["loadavg"].append(os.getloadavg())
        report["runaways"] = runaways(port, proc.pid, tokens["investigator"], args.timeout, args.rounds, args.idle,
                                      deadline)
        report["memory_after_runaways"] = memory(proc.pid)
        report["loadavg"].append(os.getloadavg())
        report["cycles"] = cycles(port, proc.pid, store, tokens["steward"][0], investigator, args.cycles,
                                  args.sample_every, args.query_every, deadline)
        report["memory_after_cycles"] = memory(proc.pid)
        fork = _forkserver(proc.pid)
        helpers = [*_children(proc.pid), *(_children(fork) if fork else [])]  # forkserver, tracker, workers
        report["stop_s"] = stop(proc, timeout=30)
        procs.remove(proc)
        report["helpers_gone_s"] = gone(helpers, 30)
    except Exception as exc:  # noqa: BLE001 - reported, and the run still ends with what it measured
        report["error"] = f"{type(exc).__name__}: {exc}"
        failed = True
    finally:
        for leftover in procs:
            stop(leftover, timeout=30)
    report["loadavg"].append(os.getloadavg())
    report["elapsed_s"] = round(time.monotonic() - start, 1)
    (OUT / "isolation.json").write_text(json.dumps(report, indent=2, default=str))
    print_report(report)
    ran = report.get("runaways", {})
    return 1 if failed or any(s != 503 for s in ran.get("runaway_status", [])) else 0


def print_report(r: dict[str, Any]) -> None:
    if "error" in r:
        print(f"STOPPED EARLY: {r['error']}")
    if "cost" in r:
        c = r["cost"]
        print("\n| query | way | n | p50 ms | p99 ms | p50 / raw | p99 / raw |\n|---|---|---:|---:|---:|---:|---:|")
        for q in ("count", "lookup"):
            for way in ("workers", "previous", "raw"):
                if f"{way} {q}" in c:
                    x, base = c[f"{way} {q}"], c[f"raw {q}"]
                    print(f"| {q} | {way} | {x['n']} | {x['p50_ms']:.2f} | {x['p99_ms']:.2f} |"
                          f" {x['p50_ms'] / base['p50_ms']:.1f}x | {x['p99_ms'] / base['p99_ms']:.1f}x |")
        for way in ("workers", "previous"):
            if f"{way} health" in c:
                print(f"| /health | {way} | {c[f'{way} health']['n']} | {c[f'{way} health']['p50_ms']:.2f} |"
                      f" {c[f'{way} health']['p99_ms']:.2f} | | |")
    if "runaways" in r:
        ra = r["runaways"]
        print("\n| while 4 runaways run | n idle | n busy | idle p50 ms | busy p50 ms | ratio | idle p99 ms |"
              " busy p99 ms | ratio |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for key in ("cheap", "health"):
            i, b = ra["idle"][key], ra["busy"][key]
            print(f"| {key} | {i['n']} | {b['n']} | {i['p50_ms']:.2f} | {b['p50_ms']:.2f} |"
                  f" {ra['ratio_busy_to_idle'][key + ' p50']:.1f}x | {i['p99_ms']:.2f} | {b['p99_ms']:.2f} |"
                  f" {ra['ratio_busy_to_idle'][key + ' p99']:.1f}x |")
        print(f"\nrunaway answers {ra['runaway_status']}; seconds past the limit {ra['past_limit_s']};"
              f" next query after each round {ra['next_query_ms']} ms; workers after each round"
              f" {ra['workers_after_round']}")
    print("\n| memory MB | server RSS | server PSS | forkserver RSS | workers | workers RSS | workers PSS |"
          " largest worker RSS |\n|---|---:|---:|---:|---:|---:|---:|---:|")
    for when in ("memory_idle", "memory_after_runaways", "memory_after_cycles"):
        if when in r:
            m = r[when]
            print(f"| {when[7:]} | {m['server_rss']:.0f} | {m['server_pss']:.0f} | {m['forkserver_rss'] or 0:.0f} |"
                  f" {m['workers']} | {m['workers_rss']:.0f} | {m['workers_pss']:.0f} | {m['worker_rss_max']:.0f} |")
    for m in r.get("runaways", {}).get("memory_during", []):
        print(f"| during runaways | {m['server_rss']:.0f} | {m['server_pss']:.0f} | {m['forkserver_rss'] or 0:.0f} |"
              f" {m['workers']} | {m['workers_rss']:.0f} | {m['workers_pss']:.0f} | {m['worker_rss_max']:.0f} |")
    if "previous_memory_idle" in r:
        print(f"| previous version, idle | {r['previous_memory_idle']['server_rss']:.0f} |"
              f" {r['previous_memory_idle']['server_pss']:.0f} | | | | | |")
    if r.get("cycles"):
        print("\n| cycle | server fds | server RSS MB | workers | worker fds | of them deleted | store .sst | checkpoint .sst |"
              " checkpoints |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for s in r["cycles"]:
            print(f"| {s['cycle']} | {s['server_fds']} | {s['server_rss']} | {s['workers']} | {s['worker_fds']} | {s['worker_deleted_fds']} |"
                  f" {s['store_sst']} | {s['snapshot_sst']} | {s['snapshots']} |")
    print(f"\n{r['nproc']} CPUs, Python {r['python']}, HEAD {r['head'][:7]}; load average {r['loadavg']};"
          f" {r['elapsed_s']} s; stop after SIGTERM {r.get('stop_s', float('nan')):.1f} s, its helper"
          f" processes gone {r.get('helpers_gone_s')} s later; previous version had a forkserver:"
          f" {bool(r.get('previous_forkserver'))}")


if __name__ == "__main__":
    sys.exit(main())
