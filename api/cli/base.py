"""Shared by the commands: the ``oversight`` group, settings, opening the store, progress bars, and errors turned into messages and exit codes."""

from __future__ import annotations

import functools
import logging
import sys
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
    """A progress bar per phase on a terminal; silent otherwise."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.bar: Any = None
        self.phase = ""
        self.done = 0

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if phase != self.phase:
            self.close()
            self.phase, self.done = phase, 0
            self.bar = click.progressbar(length=max(total, 1), label=phase, file=sys.stderr)
            self.bar.__enter__()
        self.bar.length = max(total, 1)  # a phase may learn its length as it goes
        self.bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def settings_for(ctx: click.Context, **overrides: Any) -> dict[str, Any]:
    merged = dict(ctx.obj or {})
    merged.update({k: v for k, v in overrides.items() if v is not None})
    return resolve(merged)


def open_store(settings: dict[str, Any], *, read_only: bool = False) -> Database:
    if read_only and settings["STORE"] == "oxigraph" and not Path(settings["DATA_DIR"]).exists():
        read_only = False  # nothing to read yet: create it
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
