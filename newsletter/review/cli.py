"""`flask --app newsletter review status|submit|approve|send-back NUMBER --as EMAIL`.

For operators at the server: each step is taken in the name of a staff account (which
must hold the role), with the same rules as the pages: nobody approves their own edit.
Every step is written to the audit log (via "cli").
"""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup
from sqlalchemy import select

from newsletter.bulletin.models import Issue
from newsletter.extensions import db
from newsletter.review import service
from newsletter.staff import audit
from newsletter.staff.models import Role, StaffUser
from newsletter.states import WORKFLOW

review_cli = AppGroup("review", help="The 责编/复核 approval of an issue.")


def _issue(number: int) -> Issue:
    issue = db.session.scalar(select(Issue).where(Issue.number == number))
    if issue is None:
        click.echo(f"error: no issue number {number}", err=True)
        sys.exit(2)
    return issue


def _staff(email: str, role: Role) -> StaffUser:
    user = db.session.scalar(select(StaffUser).where(StaffUser.email == email.strip().lower()))
    if user is None or not user.active:
        click.echo(f"error: no active staff account {email}", err=True)
        sys.exit(2)
    if not user.has_role(role):
        click.echo(f"error: {email} does not hold the {role} role", err=True)
        sys.exit(2)
    return user


def _step(number: int, action: str, fn) -> None:
    issue = _issue(number)
    try:
        user = fn(issue)
    except service.ReviewError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    audit.record(f"review.{action}", f"issue:{number}", actor=user, via="cli")
    state = service.workflow_state(db.session, issue)
    click.echo(f"issue {number}: {state.value} ({WORKFLOW[state]})")


@review_cli.command("status")
@click.argument("number", type=int)
def status(number: int) -> None:
    """Print the issue's state and its review history."""
    issue = _issue(number)
    state = service.workflow_state(db.session, issue)
    click.echo(f"issue {number}: {state.value} ({WORKFLOW[state]})")
    for e in reversed(service.history(db.session, issue)):
        note = f" — {e.comment}" if e.comment else ""
        click.echo(
            f"  {e.created_at:%Y-%m-%d %H:%M} UTC  {e.action:<10} {e.staff_email or 'cli'}{note}"
        )


@review_cli.command("submit")
@click.argument("number", type=int)
@click.option("--as", "email", required=True, help="The editor's staff email.")
def submit(number: int, email: str) -> None:
    """Draft → in review."""

    def run(issue):
        user = _staff(email, Role.EDITOR)
        service.submit(db.session, issue, user)
        return user

    _step(number, "submitted", run)


@review_cli.command("approve")
@click.argument("number", type=int)
@click.option("--as", "email", required=True, help="The reviewer's staff email.")
@click.option("--fill-credits", is_flag=True, help="Put the names under 责编 and 复核.")
def approve(number: int, email: str, fill_credits: bool) -> None:
    """In review → approved (not by anyone who edited or submitted this round)."""

    def run(issue):
        user = _staff(email, Role.REVIEWER)
        service.approve(db.session, issue, user, fill_credits=fill_credits)
        return user

    _step(number, "approved", run)


@review_cli.command("send-back")
@click.argument("number", type=int)
@click.option("--as", "email", required=True, help="The reviewer's staff email.")
@click.option("--comment", required=True, help="What needs changing.")
def send_back(number: int, email: str, comment: str) -> None:
    """Back to draft, with a comment."""

    def run(issue):
        user = _staff(email, Role.REVIEWER)
        service.send_back(db.session, issue, user, comment)
        return user

    _step(number, "sent_back", run)
