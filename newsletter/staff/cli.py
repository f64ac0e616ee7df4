"""`flask --app newsletter staff create --role admin EMAIL`."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.staff.models import Role, StaffUser

staff_cli = AppGroup("staff", help="Staff accounts.")


@staff_cli.command("create")
@click.argument("email")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice([r.value for r in Role]),
    help="Repeatable.",
)
@click.option("--name", default="")
@click.password_option(help="Asked for when not given.")
def create(email: str, roles: tuple[str, ...], name: str, password: str) -> None:
    """Create a staff account (or give an existing one these roles and this password)."""
    email = email.strip().lower()
    if "@" not in email or any(c in email for c in "\r\n "):
        click.echo(f"error: not an email address: {email!r}", err=True)
        sys.exit(2)
    from newsletter.staff.accounts import AccountError, check_name, check_password

    try:
        name = check_name(name)
        check_password(password, email=email)
    except AccountError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    user = db.session.scalar(select(StaffUser).where(StaffUser.email == email))
    created = user is None
    if user is None:
        user = StaffUser(email=email, name=name, roles=[])
        db.session.add(user)
    user.roles = sorted(set(user.roles or []) | set(roles))
    user.set_password(password)
    db.session.commit()
    click.echo(f"{'created' if created else 'updated'} {email}: {', '.join(user.roles)}")
