"""The staff home page (issue 13): this week's issue, where it stands (草稿 → 待复核 →
已批准 → 已排程 → 发送中 n% → 已完成 with the report), the next action by role; the issue
list shows the same states."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from flask import current_app

from newsletter.bulletin.service import import_issue
from newsletter.delivery import pipeline
from newsletter.delivery.models import Delivery, DeliveryState, SendStatus
from newsletter.extensions import db
from newsletter.review import service
from newsletter.sends import service as send_service
from newsletter.sends import writer
from newsletter.timeutil import utcnow
from tests.staff.conftest import login, post_form
from tests.subscribers.conftest import make_subscriber  # noqa: F401


@pytest.fixture
def people(app, staff):
    return {
        r: staff(r, name=n)
        for r, n in (("editor", "王编辑"), ("reviewer", "李复核"), ("sender", "钱发送"))
    }


def current_step(page: str) -> str:
    m = re.search(r'<li class="current" aria-current="step">\s*(.*?)\s*(?:<|\n)', page, re.DOTALL)
    return m.group(1).strip() if m else ""


def test_home_walks_the_states_with_the_next_action_for_each_role(
    app, people, sample_text, make_subscriber
):
    issue, _ = import_issue(db.session, sample_text)
    make_subscriber("reader@example.org", groups=("media",))
    ed, rv, se = (login(app, people[r]) for r in ("editor", "reviewer", "sender"))
    page = ed.get("/").get_data(as_text=True)
    assert current_step(page) == "草稿" and "第 396 期" in page
    assert "检查内容后提交复核" in page  # a button that posts
    assert "等待编辑提交复核" in rv.get("/").get_data(as_text=True)
    # the editor submits from the home page itself
    assert post_form(ed, "/issues/396/review/submit", {}, token_from="/").status_code == 302
    page = rv.get("/").get_data(as_text=True)
    assert current_step(page) == "待复核" and "复核本期：批准或退回修改" in page
    assert "等待复核人员复核" in ed.get("/").get_data(as_text=True)
    service.approve(db.session, issue, people["reviewer"], notify_people=False)
    page = se.get("/").get_data(as_text=True)
    assert current_step(page) == "已批准" and 'href="/issues/396/send"' in page
    assert "等待发送人员安排发送" in ed.get("/").get_data(as_text=True)
    # scheduled
    settings = pipeline.PipelineSettings.from_config(current_app.config)
    later = utcnow() + dt.timedelta(days=1)
    send = send_service.send_issue(
        db.session, current_app.config, 396, ["media"], scheduled_at=later
    ).send
    page = se.get("/").get_data(as_text=True)
    assert current_step(page) == "已排程" and f'href="/sends/{send.id}"' in page
    # sending, 0 % then 100 %
    send.status, send.scheduled_at = SendStatus.QUEUED, None
    db.session.commit()
    writer.populate(db.session, settings, send, issue)
    db.session.commit()
    send.status = SendStatus.SENDING
    db.session.commit()
    page = se.get("/").get_data(as_text=True)
    assert current_step(page) == "发送中 0%" and 'value="0"' in page
    listing = se.get("/issues").get_data(as_text=True)
    assert "发送中 0%" in listing  # the list shows the same state
    for d in db.session.query(Delivery).filter_by(send_id=send.id):
        d.state = DeliveryState.SENT
    send.status = SendStatus.DONE
    issue.status = "sent"
    db.session.commit()
    page = ed.get("/").get_data(as_text=True)
    assert current_step(page) == "已完成" and f"/reports/sends/{send.id}" in page
    assert "已完成" in ed.get("/issues").get_data(as_text=True)


def test_home_without_issues_and_anonymous(app, client, people):
    assert client.get("/").status_code == 302
    page = login(app, people["editor"]).get("/").get_data(as_text=True)
    assert "还没有期刊" in page and 'href="/issues/import"' in page
