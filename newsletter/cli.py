"""Command-line interface: `flask --app newsletter issues|send|seed ...`."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from newsletter.extensions import db

issues_cli = AppGroup("issues", help="Parse and import weekly issues.")


@issues_cli.command("parse")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def issues_parse(path: Path) -> None:
    """Print the parsed issue as JSON (text in any encoding, .docx or PDF); warnings go to
    stderr; write nothing."""
    from newsletter.bulletin import formats
    from newsletter.bulletin.parser import IssueParseError

    try:
        result = formats.parse_extracted(formats.extract(_read(path), path.name),
                                         names=_group_directory())
    except IssueParseError as exc:
        click.echo(f"{path}: {exc}", err=True)
        sys.exit(2)
    _echo_warnings(path, result.notices, result.extracted)
    click.echo(json.dumps(result.doc.to_json(), ensure_ascii=False, indent=2))


@issues_cli.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def issues_import(path: Path) -> None:
    """Store the issue (re-importing a number updates its draft)."""
    from newsletter.bulletin.parser import IssueParseError
    from newsletter.bulletin.service import IssueImportError, IssueTooLarge, import_document

    try:
        issue, created, notices = import_document(db.session, _read(path), filename=path.name)
    except (IssueParseError, IssueImportError, IssueTooLarge) as exc:
        click.echo(f"{path}: {exc}", err=True)
        sys.exit(2)
    _echo_warnings(path, notices, None)
    from newsletter.review import service as review_service
    from newsletter.review.models import ReviewAction
    from newsletter.staff import audit_text

    review_service.note_edit(db.session, issue, None, ReviewAction.IMPORTED)
    audit_text.record_import(issue, created, via="cli", source=str(path))
    articles = sum(len(s.articles) for s in issue.sections)
    click.echo(f"{'imported' if created else 'updated'} issue {issue.number} "
               f"({len(issue.sections)} sections, {articles} articles)")


def _group_directory() -> dict | None:
    from sqlalchemy.exc import SQLAlchemyError

    from newsletter.bulletin.service import group_directory

    try:
        return group_directory(db.session)
    except SQLAlchemyError:  # no database yet: parsing still works, without the group check
        db.session.rollback()
        return None


def _echo_warnings(path: Path, notices, extracted) -> None:
    for n in notices:
        where = ""
        if n.line is not None and extracted is not None:
            where = f"{extracted.where(n.line).where}: "
        click.echo(f"{path}: {n.level}: {where}{n.message}", err=True)


def _read(path: Path) -> bytes:
    from newsletter.bulletin.limits import MAX_FILE_BYTES

    try:
        with path.open("rb") as f:  # bounded: a huge file is refused without reading it all
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        click.echo(f"{path}: cannot read: {exc.strerror}", err=True)
        sys.exit(2)
    if len(data) > MAX_FILE_BYTES:
        click.echo(f"{path}: the file is over the {MAX_FILE_BYTES // (1 << 20)} MB limit",
                   err=True)
        sys.exit(2)
    return data


class _DefaultCommandGroup(AppGroup):
    """`send 396 ...` runs the `issue` command; `send resume 7` the named one."""

    def resolve_command(self, ctx, args):
        if args and args[0] not in self.commands:
            args = ["issue", *args]
        return super().resolve_command(ctx, args)


send_cli = _DefaultCommandGroup("send", help="Send an issue: `send NUMBER [--group CODE] [--wait]`.")


@send_cli.command("issue", hidden=True)
@click.argument("number", type=int)
@click.option("--group", "groups", multiple=True,
              help="Group code (repeatable). Default: every group.")
@click.option("--test", "test_addresses", multiple=True, help="Send a test to this address.")
@click.option("--wait", is_flag=True, help="Block until every delivery is final.")
@click.option("--timeout", type=float, default=3600.0, help="Seconds --wait waits at most.")
@click.option("--at", "at", default=None,
              help="Schedule instead of sending now: 'YYYY-MM-DD HH:MM' in TIMEZONE (Asia/Shanghai).")
@click.option("--dry-run", is_flag=True,
              help="Only forecast how long the send would take at the relays' limits.")
def send_issue(number: int, groups: tuple[str, ...], test_addresses: tuple[str, ...],
               wait: bool, timeout: float, at: str | None, dry_run: bool) -> None:
    """Create a send of issue NUMBER and queue its deliveries."""
    from sqlalchemy import select

    from newsletter.delivery import jobs, pipeline
    from subscribers.models import Group

    settings = pipeline.PipelineSettings.from_config(current_app.config)
    codes = list(groups) or list(db.session.scalars(select(Group.code).order_by(Group.position)))
    if dry_run:
        _dry_run(codes, _parse_local_time(at) if at else None)
        return
    scheduled_at = _parse_local_time(at) if at else None
    try:
        send = pipeline.create_send(db.session, settings, number, codes,
                                    test_addresses=list(test_addresses) or None,
                                    scheduled_at=scheduled_at, created_by="cli")
    except pipeline.SendError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    from newsletter.staff import audit_text

    audit_text.record_send(send, via="cli")
    if scheduled_at is not None:
        jobs.schedule_start(send.id, scheduled_at)
        click.echo(f"send {send.id}: issue {number} scheduled for {at} "
                   f"({current_app.config['BABEL_DEFAULT_TIMEZONE']})")
        return
    total = sum(_counts(send.id).values())
    enqueued = jobs.enqueue_send(send.id)
    click.echo(f"send {send.id}: issue {number}, {total} deliveries in {enqueued} jobs")
    if wait:
        _wait(send.id, timeout)


def _dry_run(codes: list[str], at) -> None:
    """Print the forecast (delivery.planning) of sending to `codes`; writes nothing."""
    from newsletter.delivery.jobs import redis_connection
    from newsletter.delivery.planning import forecast_for
    from newsletter.delivery.relays import RelayConfigError

    try:
        f = forecast_for(db.session, current_app.config, redis_connection(current_app.config),
                         codes, now=at)
    except RelayConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    for line in f.summary():
        click.echo(line)
    click.echo(json.dumps({k: v for k, v in f.to_json().items() if k != "summary"},
                          ensure_ascii=False))


@send_cli.command("resume")
@click.argument("send_id", type=int)
@click.option("--wait", is_flag=True)
@click.option("--timeout", type=float, default=3600.0)
def send_resume(send_id: int, wait: bool, timeout: float) -> None:
    """Rebuild the queue of a send from the database (after a Redis loss or a pause)."""
    from newsletter.delivery import jobs, pipeline

    from newsletter.delivery import control
    from newsletter.delivery.models import Send, SendStatus

    settings = pipeline.PipelineSettings.from_config(current_app.config)
    send = db.session.get(Send, send_id)
    if send is None:
        click.echo(f"error: no send {send_id}", err=True)
        sys.exit(2)
    if send.status == SendStatus.PAUSED:
        control.resume_send(db.session, send_id)
    pipeline.recover(db.session, settings)
    enqueued = jobs.enqueue_send(send_id)
    click.echo(f"send {send_id}: {enqueued} jobs enqueued")
    if wait:
        _wait(send_id, timeout)


@send_cli.command("pause")
@click.argument("send_id", type=int)
def send_pause(send_id: int) -> None:
    """Pause a running send (workers stop within 10 messages)."""
    _control("pause", send_id)


@send_cli.command("cancel")
@click.argument("send_id", type=int)
def send_cancel(send_id: int) -> None:
    """Cancel a send: what has not gone out is cancelled."""
    _control("cancel", send_id)


def _control(action: str, send_id: int) -> None:
    from newsletter.delivery import control, jobs
    from newsletter.delivery.pipeline import SendError

    try:
        jobs.control_send(send_id, action)
    except SendError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(json.dumps(control.progress(db.session, send_id), ensure_ascii=False))


@send_cli.command("status")
@click.argument("send_id", type=int)
def send_status(send_id: int) -> None:
    """Print the delivery counts of a send as JSON."""
    click.echo(json.dumps(_counts(send_id)))


def _parse_local_time(value: str):
    """'YYYY-MM-DD HH:MM' in the configured timezone -> naive UTC, in the future."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from newsletter.timeutil import utcnow

    try:
        local = dt.datetime.strptime(value.strip(), "%Y-%m-%d %H:%M")
    except ValueError:
        click.echo(f"error: --at wants 'YYYY-MM-DD HH:MM', got {value!r}", err=True)
        sys.exit(2)
    tz = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    utc = local.replace(tzinfo=tz).astimezone(dt.UTC).replace(tzinfo=None)
    if utc <= utcnow():
        click.echo(f"error: {value} is in the past", err=True)
        sys.exit(2)
    return utc


