"""The files of a mapping and how to read them: CSV dialects, headerless files, several files of one shape.

A ``[files]`` entry of a mapping (``docs/mappings.md``) is a file name, or a table that describes the
files with the names of the CSVW dialect vocabulary (https://www.w3.org/TR/tabular-metadata/#dialect-
descriptions) where they fit: ``header``, ``delimiter``, ``quoteChar``, ``doubleQuote``, ``encoding``,
``skipRows``, ``skipInitialSpace``; ``url`` for the file (a name, or a glob such as ``force-*.csv``) or
``urls`` for a list, and ``columns`` to name the columns of a file without a header. Rules then name a
column by its name, or by its position (1 for the first, as CSVW numbers them).

Rows are read as lists and cells are looked up by position, resolved once per file from its header, which
is read (and trimmed, as values are) before any row.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from graph.errors import InputError, Issue

__all__ = ["FileSpec", "parse_file", "read_table", "resolve"]

#: CSVW dialect names (and ours) a [files] table may use, and what each must be.
KEYS: dict[str, type | tuple[type, ...]] = {
    "url": str, "urls": list, "header": bool, "columns": list, "delimiter": str, "quoteChar": (str, bool),
    "doubleQuote": bool, "encoding": str, "skipRows": int, "skipInitialSpace": bool,
}


@dataclass(frozen=True)
class FileSpec:
    """One entry of ``[files]``: which files (names or globs, in the dataset's folder) and their dialect."""

    urls: tuple[str, ...]
    header: bool = True
    columns: tuple[str, ...] = ()  # the names of a headerless file's columns, in order
    delimiter: str = ","
    quote_char: str | None = '"'  # None: no quoting at all (CSVW quoteChar = false)
    double_quote: bool = True
    encoding: str = "utf-8"
    skip_rows: int = 0
    skip_initial_space: bool = False

    @property
    def label(self) -> str:
        return ", ".join(self.urls)


def parse_file(raw: Any, issue: Callable[[str, str], None]) -> FileSpec | None:
    """A ``[files]`` entry (a name, or a dialect table) as a :class:`FileSpec`; problems go to `issue(rule, message)`.

    Parameters
    ----------
    raw : Any
        The TOML value: a file name, or a table of ``url`` or ``urls``, ``columns`` and the dialect keys
        (:data:`KEYS`).
    issue : callable
        Called with ``(rule, message)`` for each problem.

    Returns
    -------
    FileSpec or None
        None when `raw` is neither a name nor a table, or a key is unknown or of the wrong type; otherwise
        the spec, even when other problems were told to `issue`.
    """
    if isinstance(raw, str):
        return FileSpec((raw,))
    if not isinstance(raw, dict):
        issue("file", "give a file name, or a table with url (or urls) and dialect options")
        return None
    bad = False
    for key, value in raw.items():
        kind = KEYS.get(key)
        if kind is None:
            issue("keys", f"unknown key {key!r}; accepted: {', '.join(KEYS)}")
            bad = True
        elif not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            issue(key, f"must be {'a list' if kind is list else getattr(kind, '__name__', 'text or false')}")
            bad = True
    if bad:
        return None
    urls = tuple(str(u) for u in raw.get("urls", ())) + ((str(raw["url"]),) if "url" in raw else ())
    if not urls:
        issue("url", "give url (a file name or glob) or urls (a list of them)")
    columns = tuple(str(c).strip() for c in raw.get("columns", ()))
    header = raw.get("header", True)
    if columns and header:
        issue("columns", "columns name the columns of a file without a header: say header = false")
    if len(set(columns)) != len(columns):
        issue("columns", "two columns have the same name")
    quote = raw.get("quoteChar", '"')
    if quote is True or (isinstance(quote, str) and len(quote) != 1):
        issue("quoteChar", "must be one character, or false for no quoting")
    delimiter = raw.get("delimiter", ",")
    if len(delimiter) != 1:
        issue("delimiter", "must be one character (write a tab as \"\\t\")")
    encoding = raw.get("encoding", "utf-8")
    try:
        codecs.lookup(encoding)
    except LookupError:
        issue("encoding", f"unknown encoding {encoding!r}")
    if raw.get("skipRows", 0) < 0:
        issue("skipRows", "must be 0 or more")
    return FileSpec(urls, bool(header), columns, delimiter, None if quote is False else str(quote),
                    raw.get("doubleQuote", True), encoding, raw.get("skipRows", 0), raw.get("skipInitialSpace", False))


def resolve(spec: FileSpec, folder: Path) -> list[Path]:
    """The files `spec` names in `folder`, globs expanded (sorted); each name or glob must match a file.

    Parameters
    ----------
    spec : FileSpec
        The ``[files]`` entry: file names or globs (``*``, ``?``, ``[...]``), relative to `folder`.
    folder : Path
        The dataset's folder.

    Raises
    ------
    InputError
        When a name or glob matches no file, or names a place outside `folder` (absolute, ``..``, ``~``).
    """
    out: list[Path] = []
    for url in spec.urls:
        if Path(url).is_absolute() or ".." in Path(url).parts or url.startswith("~"):
            raise InputError([Issue(url, "inside the dataset folder",
                                    "files are named relative to the dataset's folder, without '..'")])
        found = sorted(p for p in folder.glob(url) if p.is_file()) if any(c in url for c in "*?[") else \
            ([folder / url] if (folder / url).is_file() else [])
        if not found:
            raise InputError([Issue(url, "exists", f"the mapping needs {url} in {folder}")])
        out += [p for p in found if p not in out]
    return out


def _open(path: Path, encoding: str) -> IO[str]:
    encoding = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding  # a byte-order mark is fine
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path), encoding=encoding, newline="")
    return path.open(encoding=encoding, newline="")


