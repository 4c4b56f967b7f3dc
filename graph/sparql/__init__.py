"""SPARQL for investigators: checked text, run in confined, killable worker processes.

The query and update path (:mod:`~graph.sparql.engine`: canonical text, the allowlist check, datasets,
evaluation in a worker), the stable graph names queries use (:mod:`~graph.sparql.names`), the worker pool
(:mod:`~graph.sparql.workers`), the sandbox each worker enters (:mod:`~graph.sparql.sandbox`) and the saved
queries' parameters (:mod:`~graph.sparql.saved`).

May import: :mod:`graph.store`, :mod:`graph.ingest` (updates are validated as loads are),
:mod:`graph.linkage` (entity ids of saved-query parameters), the shared leaf modules, :mod:`ontology`.
Never imports :mod:`graph.export`.
"""
