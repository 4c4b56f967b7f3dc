"""Reading data out: ``query`` (SPARQL, through the same confined workers as the service), ``stats`` and ``export``."""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path
from typing import Any

import click

from api.cli.base import (
    cli,
    guard,
    open_store,
    param_pairs,
    settings_for,
)
from graph import (
    InputError,
    NotFound,
)
from graph.export.formats import EXPORT_FORMATS
from graph.store.stats import stats as compute_stats
from ontology import OV

__all__: list[str] = []  # commands register themselves on the group

def _table(results: dict[str, Any]) -> str:
    """SPARQL JSON results as an aligned text table."""
    names = results["head"]["vars"]
    rows = [[row.get(n, {}).get("value", "") for n in names] for row in results["results"]["bindings"]]
    widths = [max([len(n)] + [len(r[i]) for r in rows]) for i, n in enumerate(names)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()  # noqa: E731
    out = [line(names), line(["-" * w for w in widths])] + [line(r) for r in rows]
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out)


_QUERY_MEDIA = {"table": "application/sparql-results+json", "json": "application/sparql-results+json",
                "xml": "application/sparql-results+xml", "csv": "text/csv", "tsv": "text/tab-separated-values"}


@cli.command("query")
@click.argument("text", required=False)
@click.option("--file", "file_", type=click.File("r"), help="Read the query from a file ('-' for stdin).")
@click.option("--saved", help="Run a saved query by name (see GET /queries).")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="A parameter of the saved query (checked against its declared type, bound as one term).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "tsv", "json", "xml"]), default="table",
              show_default=True, help="Output for SELECT/ASK; CONSTRUCT/DESCRIBE print N-Triples.")
@click.pass_context
@guard
def query_cmd(ctx: click.Context, text: str | None, file_: Any, saved: str | None, params: tuple[str, ...],
              fmt: str) -> None:
    """Run a SPARQL query over the loaded sources (the default graph is their union).

    The prefixes rdf, rdfs, owl, xsd, skos, foaf, org, prov, dcterms, sioc, time, sh and ov
    need no declaration. As on /sparql, the query runs in a confined worker process with no
    network, within OVERSIGHT_SPARQL_TIMEOUT and OVERSIGHT_SPARQL_MAX_ROWS; updates, SERVICE and
    FROM naming other graphs are refused.
    """
    from graph.errors import BadParameter
    from graph.linkage.facts import facts
    from graph.sparql.engine import evaluate
    from graph.sparql.saved import bind, saved_query
    from graph.sparql.workers import Pool

    if sum(x is not None for x in (text, file_, saved)) != 1:
        raise click.UsageError("give the query as an argument, with --file, or with --saved NAME")
    if params and saved is None:
        raise click.UsageError("--param goes with --saved")
    raw = dict(param_pairs(params))
    settings = settings_for(ctx)
    db = open_store(settings, read_only=True)
    pool = Pool(1, memory_bytes=settings["SPARQL_WORKER_MEMORY"], output_bytes=settings["SPARQL_MAX_BYTES"],
                require_sandbox=settings["SPARQL_SANDBOX"])
    try:
        try:
            stored_query = saved_query(saved) if saved else None
            query_text = stored_query.text if stored_query else (text if text is not None else file_.read())
            bindings = bind(stored_query, raw, facts(db)) if stored_query else {}
            evaluated = evaluate(db, pool, query_text, timeout=settings["SPARQL_TIMEOUT"],
                                 rows=settings["SPARQL_MAX_ROWS"], results_media=_QUERY_MEDIA[fmt],
                                 graph_media="application/n-triples", bindings=bindings)
        except BadParameter as error:
            raise InputError([], str(error).replace("parameter 'query': syntax error", "query syntax error")
                             .replace("parameter 'query': ", "query: ")) from None
        try:
            body = evaluated.path.read_bytes()
        finally:
            evaluated.path.unlink(missing_ok=True)
        if fmt == "table" and evaluated.form == "SELECT":
            click.echo(_table(json.loads(body)))
        elif fmt == "table" and evaluated.form == "ASK":
            click.echo(str(bool(json.loads(body)["boolean"])).lower())
        else:
            sys.stdout.write(body.decode())
        if evaluated.truncated:
            click.echo(f"(cut at {settings['SPARQL_MAX_ROWS']:,} rows: OVERSIGHT_SPARQL_MAX_ROWS)", err=True)
    finally:
        pool.close()
        db.close()


