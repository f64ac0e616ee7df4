"""`flask bounces ingest FILE...`, `flask bounces serve`, `flask tracking flush`."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from newsletter.extensions import db

bounces_cli = AppGroup("bounces", help="Bounce and complaint intake (DSN, ARF).")
tracking_cli = AppGroup("tracking", help="Open/click event buffer.")


@bounces_cli.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--rcpt", default="", help="The envelope recipient (VERP address), if known.")
def bounces_ingest(paths: tuple[Path, ...], rcpt: str) -> None:
    """Apply DSN/ARF messages stored as files (one message per file; '-' reads stdin)."""
    from newsletter.tracking.intake import ingest
    from newsletter.tracking.links import TrackingSettings

    settings = TrackingSettings.from_config(current_app.config)
    limit = current_app.config["BOUNCE_MAX_BYTES"]
    dropped = 0
    for path in paths:
        try:
            if str(path) == "-":
                raw = sys.stdin.buffer.read(limit + 1)
            else:
                with path.open("rb") as fh:
                    raw = fh.read(limit + 1)
        except OSError as exc:
            click.echo(f"{path}: cannot read: {exc.strerror}", err=True)
            dropped += 1
            continue
        if len(raw) > limit:  # refused unread: a real DSN is a few KB (BOUNCE_MAX_BYTES)
            click.echo(f"{path}: dropped: larger than BOUNCE_MAX_BYTES ({limit} bytes)", err=True)
            dropped += 1
            continue
        result = ingest(
            db.session, raw, settings, envelope_rcpts=[rcpt] if rcpt else [], source=f"file {path}"
        )
        dropped += result.outcome == "dropped"
        click.echo(
            f"{path}: {result.outcome}"
            + (f" delivery {result.delivery_id}" if result.delivery_id else "")
            + (" (address suppressed)" if result.suppressed else "")
            + (f": {result.detail}" if result.detail else "")
        )
    if dropped:
        sys.exit(1)


@bounces_cli.command("serve")
@click.option("--host", default="127.0.0.1")
@click.option("--port", type=int, default=2525)
def bounces_serve(host: str, port: int) -> None:
    """Run the inbound SMTP server for the VERP bounce address."""
    from newsletter.devsmtp import SinkServer
    from newsletter.tracking.inbound import BounceHandler

    # The server's thread needs the app itself, not the context-bound proxy (which Flask
    # types as a plain Flask, hiding the proxy's method).
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    server = SinkServer(port=port, host=host, handler=BounceHandler(app)).start()
    click.echo(f"bounce intake listening on {host}:{port}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


@bounces_cli.command("poll")
@click.option(
    "--loop",
    "interval",
    type=float,
    default=0.0,
    help="Keep polling every INTERVAL seconds (0: once and exit).",
)
@click.option("--url", default=None, help="Mailbox URL (default: BOUNCE_MAILBOX_URL).")
def bounces_poll(interval: float, url: str | None) -> None:
    """Read the bounce mailbox (IMAP/POP3): bounces, complaints, unsubscribe mail."""
    from newsletter.tracking.jobs import poll_mailbox_job
    from newsletter.tracking.mailbox import MailboxError

    while True:
        try:
            click.echo(json.dumps(poll_mailbox_job(url=url), ensure_ascii=False))
        except MailboxError as exc:
            click.echo(f"error: {exc}", err=True)
            if interval <= 0:
                sys.exit(2)
        if interval <= 0:
            return
        time.sleep(interval)


@tracking_cli.command("flush")
@click.option(
    "--loop",
    "interval",
    type=float,
    default=0.0,
    help="Keep flushing every INTERVAL seconds (0: once and exit).",
)
def tracking_flush(interval: float) -> None:
    """Move buffered open/click events from Redis into the database."""
    from newsletter.tracking.jobs import flush_job

    while True:
        click.echo(json.dumps(flush_job()))
        if interval <= 0:
            return
        time.sleep(interval)


def register(app: Flask) -> None:
    app.cli.add_command(bounces_cli)
    app.cli.add_command(tracking_cli)
