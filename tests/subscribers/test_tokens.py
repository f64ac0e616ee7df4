"""Signed links: tampering, expiry, another purpose, another subscriber, a reused id."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from itsdangerous import TimestampSigner
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.timeutil import utcnow
from subscribers import tokens
from subscribers.models import Subscriber, SubscriberStatus


def old_token(app, purpose, subscriber_id, days):
    """A token signed `days` ago, as if it had sat in an inbox that long."""
    real = TimestampSigner.get_timestamp
    TimestampSigner.get_timestamp = lambda self: int(time.time() - days * 86400)
    try:
        return tokens.make_token(app.config["SECRET_KEY"], purpose, subscriber_id)
    finally:
        TimestampSigner.get_timestamp = real


def test_tampered_link_gets_a_clear_page_offering_a_fresh_link(client, make_subscriber, link):
    sub = make_subscriber()
    path = link("preferences", sub.id)
    tampered = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    response = client.get(tampered)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "链接无效" in page and "发送新链接" in page and 'action="/link"' in page
    assert sub.email not in page


def test_payload_swapped_to_another_subscriber_is_refused(client, make_subscriber, link):
    a = make_subscriber("a@example.org")
    b = make_subscriber("b@example.org")
    token_a = link("unsubscribe", a.id).split("/")[-1]
    token_b = link("unsubscribe", b.id).split("/")[-1]
    # Graft B's id onto A's signature: the signature no longer matches.
    forged = token_b.split(".")[0] + "." + ".".join(token_a.split(".")[1:])
    assert (
        client.post(f"/unsubscribe/{forged}", data={"List-Unsubscribe": "One-Click"}).status_code
        == 400
    )
    assert {s.status for s in db.session.scalars(select(Subscriber))} == {"active"}
    # A's own link acts on A only.
    assert (
        client.post(f"/unsubscribe/{token_a}", data={"List-Unsubscribe": "One-Click"}).status_code
        == 200
    )
    db.session.expire_all()
    assert db.session.get(Subscriber, a.id).status == SubscriberStatus.UNSUBSCRIBED
    assert db.session.get(Subscriber, b.id).status == SubscriberStatus.ACTIVE


def test_a_token_for_one_purpose_does_not_open_another(client, make_subscriber, link):
    sub = make_subscriber()
    unsub_token = link("unsubscribe", sub.id).split("/")[-1]
    assert client.get(f"/preferences/{unsub_token}").status_code == 400
    assert client.get(f"/confirm/{unsub_token}").status_code == 400


def test_expired_links_say_so_and_offer_a_fresh_one(app, client, make_subscriber):
    sub = make_subscriber(created_at=utcnow() - dt.timedelta(days=500))
    expired_prefs = old_token(app, tokens.PREFERENCES, sub.id, days=91)
    response = client.get(f"/preferences/{expired_prefs}")
    assert response.status_code == 410
    page = response.get_data(as_text=True)
    assert "链接已过期" in page and "发送新链接" in page
    confirm = old_token(app, tokens.CONFIRM, sub.id, days=8)
    assert client.get(f"/confirm/{confirm}").status_code == 410
    # An unsubscribe link stays good for a year (mail sits in inboxes), not longer.
    still_good = old_token(app, tokens.UNSUBSCRIBE, sub.id, days=300)
    assert client.get(f"/unsubscribe/{still_good}").status_code == 200
    too_old = old_token(app, tokens.UNSUBSCRIBE, sub.id, days=400)
    assert (
        client.post(f"/unsubscribe/{too_old}", data={"List-Unsubscribe": "One-Click"}).status_code
        == 410
    )


def test_a_link_made_before_the_subscriber_existed_is_refused(app, client, make_subscriber):
    """On SQLite a deleted row's id goes to the next new row; an old link must not follow."""
    sub = make_subscriber("new@example.org")
    stale = old_token(app, tokens.UNSUBSCRIBE, sub.id, days=30)
    response = client.post(f"/unsubscribe/{stale}", data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.get(Subscriber, sub.id).status == SubscriberStatus.ACTIVE


def test_a_link_to_a_deleted_subscriber_is_refused(client, make_subscriber, link):
    sub = make_subscriber()
    path = link("preferences", sub.id)
    db.session.delete(sub)
    db.session.commit()
    response = client.get(path)
    assert response.status_code == 400 and "已失效" in response.get_data(as_text=True)


def test_read_token_rejects_non_integer_payloads(app):
    from itsdangerous import URLSafeTimedSerializer

    token = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="subscriber-preferences").dumps(
        True
    )
    with pytest.raises(tokens.TokenError):
        tokens.read_token_issued(app.config["SECRET_KEY"], tokens.PREFERENCES, token)


