"""The audit log: a record of every request that reads or changes data, each chained to the one before by hash.

``DATA_DIR/audit/audit.jsonl`` holds one JSON object a line. Each has ``prev`` (the hash of the
record before it; 64 zeros for the first) and ``hash``, the SHA-256 of the record's canonical
JSON without ``hash``. Editing, inserting or deleting a record breaks the chain, and
``oversight audit verify`` finds where. Cutting records off the end leaves a valid shorter
chain; ``verify`` finds that too when given a head hash and count kept elsewhere, which the
service writes itself to ``AUDIT_CHECKPOINT`` every ``AUDIT_CHECKPOINT_SECONDS`` (:class:`Checkpoints`).

A request that reaches data gets a ``request`` record before its view runs. If that record
cannot be written, the request fails with a 503 and discloses nothing. When the body has been
sent, a ``response`` record gives the status, the byte count, the body's SHA-256 and, where
known, the rows (``complete`` is false when the client left before the end). Requests refused by
authentication get a ``denied`` record and sign-ins a ``sign-in`` record, both bounded: paths are
clipped with a marker, and past a rate (per client, and in all) refusals are counted in the next
record written instead of each writing its own. Appends take an exclusive ``flock``, so the
service and the command line can share the file.

A full disk never wedges the log. A record that could not be written whole is cut back off
(``ftruncate`` needs no space); if the process died first, the next writer cuts the unfinished
line off. Either way the next record written is a ``lost`` record saying how many records (of
which events) or bytes were lost, chained like any other, so the chain still verifies and the
gap is on file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from flask import Flask, Response, current_app, g, request

from api.access import PUBLIC, SIGN_IN, RateLimit, required_role
from api.problems import problem

__all__ = [
    "GENESIS",
    "ROWS",
    "AuditError",
    "AuditLog",
    "Checkpoints",
    "Scan",
    "clip",
    "init_app",
    "last_checkpoint",
    "log_path",
    "records",
    "scan",
    "verify",
]

log = logging.getLogger(__name__)
GENESIS = "0" * 64
_KEY = "oversight-audit"
_SPARQL = {"sparql.sparql", "sparql.update"}
_ID = "oversight.audit-id"
#: The WSGI environ key where a view puts the rows it returned (answers' totals, SPARQL rows), so the
#: audit never parses a body it has already been given.
ROWS = "oversight.audit-rows"
_PATH_CHARS = 1024  # of a path or parameter value in a request record
_DENIED_PATH_CHARS = 256  # in a denied record: an anonymous client chose it
_DENIED_PER_MINUTE = 600  # denied and sign-in records written a minute, from every client together


class AuditError(RuntimeError):
    """The log could not be written, or its last record is unreadable."""


def _canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def clip(text: str, limit: int = _PATH_CHARS) -> str:
    """`text`, or its first `limit` characters and a marker giving its length and SHA-256.

    Parameters
    ----------
    text : str
        What a record would hold: a path, a method, a parameter's name or value.
    limit : int
        Most characters kept (default 1024, for a path or parameter value in a request record).
    """
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{text[:limit]}…[truncated: {len(text)} characters, sha256 {digest}]"


def _last_line(handle: IO[bytes], end: int) -> bytes | None:
    """The last complete line before `end` (which ends just after a newline), or None in an empty file."""
    if end == 0:
        return None
    size = min(end, 1 << 16)
    while True:
        handle.seek(end - size)
        lines = handle.read(size).rstrip(b"\n").split(b"\n")
        if len(lines) > 1 or size == end:
            return lines[-1]
        size = min(end, size * 4)


def _unfinished(handle: IO[bytes], end: int) -> int:
    """Where the unfinished last line of the file starts (`end` if the file ends with a newline)."""
    start = end
    while start > 0:
        step = min(start, 1 << 16)
        handle.seek(start - step)
        block = handle.read(step)
        found = block.rfind(b"\n")
        if found >= 0:
            return start - step + found + 1
        start -= step
    return 0


def _state(handle: IO[bytes]) -> tuple[int, int, int]:
    found = os.fstat(handle.fileno())
    return found.st_ino, found.st_size, found.st_mtime_ns


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class AuditLog:
    """Appends chained records to one file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._after_last: tuple[tuple[int, int, int], str] | None = None  # the file as we left it, its last hash
        self._lost: dict[str, Any] | None = None  # records this writer could not write, until it can say so

    def append(self, record: dict[str, Any]) -> str:
        """Chain `record` to the last one and write it; returns its hash. Raises AuditError.

        The last hash is read back from the file unless the file is exactly as this log left it
        (same inode, size and modification time): another process (the CLI) may have appended.
        Records lost before (a full disk) are first reported in a ``lost`` record.
        """
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with self._lock, open(self.path, "a+b") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    return self._append(handle, record)
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
        except OSError as exc:
            self._note_lost(record, exc.strerror or str(exc))
            raise AuditError(f"cannot write the audit log: {exc.strerror or exc}") from None

    def _append(self, handle: IO[bytes], record: dict[str, Any]) -> str:
        end = handle.seek(0, os.SEEK_END)
        known = self._after_last
        notes: list[dict[str, Any]] = []
        if known and known[0] == _state(handle):
            prev = known[1]
        else:
            start = _unfinished(handle, end)
            if start < end:  # a record cut short (a full disk, a crash): cut it off, and say so
                handle.seek(start)
                fragment = handle.read(end - start)
                os.ftruncate(handle.fileno(), start)
                end = start
                notes.append({"event": "lost", "time": _now(), "reason": "an unfinished record was cut off",
                              "fragment_bytes": len(fragment),
                              "fragment_sha256": hashlib.sha256(fragment).hexdigest()})
                log.warning("audit log: cut off an unfinished record of %d bytes", len(fragment))
            prev = self._hash_of(_last_line(handle, end))
        if self._lost is not None:
            notes.append({"event": "lost", "time": _now(), **self._lost})
        data = b""
        for body in [*notes, record]:
            body = {**body, "prev": prev}
            prev = hashlib.sha256(_canonical(body)).hexdigest()
            data += _canonical({**body, "hash": prev}) + b"\n"
        try:
            _write_all(handle.fileno(), data)
        except OSError:
            try:
                os.ftruncate(handle.fileno(), end)  # no half record left behind
            except OSError:
                self._after_last = None  # the next writer cuts it off
            raise
        self._after_last = (_state(handle), prev)
        self._lost = None
        return prev

    @staticmethod
    def _hash_of(line: bytes | None) -> str:
        if line is None:
            return GENESIS
        try:
            return str(json.loads(line)["hash"])
        except (ValueError, KeyError, TypeError):
            raise AuditError("the last audit record is unreadable: run `oversight audit verify`") from None

    def _note_lost(self, record: dict[str, Any], reason: str) -> None:
        with self._lock:
            now = _now()
            lost = self._lost or {"records": 0, "events": {}, "first": now, "reason": reason}
            events = Counter(lost["events"])
            events[str(record.get("event"))] += 1
            self._lost = {**lost, "records": lost["records"] + 1, "events": dict(sorted(events.items())),
                          "last": now}


