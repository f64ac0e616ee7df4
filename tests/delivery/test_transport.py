"""SmtpTransport against real aiosmtpd servers: the stage and full answer of each failure,
the 250 answer after DATA (the relay's queue id), implicit TLS and STARTTLS with
certificates verified (a private CA through SMTP_CA_FILE)."""

from __future__ import annotations

import ssl
import subprocess

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from newsletter.delivery.classify import Stage, Verdict
from newsletter.delivery.transport import SmtpFailure, SmtpSettings, SmtpTransport, queue_id
from newsletter.devsmtp import SinkHandler, free_port

MESSAGE = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: t\r\n\r\nhello\r\n"


class Scripted(SinkHandler):
    def __init__(self, mail=None, rcpt=None, data=None):
        super().__init__()
        self.mail, self.rcpt, self.data = mail, rcpt, data

    async def handle_MAIL(self, server, session, envelope, address, options):
        if self.mail:
            return self.mail
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):
        if self.rcpt:
            return self.rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        await super().handle_DATA(server, session, envelope)
        return self.data or "250 2.0.0 Ok: queued as 4TbXq2Lm9z"


@pytest.fixture
def serve():
    controllers = []

    def start(handler, **kw):
        port = free_port()
        c = Controller(handler, hostname="127.0.0.1", port=port, **kw)
        c.start()
        controllers.append(c)
        return port

    yield start
    for c in controllers:
        c.stop()


def send(port, **settings):
    with SmtpTransport(SmtpSettings(host="127.0.0.1", port=port, timeout=5, **settings)) as t:
        return t.send("weekly@example.org", "reader@example.org", MESSAGE)


def test_accepted_returns_the_answer_with_the_queue_id(serve):
    answer = send(serve(Scripted()))
    assert answer == "250 2.0.0 Ok: queued as 4TbXq2Lm9z"
    assert queue_id(answer) == "4TbXq2Lm9z"


@pytest.mark.parametrize(
    "where, answer, stage, verdict",
    [
        (
            "mail",
            "553 5.7.1 <weekly+b1@example.org>: Sender address rejected: not owned by user",
            Stage.MAIL_FROM,
            Verdict.RELAY,
        ),
        (
            "rcpt",
            "550 5.1.1 <reader@example.org>: Recipient address rejected: User unknown",
            Stage.RCPT,
            Verdict.HARD_BOUNCE,
        ),
        ("rcpt", "452 4.2.2 Mailbox full", Stage.RCPT, Verdict.SOFT_BOUNCE),
        ("data", "554 5.3.4 Message too big for system", Stage.DATA, Verdict.MESSAGE),
        ("data", "451 DT:SPM 163 smtp3, retry later", Stage.DATA, Verdict.TRANSIENT),
    ],
)
def test_a_refusal_names_its_stage_and_the_full_answer(serve, where, answer, stage, verdict):
    port = serve(Scripted(**{where: answer}))
    with pytest.raises(SmtpFailure) as info:
        send(port)
    failure = info.value
    code, _, text = answer.partition(" ")
    assert (failure.stage, failure.code, failure.text) == (stage, int(code), text)
    assert failure.classification.verdict == verdict
    assert failure.classification.enhanced == (text.split()[0] if text[0].isdigit() else None)


def test_nobody_listening_is_a_connect_failure_of_the_relay():
    with pytest.raises(SmtpFailure) as info:
        send(free_port())
    assert info.value.stage == Stage.CONNECT and info.value.code is None
    assert info.value.classification.pauses_send


def test_a_wrong_password_is_an_auth_failure_of_the_relay(serve):
    class Refuse:
        def __call__(self, server, session, envelope, mechanism, auth_data):
            return AuthResult(success=False, handled=False)

    port = serve(Scripted(), auth_require_tls=False, authenticator=Refuse())
    with pytest.raises(SmtpFailure) as info:
        send(port, username="weekly", password="wrong")
    assert info.value.stage == Stage.AUTH and info.value.code == 535
    assert info.value.classification.pauses_send


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(d / "key.pem"),
            "-out",
            str(d / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(d / "cert.pem", d / "key.pem")
    return str(d / "cert.pem"), context


def test_implicit_tls_verifies_the_certificate(serve, certificate):
    ca_file, context = certificate
    port = serve(Scripted(), ssl_context=context)
    assert send(port, security="ssl", ca_file=ca_file).startswith("250 ")
    with pytest.raises(SmtpFailure) as info:  # not trusted without the CA file
        send(port, security="ssl")
    assert info.value.stage == Stage.TLS and info.value.classification.pauses_send


def test_starttls_verifies_the_certificate(serve, certificate):
    ca_file, context = certificate
    port = serve(Scripted(), tls_context=context, require_starttls=True)
    assert send(port, security="starttls", ca_file=ca_file).startswith("250 ")
    with pytest.raises(SmtpFailure) as info:
        send(port, security="starttls")
    assert info.value.stage == Stage.TLS
    with pytest.raises(SmtpFailure) as info:  # a server that insists on TLS, sent plain
        send(port)
    assert info.value.stage == Stage.MAIL_FROM and info.value.code == 530


def test_settings_read_the_older_starttls_switch_and_refuse_unknown_modes():
    from newsletter.config import ConfigError, settle

    base = {"SMTP_HOST": "h", "SMTP_PORT": 25}
    assert SmtpSettings.from_config(settle({**base, "SMTP_STARTTLS": True})).security == "starttls"
    assert SmtpSettings.from_config(settle({**base, "SMTP_SECURITY": "SSL"})).security == "ssl"
    assert SmtpSettings.from_config(settle(base)).security == "none"
    with pytest.raises(ConfigError, match="SMTP_SECURITY"):
        settle({**base, "SMTP_SECURITY": "tls1"})
    with pytest.raises(ValueError, match="SMTP_SECURITY"):
        SmtpSettings(host="h", port=25, security="tls1")
