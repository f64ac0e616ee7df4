"""Command-line interface: `flask --app newsletter issues|send|seed ...`, every group
registered on the app (register) and the `newsletter` console script (main). The groups
live with what they drive (bulletin/cli.py `issues`, sends/cli.py `send`, staff/, review/,
tracking/, subscribers/); here `relays check` and `seed`."""

from __future__ import annotations

import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from newsletter.extensions import db

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
    from newsletter.bulletin.cli import issues_cli

    app.cli.add_command(issues_cli)
    from newsletter.sends.cli import send_cli

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


def main() -> None:
    """The `newsletter` console script: the flask CLI bound to this app, so an installed
    wheel needs no `--app` (`newsletter send 396 --wait`, `newsletter db upgrade heads`)."""
    from flask.cli import FlaskGroup

    from newsletter import create_app

    FlaskGroup(create_app=create_app, help="The newsletter service's command line.")(
        prog_name="newsletter"
    )
