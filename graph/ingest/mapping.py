"""Declarative imports: a TOML mapping turns a dataset's own CSV files into the tabular format, then loads it.

A mapping (``docs/mappings.md``; shipped examples in ``graph/ingest/mappings/``) names the dataset,
its files, code lists, and one rule per target table of the tabular format
(``docs/data-format.md``): which file its rows come from and how each target column is made
from the file's columns (trimming, ``integer``, ``upper``/``lower``, a code list, a date
format, a constant, or a template over other target columns and ``_helper`` values, which
are not written). Rows whose required values
are blank, or whose values do not convert, are rejected and counted with the reason,
never guessed. The result is a folder of the tabular format, loaded like any other (checked
against the shapes, all or nothing), as one source; names, where a mapping makes them, go to
a second source of their own (``{name}-names``) that a deployment can leave out.

The choice of a small format of our own over RML is in
``docs/decisions/2026-11-25-mappings.md``.
"""

from __future__ import annotations

import csv
import difflib
import itertools
import re
import tempfile
import tomllib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from graph.errors import InputError, Issue
from graph.ingest.dialect import FileSpec, parse_file, read_table, resolve
from graph.ingest.functions import NoMatch, Where, holds, order, parse_functions, parse_where, transform
from graph.ingest.load import LoadReport, Progress, SourceInput, quiet, load, plan, validate
from graph.ingest.tables import CLASS_NAMES, CONCEPT_CLASSES, LOCAL, PERSONAL, SCHEME_NAME, TABLES, Column, Table
from graph.iri import SOURCE_NAME, source_name_problem
from graph.store.database import Database

__all__ = [
    "ImportReport",
    "Mapping",
    "Rule",
    "Value",
    "Vocabulary",
    "dry_run",
    "import_dataset",
    "names_source",
    "read_mapping",
    "shipped",
    "translate",
    "translated",
]

_TABLES = {t.file.removesuffix(".csv"): t for t in TABLES}
@lru_cache(maxsize=1 << 16)
def _integer(value: str) -> str:
    if not re.fullmatch(r"[+-]?[0-9]+(\.0*)?", value):
        raise ValueError("not a whole number")
    return str(int(value.split(".")[0]))


@lru_cache(maxsize=1 << 16)
def _date(value: str, pattern: str) -> str:
    if pattern == "%Y-%m-%d":
        return date.fromisoformat(value).isoformat()
    return datetime.strptime(value, pattern).date().isoformat()


_NORMALISE: dict[str, Callable[[str], str]] = {"upper": str.upper, "lower": str.lower, "integer": _integer}
_COMBINE = ("first", "all", "prefer")
_EXAMPLES = 5  # most frequent values kept per report line
_TEMPLATE = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Value:
    """How one target column is made: from a `column`, a constant `value`, or a `template`."""

    column: str | int | None = None  # a name, or a position (1 for the first column)
    value: str | None = None
    template: str | None = None
    normalise: tuple[str, ...] = ()
    codes: str | None = None
    scheme: str | None = None  # a [vocabularies] entry: the values are its concepts, the source's own notations
    unknown: str = "reject"  # an unknown code: reject the row, leave the cell empty, or keep it (a scheme's)
    date: str | None = None  # strptime format of the source, such as %m/%d/%y
    default: str | None = None  # what a blank cell of `column` is read as (before normalise, codes...)
    required: bool = False
    reason: str | None = None  # said when a required value is blank
    combine: str | None = None  # rows with one key that disagree here: an error (None), or first, all, prefer
    prefer: tuple[str, ...] = ()  # combine = "prefer": the values in order of preference (most serious first)
    row: bool = False  # the row's place in its file, FILE/LINE (a key for files that have none)
    lookup: str | None = None  # a [files] entry: `column` is taken from its row whose `match` column is `on`
    on: str | None = None  # with lookup: the column of this rule whose value is looked up
    match: str | int | None = None  # with lookup: the looked-up file's column that holds the keys
    extract: str | None = None  # a regular expression: the value becomes its group (or the whole match)
    replace: tuple[tuple[str, str], ...] = ()  # (pattern, replacement) pairs, applied in order
    split: str | None = None  # a separator: several values, each normalised and coded on its own


@dataclass(frozen=True)
class Rule:
    """Rows of the target table `target`, one per row of file `source` (or one per distinct key)."""

    target: str
    source: str
    columns: dict[str, Value]
    index: int = 0  # its place among the mapping's [[tables]]
    lines: dict[str, int] = field(default_factory=dict)  # "" (the rule) or a column -> line in the mapping file
    empty: str = "error"  # when it makes no row: fail the import ("error"), or only say so ("warn")
    conditions: tuple[Where, ...] = ()  # its where: rows that fail a condition are left out, and counted

    def where(self, column: str | None = None) -> str:
        """How messages name the rule, or one of its columns: ``tables[3].columns.officer``."""
        return f"tables[{self.index}]" + (f".columns.{column}" if column else "")


#: What a local vocabulary's concept may say besides its notation (columns of ``concepts.csv``).
CONCEPT_KEYS = ("label", "definition", "broader", "exact_match", "close_match", "broad_match", "narrow_match")


@dataclass(frozen=True)
class Vocabulary:
    """A dataset's own code list (``[vocabularies.NAME]``): SKOS concepts of the local scheme NAME, values of
    the class `cls` (a name of :data:`graph.ingest.tables.CONCEPT_CLASSES`), by notation, each with the
    ``concepts.csv`` cells it declares (label, definition and links onto the ontology's concepts)."""

    name: str
    cls: str
    concepts: dict[str, dict[str, str]]


@dataclass(frozen=True)
class Mapping:
    """A parsed mapping file."""

    path: str
    name: str
    title: str
    licence: str | None
    url: str | None
    files: dict[str, FileSpec]
    codes: dict[str, dict[str, str]]
    rules: tuple[Rule, ...]
    vocabularies: dict[str, Vocabulary] = field(default_factory=dict)
    scope: str = ""  # what keys are scoped by (default: the dataset's name); mappings sharing it share entities


_DATASET_KEYS = ("name", "title", "licence", "url", "scope")  # what [dataset] takes


