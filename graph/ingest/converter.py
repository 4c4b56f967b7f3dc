"""The converter: a folder in the tabular format (:data:`~graph.ingest.tables.TABLES`) to N-Triples.

Each row becomes one node with a minted IRI; every cell is checked here, so a bad cell is reported
with its file, line and column before anything is staged. The statements are written as N-Triples text
for Oxigraph's own parser to load (:func:`graph.ingest.load.load` feeds it to the scratch store and the
disk store as it is written): making a Python object per statement, and handing millions of them over,
cost more than the checks themselves.
"""

from __future__ import annotations

import csv
import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from rdflib import URIRef
from rdflib.namespace import RDF, SKOS

from graph.errors import InputError, Issue
from graph.ingest.tables import (
    CLASS_NAMES,
    CONCEPT_CLASSES,
    LOCAL,
    PERSONAL,
    SCHEME_NAME,
    TABLES,
    TYPE_VALUES,
    Column,
    Table,
)
from graph.iri import mint
from ontology import OV
from ontology.concepts import by_notation

__all__ = ["Conversion", "convert", "is_tabular"]

_XSD = "http://www.w3.org/2001/XMLSchema#"
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?\Z")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?\Z")
_INT = re.compile(r"^[+-]?\d+\Z")
_BOOL = {"true": "true", "false": "false", "yes": "true", "no": "false", "1": "true", "0": "false"}


@dataclass
class Conversion:
    """A converted folder: where each node came from."""

    locations: dict[str, tuple[str, int]] = field(default_factory=dict)  # node IRI -> (file, line)
    columns: dict[tuple[str, str], str] = field(default_factory=dict)  # (file, predicate IRI) -> column
    rows: int = 0


def is_tabular(path: Path) -> bool:
    """Whether `path` is a folder in the tabular format (holds at least one known CSV file)."""
    return path.is_dir() and any((path / t.file).is_file() for t in TABLES)


