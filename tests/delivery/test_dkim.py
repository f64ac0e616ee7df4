"""The OpenSSL DKIM signer: dkimpy verifies its signatures, and for the same message, key and
time its DKIM-Signature is byte for byte dkimpy's (relaxed/relaxed, rsa-sha256)."""

from __future__ import annotations

import base64
import datetime as dt

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.delivery import dkim as ours
from newsletter.delivery.message import DkimSigner, MessageTemplate

T = 1_780_000_000


@pytest.fixture(scope="module")
def key():
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


def _dns(record):
    def lookup(name, timeout=5):
        assert name == b"weekly._domainkey.news.example.org."
        return record

    return lookup


def _dkimpy(message: bytes, pem: bytes, monkeypatch) -> bytes:
    monkeypatch.setattr(dkim.time, "time", lambda: T + 0.75)
    header = dkim.sign(
        message,
        b"weekly",
        b"news.example.org",
        pem,
        canonicalize=(b"relaxed", b"relaxed"),
        include_headers=DkimSigner.SIGNED_HEADERS,
    )
    return header.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _bulletin(name: str = "王小明", html: str | None = "<p>你好 {name}</p>" * 400) -> bytes:
    template = MessageTemplate(
        "行业动态周报 <weekly@news.example.org>",
        "行业动态周报 第396期 · 2026年第48期（总第396期）",
        "weekly.news.example.org",
    )
    return template.build(
        to_email="reader@example.org",
        to_name=name,
        message_id="<396.7.abc@news.example.org>",
        html=html,
        text="正文 " * 2000,
        list_unsubscribe=["https://news.example.org/unsubscribe/" + "x" * 90],
        now=dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC),
    )


def test_a_bulletin_signature_verifies_and_equals_dkimpys(key, monkeypatch):
    pem, record = key
    message = _bulletin()
    signed = DkimSigner("weekly", "news.example.org", pem).sign(message, timestamp=T)
    assert dkim.verify(signed, dnsfunc=_dns(record))
    assert signed == _dkimpy(message, pem, monkeypatch) + message
    assert not dkim.verify(
        signed.replace("王小明".encode(), "李四".encode(), 1).replace(b"reader@", b"other@"),
        dnsfunc=_dns(record),
    )


def test_text_only_message_lists_absent_headers_as_dkimpy_does(key, monkeypatch):
    pem, record = key
    message = _bulletin(html=None)  # no Content-Type multipart, List-Unsubscribe-Post present
    signed = DkimSigner("weekly", "news.example.org", pem).sign(message, timestamp=T)
    assert dkim.verify(signed, dnsfunc=_dns(record))
    assert signed == _dkimpy(message, pem, monkeypatch) + message


@pytest.mark.parametrize(
    "body",
    [
        b"line with trailing blanks  \t\r\nsecond\t\tline  two  spaces\r\n\r\n\r\n",
        b"no final line end",
        b"\r\n\r\n",
        b"",
        b"  leading\r\n \r\n\t\r\nend\r\n",
    ],
)
def test_relaxed_body_canonicalisation_matches_dkimpy(key, body, monkeypatch):
    pem, record = key
    message = (
        b"From: a@news.example.org\r\nTo: b@example.org\r\nSubject:  folded\r\n"
        b"\t subject   line \r\nX-Other: not signed\r\n\r\n" + body
    )
    signed = DkimSigner("weekly", "news.example.org", pem).sign(message, timestamp=T)
    assert dkim.verify(signed, dnsfunc=_dns(record))
    assert signed == _dkimpy(message, pem, monkeypatch) + message


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=" \tab\u4e2d", max_size=12), max_size=8))
def test_any_body_canonicalises_as_dkimpy(lines):
    body = "\r\n".join(lines).encode()
    assert ours.relaxed_body(body) == dkim.canonicalization.Relaxed.canonicalize_body(body)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=" \t\r\na.", max_size=400))
