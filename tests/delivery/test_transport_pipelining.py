"""PIPELINING (RFC 2920) in the transport: MAIL, RCPT and DATA go out in one write when the
server offers it, and a refusal still names its own stage, with the server's own answer;
after it the session is back in step (the next message on the same connection arrives
exactly once). Against a scripted server on loopback that answers nothing until the whole
group has arrived (so a client that did not pipeline would time out), against aiosmtpd
announcing PIPELINING, and against a real Postfix (tests/mta.py)."""

from __future__ import annotations

import socket
import threading
import uuid
from dataclasses import dataclass, field

import pytest
from aiosmtpd.controller import Controller

from newsletter.delivery.classify import Stage
from newsletter.delivery.transport import SmtpFailure, SmtpSettings, SmtpTransport
from newsletter.devsmtp import free_port
from tests.delivery.test_transport import Scripted

MESSAGE = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: t\r\n\r\nhello\r\n"
GROUP = (
    b"MAIL FROM:<weekly@example.org>\r\nRCPT TO:<reader@example.org>\r\nDATA\r\n",
    b"MAIL FROM:<weekly@example.org>\r\nRCPT TO:<second@example.org>\r\nDATA\r\n",
)


@dataclass
class Script:
    """Answers to one transaction: MAIL, RCPT, DATA, and the one after the content."""

    mail: bytes = b"250 2.1.0 Ok"
    rcpt: bytes = b"250 2.1.5 Ok"
    data: bytes = b"354 End data with <CR><LF>.<CR><LF>"
    end: bytes = b"250 2.0.0 Ok: queued as 7QX"
    close_after: str | None = None  # "mail" or "rcpt": hang up right after that answer


@dataclass
class PipeServer:
    """A minimal SMTP server for one connection at a time, scripted per transaction.

    It reads the MAIL/RCPT/DATA group whole before answering any of it: a client that
    waits for MAIL's answer before writing RCPT gets no answer at all (its timeout)."""

    scripts: list[Script]
    pipelining: bool = True
    port: int = field(default_factory=free_port)
    messages: list[bytes] = field(default_factory=list)  # content after each 354
    commands: list[bytes] = field(default_factory=list)  # every command line received
    connections: int = 0

    def __post_init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", self.port))
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                try:
                    self._session(conn.makefile("rwb", buffering=0), conn)
                except (OSError, ConnectionError, StopIteration):
                    pass

    def _session(self, f, conn: socket.socket) -> None:
        def say(*lines: bytes) -> None:
            conn.sendall(b"".join(line + b"\r\n" for line in lines))

        def line() -> bytes:
            got = f.readline()
            if not got:
                raise ConnectionError("client left")
            self.commands.append(got.rstrip(b"\r\n"))
            return got

        say(b"220 pipe.test ESMTP")
        line()  # EHLO
        say(b"250-pipe.test", *([b"250-PIPELINING"] if self.pipelining else []), b"250 8BITMIME")
        while True:
            first = line()
            if first.upper().startswith(b"QUIT"):
                say(b"221 Bye")
                return
            if first.upper().startswith(b"RSET"):
                say(b"250 2.0.0 Ok")
                continue
            script = self.scripts.pop(0)
            if not self.pipelining:
                say(script.mail)
                if script.close_after == "mail":
                    return
                line()
                say(script.rcpt)
                if script.close_after == "rcpt":
                    return
                line()
                say(script.data)
            else:
                line(), line()  # RCPT and DATA, before any answer
                say(script.mail)
                if script.close_after == "mail":
                    return
                say(script.rcpt)
                if script.close_after == "rcpt":
                    return
                say(script.data)
            if script.data.startswith(b"354"):
                content = b""
                while not content.endswith(b"\r\n.\r\n") and content != b".\r\n":
                    got = f.readline()
                    if not got:
                        return  # the client hung up inside DATA: nothing was received
                    content += got
                self.messages.append(content)
                say(script.end)

    def stop(self) -> None:
        self.sock.close()


@pytest.fixture
def pipe_server():
    servers = []

    def start(*scripts: Script, pipelining: bool = True) -> PipeServer:
        server = PipeServer(list(scripts), pipelining=pipelining)
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.stop()


