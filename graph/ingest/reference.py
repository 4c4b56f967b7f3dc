"""The reference part of ``docs/data-format.md``, generated from :data:`~graph.ingest.tables.TABLES`.

Regenerate with ``python -c "import graph.ingest.reference as r; r.write_docs()"``; ``tests/test_docs.py``
fails when the file and the format disagree.
"""

from __future__ import annotations

from pathlib import Path

from graph.ingest.tables import CLASS_NAMES, TABLES, TYPE_VALUES
from ontology import OV
from ontology.concepts import by_notation

__all__ = ["BEGIN", "END", "render_docs", "write_docs"]

def render_docs() -> str:
    """The reference part of ``docs/data-format.md``, generated from :data:`TABLES`."""
    lines: list[str] = []
    for table in TABLES:
        lines += [f"### `{table.file}`", "", table.help, ""]
        if table.key_from:
            lines += [f"Rows have no `key` column: a row is identified by {', '.join(table.key_from)}.", ""]
        if table.about:
            lines += [f"Rows have no `key` column: each row describes the entity `{table.about}` names, once.", ""]
        lines += ["| column | required | value | meaning |", "|---|---|---|---|"]
        for c in table.columns:
            value = c.kind
            if c.kind in {"concept", "evidence"}:
                value = ", ".join(f"`{n}`" for n in sorted(by_notation(str(c.concept or OV.EvidenceStatus))))
                if c.kind == "concept" and c.concept in CLASS_NAMES:
                    value += ", or `SCHEME\\|NOTATION` of concepts.csv"
            elif c.kind == "ref":
                value = "key of " + " / ".join(c.refs)
            elif c.name == table.type_column:
                value = ", ".join(f"`{n}`" for n in TYPE_VALUES[table.file])
            elif c.kind == "scheme":
                value = "scheme name"
            elif c.kind == "match":
                value = "concept"
            if c.many:
                value += " (several, `;`-separated)"
            help = c.help.replace("|", "\\|")  # a | inside a table cell ends it, even inside backticks
            lines.append(f"| `{c.name}` | {'yes' if c.required else ''} | {value} | {help} |")
        lines.append("")
    return "\n".join(lines)


BEGIN, END = "<!-- BEGIN GENERATED: graph.ingest.reference.render_docs -->", "<!-- END GENERATED -->"


def write_docs(path: Path = Path("docs/data-format.md")) -> None:
    """Replace the generated reference section of `path` with :func:`render_docs`."""
    text = path.read_text("utf-8")
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    path.write_text(f"{head}{BEGIN}\n\n{render_docs()}\n{END}{tail}", encoding="utf-8")