@dataclass
class ImportReport:
    """What a translation read, rejected, merged, emptied, left unread and made: nothing is lost silently."""

    rows_read: Counter[str] = field(default_factory=Counter)  # by file
    rejected: Counter[tuple[str, str]] = field(default_factory=Counter)  # (table, reason)
    examples: dict[tuple[str, str], str] = field(default_factory=dict)  # (table, reason) -> "file:line"
    entities: Counter[str] = field(default_factory=Counter)  # rows written, by table
    merged: Counter[str] = field(default_factory=Counter)  # by table: rows merged into an earlier one with their key
    disagreeing: Counter[str] = field(default_factory=Counter)  # by table: of those, rows that differed somewhere
    disagreed: Counter[tuple[str, str]] = field(default_factory=Counter)  # (table, column): merged rows that differed
    emptied: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)  # (table, column) -> unknown codes
    kept: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)  # (table, column) -> undeclared, kept
    unmapped: dict[str, tuple[str, ...]] = field(default_factory=dict)  # file -> its columns that no rule reads
    filtered: Counter[tuple[str, str]] = field(default_factory=Counter)  # (table, condition): rows left out by where
    filtered_first: dict[tuple[str, str], str] = field(default_factory=dict)  # (table, condition) -> "file:line"
    unmatched: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)  # (table, column) -> no extract match
    not_found: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)  # (table, column) -> keys not found
    ambiguous: Counter[str] = field(default_factory=Counter)  # "file column" of a lookup -> keys on several rows
    errors: list[Issue] = field(default_factory=list)  # what makes the import fail (nothing is loaded)
    warnings: list[Issue] = field(default_factory=list)  # what the mapping lowered from an error
    samples: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # table -> its first rows made

    def as_dict(self) -> dict[str, Any]:
        return {"rows_read": dict(self.rows_read),
                "rejected": [{"table": t, "reason": r, "rows": n, "first": self.examples[(t, r)]}
                             for (t, r), n in sorted(self.rejected.items())],
                "entities": dict(self.entities),
                "merged": [{"table": t, "rows": n, "disagreeing": self.disagreeing[t],
                            "columns": {c: k for (tt, c), k in sorted(self.disagreed.items()) if tt == t}}
                           for t, n in sorted(self.merged.items())],
                "emptied": [{"table": t, "column": c, "values": sum(v.values()),
                             "most_frequent": dict(v.most_common(_EXAMPLES))}
                            for (t, c), v in sorted(self.emptied.items())],
                "kept": [{"table": t, "column": c, "values": sum(v.values()),
                          "most_frequent": dict(v.most_common(_EXAMPLES))}
                         for (t, c), v in sorted(self.kept.items())],
                "unmapped": {f: list(c) for f, c in sorted(self.unmapped.items())},
                "filtered": [{"table": t, "where": w, "rows": n, "first": self.filtered_first[(t, w)]}
                             for (t, w), n in sorted(self.filtered.items())],
                "unmatched": [{"table": t, "column": c, "values": sum(v.values()),
                               "most_frequent": dict(v.most_common(_EXAMPLES))}
                              for (t, c), v in sorted(self.unmatched.items())],
                "not_found": [{"table": t, "column": c, "keys": sum(v.values()),
                               "most_frequent": dict(v.most_common(_EXAMPLES))}
                              for (t, c), v in sorted(self.not_found.items())],
                "ambiguous": dict(self.ambiguous),
                "errors": [str(i) for i in self.errors], "warnings": [str(i) for i in self.warnings]}

    def lines(self) -> list[str]:
        """The report in words, one line per count (what ``oversight import`` prints)."""
        out = [f"  read {rows:>9,} rows of {file}" for file, rows in self.rows_read.items()]
        out += [f"  made {count:>9,} rows of {table}" for table, count in self.entities.items()]
        out += [f"  rejected {count:>5,} rows for {table}: {reason} (first: {self.examples[(table, reason)]})"
                for (table, reason), count in sorted(self.rejected.items())]
        for table, count in sorted(self.merged.items()):
            columns = ", ".join(f"{c} {n:,}" for (t, c), n in sorted(self.disagreed.items()) if t == table)
            out.append(f"  merged {count:>7,} rows into others of {table} with the same key"
                       + (f"; {self.disagreeing[table]:,} of them disagreed ({columns})" if columns else
                          "; all agreed"))

        def common(values: Counter[str]) -> str:
            return ", ".join(f"{v!r} {n:,}" for v, n in values.most_common(_EXAMPLES))

        for why, counts in (("not in the code list", self.emptied), ("extract found nothing", self.unmatched),
                            ("key not found by the lookup", self.not_found)):
            out += [f"  emptied {sum(values.values()):>6,} values of {table} {column}: {why}"
                    f" (most frequent: {common(values)})" for (table, column), values in sorted(counts.items())]
        for (table, column), values in sorted(self.kept.items()):
            out.append(f"  kept {len(values):>9,} values of {table} {column} that its vocabulary does not declare, as "
                       f"concepts with no match ({sum(values.values()):,} rows; most frequent: {common(values)})")
        for (table, condition), count in sorted(self.filtered.items()):
            out.append(f"  filtered {count:>5,} rows for {table}: {condition} does not hold"
                       f" (first: {self.filtered_first[(table, condition)]})")
        for where, count in sorted(self.ambiguous.items()):
            out.append(f"  lookup: {count:,} keys of {where} are on several rows; the first row of each is used")
        for file, unread in sorted(self.unmapped.items()):
            if unread:
                out.append(f"  unmapped: {file} columns {', '.join(unread)}")
        out += [f"  warning: {w}" for w in self.warnings]
        return out


def shipped() -> dict[str, Path]:
    """The example mappings shipped in ``graph/ingest/mappings/``, by name."""
    folder = resources.files("graph.ingest").joinpath("mappings")
    return {p.name.removesuffix(".toml"): Path(str(p)) for p in folder.iterdir() if p.name.endswith(".toml")}


