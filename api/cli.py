"""The ``oversight`` command: load, validate, query, stats, serve.

Errors print what is wrong (file, line, field, rule) on stderr and exit non-zero:
1 for bad input, 3 when the store is in use or unavailable, 130 when interrupted.
Never a traceback.
"""

from __future__ import annotations

import functools
import getpass
import io
import json
import logging
import signal
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from graph import (
    Database,
    InputError,
    NotFound,
    OversightError,
    StoreLocked,
    StoreUnavailable,
    load,
    open_database,
    plan,
)
from graph import validate as validate_sources
from graph.errors import StorageFull
from graph.export.formats import FORMATS as EXPORT_FORMATS
from graph.ingest.load import FORMATS, SourceInput
from graph.settings import SETTINGS, resolve
from graph.store.stats import stats as compute_stats

__all__ = ["main", "cli"]

log = logging.getLogger("oversight")
_MEDIA = {".ttl": "text/turtle", ".trig": "application/trig", ".nt": "application/n-triples",
          ".nq": "application/n-quads", ".jsonld": "application/ld+json", ".json": "application/ld+json",
          ".rdf": "application/rdf+xml", ".owl": "application/rdf+xml"}


class _Progress:
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


def _settings(ctx: click.Context, **overrides: Any) -> dict[str, Any]:
    merged = dict(ctx.obj or {})
    merged.update({k: v for k, v in overrides.items() if v is not None})
    return resolve(merged)


def _open(settings: dict[str, Any], *, read_only: bool = False) -> Database:
    if read_only and settings["STORE"] == "oxigraph" and not Path(settings["DATA_DIR"]).exists():
        read_only = False  # nothing to read yet: create it
    return open_database(settings, read_only=read_only)


def _pairs(params: tuple[str, ...]) -> list[tuple[str, str]]:
    """``--param NAME=VALUE`` options as (name, value) pairs, in order."""
    pairs = []
    for param in params:
        name, sep, value = param.partition("=")
        if not sep or not name:
            raise click.UsageError(f"--param {param!r}: write NAME=VALUE")
        pairs.append((name, value))
    return pairs


def _fail(error: OversightError) -> None:
    click.echo(f"error: {error}", err=True)
    code = 3 if isinstance(error, (StoreLocked, StoreUnavailable)) else 1
    sys.exit(code)


