"""Request bodies to files the loader reads: RDF as one file, a zip of CSV files as a folder.

Zip members are checked before extraction: flat names of the tabular format's
files only (no folders, no '..'), and a bounded total size (zip bombs). Members are
unpacked in blocks, and any that cannot be (encrypted, an unknown compression method, a
corrupt stream, a bad CRC, a size that lies) is an input error.
"""

from __future__ import annotations

import io
import logging
import zipfile
import zlib
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
_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}
log = logging.getLogger(__name__)


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
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, NotImplementedError):
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
        budget = max_bytes
        for member in members:
            budget -= _unpack(archive, member, target / member.filename, budget)
    return target


def _unpack(archive: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path, budget: int) -> int:
    """Copy one member to `target` in blocks, reading at most `budget` bytes; returns the bytes written.

    Every way a member can be bad is an input error, never a 500: encrypted, a compression
    method zipfile cannot read, a corrupt stream, a CRC that does not match, or more (or fewer)
    bytes than its header says.
    """
    if member.flag_bits & 0x1:
        raise InputError([Issue(member.filename, "zip member", "is encrypted: send it unencrypted")])
    if member.compress_type not in _METHODS:
        raise InputError([Issue(member.filename, "zip member", "uses a compression method that is not accepted; "
                                "use deflate (the default of every zip tool) or none")])
    written = 0
    try:
        with archive.open(member) as source, target.open("wb") as out:
            while block := source.read(min(1 << 20, budget - written + 1)):
                written += len(block)
                if written > member.file_size or written > budget:  # a lying header, or a bomb
                    raise InputError([Issue(member.filename, "size", "member is larger than its header says")])
                out.write(block)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError) as exc:
        log.info("unreadable zip member %s: %s", member.filename[:200], exc)
        raise InputError([Issue(member.filename, "zip member", "is corrupt: its data does not unpack or does not "
                                "match its checksum")]) from None
    if written != member.file_size:
        raise InputError([Issue(member.filename, "size", "member is smaller than its header says")])
    return written