def transport(port: int) -> SmtpTransport:
    return SmtpTransport(SmtpSettings("127.0.0.1", port, timeout=3))


def test_a_pipelined_message_goes_out_in_one_group_and_arrives_whole(pipe_server):
    server = pipe_server(Script(), Script())
    with transport(server.port) as t:
        assert t.send("weekly@example.org", "reader@example.org", MESSAGE) == (
            "250 2.0.0 Ok: queued as 7QX"
        )
        t.send("weekly@example.org", "second@example.org", MESSAGE)
    assert server.messages == [MESSAGE + b".\r\n"] * 2
    assert server.connections == 1
    assert server.commands[1:4] == GROUP[0].split(b"\r\n")[:3]


@pytest.mark.parametrize(
    "script, stage, answer",
    [
        (
            Script(
                mail=b"553 5.7.1 <weekly@example.org>: Sender address rejected: not owned",
                rcpt=b"503 5.5.1 Error: need MAIL command",
                data=b"503 5.5.1 Error: need RCPT command",
            ),
            Stage.MAIL_FROM,
            "553 5.7.1 <weekly@example.org>: Sender address rejected: not owned",
        ),
        (
            Script(
                rcpt=b"550 5.1.1 <reader@example.org>: Recipient address rejected: User unknown",
                data=b"554 5.5.1 Error: no valid recipients",
            ),
            Stage.RCPT,
            "550 5.1.1 <reader@example.org>: Recipient address rejected: User unknown",
        ),
        (Script(data=b"554 5.7.1 Spam policy"), Stage.DATA, "554 5.7.1 Spam policy"),
        (Script(end=b"552 5.3.4 Message too big"), Stage.DATA, "552 5.3.4 Message too big"),
    ],
)
def test_a_refusal_names_its_stage_and_the_session_stays_in_step(
    pipe_server, script, stage, answer
):
    server = pipe_server(script, Script())
    with transport(server.port) as t:
        with pytest.raises(SmtpFailure) as info:
            t.send("weekly@example.org", "reader@example.org", MESSAGE)
        code, _, text = answer.partition(" ")
        assert (info.value.stage, info.value.code, info.value.text) == (stage, int(code), text)
        # Every answer owed was read, the session reset: the next message is the next one.
        assert t.send("weekly@example.org", "second@example.org", MESSAGE).startswith("250")
    assert server.connections == 1
    assert server.commands[4].upper() == b"RSET"
    assert server.commands[5:8] == GROUP[1].split(b"\r\n")[:3]
    # The content went out only after a 354, and only to the last server answer's liking.
    assert server.messages == [MESSAGE + b".\r\n"] * (
        2 if stage == Stage.DATA and script.data[:3] == b"354" else 1
    )


def test_a_354_after_a_refused_recipient_gets_nothing_and_the_connection_is_dropped(
    pipe_server,
):
    # RFC 2920 asks servers to refuse DATA when no recipient was taken; one that says 354
    # anyway gets neither the message nor a final dot (which could deliver an empty one):
    # the connection is closed, which voids the transaction, and the next message reconnects.
    server = pipe_server(Script(rcpt=b"550 5.1.1 User unknown"), Script())
    with transport(server.port) as t:
        with pytest.raises(SmtpFailure) as info:
            t.send("weekly@example.org", "reader@example.org", MESSAGE)
        assert (info.value.stage, info.value.code) == (Stage.RCPT, 550)
        t.send("weekly@example.org", "second@example.org", MESSAGE)
    assert server.messages == [MESSAGE + b".\r\n"]
    assert server.connections == 2


@pytest.mark.parametrize(
    "script, stage",
    [
        (Script(mail=b"421 4.3.2 Service shutting down", close_after="mail"), Stage.MAIL_FROM),
        (Script(rcpt=b"450 4.7.1 too much mail", close_after="rcpt"), Stage.RCPT),
    ],
)
def test_a_4xx_drops_the_connection_and_the_next_message_reconnects(pipe_server, script, stage):
    server = pipe_server(script, Script())
    with transport(server.port) as t:
        with pytest.raises(SmtpFailure) as info:
            t.send("weekly@example.org", "reader@example.org", MESSAGE)
        assert info.value.stage == stage and 400 <= (info.value.code or 0) < 500
        t.send("weekly@example.org", "second@example.org", MESSAGE)
    assert server.connections == 2
    assert server.messages == [MESSAGE + b".\r\n"]