def test_the_blank_check_agrees_with_the_plain_searches(text):
    body = text.encode()
    assert ours._blanks_need_work(body) == (b"\t" in body or b"  " in body or b" \r\n" in body)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=20), st.text(alphabet=" \t\r\na.", max_size=300))
def test_the_body_where_it_lies_is_the_relaxed_body(head, text):
    # What is hashed in place (a view, or a canonicalised copy) is relaxed_body's bytes,
    # whatever comes before the body in the message (blanks and line ends included).
    body = text.encode()
    got = ours.relaxed_body_of(head + body, len(head))
    assert bytes(got) == ours.relaxed_body(body)
    assert ours._blanks_need_work(head + body, len(head)) == ours._blanks_need_work(body)


def test_a_built_message_body_is_hashed_without_a_copy():
    message = _bulletin()
    start = message.index(b"\r\n\r\n") + 4
    assert isinstance(ours.relaxed_body_of(message, start), memoryview)


@pytest.mark.parametrize(
    "body, needs_work",
    [
        (b"a " * 100, False),  # more spaces than the loop follows: the searches decide
        (b"a " * 100 + b"b  c", True),
        (b"a " * 100 + b"\r\n", True),
        (b"a " * 10 + b"b \r\n", True),
        (b"a \rb \nc ", False),
    ],
)
def test_the_blank_check_past_the_spaces_it_follows(body, needs_work):
    assert ours._blanks_need_work(body) is needs_work


def test_signing_keeps_the_wire_ready_mark(key):
    from newsletter.delivery.message import WireBytes
    from newsletter.delivery.transport import wire_ready

    pem, record = key
    signed = DkimSigner("weekly", "news.example.org", pem).sign(_bulletin(), timestamp=T)
    assert isinstance(signed, WireBytes) and wire_ready(bytes(signed))
    assert dkim.verify(signed, dnsfunc=_dns(record))


def test_the_signer_is_loaded_once_per_key_file_content(key, tmp_path):
    pem, record = key
    path = tmp_path / "dkim.pem"
    path.write_bytes(pem)
    config = {
        "DKIM_KEY_FILE": str(path),
        "DKIM_SELECTOR": "weekly",
        "DKIM_DOMAIN": "news.example.org",
    }
    first = DkimSigner.from_config(config)
    assert DkimSigner.from_config(config) is first  # every batch job asks; one key load
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    rotated = DkimSigner.from_config(config)  # a new key in the file: a new signer
    assert rotated is not first
    message = _bulletin()
    assert dkim.verify(first.sign(message, timestamp=T), dnsfunc=_dns(record))
    assert not dkim.verify(rotated.sign(message, timestamp=T), dnsfunc=_dns(record))


def test_a_key_that_is_not_rsa_is_refused():
    from cryptography.hazmat.primitives.asymmetric import ed25519

    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ours.DkimError, match="RSA"):
        DkimSigner("weekly", "news.example.org", pem)
    with pytest.raises(ours.DkimError, match="unusable"):
        DkimSigner("weekly", "news.example.org", b"not a key")


def test_a_signed_message_crosses_a_real_server_unchanged_and_verifies(key):
    """The signed bytes take the transport's as-is path: any line-end repair or
    dot-stuffing left undone by the server would change them and break the signature."""
    from newsletter.delivery.transport import SmtpSettings, SmtpTransport
    from newsletter.devsmtp import SinkServer

    pem, record = key
    signer = DkimSigner("weekly", "news.example.org", pem)
    signed = [signer.sign(_bulletin(name), timestamp=T) for name in ("王小明", "李四")]
    server = SinkServer().start()
    try:
        with SmtpTransport(SmtpSettings("127.0.0.1", server.port)) as t:
            for i, message in enumerate(signed):
                assert t.send("weekly@news.example.org", f"r{i}@example.org", message)[:3] == "250"
    finally:
        server.stop()
    assert [r.data for r in server.received] == signed
    assert all(dkim.verify(r.data, dnsfunc=_dns(record)) for r in server.received)
