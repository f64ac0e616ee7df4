"""Issue pages: the list of issues, one issue with its rendered email, the web archive."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request
from sqlalchemy import func, select

from newsletter.bulletin.models import Issue, IssueStatus
from newsletter.delivery.models import Send
from newsletter.extensions import db
from newsletter.render import Edition, personalise, render_edition
from newsletter.staff.auth import role_required

bp = Blueprint("bulletin", __name__)


def _issue_or_404(number: int) -> Issue:
    issue = db.session.scalar(select(Issue).where(Issue.number == number))
    if issue is None:
        abort(404)
    return issue


def _web_html(issue: Issue, edition: Edition) -> str:
    """The email as a web page: links neutral, no tracking pixel."""
    base = current_app.config["BASE_URL"]
    rendered = render_edition(issue.to_doc(), edition, archive_url=f"{base}/archive/{issue.number}")
    html, _ = personalise(rendered, {"unsubscribe_url": f"{base}/unsubscribe",
                                     "preferences_url": f"{base}/preferences",
                                     "name": "", "open_pixel_url": ""})
    return html


@bp.get("/issues")
@role_required()
def issue_list():
    """All issues, newest first, with their send counts."""
    issues = db.session.scalars(select(Issue).order_by(Issue.number.desc())).all()
    send_counts = dict(db.session.execute(
        select(Send.issue_id, func.count()).group_by(Send.issue_id)).all())
    return render_template("bulletin/list.html", issues=issues, send_counts=send_counts)


@bp.get("/issues/<int:number>")
@role_required()
def issue_detail(number: int):
    """One issue: its sections, and its email in a frame at phone and desktop widths."""
    issue = _issue_or_404(number)
    edition = _edition_arg()
    rendered = render_edition(issue.to_doc(), edition,
                              archive_url=f"{current_app.config['BASE_URL']}/archive/{number}")
    sends = db.session.scalars(select(Send).where(Send.issue_id == issue.id)
                               .order_by(Send.id.desc())).all()
    article_count = sum(len(s.articles) for s in issue.sections)
    return render_template("bulletin/detail.html", issue=issue, edition=edition,
                           rendered=rendered, sends=sends, article_count=article_count)


@bp.get("/issues/<int:number>/email")
@role_required()
def issue_email(number: int):
    """The rendered email HTML of one edition (what the preview frame shows)."""
    issue = _issue_or_404(number)
    return _web_html(issue, _edition_arg())


@bp.get("/archive/<int:number>")
def archive_issue(number: int):
    """The public web copy of an issue: always the regular edition."""
    issue = _issue_or_404(number)
    if issue.status == IssueStatus.DRAFT:
        abort(404)
    return _web_html(issue, Edition.REGULAR)


def _edition_arg() -> Edition:
    try:
        return Edition(request.args.get("edition", Edition.REGULAR.value))
    except ValueError:
        abort(400)
