"""What a mapping does to values and rows beyond copying cells: functions, lookups into other files, filters.

A target column of a mapping (:mod:`graph.ingest.mapping`, ``docs/mappings.md``) may ``extract`` a part of
its value with a regular expression, ``replace`` parts of it, ``split`` it into several values, take the
row's own place in its file (``row = true``, ``FILE/LINE``: a key for files that have none) or ``lookup``
its value in another file on a key. A rule may keep only some rows, with ``where`` conditions on the
file's columns: comparisons, regular expressions, and membership in another file's column or in the values
another table was given. This module checks these declarations when the mapping is read and evaluates
them row by row; :mod:`graph.ingest.mapping` wires them into its reading loop.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = [
    "CONDITION_KEYS",
    "OPERATORS",
    "NoMatch",
    "Where",
    "holds",
    "order",
    "parse_functions",
    "parse_where",
    "transform",
]

#: What a ``where`` condition may test its value with; exactly one per condition.
OPERATORS = ("equals", "differs", "one_of", "matches", "min", "max", "in")
#: The other keys of a condition: where its value comes from and how it is made before the test.
CONDITION_KEYS = ("column", "normalise", "extract", "replace", "negate")

Say = Callable[[str, str, str], None]  # (where, rule, message): how problems are told


class NoMatch(Exception):
    """A value that ``extract`` finds nothing in; the message is the value."""


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _check_regex(pattern: Any, at: str, key: str, issue: Say) -> bool:
    if not isinstance(pattern, str) or not pattern:
        issue(at, key, "give a regular expression (text)")
        return False
    try:
        _regex(pattern)
    except re.error as exc:
        issue(at, key, f"not a regular expression: {pattern!r}: {exc}")
        return False
    return True


def parse_functions(spec: dict[str, Any], at: str, issue: Say) -> dict[str, Any]:
    """The ``extract``, ``replace`` and ``split`` of a column's spec, checked; problems go to `issue`.

    Returns the keyword arguments they give to the column's ``Value`` (``replace`` as pairs).

    Parameters
    ----------
    spec : dict
        The column's (or condition's) TOML table; only its ``extract``, ``replace`` and ``split`` are read.
    at : str
        How messages name it (``tables[2].columns.officer``).
    issue : callable
        Called with ``(where, rule, message)`` for each problem.
    """
    out: dict[str, Any] = {}
    if "extract" in spec and _check_regex(spec["extract"], at, "extract", issue):
        if _regex(spec["extract"]).groups > 1:
            issue(at, "extract", "give at most one group (...) in the expression: its text is the value "
                  "(use (?:...) for the others)")
        out["extract"] = spec["extract"]
    if "replace" in spec:
        raw = spec["replace"]
        pairs = [raw] if isinstance(raw, list) and len(raw) == 2 and all(isinstance(x, str) for x in raw) else raw
        if not isinstance(pairs, list) or not pairs or not all(
                isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in pairs):
            issue(at, "replace", 'give ["pattern", "replacement"], or a list of such pairs')
        else:
            for pattern, replacement in pairs:
                if _check_regex(pattern, at, "replace", issue):
                    try:
                        _regex(pattern).sub(replacement, "")
                    except (re.error, IndexError) as exc:
                        issue(at, "replace", f"bad replacement {replacement!r}: {exc}")
            out["replace"] = tuple((str(p), str(r)) for p, r in pairs)
    if "split" in spec:
        if not isinstance(spec["split"], str) or not spec["split"]:
            issue(at, "split", 'give the separator, such as split = "+"')
        else:
            out["split"] = spec["split"]
    return out


def transform(raw: str, extract: str | None, replace: tuple[tuple[str, str], ...]) -> str:
    """`raw` (trimmed, not blank) through ``extract`` then each ``replace``, trimmed again.

    Parameters
    ----------
    raw : str
        The value, trimmed and not blank.
    extract : str or None
        A regular expression: the text of its one group, or else the whole match, becomes the value
        (None: no ``extract``).
    replace : tuple of (str, str)
        ``(pattern, replacement)`` pairs, applied in order as :meth:`re.Pattern.sub` applies them.

    Raises
    ------
    NoMatch
        When ``extract`` finds nothing in `raw`.
    """
    if extract is not None:
        found = _regex(extract).search(raw)
        if found is None:
            raise NoMatch(raw)
        raw = found.group(1) if found.re.groups else found.group(0)
        raw = (raw or "").strip()
    for pattern, replacement in replace:
        raw = _regex(pattern).sub(replacement, raw).strip()
    return raw


def order(needs: Mapping[str, list[str]]) -> list[str] | None:
    """The columns of a rule in an order that makes each after those it needs (declared order otherwise);
    None if some need each other in a circle."""
    done: list[str] = []
    pending = list(needs)
    while pending:
        ready = [c for c in pending if all(n in done or n not in needs for n in needs[c])]
        if not ready:
            return None
        done += ready
        pending = [c for c in pending if c not in ready]
    return done


@dataclass(frozen=True)
class Where:
    """One condition of a rule's ``where``: rows whose value fails it are left out, and counted."""

    column: str | int  # the file's column tested (a name, or a position from 1)
    operator: str  # one of OPERATORS
    operand: Any  # text, a list of texts, a number, a compiled pattern, or ("file"|"table", name, column)
    normalise: tuple[str, ...] = ()
    extract: str | None = None
    replace: tuple[tuple[str, str], ...] = ()
    negate: bool = False
    index: int = 0

    @property
    def label(self) -> str:
        """How the report names it: ``where[1]: column 'employee_id' in findings.csv officer``."""
        operand = self.operand
        if self.operator == "in":
            operand = (f"column {operand[2]!r} of {operand[1]}" if operand[0] == "file" else
                       f"{operand[1]}.csv {operand[2]}")
        elif self.operator == "matches":
            operand = repr(operand.pattern)
        elif self.operator == "one_of":
            operand = "[" + ", ".join(repr(v) for v in sorted(operand)) + "]"
        else:
            operand = repr(operand)
        return (f"where[{self.index}]: column {self.column!r} {'not ' if self.negate else ''}"
                f"{self.operator.replace('_', ' ')} {operand}")