def read_mapping(path: str | Path) -> Mapping:
    """Parse and check a mapping file; a shipped mapping may be named instead of a path.

    Raises
    ------
    InputError
        For each problem: the file, the key (``tables[2].columns.officer``) and the rule broken.
    """
    path = shipped().get(str(path), Path(path))
    name = path.name
    try:
        text = path.read_text("utf-8")
        data = tomllib.loads(text)
    except FileNotFoundError:
        raise InputError([Issue(str(path), "exists", "no such mapping file (or shipped mapping: "
                                + ", ".join(sorted(shipped())) + ")")]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError([Issue(name, "TOML syntax", str(exc))]) from None
    issues: list[Issue] = []
    lines = _key_lines(text)

    def issue(where: str, rule: str, message: str) -> None:
        issues.append(Issue(name, rule, message, field=where, line=lines.get(where)))

    dataset = data.get("dataset", {})
    if not isinstance(dataset, dict):
        issue("dataset", "table", f"[dataset] must be a table ({', '.join(_DATASET_KEYS)})")
        dataset = {}
    source = str(dataset.get("name", ""))
    problem = source_name_problem(source) or source_name_problem(f"{source}-names")
    if problem:
        issue("dataset.name", "source name", problem)
    if not dataset.get("title"):
        issue("dataset.title", "required", "a title is required")
    extra = set(dataset) - set(_DATASET_KEYS)
    if extra:
        issue("dataset", "keys", f"unknown keys {sorted(extra)}; accepted: {', '.join(_DATASET_KEYS)}")
    scope = str(dataset.get("scope", source))
    if "scope" in dataset and not SOURCE_NAME.match(scope):
        issue("dataset.scope", "scope", f"must match {SOURCE_NAME.pattern}")

    def issue_at(where: str, rule: str, message: str) -> None:
        issues.append(Issue(name, rule, message, field=where, line=lines.get(where)))

    files: dict[str, FileSpec] = {}
    for key, raw_file in data.get("files", {}).items():
        def file_issue(rule: str, message: str, where: str = f"files.{key}") -> None:
            issue_at(where, rule, message)

        found = parse_file(raw_file, file_issue)
        if found is not None:
            files[str(key)] = found
    codes = {str(k): {str(c): str(v) for c, v in table.items()} for k, table in data.get("codes", {}).items()}
    vocabularies = _vocabularies(data.get("vocabularies", {}), issue_at)
    rules = []
    targets = {str(raw.get("target")) for raw in data.get("tables", []) if isinstance(raw, dict)}
    for i, raw in enumerate(data.get("tables", [])):
        where = f"tables[{i}]"
        target = raw.get("target")
        table = _TABLES.get(str(target))
        if table is None:
            issue(f"{where}.target", "target", f"unknown table {target!r}; accepted: {', '.join(_TABLES)}")
            continue
        if raw.get("from") not in files and raw.get("from") not in data.get("files", {}):
            issue(f"{where}.from", "file", f"names no entry of [files]: {raw.get('from')!r}")
        unknown_rule_keys = set(raw) - {"target", "from", "columns", "empty", "where"}
        if unknown_rule_keys:
            issue(where, "keys", f"unknown keys {sorted(unknown_rule_keys)}; accepted: target, from, columns, empty, "
                  "where")

        def where_issue(at: str, rule: str, message: str, rule_at: str = where) -> None:
            issues.append(Issue(name, rule, message, field=at, line=lines.get(at, lines.get(f"{rule_at}.where"))))

        conditions = parse_where(raw["where"], f"{where}.where", where_issue, files=data.get("files", {}),
                                 tables=targets, steps=_NORMALISE) if "where" in raw else ()
        if raw.get("empty", "error") not in ("error", "warn"):
            issue(f"{where}.empty", "empty", "must be 'error' (the default: a rule that makes no row fails the "
                  "import) or 'warn'")
        columns: dict[str, Value] = {}
        for column, spec in raw.get("columns", {}).items():
            at = f"{where}.columns.{column}"
            if column not in table.by_name and not column.startswith("_"):
                issue(at, "column", f"not a column of {table.file}; accepted: {', '.join(table.by_name)} "
                      "(or a helper for templates, named _NAME)")
                continue
            if isinstance(spec, str):
                spec = {"column": spec}
            unknown_keys = set(spec) - set(Value.__dataclass_fields__)
            if unknown_keys:
                issue(at, "keys", f"unknown keys {sorted(unknown_keys)}")
                continue
            functions = parse_functions(spec, at, issue)
            value = Value(**{**{k: v for k, v in spec.items() if k not in ("extract", "replace", "split")},
                             **functions, "normalise": tuple(spec.get("normalise", ())),
                             "prefer": tuple(str(v) for v in spec.get("prefer", ()))})
            if sum(x is not None for x in (value.column, value.value, value.template)) + (value.row is True) != 1:
                issue(at, "source", "give exactly one of column, value, template or row")
            if value.default is not None and (value.column is None or not str(value.default).strip()):
                issue(at, "default", "default goes with column: what a blank cell is read as (not blank itself)")
            if "row" in spec and value.row is not True:
                issue(at, "row", "say row = true for the row's place in its file (FILE/LINE)")
            if isinstance(value.column, bool) or not isinstance(value.column, (str, int, type(None))) or (
                    isinstance(value.column, int) and value.column < 1):
                issue(at, "column", "give a column's name (text) or its position (1 for the first column)")
            for step in value.normalise:
                if step not in _NORMALISE:
                    issue(at, "normalise", f"unknown step {step!r}; accepted: {', '.join(_NORMALISE)}")
            if value.codes is not None and value.codes not in codes:
                issue(at, "codes", f"names no code list of [codes]: {value.codes!r}")
            if value.scheme is not None:
                vocabulary = vocabularies.get(value.scheme)
                expected = table.by_name[column].concept if column in table.by_name else None
                if value.codes is not None:
                    issue(at, "scheme", "give codes (onto the ontology's concepts) or scheme (the dataset's own "
                          "concepts, mapped in [vocabularies]), not both")
                elif vocabulary is None:
                    issue(at, "scheme", f"names no entry of [vocabularies]: {value.scheme!r}")
                elif table.by_name.get(column) is None or table.by_name[column].kind != "concept":
                    issue(at, "scheme", f"{column} does not take concepts")
                elif CONCEPT_CLASSES.get(vocabulary.cls) != expected:
                    takes = CLASS_NAMES[expected] if expected in CLASS_NAMES else "the ontology's concepts only"
                    issue(at, "scheme", f"[vocabularies.{value.scheme}] holds {vocabulary.cls} concepts; "
                          f"{column} takes {takes}")
                if "unknown" not in spec:
                    value = replace(value, unknown="keep")
            if value.unknown not in ("reject", "empty", "keep"):
                issue(at, "unknown", "must be 'reject', 'empty' or (with scheme) 'keep'")
            elif value.unknown == "keep" and value.scheme is None:
                issue(at, "unknown", "'keep' goes with scheme: a value kept as a concept of the dataset's own")
            if value.combine is not None and value.combine not in _COMBINE:
                issue(at, "combine", f"unknown value {value.combine!r}; accepted: {', '.join(_COMBINE)}")
            if value.combine is not None and column.startswith("_"):
                issue(at, "combine", "a helper is not written: there is nothing to combine")
            if value.combine == "all" and column in table.by_name and not table.by_name[column].many:
                issue(at, "combine", f"'all' needs a column that takes several values; {column} takes one")
            if (value.combine == "prefer") != bool(value.prefer):
                issue(at, "prefer", "combine = 'prefer' goes with prefer = [values, most preferred first]")
            if value.lookup is not None:
                if value.lookup not in data.get("files", {}):
                    issue(at, "lookup", f"names no entry of [files]: {value.lookup!r}")
                if value.column is None or value.on is None or value.match is None:
                    issue(at, "lookup", "a lookup takes column (what to take from the looked-up file), on (the "
                          "column of this rule that holds the key) and match (the looked-up file's key column)")
                elif value.on == column or value.on not in raw.get("columns", {}):
                    issue(at, "on", f"{value.on!r} is not another column of this rule")
                if isinstance(value.match, bool) or not isinstance(value.match, (str, int)) or (
                        isinstance(value.match, int) and value.match < 1):
                    issue(at, "match", "give the looked-up file's key column: its name or position (1 for the first)")
            elif value.on is not None or value.match is not None:
                issue(at, "lookup", "on and match go with lookup = FILE (the [files] entry looked up)")
            if value.split is not None and not (column in table.by_name and table.by_name[column].many):
                several = ", ".join(c.name for c in table.columns if c.many and c.name != "source") or "none"
                issue(at, "split", f"split makes several values: it needs a column that takes several ({table.file}: "
                      f"{several}); {column} takes one")
            for ref in _TEMPLATE.findall(value.template or ""):
                if ref not in raw.get("columns", {}):
                    issue(at, "template", f"{{{ref}}} is not a column of this rule")
            columns[column] = value
        missing = [c.name for c in table.columns if c.required and c.name not in columns and c.name != "source"]
        if missing:
            issue(where, "required column", f"{table.file} needs {', '.join(missing)}")
        if order(_needs(columns)) is None:
            issue(where, "order", "its columns need each other in a circle (through templates and lookups' on)")
        rules.append(Rule(str(target), str(raw.get("from")), columns, i,
                          {c: lines[f"{where}.columns.{c}"] for c in columns if f"{where}.columns.{c}" in lines}
                          | ({"": lines[where]} if where in lines else {})
                          | ({"where": lines[f"{where}.where"]} if f"{where}.where" in lines else {}),
                          str(raw.get("empty", "error")),
                          conditions=conditions))
    if not rules and not issues:
        issue("tables", "required", "give at least one [[tables]] rule")
    if issues:
        raise InputError(issues)
    return Mapping(str(path), source, str(dataset["title"]), dataset.get("licence"), dataset.get("url"),
                   files, codes, tuple(rules), vocabularies, scope)


def _vocabularies(raw: Any, issue: Callable[[str, str, str], None]) -> dict[str, Vocabulary]:
    """The ``[vocabularies.NAME]`` of a mapping: ``class`` and ``[vocabularies.NAME.concepts]``, checked."""
    out: dict[str, Vocabulary] = {}
    for name, spec in (raw.items() if isinstance(raw, dict) else ()):
        at = f"vocabularies.{name}"
        if not isinstance(spec, dict):
            issue(at, "vocabulary", "give class and [vocabularies.NAME.concepts]")
            continue
        if not SCHEME_NAME.match(str(name)):
            issue(at, "scheme", "a vocabulary is named with letters, digits and dashes (name it after the dataset, "
                  "such as cpdp-category: the name is its scheme's)")
        extra = set(spec) - {"class", "concepts"}
        if extra:
            issue(at, "keys", f"unknown keys {sorted(extra)}; accepted: class, concepts")
        cls = str(spec.get("class", ""))
        if cls not in CONCEPT_CLASSES:
            issue(f"{at}.class", "class", f"unknown class {cls!r}; accepted: {', '.join(CONCEPT_CLASSES)}")
        concepts: dict[str, dict[str, str]] = {}
        for notation, cells in spec.get("concepts", {}).items():
            where = f"{at}.concepts.{notation}"
            if not isinstance(cells, dict):
                issue(where, "concept", "give an inline table, such as { label = \"...\", broad_match = \"...\" }")
                continue
            extra = set(cells) - set(CONCEPT_KEYS)
            if extra:
                issue(where, "keys", f"unknown keys {sorted(extra)}; accepted: {', '.join(CONCEPT_KEYS)}")
            concepts[str(notation).strip()] = {
                k: ";".join(str(x) for x in v) if isinstance(v, list) else str(v) for k, v in cells.items()}
        out[str(name)] = Vocabulary(str(name), cls, concepts)
    return out


def _needs(columns: dict[str, Value]) -> dict[str, list[str]]:
    """The columns of a rule that each of its columns is made from: its template's, and a lookup's ``on``."""
    return {c: _TEMPLATE.findall(v.template or "") + ([v.on] if v.on else []) for c, v in columns.items()}


def _key_lines(text: str) -> dict[str, int]:
    """Where keys are in a mapping file: ``tables[2]``, ``tables[2].columns.officer``, ``files.x`` -> line (1-based).

    tomllib keeps no positions; this follows the layout the docs use (one ``[[tables]]`` header per rule, one
    column per line), which is enough for messages to point at the line."""
    out: dict[str, int] = {}
    section, rule = "", -1
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.split("#", 1)[0].strip() if not line.lstrip().startswith(('"', "'")) else line.strip()
        if stripped.startswith("[[tables]]"):
            rule += 1
            section = f"tables[{rule}]"
            out[section] = number
            continue
        header = re.fullmatch(r"\[\s*([\w.\-\"' ]+?)\s*\]", stripped)
        if header:
            name = header.group(1).replace('"', "").replace("'", "")
            section = f"tables[{rule}].columns" if name == "tables.columns" else name
            if name.startswith(("files.", "vocabularies.")):
                out[name] = number
            continue
        key = re.match(r"""\s*(?:"([^"]+)"|'([^']+)'|([\w\-]+))\s*=""", line)
        if key and section:
            found = next(k for k in key.groups() if k is not None)
            out.setdefault(f"{section}.{found}", number)
    return out


class _Reject(Exception):
    """A row that cannot be translated; the message is the reason."""


class _Unknown(Exception):
    """A value missing from its code list, with ``unknown = "empty"``: the cell is left empty, and counted.

    Its arguments are the unknown values; `kept` what the cell keeps (the known values of a ``split``), and
    `unmatched` the pieces of a ``split`` that ``extract`` found nothing in."""

    kept = ""
    unmatched: tuple[str, ...] = ()


class _Unmatched(Exception):
    """A value ``extract`` finds nothing in, with ``unknown = "empty"``: the cell is left empty, and counted."""


def _cell(m: Mapping, value: Value, raw: str, made: dict[str, str]) -> str:
    if value.value is not None:
        return value.value
    if value.template is not None:
        parts = {ref: made.get(ref, "") for ref in _TEMPLATE.findall(value.template)}
        if not all(parts.values()):
            return ""
        raw = value.template.format(**parts)
        if not (value.extract or value.replace or value.split or value.normalise or value.date or value.codes
                or value.scheme):
            return raw
    raw = raw.strip() or (value.default or "")
    if not raw:
        return ""
    if value.split is not None:
        return _pieces(m, value, raw)
    return _one(m, value, raw)


def _one(m: Mapping, value: Value, raw: str) -> str:
    """One value (trimmed, not blank) through ``extract`` and ``replace``, then :func:`_coded`."""
    if value.extract is not None or value.replace:
        try:
            raw = transform(raw, value.extract, value.replace)
        except NoMatch:
            if value.unknown == "reject":
                raise _Reject(f"{value.column or 'value'}: extract {value.extract!r} finds nothing") from None
            raise _Unmatched(raw) from None
        if not raw:
            return ""
    return _coded(m, value, raw)


def _pieces(m: Mapping, value: Value, raw: str) -> str:
    """A ``split`` value: each piece trimmed and made on its own (:func:`_one`), joined with ';' (the tabular
    format's separator of several values); blank and repeated pieces are dropped. Pieces with an unknown code
    or that ``extract`` finds nothing in (``unknown = "empty"``) are dropped and raised together at the end,
    with the cell the others make."""
    kept: list[str] = []
    unknown: list[str] = []
    unmatched: list[str] = []
    for piece in raw.split(value.split):
        piece = piece.strip()
        if not piece:
            continue
        try:
            kept.append(_one(m, value, piece))
        except _Unknown as exc:
            unknown += exc.args
        except _Unmatched as exc:
            unmatched += exc.args
    cell = ";".join(dict.fromkeys(k for k in kept if k))
    if unknown or unmatched:
        partly = _Unknown(*unknown)
        partly.kept, partly.unmatched = cell, tuple(unmatched)
        raise partly
    return cell


def _coded(m: Mapping, value: Value, raw: str) -> str:
    """One value (trimmed, not blank) through ``normalise``, ``date`` and ``codes``."""
    try:
        for step in value.normalise:
            raw = _NORMALISE[step](raw)
        if value.date:
            raw = _date(raw, value.date)
    except ValueError as exc:
        raise _Reject(f"{value.column}: {exc}") from None
    if value.scheme is not None:
        if raw not in m.vocabularies[value.scheme].concepts and value.unknown != "keep":
            if value.unknown == "reject":
                raise _Reject(f"{value.column}: {raw!r} is not a concept of [vocabularies.{value.scheme}]")
            raise _Unknown(raw)
        return f"{value.scheme}{LOCAL}{raw}"
    if value.codes is not None:
        coded = m.codes[value.codes].get(raw)
        if coded is None:
            if value.unknown == "reject":
                raise _Reject(f"{value.column}: unknown code {raw!r} (not in [codes.{value.codes}])")
            raise _Unknown(raw)
        return coded
    return raw


def names_source(m: Mapping) -> str:
    """The source that holds the names a mapping makes (personal data, loaded apart: ``chicago-cpdp-names``)."""
    return f"{m.name}-names"


def _merge(report: ImportReport, table: Table, rule: Rule, existing: dict[str, str], made: dict[str, str],
           conflicts: dict[tuple[str, str], list[tuple[str, str, str]]], where: str) -> None:
    """Fold `made` into the earlier row `existing` with the same key, as the rule's columns say (``combine``).

    A blank value never disagrees: the other row's value is kept. Two values that differ are combined as
    declared; undeclared, they are a conflict (the import fails)."""
    report.merged[table.file] += 1
    differed = False
    for name, new in made.items():
        if name.startswith("_") or not new:
            continue
        old = existing.get(name, "")
        if not old:
            existing[name] = new
            continue
        if old == new:
            continue
        differed = True
        report.disagreed[(table.file, name)] += 1
        value = rule.columns[name]
        if value.combine == "all":
            existing[name] = ";".join(dict.fromkeys([*old.split(";"), *new.split(";")]))
        elif value.combine == "prefer":
            rank = {v: i for i, v in enumerate(value.prefer)}
            existing[name] = min(old, new, key=lambda v: rank.get(v, len(rank)))  # a tie keeps the earlier row
        elif value.combine is None:
            conflicts.setdefault((table.file, name), []).append((where, old, new))
    if differed:
        report.disagreeing[table.file] += 1


def _conflict_issues(m: Mapping, conflicts: dict[tuple[str, str], list[tuple[str, str, str]]]) -> list[Issue]:
    issues = []
    for (table, column), found in sorted(conflicts.items()):
        where, old, new = found[0]
        values = "" if table == PERSONAL else f" ({new!r} against {old!r})"  # names are never echoed
        issues.append(Issue(Path(m.path).name, "disagreeing rows",
                            f"{len(found):,} rows have the key of an earlier row of {table} but another {column}, "
                            f"first at {where}{values}; declare how to combine them: combine = \"first\", "
                            f"\"all\" (several values) or \"prefer\" with prefer = [...]",
                            field=f"{table}.{column}"))
    return issues


def _near(name: str, names: list[str]) -> str:
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5) or \
        difflib.get_close_matches(name.lower(), [n.lower() for n in names], n=3, cutoff=0.5)
    return f"; nearest: {', '.join(close)}" if close else (f"; it has {', '.join(names[:12])}"
                                                          + (" ..." if len(names) > 12 else "") if names else "")


