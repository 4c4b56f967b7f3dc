"""Running the service: ``serve`` and the SPARQL ``editor`` it offers."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import Any

import click

from api.cli.base import (
    cli,
    guard,
    settings_for,
)

__all__: list[str] = []  # commands register themselves on the group

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
@guard
def serve_cmd(ctx: click.Context, host: str | None, port: int | None, threads: int | None, no_auth: bool) -> None:
    """Serve the API with waitress. Loads the bundled Charing Cross case into an empty store."""
    from api import create_app
    from api.access import Tokens
    from api.database import close, get_db, stop_workers
    from api.server import make_server
    from graph.ingest.cases import load_bundled
    from graph.linkage.facts import warm
    from graph.store.database import ONTOLOGY_SOURCE

    settings = settings_for(ctx, HOST=host, PORT=port, THREADS=threads, AUTH=False if no_auth else None)
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
@guard
def editor_cmd(ctx: click.Context) -> None:
    """Download and verify the query page's editor (YASGUI) from the npm registry, if missing."""
    from api import editor

    settings = settings_for(ctx)
    if not _install_editor(settings):
        sys.exit(1)
    click.echo(f"{editor.PACKAGE}@{editor.VERSION} is in {editor.folder(settings['EDITOR_DIR'])}")