def _guard(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn domain errors and Ctrl-C into messages and exit codes."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except StorageFull as error:  # the machine's fault, as below
            click.echo(f"error: {error}", err=True)
            sys.exit(3)
        except OversightError as error:
            _fail(error)
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


@cli.command("load")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--source", help="Load all PATHS as this one source (default: one source per path, named after it).")
@click.option("--title", help="Title recorded in the source's provenance.")
@click.option("--licence", help="Licence recorded in the source's provenance.")
@click.option("--server", metavar="URL", help="Load through a running service (PUT /sources/NAME) instead of the store.")
@click.pass_context
@_guard
def load_cmd(ctx: click.Context, paths: tuple[Path, ...], source: str | None, title: str | None,
             licence: str | None, server: str | None) -> None:
    """Validate and load PATHS (Turtle, TriG, N-Triples, N-Quads, JSON-LD files, or folders of CSV files).

    All or nothing: if any source is invalid, nothing is loaded. Re-loading a source replaces it.
    """
    sources = plan(paths, source=source, title=title, licence=licence)
    if server:
        for item in sources:
            _put(server, item, _settings(ctx)["TOKEN"])
        return
    db = _open(_settings(ctx))
    progress = _Progress()
    try:
        reports = load(db, sources, user=getpass.getuser(), progress=progress)
    finally:
        progress.close()
        db.close()
    for report in reports:
        verb = "replaced" if report.replaced else "loaded"
        click.echo(f"{verb} {report.source}: {report.triples} statements ({report.checksum[:19]}...)")
    click.echo(f"data version {reports[-1].data_version}")


def _put(server: str, source: SourceInput, token: str) -> None:
    if len(source.paths) != 1:
        raise InputError([], "with --server, give one file or folder per source")
    path = source.paths[0]
    if path.is_dir():
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for csv_file in sorted(path.glob("*.csv")):
                archive.write(csv_file, csv_file.name)
        body, media = buffer.getvalue(), "application/zip"
    else:
        suffix = next(s for s in FORMATS if path.name.lower().endswith(s))
        body, media = path.read_bytes(), _MEDIA[suffix]
    query = urllib.parse.urlencode({k: v for k, v in (("title", source.title), ("licence", source.licence)) if v})
    url = f"{server.rstrip('/')}/sources/{urllib.parse.quote(source.name)}" + (f"?{query}" if query else "")
    headers = {"Content-Type": media, "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, method="PUT", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=3600) as response:
            report = json.load(response)
    except urllib.error.HTTPError as error:
        try:
            problem = json.load(error)
        except ValueError:
            problem = {"title": error.reason, "detail": ""}
        lines = [f"{problem.get('title')}: {problem.get('detail', '')}"]
        lines += [f"  {i.get('file')}{':' + str(i['line']) if i.get('line') else ''}"
                  f"{': field ' + repr(i['field']) if i.get('field') else ''}: {i.get('message')} [{i.get('rule')}]"
                  for i in problem.get("issues", [])]
        click.echo("error: " + "\n".join(lines), err=True)
        sys.exit(1)
    except (urllib.error.URLError, OSError) as error:
        click.echo(f"error: cannot reach {server}: {getattr(error, 'reason', error)}", err=True)
        sys.exit(3)
    verb = "replaced" if report.get("replaced") else "loaded"
    click.echo(f"{verb} {report['source']} through {server}: {report['triples']} statements")
    click.echo(f"data version {report['data_version']}")


@cli.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--source", help="Check all PATHS as this one source.")
@click.pass_context
@_guard
def validate_cmd(ctx: click.Context, paths: tuple[Path, ...], source: str | None) -> None:
    """Check PATHS as `load` would, without loading them (works while a service runs)."""
    sources = plan(paths, source=source)
    db = _open(_settings(ctx), read_only=True)
    try:
        reports = validate_sources(db, sources, progress=_Progress())
    finally:
        db.close()
    for report in reports:
        click.echo(f"valid {report.source}: {report.triples} statements")


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
@_guard
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
    raw = dict(_pairs(params))
    settings = _settings(ctx)
    db = _open(settings, read_only=True)
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
@_guard
def stats_cmd(ctx: click.Context, fmt: str) -> None:
    """Counts per class and statements per source."""
    db = _open(_settings(ctx), read_only=True)
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
        click.echo(f"{cls.replace('https://w3id.org/oversight/ontology#', 'ov:'):32}{count:>10}")


def _loopback(host: str) -> bool:
    import ipaddress
    import socket

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(info[4][0]).is_loopback for info in socket.getaddrinfo(host, None))
        except OSError:
            return False


@cli.command("serve")
@click.option("--host", help="Address to bind (OVERSIGHT_HOST; default 127.0.0.1).")
@click.option("--port", type=int, help="Port (OVERSIGHT_PORT; default 5000).")
@click.option("--threads", type=int, help="Worker threads (OVERSIGHT_THREADS).")
@click.option("--no-auth", is_flag=True, help="No tokens needed (OVERSIGHT_AUTH=false): on a loopback address only.")
@click.pass_context
@_guard
def serve_cmd(ctx: click.Context, host: str | None, port: int | None, threads: int | None, no_auth: bool) -> None:
    """Serve the API with waitress. Loads the bundled Charing Cross case into an empty store."""
    from api import create_app
    from api.access import Tokens
    from api.database import close, get_db, stop_workers
    from api.server import make_server
    from graph.ingest.cases import load_bundled
    from graph.linkage.facts import warm
    from graph.store.database import ONTOLOGY_SOURCE

    settings = _settings(ctx, HOST=host, PORT=port, THREADS=threads, AUTH=False if no_auth else None)
    if not settings["AUTH"] and not _loopback(settings["HOST"]):
        click.echo(f"error: refusing to serve {settings['HOST']} without authentication: this data is sensitive. "
                   "Create tokens (oversight token create) and drop --no-auth / OVERSIGHT_AUTH=false, "
                   "or bind a loopback address", err=True)
        sys.exit(2)
    if not settings["AUTH"]:
        click.echo("authentication is OFF (--no-auth): anyone who can reach this loopback address can read and "
                   "change everything", err=True)
    elif not [t for t in Tokens(settings["DATA_DIR"]).list() if t.revoked is None]:
        click.echo("no tokens yet: every data route will answer 401. Create one with "
                   "`oversight token create --role admin --name YOU`", err=True)
    app = create_app(settings)
    with app.app_context():
        db = get_db()
        if settings["LOAD_BUNDLED"] and set(db.sources) <= {ONTOLOGY_SOURCE}:
            report = load_bundled(db)[0]
            click.echo(f"empty store: loaded the bundled case '{report.source}' ({report.triples} statements)")
        warm(db)  # linkage facts build in the background; requests meanwhile wait for them, not fail
    threading.Thread(target=_install_editor, args=(settings,), name="oversight-editor", daemon=True).start()
    click.echo(f"serving {settings['STORE']} store"
               + (f" in {settings['DATA_DIR']}" if settings["STORE"] == "oxigraph" else "")
               + f" on http://{settings['HOST']}:{settings['PORT']}/")
    logging.getLogger("waitress").setLevel(logging.INFO)

    def stop(signum: int, frame: Any) -> None:  # as Ctrl-C: waitress lets running requests finish (5 s)
        stop_workers(app)  # running queries end now, so no request keeps waitress waiting for them
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)  # waitress swallows KeyboardInterrupt: stop the workers first here too
    try:
        make_server(app, settings).run()  # api.server: bounded connections, headers decided before bodies
    except KeyboardInterrupt:
        stop_workers(app)
        raise
    finally:
        close(app)  # the store flushed and its lock released
    click.echo("stopped")


