"""The WSGI server: waitress, bounded against slow and hostile clients, deciding on headers before bodies.

waitress reads a request's whole body before the app sees it, so on its own a 150 MB anonymous
``PUT`` is read (into a temporary file) only to be refused. Here the parser asks
:func:`api.access.admits_body` as soon as the headers are in: a request without the right to its
body (no token, a wrong one, a weaker role, more than ``MAX_UPLOAD_BYTES``) is handed to the app
at once without it, the app answers 401, 403 or 413 as usual, and the connection is closed after
the answer (what the client still sends is dropped for at most :data:`LINGER` seconds, so that it
sees the answer rather than a reset). ``100 Continue`` is never sent for such a request, so a
client that asks first (curl does for large bodies) never sends the body at all.

Connections are bounded by settings: at most ``CONNECTION_LIMIT`` open, idle ones closed after
``CHANNEL_TIMEOUT`` seconds, and the request line and headers due within ``HEADER_TIMEOUT`` seconds
of their first byte, which waitress alone does not bound (a client sending one byte every few
seconds is never idle). waitress polls with ``poll()``, not ``select()``, which cannot watch
descriptors past 1023.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable
from typing import Any

from flask import Flask
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import BaseWSGIServer, MultiSocketServer, create_server
from waitress.utilities import RequestEntityTooLarge

from api.access import admits_body

__all__ = ["adjustments", "make_server", "public_base"]

Screen = Callable[[str, str, dict[str, str]], bool]
#: Seconds a connection whose body was refused is drained after its answer, before it is closed.
LINGER = 2.0


def public_base(config: Any) -> str:
    """The service's base URL, ending in ``/``: ``PUBLIC_URL``, else the address it binds.

    Never built from the request's ``Host`` header, which the client chooses.
    """
    if config.get("PUBLIC_URL"):
        return str(config["PUBLIC_URL"])
    host = str(config.get("HOST") or "127.0.0.1")
    return f"http://{'[' + host + ']' if ':' in host else host}:{config.get('PORT') or 5000}/"


def adjustments(settings: dict[str, Any]) -> dict[str, Any]:
    """waitress's options from the settings."""
    return {
        "host": settings["HOST"], "port": settings["PORT"], "threads": settings["THREADS"],
        "ident": "oversight-graph",
        "connection_limit": settings["CONNECTION_LIMIT"],
        "channel_timeout": settings["CHANNEL_TIMEOUT"],
        "cleanup_interval": max(1, min(30, int(settings["CHANNEL_TIMEOUT"] / 3))),
        "max_request_body_size": settings["MAX_UPLOAD_BYTES"] + 1,  # chunked bodies; sized ones are screened
        "asyncore_use_poll": True,
        **({"trusted_proxy": settings["TRUSTED_PROXY"], "trusted_proxy_count": 1,
            "trusted_proxy_headers": {"x-forwarded-for"}, "clear_untrusted_proxy_headers": True}
           if settings["TRUSTED_PROXY"] else {}),
    }


class _Parser(HTTPRequestParser):
    """waitress's parser, which asks `screen` whether to read a body once the headers are in."""

    screen: Screen | None = None
    screened = False
    refused_body = False

    def received(self, data: bytes) -> int:
        consumed = int(super().received(data))
        if self.headers_finished and not self.screened:
            self.screened = True
            screen = type(self).screen
            # waitress refuses a declared length over its limit itself, in plain text: let the app
            # answer instead (401 if anonymous, else a 413 problem), still without reading the body
            error: Any = self.error  # type: ignore[has-type]  # waitress is untyped
            completed = bool(self.completed)  # type: ignore[has-type]
            oversized = isinstance(error, RequestEntityTooLarge) and not self.chunked
            if oversized or (not completed and not error and screen is not None
                             and not screen(self.command, self.path, self.headers)):
                self.error = None
                self.refused_body = True
                self.body_rcv = None  # the app gets an empty body
                self.completed = True
                self.expect_continue = False  # never invite the body
                self.headers["CONNECTION"] = "close"  # what is left of the body is never read
        return consumed


