"""The dev mailbox (issue 13): paged and searchable from a file-name/mtime index, only the
shown page's headers parsed, each email in a sandboxed frame whose CSP lets its own
styles apply."""

from __future__ import annotations

import mailbox
import os
from email.message import EmailMessage

import pytest
from flask import current_app

from newsletter.devmail import index
from tests.staff.conftest import login, staff  # noqa: F401


def fill(path: str, n: int) -> mailbox.Maildir:
    box = mailbox.Maildir(path, create=True)
    for i in range(n):
        msg = EmailMessage()
        msg["From"] = "行业动态周报 <weekly@news.example.org>"
        msg["To"] = f"reader{i:04d}@example.org"
        msg["Subject"] = f"行业动态周报 第 {i} 期"
        msg["Date"] = "Tue, 01 Dec 2026 08:05:00 +0000"
        msg.set_content("纯文本")
        msg.add_alternative(
            "<html><head><style>.x{color:#c8102e}</style></head>"
            "<body><p class='x'>红色</p></body></html>",
            subtype="html",
        )
        key = box.add(msg)
        os.utime(os.path.join(path, "new", key), (1_700_000_000 + i, 1_700_000_000 + i))
    return box


@pytest.fixture
def box(app):
    return fill(current_app.config["DEV_MAILBOX_DIR"], 120)


def test_pages_newest_first_and_parses_only_the_page(app, box, staff, monkeypatch):
    parsed: list[str] = []
    real = index.summary
    monkeypatch.setattr(index, "summary", lambda e: parsed.append(e.key) or real(e))
    client = login(app, staff("admin"))
    page = client.get("/dev/mailbox/").get_data(as_text=True)
    assert "本地 SMTP 收到的 120 封邮件" in page and "第 1 / 3 页" in page
    assert page.index("reader0119@") < page.index("reader0118@")  # newest first
    assert len(parsed) == 50  # the page shown, no more
    page3 = client.get("/dev/mailbox/?page=3").get_data(as_text=True)
    assert "reader0000@" in page3 and "reader0019@" in page3 and "reader0020@" not in page3
    assert 'rel="next"' not in page3 and 'rel="prev"' in page3
    # out-of-range pages clamp instead of failing
    assert client.get("/dev/mailbox/?page=99").status_code == 200


def test_search_by_recipient_or_subject(app, box, staff):
    client = login(app, staff("admin"))
    page = client.get("/dev/mailbox/?q=reader0042").get_data(as_text=True)
    assert "找到 1 封" in page and "reader0042@example.org" in page
    page = client.get("/dev/mailbox/?q=第 7 期").get_data(as_text=True)
    assert "reader0007@" in page
    assert "没有符合的邮件" in client.get("/dev/mailbox/?q=nobody").get_data(as_text=True)


def test_the_html_frame_keeps_the_emails_own_styles(app, box, staff):
    client = login(app, staff("admin"))
    key = index.entries(current_app.config["DEV_MAILBOX_DIR"])[0].key
    page = client.get(f"/dev/mailbox/{key}").get_data(as_text=True)
    assert f'src="/dev/mailbox/{key}/html"' in page and 'sandbox="allow-popups' in page
    frame = client.get(f"/dev/mailbox/{key}/html")
    csp = frame.headers["Content-Security-Policy"]
    assert "style-src 'unsafe-inline'" in csp and csp.startswith("sandbox")
    assert "script-src" not in csp and "<style>.x{color:#c8102e}</style>" in frame.get_data(
        as_text=True
    )
    assert client.get("/dev/mailbox/nope").status_code == 404
    assert client.get("/dev/mailbox/..%2Fetc/html").status_code == 404
