"""Request bodies to files the loader reads: RDF as one file, a zip of CSV files as a folder.

Zip members are checked before extraction: flat names of the tabular format's
files only (no folders, no '..'), and a bounded total size (zip bombs).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from graph.errors import InputError, Issue
from graph.tabular import TABLES

__all__ = ["MEDIA_TYPES", "write_body"]

MEDIA_TYPES: dict[str, str] = {
    "text/turtle": ".ttl",
    "application/trig": ".trig",
    "application/n-triples": ".nt",
    "application/n-quads": ".nq",
    "application/ld+json": ".jsonld",
    "application/rdf+xml": ".rdf",
    "application/zip": "",
}
_TABLE_FILES = {t.file for t in TABLES}


def write_body(body: bytes, media_type: str, folder: Path, *, max_bytes: int) -> Path:
    """Write `body` under `folder` and return the path to load (a file, or a folder of CSV files).

    Raises
    ------
    InputError
        A zip that is not one, holds other entries, or unpacks past `max_bytes`.
    """
    suffix = MEDIA_TYPES[media_type]
    if suffix:
        path = folder / f"body{suffix}"
        path.write_bytes(body)
        return path
    target = folder / "body"
    target.mkdir()
    try:
        archive = zipfile.ZipFile(io.BytesIO(body))
    except zipfile.BadZipFile:
        raise InputError([Issue("request body", "zip", "not a zip archive")]) from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        issues = [Issue(m.filename[:200], "zip member", "only the tabular format's CSV files, at the top level, "
                        "are accepted: " + ", ".join(sorted(_TABLE_FILES)))
                  for m in members if m.filename not in _TABLE_FILES]
        if sum(m.file_size for m in members) > max_bytes:
            issues.append(Issue("request body", "size", f"unpacks to more than {max_bytes} bytes"))
        if not members:
            issues.append(Issue("request body", "zip", "the archive is empty"))
        if issues:
            raise InputError(issues)
        for member in members:
            with archive.open(member) as source:
                data = source.read(max_bytes + 1)
            if len(data) > member.file_size:  # lying header
                raise InputError([Issue(member.filename, "size", "member is larger than its header says")])
            (target / member.filename).write_bytes(data)
    return target