def _position(wanted: str | int, file: str, names: list[str], width: int) -> int | str:
    """Where column `wanted` (a name, or a position from 1) is in a file with header `names` (or, headerless and
    unnamed, `width` cells): its index, or what is wrong."""
    if isinstance(wanted, int):
        cells = len(names) or width
        return wanted - 1 if wanted <= cells else f"{file} has {cells} columns, not {wanted}"
    if wanted in names:
        return names.index(wanted)
    if not names:
        return (f"{file} has no header (header = false): name its columns with columns = [...] or give positions, "
                "such as column = 1")
    return f"column {wanted!r} is not in the header of {file}{_near(wanted, names)}"


def _resolve_columns(m: Mapping, rules: list[Rule], file: str, names: list[str], width: int,
                     spec: FileSpec) -> tuple[dict[tuple[int, str], int], list[Issue]]:
    """The position of every column the rules name in one file, from its header: (rule, column) -> index.

    A ``where`` condition's column is ``(rule, "where[J]")``; a lookup's columns are in the looked-up file."""
    where = Path(m.path).name
    out: dict[tuple[int, str], int] = {}
    issues = []
    for rule in rules:
        wanted: list[tuple[str, str | int, str, int | None]] = [
            (column, value.column, rule.where(column), rule.lines.get(column))
            for column, value in rule.columns.items() if value.column is not None and value.lookup is None]
        wanted += [(f"where[{c.index}]", c.column, f"{rule.where()}.where[{c.index}]", rule.lines.get("where"))
                   for c in rule.conditions]
        for key, column, at, line in wanted:
            found = _position(column, file, names, width)
            if isinstance(found, str):
                issues.append(Issue(where, "column exists", found, line=line, field=at))
            else:
                out[(rule.index, key)] = found
    return out, issues


