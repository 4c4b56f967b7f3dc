"""Getting data in: sources planned, converted, validated against the shapes and written all or nothing.

RDF files and tabular folders (:mod:`~graph.ingest.load`), the tabular format's tables
(:mod:`~graph.ingest.tables`; their converter :mod:`~graph.ingest.converter`, their reference
:mod:`~graph.ingest.reference`), declarative mappings of a dataset's own files (:mod:`~graph.ingest.mapping`,
their CSV dialects in :mod:`~graph.ingest.dialect`), SHACL validation and the profile of a source
(:mod:`~graph.ingest.validation`) and the bundled demo case (:mod:`~graph.ingest.cases`).

May import: :mod:`graph.store` and the shared leaf modules (:mod:`graph.errors`, :mod:`graph.iri`,
:mod:`graph.queries`), :mod:`ontology`. Never imports :mod:`graph.linkage`, :mod:`graph.export` or
:mod:`graph.sparql`: what is derived from loaded data hears of a load through the database's listeners.
"""
