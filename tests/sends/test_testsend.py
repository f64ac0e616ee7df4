"""Test sends (newsletter/sends/testsend.py): unapproved content only to staff accounts'
own addresses (a deactivated account is not staff), approved content anywhere; each one
rate-limited per person and audited."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from newsletter.bulletin.service import import_issue
from newsletter.delivery.models import Send
from newsletter.extensions import db
from newsletter.sends import testsend
from newsletter.staff.models import AuditEntry


def sends() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Send))


def test_unapproved_content_goes_only_to_staff_addresses(app, sample_text, make_staff, runner):
    import_issue(db.session, sample_text)
    editor = make_staff("editor")
    colleague = make_staff("reviewer")
    with pytest.raises(testsend.TestSendRefused, match="只能发到员工账号自己的邮箱.*outside@"):
        testsend.send_test(
            db.session, app.config, 396, [editor.email, "outside@example.org"], actor=editor
        )
    assert sends() == 0
    ok = testsend.send_test(
        db.session, app.config, 396, f"{editor.email.upper()}, {colleague.email}", actor=editor
    )
    assert ok.send.is_test and sorted(ok.to) == sorted([editor.email, colleague.email])
    cli = runner.invoke(args=["send", "396", "--test", "outside@example.org"])
    assert cli.exit_code == 2 and "只能发到员工账号自己的邮箱" in cli.output
    colleague.active = False  # a deactivated account is no longer staff
    db.session.commit()
    with pytest.raises(testsend.TestSendRefused):
        testsend.send_test(db.session, app.config, 396, [colleague.email], actor=editor)


def test_approved_content_goes_anywhere_rate_limited_and_audited(app, approved, make_staff):
    app.config["TEST_SEND_RATE"] = "2/hour"
    editor = make_staff("editor")
    for n in range(2):
        testsend.send_test(
            db.session,
            app.config,
            396,
            [f"proof{n}@outside.example"],
            edition="priority",
            actor=editor,
        )
    with pytest.raises(testsend.TestSendRefused, match="测试发送太频繁：每人每小时最多 2 次"):
        testsend.send_test(db.session, app.config, 396, ["proof9@outside.example"], actor=editor)
    someone_else = make_staff("editor")  # the limit is per person
    testsend.send_test(db.session, app.config, 396, ["proof9@outside.example"], actor=someone_else)
    assert sends() == 3
    from newsletter.staff.audit_text import describe

    entries = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "send.created").order_by(AuditEntry.id)
    ).all()
    assert [e.actor_email for e in entries] == [editor.email, editor.email, someone_else.email]
    assert entries[0].detail["test"] is True and entries[0].detail["recipients"] == 1
    assert "测试发送第 396 期" in describe(entries[0], {})[1]
