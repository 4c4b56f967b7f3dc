"""RFC 9457 problem documents: the one place errors become HTTP responses.

Domain errors (:mod:`graph.errors`) map to 4xx with their safe messages;
HTTP errors keep their status; anything else is a 500 that says nothing
internal (the exception is logged, never sent).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from graph.errors import (
    BadParameter,
    ClientBusy,
    ConfigError,
    EvaluationFailed,
    InputError,
    NotFound,
    OversightError,
    SandboxRefused,
    Saturated,
    StorageFull,
    StoreLocked,
    StoreUnavailable,
    TimeLimit,
    is_disk_full,
)

__all__ = ["init_app", "problem", "PROBLEM_TYPES", "MEDIA_TYPE"]

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/problem+json"
_BASE = "https://w3id.org/oversight/problems/"

# error class -> (status, type slug)
PROBLEM_TYPES: dict[type[OversightError], tuple[int, str]] = {
    InputError: (400, "invalid-input"),
    BadParameter: (400, "invalid-parameter"),
    NotFound: (404, "not-found"),
    StoreLocked: (409, "store-in-use"),
    StoreUnavailable: (503, "store-unavailable"),
    StorageFull: (507, "insufficient-storage"),
    ConfigError: (500, "configuration"),
    Saturated: (503, "query-workers-busy"),
    ClientBusy: (429, "too-many-queries"),
    TimeLimit: (503, "query-time-limit"),
    EvaluationFailed: (400, "query-failed"),
    SandboxRefused: (503, "query-sandbox-unavailable"),
}
#: Server-side refusals whose message is safe to show (the others are 500s that say nothing).
_SAFE_5XX = (StoreUnavailable, Saturated, TimeLimit, SandboxRefused, StorageFull)


def problem(status: int, title: str, detail: str | None = None, *, type_: str = "about:blank",
            **extra: Any) -> Response:
    """A ``application/problem+json`` response.

    Parameters
    ----------
    status : int
        The HTTP status, also the document's ``status``.
    title : str
        A short summary of the problem type (``title``).
    detail : str, optional
        What went wrong this time (``detail``); left out when empty.
    type_ : str
        The problem type's IRI (``type``; default ``about:blank``).
    **extra
        Further members (``issues``, ``parameter``, ``accepted``...), added last: they would replace the
        members above, ``instance`` (the request's path) included.
    """
    body: dict[str, Any] = {"type": type_, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body["instance"] = request.path
    body.update(extra)
    return Response(json.dumps(body, ensure_ascii=False, indent=2) + "\n", status=status, mimetype=MEDIA_TYPE)


def _domain(error: OversightError) -> Response:
    status, slug = next((v for k, v in PROBLEM_TYPES.items() if isinstance(error, k)), (500, "error"))
    if status >= 500 and not isinstance(error, _SAFE_5XX):
        log.error("server-side error: %s", error)
        return problem(500, "Internal Server Error", "The service could not complete the request.")
    extra: dict[str, Any] = {}
    detail = str(error)
    if isinstance(error, InputError):
        extra["issues"] = [issue.as_dict() for issue in error.issues]
        detail = error.summary
    if isinstance(error, BadParameter):
        extra["parameter"] = error.parameter
        if error.accepted is not None:
            extra["accepted"] = list(error.accepted)
    response = problem(status, error.title, detail, type_=_BASE + slug, **extra)
    retry_after = getattr(error, "retry_after", None)
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _http(error: HTTPException) -> Response:
    status = error.code or 500
    response = problem(status, error.name, error.description if status < 500 else None)
    for name, value in error.get_headers():
        if name == "Allow":  # 405 says which methods the route takes
            response.headers[name] = value
    return response


def _unexpected(error: Exception) -> Response:
    if is_disk_full(error):  # wherever it struck (an upload's scratch folder...): nothing was changed
        log.error("no space left on %s %s: %s", request.method, request.path, error)
        return _domain(StorageFull("there is no room left to store this request; nothing was changed"))
    log.exception("unhandled error on %s %s", request.method, request.path)
    return problem(500, "Internal Server Error", "The service could not complete the request.")


def init_app(app: Flask) -> None:
    """Register the error handlers."""
    app.register_error_handler(OversightError, _domain)
    app.register_error_handler(HTTPException, _http)
    app.register_error_handler(Exception, _unexpected)
