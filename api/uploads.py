"""Request bodies to files the loader reads: RDF as one file, a zip of CSV files as a folder.

Zip members are checked before extraction: flat names of the tabular format's
files only (no folders, no '..'), and a bounded total size (zip bombs). Members are
unpacked in blocks, and any that cannot be (encrypted, an unknown compression method, a
corrupt stream, a bad CRC, a size that lies) is an input error.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

from graph.errors import InputError, Issue
from graph.ingest.tables import TABLES

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


def write_body(body: bytes, media_type: str, folder: Path, *, max_bytes: int) -> Path:
    """Write `body` under `folder` and return the path to load (a file, or a folder of CSV files).

    Parameters
    ----------
    body : bytes
        The request body.
    media_type : str
        Its media type, a key of :data:`MEDIA_TYPES`: an RDF syntax, written as one file with that
        syntax's suffix, or ``application/zip``, unpacked into a folder.
    folder : Path
        A scratch folder; the file ``body.SUFFIX`` or the folder ``body`` is made in it.
    max_bytes : int
        Most bytes the members of a zip may unpack to, all together (``MAX_UPLOAD_BYTES``).

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
            budget -= _unpack(body, member, target / member.filename, budget)
    return target


def _unpack(body: bytes, member: zipfile.ZipInfo, target: Path, budget: int) -> int:
    """Unpack one member to `target` in blocks, writing at most `budget` bytes; returns the bytes written.

    The member's stream is inflated here, not by ``zipfile``, which stops at the size the header
    declares and so cannot tell a header that lies. Every way a member can be bad is an input
    error, never a 500: encrypted, a compression method other than deflate or none, a corrupt
    stream, a CRC that does not match, or more (or fewer) bytes than its header says.
    """
    def bad(message: str) -> InputError:
        return InputError([Issue(member.filename, "zip member", message)])

    if member.flag_bits & 0x1:
        raise bad("is encrypted: send it unencrypted")
    if member.compress_type not in _METHODS:
        raise bad("uses a compression method that is not accepted; use deflate (the default of every zip tool) "
                  "or none")
    local = body[member.header_offset:member.header_offset + 30]
    if len(local) < 30 or local[:4] != b"PK\x03\x04":
        raise bad("its local header is missing")
    name_length, extra_length = struct.unpack("<HH", local[26:30])
    start = member.header_offset + 30 + name_length + extra_length
    stream = memoryview(body)[start:start + member.compress_size]
    if len(stream) < member.compress_size:
        raise bad("is cut short")
    inflate = zlib.decompressobj(-zlib.MAX_WBITS) if member.compress_type == zipfile.ZIP_DEFLATED else None
    written, crc = 0, 0
    with target.open("wb") as out:
        for offset in range(0, len(stream), 1 << 16):
            chunk = stream[offset:offset + (1 << 16)]
            while chunk:
                try:
                    block = inflate.decompress(chunk, 1 << 20) if inflate else bytes(chunk)
                except zlib.error:
                    raise bad("is corrupt: its data does not inflate") from None
                chunk = memoryview(inflate.unconsumed_tail) if inflate else memoryview(b"")
                written += len(block)
                if written > member.file_size or written > budget:  # a lying header, or a bomb
                    raise InputError([Issue(member.filename, "size", "member is larger than its header says")])
                crc = zlib.crc32(block, crc)
                out.write(block)
    if inflate is not None and not inflate.eof:
        raise bad("is corrupt: its data ends before its stream does")
    if written != member.file_size:
        raise InputError([Issue(member.filename, "size", "member is smaller than its header says")])
    if crc != member.CRC:
        raise bad("is corrupt: its CRC does not match its data")
    return written
