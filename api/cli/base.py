"""Shared by the commands: the ``oversight`` group, settings, opening the store, progress bars, and errors turned into messages and exit codes."""

from __future__ import annotations

import functools
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from graph import (
    Database,
    OversightError,
    StoreLocked,
    StoreUnavailable,
    open_database,
)
from graph.errors import StorageFull
from graph.settings import resolve

__all__ = ["Progress", "cli", "fail", "guard", "open_store", "param_pairs", "settings_for"]


class Progress:
    """A progress bar per phase on a terminal, with its rate and estimated time left; silent otherwise.

    A phase that does not know its total (``total`` 0, such as the rows of a CSV file being read) shows
    a running count and its rate instead of a bar.
    """

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.bar: Any = None
        self.phase = ""
        self.done = 0
        self.started = 0.0
        self.counting = False

    def _rate(self) -> str:
        elapsed = time.monotonic() - self.started
        return f"{self.done / elapsed:,.0f}/s" if elapsed > 0.5 else ""

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if phase != self.phase:
            self.close()
            self.phase, self.done, self.started = phase, 0, time.monotonic()
            if total > 0:
                self.bar = click.progressbar(length=total, label=phase, file=sys.stderr, show_pos=True,
                                             item_show_func=lambda rate: rate)
                self.bar.__enter__()
        if total > 0 and self.bar is not None:
            self.bar.length = total  # a phase may learn its length as it goes
            step, self.done = done - self.done, done
            self.bar.update(step, self._rate())
        else:
            self.done, self.counting = done, True
            click.echo(f"\r{phase}: {done:,} {self._rate()}", file=sys.stderr, nl=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None
        if self.counting:
            click.echo("", file=sys.stderr)
            self.counting = False


def settings_for(ctx: click.Context, **overrides: Any) -> dict[str, Any]:
    merged = dict(ctx.obj or {})
    merged.update({k: v for k, v in overrides.items() if v is not None})
    return resolve(merged)


def open_store(settings: dict[str, Any], *, read_only: bool = False) -> Database:
    """Open the store `settings` names for a command (:func:`graph.open_database`).

    Parameters
    ----------
    settings : dict
        Resolved settings (:func:`settings_for`).
    read_only : bool
        Open without writing, so that a command can read while a service holds the store. An ``oxigraph``
        store whose folder does not exist yet, or is empty, is opened read-write instead, which creates it.
    """
    folder = Path(settings["DATA_DIR"])
    if read_only and settings["STORE"] == "oxigraph" and (
            not folder.exists() or folder.is_dir() and next(folder.iterdir(), None) is None):
        read_only = False  # nothing to read yet (no folder, or an empty one made for it): create it
    return open_database(settings, read_only=read_only)


def param_pairs(params: tuple[str, ...]) -> list[tuple[str, str]]:
    """``--param NAME=VALUE`` options as (name, value) pairs, in order."""
    pairs = []
    for param in params:
        name, sep, value = param.partition("=")
        if not sep or not name:
            raise click.UsageError(f"--param {param!r}: write NAME=VALUE")
        pairs.append((name, value))
    return pairs


def fail(error: OversightError) -> None:
    click.echo(f"error: {error}", err=True)
    code = 3 if isinstance(error, (StoreLocked, StoreUnavailable)) else 1
    sys.exit(code)


def guard(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn domain errors and Ctrl-C into messages and exit codes."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except StorageFull as error:  # the machine's fault, as below
            click.echo(f"error: {error}", err=True)
            sys.exit(3)
        except OversightError as error:
            fail(error)
        except KeyboardInterrupt:
            click.echo("\ninterrupted: nothing was changed", err=True)
            sys.exit(130)
        except OSError as error:  # the machine's fault (disk full, permissions), not the input's
            click.echo(f"error: {error.strerror or error.__class__.__name__}; nothing was changed", err=True)
            sys.exit(3)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data-dir", type=click.Path(file_okay=False), help="Store folder (OVERSIGHT_DATA_DIR).")
@click.option("--store", type=click.Choice(["oxigraph", "memory", "sparql"]), help="Store kind (OVERSIGHT_STORE).")
@click.pass_context
def cli(ctx: click.Context, data_dir: str | None, store: str | None) -> None:
    """oversight-graph: a knowledge graph linking police-misconduct cases.

    Settings come from OVERSIGHT_* variables (see `oversight settings`) and these options.
    """
    ctx.obj = {"DATA_DIR": data_dir, "STORE": store}
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
