"""Where the data lives: the Oxigraph backend, the database of sources and data versions, pins and snapshots.

Owns the store on disk (:mod:`~graph.store.backend`), the named graphs and their records, the data
version, commits and garbage collection (:mod:`~graph.store.database`), the read-only checkpoints the
SPARQL workers read (:mod:`~graph.store.snapshots`), class counts (:mod:`~graph.store.stats`) and the
collector switch used while large structures are built (:mod:`~graph.store.heap`).

May import: :mod:`graph.errors`, :mod:`graph.iri`, :mod:`graph.prefixes`, :mod:`graph.queries`, :mod:`ontology`.
Never imports the other subpackages of :mod:`graph`.
"""