# N-Triples' string escapes, and every other control character as \\uXXXX (a cell's value is kept exactly).
_ESCAPES = {c: f"\\u{c:04X}" for c in range(0x20)} | {0x7F: "\\u007F"} | {
    ord("\\"): "\\\\", ord('"'): '\\"', ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"}


@cache
def _datatype(name: str) -> str:
    return f'"^^<{_XSD}{name}>'


def _lit(value: str, datatype: str | None = None) -> str:
    """A literal written as N-Triples."""
    return '"' + value.translate(_ESCAPES) + (_datatype(datatype) if datatype else '"')


@cache
def _iri(iri: str) -> str:
    """An IRI written as N-Triples: only for the ontology's and SKOS's terms, and minted IRIs (never a cell's text)."""
    return f"<{iri}>"


def _date(value: str) -> str | None:
    match = _DATE.match(value)
    if not match:
        return None
    year, month, day = match.groups()
    if month and not 1 <= int(month) <= 12:
        return None
    if day:
        try:
            datetime.date(int(year), int(month), int(day))
        except ValueError:
            return None
        return _lit(value, "date")
    return _lit(value, "gYearMonth" if month else "gYear")


_RDF_TYPE = _iri(str(RDF.type))
_EVIDENCE_STATUS = str(OV.EvidenceStatus)


class _Converter:
    def __init__(self, folder: Path, base: str, write: Callable[[str], Any],
                 progress: Callable[[str, int, int], None], stop: Callable[[], Any]) -> None:
        self.folder = folder
        self.base = base
        self.progress = progress
        self._write = write
        self._stop: Callable[[], Any] | None = stop
        self.out = Conversion()
        self.issues: list[Issue] = []
        self._minted: dict[tuple[str, str], str] = {}
        self.local: dict[tuple[str, str], str] = {}  # concepts.csv: (scheme, notation) -> its class's name
        self.schemes: set[str] = set()  # local schemes described so far

    def write(self, text: str) -> None:
        """Hand statements on, until the first issue: then `stop` once, and check the rest without writing."""
        if not self.issues:
            self._write(text)
        elif self._stop is not None:
            self._stop()
            self._stop = None

    def mint(self, kind: str, key: str) -> str:
        """:func:`graph.iri.mint` as N-Triples, once per entity (rows refer to the same entities again and again)."""
        found = self._minted.get((kind, key))
        if found is None:
            found = self._minted[(kind, key)] = f"<{mint(kind, key, base=self.base).value}>"
        return found

    def scheme(self, name: str) -> str:
        """A local scheme's node; described (a ``skos:ConceptScheme`` with its name) the first time it is named."""
        node = self.mint("scheme", name)
        if name not in self.schemes:
            self.schemes.add(name)
            self.write(f"{node} {_RDF_TYPE} {_iri(str(SKOS.ConceptScheme))} .\n"
                       f"{node} {_iri(str(SKOS.notation))} {_lit(name)} .\n")
        return node

    def local_concept(self, value: str, expected: URIRef | None) -> str:
        """The concept SCHEME|NOTATION of ``concepts.csv``, checked to be a value of `expected` (a class)."""
        scheme, _, notation = (part.strip() for part in value.partition(LOCAL))
        found = self.local.get((scheme, notation))
        if found is None:
            raise ValueError(f"{value!r} names no row of concepts.csv (scheme {scheme!r}, notation {notation!r})")
        if expected is not None and CONCEPT_CLASSES.get(found) != expected:
            raise ValueError(f"{value!r} is a concept of class {found}, not {CLASS_NAMES[expected]}")
        return self.mint("concept", f"{scheme}{LOCAL}{notation}")

    def ref(self, column: Column, raw: str) -> str | None:
        named, key = column.split_ref(raw)
        if named is None and column.kind_required:
            raise ValueError(f"write KIND:KEY with KIND one of {', '.join(column.refs)}")
        kind = named or column.refs[0]
        if not key:
            raise ValueError("empty key")
        if kind == "allegation" and column.names_finding:
            return None  # resolved by the row (the finding of this officer on that allegation)
        return self.mint(kind, key)

    def cell(self, table: Table, column: Column, raw: str, row: dict[str, str]) -> list[str]:
        values = [v.strip() for v in raw.split(";")] if column.many else [raw]
        terms: list[str] = []
        for value in values:
            if not value:
                continue
            kind = column.kind
            if kind in {"text", "key"}:
                terms.append(_lit(value))
            elif kind == "integer":
                if not _INT.match(value):
                    raise ValueError("must be a whole number")
                terms.append(_lit(str(int(value)), "integer"))
            elif kind == "boolean":
                if value.lower() not in _BOOL:
                    raise ValueError("must be true or false")
                terms.append(_lit(_BOOL[value.lower()], "boolean"))
            elif kind in {"date", "datetime"}:
                date = _date(value)
                if date is None and kind == "datetime" and _DATETIME.match(value):
                    date = _lit(value, "dateTime")
                if date is None:
                    accepted = "YYYY, YYYY-MM or YYYY-MM-DD" + (" or YYYY-MM-DDThh:mm:ss" if kind == "datetime" else "")
                    raise ValueError(f"must be a date written {accepted}")
                terms.append(date)
            elif kind == "url":
                if not re.match(r"^https?://\S+\Z", value):
                    raise ValueError("must be an http(s) URL")
                terms.append(_lit(value, "anyURI"))
            elif kind == "scheme":
                if not SCHEME_NAME.match(value):
                    raise ValueError("a scheme is named with letters, digits and dashes")
                terms.append(self.scheme(value))
            elif kind == "concept" and LOCAL in value and column.concept in CLASS_NAMES:
                terms.append(self.local_concept(value, column.concept))
            elif kind in {"concept", "evidence"}:
                scheme = by_notation(str(column.concept or _EVIDENCE_STATUS))
                if value not in scheme:
                    raise ValueError(f"unknown value; accepted: {', '.join(sorted(scheme))}"
                                     + ("; or SCHEME|NOTATION of concepts.csv" if column.concept in CLASS_NAMES else ""))
                terms.append(_iri(scheme[value].iri))
            elif kind == "match":  # of a concepts.csv row: a core concept of its class, or another local one
                cls = CONCEPT_CLASSES.get(row.get("class", ""))
                if LOCAL in value or column.predicate == SKOS.broader:
                    terms.append(self.local_concept(value if LOCAL in value else f"{row['scheme']}{LOCAL}{value}",
                                                    None))
                elif cls is not None:
                    scheme = by_notation(str(cls))
                    if value not in scheme:
                        raise ValueError(f"not a {row['class']} of the ontology; accepted: "
                                         f"{', '.join(sorted(scheme))}, or SCHEME|NOTATION of this file")
                    terms.append(_iri(scheme[value].iri))
            elif kind == "ref":
                if column.names_finding:
                    terms.append(self.mint("finding", f"{value}|{row['officer'].strip()}"))
                else:
                    node = self.ref(column, value)
                    if node is not None:
                        terms.append(node)
        return terms

    def table(self, table: Table) -> None:
        path = self.folder / table.file
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            known = table.by_name
            unknown = [h for h in header if h not in known]
            missing = [c.name for c in table.columns if c.required and c.name not in header]
            for name in unknown:
                self.issues.append(Issue(table.file, "unknown column", f"column '{name}' is not part of the format;"
                                         f" accepted: {', '.join(known)}", line=1, field=name))
            for name in missing:
                self.issues.append(Issue(table.file, "required column", f"required column '{name}' is missing",
                                         line=1, field=name))
            if unknown or missing:
                return
            seen: dict[str, int] = {}
            # (column, its predicate as N-Triples) for the columns that make statements
            plan = [(c, _iri(str(c.predicate))) for c in table.columns if c.predicate is not None]
            for column in table.columns:
                if column.predicate is not None and column.name in header:
                    self.out.columns[(table.file, str(column.predicate))] = column.name
            phase = f"converting {table.file}"
            for row in reader:
                self.row(table, row, reader.line_num, seen, plan)
                if self.out.rows % 50_000 == 0:
                    self.progress(phase, reader.line_num, 0)

    def row(self, table: Table, row: dict[str, str | None], line: int, seen: dict[str, int],
            plan: list[tuple[Column, str]]) -> None:
        self.out.rows += 1
        cells = {k: (v or "").strip() for k, v in row.items() if k is not None}
        if None in row:
            self.issues.append(Issue(table.file, "row length", "row has more cells than the header", line=line))
            return
        problems = False
        for column in table.columns:
            if column.required and not cells.get(column.name):
                self.issues.append(Issue(table.file, "required", "a value is required", line=line, field=column.name))
                problems = True
        if problems:
            return
        identity = table.key_from or ((table.about,) if table.about else ())
        key = cells["key"] if "key" in table.by_name else "|".join(cells.get(c, "") for c in identity)
        if key in seen:
            self.issues.append(Issue(table.file, "unique key", f"repeats the key of line {seen[key]}",
                                     line=line, field="key" if "key" in table.by_name else None, value=key))
            return
        seen[key] = line
        if table.about:
            try:
                subject = self.ref(table.by_name[table.about], cells[table.about])
            except ValueError as exc:
                self.issues.append(Issue(table.file, "ref", str(exc), line=line, field=table.about,
                                         value=cells[table.about]))
                return
            assert subject is not None
        else:
            subject = self.mint(table.kind, key)
        types = [] if table.rdf_type is None else [table.rdf_type]
        if table.type_column:
            accepted = TYPE_VALUES[table.file]
            chosen = accepted.get(cells[table.type_column])
            if chosen is None:
                self.issues.append(Issue(table.file, "accepted values", f"unknown {table.type_column}; accepted: "
                                         f"{', '.join(accepted)}", line=line, field=table.type_column,
                                         value=cells[table.type_column]))
                return
            types.append(chosen)
        lines = [f"{subject} {_RDF_TYPE} {_iri(str(t))} .\n" for t in types]
        for column, predicate in plan:
            raw = cells.get(column.name, "")
            if column.kind == "key":
                raw = cells.get("identifier") or raw  # what is shown, when the key is not it
            if column.kind == "evidence" and not raw:
                raw = "reported"
            if not raw:
                continue
            try:
                terms = self.cell(table, column, raw, cells)  # type: ignore[arg-type]
            except ValueError as exc:
                self.issues.append(Issue(table.file, column.kind, str(exc), line=line, field=column.name, value=raw))
                continue
            lines.extend(f"{subject} {predicate} {term} .\n" for term in terms)
        self.write("".join(lines))
        self.out.locations.setdefault(subject[1:-1], (table.file, line))


def convert(folder: Path, *, base: str, write: Callable[[str], Any],
            progress: Callable[[str, int, int], None] = lambda phase, done, total: None,
            stop: Callable[[], Any] = lambda: None) -> Conversion:
    """Convert a tabular folder to N-Triples, handed to `write` row by row, checking every cell.

    At the first issue, `stop` is called and nothing more is written; the rest of the folder is still
    checked, and the folder raises once every file is read (what `write` was given is then to be dropped).

    Parameters
    ----------
    folder : Path
        A folder of the tabular format (``docs/data-format.md``).
    base : str
        The deployment's base IRI, which the entities' IRIs are minted under.
    write : callable
        Takes the statements as N-Triples text, some lines at a time (such as a text file's ``write``).
    progress : callable, optional
        Told ``(phase, line, 0)`` every 50,000 rows.
    stop : callable, optional
        Called once, at the first issue (such as closing what `write` feeds, so its readers end early).

    Raises
    ------
    InputError
        Listing every bad file, header, row and cell (file, line, column, rule).
    """
    converter = _Converter(folder, base, write, progress, stop)
    known = {t.file for t in TABLES}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() == ".csv" and path.name not in known:
            converter.issues.append(Issue(path.name, "known file", "not a file of the tabular format; accepted: "
                                          + ", ".join(sorted(known))))
    present = {t.file for t in TABLES if (folder / t.file).is_file()}
    if PERSONAL in present and present - {PERSONAL, "sources.csv"}:
        converter.issues.append(Issue(PERSONAL, "own source", "names are personal data and load as a source of "
                                      "their own: put names.csv in a folder with only sources.csv beside it "
                                      f"(this one also has {', '.join(sorted(present - {PERSONAL, 'sources.csv'}))})"))
    concept_file = folder / "concepts.csv"
    if concept_file.is_file():  # what concept cells may name, before any file is converted
        try:
            with concept_file.open(newline="", encoding="utf-8-sig") as handle:
                for row in csv.DictReader(handle):
                    scheme, notation = (row.get("scheme") or "").strip(), (row.get("notation") or "").strip()
                    if scheme and notation:
                        converter.local.setdefault((scheme, notation), (row.get("class") or "").strip())
        except (UnicodeDecodeError, csv.Error):
            pass  # reported when the file is converted
    for table in TABLES:
        if (folder / table.file).is_file():
            try:
                converter.table(table)
            except (UnicodeDecodeError, csv.Error) as exc:
                converter.issues.append(Issue(table.file, "CSV syntax", f"cannot be read as UTF-8 CSV ({exc.__class__.__name__})"))
    if converter.issues:
        raise InputError(converter.issues)
    return converter.out

