"""Dry runs of the shipped mappings (issue 18: "a mapping's dry run over 1,000 rows per file <= 3 s"), against a
full import of the same dataset measured in the same run.

Usage::

    python bench/dryrun.py                      # Philadelphia and Chicago, 1,000 rows, 3 repeats
    python bench/dryrun.py --rows 5000 --repeat 5 --full chicago-cpdp

Each run is the CLI, ``oversight import MAPPING DIR --dry-run --rows N``, in a process of its own with a fresh
``OVERSIGHT_DATA_DIR`` (so the time includes starting Python, opening the store, reading the mapping and every
file's header, translating and validating N rows of each file). The peer is ``oversight import MAPPING DIR``
(the full import) of ``--full`` datasets, once. Wall times; the median of the repeats is printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "realdata"
DATASETS = {"philadelphia-ppd": REALDATA / "philadelphia-ppd", "chicago-cpdp": REALDATA / "chicago-cpdp"}


def _run(args: list[str]) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-dryrun-") as store:
        env = {**os.environ, "OVERSIGHT_DATA_DIR": store}
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "api", *args], env=env, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):  # 1: the dry run found problems a full import would have (still timed)
        raise SystemExit(f"{' '.join(args)} exited {done.returncode}: {done.stderr[-500:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--full", nargs="*", default=["philadelphia-ppd"], help="datasets also imported in full")
    options = parser.parse_args()
    print(f"| dataset | dry run, {options.rows:,} rows per file (median of {options.repeat}) | full import | ratio |")
    print("|---|---|---|---|")
    for name, folder in DATASETS.items():
        if not folder.is_dir():
            print(f"| {name} | (absent: {folder}) | | |")
            continue
        dry = statistics.median(_run(["import", name, str(folder), "--dry-run", "--rows", str(options.rows)])
                                for _ in range(options.repeat))
        full = _run(["import", name, str(folder)]) if name in options.full else None
        ratio = f"{dry / full:.2f}" if full else ""
        print(f"| {name} | {dry:.2f} s | {f'{full:.1f} s' if full else ''} | {ratio} |")


if __name__ == "__main__":
    main()
