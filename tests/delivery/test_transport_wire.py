"""The transport's hot path: bytes that need no line-end repair or dot-stuffing go out as
they are; anything else through smtplib's own data(). A real aiosmtpd server on loopback
receives exactly the message in every case."""

from __future__ import annotations

import datetime as dt
import smtplib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.delivery.message import MessageTemplate, WireBytes
from newsletter.delivery.transport import SmtpSettings, SmtpTransport, wire_ready
from newsletter.devsmtp import SinkServer


@pytest.fixture
def server():
    s = SinkServer().start()
    yield s
    s.stop()


def _built() -> bytes:
    template = MessageTemplate("行业动态周报 <weekly@news.example.org>", "第396期", "w.example.org")
    return template.build(
        to_email="a@example.org",
        to_name="王",
        message_id="<1@x>",
        html="<p>.点开头</p>\n.\n" * 50,
        text=".\r\n..\n正文\n" * 50,
        list_unsubscribe=["https://x.example/u/1"],
        now=dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
    )


def test_what_message_py_writes_is_wire_ready_and_arrives_unchanged(server):
    message = _built()
    assert wire_ready(message)  # base64 bodies: no line starts with a dot
    with SmtpTransport(SmtpSettings("127.0.0.1", server.port)) as t:
        answer = t.send("weekly+b1-abc@news.example.org", "a@example.org", message)
        assert answer.startswith("250")
        t.send("weekly+b2-abc@news.example.org", "b@example.org", message)  # same session
    assert [r.data for r in server.received] == [message, message]
    assert server.received[0].mail_from == "weekly+b1-abc@news.example.org"
    assert server.received[1].rcpt_tos == ["b@example.org"]


@pytest.mark.parametrize(
    "message",
    [
        b"Subject: x\r\n\r\n.leading dot\r\n..two\r\n",
        b"Subject: x\n\nbare line feeds\n",
        b"Subject: x\r\n\r\nno final line end",
        b"Subject: x\r\n\r\na lone \r in a line\r\n",
    ],
)
def test_anything_else_goes_through_smtplib_as_before(server, message):
    assert not wire_ready(message)
    with SmtpTransport(SmtpSettings("127.0.0.1", server.port)) as t:
        t.send("weekly@news.example.org", "a@example.org", message)
        t.send('"odd local"@example.org', "b@example.org", b"Subject: y\r\n\r\nok\r\n")
    with smtplib.SMTP("127.0.0.1", server.port) as plain:  # smtplib alone, same bytes
        plain.sendmail("weekly@news.example.org", ["a@example.org"], message)
    first, odd, reference = server.received
    assert first.data == reference.data
    if message.startswith(b"Subject: x\r\n\r\n.leading"):
        assert first.data == message  # dot-stuffed on the wire, unstuffed by the server
    assert odd.mail_from == '"odd local"@example.org' and odd.data.endswith(b"ok\r\n")


_NAME = st.text(alphabet="王小明 Ab.,\"'()<>@:;é\t-=?", max_size=40)


@settings(max_examples=150, deadline=None)
@given(
    name=_NAME,
    subject=_NAME,
    body=st.lists(
        st.sampled_from([".", "..", "\r", "\n", "\r\n", "中", "a", " ", ".x"]), max_size=60
    ),
    html=st.booleans(),
    ref=_NAME,
)
def test_what_build_marks_wire_ready_is_wire_ready(name, subject, body, html, ref):
    template = MessageTemplate("行业动态周报 <weekly@news.example.org>", subject, "w.example.org")
    text = "".join(body)
    message = template.build(
        to_email="a@example.org",
        to_name=name,
        message_id="<1@x>",
        html=text if html else None,
        text=text,
        list_unsubscribe=["https://x.example/u/1"],
        extra_headers={"X-Newsletter-Ref": ref},
    )
    assert isinstance(message, WireBytes)
    assert wire_ready(bytes(message))  # the scans on a plain copy agree with the mark


def test_a_header_line_starting_with_a_dot_is_not_marked_and_still_arrives(server):
    template = MessageTemplate("行业动态周报 <weekly@news.example.org>", "第396期", "w.example.org")
    message = template.build(
        to_email="a@example.org",
        to_name="王",
        message_id="<1@x>",
        html=None,
        text="正文",
        list_unsubscribe=[],
        extra_headers={".Odd": "a header name RFC 5322 allows"},
    )
    assert type(message) is bytes and b"\r\n.Odd: " in message and not wire_ready(message)
    with SmtpTransport(SmtpSettings("127.0.0.1", server.port)) as t:
        t.send("weekly@news.example.org", "a@example.org", message)
    assert server.received[0].data == message  # dot-stuffed by smtplib, unstuffed there
