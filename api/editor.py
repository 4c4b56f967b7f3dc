"""The query page's SPARQL editor: YASGUI (``@zazuko/yasgui``) from the npm registry, pinned and verified.

The editor is not in the repository. :func:`install` downloads the package's tarball once
from the npm registry (``NPM_REGISTRY``), checks it against the ``sha512`` integrity pinned
here (as ``npm ci`` does with a lock file), and keeps its two built files in
``EDITOR_DIR/yasgui-VERSION/``. ``oversight serve`` installs it on start when it is missing;
``oversight editor`` does it by hand. Without it the query page is a plain form.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, send_from_directory

__all__ = ["PACKAGE", "VERSION", "FILES", "bp", "folder", "installed", "install", "EditorError"]

log = logging.getLogger(__name__)
bp = Blueprint("editor", __name__)

PACKAGE = "@zazuko/yasgui"
VERSION = "4.6.2"
#: ``dist.integrity`` of the version in the registry's metadata.
INTEGRITY = "sha512-Zw45KdPoAE1KRaAoxIHdQqeJxvaVG1oQdntw0hy0ktX35Zu8ZccuOLrXCLwR+GU+0xMzLw8Mjw6BkSZV2vUuQw=="
#: The files taken from the tarball (its ``package/`` prefix removed), and nothing else.
FILES = ("build/yasgui.min.js", "build/yasgui.min.css")
_MAX_TARBALL = 20 * 1024 * 1024


class EditorError(RuntimeError):
    """The editor could not be installed (network, integrity or archive); the message says which."""


def folder(root: str | os.PathLike[str]) -> Path:
    """Where this version's files live under `root` (``EDITOR_DIR``)."""
    return Path(root) / f"yasgui-{VERSION}"


def installed(root: str | os.PathLike[str]) -> bool:
    """Whether every file of this version is present under `root`."""
    return all((folder(root) / Path(name).name).is_file() for name in FILES)


def tarball_url(registry: str) -> str:
    scope, name = PACKAGE.split("/")
    return f"{registry.rstrip('/')}/{scope}/{name}/-/{name}-{VERSION}.tgz"


def _verify(data: bytes) -> None:
    algorithm, _, expected = INTEGRITY.partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode("ascii")
    if actual != expected:
        raise EditorError(f"{PACKAGE}@{VERSION}: the download does not match its pinned integrity {INTEGRITY}")


def extract(data: bytes, root: str | os.PathLike[str]) -> Path:
    """Check `data` (the tarball) and write :data:`FILES` into :func:`folder` at once (all or nothing)."""
    _verify(data)
    wanted = {f"package/{name}": Path(name).name for name in FILES}
    target = folder(root)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".editor-") as scratch:
        staged = Path(scratch) / target.name
        staged.mkdir()
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for member in archive.getmembers():  # names are only looked up, never used as paths
                if member.name in wanted and member.isfile():
                    source = archive.extractfile(member)
                    assert source is not None
                    (staged / wanted.pop(member.name)).write_bytes(source.read())
        if wanted:
            raise EditorError(f"{PACKAGE}@{VERSION}: the tarball lacks {', '.join(sorted(wanted))}")
        if not target.exists():  # else a concurrent install finished first
            os.rename(staged, target)
    return target


def install(root: str | os.PathLike[str], registry: str = "https://registry.npmjs.org", *,
            timeout: float = 60) -> Path:
    """Download, verify and unpack the editor under `root` unless it is there already.

    Parameters
    ----------
    root : str or path-like
        The editor folder (``EDITOR_DIR``); this version's files go in :func:`folder`.
    registry : str
        The npm registry's base URL (``NPM_REGISTRY``).
    timeout : float
        Seconds the download may wait on the registry, to connect or for each read (default 60).

    Returns
    -------
    Path
        The folder holding :data:`FILES`.

    Raises
    ------
    EditorError
        When the download fails or is larger than 20 MB, or the tarball does not match its pinned integrity
        or lacks one of :data:`FILES`.
    """
    if installed(root):
        return folder(root)
    url = tarball_url(registry)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (a configured https registry)
            data = response.read(_MAX_TARBALL + 1)
    except OSError as exc:
        raise EditorError(f"could not download {url}: {exc}") from None
    if len(data) > _MAX_TARBALL:
        raise EditorError(f"{url} is larger than {_MAX_TARBALL} bytes")
    return extract(data, root)


@bp.get("/editor/<version>/<name>")
def asset(version: str, name: str) -> Response:
    """One of the editor's files; versioned URLs, so they may be cached for a year."""
    if version != VERSION or name not in {Path(f).name for f in FILES} \
            or not installed(current_app.config["EDITOR_DIR"]):
        abort(404)
    response = send_from_directory(folder(current_app.config["EDITOR_DIR"]), name, max_age=365 * 24 * 3600)
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return response
