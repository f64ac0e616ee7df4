"""Finding: with DEV_MAILBOX_DIR set, /dev/mailbox was open to every staff role in any
environment: a sender read an editor's password-reset mail and took the account over."""

from __future__ import annotations

import re

from newsletter.devsmtp import SinkServer
from newsletter.staff.models import Role
from tests.conftest import csrf_token
from tests.delivery.support import wait_until


def test_only_admins_read_the_dev_mailbox_and_never_in_production(app, staff, run_jobs):
    from tests.staff.conftest import login

    sink = SinkServer(maildir=app.config["DEV_MAILBOX_DIR"]).start()
    try:
        app.config.update(SMTP_PORT=sink.port)
        editor = staff("editor")
        public = app.test_client()
        public.post(
            "/staff/password/forgot",
            data={
                "csrf_token": csrf_token(public, "/staff/password/forgot"),
                "email": editor.email,
            },
        )
        run_jobs()  # in the app configured above, to the sink
        wait_until(lambda: sink.received, 10, "the reset mail")
    finally:
        sink.stop()

    admin = login(app, staff("admin"))
    listing = admin.get("/dev/mailbox/")
    assert listing.status_code == 200
    key = re.search(r'/dev/mailbox/([^"/]+)"', listing.get_data(as_text=True)).group(1)
    assert "/staff/password/" in admin.get(f"/dev/mailbox/{key}").get_data(as_text=True)

    for role in (Role.SENDER, Role.EDITOR, Role.REVIEWER):
        other = login(app, staff(role.value))
        assert other.get("/dev/mailbox/").status_code == 403, role
        page = other.get(f"/dev/mailbox/{key}")
        assert page.status_code == 403 and "/staff/password/" not in page.get_data(as_text=True)

    app.config["APP_ENV"] = "production"  # (production refuses DEV_MAILBOX_DIR at start-up too)
    assert admin.get("/dev/mailbox/").status_code == 404
    assert admin.get(f"/dev/mailbox/{key}").status_code == 404