def _counts(send_id: int) -> dict[str, int]:
    from newsletter.delivery import store
    db.session.expire_all()
    return store.counts(db.session, send_id)


def _wait(send_id: int, timeout: float) -> None:
    """Draw a progress bar until every delivery is final; print the counts as JSON."""
    from newsletter.delivery import control

    deadline = time.monotonic() + timeout
    while True:
        db.session.expire_all()
        p = control.progress(db.session, send_id)
        done = p["total"] - p["remaining"]
        eta = f" ETA {p['eta_seconds']}s" if p["eta_seconds"] else ""
        click.echo(f"\r[{_bar(done, p['total'])}] {done}/{p['total']} "
                   f"{p['rate_per_second']:.1f}/s{eta}   ", nl=False, err=True)
        if p["remaining"] == 0:
            click.echo("", err=True)
            break
        if time.monotonic() > deadline:
            click.echo(f"\ntimed out; counts: {json.dumps(p['counts'])}", err=True)
            sys.exit(1)
        db.session.rollback()
        time.sleep(0.5)
    click.echo(json.dumps(p["counts"]))


def _bar(done: int, total: int, width: int = 30) -> str:
    filled = width * done // total if total else width
    return "#" * filled + "-" * (width - filled)


relays_cli = AppGroup("relays", help="The relays a send goes through (RELAYS_FILE or SMTP_*).")


