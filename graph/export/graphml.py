"""GraphML and GEXF writers, streamed: valid against the GraphML schema, shaped for real readers.

Choices for readers' known pitfalls (Gephi, yEd, Cytoscape, igraph, networkx, rustworkx, graph-tool):

* every key has ``attr.name`` and ``attr.type``, one type per name, ``for`` a node or an edge (never ``all``);
  integers are ``int`` (yEd reads ``long`` badly), booleans are written ``true``/``false``;
* node ids are ``n0``, ``n1``... (no ``/``), the entity IRI is the ``iri`` attribute, and no attribute is
  called ``id`` (igraph keeps the GraphML id under that name);
* all nodes come before all edges, edge ids are unique, identifiers are strings;
* the yEd flavour (opt-in) adds yEd's node graphics with labels and colours by type; it is not in the
  default file because those extension elements break graph-tool, rustworkx and networkit, and it is not
  valid against the plain GraphML schema (yEd's own files are not either).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from graph.export.views import ExportGraph

__all__ = ["graphml", "gexf", "COLOURS", "colour"]

_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
#: Node colours by entity type (hex RGB); anything else is grey.
COLOURS = {
    "officer": "#1F77B4", "staff": "#17BECF", "person": "#7F7F7F", "finding": "#D62728",
    "allegation": "#FF7F0E", "investigation": "#2CA02C", "inquiry": "#98DF8A", "chat-group": "#9467BD",
    "chat-membership": "#C5B0D5", "message": "#8C564B", "posting": "#BCBD22", "employment-status": "#DBDB8D",
    "barred-list-entry": "#E377C2", "sanction": "#F7B6D2", "unit": "#AEC7E8", "station": "#FFBB78",
    "force": "#393B79", "organisation": "#5254A3", "source-document": "#C7C7C7", "event": "#9EDAE5",
}


def colour(kind: str) -> str:
    return COLOURS.get(kind, "#A0A0A0")


_SPECIAL = re.compile('[&<>"\x00-\x1f\ufffe\uffff]')


def _text(value: Any) -> str:
    """`value` as XML text or attribute content: escaped, without characters XML cannot hold."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = value if isinstance(value, str) else str(value)
    if not _SPECIAL.search(text):  # most values (IRIs, numbers): nothing to do
        return text
    text = _INVALID.sub("", text)  # characters XML 1.0 cannot hold at all are dropped
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    # as character references, tab and line ends survive XML's attribute and line-end normalisation
    return text.replace("\t", "&#9;").replace("\n", "&#10;").replace("\r", "&#13;")


def _ids(export: ExportGraph) -> dict[str, str]:
    return {node: f"n{i}" for i, node in enumerate(export.node_keys)}


def graphml(export: ExportGraph, *, flavour: str = "plain") -> Iterator[str]:
    """The export as GraphML, in chunks. `flavour` is ``plain`` or ``yed``.

    Parameters
    ----------
    export : ExportGraph
        The view written: its declared attributes as ``<key>`` elements, then its nodes and edges in order.
    flavour : str
        ``yed`` also draws each node as a yEd shape, labelled and coloured by its type; anything else
        writes plain GraphML.
    """
    yed = flavour == "yed"
    yield '<?xml version="1.0" encoding="UTF-8"?>\n'
    yield ('<graphml xmlns="http://graphml.graphdrawing.org/xmlns"'
           ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
           + (' xmlns:y="http://www.yworks.com/xml/graphml"' if yed else "")
           + ' xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns'
           ' http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">\n')
    for attr in (*export.node_attrs, *export.edge_attrs):
        prefix = "n" if attr.domain == "node" else "e"
        yield (f'  <key id="{prefix}_{attr.name}" for="{attr.domain}" attr.name="{attr.name}"'
               f' attr.type="{attr.type}"/>\n')
    if yed:
        yield '  <key id="n_yed" for="node" yfiles.type="nodegraphics"/>\n'
    yield f'  <graph id="G" edgedefault="{"directed" if export.directed else "undirected"}">\n'
    ids = _ids(export)
    for node, data in export.nodes():
        parts = [f'    <node id="{ids[node]}">']
        for attr in export.node_attrs:
            value = data.get(attr.name)
            if value is not None and value != "":
                parts.append(f'<data key="n_{attr.name}">{_text(value)}</data>')
        if yed:
            parts.append(f'<data key="n_yed"><y:ShapeNode><y:Fill color="{colour(data.get("type", ""))}"'
                         f' transparent="false"/><y:NodeLabel>{_text(data.get("label", ""))}</y:NodeLabel>'
                         '</y:ShapeNode></data>')
        parts.append("</node>\n")
        yield "".join(parts)
    tags = [(attr.name, f'<data key="e_{attr.name}">') for attr in export.edge_attrs]
    for i, (source, target, data) in enumerate(export.edges()):
        parts = [f'    <edge id="e{i}" source="{ids[source]}" target="{ids[target]}">']
        for name, tag in tags:
            value = data.get(name)
            if value is not None and value != "":
                parts += (tag, _text(value), "</data>")
        parts.append("</edge>\n")
        yield "".join(parts)
    yield "  </graph>\n</graphml>\n"