_Join = tuple[Any, Any, Any]  # a lookup: ([files] entry, match, column)


def _joins(m: Mapping, folder: Path,
           report: ImportReport) -> tuple[dict[_Join, dict[str, str]], dict[Where, set[str]], list[Issue]]:
    """The files that lookups and ``in = { file = ... }`` conditions read, each read whole: key -> value taken,
    and the values of each condition's column (through its functions), by condition.

    Their headers are checked first; when one lacks a column, nothing is read and the issues are returned.
    A lookup key on several rows that differ in the value taken keeps the first, counted in
    ``report.ambiguous``."""
    wanted: dict[_Join, tuple[Rule, str]] = {}  # lookup -> the first rule and column that asks for it
    tests: list[tuple[Rule, Where]] = []
    for rule in m.rules:
        for column, value in rule.columns.items():
            if value.lookup is not None:
                wanted.setdefault((value.lookup, value.match, value.column), (rule, column))
        tests += [(rule, c) for c in rule.conditions if c.operator == "in" and c.operand[0] == "file"]
    pending: list[tuple[_Join | Where, list[tuple[Any, list[int]]]]] = []
    issues: list[Issue] = []
    mapping = Path(m.path).name
    asks: list[tuple[_Join | Where, str, tuple[Any, ...], str, int | None]] = [
        (join, join[0], (join[1], join[2]), rule.where(column), rule.lines.get(column))
        for join, (rule, column) in wanted.items()]
    asks += [(c, c.operand[1], (c.operand[2],), f"{rule.where()}.where[{c.index}]", rule.lines.get("where"))
             for rule, c in tests]
    for target, entry, columns, at, line in asks:
        readers = []
        for path in resolve(m.files[entry], folder):
            file = path.relative_to(folder).as_posix()
            names, width, reader = read_table(path, m.files[entry], file)
            found = [_position(c, file, names, width) for c in columns if c is not None]
            bad = [f for f in found if isinstance(f, str)]
            issues += [Issue(mapping, "column exists", f, line=line, field=at) for f in bad]
            readers.append((reader, [f if isinstance(f, int) else 0 for f in found]))
        pending.append((target, readers))
    if issues:
        for _, readers in pending:
            for reader, *_ in readers:
                reader.close()  # type: ignore[attr-defined]
        return {}, {}, issues
    joins: dict[_Join, dict[str, str]] = {}
    members: dict[Where, set[str]] = {}
    for target, readers in pending:
        if isinstance(target, Where):
            values: set[str] = set()
            for reader, (cell_at,) in readers:
                for _, row in reader:
                    made = _tested(target, row[cell_at] if cell_at < len(row) else "")
                    if made is not None:
                        values.add(made)
            members[target] = values
            continue
        taken: dict[str, str] = {}
        for reader, (key_at, value_at) in readers:
            for _, row in reader:
                key = row[key_at].strip() if key_at < len(row) else ""
                cell = row[value_at] if value_at < len(row) else ""
                if not key:
                    continue
                if key not in taken:
                    taken[key] = cell
                elif taken[key].strip() != cell.strip():
                    report.ambiguous[f"{target[0]} {target[1]!r}"] += 1
        joins[target] = taken
    return joins, members, []