@relays_cli.command("check")
@click.argument("names", nargs=-1)
def relays_check(names: tuple[str, ...]) -> None:
    """Try each relay (or those NAMEd) as a send would: connect, TLS, AUTH, MAIL FROM, RCPT,
    RSET; say what failed and what to change. Exit 1 when one fails."""
    from newsletter.delivery.relaycheck import check_from_config
    from newsletter.delivery.relays import RelayConfigError

    try:
        results = check_from_config(current_app.config, list(names) or None)
    except RelayConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    for result in results:
        for line in result.lines():
            click.echo(line)
    if not all(r.ok for r in results):
        sys.exit(1)


@click.command("seed")
@click.option("--demo", is_flag=True, help="Also add a few demo subscribers.")
@click.option("--sample", is_flag=True, help="Also import the sample issue (第 396 期).")
def seed(demo: bool, sample: bool) -> None:
    """Create the nine subscriber groups (idempotent)."""
    from subscribers.seed import seed_demo_subscribers, seed_groups

    click.echo(f"groups created: {seed_groups(db.session)}")
    if demo:
        click.echo(f"demo subscribers created: {seed_demo_subscribers(db.session)}")
    if sample:
        from newsletter.bulletin.service import load_sample

        issue = load_sample(db.session)
        click.echo(f"sample issue {issue.number} loaded" if issue else "sample issue already sent")


def register(app: Flask) -> None:
    app.cli.add_command(issues_cli)
    app.cli.add_command(send_cli)
    app.cli.add_command(relays_cli)
    app.cli.add_command(seed)
    from newsletter.staff.cli import staff_cli

    app.cli.add_command(staff_cli)
    from newsletter.review.cli import review_cli

    app.cli.add_command(review_cli)
    from newsletter.tracking import cli as tracking_cli

    tracking_cli.register(app)
    from subscribers.cli import subscribers_cli, suppressions_cli

    app.cli.add_command(subscribers_cli)
    app.cli.add_command(suppressions_cli)
