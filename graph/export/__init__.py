"""Graph exports for analysts and visualisation tools: views, then one writer per format.

Which nodes and edges a view holds (:mod:`~graph.export.views`), the writers for GEXF, CSV, JSON and RDF
(:mod:`~graph.export.formats`) and GraphML (:mod:`~graph.export.graphml`).

May import: :mod:`graph.linkage`, :mod:`graph.store`, the shared leaf modules, :mod:`ontology`.
Never imports :mod:`graph.ingest` or :mod:`graph.sparql`.
"""
