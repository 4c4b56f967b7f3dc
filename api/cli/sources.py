"""Getting data in: ``load``, ``validate`` and ``import`` (a dataset through its mapping)."""

from __future__ import annotations

import getpass
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from api.cli.base import (
    Progress,
    cli,
    guard,
    open_store,
    settings_for,
)
from api.cli.client import put_source
from graph import (
    load,
    plan,
)
from graph import validate as validate_sources

__all__: list[str] = []  # commands register themselves on the group

@cli.command("load")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--source", help="Load all PATHS as this one source (default: one source per path, named after it).")
@click.option("--title", help="Title recorded in the source's provenance.")
@click.option("--licence", help="Licence recorded in the source's provenance.")
@click.option("--server", metavar="URL", help="Load through a running service (PUT /sources/NAME) instead of the store.")
@click.pass_context
@guard
def load_cmd(ctx: click.Context, paths: tuple[Path, ...], source: str | None, title: str | None,
             licence: str | None, server: str | None) -> None:
    """Validate and load PATHS (Turtle, TriG, N-Triples, N-Quads, JSON-LD files, or folders of CSV files).

    All or nothing: if any source is invalid, nothing is loaded. Re-loading a source replaces it.
    """
    sources = plan(paths, source=source, title=title, licence=licence)
    if server:
        for item in sources:
            put_source(server, item, settings_for(ctx)["TOKEN"])
        return
    db = open_store(settings_for(ctx))
    progress = Progress()
    try:
        reports = load(db, sources, user=getpass.getuser(), progress=progress)
    finally:
        progress.close()
        db.close()
    for report in reports:
        verb = "replaced" if report.replaced else "loaded"
        click.echo(f"{verb} {report.source}: {report.triples} statements ({report.checksum[:19]}...)")
    click.echo(f"data version {reports[-1].data_version}")


@cli.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--source", help="Check all PATHS as this one source.")
@click.pass_context
@guard
def validate_cmd(ctx: click.Context, paths: tuple[Path, ...], source: str | None) -> None:
    """Check PATHS as `load` would, without loading them (works while a service runs)."""
    sources = plan(paths, source=source)
    db = open_store(settings_for(ctx), read_only=True)
    try:
        reports = validate_sources(db, sources, progress=Progress())
    finally:
        db.close()
    for report in reports:
        click.echo(f"valid {report.source}: {report.triples} statements")


@cli.command("import")
@click.argument("mapping")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--without-names", is_flag=True,
              help="Leave out the officers' names the mapping makes (personal data; otherwise the source NAME-names).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--dry-run", is_flag=True, help="Translate and validate the first --rows rows of each file, print the "
              "report and a sample of the rows made per table, and load nothing.")
@click.option("--rows", type=click.IntRange(min=1), default=1000, show_default=True,
              help="With --dry-run: the rows read from each file.")
@click.option("--server", metavar="URL", help="Import through a running service: translate here, then send each "
              "source through its validated, all-or-nothing PUT /sources/NAME (needs a steward token).")
@click.pass_context
@guard
def import_cmd(ctx: click.Context, mapping: str, folder: str, without_names: bool, as_json: bool, dry_run: bool,
               rows: int, server: str | None) -> None:
    """Import a dataset's own CSV files through a mapping (a file, or a shipped one: chicago-cpdp, philadelphia-ppd).

    Rows that cannot be linked are rejected and counted with their reason; the rest is validated
    and loaded, all or nothing, as one source, and the names the mapping makes, if any, as a second
    source NAME-names (docs/mappings.md). --dry-run tries the mapping on the first rows of each file.
    With --server, each source is sent to a running service (the names source after the main one).
    """
    from graph.ingest.mapping import import_dataset, read_mapping, translated

    settings = settings_for(ctx)
    parsed = read_mapping(mapping)
    if dry_run:
        _dry_run(settings, parsed, Path(folder), rows, as_json)
        return
    if server:
        progress = Progress()
        with tempfile.TemporaryDirectory(prefix="oversight-import-") as scratch:
            try:
                report, sources = translated(parsed, Path(folder), Path(scratch), names=not without_names,
                                             progress=progress)
            finally:
                progress.close()
            for line in report.lines():
                click.echo(line)
            for source in sources:
                put_source(server, source, settings["TOKEN"])
        return
    db = open_store(settings)
    progress = Progress()
    try:
        report, loaded = import_dataset(db, parsed, Path(folder), user=getpass.getuser(), names=not without_names,
                                        progress=progress)
    finally:
        progress.close()
        db.close()
    if as_json:
        click.echo(json.dumps({**report.as_dict(), "load": [x.as_dict() for x in loaded]}, indent=2, sort_keys=True))
        return
    for x in loaded:
        click.echo(f"{'replaced' if x.replaced else 'loaded'} {x.source}: {x.triples} statements; "
                   f"data version {x.data_version}")
    for line in report.lines():
        click.echo(line)


def _dry_run(settings: dict[str, Any], parsed: Any, folder: Path, rows: int, as_json: bool) -> None:
    """``import --dry-run``: the report, a sample per table and the problems; exit 1 if a full import would fail."""
    from graph.ingest.mapping import dry_run

    if settings["STORE"] == "oxigraph" and not Path(settings["DATA_DIR"]).exists():
        settings = {**settings, "STORE": "memory"}  # no store yet: check against the ontology alone, create nothing
    db = open_store(settings, read_only=True)
    try:
        report, problems, outside = dry_run(db, parsed, folder, rows=rows)
    finally:
        db.close()
    if as_json:
        click.echo(json.dumps({**report.as_dict(), "samples": report.samples, "problems": [str(p) for p in problems],
                               "outside_sample": outside, "loaded": False}, indent=2, sort_keys=True))
    else:
        click.echo(f"dry run: the first {rows:,} rows of each file; nothing loaded")
        for line in report.lines():
            click.echo(line)
        for table, sample in report.samples.items():
            if sample:
                click.echo(f"  sample of {table}:")
                for row in sample:
                    click.echo("    " + ", ".join(f"{k}={v}" for k, v in row.items() if k != "source" and v))
        if outside:
            click.echo(f"  {outside:,} references name entities beyond the rows read (not checked in a dry run)")
        for problem in problems:
            click.echo(f"  problem: {problem}", err=True)
    if problems:
        sys.exit(1)
