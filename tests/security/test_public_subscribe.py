"""Findings: anonymous /subscribe listed every section of the four newest issues, drafts
included, with no cap; a stranger could re-mail a suppressed or unsubscribed address and
overwrite that subscriber's name, organisation and status before any confirmation."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from newsletter.bulletin.models import Issue, IssueStatus, Section
from newsletter.bulletin.service import import_issue
from newsletter.extensions import db
from subscribers import service
from subscribers.models import Subscriber, SubscriberStatus, Suppression, email_hash
from tests.subscribers.conftest import form_token, link, links_in, mail_text, make_subscriber  # noqa: F401

FORM = {"name": "冒名者", "organisation": "别人的单位", "groups": ["media"], "sections": ["要闻"]}


def _subscribe(client, email, **extra):
    token = form_token(client.get("/subscribe").get_data(as_text=True))
    return client.post("/subscribe", data={"csrf_token": token, "email": email, **FORM, **extra})


def _row(address):
    db.session.expire_all()
    return db.session.scalar(select(Subscriber).where(Subscriber.email == address))


def test_the_form_offers_sections_of_sent_issues_only_and_a_bounded_number(
    app, client, sample_text
):
    draft, _ = import_issue(
        db.session, sample_text.decode().replace("研究", "未发布的栏目").encode()
    )
    page = client.get("/subscribe").get_data(as_text=True)
    assert "未发布的栏目" not in page  # a draft's sections are not public
    draft.status = IssueStatus.SENT
    # One sent issue with a great many sections (more than any real issue has).
    for n in range(200):
        draft.sections.append(Section(name=f"栏目{n:03d}", position=100 + n))
    db.session.commit()
    page = client.get("/subscribe").get_data(as_text=True)
    assert "未发布的栏目" in page
    offered = re.findall(r'name="sections"[^>]*value="([^"]+)"', page) or re.findall(
        r'value="([^"]+)"[^>]*name="sections"', page
    )
    assert 0 < len(offered) <= service.MAX_SECTION_CHOICES
    assert len(page) < 100_000


def test_a_stranger_changes_nothing_about_an_address_on_file(
    app, client, make_subscriber, smtp, run_jobs
):
    gone = make_subscriber(
        "gone@example.org",
        status=SubscriberStatus.UNSUBSCRIBED,
        name="本人",
        organisation="本人单位",
    )
    service.add_suppression(db.session, gone.email, "unsubscribed")
    db.session.commit()
    assert _subscribe(client, "gone@example.org").status_code == 302
    row = _row("gone@example.org")
    assert (row.status, row.name, row.organisation) == (
        SubscriberStatus.UNSUBSCRIBED,
        "本人",
        "本人单位",
    )
    assert [g.code for g in row.groups] == ["media"]
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(Suppression)
            .where(Suppression.email_hash == email_hash("gone@example.org"))
        )
        == 1
    )

    # Only the owner's own confirmation brings the address back, with what was asked.
    run_jobs()
    (path,) = [
        p for m in smtp.received for p in links_in(mail_text(m.data)) if p.startswith("/confirm/")
    ]
    client.post(path, data={"csrf_token": form_token(client.get(path).get_data(as_text=True))})
    row = _row("gone@example.org")
    assert row.status == SubscriberStatus.ACTIVE and row.name == "冒名者"
    assert db.session.scalar(select(func.count()).select_from(Suppression)) == 0


def test_a_confirmation_link_from_before_an_unsubscribe_cannot_bring_the_address_back(
    app, client, make_subscriber, link
):
    sub = make_subscriber("was@example.org", status=SubscriberStatus.PENDING)
    old_link = link("confirm", sub.id)
    client.post(link("unsubscribe", sub.id), data={"List-Unsubscribe": "One-Click"})
    page = client.get(old_link).get_data(as_text=True)
    response = client.post(old_link, data={"csrf_token": form_token(page)})
    assert response.status_code == 409
    assert _row("was@example.org").status == SubscriberStatus.UNSUBSCRIBED


def test_the_answer_is_the_same_whatever_the_address(app, client, make_subscriber):
    make_subscriber("active@example.org")
    make_subscriber("pending@example.org", status=SubscriberStatus.PENDING)
    make_subscriber("left@example.org", status=SubscriberStatus.UNSUBSCRIBED)
    make_subscriber("bounced@example.org", status=SubscriberStatus.BOUNCED)
    answers = set()
    for address in (
        "active@example.org",
        "pending@example.org",
        "left@example.org",
        "bounced@example.org",
        "new@example.org",
    ):
        response = _subscribe(client, address)
        answers.add((response.status_code, response.headers.get("Location")))
    assert answers == {(302, "/subscribe/sent")}
    assert db.session.scalar(select(func.count()).select_from(Issue)) == 0
