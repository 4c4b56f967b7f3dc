"""The audit log: a record of every request that reads or changes data, each chained to the one before by hash.

``DATA_DIR/audit/audit.jsonl`` holds one JSON object a line. Each has ``prev`` (the hash of the
record before it; 64 zeros for the first) and ``hash``, the SHA-256 of the record's canonical
JSON without ``hash``. Editing, inserting or deleting a record breaks the chain, and
``oversight audit verify`` finds where. (Cutting records off the end leaves a valid shorter
chain: ``verify`` prints the head hash, to be kept somewhere else and compared.)

A request that reaches data gets a ``request`` record before its view runs. If that record
cannot be written, the request fails with a 503 and discloses nothing. When the body has been
sent, a ``response`` record gives the status, the byte count, the body's SHA-256 and, where
known, the rows (``complete`` is false when the client left before the end). Requests refused by authentication get a ``denied`` record. Appends take
an exclusive ``flock``, so the service and the command line can share the file.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import threading
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from flask import Flask, Response, current_app, g, request

from api.access import PUBLIC, required_role
from api.problems import problem

__all__ = ["AuditLog", "AuditError", "GENESIS", "ROWS", "init_app", "log_path", "verify", "records"]

log = logging.getLogger(__name__)
GENESIS = "0" * 64
_KEY = "oversight-audit"
_SPARQL = {"sparql.sparql", "sparql.update"}
_ID = "oversight.audit-id"
#: The WSGI environ key where a view puts the rows it returned (answers' totals, SPARQL rows), so the
#: audit never parses a body it has already been given.
ROWS = "oversight.audit-rows"


class AuditError(RuntimeError):
    """The log could not be written, or its last record is unreadable."""


def _canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _last_hash(handle: Any) -> str:
    end = handle.seek(0, os.SEEK_END)
    if end == 0:
        return GENESIS
    size = min(end, 1 << 16)
    while True:
        handle.seek(end - size)
        tail = handle.read(size)
        lines = tail.rstrip(b"\n").split(b"\n")
        if len(lines) > 1 or size == end:
            break
        size = min(end, size * 4)
    try:
        found = json.loads(lines[-1])["hash"]
    except (ValueError, KeyError, TypeError):
        raise AuditError("the last audit record is unreadable: run `oversight audit verify`") from None
    return str(found)


def _state(handle: IO[bytes]) -> tuple[int, int, int]:
    found = os.fstat(handle.fileno())
    return found.st_ino, found.st_size, found.st_mtime_ns


class AuditLog:
    """Appends chained records to one file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._after_last: tuple[tuple[int, int, int], str] | None = None  # the file as we left it, its last hash

    def append(self, record: dict[str, Any]) -> str:
        """Chain `record` to the last one and write it; returns its hash. Raises AuditError.

        The last hash is read back from the file unless the file is exactly as this log left it
        (same inode, size and modification time): another process (the CLI) may have appended.
        """
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with self._lock, open(self.path, "a+b") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    state = _state(handle)
                    known = self._after_last
                    body = {**record, "prev": known[1] if known and known[0] == state else _last_hash(handle)}
                    digest = hashlib.sha256(_canonical(body)).hexdigest()
                    handle.seek(0, os.SEEK_END)
                    handle.write(_canonical({**body, "hash": digest}) + b"\n")
                    handle.flush()
                    self._after_last = (_state(handle), digest)
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
        except OSError as exc:
            raise AuditError(f"cannot write the audit log: {exc.strerror or exc}") from None
        return digest