def _tested(condition: Where, raw: str) -> str | None:
    """The value a ``where`` condition tests, from its cell: trimmed, through its functions; None if they fail."""
    raw = raw.strip()
    try:
        if condition.extract is not None or condition.replace:
            raw = transform(raw, condition.extract, condition.replace)
        if raw:
            for step in condition.normalise:
                raw = _NORMALISE[step](raw)
    except (NoMatch, ValueError):
        return None
    return raw


def _members(condition: Where, members: dict[Where, set[str]],
             tables: dict[str, dict[str, dict[str, str]]]) -> set[str] | None:
    """What an ``in`` condition tests against: a file's values (read by :func:`_joins`), or the values a table
    was given so far (each of several, for a column that takes several)."""
    if condition.operator != "in":
        return None
    kind, name, column = condition.operand
    if kind == "file":
        return members[condition]
    return {v.strip() for made in tables.get(name, {}).values() for v in made.get(str(column), "").split(";")} - {""}


def _kept(condition: Where, raw: str, inside: set[str] | None) -> bool:
    made = _tested(condition, raw)
    return made is not None and holds(condition, made, inside)


def _looked_up(report: ImportReport, table: Table, column: str, value: Value, join: dict[str, str],
               made: dict[str, str]) -> str:
    """A lookup's cell: the looked-up file's `column` on the row whose key is this row's ``on`` value.

    A key not found rejects the row (``unknown = "reject"``) or leaves the cell empty, counted."""
    key = made.get(value.on or "", "")
    if not key:
        return ""
    found = join.get(key)
    if found is None:
        if value.unknown == "reject":
            raise _Reject(f"{value.on}: not found in column {value.match!r} of {value.lookup}")
        report.not_found.setdefault((table.file, column), Counter())[key] += 1
        return ""
    return found