def _install_editor(settings: dict[str, Any]) -> bool:
    """Install the query page's editor if it is missing; a failure only costs the editor (a plain form)."""
    from api import editor

    if editor.installed(settings["EDITOR_DIR"]):
        return True
    click.echo(f"installing the query page's editor ({editor.PACKAGE}@{editor.VERSION}) "
               f"from {settings['NPM_REGISTRY']} into {settings['EDITOR_DIR']}")
    try:
        editor.install(settings["EDITOR_DIR"], settings["NPM_REGISTRY"])
    except (editor.EditorError, OSError) as exc:
        click.echo(f"warning: {exc}; /sparql offers a plain form instead", err=True)
        return False
    return True


@cli.command("editor")
@click.pass_context
@_guard
def editor_cmd(ctx: click.Context) -> None:
    """Download and verify the query page's editor (YASGUI) from the npm registry, if missing."""
    from api import editor

    settings = _settings(ctx)
    if not _install_editor(settings):
        sys.exit(1)
    click.echo(f"{editor.PACKAGE}@{editor.VERSION} is in {editor.folder(settings['EDITOR_DIR'])}")


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
@click.pass_context
@_guard
def import_cmd(ctx: click.Context, mapping: str, folder: str, without_names: bool, as_json: bool, dry_run: bool,
               rows: int) -> None:
    """Import a dataset's own CSV files through a mapping (a file, or a shipped one: chicago-cpdp, philadelphia-ppd).

    Rows that cannot be linked are rejected and counted with their reason; the rest is validated
    and loaded, all or nothing, as one source, and the names the mapping makes, if any, as a second
    source NAME-names (docs/mappings.md). --dry-run tries the mapping on the first rows of each file.
    """
    from graph.ingest.mapping import import_dataset, read_mapping

    settings = _settings(ctx)
    parsed = read_mapping(mapping)
    if dry_run:
        _dry_run(settings, parsed, Path(folder), rows, as_json)
        return
    db = _open(settings)
    progress = _Progress()
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
    db = _open(settings, read_only=True)
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


@cli.group("token")
def token_group() -> None:
    """Bearer tokens: create (printed once), list, revoke."""


@token_group.command("create")
@click.option("--role", required=True, type=click.Choice(["reader", "investigator", "steward", "admin"]))
@click.option("--name", required=True, help="Who or what holds it (recorded in the audit log and provenance).")
@click.pass_context
@_guard
def token_create(ctx: click.Context, role: str, name: str) -> None:
    """Create a token and print it once; only a salted hash of it is kept."""
    from api.access import Tokens

    token, text = Tokens(_settings(ctx)["DATA_DIR"]).create(role, name)
    click.echo(f"created token {token.id} ({token.role}) for {token.name!r}; it is shown only this once:", err=True)
    click.echo(text)


@token_group.command("list")
@click.pass_context
@_guard
def token_list(ctx: click.Context) -> None:
    """Every token: id, role, name, created, revoked."""
    from api.access import Tokens

    for t in Tokens(_settings(ctx)["DATA_DIR"]).list():
        click.echo(f"{t.id}  {t.role:12}  {t.created}  {'revoked ' + t.revoked if t.revoked else 'live':32}  {t.name}")


@token_group.command("revoke")
@click.argument("token_id")
@click.pass_context
@_guard
def token_revoke(ctx: click.Context, token_id: str) -> None:
    """Revoke a token by its id (at once, also in a running service)."""
    from api.access import Tokens

    token = Tokens(_settings(ctx)["DATA_DIR"]).revoke(token_id)
    click.echo(f"revoked {token.id} ({token.role}, {token.name!r}) at {token.revoked}")


