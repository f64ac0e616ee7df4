"""`flask subscribers import FILE`: the CSV import from the command line (same checks and
report as the staff page; runs in the foreground, for operators loading a big list).
`flask suppressions lift --send N [--cause bounced] [--dry-run]`: undo a mistaken wave."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import AppGroup
from flask_babel import force_locale

from newsletter.extensions import db
from subscribers.models import SubscriberImport

subscribers_cli = AppGroup("subscribers", help="Subscriber list maintenance.")


@subscribers_cli.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--mode",
    type=click.Choice(["confirmed", "opt_in"]),
    required=True,
    help="confirmed: staff attest consent; opt_in: new addresses get a confirmation mail.",
)
@click.option("--default-group", default=None, help="Group code for rows without groups.")
def import_command(path: Path, mode: str, default_group: str | None) -> None:
    """Import subscribers from a CSV file (UTF-8, GBK/GB18030 or UTF-16)."""
    from subscribers import importread, jobs

    try:
        data = path.read_bytes()
    except OSError as exc:
        click.echo(f"{path}: cannot read: {exc.strerror}", err=True)
        sys.exit(2)
    with force_locale("zh_CN"):  # no request here for the locale selector to read
        try:
            text = importread.decode(data)
            importread.check_header(text)
            if default_group and default_group not in importread.group_lookup(db.session).values():
                raise importread.ImportFileError(f"unknown group code: {default_group}")
        except importread.ImportFileError as exc:
            click.echo(f"{path}: {exc}", err=True)
            sys.exit(2)
        imp = SubscriberImport(
            filename=path.name, data=data, mode=mode, default_group=default_group, errors=[]
        )
        db.session.add(imp)
        db.session.commit()
        jobs.execute(db.session, imp.id)
    db.session.refresh(imp)
    for error in imp.errors:
        click.echo(f"{path}:{error['line']}: {error['reason']}", err=True)
    click.echo(
        f"import {imp.id}: {imp.status}; created {imp.created_count}, updated "
        f"{imp.updated_count}, unchanged {imp.unchanged_count}, skipped "
        f"{imp.skipped_count}, opt-in mails {imp.mailed_count}"
    )
    sys.exit(0 if imp.status == "done" else 1)


suppressions_cli = AppGroup("suppressions", help="The suppression list.")


@suppressions_cli.command("lift")
@click.option("--send", "send_id", type=int, default=None, help="Lift what this send caused.")
@click.option(
    "--cause",
    type=click.Choice(["bounced", "complained"]),
    default=None,
    help="Only suppressions of this cause.",
)
@click.option("--dry-run", is_flag=True, help="Count only; change nothing.")
def lift_command(send_id: int | None, cause: str | None, dry_run: bool) -> None:
    """Lift the suppressions one send (or one cause) created; readers get their status back."""
    import getpass

    from newsletter.staff import audit
    from subscribers.suppression import LiftError, lift_wave

    try:
        done = lift_wave(db.session, send_id=send_id, cause=cause, dry_run=dry_run)
    except LiftError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    what = f"send {send_id}" if send_id else f"cause {cause}"
    if dry_run:
        click.echo(
            f"{what}: would lift {done.suppressions} suppression(s) and restore "
            f"{done.restored} subscriber(s) (dry run: nothing changed)"
        )
        return
    audit.record(
        "suppressions.lift",
        what,
        done.describe(),
        actor_email=f"cli:{getpass.getuser()}",
        via="cli",
    )
    click.echo(
        f"{what}: lifted {done.suppressions} suppression(s), restored {done.restored} subscriber(s)"
    )
