"""Export benchmark: the officer co-accusal projection as GraphML, ours (streamed) against
``networkx.write_graphml`` of the same graph, in one run.

Usage::

    python bench/export.py                  # Chicago CPDP co-accusal graph from ../shared/data/realdata
    python bench/export.py --synthetic 365000   # no real data: the synthetic generator at that size

The Chicago graph is built from ``complaints-accused.csv.gz`` (one finding per row,
complaint = investigation) folded straight into :class:`graph.linkage.facts.Facts` (the
importer is issue 7), then projected with ``officer_network(kinds={co-accused})``.
Each writer runs in its own process, after the graph is built: wall time of the
write to a file, peak RSS growth during the write (RSS sampled every 10 ms while it
runs, minus the RSS before), and the file size. The networkx writer gets the same
nodes and edges with the same scalar attributes (networkx cannot write the ``links``
lists). Our file is checked against the GraphML schema (lxml takes minutes on the
networkx file, so it is not).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
REAL = ROOT.parent / "shared" / "data" / "realdata" / "chicago-cpdp" / "complaints-accused.csv.gz"
XSD = ROOT.parent / "shared" / "graphml-xsd" / "graphml.xsd"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))
from common import rss_mb  # noqa: E402  # bench/common.py


def _chicago_facts():  # type: ignore[no-untyped-def]
    from graph.linkage.facts import Facts

    base = "https://w3id.org/oversight/id/"
    types, officer, allegation, investigation = [], [], [], []
    complaints = set()
    with gzip.open(REAL, "rt", encoding="utf-8", newline="") as handle:
        for i, row in enumerate(csv.DictReader(handle)):
            uid = row["UID"].removesuffix(".0")
            o, c = f"{base}officer/{uid}", f"{base}investigation/{row['cr_id']}"
            f, a = f"{base}finding/{i}", f"{base}allegation/{row['cr_id']}"
            types += [(o, "Officer"), (f, "Finding")]
            officer.append((f, o))
            allegation.append((f, a))
            if c not in complaints:
                complaints.add(c)
                types += [(a, "Allegation"), (c, "Investigation")]
                investigation.append((a, c))
    return Facts.fold("chicago", [{"type": types, "officer": officer, "allegation": allegation,
                                   "investigation": investigation}])


def _synthetic_facts(triples: int):  # type: ignore[no-untyped-def]
    import pyoxigraph as ox

    from graph.linkage.facts import Facts, read_pairs
    from graph.store.backend import OxigraphBackend

    file = BENCH / "out" / f"synthetic-{triples}-s1.nt"
    if not file.exists():
        file.parent.mkdir(exist_ok=True)
        subprocess.run([sys.executable, str(BENCH / "generate.py"), "--triples", str(triples), "--seed", "1",
                        "-o", str(file)], check=True)
    backend, graph = OxigraphBackend(None), ox.NamedNode("urn:bench")
    backend.bulk_load(graph=graph, format=ox.RdfFormat.N_TRIPLES, path=file)
    return Facts.fold("synthetic", [read_pairs(backend, graph)])


def child(method: str, source: str) -> dict:
    import networkx as nx

    from graph.export.graphml import graphml
    from graph.export.views import view
    from graph.linkage.projection import Projection, officer_network

    f = _chicago_facts() if source == "chicago" else _synthetic_facts(int(source))
    network = officer_network(f, Projection(kinds=frozenset({"co-accused"})))
    export = view(f, "officers", projection=Projection(kinds=frozenset({"co-accused"})),
                  networks=lambda p, full: network)
    out = {"method": method, "nodes": network.number_of_nodes(), "edges": network.number_of_edges()}
    if method == "networkx":  # the same nodes and edges with the same scalar attributes
        plain = nx.Graph()
        plain.add_nodes_from((n, {k: v for k, v in d.items() if k not in ("id",)}) for n, d in export.nodes())
        plain.add_edges_from(export.edges())
    import threading

    before, samples, done = rss_mb(), [], threading.Event()

    def sample() -> None:  # RSS every 10 ms while the writer runs: its peak growth
        while not done.is_set():
            samples.append(rss_mb())
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "out.graphml"
        start = time.perf_counter()
        if method == "oversight":
            with path.open("w", encoding="utf-8") as handle:
                for chunk in graphml(export):
                    handle.write(chunk)
        else:
            nx.write_graphml(plain, path)
        out["write_s"] = time.perf_counter() - start
        done.set()
        sampler.join()
        out["peak_growth_mb"] = max(0.0, max(samples, default=before) - before)
        out["rss_before_mb"] = before
        out["file_mb"] = path.stat().st_size / 1e6
        try:
            if method != "oversight":
                raise ImportError("only our file is checked (lxml takes minutes on networkx's)")
            from lxml import etree

            schema = etree.XMLSchema(etree.parse(str(XSD), etree.XMLParser(no_network=True)))
            out["schema_valid"] = bool(schema.validate(etree.parse(str(path), etree.XMLParser(huge_tree=True))))
        except (ImportError, OSError):
            out["schema_valid"] = None
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--synthetic", type=float, help="use the synthetic generator at this many triples")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0
    source = str(int(args.synthetic)) if args.synthetic else "chicago"
    if source == "chicago" and not REAL.exists():
        print(f"{REAL} is absent: use --synthetic N", file=sys.stderr)
        return 2
    results = []
    for method in ("oversight", "networkx"):
        proc = subprocess.run([sys.executable, __file__, "--child", method, source], capture_output=True, text=True,
                              timeout=1800)
        if proc.returncode:
            print(proc.stderr[-2000:], file=sys.stderr)
            return 1
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    (BENCH / "out").mkdir(exist_ok=True)
    (BENCH / "out" / "export.json").write_text(json.dumps({"source": source, "results": results}, indent=2))
    ours, theirs = results
    print(f"\n| writer | nodes | edges | write s | peak growth MB | file MB | schema-valid |\n|---|---:|---:|---:|---:|---:|---|")
    for r in results:
        print(f"| {r['method']} | {r['nodes']:,} | {r['edges']:,} | {r['write_s']:.2f} | {r['peak_growth_mb']:.0f} |"
              f" {r['file_mb']:.1f} | {r['schema_valid']} |")
    print(f"\nnetworkx / oversight write time: {theirs['write_s'] / ours['write_s']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
