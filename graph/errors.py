"""The domain error hierarchy. Every message is safe to show to a user: no paths inside the
service, no engine internals, no stack traces. ``api/problems.py`` maps these to HTTP."""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "Issue",
    "OversightError",
    "ConfigError",
    "InputError",
    "NotFound",
    "BadParameter",
    "StoreLocked",
    "StoreUnavailable",
    "StorageFull",
    "is_disk_full",
    "Saturated",
    "ClientBusy",
    "TimeLimit",
    "EvaluationFailed",
    "SandboxRefused",
]


@dataclass(frozen=True)
class Issue:
    """One thing wrong with an input: where (file, line, field) and which rule it breaks."""

    file: str
    rule: str
    message: str
    line: int | None = None
    field: str | None = None
    value: str | None = None
    focus: str | None = None

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line is not None else "")
        parts = [where]
        if self.field:
            parts.append(f"field '{self.field}'")
        if self.focus and self.line is None:
            parts.append(f"<{self.focus}>")
        return f"{': '.join(parts)}: {self.message} [{self.rule}]"

    def as_dict(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


class OversightError(Exception):
    """Base of every error the service reports on purpose; ``str()`` is safe to show."""

    title = "Error"


class ConfigError(OversightError):
    """A setting has a value that does not parse or does not fit."""

    title = "Invalid configuration"


class NotFound(OversightError):
    """A named thing (source, entity) does not exist."""

    title = "Not found"


class BadParameter(OversightError):
    """A request parameter with a value the question cannot take (names the parameter and what it accepts)."""

    title = "Invalid parameter"

    def __init__(self, parameter: str, message: str, accepted: Sequence[str] | None = None) -> None:
        self.parameter, self.message = parameter, message
        self.accepted = tuple(accepted) if accepted is not None else None
        super().__init__(f"parameter '{parameter}': {message}")


class StoreLocked(OversightError):
    """The on-disk store is open read-write in another process."""

    title = "Store in use"


class StoreUnavailable(OversightError):
    """The store cannot be opened or reached."""

    title = "Store unavailable"


class StorageFull(OversightError):
    """No room on the data volume (or where uploads are unpacked): nothing was changed."""

    title = "Insufficient storage"


def is_disk_full(error: BaseException) -> bool:
    """Whether `error` is a full disk or quota: an ``OSError`` with ENOSPC or EDQUOT, or Oxigraph's
    (RocksDB's) I/O error, which carries no errno, only the operating system's message."""
    if not isinstance(error, OSError):
        return False
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(error)
    return os.strerror(errno.ENOSPC) in text or os.strerror(errno.EDQUOT) in text


# The SPARQL workers' refusals and failures (graph.sparql.workers).
class Saturated(OversightError):
    """Every worker is busy: try again in :attr:`retry_after` seconds."""

    title = "Query workers busy"

    def __init__(self, retry_after: int) -> None:
        super().__init__("every query worker is busy")
        self.retry_after = retry_after


class ClientBusy(OversightError):
    """This client already has as many queries running as it may."""

    title = "Too many queries at once"
    retry_after = 1

    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} queries at once per client")
        self.limit = limit


class TimeLimit(OversightError):
    """The job ran past its time limit; its worker was killed."""

    title = "Query time limit"


class EvaluationFailed(OversightError):
    """The engine could not evaluate the job (the reason is safe to show: it never holds engine text)."""

    title = "Query failed"


class SandboxRefused(OversightError):
    """A worker could not confine itself, and unconfined workers are not allowed (SPARQL_SANDBOX)."""

    title = "Query sandbox unavailable"


class InputError(OversightError):
    """Input that breaks a rule: a syntax error, a bad CSV cell, a SHACL violation.

    Carries every :class:`Issue` found, so a data steward can fix them all at once.
    """

    title = "Invalid input"

    def __init__(self, issues: Sequence[Issue], summary: str | None = None) -> None:
        self.issues = tuple(issues)
        self.summary = summary or f"{len(self.issues)} problem(s) found; nothing was loaded"
        super().__init__(self.summary)

    def __str__(self) -> str:
        return "\n".join([self.summary, *(f"  {issue}" for issue in self.issues)])