def translate(m: Mapping, folder: Path, out: Path, progress: Progress = quiet, *, rows: int | None = None,
              samples: int = 0) -> ImportReport:
    """Write tabular folders in `out` from the dataset in `folder`; rows are rejected, with reasons, never guessed.

    ``out/{name}`` holds everything but names; names (``names.csv``) go to ``out/{name}-names``,
    a source of their own. Each file is read once, for every rule that takes rows from it. Rows
    with the same key make one entity: values they agree on (or that only one gives) are kept, values
    that differ are combined as the rule's ``combine`` says, and without one they are an error, in
    ``report.errors`` (:func:`import_dataset` then loads nothing). Every merge, every value emptied by an
    unknown code and every source column no rule reads is counted in the report.

    Every file's header is read, and every column a rule names is looked for in it, before any row is
    read: a missing column raises :class:`InputError` naming the mapping's line and the nearest names.
    A rule that makes no row (all rejected, or an empty file) is an error too, unless it says
    ``empty = "warn"``. `rows` reads only the first rows of each file (a dry run); `samples` keeps that
    many rows made per table in ``report.samples``.

    Parameters
    ----------
    m : Mapping
        The mapping (:func:`read_mapping`).
    folder : Path
        The dataset's own files.
    out : Path
        Where the tabular folders ``{name}`` and ``{name}-names`` are written (made if missing).
    progress : callable
        Told ``(phase, done, total)`` every 50,000 lines of a file (default :func:`~graph.ingest.load.quiet`).
    rows : int, optional
        Read only this many data rows of each file (a dry run); None reads them all.
    samples : int
        Rows made per table kept in ``report.samples``, names withheld (default 0: none).
    """
    report = ImportReport()
    tables: dict[str, dict[str, dict[str, str]]] = {rule.target: {} for rule in m.rules}
    origins: dict[str, dict[str, str]] = {rule.target: {} for rule in m.rules}  # key -> "file:line" of its row
    conflicts: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    made_by = Counter[int]()  # rule index -> rows it made
    truncated: set[str] = set()  # files read only in part (rows=)
    filtered_by = Counter[int]()  # rule index -> rows its where left out
    issues: list[Issue] = []
    stage = {r.index: int(any(c.operator == "in" and c.operand[0] == "table" for c in r.conditions)) for r in m.rules}
    for rule in m.rules:  # a rule that keeps rows found in a table runs once that table is made
        for c in rule.conditions:
            if c.operator == "in" and c.operand[0] == "table" and any(
                    r.target == c.operand[1] and stage[r.index] for r in m.rules):
                issues.append(Issue(Path(m.path).name, "where", f"{c.operand[1]} is filled by a rule that itself keeps "
                                    f"only rows found in a table: test a table made without such a condition",
                                    line=rule.lines.get("where"), field=f"{rule.where()}.where[{c.index}]"))
    opened = []
    for step in (0, 1):
        for name in dict.fromkeys(r.source for r in m.rules if stage[r.index] == step):  # every header, before any row
            spec = m.files[name]
            rules = [r for r in m.rules if r.source == name and stage[r.index] == step]
            for path in resolve(spec, folder):
                file = path.relative_to(folder).as_posix()
                names, width, reader = read_table(path, spec, file)
                positions, problems = _resolve_columns(m, rules, file, names, width, spec)
                issues += problems
                opened.append((file, rules, names, positions, reader, step))
    joins, members, problems = _joins(m, folder, report)  # lookups and `in` files: their headers checked, then read
    issues += problems
    if issues:
        for *_, reader, _step in opened:
            reader.close()  # type: ignore[attr-defined]
        raise InputError(issues)
    counted: set[str] = set()  # files whose rows are counted (a file read in both steps is counted once)
    for file, rules, names, positions, reader, step in opened:
        plans = []
        for rule in rules:
            table = _TABLES[rule.target]
            keys = ("key",) if "key" in table.by_name else table.key_from or tuple(rule.columns)
            steps = [(c, rule.columns[c], positions.get((rule.index, c)), rule.columns[c].row,
                      joins.get((rule.columns[c].lookup, rule.columns[c].match, rule.columns[c].column))
                      if rule.columns[c].lookup else None)
                     for c in order(_needs(rule.columns)) or rule.columns]
            conditions = [(c, positions[(rule.index, f"where[{c.index}]")], _members(c, members, tables))
                          for c in rule.conditions]
            plans.append((rule, table, keys, steps, conditions, tables[rule.target], origins[rule.target]))
        read = set(positions.values())
        unread = tuple(n for i, n in enumerate(names) if n and i not in read)
        report.unmapped[file] = unread if file not in report.unmapped else \
            tuple(n for n in report.unmapped[file] if n in unread)  # read in both steps: unread by either
        seen = 0
        for line, row in reader:
            seen += 1
            if rows is not None and seen > rows:
                truncated.add(file)
                reader.close()  # type: ignore[attr-defined]
                break
            if file not in counted:
                report.rows_read[file] += 1
            if line % 50_000 == 0:
                progress(f"reading {file}", line, 0)
            width = len(row)
            for rule, table, keys, steps, conditions, made_rows, origin in plans:
                failed = next((c for c, at, inside in conditions
                               if not _kept(c, row[at] if at < width else "", inside)), None)
                if failed is not None:
                    report.filtered[(table.file, failed.label)] += 1
                    report.filtered_first.setdefault((table.file, failed.label), f"{file}:{line}")
                    filtered_by[rule.index] += 1
                    continue
                made: dict[str, str] = {}
                try:
                    for column, value, at, is_row, join in steps:
                        raw = f"{file}/{line}" if is_row else row[at] if at is not None and at < width else ""
                        try:
                            if join is not None:
                                raw = _looked_up(report, table, column, value, join, made)
                            made[column] = _cell(m, value, raw, made)
                        except _Unknown as unknown:
                            made[column] = unknown.kept
                            for code in unknown.args:
                                report.emptied.setdefault((table.file, column), Counter())[code] += 1
                            for piece in unknown.unmatched:
                                report.unmatched.setdefault((table.file, column), Counter())[piece] += 1
                        except _Unmatched as unmatched:
                            made[column] = ""
                            report.unmatched.setdefault((table.file, column), Counter())[str(unmatched)] += 1
                        if value.required and not made[column]:
                            raise _Reject(value.reason or f"{value.column or column} is blank")
                except _Reject as reason:
                    report.rejected[(table.file, str(reason))] += 1
                    report.examples.setdefault((table.file, str(reason)), f"{file}:{line}")
                    continue
                made_by[rule.index] += 1
                key = "|".join(made.get(c, "") for c in keys)
                existing = made_rows.get(key)
                if existing is None:
                    made_rows[key] = made
                    origin[key] = f"{file}:{line}"
                else:
                    _merge(report, table, rule, existing, made, conflicts, f"{file}:{line} and {origin[key]}")
        counted.add(file)
    report.errors += _conflict_issues(m, conflicts)
    for rule in m.rules:
        if made_by[rule.index]:
            continue
        reasons = sorted(((n, r) for (t, r), n in report.rejected.items() if t == _TABLES[rule.target].file),
                         reverse=True)
        its_files = [o[0] for o in opened if rule in o[1]]
        read_here = sum(report.rows_read[f] for f in its_files)
        why = (f"rejected every one of the {read_here:,} rows it read ({reasons[0][1]}: {reasons[0][0]:,})"
               if read_here and reasons else "read no rows" if not read_here else "made no row")
        if read_here and filtered_by[rule.index]:
            why = f"made no row: its where left out {filtered_by[rule.index]:,} of the {read_here:,} rows it read" + \
                (f", and the rest were rejected ({reasons[0][1]}: {reasons[0][0]:,})" if reasons else "")
        partial = any(f in truncated for f in its_files)  # a dry run: the rows further on may do better
        found = Issue(Path(m.path).name, "empty rule", f"{rule.target} from {rule.source} {why}"
                      + (" (only the first rows were read)" if partial else "")
                      + ("" if rule.empty == "warn" or partial else
                         "; if that is expected, say empty = \"warn\" in the rule"),
                      line=rule.lines.get(""), field=rule.where())
        (report.warnings if rule.empty == "warn" or partial else report.errors).append(found)
    written = _concept_rows(m, tables, report)
    for target, made_rows in tables.items():
        table = _TABLES[target]
        folder_out = out / (names_source(m) if table.file == PERSONAL else m.name)
        if not folder_out.is_dir():
            folder_out.mkdir(parents=True)
            with (folder_out / "sources.csv").open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(["key", "title", "url", "licence"])
                writer.writerow([m.name, m.title, m.url or "", m.licence or ""])  # its own key: one document each
        used = {n for rule in m.rules if rule.target == target for n in rule.columns if not n.startswith("_")}
        used.add("source")  # every column a rule makes, even when every row was rejected
        used |= written if target == "concepts" else set()
        names = [c.name for c in table.columns if c.name in used]
        scoped = {c.name: c for c in table.columns if c.name in names and _is_scoped(c)}
        if "key" in scoped and "identifier" not in names:
            names.append("identifier")
        with (folder_out / table.file).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(names)
            for made in made_rows.values():
                writer.writerow([_written(m, n, made, scoped.get(n)) for n in names])
        report.entities[table.file] = len(made_rows)
        if samples:
            withheld = {"name"} if table.file == PERSONAL else set()  # names are personal data: never shown
            report.samples[table.file] = [{n: m.name if n == "source" else "(withheld)" if n in withheld
                                           else made.get(n, "") for n in names}
                                          for made in itertools.islice(made_rows.values(), samples)]
    return report


def _written(m: Mapping, name: str, made: dict[str, str], scoped: Column | None) -> str:
    """The cell a translated row writes in column `name`: keys scoped (`scoped`: the column, when its cells are
    keys), the source's own key as the identifier, the mapping's document as the source."""
    if name == "source":
        return m.name
    if name == "identifier":
        return made.get(name) or made.get("key", "")
    value = made.get(name, "")
    return _scope(m.scope or m.name, scoped, value) if scoped is not None else value


def _is_scoped(column: Column) -> bool:
    """Whether a column's cells are keys of the dataset's entities (a row's own key, or a reference to one), which
    a mapping scopes by its dataset; sources (one document per mapping) and concepts (shared schemes) are not."""
    return column.kind == "key" or (column.kind == "ref" and column.refs != ("source-document",))