class _Channel(HTTPChannel):
    """waitress's channel with a deadline for request headers, which stops reading after a refused body.

    Once the answer to a refused body is sent, the channel closes as a lingering close: it shuts its
    sending side and, for at most :data:`LINGER` seconds, reads and drops what the client still
    sends. Closing at once with unread bytes would reset the connection, and a client that sends
    its whole body before reading (urllib, requests) would then see a reset instead of the answer.
    Nothing dropped is kept, in memory or on disk.
    """

    parser_class = _Parser
    header_timeout = 10.0
    _header_started: float | None = None
    _stop_reading = False
    _linger_until: float | None = None

    def handle_close(self) -> None:
        if self._stop_reading and self._linger_until is None and self.connected:
            self._linger_until = time.monotonic() + LINGER
            self.will_close = False
            try:
                self.socket.shutdown(socket.SHUT_WR)  # the answer is sent: end it, keep draining
                return
            except OSError:
                pass
        super().handle_close()

    def received(self, data: bytes) -> bool:
        if self._linger_until is not None:
            return True  # dropped
        if self._stop_reading:
            return False
        if self.request is None or self._header_started is None:
            self._header_started = time.monotonic()
        done = bool(super().received(data))
        pending = self.requests[-1] if self.requests else None
        if isinstance(pending, _Parser) and pending.refused_body:
            self._stop_reading = True
        if self.request is None:
            self._header_started = None
        return done

    def readable(self) -> bool:
        if self._linger_until is not None:
            if time.monotonic() > self._linger_until:
                self.will_close = True
                return False
            return True
        started = self._header_started
        if (started is not None and self.request is not None and not self.request.headers_finished
                and time.monotonic() - started > self.header_timeout):
            self.will_close = True  # too slow with its headers: closed by the next write pass
        return False if self._stop_reading else bool(super().readable())


def _addresses_only(app: Any, proxy: str) -> Callable[..., Any]:
    """`app`, with a forwarded client address that is not an IP address replaced by the proxy's own.

    waitress takes the last ``X-Forwarded-For`` entry of a request from the trusted proxy as it is (``unknown``,
    a hostname, kilobytes of text); limits and the audit log key on IP addresses only, so anything else counts
    as the proxy, the one peer waitress rewrites for.
    """

    def checked(environ: dict[str, Any], start_response: Any) -> Any:
        try:
            ipaddress.ip_address(environ.get("REMOTE_ADDR", ""))
        except ValueError:
            environ["REMOTE_ADDR"] = environ["REMOTE_HOST"] = proxy
        return app(environ, start_response)

    return checked


def make_server(app: Flask, settings: dict[str, Any]) -> Any:
    """A waitress server for `app` with the bounds of `settings`; ``.run()`` serves until stopped.

    Parameters
    ----------
    app : Flask
        The application served; :func:`api.access.admits_body` tells the parser whether to read each body.
    settings : dict
        Resolved settings: ``HOST``, ``PORT``, ``THREADS``, ``CONNECTION_LIMIT``, ``CHANNEL_TIMEOUT`` and
        ``MAX_UPLOAD_BYTES`` (:func:`adjustments`), and ``HEADER_TIMEOUT``, the seconds a client may take
        to send its headers.
    """
    def screen(method: str, path: str, headers: dict[str, str]) -> bool:
        return admits_body(app, method, path, headers)

    parser = type("Parser", (_Parser,), {"screen": staticmethod(screen)})
    channel = type("Channel", (_Channel,), {"parser_class": parser,
                                            "header_timeout": float(settings["HEADER_TIMEOUT"])})
    served = _addresses_only(app, settings["TRUSTED_PROXY"]) if settings["TRUSTED_PROXY"] else app
    server = create_server(served, **adjustments(settings))
    servers = ([s for s in server.map.values() if isinstance(s, BaseWSGIServer)]
               if isinstance(server, MultiSocketServer) else [server])
    for each in servers:
        each.channel_class = channel
    return server