def parse_where(raw: Any, at: str, issue: Say, *, files: Iterable[str], tables: Iterable[str],
                steps: Iterable[str]) -> tuple[Where, ...]:
    """A rule's ``where`` (a table, or a list of them) as conditions, checked; problems go to `issue`.

    Parameters
    ----------
    raw : the TOML value.
    at : how messages name it (``tables[2].where``).
    issue : called with (where, rule, message) for each problem.
    files, tables, steps : the mapping's [files] entries, the target tables (without ``.csv``) and the
        ``normalise`` steps, which ``in`` and ``normalise`` may name.
    """
    conditions = [raw] if isinstance(raw, dict) else raw
    if not isinstance(conditions, list) or not all(isinstance(c, dict) for c in conditions):
        issue(at, "where", "give a condition { column = ..., OPERATOR = ... } or a list of them")
        return ()
    files, tables, steps = set(files), set(tables), set(steps)
    out = []
    for j, condition in enumerate(conditions):
        here = f"{at}[{j}]"
        unknown = set(condition) - set(OPERATORS) - set(CONDITION_KEYS)
        if unknown:
            issue(here, "keys", f"unknown keys {sorted(unknown)}; accepted: {', '.join(CONDITION_KEYS)} and one "
                  f"of {', '.join(OPERATORS)}")
            continue
        column = condition.get("column")
        if isinstance(column, bool) or not isinstance(column, (str, int)) or (isinstance(column, int) and column < 1):
            issue(here, "column", "give the file's column tested: its name (text) or position (1 for the first)")
            continue
        operators = [o for o in OPERATORS if o in condition]
        if len(operators) != 1:
            issue(here, "operator", f"give exactly one of {', '.join(OPERATORS)}")
            continue
        operator = operators[0]
        operand = condition[operator]
        if operator in ("equals", "differs") and not isinstance(operand, str):
            issue(here, operator, "give the value as text")
            continue
        if operator == "one_of":
            if not isinstance(operand, list) or not all(isinstance(v, str) for v in operand):
                issue(here, operator, "give a list of values (text)")
                continue
            operand = frozenset(operand)
        if operator in ("min", "max") and (isinstance(operand, bool) or not isinstance(operand, (int, float))):
            issue(here, operator, "give a number")
            continue
        if operator == "matches":
            if not _check_regex(operand, here, operator, issue):
                continue
            operand = _regex(operand)
        if operator == "in":
            if not isinstance(operand, dict) or set(operand) not in ({"file", "column"}, {"table", "column"}):
                issue(here, "in", 'give { file = "ENTRY", column = ... } (a column of another file) or '
                      '{ table = "TABLE", column = "..." } (the values a target table was given)')
                continue
            kind = "file" if "file" in operand else "table"
            name, other = operand[kind], operand["column"]
            if kind == "file" and name not in files:
                issue(here, "in", f"names no entry of [files]: {name!r}")
                continue
            if kind == "table" and name not in tables:
                issue(here, "in", f"names no table that a rule of this mapping fills: {name!r}")
                continue
            if isinstance(other, bool) or not isinstance(other, (str, int)) or (isinstance(other, int) and other < 1):
                issue(here, "in", "column: give its name (text) or position (1 for the first)")
                continue
            operand = (kind, str(name), other)
        normalise = condition.get("normalise", [])
        if not isinstance(normalise, list) or any(s not in steps for s in normalise):
            issue(here, "normalise", f"give a list of steps; accepted: {', '.join(sorted(steps))}")
            continue
        negate = condition.get("negate", False)
        if not isinstance(negate, bool):
            issue(here, "negate", "must be true or false")
            continue
        functions = parse_functions({k: v for k, v in condition.items() if k in ("extract", "replace")}, here, issue)
        out.append(Where(column, operator, operand, tuple(normalise), functions.get("extract"),
                         functions.get("replace", ()), negate, j))
    return tuple(out)


def holds(condition: Where, value: str, members: frozenset[str] | set[str] | None = None) -> bool:
    """Whether `value` (already made: trimmed, transformed, normalised) passes `condition`.

    `members` are the values ``in`` tests against. A number test on a value that is not a number fails.

    Parameters
    ----------
    condition : Where
        The condition; its ``negate`` inverts the result (but a number test on a value that is not a
        number fails either way).
    value : str
        The row's value for the condition's column.
    members : set of str, optional
        The values ``in`` tests against: another file's column, or what a table was given (None: none).
    """
    operator, operand = condition.operator, condition.operand
    if operator == "equals":
        found = value == operand
    elif operator == "differs":
        found = value != operand
    elif operator == "one_of":
        found = value in operand
    elif operator == "matches":
        found = operand.search(value) is not None
    elif operator == "in":
        found = value in (members or ())
    else:
        try:
            number = float(value)
        except ValueError:
            return False
        found = number >= operand if operator == "min" else number <= operand
    return found != condition.negate
