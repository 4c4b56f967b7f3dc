"""Answers that cross cases: the facts read from the graph, projections into networkx, the questions.

The facts (:mod:`~graph.linkage.facts`: officers, allegations, findings, groups, with their evidence and
dates), networkx projections (:mod:`~graph.linkage.projection`), the linkage questions
(:mod:`~graph.linkage.questions`), network measures (:mod:`~graph.linkage.network`), entity profiles and
timelines (:mod:`~graph.linkage.entities`) and the readers' pseudonymised view
(:mod:`~graph.linkage.pseudonyms`).

May import: :mod:`graph.store`, the shared leaf modules, :mod:`ontology`. Never imports
:mod:`graph.ingest`, :mod:`graph.export` or :mod:`graph.sparql`.
"""
