"""Import speed and memory (issue 18): ``oversight import`` of a shipped mapping's dataset against raw
``pyoxigraph.Store.bulk_load`` of the same quads into the same named graphs, measured in the same run.

Usage::

    python bench/imports.py                              # Chicago (names included), this checkout
    python bench/imports.py --dataset philadelphia-ppd
    python bench/imports.py --previous d6e9eca           # also that commit's import (a git worktree)

Each measurement is a process of its own, timed from its start to its exit (wall), with its peak RSS and CPU
seconds from ``os.wait4``:

* ``oversight``: ``python -m api import --json DATASET DIR`` into an empty ``OVERSIGHT_DATA_DIR``: the mapping
  translated, every cell checked, SHACL validation, the linkage facts indexed and the commit;
* ``previous`` (with ``--previous REV``): the same command run from a worktree of REV;
* ``raw-pyoxigraph``: the source graphs the import made (the dataset's and its names source), dumped as N-Quads
  from the imported store, then ``Store(tmp).bulk_load(path=..., format=N_QUADS)`` into an empty on-disk store:
  the same quads into the same named graphs, parsed by Oxigraph with no check at all. The dump is not timed.

Prints a markdown table (ratios against raw pyoxigraph) and writes bench/out/imports.json.
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
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
REALDATA = ROOT.parent / "shared" / "data" / "realdata"

_RAW = """
import sys, pyoxigraph as ox
ox.Store(sys.argv[1]).bulk_load(path=sys.argv[2], format=ox.RdfFormat.N_QUADS)
"""
def _measure(args: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT) -> dict:
    """Run `args` to its end: wall seconds, peak RSS (MB) and CPU seconds of that process alone."""
    start = time.perf_counter()
    child = subprocess.Popen(args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    out, err = child.stdout.read(), child.stderr.read()  # type: ignore[union-attr]
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(map(str, args))} failed: {err.decode()[-800:]}")
    return {"seconds": round(wall, 1), "peak_rss_mb": round(usage.ru_maxrss / 1024), "cpu_seconds":
            round(usage.ru_utime + usage.ru_stime, 1), "stdout": out.decode()[-2000:]}


def _import(checkout: Path, dataset: str, store: Path) -> dict:
    env = {**os.environ, "OVERSIGHT_DATA_DIR": str(store), "PYTHONPATH": str(checkout)}
    return _measure([sys.executable, "-m", "api", "import", "--json", dataset, str(REALDATA / dataset)], env, checkout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="chicago-cpdp", help="a shipped mapping (default chicago-cpdp)")
    parser.add_argument("--previous", help="also measure the import of this git revision (a worktree)")
    args = parser.parse_args()
    if not (REALDATA / args.dataset).is_dir():
        raise SystemExit(f"no dataset at {REALDATA / args.dataset}")
    OUT.mkdir(exist_ok=True)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-imports-") as tmp:
        work = Path(tmp)
        results["oversight"] = _import(ROOT, args.dataset, work / "oversight")
        dump = work / "quads.nq"
        store = work / "oversight"
        store = store / "store" if (store / "store").is_dir() else store
        subprocess.run([sys.executable, "-c", _DUMP_ALL, str(store), str(dump), args.dataset], check=True)
        results["raw-pyoxigraph"] = _measure([sys.executable, "-c", _RAW, str(work / "raw"), str(dump)])
        results["raw-pyoxigraph"]["input_mb"] = round(dump.stat().st_size / 1e6)
        if args.previous:
            tree = work / "previous"
            subprocess.run(["git", "worktree", "add", "--detach", str(tree), args.previous], cwd=ROOT, check=True,
                           capture_output=True)
            try:
                results["previous"] = _import(tree, args.dataset, work / "previous-store")
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)
    raw = results["raw-pyoxigraph"]
    print(f"\n{args.dataset}: {raw['input_mb']} MB of N-Quads\n")
    print("| method | wall s | CPU s | peak RSS MB | time / raw | memory / raw |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r['seconds']} | {r['cpu_seconds']} | {r['peak_rss_mb']:,} | "
              f"{r['seconds'] / raw['seconds']:.2f} | {r['peak_rss_mb'] / raw['peak_rss_mb']:.2f} |")
    (OUT / "imports.json").write_text(json.dumps({
        "when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": platform.node(),
        "cpus": os.cpu_count(), "dataset": args.dataset, "previous": args.previous,
        "results": {k: {x: y for x, y in v.items() if x != "stdout"} for k, v in results.items()}}, indent=2))


#: Dumps the named graphs of the dataset's sources (its own and its names source) as N-Quads.
_DUMP_ALL = """
import sys, pyoxigraph as ox
store = ox.Store.read_only(sys.argv[1])
with open(sys.argv[2], "wb") as out:
    for g in store.named_graphs():
        if "/graph/" + sys.argv[3] + "/" in g.value or "/graph/" + sys.argv[3] + "-names/" in g.value:
            ox.serialize(store.quads_for_pattern(None, None, None, g), out, format=ox.RdfFormat.N_QUADS)
"""

if __name__ == "__main__":
    main()
