"""`flask --app newsletter issues parse|import PATH`: a weekly issue read from a file (text
in any encoding, .docx or PDF), printed as JSON or stored as a draft."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
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
        result = formats.parse_extracted(
            formats.extract(_read(path), path.name), names=_group_directory()
        )
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
    click.echo(
        f"{'imported' if created else 'updated'} issue {issue.number} "
        f"({len(issue.sections)} sections, {articles} articles)"
    )


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
        click.echo(f"{path}: the file is over the {MAX_FILE_BYTES // (1 << 20)} MB limit", err=True)
        sys.exit(2)
    return data
