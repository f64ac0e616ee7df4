"""`flask staff create`: the first admin from the shell, with the same checks as the pages."""

from __future__ import annotations

from newsletter.extensions import db
from newsletter.staff import accounts


def test_staff_create_checks_its_input(app, runner):
    bad_name = runner.invoke(
        args=[
            "staff",
            "create",
            "--role",
            "admin",
            "--name",
            "甲\r\n乙",
            "--password",
            "a long enough passphrase",
            "boss@example.org",
        ]
    )
    assert bad_name.exit_code == 2 and "换行" in bad_name.output
    weak = runner.invoke(
        args=["staff", "create", "--role", "admin", "--password", "short", "boss@example.org"]
    )
    assert weak.exit_code == 2 and "至少需要 10 个字符" in weak.output
    assert accounts.by_email(db.session, "boss@example.org") is None
    ok = runner.invoke(
        args=[
            "staff",
            "create",
            "--role",
            "admin",
            "--name",
            "周管理",
            "--password",
            "a long enough passphrase",
            "Boss@Example.org",
        ]
    )
    assert ok.exit_code == 0, ok.output
    user = accounts.by_email(db.session, "boss@example.org")
    assert user.roles == ["admin"] and user.name == "周管理"
