"""Facts: the link structure of the current data, read once per data version into plain Python.

Linkage questions walk the same few relations again and again (officer to
finding to allegation to investigation, member to group, officer to posting),
so they do not run SPARQL per request. :func:`facts` reads the ``ov:``
properties the linkage layer uses, source graph by source graph, with plain
triple-pattern scans, and folds them into dictionaries keyed by IRI.

Caching
-------
What is read from one source graph (its *pairs*) is folded once per ingest
run and saved beside the store (in ``Database.derived`` only when there is no
such file: an in-memory store), and the merged :class:`Facts` are kept per data
version in ``Database.derived``. A load changes one run, so only that source is
read again, from its in-memory scratch store, which is ten times faster to scan
than the disk store; :func:`seed` installs the facts it prepared.
Readers holding a :class:`Facts` keep using it while a newer one is built.

Duplicates across sources (the same statement in two graphs) fold into one:
values are sets, so the union default graph's bag semantics (Oxigraph #1919)
never doubles a count here.
"""

from graph.linkage.facts.accessor import (
           KINDS,
           OFFICER_CLASSES,
           Concept,
           Evidence,
           Facts,
           Filters,
           Source,
           classes,
)
from graph.linkage.facts.cache import LISTENER, facts, prepare, save_run, seed, warm
from graph.linkage.facts.dates import lower, overlap, upper
from graph.linkage.facts.pairs import (
           PREDICATES,
           VOCABULARY,
           Folded,
           Pairs,
           fold_pairs,
           read_pairs,
           read_run,
)

__all__ = ["LISTENER", "KINDS", "OFFICER_CLASSES", "classes", "Facts", "Evidence", "Source", "Concept", "Filters",
           "VOCABULARY", "facts", "seed", "warm", "prepare", "save_run", "read_run", "read_pairs", "fold_pairs", "lower",
           "upper", "overlap", "PREDICATES", "Pairs", "Folded"]
