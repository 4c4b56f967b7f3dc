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
from graph.ingest.load import LoadReport, Progress, SourceInput, _quiet, load, plan, validate
from graph.ingest.tables import PERSONAL, TABLES, Table
from graph.iri import SOURCE_NAME
from graph.store.database import Database

__all__ = [
    "ImportReport",
    "Mapping",
    "Rule",
    "Value",
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
    unknown: str = "reject"  # an unknown code: reject the row, or leave the cell empty
    date: str | None = None  # strptime format of the source, such as %m/%d/%y
    required: bool = False
    reason: str | None = None  # said when a required value is blank
    combine: str | None = None  # rows with one key that disagree here: an error (None), or first, all, prefer
    prefer: tuple[str, ...] = ()  # combine = "prefer": the values in order of preference (most serious first)


@dataclass(frozen=True)
class Rule:
    """Rows of the target table `target`, one per row of file `source` (or one per distinct key)."""

    target: str
    source: str
    columns: dict[str, Value]
    index: int = 0  # its place among the mapping's [[tables]]
    lines: dict[str, int] = field(default_factory=dict)  # "" (the rule) or a column -> line in the mapping file
    empty: str = "error"  # when it makes no row: fail the import ("error"), or only say so ("warn")

    def where(self, column: str | None = None) -> str:
        """How messages name the rule, or one of its columns: ``tables[3].columns.officer``."""
        return f"tables[{self.index}]" + (f".columns.{column}" if column else "")


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
    unmapped: dict[str, tuple[str, ...]] = field(default_factory=dict)  # file -> its columns that no rule reads
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
                "unmapped": {f: list(c) for f, c in sorted(self.unmapped.items())},
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
        for (table, column), values in sorted(self.emptied.items()):
            common = ", ".join(f"{v!r} {n:,}" for v, n in values.most_common(_EXAMPLES))
            out.append(f"  emptied {sum(values.values()):>6,} values of {table} {column}: not in the code list"
                       f" (most frequent: {common})")
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
        data = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise InputError([Issue(str(path), "exists", "no such mapping file (or shipped mapping: "
                                + ", ".join(sorted(shipped())) + ")")]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError([Issue(name, "TOML syntax", str(exc))]) from None
    issues: list[Issue] = []

    def issue(where: str, rule: str, message: str) -> None:
        issues.append(Issue(name, rule, message, field=where, line=lines.get(where)))

    dataset = data.get("dataset", {})
    source = str(dataset.get("name", ""))
    if not SOURCE_NAME.match(source):
        issue("dataset.name", "source name", f"must match {SOURCE_NAME.pattern}")
    if not dataset.get("title"):
        issue("dataset.title", "required", "a title is required")
    lines = _key_lines(path.read_text("utf-8"))

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
    rules = []
    for i, raw in enumerate(data.get("tables", [])):
        where = f"tables[{i}]"
        target = raw.get("target")
        table = _TABLES.get(str(target))
        if table is None:
            issue(f"{where}.target", "target", f"unknown table {target!r}; accepted: {', '.join(_TABLES)}")
            continue
        if raw.get("from") not in files and raw.get("from") not in data.get("files", {}):
            issue(f"{where}.from", "file", f"names no entry of [files]: {raw.get('from')!r}")
        unknown_rule_keys = set(raw) - {"target", "from", "columns", "empty"}
        if unknown_rule_keys:
            issue(where, "keys", f"unknown keys {sorted(unknown_rule_keys)}; accepted: target, from, columns, empty")
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
            value = Value(**{**spec, "normalise": tuple(spec.get("normalise", ())),
                             "prefer": tuple(str(v) for v in spec.get("prefer", ()))})
            if sum(x is not None for x in (value.column, value.value, value.template)) != 1:
                issue(at, "source", "give exactly one of column, value or template")
            if isinstance(value.column, bool) or not isinstance(value.column, (str, int, type(None))) or (
                    isinstance(value.column, int) and value.column < 1):
                issue(at, "column", "give a column's name (text) or its position (1 for the first column)")
            for step in value.normalise:
                if step not in _NORMALISE:
                    issue(at, "normalise", f"unknown step {step!r}; accepted: {', '.join(_NORMALISE)}")
            if value.codes is not None and value.codes not in codes:
                issue(at, "codes", f"names no code list of [codes]: {value.codes!r}")
            if value.unknown not in ("reject", "empty"):
                issue(at, "unknown", "must be 'reject' or 'empty'")
            if value.combine is not None and value.combine not in _COMBINE:
                issue(at, "combine", f"unknown value {value.combine!r}; accepted: {', '.join(_COMBINE)}")
            if value.combine is not None and column.startswith("_"):
                issue(at, "combine", "a helper is not written: there is nothing to combine")
            if value.combine == "all" and column in table.by_name and not table.by_name[column].many:
                issue(at, "combine", f"'all' needs a column that takes several values; {column} takes one")
            if (value.combine == "prefer") != bool(value.prefer):
                issue(at, "prefer", "combine = 'prefer' goes with prefer = [values, most preferred first]")
            for ref in _TEMPLATE.findall(value.template or ""):
                if ref not in raw.get("columns", {}):
                    issue(at, "template", f"{{{ref}}} is not a column of this rule")
            columns[column] = value
        missing = [c.name for c in table.columns if c.required and c.name not in columns and c.name != "source"]
        if missing:
            issue(where, "required column", f"{table.file} needs {', '.join(missing)}")
        rules.append(Rule(str(target), str(raw.get("from")), columns, i,
                          {c: lines[f"{where}.columns.{c}"] for c in columns if f"{where}.columns.{c}" in lines}
                          | ({"": lines[where]} if where in lines else {}), str(raw.get("empty", "error"))))
    if not rules and not issues:
        issue("tables", "required", "give at least one [[tables]] rule")
    if issues:
        raise InputError(issues)
    return Mapping(str(path), source, str(dataset["title"]), dataset.get("licence"), dataset.get("url"),
                   files, codes, tuple(rules))


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
            if name.startswith("files."):
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
    """A value missing from its code list, with ``unknown = "empty"``: the cell is left empty, and counted."""


def _cell(m: Mapping, value: Value, raw: str, made: dict[str, str]) -> str:
    if value.value is not None:
        return value.value
    if value.template is not None:
        parts = {ref: made.get(ref, "") for ref in _TEMPLATE.findall(value.template)}
        if not all(parts.values()):
            return ""
        return value.template.format(**parts)
    raw = raw.strip()
    if not raw:
        return ""
    try:
        for step in value.normalise:
            raw = _NORMALISE[step](raw)
        if value.date:
            raw = _date(raw, value.date)
    except ValueError as exc:
        raise _Reject(f"{value.column}: {exc}") from None
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


def _resolve_columns(m: Mapping, rules: list[Rule], file: str, names: list[str], width: int,
                     spec: FileSpec) -> tuple[dict[tuple[int, str], int], list[Issue]]:
    """The position of every column the rules name in one file, from its header: (rule, column) -> index."""
    where = Path(m.path).name
    index = {n: i for i, n in enumerate(names) if n}
    out: dict[tuple[int, str], int] = {}
    issues = []
    for rule in rules:
        for column, value in rule.columns.items():
            if value.column is None:
                continue
            if isinstance(value.column, int):
                cells = len(names) or width
                if value.column > cells:
                    issues.append(Issue(where, "column exists", f"{file} has {cells} columns, not {value.column}",
                                        line=rule.lines.get(column), field=rule.where(column)))
                out[(rule.index, column)] = value.column - 1
            elif value.column in index:
                out[(rule.index, column)] = index[value.column]
            elif not names:
                issues.append(Issue(where, "column exists", f"{file} has no header (header = false): name its "
                                    f"columns with columns = [...] or give positions, such as column = 1",
                                    line=rule.lines.get(column), field=rule.where(column)))
            else:
                issues.append(Issue(where, "column exists", f"column {value.column!r} is not in the header of "
                                    f"{file}{_near(value.column, names)}", line=rule.lines.get(column),
                                    field=rule.where(column)))
    return out, issues


def translate(m: Mapping, folder: Path, out: Path, progress: Progress = _quiet, *, rows: int | None = None,
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
    """
    report = ImportReport()
    tables: dict[str, dict[str, dict[str, str]]] = {rule.target: {} for rule in m.rules}
    origins: dict[str, dict[str, str]] = {rule.target: {} for rule in m.rules}  # key -> "file:line" of its row
    conflicts: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    made_by = Counter[int]()  # rule index -> rows it made
    truncated: set[str] = set()  # files read only in part (rows=)
    opened = []
    issues: list[Issue] = []
    for name in dict.fromkeys(rule.source for rule in m.rules):  # every header first, before any row
        spec = m.files[name]
        rules = [r for r in m.rules if r.source == name]
        for path in resolve(spec, folder):
            file = path.relative_to(folder).as_posix()
            names, width, reader = read_table(path, spec, file)
            positions, problems = _resolve_columns(m, rules, file, names, width, spec)
            issues += problems
            opened.append((file, rules, names, positions, reader))
    if issues:
        for *_, reader in opened:
            reader.close()  # type: ignore[attr-defined]
        raise InputError(issues)
    for file, rules, names, positions, reader in opened:
        plans = []
        for rule in rules:
            table = _TABLES[rule.target]
            keys = ("key",) if "key" in table.by_name else table.key_from or tuple(rule.columns)
            order = [c for c, v in rule.columns.items() if v.template is None] + \
                [c for c, v in rule.columns.items() if v.template is not None]  # templates last
            steps = [(c, rule.columns[c], positions.get((rule.index, c))) for c in order]
            plans.append((rule, table, keys, steps, tables[rule.target], origins[rule.target]))
        read = set(positions.values())
        report.unmapped[file] = tuple(n for i, n in enumerate(names) if n and i not in read)
        for line, row in reader:
            report.rows_read[file] += 1
            if rows is not None and report.rows_read[file] > rows:
                report.rows_read[file] -= 1
                truncated.add(file)
                reader.close()  # type: ignore[attr-defined]
                break
            if line % 50_000 == 0:
                progress(f"reading {file}", line, 0)
            width = len(row)
            for rule, table, keys, steps, made_rows, origin in plans:
                made: dict[str, str] = {}
                try:
                    for column, value, at in steps:
                        try:
                            made[column] = _cell(m, value, row[at] if at is not None and at < width else "", made)
                        except _Unknown as unknown:
                            made[column] = ""
                            report.emptied.setdefault((table.file, column), Counter())[str(unknown)] += 1
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
        partial = any(f in truncated for f in its_files)  # a dry run: the rows further on may do better
        found = Issue(Path(m.path).name, "empty rule", f"{rule.target} from {rule.source} {why}"
                      + (" (only the first rows were read)" if partial else "")
                      + ("" if rule.empty == "warn" or partial else
                         "; if that is expected, say empty = \"warn\" in the rule"),
                      line=rule.lines.get(""), field=rule.where())
        (report.warnings if rule.empty == "warn" or partial else report.errors).append(found)
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
        names = [c.name for c in table.columns if c.name in used]
        with (folder_out / table.file).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(names)
            for made in made_rows.values():
                writer.writerow([m.name if n == "source" else made.get(n, "") for n in names])
        report.entities[table.file] = len(made_rows)
        if samples:
            withheld = {"name"} if table.file == PERSONAL else set()  # names are personal data: never shown
            report.samples[table.file] = [{n: m.name if n == "source" else "(withheld)" if n in withheld
                                           else made.get(n, "") for n in names}
                                          for made in itertools.islice(made_rows.values(), samples)]
    return report


def translated(m: Mapping, folder: Path, scratch: Path, *, names: bool = True,
               progress: Progress = _quiet) -> tuple[ImportReport, list[SourceInput]]:
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
                   progress: Progress = _quiet) -> tuple[ImportReport, list[LoadReport]]:
    """Translate the dataset in `folder` with `m` and load it, all or nothing, as the source ``m.name``
    and, if the mapping makes names and `names` is true, the source :func:`names_source`."""
    with tempfile.TemporaryDirectory(prefix="oversight-import-") as scratch:
        report, sources = translated(m, folder, Path(scratch), names=names, progress=progress)
        loaded = load(db, sources, user=user, progress=progress)
    return report, loaded


#: The rule of a validation issue for a reference whose target is not described: in a dry run, expected when
#: the target's row lies past the rows read.
_OUTSIDE = "sh:ClassConstraintComponent"


def dry_run(db: Database, m: Mapping, folder: Path, *, rows: int = 1000, samples: int = 3,
            progress: Progress = _quiet) -> tuple[ImportReport, list[Issue], int]:
    """Translate and validate the first `rows` rows of each file with `m`; load nothing.

    Returns
    -------
    the report (with `samples` rows made per table in ``report.samples``); the problems that a full import
    would also have (the report's errors, then cell and shape violations); and how many references name
    an entity that the rows read do not describe (expected when only part of each file is read, so not
    counted as problems).
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