def test_a_hang_up_after_mail_is_lost_at_rcpt(pipe_server):
    server = pipe_server(Script(close_after="mail"))
    with transport(server.port) as t, pytest.raises(SmtpFailure) as info:
        t.send("weekly@example.org", "reader@example.org", MESSAGE)
    assert info.value.stage == Stage.RCPT and info.value.code is None
    assert "connection lost" in info.value.text


def test_without_pipelining_the_commands_wait_for_their_answers(pipe_server):
    server = pipe_server(Script(), Script(rcpt=b"550 5.1.1 User unknown"), pipelining=False)
    with transport(server.port) as t:
        t.send("weekly@example.org", "reader@example.org", MESSAGE)
        with pytest.raises(SmtpFailure) as info:
            t.send("weekly@example.org", "second@example.org", MESSAGE)
    assert (info.value.stage, info.value.code) == (Stage.RCPT, 550)
    assert server.messages == [MESSAGE + b".\r\n"]


class Announcing(Scripted):
    """aiosmtpd reads commands one after another whatever the client does; this one also
    says PIPELINING in its EHLO answer, as Postfix does."""

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]


@pytest.mark.parametrize(
    "where, answer, stage",
    [
        ("mail", "553 5.7.1 Sender address rejected: not owned by user", Stage.MAIL_FROM),
        ("rcpt", "550 5.1.1 Recipient address rejected: User unknown", Stage.RCPT),
        ("data", "554 5.3.4 Message too big for system", Stage.DATA),
    ],
)
def test_aiosmtpd_announcing_pipelining(where, answer, stage):
    refusing = Announcing(**{where: answer})
    port = free_port()
    controller = Controller(refusing, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with transport(port) as t:
            t.connect()
            assert t._open().has_extn("pipelining")
            with pytest.raises(SmtpFailure) as info:
                t.send("weekly@example.org", "reader@example.org", MESSAGE)
            code, _, text = answer.partition(" ")
            assert (info.value.stage, info.value.code, info.value.text) == (stage, int(code), text)
            setattr(refusing, where, None)
            t.send("weekly@example.org", "second@example.org", MESSAGE)
    finally:
        controller.stop()
    assert [(r.mail_from, r.rcpt_tos, r.data) for r in refusing.received][-1] == (
        "weekly@example.org",
        ["second@example.org"],
        MESSAGE,
    )


def test_real_postfix_pipelined_refusals_and_a_delivery_on_one_connection(postfix):
    settings = SmtpSettings(
        postfix.host, postfix.port, username=postfix.login[0], password=postfix.login[1]
    )
    reader = f"pipe-{uuid.uuid4().hex[:8]}"
    mid = f"<{uuid.uuid4().hex}@news.test>"
    message = (
        f"From: {postfix.sender}\r\nTo: {postfix.address(reader)}\r\nSubject: pipelined\r\n"
        f"Message-ID: {mid}\r\n\r\nhello\r\n"
    ).encode()
    with SmtpTransport(settings) as t:
        t.connect()
        assert t._open().has_extn("pipelining")
        with pytest.raises(SmtpFailure) as refused_sender:
            t.send(f"weekly+12-3f9a0c1b2d@{postfix.domain}", postfix.address(reader), message)
        with pytest.raises(SmtpFailure) as unknown:
            t.send(postfix.sender, postfix.address("nobody-" + uuid.uuid4().hex[:6]), message)
        answer = t.send(postfix.sender, postfix.address(reader), message)
    assert (refused_sender.value.stage, refused_sender.value.code) == (Stage.MAIL_FROM, 553)
    assert "not owned by user weekly" in refused_sender.value.text
    assert (unknown.value.stage, unknown.value.code) == (Stage.RCPT, 550)
    assert "User unknown" in unknown.value.text
    assert answer.startswith("250") and "queued as" in answer
    [got] = postfix.wait_for_messages(reader, 1)
    assert got["Message-ID"] == mid and got.get_content().strip() == "hello"