def records(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The records of the log at `path`, in order (none if it does not exist)."""
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return
    with handle:
        for line in handle:
            yield json.loads(line)


def verify(path: str | os.PathLike[str]) -> tuple[int, str, str | None]:
    """(records checked, head hash, problem or None): the first broken link, by line number."""
    prev, count = GENESIS, 0
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return 0, GENESIS, None
    with handle:
        for number, line in enumerate(handle, 1):
            try:
                record = json.loads(line)
                claimed = record.pop("hash")
            except (ValueError, KeyError, AttributeError):
                return count, prev, f"line {number}: not an audit record"
            if record.get("prev") != prev:
                return count, prev, f"line {number}: 'prev' does not match the record before (deleted or reordered)"
            if hashlib.sha256(_canonical(record)).hexdigest() != claimed:
                return count, prev, f"line {number}: the record was changed after it was written"
            prev, count = claimed, count + 1
    return count, prev, None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _sparql_text() -> str | None:
    if request.endpoint not in _SPARQL:
        return None
    if request.mimetype in ("application/sparql-query", "application/sparql-update"):
        return request.get_data(as_text=True)
    return request.values.get("query") or request.values.get("update")


def _start() -> Response | None:
    if required_role(request.endpoint) == PUBLIC:
        return None
    record: dict[str, Any] = {
        "event": "request", "id": uuid.uuid4().hex, "time": _now(), **{f"who_{k}": v for k, v in g.who.items()},
        "addr": request.remote_addr, "method": request.method, "route": request.url_rule.rule if request.url_rule
        else None, "path": request.path, "args": {k: request.args.getlist(k) for k in sorted(request.args)},
    }
    text = _sparql_text()
    if text is not None:
        record["sparql"] = text
        record["sparql_sha256"] = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if request.method in ("PUT", "POST", "DELETE") and request.endpoint not in _SPARQL and request.content_length:
        record["body_bytes"] = request.content_length
    try:
        current_app.extensions[_KEY].append(record)
    except AuditError:
        log.exception("audit log unavailable: refusing %s %s", request.method, request.path)
        return problem(503, "Audit log unavailable", "the request was not served because it could not be recorded",
                       type_="https://w3id.org/oversight/problems/audit-unavailable")
    request.environ[_ID] = record["id"]  # per request: an app context (and g) may outlive one
    return None


class _Counted:
    """The response body as sent: counts and hashes it, and records the response when it closes."""

    def __init__(self, body: Iterable[bytes | str], finish: Any) -> None:
        self.body, self.finish = body, finish
        self.size, self.digest = 0, hashlib.sha256()

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.body:
            if isinstance(chunk, str):
                chunk = chunk.encode("utf-8")
            self.size += len(chunk)
            self.digest.update(chunk)
            yield chunk
        self._record(complete=True)

    def _record(self, *, complete: bool) -> None:
        if self.finish is not None:
            finish, self.finish = self.finish, None
            finish(self.size, self.digest.hexdigest(), complete)

    def close(self) -> None:
        closer = getattr(self.body, "close", None)
        if closer is not None:
            closer()
        self._record(complete=False)  # closed before the end: the client went away


def _finish(response: Response) -> Response:
    audit: AuditLog = current_app.extensions[_KEY]
    needed = required_role(request.endpoint)
    if _ID not in request.environ:
        if needed != PUBLIC and response.status_code in (401, 403, 429):
            try:  # best effort: nothing was disclosed
                audit.append({"event": "denied", "time": _now(), "status": response.status_code,
                              "addr": request.remote_addr, "method": request.method, "path": request.path,
                              **{f"who_{k}": v for k, v in g.get("who", {}).items()}})
            except AuditError:
                log.exception("could not record a refused request")
        return response
    base = {"event": "response", "request": request.environ[_ID], "status": response.status_code,
            "rows": request.environ.get(ROWS)}
    for header in ("X-Oversight-Truncated", "ETag"):
        if header in response.headers:
            base[header.lower().replace("x-oversight-", "")] = response.headers[header]

    def finish(size: int, digest: str, complete: bool) -> None:
        try:
            audit.append({**base, "time": _now(), "bytes": size, "sha256": digest, "complete": complete})
        except AuditError:
            log.exception("could not record the end of request %s", base["request"])

    response.direct_passthrough = False
    response.response = _Counted(response.response, finish)  # type: ignore[arg-type]
    return response


def log_path(data_dir: str | os.PathLike[str]) -> Path:
    """Where the audit log of the deployment in `data_dir` is: ``DATA_DIR/audit/audit.jsonl``."""
    return Path(data_dir) / "audit" / "audit.jsonl"


def init_app(app: Flask) -> None:
    """Record requests in :func:`log_path`; run after :func:`api.access.init_app`."""
    app.extensions[_KEY] = AuditLog(log_path(app.config["DATA_DIR"]))
    app.before_request(_start)
    app.after_request(_finish)
