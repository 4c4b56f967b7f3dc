"""The ``oversight`` command: load, validate, import, query, stats, export, serve, and the administration.

One module per concern: :mod:`~api.cli.base` (the group, settings, progress, errors into exit codes),
:mod:`~api.cli.sources` (getting data in), :mod:`~api.cli.query` (reading it out), :mod:`~api.cli.serve`,
:mod:`~api.cli.admin` (tokens, audit, settings) and :mod:`~api.cli.client` (the HTTP client of ``--server``).

Errors print what is wrong (file, line, field, rule) on stderr and exit non-zero:
1 for bad input, 3 when the store is in use or unavailable, 130 when interrupted.
Never a traceback.
"""

from __future__ import annotations

from api.cli import admin, query, serve, sources  # noqa: F401  (each registers its commands on the group)
from api.cli.base import cli

__all__ = ["main", "cli"]


def main() -> None:
    """Entry point of the ``oversight`` console script."""
    cli(prog_name="oversight")