def records(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The records of the log at `path`, in order (none if it does not exist)."""
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return
    with handle:
        for line in handle:
            yield json.loads(line)


def verify(path: str | os.PathLike[str], *, head: str | None = None,
           count: int | None = None) -> tuple[int, str, str | None]:
    """(records checked, head hash, problem or None): the first broken link, by line number.

    Parameters
    ----------
    head : str, optional
        A head hash kept elsewhere (printed by an earlier ``verify``, or a checkpoint's). The log
        must hold a record with this hash, else records were cut off its end or it was replaced.
    count : int, optional
        How many records the log had when `head` was taken: record number `count` must be `head`
        (or, without `head`, the log must have at least `count` records).
    """
    prev, checked, seen = GENESIS, 0, None
    lines: Iterable[bytes] = ()
    with contextlib.ExitStack() as stack:
        with contextlib.suppress(FileNotFoundError):
            lines = stack.enter_context(open(path, "rb"))
        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
                claimed = record.pop("hash")
            except (ValueError, KeyError, AttributeError):
                return checked, prev, f"line {number}: not an audit record"
            if record.get("prev") != prev:
                return checked, prev, f"line {number}: 'prev' does not match the record before (deleted or reordered)"
            if hashlib.sha256(_canonical(record)).hexdigest() != claimed:
                return checked, prev, f"line {number}: the record was changed after it was written"
            prev, checked = claimed, checked + 1
            if claimed == head:
                seen = checked
    if count is not None and checked < count:
        return checked, prev, (f"the log has {checked} records, fewer than the {count} expected: records were cut "
                               "off its end")
    if head is not None and seen is None:
        return checked, prev, (f"no record has the head hash {head}: records were cut off the log's end, or it "
                               "was replaced")
    if head is not None and count is not None and seen != count:
        return checked, prev, f"the head hash {head} is record {seen}, not record {count}"
    return checked, prev, None


# ------------------------------------------------------------------ checkpoints: the head kept elsewhere

@dataclass(frozen=True)
class Scan:
    """How far :func:`scan` has read a log: its inode, the offset after the last whole line, records, head."""

    inode: int = 0
    offset: int = 0
    records: int = 0
    head: str = GENESIS


def scan(path: str | os.PathLike[str], since: Scan | None = None) -> Scan:
    """The record count and head hash of the log at `path`, reading only what was added after `since`.

    Counts whole lines and takes the last one's hash; it does not check the chain (``verify`` does).
    A log replaced or made shorter is read again from its start.

    Parameters
    ----------
    path : str or path-like
        The audit log; a log that does not exist is empty (``Scan()``).
    since : Scan, optional
        What an earlier call returned for this log (default: read from the start).
    """
    since = since or Scan()
    if not os.path.exists(path):
        return Scan()
    with open(path, "rb") as handle:
        found = os.fstat(handle.fileno())
        if found.st_ino != since.inode or found.st_size < since.offset:
            since = Scan(inode=found.st_ino)
        handle.seek(since.offset)
        offset, count, head = since.offset, since.records, since.head
        for line in handle:
            if not line.endswith(b"\n"):
                break  # being written, or cut short: not a record yet
            offset += len(line)
            count += 1
            try:
                head = str(json.loads(line)["hash"])
            except (ValueError, KeyError, TypeError):
                head = "unreadable"
    return Scan(found.st_ino, offset, count, head)


def last_checkpoint(path: str | os.PathLike[str]) -> tuple[int, str]:
    """(records, head) of the last checkpoint in the file at `path`. Raises ValueError when there is none."""
    found = None
    with open(path, "rb") as handle:
        for line in handle:
            try:
                item = json.loads(line)
                found = (int(item["records"]), str(item["head"]))
            except (ValueError, KeyError, TypeError):
                continue  # a checkpoint cut short by a crash; an earlier one stands
    if found is None:
        raise ValueError(f"{path} holds no checkpoint")
    return found


class Checkpoints(threading.Thread):
    """Every `interval` seconds, append the log's record count and head hash to `target`, if it grew.

    `target` should be somewhere an intruder who can change ``DATA_DIR`` cannot (another volume, a
    mounted share, a file another user collects); ``oversight audit verify --checkpoint`` compares.
    """

    def __init__(self, log: str | os.PathLike[str], target: str | os.PathLike[str], interval: float) -> None:
        super().__init__(name="oversight-audit-checkpoints", daemon=True)
        self.log, self.target, self.interval = Path(log), Path(target), interval
        self._scan: Scan | None = None
        self._written = -1
        self.stopped = threading.Event()

    def write(self) -> bool:
        """Write a checkpoint now if the log grew since the last one; True if one was written."""
        self._scan = scan(self.log, self._scan)
        if self._scan.records == self._written:
            return False
        line = json.dumps({"time": _now(), "log": str(self.log), "records": self._scan.records,
                           "head": self._scan.head}, sort_keys=True) + "\n"
        try:
            with open(self.target, "a", encoding="utf-8") as out:
                out.write(line)
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            log.warning("cannot write the audit checkpoint to %s: %s", self.target, exc.strerror or exc)
            return False
        self._written = self._scan.records
        return True

    def run(self) -> None:
        self.write()
        while not self.stopped.wait(self.interval):
            self.write()


# ------------------------------------------------------------------ recording requests

def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _sparql_text() -> str | None:
    if request.endpoint not in _SPARQL:
        return None
    if request.mimetype in ("application/sparql-query", "application/sparql-update"):
        return request.get_data(as_text=True)
    return request.values.get("query") or request.values.get("update")


def _args() -> dict[str, list[str]]:
    return {clip(k, 100): [clip(v) for v in request.args.getlist(k)] for k in sorted(request.args)[:100]}


def _start() -> Response | None:
    if required_role(request.endpoint) == PUBLIC:
        return None
    record: dict[str, Any] = {
        "event": "request", "id": uuid.uuid4().hex, "time": _now(), **{f"who_{k}": v for k, v in g.who.items()},
        "addr": request.remote_addr, "method": request.method, "route": request.url_rule.rule if request.url_rule
        else None, "path": clip(request.path), "args": _args(),
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
        log.exception("audit log unavailable: refusing %s %s", request.method, clip(request.path, 200))
        response = problem(503, "Audit log unavailable", "the request was not served because it could not be "
                           "recorded", type_="https://w3id.org/oversight/problems/audit-unavailable")
        response.headers["Retry-After"] = "30"
        return response
    request.environ[_ID] = record["id"]  # per request: an app context (and g) may outlive one
    return None


class _Quota:
    """Which refusals get a record of their own; the others are counted in the next one written.

    A client past the refusal limit (429) gets one record a minute; and no more than
    `per_minute` denied or sign-in records are written a minute in all, so a flood from many
    addresses cannot fill the disk either.
    """

    def __init__(self, per_minute: int = _DENIED_PER_MINUTE) -> None:
        self._all = RateLimit(per_minute)
        self._quiet_until: dict[str, float] = {}
        self._unrecorded: Counter[str] = Counter()
        self._lock = threading.Lock()

    def admit(self, key: str, status: int) -> int | None:
        """None to count this refusal only; else how many refusals of `key` went unrecorded before it."""
        now = time.monotonic()
        with self._lock:
            if len(self._quiet_until) > 10_000:
                self._quiet_until = {k: t for k, t in self._quiet_until.items() if t > now}
            if status == 429 and self._quiet_until.get(key, 0.0) > now:
                self._unrecorded[key] += 1
                return None
            if self._all.take("all"):
                self._unrecorded[key if len(self._unrecorded) < 10_000 else "other"] += 1
                return None
            if status == 429:
                self._quiet_until[key] = now + 60
            return self._unrecorded.pop(key, 0)


def _refusal(audit: AuditLog, record: dict[str, Any]) -> None:
    quota: _Quota = current_app.extensions[_KEY + "-quota"]
    unrecorded = quota.admit(str(record.get("addr")), record["status"])
    if unrecorded is None:
        return
    if unrecorded:
        record["unrecorded_before"] = unrecorded
    try:  # best effort: nothing was disclosed
        audit.append(record)
    except AuditError:
        log.exception("could not record a refused request")


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
        base = {"time": _now(), "status": response.status_code, "addr": request.remote_addr,
                "method": clip(request.method, 16), "path": clip(request.path, _DENIED_PATH_CHARS)}
        if SIGN_IN in request.environ:
            _refusal(audit, {"event": "sign-in", **base, **request.environ[SIGN_IN]})
        elif needed != PUBLIC and response.status_code in (401, 403, 429):
            _refusal(audit, {"event": "denied", **base, **{f"who_{k}": v for k, v in g.get("who", {}).items()}})
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

    body = response.response
    handle = getattr(body, "file", None)
    if response.direct_passthrough and handle is not None and hasattr(handle, "seek"):
        # A file handed to the WSGI server (SPARQL results), which sends it from its own loop so that a
        # slow client holds no thread: hashed whole here, recorded as handed over.
        digest, size = hashlib.sha256(), 0
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
        handle.seek(0)
        base["handed_to_server"] = True
        finish(size, digest.hexdigest(), True)
        return response
    response.direct_passthrough = False
    response.response = _Counted(response.response, finish)  # type: ignore[arg-type]
    return response


def log_path(data_dir: str | os.PathLike[str]) -> Path:
    """Where the audit log of the deployment in `data_dir` is: ``DATA_DIR/audit/audit.jsonl``."""
    return Path(data_dir) / "audit" / "audit.jsonl"


def init_app(app: Flask) -> None:
    """Record requests in :func:`log_path`; run after :func:`api.access.init_app`.

    With ``AUDIT_CHECKPOINT`` set, also start the :class:`Checkpoints` thread (not under ``TESTING``,
    where tests drive :meth:`Checkpoints.write` themselves).
    """
    app.extensions[_KEY] = AuditLog(log_path(app.config["DATA_DIR"]))
    app.extensions[_KEY + "-quota"] = _Quota()
    if app.config.get("AUDIT_CHECKPOINT"):
        checkpoints = Checkpoints(log_path(app.config["DATA_DIR"]), app.config["AUDIT_CHECKPOINT"],
                                  app.config["AUDIT_CHECKPOINT_SECONDS"])
        app.extensions[_KEY + "-checkpoints"] = checkpoints
        if not app.config.get("TESTING"):
            checkpoints.start()
    app.before_request(_start)
    app.after_request(_finish)