@cli.command("stats")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
@guard
def stats_cmd(ctx: click.Context, fmt: str) -> None:
    """Counts per class and statements per source."""
    db = open_store(settings_for(ctx), read_only=True)
    try:
        result = compute_stats(db)
    finally:
        db.close()
    if fmt == "json":
        click.echo(json.dumps(result.as_dict(), indent=2, sort_keys=True))
        return
    click.echo(f"data version {result.data_version}\n\nsource{'':26}statements")
    for name, count in result.sources.items():
        click.echo(f"{name:32}{count:>10}")
    click.echo(f"\nclass{'':27}instances")
    for cls, count in sorted(result.classes.items()):
        click.echo(f"{cls.replace(str(OV), 'ov:'):32}{count:>10}")


@cli.command("export")
@click.argument("view_name", metavar="VIEW")
@click.option("--format", "fmt", type=click.Choice(sorted(EXPORT_FORMATS)), default="graphml", show_default=True,
              help="Export format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="File to write; its manifest goes to FILE.manifest.json.")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="A parameter of the view, as on /export (kinds=co-accused, since=2016, hops=2...).")
@click.pass_context
@guard
def export_cmd(ctx: click.Context, view_name: str, fmt: str, output: Path, params: tuple[str, ...]) -> None:
    """Export VIEW (full, officers, officer/ID, investigation/ID, chat-group/ID, inquiry/ID) to a file.

    The same code and parameters as GET /export/VIEW.FORMAT; the store is opened read-only, so this
    works while a service runs. The manifest (counts, checksum, sources) is written beside the file.
    """
    from urllib.parse import quote, urlencode

    from api import create_app
    from api.database import close

    pairs = param_pairs(params)
    settings = settings_for(ctx)
    if settings["STORE"] == "oxigraph" and not Path(settings["DATA_DIR"]).exists():
        raise NotFound(f"no store in {settings['DATA_DIR']}: load data first")
    # the operator reads the store directly, as every command here does: no token, but audited by login name
    app = create_app({**settings, "READ_ONLY": settings["STORE"] == "oxigraph", "AUTH": False,
                      "LOCAL_USER": f"cli:{getpass.getuser()}"})
    try:
        client = app.test_client()
        response = client.get(f"/export/{quote(view_name, safe='/')}.{fmt}?{urlencode(pairs)}", buffered=False)
        if response.status_code != 200:
            problem = response.get_json(silent=True) or {}
            click.echo(f"error: {problem.get('detail') or problem.get('title') or response.status}", err=True)
            sys.exit(1)
        target_manifest = output.with_name(output.name + ".manifest.json")
        partials = [output.with_name(output.name + ".partial"), target_manifest.with_name(target_manifest.name + ".partial")]
        try:  # both files are written in full before either replaces what was there
            with partials[0].open("wb") as handle:
                for chunk in response.response:
                    handle.write(chunk if isinstance(chunk, bytes) else chunk.encode("utf-8"))
            link = response.headers["Link"].split(">", 1)[0].lstrip("<")
            described = client.get(link).get_json()
            partials[1].write_text(json.dumps(described, indent=1, sort_keys=True, ensure_ascii=False) + "\n",
                                   encoding="utf-8")
            partials[0].replace(output)
            partials[1].replace(target_manifest)
        finally:
            for partial in partials:
                partial.unlink(missing_ok=True)
        counts = described["counts"]
        click.echo(f"wrote {output} ({counts['nodes_total']} nodes, {counts['edges_total']} edges;"
                   f" sha256 {described['sha256'][:16]}...) and its manifest")
    finally:
        close(app)
