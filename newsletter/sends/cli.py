"""`flask --app newsletter send NUMBER [--group CODE] [--wait]`, `send resume|pause|cancel ID`
and `send status ID`: a send started, tested, scheduled or forecast (--dry-run) through
sends.service, then controlled; --wait draws its progress bar until every delivery is final."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING

import click
from flask import current_app
from flask.cli import AppGroup

from newsletter.extensions import db

if TYPE_CHECKING:  # the commands import the send pipeline when they run, not at start-up
    from newsletter.delivery.control import SendPace


class _DefaultCommandGroup(AppGroup):
    """`send 396 ...` runs the `issue` command; `send resume 7` the named one."""

    def resolve_command(self, ctx, args):
        if args and args[0] not in self.commands:
            args = ["issue", *args]
        return super().resolve_command(ctx, args)


send_cli = _DefaultCommandGroup(
    "send", help="Send an issue: `send NUMBER [--group CODE] [--wait]`."
)


@send_cli.command("issue", hidden=True)
@click.argument("number", type=int)
@click.option(
    "--group", "groups", multiple=True, help="Group code (repeatable). Default: every group."
)
@click.option(
    "--only-new",
    is_flag=True,
    help="Only readers who have not received this issue yet (a follow-up).",
)
@click.option("--test", "test_addresses", multiple=True, help="Send a test to this address.")
@click.option(
    "--edition",
    type=click.Choice(["regular", "priority"]),
    default="regular",
    help="The edition a test send mails.",
)
@click.option("--as", "as_email", default=None, help="The staff account sending (audit log).")
@click.option("--wait", is_flag=True, help="Block until every delivery is final.")
@click.option("--timeout", type=float, default=3600.0, help="Seconds --wait waits at most.")
@click.option(
    "--at",
    "at",
    default=None,
    help="Schedule instead of sending now: 'YYYY-MM-DD HH:MM' in TIMEZONE (Asia/Shanghai).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Only forecast how long the send would take at the relays' limits.",
)
def send_issue(
    number: int,
    groups: tuple[str, ...],
    only_new: bool,
    test_addresses: tuple[str, ...],
    edition: str,
    as_email: str | None,
    wait: bool,
    timeout: float,
    at: str | None,
    dry_run: bool,
) -> None:
    """Create a send of issue NUMBER and queue its deliveries (sends.service)."""
    from sqlalchemy import select

    from newsletter.delivery.pipeline import SendError
    from newsletter.sends import service, testsend
    from subscribers.models import Group

    actor = _staff(as_email) if as_email else None
    codes = list(groups) or list(db.session.scalars(select(Group.code).order_by(Group.position)))
    if dry_run:
        _dry_run(codes, _parse_local_time(at) if at else None)
        return
    scheduled_at = _parse_local_time(at) if at else None
    try:
        if test_addresses:
            started = testsend.send_test(
                db.session,
                current_app.config,
                number,
                list(test_addresses),
                edition=edition,
                actor=actor,
                via="cli",
            )
        else:
            started = service.send_issue(
                db.session,
                current_app.config,
                number,
                codes,
                only_new=only_new,
                scheduled_at=scheduled_at,
                actor=actor,
                via="cli",
            )
    except SendError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    send = started.send
    if started.warning:
        click.echo(f"warning: {started.warning.text()}", err=True)
    if scheduled_at is not None:
        click.echo(
            f"send {send.id}: issue {number} scheduled for {at} "
            f"({current_app.config['BABEL_DEFAULT_TIMEZONE']})"
        )
        return
    total = sum(_counts(send.id).values())
    skipped = (
        f", {started.skipped_received} who already have it left out"
        if started.skipped_received
        else ""
    )
    click.echo(
        f"send {send.id}: issue {number}, {total} deliveries in {started.jobs} jobs{skipped}"
    )
    if wait:
        _wait(send.id, timeout)


def _staff(email: str):
    from sqlalchemy import func, select

    from newsletter.staff.models import StaffUser

    user = db.session.scalar(select(StaffUser).where(func.lower(StaffUser.email) == email.lower()))
    if user is None or not user.active:
        click.echo(f"error: no active staff account {email}", err=True)
        sys.exit(2)
    return user


def _dry_run(codes: list[str], at) -> None:
    """Print the forecast (delivery.planning) of sending to `codes`; writes nothing."""
    from newsletter.delivery.jobs import redis_connection
    from newsletter.delivery.planning import forecast_for
    from newsletter.delivery.relays import RelayConfigError

    try:
        f = forecast_for(
            db.session, current_app.config, redis_connection(current_app.config), codes, now=at
        )
    except RelayConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    for line in f.summary():
        click.echo(line)
    click.echo(
        json.dumps({k: v for k, v in f.to_json().items() if k != "summary"}, ensure_ascii=False)
    )


@send_cli.command("resume")
@click.argument("send_id", type=int)
@click.option("--wait", is_flag=True)
@click.option("--timeout", type=float, default=3600.0)
def send_resume(send_id: int, wait: bool, timeout: float) -> None:
    """Rebuild the queue of a send from the database (after a Redis loss or a pause)."""
    from newsletter.delivery import control, jobs
    from newsletter.delivery.models import Send, SendStatus

    send = db.session.get(Send, send_id)
    if send is None:
        click.echo(f"error: no send {send_id}", err=True)
        sys.exit(2)
    if send.status == SendStatus.PAUSED:
        control.resume_send(db.session, send_id)
    jobs.sweep()  # expired leases, due retries, every send's stranded deliveries
    enqueued = 0
    if send_id not in jobs.sends_with_jobs(current_app.config):
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
    from newsletter.delivery import lookups

    db.session.expire_all()
    return lookups.counts(db.session, send_id)


def _wait(send_id: int, timeout: float) -> None:
    """Draw a progress bar until every delivery is final; print the counts as JSON.

    Rides out a database outage (waits with backoff). A send the circuit breaker paused
    for good (it needs a person) ends the wait with its reason and exit status 3."""
    from sqlalchemy.exc import DBAPIError

    from newsletter.delivery import control
    from newsletter.delivery.models import SendStatus
    from newsletter.delivery.pipeline import PipelineSettings

    settings = PipelineSettings.from_config(current_app.config)
    deadline = time.monotonic() + timeout
    delay = 0.5
    while True:
        try:
            db.session.expire_all()
            p = control.progress(
                db.session, send_id, settings.priority_grace_minutes, not settings.resend_in_doubt
            )
            db.session.rollback()
            delay = 0.5
        except DBAPIError as exc:
            db.session.rollback()
            click.echo(
                f"\rdatabase unavailable ({str(exc).splitlines()[0][:60]}); "
                f"retrying in {delay:.0f}s   ",
                nl=False,
                err=True,
            )
            time.sleep(delay)
            delay = min(delay * 2, 15)
            if time.monotonic() > deadline:
                click.echo("\ntimed out waiting for the database", err=True)
                sys.exit(1)
            continue
        done = p["total"] - p["remaining"]
        note = ""
        if p["status"] == SendStatus.PAUSED and p["paused_reason"]:
            note = f" 已暂停：{p['paused_reason']}" + (" (将自动重试)" if p["resume_at"] else "")
        click.echo(
            f"\r[{_bar(done, p['total'])}] {done}/{p['total']} {_pace(p)}{note}   ",
            nl=False,
            err=True,
        )
        if p["remaining"] == 0:
            click.echo("", err=True)
            break
        if p["status"] == SendStatus.PAUSED and p["paused_reason"] and not p["resume_at"]:
            click.echo(
                f"\npaused: {p['paused_reason'] or 'by staff'} — {p['paused_detail'] or ''}",
                err=True,
            )
            click.echo(json.dumps(p["counts"]))
            sys.exit(3)
        if p["status"] == SendStatus.CANCELLED:
            click.echo("", err=True)
            break
        if time.monotonic() > deadline:
            click.echo(f"\ntimed out; counts: {json.dumps(p['counts'])}", err=True)
            sys.exit(1)
        time.sleep(0.5)
    click.echo(json.dumps(p["counts"]))


def _pace(p: SendPace) -> str:
    """'12.5/s (last min 14.0/s) ETA 1m20s', from the send's own start (control.pace)."""
    if p["rate_per_second"] is None:
        return "waiting for a worker"
    text = f"{p['rate_per_second']:.1f}/s"
    if p["recent_rate_per_second"] is not None:
        text += f" (last min {p['recent_rate_per_second']:.1f}/s)"
    seconds = p["eta_seconds"]
    if seconds:
        text += f" ETA {seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f" ETA {seconds}s"
    elif p["elapsed_seconds"] is not None:
        text += f" in {p['elapsed_seconds']:.0f}s"
    return text


def _bar(done: int, total: int, width: int = 30) -> str:
    filled = width * done // total if total else width
    return "#" * filled + "-" * (width - filled)
