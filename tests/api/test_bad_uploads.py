"""Broken zip uploads and a newline in /login's next are clear 4xx problems, never 500s (issue 13, item 10)."""

from __future__ import annotations

import io
import struct
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import serving

CSV = b"id,name\n" + b"".join(b"x%d,Unit %d\n" % (i, i) for i in range(200))


def _zip(method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        archive.writestr("units.csv", CSV)
    return buffer.getvalue()


def _central(data: bytes) -> int:
    return data.rindex(b"PK\x01\x02")


def lying_size(data: bytes) -> bytes:
    """The headers say the member is 10 bytes shorter than it is: the CRC of what is read then fails."""
    out = bytearray(data)
    for offset in (22, _central(data) + 24):  # uncompressed size in the local and central headers
        out[offset:offset + 4] = struct.pack("<I", len(CSV) - 10)
    return bytes(out)


def lying_size_and_crc(data: bytes) -> bytes:
    """As :func:`lying_size`, with the CRC of the shorter data: only the stream left over shows the lie."""
    out = bytearray(lying_size(data))
    for offset in (14, _central(data) + 16):  # CRC in the local and central headers
        out[offset:offset + 4] = struct.pack("<I", zlib.crc32(CSV[:-10]))
    return bytes(out)


def bad_crc(data: bytes) -> bytes:
    out = bytearray(data)
    for offset in (14, _central(data) + 16):
        out[offset] ^= 0xFF
    return bytes(out)


def encrypted(data: bytes) -> bytes:
    out = bytearray(data)
    for offset in (6, _central(data) + 8):  # general purpose flag: bit 0, encrypted
        out[offset] |= 0x01
    return bytes(out)


def method_99(data: bytes) -> bytes:
    out = bytearray(data)
    for offset in (8, _central(data) + 10):
        out[offset:offset + 2] = struct.pack("<H", 99)
    return bytes(out)


def corrupt_deflate(data: bytes) -> bytes:
    out = bytearray(data)
    name_length = struct.unpack("<H", data[26:28])[0]
    start = 30 + name_length
    out[start:start + 8] = b"\xff" * 8  # an invalid block type
    return bytes(out)


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


@pytest.mark.parametrize("spoil", [lying_size, lying_size_and_crc, bad_crc, encrypted, method_99, corrupt_deflate, truncated])
def test_broken_zip_uploads_are_400_problems(client: Any, spoil: Callable[[bytes], bytes]) -> None:
    answer = client.put("/sources/broken", data=spoil(_zip()), content_type="application/zip",
                        headers={"Accept": "application/json"})
    assert answer.status_code == 400, (spoil.__name__, answer.get_data(as_text=True)[:300])
    problem = answer.get_json()
    assert answer.mimetype == "application/problem+json"
    assert {issue["rule"] for issue in problem["issues"]} <= {"zip", "zip member", "size"}, problem["issues"]
    assert "Traceback" not in answer.get_data(as_text=True) and "/tmp" not in answer.get_data(as_text=True)
    assert "broken" not in client.get("/sources").get_json()["sources"]


def test_a_good_zip_still_reads(client: Any) -> None:
    answer = client.put("/sources/units", data=_zip(), content_type="application/zip")
    assert answer.status_code in (201, 400)  # the member unpacks; the tabular reader then judges its content
    if answer.status_code == 400:
        assert all(i["rule"] != "zip member" for i in answer.get_json()["issues"])


def test_a_newline_in_next_is_no_500_over_http(tmp_path: Path) -> None:
    with serving(tmp_path / "served") as url:
        for method in ("GET", "POST"):
            request = urllib.request.Request(url + "/login?next=/%0a/x", method=method,
                                             data=b"token=nope" if method == "POST" else None)
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    status, page = answer.status, answer.read().decode()
            except urllib.error.HTTPError as error:
                status, page = error.code, error.read().decode()
            assert status < 500, (method, status)
            assert 'name="next" value="/"' in page