def _scope(scope: str, column: Column, cell: str) -> str:
    """`cell` with each key in it written ``SCOPE/KEY`` (after a ``KIND:`` prefix, and for each of several values):
    keys of different datasets then name different entities, and the same key within one dataset the same."""
    if not cell:
        return cell
    out = []
    for value in cell.split(";") if column.many else (cell,):
        named, key = column.split_ref(value.strip())
        if key:
            out.append(f"{named}:{scope}/{key}" if named else f"{scope}/{key}")
    return ";".join(out)


def _concept_rows(m: Mapping, tables: dict[str, dict[str, dict[str, str]]], report: ImportReport) -> set[str]:
    """Add to the ``concepts`` rows the concepts of the mapping's vocabularies, and a concept for each value
    that a ``scheme`` column kept without its vocabulary (or a ``concepts`` rule) declaring it, counted in
    ``report.kept``; return the ``concepts.csv`` columns they fill."""
    if not m.vocabularies:
        return set()
    concepts = tables.setdefault("concepts", {})
    filled = {"scheme", "notation", "class"}
    for vocabulary in m.vocabularies.values():
        for notation, cells in vocabulary.concepts.items():
            concepts.setdefault(f"{vocabulary.name}{LOCAL}{notation}",
                                {"scheme": vocabulary.name, "notation": notation, "class": vocabulary.cls, **cells})
            filled |= set(cells)
    declared = set(concepts)  # inline, or made by a concepts rule (a code list in a file)
    for rule in m.rules:
        for column, value in rule.columns.items():
            if value.scheme is None or column.startswith("_"):
                continue
            vocabulary = m.vocabularies[value.scheme]
            file = _TABLES[rule.target].file
            for made in tables[rule.target].values():
                for cell in made.get(column, "").split(";"):
                    scheme, _, notation = cell.partition(LOCAL)
                    if scheme != vocabulary.name or cell in declared:
                        continue
                    report.kept.setdefault((file, column), Counter())[notation] += 1
                    concepts.setdefault(f"{scheme}{LOCAL}{notation}",
                                        {"scheme": scheme, "notation": notation, "class": vocabulary.cls})
    return filled


def translated(m: Mapping, folder: Path, scratch: Path, *, names: bool = True,
               progress: Progress = quiet) -> tuple[ImportReport, list[SourceInput]]:
    """Translate the dataset in `folder` with `m` into `scratch` and plan its sources, loading nothing.

    Parameters
    ----------
    m : Mapping
        The mapping (:func:`read_mapping`).
    folder : Path
        The dataset's own files.
    scratch : Path
        An empty folder the tabular folders are written to; they must outlive the returned sources.
    names : bool
        Plan the names the mapping makes, if any, as the source :func:`names_source`.
    progress : callable
        Told ``(phase, done, total)`` as files are read.

    Returns
    -------
    The report, and the source ``m.name`` followed by its names source where there is one.

    Raises
    ------
    InputError
        When the report holds errors (a strict check failed, a rule rejected every row...).
    """
    report = translate(m, folder, scratch, progress)
    if report.errors:
        raise InputError(report.errors)
    sources = plan([scratch / m.name], source=m.name, title=m.title, licence=m.licence)
    personal = scratch / names_source(m)
    if personal.is_dir():
        if names:
            sources += plan([personal], source=names_source(m), title=f"{m.title}: names (personal data)",
                            licence=m.licence)
        else:
            report.entities[f"{PERSONAL} (left out)"] = report.entities.pop(PERSONAL, 0)
    return report, [replace(s, origin=f"import {Path(m.path).name} {folder}") for s in sources]


def import_dataset(db: Database, m: Mapping, folder: Path, *, user: str, names: bool = True,
                   progress: Progress = quiet) -> tuple[ImportReport, list[LoadReport]]:
    """Translate the dataset in `folder` with `m` and load it, all or nothing, as the source ``m.name``
    and, if the mapping makes names and `names` is true, the source :func:`names_source`.

    Parameters
    ----------
    db : Database
        The store.
    m : Mapping
        The mapping (:func:`read_mapping`).
    folder : Path
        The dataset's own files.
    user : str
        Who loads it, recorded as each run's ``loaded_by``.
    names : bool
        Load the names the mapping makes, as their own source; false leaves them out (counted in the report).
    progress : callable
        Told ``(phase, done, total)`` as files are read and loaded (default :func:`~graph.ingest.load.quiet`).

    Returns
    -------
    The translation's report (:func:`translate`), and a load report per source loaded.

    Raises
    ------
    InputError
        When the translation finds errors or a source breaks the shapes; nothing is loaded.
    """
    with tempfile.TemporaryDirectory(prefix="oversight-import-") as scratch:
        report, sources = translated(m, folder, Path(scratch), names=names, progress=progress)
        loaded = load(db, sources, user=user, progress=progress)
    return report, loaded


#: The rule of a validation issue for a reference whose target is not described: in a dry run, expected when
#: the target's row lies past the rows read.
_OUTSIDE = "sh:ClassConstraintComponent"


def dry_run(db: Database, m: Mapping, folder: Path, *, rows: int = 1000, samples: int = 3,
            progress: Progress = quiet) -> tuple[ImportReport, list[Issue], int]:
    """Translate and validate the first `rows` rows of each file with `m`; load nothing.

    Parameters
    ----------
    db : Database
        The store the translation is validated against (read, never written).
    m : Mapping
        The mapping (:func:`read_mapping`).
    folder : Path
        The dataset's own files.
    rows : int
        Data rows read from each file (default 1000).
    samples : int
        Rows made per table kept in ``report.samples`` (default 3).
    progress : callable
        Told ``(phase, done, total)`` as files are read and validated (default :func:`~graph.ingest.load.quiet`).

    Returns
    -------
    the report (with `samples` rows made per table in ``report.samples``); the problems that a full import
    would also have (the report's errors, then cell and shape violations); and how many references name
    an entity that the rows read do not describe (expected when only part of each file is read, so not
    counted as problems).

    Raises
    ------
    InputError
        When a file lacks a column a rule names (:func:`translate`).
    """
    with tempfile.TemporaryDirectory(prefix="oversight-dry-run-") as scratch:
        report = translate(m, folder, Path(scratch), progress, rows=rows, samples=samples)
        problems = list(report.errors)
        outside = 0
        sources = plan([Path(scratch) / m.name], source=m.name, title=m.title, licence=m.licence)
        if (Path(scratch) / names_source(m)).is_dir():
            sources += plan([Path(scratch) / names_source(m)], source=names_source(m), title=m.title)
        for source in sources:
            try:
                validate(db, [source], progress=progress)
            except InputError as exc:
                outside += sum(1 for i in exc.issues if i.rule == _OUTSIDE)
                problems += [i for i in exc.issues if i.rule != _OUTSIDE]
    return report, problems, outside