def read_table(path: Path, spec: FileSpec, name: str) -> tuple[list[str], int, Iterator[tuple[int, list[str]]]]:
    """The column names of `path` (its header trimmed, or the spec's `columns`), the number of cells of its first
    row, and an iterator over its data rows as ``(line, cells)``, read only as asked for.

    `name` is how messages name the file. Raises :class:`InputError` for a file that cannot be read.

    Parameters
    ----------
    path : Path
        The file (a ``.gz`` file is decompressed as it is read).
    spec : FileSpec
        Its dialect: encoding (a UTF-8 byte-order mark is skipped), delimiter, quoting, rows to skip before
        the header, and a header or ``columns``.
    name : str
        How messages name the file.
    """
    handle = _open(path, spec.encoding)
    reader = csv.reader(handle, delimiter=spec.delimiter, quotechar=spec.quote_char,
                        quoting=csv.QUOTE_NONE if spec.quote_char is None else csv.QUOTE_MINIMAL,
                        doublequote=spec.double_quote, skipinitialspace=spec.skip_initial_space)

    def fail(exc: Exception) -> InputError:
        handle.close()
        return InputError([Issue(name, "CSV syntax", f"cannot be read as {spec.encoding} CSV: "
                                 f"{exc.__class__.__name__}", line=reader.line_num or 1)])

    try:
        for _ in range(spec.skip_rows):
            next(reader, None)
        first = next(reader, None)
    except (UnicodeDecodeError, csv.Error, EOFError, OSError) as exc:
        raise fail(exc) from None
    if spec.header:
        names, pending = [h.strip() for h in (first or [])], None
    else:
        names, pending = list(spec.columns), first
    width = len(first or [])

    def rows() -> Iterator[tuple[int, list[str]]]:
        with handle:
            try:
                if pending is not None:
                    yield reader.line_num, pending
                for row in reader:
                    if row:  # a blank line is no row
                        yield reader.line_num, row
            except (UnicodeDecodeError, csv.Error, EOFError, OSError) as exc:
                raise fail(exc) from None

    return names, width, rows()
