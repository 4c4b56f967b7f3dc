"""Export formats: the registry, CSV (zip), Cytoscape.js JSON, RDF, and the export manifest.

Every writer yields the body in chunks (bytes), in a stable order, so a body can be
streamed and two exports of the same view on the same data version are identical.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from importlib import metadata
from typing import Any

import pyoxigraph as ox

from graph.export.graphml import gexf, graphml
from graph.export.views import ExportGraph, survey
from graph.linkage.facts import Facts
from graph.linkage.pseudonyms import Pseudonyms
from graph.prefixes import PREFIXES
from graph.store.database import Database

__all__ = ["Format", "EXPORT_FORMATS", "body", "manifest", "view_quads", "CONTEXT", "generator"]

_BATCH = 20_000


@dataclass(frozen=True)
class Format:
    """An export format: its name (the URL extension), media type, and whether it is RDF."""

    name: str
    media_type: str
    is_rdf: bool = False
    rdf_format: ox.RdfFormat | None = None


EXPORT_FORMATS = {f.name: f for f in (
    Format("graphml", "application/graphml+xml"),
    Format("gexf", "application/gexf+xml"),
    Format("csv", "application/zip"),
    Format("cytoscape.json", "application/json"),
    Format("ttl", "text/turtle", True, ox.RdfFormat.TURTLE),
    Format("nt", "application/n-triples", True, ox.RdfFormat.N_TRIPLES),
    Format("nq", "application/n-quads", True, ox.RdfFormat.N_QUADS),
    Format("trig", "application/trig", True, ox.RdfFormat.TRIG),
    Format("jsonld", "application/ld+json", True, ox.RdfFormat.JSON_LD),
)}

#: The JSON-LD context of JSON-LD exports (also served at ``/export/context.jsonld``).
CONTEXT: dict[str, Any] = {"@context": dict(PREFIXES)}


@cache
def generator() -> str:
    """``oversight-graph X.Y.Z``: who made an export (read once: every answer's ETag names it)."""
    try:
        return f"oversight-graph {metadata.version('oversight-graph')}"
    except metadata.PackageNotFoundError:
        return "oversight-graph"


def _cytoscape(export: ExportGraph) -> Iterator[str]:
    ids = {node: f"n{i}" for i, node in enumerate(export.node_keys)}
    head = {"view": export.view, "data_version": export.version, "directed": export.directed}
    yield '{"data": ' + json.dumps(head, sort_keys=True) + ', "elements": {"nodes": ['
    for i, (node, data) in enumerate(export.nodes()):
        yield ("," if i else "") + "\n" + json.dumps({"data": {"id": ids[node], **data}}, sort_keys=True,
                                                     ensure_ascii=False)
    yield '\n], "edges": ['
    for i, (source, target, data) in enumerate(export.edges()):
        element = {"data": {**data, "id": f"e{i}", "source": ids[source], "target": ids[target]}}
        yield ("," if i else "") + "\n" + json.dumps(element, sort_keys=True, ensure_ascii=False)
    yield "\n]}}\n"


def _rows(export: ExportGraph, nodes: bool) -> Iterator[list[Any]]:
    ids = {node: f"n{i}" for i, node in enumerate(export.node_keys)}
    if nodes:
        yield ["node", *(a.name for a in export.node_attrs)]
        for node, data in export.nodes():
            yield [ids[node], *(data.get(a.name, "") for a in export.node_attrs)]
    else:
        yield ["edge", "source", "target", *(a.name for a in export.edge_attrs)]
        for i, (source, target, data) in enumerate(export.edges()):
            yield [f"e{i}", ids[source], ids[target], *(data.get(a.name, "") for a in export.edge_attrs)]


class _Digesting(io.RawIOBase):
    """Passes bytes on to `raw`, hashing them."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.digest.update(data)
        self.raw.write(data)
        return len(data)


def _csv_zip(export: ExportGraph, describe: dict[str, Any]) -> Iterator[bytes]:
    """A zip of nodes.csv, edges.csv and manifest.json (with their checksums), spooled to a temporary file.

    Entries carry a fixed timestamp, so the same data gives the same bytes.
    """
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
        digests = {}
        with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, nodes in (("nodes.csv", True), ("edges.csv", False)):
                info = zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                with archive.open(info, "w", force_zip64=True) as raw:
                    digesting = _Digesting(raw)
                    text = io.TextIOWrapper(io.BufferedWriter(digesting, 65536), encoding="utf-8", newline="")
                    csv.writer(text).writerows(_rows(export, nodes))
                    text.flush()
                    text.detach().detach()  # leave `raw` to the zip file to close
                digests[name] = digesting.digest.hexdigest()
            info = zipfile.ZipInfo("manifest.json", date_time=(2000, 1, 1, 0, 0, 0))
            archive.writestr(info, json.dumps({**describe, "files": {k: {"sha256": v} for k, v in digests.items()}},
                                              sort_keys=True, indent=1) + "\n")
        spool.seek(0)
        while chunk := spool.read(65536):
            yield chunk


def view_quads(db: Database, export: ExportGraph, *, with_meta: bool,
               names: Pseudonyms | None = None) -> Iterator[ox.Quad]:
    """:func:`_view_quads`, or, with `names`, its pseudonymised view (never the metadata graph).

    Parameters
    ----------
    db : Database
        The store the statements are read from (its current sources, pinned while they are read).
    export : ExportGraph
        The view whose statements are wanted.
    with_meta : bool
        Add the metadata graph to the ``full`` view (for the formats with named graphs); ignored with `names`.
    names : Pseudonyms, optional
        A reader's pseudonyms: the statements about the real nodes behind `export`'s are read, and
        rewritten as readers see them (:meth:`~graph.linkage.pseudonyms.Pseudonyms.quads`).
    """
    if names is None:
        return _view_quads(db, export, with_meta=with_meta, real=lambda s: s)
    return names.quads(_view_quads(db, export, with_meta=False, real=lambda s: names.real.get(s, s)))


def _view_quads(db: Database, export: ExportGraph, *, with_meta: bool, real: Callable[[str], str]
                ) -> Iterator[ox.Quad]:
    """The statements an RDF export of `export` holds, in their source graphs (sorted by source).

    The ``full`` view holds every statement of every current source (and the metadata graph if
    `with_meta`); other views the statements about their nodes and, for officer networks, about the
    evidence behind their edges.
    """
    pin = db.pin()  # a load that lands meanwhile must not drop the graphs being read
    try:
        stable = pin.stable_names  # exports name a source's graph as queries do
        graphs = list(stable)
        if export.view == "full":
            for graph in graphs:
                name = stable[graph]
                yield from (ox.Quad(q.subject, q.predicate, q.object, name) for q in db.backend.quads(graph))
            if with_meta:  # the runs' records: a current run's graph under its stable name
                yield from (ox.Quad(stable.get(q.subject, q.subject), q.predicate,  # type: ignore[arg-type]
                                    stable.get(q.object, q.object), q.graph_name)  # type: ignore[arg-type]
                            for q in db.backend.quads(db.meta))
            return
        subjects = [real(s) for s in export.node_keys]
        if "evidence" in {a.name for a in export.edge_attrs}:
            subjects += sorted({real(e) for _, _, d in export.edges() for e in d["evidence"].split(";") if e})
        store = getattr(db.backend, "store")
        for graph in graphs:
            name = stable[graph]
            for subject in subjects:
                yield from (ox.Quad(q.subject, q.predicate, q.object, name)
                            for q in store.quads_for_pattern(ox.NamedNode(subject), None, None, graph))
    finally:
        pin.release()


def _rdf(quads: Iterable[ox.Quad], fmt: Format) -> Iterator[bytes]:
    """Serialize in batches: repeated prefixes (Turtle, TriG) and graph blocks (TriG) are legal."""
    assert fmt.rdf_format is not None
    triples = fmt.rdf_format in (ox.RdfFormat.TURTLE, ox.RdfFormat.N_TRIPLES)
    prefixes = PREFIXES if fmt.rdf_format in (ox.RdfFormat.TURTLE, ox.RdfFormat.TRIG) else None
    is_jsonld = fmt.rdf_format == ox.RdfFormat.JSON_LD
    if is_jsonld:
        yield (json.dumps(CONTEXT, sort_keys=True)[:-1] + ', "@graph": [').encode()
    batch: list[Any] = []
    first = True

    def flush() -> bytes:
        items = [ox.Triple(q.subject, q.predicate, q.object) for q in batch] if triples else list(batch)
        data = ox.serialize(items, format=fmt.rdf_format, prefixes=prefixes) or b""
        if is_jsonld:  # splice each batch's array into the one @graph array
            inner = data.strip()[1:-1]
            return (b"" if first or not inner else b",") + inner
        return data

    for quad in quads:
        batch.append(quad)
        if len(batch) >= _BATCH:
            yield flush()
            first = False
            batch = []
    if batch or first:
        yield flush()
    if is_jsonld:
        yield b"]}\n"


def body(export: ExportGraph, fmt: Format, *, flavour: str = "plain", quads: Iterable[ox.Quad] = (),
         describe: dict[str, Any] | None = None) -> Iterator[bytes]:
    """The export's body in `fmt`, in chunks. RDF formats write `quads`; CSV embeds `describe`.

    Parameters
    ----------
    export : ExportGraph
        The view's nodes and edges, which the graph formats and CSV write.
    fmt : Format
        One of :data:`EXPORT_FORMATS`.
    flavour : str
        GraphML's: ``plain`` or ``yed`` (:func:`graph.export.graphml.graphml`); the other formats ignore it.
    quads : iterable of Quad
        The statements an RDF format writes (:func:`view_quads`); the other formats ignore them.
    describe : dict, optional
        What the CSV zip holds as ``manifest.json`` (:func:`manifest`), each file's checksum added.
    """
    if fmt.is_rdf:
        yield from _rdf(quads, fmt)
    elif fmt.name == "csv":
        yield from _csv_zip(export, describe or {})
    else:
        text = {"graphml": lambda: graphml(export, flavour=flavour), "gexf": lambda: gexf(export, generator=generator()),
                "cytoscape.json": lambda: _cytoscape(export)}[fmt.name]()
        buffer: list[str] = []
        size = 0
        for chunk in text:
            buffer.append(chunk)
            size += len(chunk)
            if size > 65536:
                yield "".join(buffer).encode("utf-8")
                buffer, size = [], 0
        yield "".join(buffer).encode("utf-8")


def manifest(f: Facts, export: ExportGraph, fmt: Format, sha256: str | None) -> dict[str, Any]:
    """What an export holds: view, parameters, data version, counts, checksum, when, by what, sources cited.

    Parameters
    ----------
    f : Facts
        The facts the export was made from; the sources it cites are described from them.
    export : ExportGraph
        The export.
    fmt : Format
        Its format.
    sha256 : str or None
        The body's SHA-256 (hex), when known; None leaves it out (the manifest inside a CSV zip).
    """
    counted, cited = survey(export)
    out: dict[str, Any] = {
        "view": export.view, "format": fmt.name, "media_type": fmt.media_type, "parameters": export.parameters,
        "data_version": export.version, "counts": counted,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "generator": generator(),
        "sources": {s: {k: v for k, v in f.source(s).__dict__.items() if v is not None} for s in sorted(cited)},
    }
    if sha256 is not None:
        out["sha256"] = sha256
    return out
