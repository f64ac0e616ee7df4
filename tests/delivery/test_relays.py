"""Relays from RELAYS_FILE (newsletter/delivery/relays.py): the file with its secrets from
the environment, the one relay of the SMTP settings without a file, and a bad file's
place named. The pool that hands them out: tests/delivery/test_relaypool.py."""

from __future__ import annotations

import pytest

from newsletter.delivery.relays import DEFAULT_PACES, Pace, RelayConfigError, load

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
