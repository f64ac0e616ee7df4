"""Fixtures for the issue pages: the sample imported, an editor's client, and a small HTML
form reader so that tests post the edit form the way a browser would (every field)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from newsletter.bulletin.models import Issue, IssueStatus
from newsletter.bulletin.service import import_issue
from newsletter.extensions import db


class _FormReader(HTMLParser):
    """Successful controls of the first <form> matching `selector_class` (a CSS class)."""

    def __init__(self, form_class: str):
        super().__init__(convert_charrefs=True)
        self.form_class = form_class
        self.in_form = False
        self.fields: list[tuple[str, str]] = []
        self._textarea: str | None = None
        self._text: list[str] = []
        self._select: str | None = None
        self._select_value: str | None = None
        self._first_option: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and self.form_class in (a.get("class") or "").split():
            self.in_form = True
        if not self.in_form:
            return
        if tag == "input" and a.get("name") and a.get("type") not in ("submit", "button", "file"):
            self.fields.append((a["name"], a.get("value") or ""))
        elif tag == "textarea" and a.get("name"):
            self._textarea, self._text = a["name"], []
        elif tag == "select" and a.get("name"):
            self._select, self._select_value, self._first_option = a["name"], None, None
        elif tag == "option" and self._select is not None:
            if self._first_option is None:
                self._first_option = a.get("value", "")
            if "selected" in a:
                self._select_value = a.get("value", "")

    def handle_data(self, data):
        if self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "form" and self.in_form:
            self.in_form = False
        elif tag == "textarea" and self._textarea is not None:
            # browsers drop one leading newline of a textarea's content
            self.fields.append(
                (self._textarea, "".join(self._text).replace("\r\n", "\n").removeprefix("\n"))
            )
            self._textarea = None
        elif tag == "select" and self._select is not None:
            value = self._select_value if self._select_value is not None else self._first_option
            self.fields.append((self._select, value or ""))
            self._select = None


def read_form(html: str, form_class: str = "edit-form") -> dict[str, str]:
    reader = _FormReader(form_class)
    reader.feed(html)
    assert reader.fields, f"no form .{form_class} in the page"
    return dict(reader.fields)


def field_name(html: str, label_text: str) -> str:
    """Name of the title input whose value is `label_text` (finding an article by title)."""
    for name, value in read_form(html).items():
        if name.endswith("-title") and value == label_text:
            return name
    raise AssertionError(f"no article titled {label_text!r}")


@pytest.fixture
def sample_issue(app, sample_text) -> Issue:
    issue, _ = import_issue(db.session, sample_text)
    return issue


@pytest.fixture
def editor(staff_client):
    return staff_client("editor")


def set_status(number: int, status: IssueStatus) -> None:
    issue = db.session.scalar(select(Issue).where(Issue.number == number))
    issue.status = status
    db.session.commit()


def stored(number: int = 396) -> Issue:
    db.session.expire_all()
    return db.session.scalar(select(Issue).where(Issue.number == number))


def page_csrf(client, path: str) -> str:
    """Any CSRF token on the page (the logout form has one on every staff page)."""
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, f"no CSRF token on {path}"
    return match.group(1)