# --- make_token is itsdangerous' dumps, made faster --------------------------------------

SECRET = "tokens-test-secret"
IDS = [
    *range(0, 2000),
    *range(10**9 - 50, 10**9 + 50),
    2**31 - 1,
    2**31,
    9_999_999_999,  # 10 digits: the longest JSON zlib can never shorten
    10**10,
    10**12,
    1_111_111_111_111,  # repetitive: itsdangerous compresses these
    9_999_999_999_999,
    int("7" * 40),
    2**63,
    10**30,
    -1,
]
SECONDS = [0, 1, 255, 256, 65_535, 65_536, 1_700_000_000, 1_700_000_001, 4_102_444_800]


@pytest.fixture
def clock(monkeypatch):
    """Sets the second both itsdangerous and make_token sign at."""

    def at(second: int) -> None:
        monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: second)

    return at


def test_make_token_is_byte_for_byte_what_itsdangerous_dumps(clock):
    from itsdangerous import URLSafeTimedSerializer

    compressed = 0
    for purpose in (tokens.UNSUBSCRIBE, tokens.PREFERENCES, tokens.CONFIRM):
        reference = URLSafeTimedSerializer(SECRET, salt=f"subscriber-{purpose}")
        for second in SECONDS:
            clock(second)
            for subscriber_id in IDS:
                made = tokens.make_token(SECRET, purpose, subscriber_id)
                assert made == reference.dumps(subscriber_id), (purpose, second, subscriber_id)
                compressed += made.startswith(".")
    assert compressed  # the zlib branch was met, not only the short ids


def test_make_token_follows_the_clock_and_another_key(clock):
    from itsdangerous import URLSafeTimedSerializer

    clock(1_700_000_000)
    first = tokens.make_token(SECRET, tokens.UNSUBSCRIBE, 42)
    assert tokens.make_token(SECRET, tokens.UNSUBSCRIBE, 42) == first  # same second: same
    clock(1_700_000_001)
    later = tokens.make_token(SECRET, tokens.UNSUBSCRIBE, 42)
    assert later != first
    assert later == URLSafeTimedSerializer(SECRET, salt="subscriber-unsubscribe").dumps(42)
    other = tokens.make_token("another-secret", tokens.UNSUBSCRIBE, 42)
    assert other != later
    assert other == URLSafeTimedSerializer("another-secret", salt="subscriber-unsubscribe").dumps(
        42
    )


_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _other_char(c: str) -> str:
    """Another character whose top bit differs: a segment's last character carries only
    its top bits (base64 ignores the rest), so "B" for "A" would decode the same."""
    return _B64[(_B64.index(c) + 32) % 64] if c in _B64 else "A"


def test_made_tokens_read_back_and_refuse_tampering():
    for subscriber_id in (0, 1, 4711, 10**12, 1_111_111_111_111):
        for purpose in (tokens.UNSUBSCRIBE, tokens.PREFERENCES):
            token = tokens.make_token(SECRET, purpose, subscriber_id)
            assert tokens.read_token(SECRET, purpose, token) == subscriber_id
            value, signed_at = tokens.read_token_issued(SECRET, purpose, token)
            assert value == subscriber_id
            assert abs((utcnow() - signed_at).total_seconds()) < 5
            for i in range(len(token)):  # any one character changed: refused
                changed = token[:i] + _other_char(token[i]) + token[i + 1 :]
                with pytest.raises(tokens.TokenError) as refused:
                    tokens.read_token(SECRET, purpose, changed)
                assert not refused.value.expired
            with pytest.raises(tokens.TokenError):
                tokens.read_token("another-secret", purpose, token)
    other = tokens.make_token(SECRET, tokens.PREFERENCES, 5)
    with pytest.raises(tokens.TokenError):
        tokens.read_token(SECRET, tokens.UNSUBSCRIBE, other)


def test_an_old_made_token_is_refused_as_expired(clock):
    clock(int(time.time()) - 8 * 86400)
    token = tokens.make_token(SECRET, tokens.CONFIRM, 9)
    clock(int(time.time()))
    with pytest.raises(tokens.TokenError) as refused:
        tokens.read_token(SECRET, tokens.CONFIRM, token)
    assert refused.value.expired
    assert tokens.read_token(SECRET, tokens.CONFIRM, token, max_age=9 * 86400) == 9
