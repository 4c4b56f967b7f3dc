"""Stable graph names at the SPARQL boundary: ``{base}graph/{source}`` outside, the current run's graph inside.

A load writes a source into a graph of its own run (``{base}graph/{source}/{run}``) that a commit then makes
current, so loads are all-or-nothing and a query never sees half of one (:mod:`graph.store.database`). Outside
the store a source's graph has one name whatever run holds it (:func:`graph.iri.source_graph`). The two are
one bijection over the graphs a query may read, applied in three places:

* the query's text (:func:`rename_query`): each IRI that is a stable name, written as ``<...>`` (relative ones
  resolved against ``BASE`` or the endpoint) or as a prefixed name, becomes the current run's graph; an IRI
  that names a run's graph directly becomes :data:`EMPTY_GRAPH` (runs are internal). The renamed text is what
  is checked and run, so safety is decided on what runs. A name the renaming does not see (built at run time
  with ``IRI()``, say) is simply a graph the service does not hold: empty.
* the Protocol's ``default-graph-uri`` / ``named-graph-uri`` (:meth:`GraphNames.inside`);
* the results (:attr:`GraphNames.outward`, which the writers look terms up in): every IRI that is a current run's graph is given under its stable
  name (``GRAPH ?g`` binds ``?g`` to ``{base}graph/{source}``). Strings made from it (``STR(?g)``) keep the
  run's IRI.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import pyoxigraph as ox

from graph.iri import EMPTY_GRAPH

__all__ = ["EMPTY_GRAPH", "GraphNames", "rename_query"]


_IRI_CHARS = r"[^<>\"{}|^`\\\x00-\x20]*"
_PN_PREFIX = r"(?:[^\W\d_][\w.-]*(?<!\.))?"
# A prefixed name's local part: letters, digits, _ - . : %XX and \-escapes, never ending with a dot.
_PN_LOCAL = r"(?:[\w:%]|\\[_~.\-!$&'()*+,;=/?#@%])(?:[\w.:%-]|\\[_~.\-!$&'()*+,;=/?#@%])*(?<!\.)"
_GAP = r"(?:\s|#[^\n]*\n)"  # what may separate a declaration's tokens: white space and comments
_TOKENS = re.compile("|".join((
    (r'(?P<long>"""(?:[^"\\]|\\.|"(?!""))*"""|' r"'''(?:[^'\\]|\\.|'(?!''))*''')"),
    (r'(?P<short>"(?:[^"\\\n]|\\.)*"|' r"'(?:[^'\\\n]|\\.)*')"),
    r"(?P<comment>#[^\n]*)",
    rf"(?P<prefix>(?<![?$\w:])(?i:PREFIX){_GAP}+(?P<pname>{_PN_PREFIX}):{_GAP}*<(?P<piri>{_IRI_CHARS})>)",
    rf"(?P<base>(?<![?$\w:])(?i:BASE){_GAP}*<(?P<biri>{_IRI_CHARS})>)",
    rf"<(?P<iri>{_IRI_CHARS})>",
    rf"(?<![\w.\-:?$@\\])(?P<pn>(?P<ns>{_PN_PREFIX}):(?P<local>{_PN_LOCAL})?)",
)), re.DOTALL)
_KINDS = ("long", "short", "comment", "prefix", "base", "iri", "pn")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_UNESCAPE = re.compile(r"\\(.)")


@lru_cache(maxsize=4096)
def _resolve(iri: str, base: str) -> str | None:
    """`iri` resolved against `base` as the engine resolves it (RFC 3986, by Oxigraph's own parser); None if the
    engine would refuse it."""
    if _SCHEME.match(iri) or not base:
        return iri
    try:
        return next(iter(ox.parse(f"<{iri}> <x:p> <x:o> .".encode(), format=ox.RdfFormat.TURTLE,
                                  base_iri=base))).subject.value  # type: ignore[union-attr]
    except (SyntaxError, ValueError):
        return None


def rename_query(text: str, names: Mapping[str, str], *, base: str = "", prefixes: Mapping[str, str] | None = None) -> str:
    """`text` with every IRI token (``<...>`` or a prefixed name) that `names` maps replaced by ``<mapped>``.

    Strings and comments are left as they are; ``PREFIX`` and ``BASE`` declarations are followed in order
    (relative IRIs resolve against the latest ``BASE``, else `base`); `prefixes` are those a query may use
    undeclared.

    Parameters
    ----------
    text : str
        A canonical query text (:func:`graph.sparql.engine.canonical`: no codepoint escapes, LF line ends).
    names : mapping
        IRI -> the IRI to write instead.
    base : str
        The base IRI relative IRIs resolve against when the text declares none (empty: left relative).
    prefixes : mapping, optional
        Prefix -> namespace, the service's predeclared ones (a ``PREFIX`` in the text overrides them).

    Notes
    -----
    One pass of one regular expression: O(len(text)).
    """
    if not names:
        return text
    declared: dict[str, str | None] = dict(prefixes or {})
    out: list[str] = []
    last = position = 0
    while (match := _TOKENS.search(text, position)) is not None:
        position = match.end()
        kind = next(k for k in _KINDS if match[k] is not None)
        if kind == "prefix":
            declared[match["pname"]] = _resolve(match["piri"], base)
            continue
        if kind == "base":
            base = _resolve(match["biri"], base) or ""
            continue
        if kind == "iri":
            if "&&" in match["iri"] or "||" in match["iri"]:  # ?a<2&&?b>0: comparisons, not an IRI
                position = match.start() + 1
                continue
            iri = _resolve(match["iri"], base)
        elif kind == "pn" and declared.get(match["ns"]) is not None:
            iri = str(declared[match["ns"]]) + _UNESCAPE.sub(r"\1", match["local"] or "")
        else:
            continue
        if iri is not None and iri in names:
            out += [text[last:match.start()], f"<{names[iri]}>"]
            last = match.end()
    return "".join(out) + text[last:] if out else text


@dataclass(frozen=True)
class GraphNames:
    """The bijection between the current sources' stable graph names and their runs' graphs.

    Attributes
    ----------
    stable : tuple of str
        The stable names (``{base}graph/{source}``), in the order of `runs`.
    runs : tuple of str
        The current runs' graphs.
    """

    stable: Sequence[str]
    runs: Sequence[str]
    inward: dict[str, str] = field(init=False, repr=False)
    outward: dict[Any, Any] = field(init=False, repr=False)  # run graph -> stable name, as pyoxigraph terms (results)

    def __post_init__(self) -> None:
        inward = {run: EMPTY_GRAPH for run in self.runs}  # a run's graph named directly: not one of ours
        inward.update(zip(self.stable, self.runs))
        object.__setattr__(self, "inward", inward)
        object.__setattr__(self, "outward", {ox.NamedNode(r): ox.NamedNode(s) for r, s in zip(self.runs, self.stable)})

    def inside(self, iris: Sequence[str]) -> tuple[str, ...]:
        """Graph IRIs named from outside (the Protocol's dataset) as the store holds them."""
        return tuple(self.inward.get(iri, iri) for iri in iris)

    def query(self, text: str, *, base: str = "", prefixes: Mapping[str, str] | None = None) -> str:
        """The query `text` as it runs (:func:`rename_query`)."""
        return rename_query(text, self.inward, base=base, prefixes=prefixes)

    def outside_in(self, term: Any) -> Any:
        """A term given from outside (a saved query's parameter) as the store holds it: a stable name as the
        current run's graph, a run's graph as the empty graph."""
        if isinstance(term, ox.NamedNode) and term.value in self.inward:
            return ox.NamedNode(self.inward[term.value])
        return term
