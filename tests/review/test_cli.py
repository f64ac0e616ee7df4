"""The review CLI: steps in the name of staff accounts, same rules, audited as "cli"."""

from __future__ import annotations

from sqlalchemy import select

from newsletter.bulletin.service import import_issue
from newsletter.extensions import db
from newsletter.staff.models import AuditEntry


def test_submit_approve_then_send_from_the_shell(app, runner, staff, sample_text):
    import_issue(db.session, sample_text)
    both, reviewer = staff("editor", "reviewer"), staff("reviewer")
    refused = runner.invoke(args=["send", "396", "--group", "media"])
    assert refused.exit_code == 2 and "尚未通过复核" in refused.output
    assert runner.invoke(args=["review", "submit", "396", "--as", reviewer.email]).exit_code == 2
    ok = runner.invoke(args=["review", "submit", "396", "--as", both.email])
    assert ok.exit_code == 0 and "in_review" in ok.output
    own = runner.invoke(args=["review", "approve", "396", "--as", both.email])
    assert own.exit_code == 2 and "不能批准自己的修改" in own.output
    ok = runner.invoke(args=["review", "approve", "396", "--as", reviewer.email, "--fill-credits"])
    assert ok.exit_code == 0 and "approved" in ok.output
    status = runner.invoke(args=["review", "status", "396"])
    assert "submitted" in status.output and "approved" in status.output
    assert (
        runner.invoke(args=["send", "396", "--group", "media", "--as", reviewer.email]).exit_code
        == 0
    )
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.via == "cli")).all()
    assert [(e.action, e.actor_email) for e in entries] == [
        ("review.submitted", both.email),
        ("review.approved", reviewer.email),
        ("send.created", reviewer.email),
    ]  # the CLI send is audited too (issue 13), as --as