@cli.group("audit")
def audit_group() -> None:
    """The audit log of requests: verify its hash chain, show its records."""


def _audit_path(ctx: click.Context) -> Path:
    from api.audit import log_path

    return log_path(_settings(ctx)["DATA_DIR"])


@audit_group.command("verify")
@click.option("--head", "expect_head", metavar="HASH",
              help="A head hash kept elsewhere: the log must still hold it, else its end was cut off.")
@click.option("--expect-count", type=int, metavar="N", help="Records the log had when HASH was its head.")
@click.option("--checkpoint", type=click.Path(dir_okay=False), metavar="FILE",
              help="Take HASH and N from the last checkpoint in FILE (OVERSIGHT_AUDIT_CHECKPOINT).")
@click.pass_context
def audit_verify(ctx: click.Context, expect_head: str | None, expect_count: int | None,
                 checkpoint: str | None) -> None:
    """Check every record's hash and link; exit 1 at the first broken one, or if the log lost its end."""
    from api.audit import last_checkpoint, verify

    if checkpoint:
        try:
            expect_count, expect_head = last_checkpoint(checkpoint)
        except (OSError, ValueError) as exc:
            click.echo(f"error: cannot read a checkpoint from {checkpoint}: {getattr(exc, 'strerror', None) or exc}",
                       err=True)
            sys.exit(2)
    path = _audit_path(ctx)
    count, head, problem = verify(path, head=expect_head, count=expect_count)
    if problem:
        click.echo(f"error: {path}: {problem} ({count} records before it are intact)", err=True)
        sys.exit(1)
    click.echo(f"{path}: {count} records, chain intact; head {head}")


@audit_group.command("show")
@click.option("--who", help="Only records of this token name or id.")
@click.option("--path", "path_prefix", help="Only requests whose path starts with this.")
@click.option("--since", help="Only records at or after this time (ISO 8601, UTC), such as 2026-11-25T10:00.")
@click.option("--limit", type=int, default=50, show_default=True, help="The latest N matching records.")
@click.pass_context
def audit_show(ctx: click.Context, who: str | None, path_prefix: str | None, since: str | None, limit: int) -> None:
    """Print records as JSON lines, filtered (a response record follows its request's filter)."""
    from collections import deque

    from api.audit import records

    kept: deque[dict[str, Any]] = deque(maxlen=max(limit, 1))
    wanted: set[str] = set()
    for record in records(_audit_path(ctx)):
        if record["event"] == "response":
            if record["request"] in wanted:
                kept.append(record)
            continue
        if who and who not in (record.get("who_name"), record.get("who_token")):
            continue
        if path_prefix and not str(record.get("path", "")).startswith(path_prefix):
            continue
        if since and record["time"] < since:
            continue
        if "id" in record:
            wanted.add(record["id"])
        kept.append(record)
    for record in kept:
        click.echo(json.dumps(record, ensure_ascii=False, sort_keys=True))


@cli.command("settings")
def settings_cmd() -> None:
    """List every setting, its variable, current value and meaning."""
    try:
        values = resolve()
    except OversightError as error:
        _fail(error)
    for setting in SETTINGS:
        click.echo(f"{setting.env} = {values[setting.name]}\n    {setting.help}")


def main() -> None:
    """Entry point of the ``oversight`` console script."""
    cli(prog_name="oversight")


@cli.command("export")
@click.argument("view_name", metavar="VIEW")
@click.option("--format", "fmt", type=click.Choice(sorted(EXPORT_FORMATS)), default="graphml", show_default=True,
              help="Export format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="File to write; its manifest goes to FILE.manifest.json.")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="A parameter of the view, as on /export (kinds=co-accused, since=2016, hops=2...).")
@click.pass_context
@_guard
def export_cmd(ctx: click.Context, view_name: str, fmt: str, output: Path, params: tuple[str, ...]) -> None:
    """Export VIEW (full, officers, officer/ID, investigation/ID, chat-group/ID, inquiry/ID) to a file.

    The same code and parameters as GET /export/VIEW.FORMAT; the store is opened read-only, so this
    works while a service runs. The manifest (counts, checksum, sources) is written beside the file.
    """
    from urllib.parse import quote, urlencode

    from api import create_app
    from api.database import close

    pairs = _pairs(params)
    settings = _settings(ctx)
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
