"""Administration: ``token``, ``audit`` and ``settings``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from api.cli.base import (
    cli,
    fail,
    guard,
    settings_for,
)
from graph import (
    OversightError,
)
from graph.settings import SETTINGS, resolve

__all__: list[str] = []  # commands register themselves on the group

@cli.group("token")
def token_group() -> None:
    """Bearer tokens: create (printed once), list, revoke."""


@token_group.command("create")
@click.option("--role", required=True, type=click.Choice(["reader", "investigator", "steward", "admin"]))
@click.option("--name", required=True, help="Who or what holds it (recorded in the audit log and provenance).")
@click.pass_context
@guard
def token_create(ctx: click.Context, role: str, name: str) -> None:
    """Create a token and print it once; only a salted hash of it is kept."""
    from api.access import Tokens

    token, text = Tokens(settings_for(ctx)["DATA_DIR"]).create(role, name)
    click.echo(f"created token {token.id} ({token.role}) for {token.name!r}; it is shown only this once:", err=True)
    click.echo(text)


@token_group.command("list")
@click.pass_context
@guard
def token_list(ctx: click.Context) -> None:
    """Every token: id, role, name, created, revoked."""
    from api.access import Tokens

    for t in Tokens(settings_for(ctx)["DATA_DIR"]).list():
        click.echo(f"{t.id}  {t.role:12}  {t.created}  {'revoked ' + t.revoked if t.revoked else 'live':32}  {t.name}")


@token_group.command("revoke")
@click.argument("token_id")
@click.pass_context
@guard
def token_revoke(ctx: click.Context, token_id: str) -> None:
    """Revoke a token by its id (at once, also in a running service)."""
    from api.access import Tokens

    token = Tokens(settings_for(ctx)["DATA_DIR"]).revoke(token_id)
    click.echo(f"revoked {token.id} ({token.role}, {token.name!r}) at {token.revoked}")


@cli.group("audit")
def audit_group() -> None:
    """The audit log of requests: verify its hash chain, show its records."""


def _audit_path(ctx: click.Context) -> Path:
    from api.audit import log_path

    return log_path(settings_for(ctx)["DATA_DIR"])


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
        fail(error)
    for setting in SETTINGS:
        click.echo(f"{setting.env} = {values[setting.name]}\n    {setting.help}")
