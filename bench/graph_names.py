"""What stable graph names cost a SPARQL answer (issue 16): the worker's result writer over the same SELECT,
naming run graphs back (:attr:`graph.sparql.names.GraphNames.outward`) against writing terms as they are, and
renaming a query's text (:func:`graph.sparql.names.rename_query`) against the check the text then goes through.

Usage::

    python bench/graph_names.py              # 200,000 rows, each with a graph IRI, 5 repeats
    python bench/graph_names.py --rows 50000 --repeat 3

In one process, one in-memory store; the median of the repeats per format. The peer of each figure is the
same work without the renaming, measured in the same run, alternating.
"""

from __future__ import annotations

import argparse
import statistics
import time

import pyoxigraph as ox

from graph.prefixes import PREFIXES
from graph.sparql.engine import _check, canonical, write_results
from graph.sparql.names import GraphNames

QUERY = "SELECT ?g ?s ?o { GRAPH ?g { ?s ?p ?o } }"
TEXT = """PREFIX g: <https://b/graph/>
SELECT ?officer (COUNT(DISTINCT ?investigation) AS ?n) FROM <https://b/graph/cc> FROM NAMED g:cc WHERE {
  ?finding a ov:Finding ; ov:officer ?officer ; ov:allegation/ov:investigation ?investigation .
  FILTER(?officer != <https://b/graph/cc>) # a comment naming <https://b/graph/cc>
  OPTIONAL { GRAPH <https://b/graph/cc> { ?officer ov:pseudonym ?p } }
} GROUP BY ?officer HAVING (COUNT(DISTINCT ?investigation) >= 2) ORDER BY DESC(?n) LIMIT 10"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    store = ox.Store()
    graph = ox.NamedNode("https://b/graph/cc/r1")
    store.bulk_extend(ox.Quad(ox.NamedNode(f"https://b/s{i}"), ox.NamedNode("https://b/p"), ox.Literal(str(i)), graph)
                      for i in range(args.rows))
    names = GraphNames(["https://b/graph/cc"], [graph.value])
    print(f"{args.rows:,} rows, median of {args.repeat}")
    for fmt in ("json", "xml", "csv", "tsv"):
        times: dict[str, list[float]] = {"as is": [], "renamed": []}
        for _ in range(args.repeat):
            for label, rename in (("as is", None), ("renamed", names.outward)):
                start = time.perf_counter()
                for _chunk in write_results(store.query(QUERY), fmt, 10**9, {}, rename):
                    pass
                times[label].append(time.perf_counter() - start)
        plain, renamed = (statistics.median(times[k]) for k in ("as is", "renamed"))
        print(f"  results {fmt:4}  as is {plain:.3f} s  renamed {renamed:.3f} s  ratio {renamed / plain:.3f}")
    text = canonical(TEXT)
    renamed_text = names.query(text, base="https://b/sparql", prefixes=PREFIXES)
    runs = 2_000
    start = time.perf_counter()
    for _ in range(runs):
        names.query(text, base="https://b/sparql", prefixes=PREFIXES)
    renaming = (time.perf_counter() - start) / runs
    start = time.perf_counter()
    for i in range(200):
        _check.__wrapped__(renamed_text + f" # {i}")  # the uncached check (rdflib's grammar), which every new text pays
    check = (time.perf_counter() - start) / 200
    print(f"  query text: rename {renaming * 1e6:.0f} us, check {check * 1e3:.2f} ms (ratio {renaming / check:.4f})")


if __name__ == "__main__":
    main()