_GEXF_TYPES = {"string": "string", "int": "integer", "double": "double", "boolean": "boolean"}


def gexf(export: ExportGraph, *, generator: str = "oversight-graph") -> Iterator[str]:
    """The export as GEXF 1.3 with typed attributes and ``viz`` colours by type, in chunks.

    Parameters
    ----------
    export : ExportGraph
        The view written; its ``label`` and ``weight`` attributes become GEXF's own node label and edge weight.
    generator : str
        The ``<creator>`` in the file's ``<meta>`` (:func:`graph.export.formats.generator`).
    """
    yield '<?xml version="1.0" encoding="UTF-8"?>\n'
    yield ('<gexf xmlns="http://gexf.net/1.3" xmlns:viz="http://gexf.net/1.3/viz"'
           ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
           ' xsi:schemaLocation="http://gexf.net/1.3 http://gexf.net/1.3/gexf.xsd" version="1.3">\n')
    yield (f'  <meta><creator>{_text(generator)}</creator>'
           f'<description>view {_text(export.view)}, data version {export.version}</description></meta>\n')
    yield f'  <graph defaultedgetype="{"directed" if export.directed else "undirected"}" mode="static">\n'
    node_attrs = [a for a in export.node_attrs if a.name != "label"]  # GEXF nodes have their own label
    edge_attrs = [a for a in export.edge_attrs if a.name != "weight"]  # and edges their own weight
    for domain, attrs in (("node", node_attrs), ("edge", edge_attrs)):
        yield f'    <attributes class="{domain}">\n'
        for attr in attrs:
            yield f'      <attribute id="{attr.name}" title="{attr.name}" type="{_GEXF_TYPES[attr.type]}"/>\n'
        yield "    </attributes>\n"
    ids = _ids(export)
    yield "    <nodes>\n"
    for node, data in export.nodes():
        values = "".join(f'<attvalue for="{a.name}" value="{_text(data[a.name])}"/>' for a in node_attrs
                         if data.get(a.name) not in (None, ""))
        rgb = colour(data.get("type", ""))
        r, g, b = (int(rgb[i:i + 2], 16) for i in (1, 3, 5))
        yield (f'      <node id="{ids[node]}" label="{_text(data.get("label", ""))}"><attvalues>{values}</attvalues>'
               f'<viz:color r="{r}" g="{g}" b="{b}"/></node>\n')
    yield "    </nodes>\n    <edges>\n"
    for i, (source, target, data) in enumerate(export.edges()):
        values = "".join(f'<attvalue for="{a.name}" value="{_text(data[a.name])}"/>' for a in edge_attrs
                         if data.get(a.name) not in (None, ""))
        yield (f'      <edge id="e{i}" source="{ids[source]}" target="{ids[target]}"'
               f' weight="{data.get("weight", 1)}"><attvalues>{values}</attvalues></edge>\n')
    yield "    </edges>\n  </graph>\n</gexf>\n"
