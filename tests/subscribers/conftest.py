"""Fixtures for the subscriber tests: readers in given states, links, and mail parsing."""

from __future__ import annotations

import email
import re
from email import policy

import pytest
from sqlalchemy import select

from newsletter.extensions import db
from subscribers import tokens
from subscribers.models import Group, Membership, Subscriber, SubscriberStatus


@pytest.fixture
def make_subscriber(app):
    """Create a subscriber directly (status, groups by code); returns it."""

    def make(
        address="reader@example.org", status=SubscriberStatus.ACTIVE, groups=("media",), **fields
    ):
        by_code = {g.code: g for g in db.session.scalars(select(Group))}
        sub = Subscriber(email=address, status=status, **fields)
        sub.memberships = [Membership(group=by_code[c]) for c in groups]
        db.session.add(sub)
        db.session.commit()
        return sub

    return make


@pytest.fixture
def link(app):
    """The path of a signed subscriber page: link(PURPOSE, subscriber_id)."""

    def make(purpose: str, subscriber_id: int) -> str:
        token = tokens.make_token(app.config["SECRET_KEY"], purpose, subscriber_id)
        return f"/{purpose}/{token}"

    return make


def parse_mail(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)


def mail_text(raw: bytes) -> str:
    return parse_mail(raw).get_body(("plain",)).get_content()


def links_in(text: str, base: str = "http://newsletter.test") -> list[str]:
    """Paths of the links to this service in a mail's text."""
    return [u[len(base) :] for u in re.findall(re.escape(base) + r"/\S+", text)]


def form_token(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)
