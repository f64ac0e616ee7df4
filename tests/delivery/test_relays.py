"""Relays from RELAYS_FILE and the relay pool: limits counted in the real Redis, order and
weight, breaker pauses, daily quotas and pacing per receiving domain."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from redis import Redis

from newsletter.delivery.relaypool import Grant, RelayPool, Wait
from newsletter.delivery.relays import DEFAULT_PACES, Pace, RelayConfigError, load
from tests.conftest import REDIS_URL

GOOD = """
[[relay]]
name = "exmail"
host = "smtp.exmail.qq.com"
port = 465
security = "ssl"
username = "weekly@assoc.org.cn"
password_env = "EXMAIL_PASSWORD"
envelope = "fixed"
per_minute = 30
per_day = 1500
order = 1

[[relay]]
name = "directmail"
host = "smtpdm.aliyun.com"
security = "starttls"
port = 80
username = "news@mail.assoc.org.cn"
password = "in-the-file"
envelope = "fixed"
envelope_sender = "bounce@mail.assoc.org.cn"
per_hour = 5000
order = 2
weight = 3

[domains."163.com"]
per_minute = 20
connections = 1

[domains."corp.example"]
per_minute = 5
"""


@pytest.fixture
def redis():
    client = Redis.from_url(REDIS_URL)
    prefix = f"nltest:relays:{uuid.uuid4().hex[:8]}"
    yield client, prefix
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)


def _config(tmp_path, text, **extra):
    path = tmp_path / "relays.toml"
    path.write_text(text, "utf-8")
    return {"RELAYS_FILE": str(path), "MAIL_FROM": "周报 <weekly@news.example.org>", **extra}


def test_the_relays_file_is_read_with_secrets_from_the_environment(tmp_path):
    rc = load(_config(tmp_path, GOOD), env={"EXMAIL_PASSWORD": "s3cret"})
    exmail, dm = rc.relays
    assert (exmail.name, exmail.port, exmail.security, exmail.envelope) == (
        "exmail",
        465,
        "ssl",
        "fixed",
    )
    assert exmail.password == "s3cret" and "s3cret" not in repr(exmail)
    assert exmail.envelope_sender == "weekly@assoc.org.cn"  # the login
    assert dm.envelope_sender == "bounce@mail.assoc.org.cn" and dm.password == "in-the-file"
    assert exmail.limits.per_day == 1500 and dm.limits.per_hour == 5000
    assert rc.paces["163.com"] == Pace(20, 1)  # overridden
    assert rc.paces["qq.com"] == DEFAULT_PACES["qq.com"]  # shipped default kept
    assert rc.paces["corp.example"] == Pace(5, 0)


def test_without_a_file_the_smtp_settings_are_the_one_relay():
    rc = load(
        {
            "SMTP_HOST": "relay.example",
            "SMTP_PORT": 587,
            "SMTP_STARTTLS": True,
            "SMTP_USERNAME": "u@example.org",
            "RATE_PER_SECOND": 5,
            "MAIL_FROM": "weekly@news.example.org",
        },
        env={},
    )
    (relay,) = rc.relays
    assert (relay.name, relay.host, relay.port, relay.security, relay.envelope) == (
        "default",
        "relay.example",
        587,
        "starttls",
        "verp",
    )
    assert relay.limits.per_second == 5 and relay.envelope_sender == "u@example.org"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[relay]]\nname = 'a'\n", "relay 'a': needs a host"),
        ("[[relay]]\nname = 'a'\nhost = 'h'\nsecurity = 'tls'\n", "security must be one of"),
        ("[[relay]]\nname = 'a'\nhost = 'h'\nport = 70000\n", "port must be 1–65535"),
        (
            "[[relay]]\nname = 'a'\nhost = 'h'\nenvelope = 'sometimes'\n",
            "envelope must be verp or fixed",
        ),
        ("[[relay]]\nname = 'a'\nhost = 'h'\nper_day = '1500'\n", "per_day must be a whole number"),
        (
            "[[relay]]\nname = 'a'\nhost = 'h'\npassword_env = 'NOPE_UNSET'\n",
            "NOPE_UNSET, which is not set",
        ),
        ("[[relay]]\nname = 'a'\nhost = 'h'\nhots = 'x'\n", "unknown key(s) hots"),
        ("[[relay]]\nname = 'a'\nhost = 'h'\n[[relay]]\nname = 'a'\nhost = 'g'\n", "used twice: a"),
        ("[relay]\nname = 'a'\n", "no [[relay]] entry"),
        ("[[relay]\nname = 'a'\n", "not valid TOML"),
        (
            "[[relay]]\nname = 'a'\nhost = 'h'\n[domains]\n'qq.com' = 5\n",
            '[domains."qq.com"]: must be a table',
        ),
    ],
)
def test_a_bad_relays_file_names_the_place(tmp_path, text, message):
    with pytest.raises(RelayConfigError, match=__import__("re").escape(message)) as info:
        load(_config(tmp_path, text), env={})
    assert "relays.toml" in str(info.value)


def _pool(redis, tmp_path, text, paused=None):
    client, prefix = redis
    return RelayPool(client, prefix, load(_config(tmp_path, text), env={}), paused=paused)


TWO = """
[[relay]]
name = "first"
host = "a"
per_day = 3
order = 1
[[relay]]
name = "second"
host = "b"
per_day = 2
order = 2
"""


def test_relays_are_used_in_order_until_their_daily_quota_runs_out(redis, tmp_path):
    pool = _pool(redis, tmp_path, TWO)
    picks = [pool.acquire(f"r{n}@example.org") for n in range(6)]
    assert [p.relay.name for p in picks[:5]] == ["first"] * 3 + ["second"] * 2
    last = picks[5]
    assert isinstance(last, Wait) and last.reason == "quota"
    assert last.seconds > 86000  # the day window
    opens = pool.quota_exhausted()
    assert opens is not None and opens - dt.datetime.now(dt.UTC).replace(
        tzinfo=None
    ) > dt.timedelta(hours=23)
    assert pool.quota_left() == {"first": 0, "second": 0}


def test_a_relay_paused_by_its_breaker_hands_its_work_to_the_next(redis, tmp_path):
    pool = _pool(redis, tmp_path, TWO, paused=lambda name: name == "first")
    grant = pool.acquire("r@example.org")
    assert isinstance(grant, Grant) and grant.relay.name == "second"
    everything = _pool(redis, tmp_path, TWO, paused=lambda name: True)
    assert everything.acquire("r@example.org").reason == "paused"


def test_equal_order_shares_by_weight(redis, tmp_path):
    text = (
        "[[relay]]\nname = 'light'\nhost = 'a'\nweight = 1\n"
        "[[relay]]\nname = 'heavy'\nhost = 'b'\nweight = 4\n"
    )
    pool = _pool(redis, tmp_path, text)
    names = [pool.acquire(f"r{n}@example.org").relay.name for n in range(500)]
    assert 0.7 < names.count("heavy") / 500 < 0.9


def test_two_pools_share_the_limits_through_redis(redis, tmp_path):
    text = "[[relay]]\nname = 'only'\nhost = 'a'\nper_minute = 4\n"
    one, two = _pool(redis, tmp_path, text), _pool(redis, tmp_path, text)  # two workers
    got = [p.acquire(f"r{n}@example.org") for n in range(3) for p in (one, two)]
    assert sum(isinstance(g, Grant) for g in got) == 4
    refused = [g for g in got if isinstance(g, Wait)]
    assert {w.reason for w in refused} == {"rate"} and all(0 < w.seconds <= 60 for w in refused)


def test_a_domain_is_paced_while_the_others_flow(redis, tmp_path):
    text = (
        "[[relay]]\nname = 'only'\nhost = 'a'\n"
        '[domains."slow.example"]\nper_minute = 2\nconnections = 1\n'
    )
    pool = _pool(redis, tmp_path, text)
    first = pool.acquire("a@slow.example")
    assert isinstance(first, Grant)
    # One in flight: a second message to the domain waits for the slot.
    assert pool.acquire("b@slow.example").reason == "domain"
    first.release()
    second = pool.acquire("b@slow.example")
    assert isinstance(second, Grant)
    second.release()
    third = pool.acquire("c@slow.example")  # 2 per minute used up
    assert isinstance(third, Wait) and third.reason == "domain" and third.seconds > 50
    assert all(isinstance(pool.acquire(f"r{n}@fast.example"), Grant) for n in range(20))


def test_a_deferral_slows_only_that_domain(redis, tmp_path):
    pool = _pool(redis, tmp_path, "[[relay]]\nname = 'only'\nhost = 'a'\n")
    assert pool.pace("qq.com") == DEFAULT_PACES["qq.com"]
    assert pool.deferred("qq.com") == 1
    assert pool.pace("qq.com").per_minute == DEFAULT_PACES["qq.com"].per_minute // 2
    for _ in range(5):
        pool.deferred("qq.com")
    assert pool.pace("qq.com").per_minute == DEFAULT_PACES["qq.com"].per_minute // 8
    assert pool.pace("163.com") == DEFAULT_PACES["163.com"]
    # A domain without a pace keeps going: there is no known rate to slow down from.
    assert pool.deferred("corp.example") == 0
    assert all(isinstance(pool.acquire(f"r{n}@corp.example"), Grant) for n in range(100))
