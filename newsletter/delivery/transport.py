"""SMTP transport: one reusable connection, failures reported by stage. The only smtplib import.

The transport knows nothing about sends or deliveries: it hands bytes to a server and, when
that fails, raises `SmtpFailure` naming the stage (connect, tls, auth, mail_from, rcpt, data)
with the server's full answer; `classify` decides what the failure means. After DATA it
returns the server's 250 answer (which carries the relay's queue id, `queued as 4Tb…`).
"""

from __future__ import annotations

import re
import smtplib
import ssl
from dataclasses import dataclass
from functools import cached_property

from newsletter.delivery.classify import Classification, Stage, classify_error, classify_smtp
from newsletter.delivery.message import WireBytes

SECURITY_MODES = ("none", "starttls", "ssl")


class SmtpFailure(Exception):
    """One failed hand-over: where it failed, and what the server said (if anything)."""

    def __init__(
        self, stage: Stage, code: int | None, text: str, cause: BaseException | None = None
    ):
        self.stage, self.code, self.text, self.cause = Stage(stage), code, text[:500], cause
        super().__init__(f"{stage}: {code} {text}" if code else f"{stage}: {text}")

    @cached_property
    def classification(self) -> Classification:
        if self.code is None and self.cause is not None:
            return classify_error(self.stage, self.cause)
        return classify_smtp(self.stage, self.code, self.text)


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    security: str = "none"  # none | starttls | ssl (implicit TLS, usually port 465)
    ca_file: str | None = None  # certificates are always verified; this adds a trust anchor
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.security not in SECURITY_MODES:
            raise ValueError(
                f"SMTP_SECURITY must be one of {', '.join(SECURITY_MODES)}, not {self.security!r}"
            )

    @classmethod
    def from_config(cls, config) -> SmtpSettings:
        # The older switch still works when SMTP_SECURITY is not set.
        security = config["SMTP_SECURITY"] or ("starttls" if config["SMTP_STARTTLS"] else "none")
        return cls(
            host=config["SMTP_HOST"],
            port=config["SMTP_PORT"],
            username=config["SMTP_USERNAME"],
            password=config["SMTP_PASSWORD"],
            security=security,
            ca_file=config["SMTP_CA_FILE"] or None,
            timeout=config["SMTP_TIMEOUT"],
        )

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)


def _decode(msg: bytes | str) -> str:
    return msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)


_QUEUE_ID = re.compile(r"queued as\s+<?([A-Za-z0-9._@-]+)>?", re.IGNORECASE)


def queue_id(answer: str) -> str | None:
    """The relay's id for an accepted message, when its 250 answer names it."""
    m = _QUEUE_ID.search(answer or "")
    return m.group(1)[:100] if m else None


class SmtpTransport:
    """A lazily opened SMTP connection reused for many messages; reconnects when dropped."""

    def __init__(self, settings: SmtpSettings):
        self.settings = settings
        self._conn: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        stage = Stage.TLS if s.security == "ssl" else Stage.CONNECT
        conn: smtplib.SMTP | None = None
        try:
            if s.security == "ssl":
                conn = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=s.tls_context())
            else:
                conn = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            stage = Stage.CONNECT
            conn.ehlo()
            if s.security == "starttls":
                stage = Stage.TLS
                conn.starttls(context=s.tls_context())
                conn.ehlo()
            if s.username:
                stage = Stage.AUTH
                conn.login(s.username, s.password or "")
        except smtplib.SMTPResponseException as exc:
            _close_quietly(conn)
            raise SmtpFailure(stage, exc.smtp_code, _decode(exc.smtp_error), exc) from exc
        except (OSError, smtplib.SMTPException) as exc:  # refused, timeout, TLS, no AUTH
            _close_quietly(conn)
            if isinstance(exc, ssl.SSLError):
                stage = Stage.TLS
            elif conn is None and stage == Stage.TLS:
                stage = Stage.CONNECT  # implicit TLS: refused or unreachable before any TLS
            raise SmtpFailure(stage, None, f"{s.host}:{s.port}: {exc}", exc) from exc
        return conn

    def _open(self) -> smtplib.SMTP:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def connect(self) -> None:
        """Open the connection now (a probe: raises SmtpFailure as send would)."""
        self._open()

    def send(self, mail_from: str, rcpt: str, message: bytes) -> str:
        """Hand one message to the server; returns its answer to DATA (`250 …`).

        Raises SmtpFailure; after a failure the session is reset (or the connection
        dropped, when it is gone or the answer was 4xx), so the next call starts clean.
        When the server offers PIPELINING (RFC 2920), MAIL, RCPT and DATA go out in one
        write and their answers are read in order: a refusal still names its own stage.
        """
        conn = self._open()
        exchange = _Exchange(conn)
        try:
            code, resp = exchange.send(mail_from, rcpt, message)
            return f"{code} {_decode(resp)}"[:500]
        except smtplib.SMTPServerDisconnected as exc:
            self._drop()
            raise SmtpFailure(exchange.stage, None, f"connection lost: {exc}", exc) from exc
        except smtplib.SMTPResponseException as exc:
            if _drops(exc.smtp_code):
                self._drop()  # 421: the server is closing; for other 4xx start afresh
            else:
                self._reset()
            raise SmtpFailure(exchange.stage, exc.smtp_code, _decode(exc.smtp_error), exc) from exc
        except (TimeoutError, OSError) as exc:
            self._drop()
            raise SmtpFailure(exchange.stage, None, f"connection error: {exc}", exc) from exc

    def probe(self, mail_from: str, rcpt: str) -> str:
        """MAIL FROM and RCPT as a send would, then RSET: would the server take a message
        from `mail_from` to `rcpt`? Nothing is sent. Returns the RCPT answer; raises
        SmtpFailure (stage connect … rcpt) like `send` (relays check uses it)."""
        conn = self._open()
        stage = Stage.MAIL_FROM
        try:
            code, resp = conn.mail(mail_from)
            if code != 250:
                raise smtplib.SMTPResponseException(code, resp)
            stage = Stage.RCPT
            code, resp = conn.rcpt(rcpt)
            if code not in (250, 251):
                raise smtplib.SMTPResponseException(code, resp)
            conn.rset()
            return f"{code} {_decode(resp)}"[:500]
        except smtplib.SMTPServerDisconnected as exc:
            self._drop()
            raise SmtpFailure(stage, None, f"connection lost: {exc}", exc) from exc
        except smtplib.SMTPResponseException as exc:
            self._reset()
            raise SmtpFailure(stage, exc.smtp_code, _decode(exc.smtp_error), exc) from exc
        except OSError as exc:
            self._drop()
            raise SmtpFailure(stage, None, f"connection error: {exc}", exc) from exc

    def _reset(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.rset()
        except (OSError, smtplib.SMTPException):
            self._drop()

    def _drop(self) -> None:
        _close_quietly(self._conn)
        self._conn = None

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except (OSError, smtplib.SMTPException):
                self._conn.close()
            self._conn = None


def _close_quietly(conn: smtplib.SMTP | None) -> None:
    if conn is not None:
        try:
            conn.close()
        except OSError:
            pass


def _drops(code: int) -> bool:
    """After this answer the connection is dropped rather than reset (421, any 4xx)."""
    return code == 421 or 400 <= code < 500


# --- the hot path: what smtplib would do, without its per-message parsing ---------------
# Measured (bench/send.py and bench/wire.py, profiles of a worker): smtplib's data() runs two
# regular expressions over the whole message (line ends, then dot-stuffing) and
# mail()/rcpt() parse each address with email.utils. What message.py writes is already CRLF
# throughout, has no line starting with "." (base64 bodies, MIME headers) and says so by
# its type (WireBytes); other bytes that pass `wire_ready` (C-speed scans, ~0.25 ms per
# 110 KB) go out as they are too, plain addresses skip the parsing, and anything else takes
# smtplib's own path. The message and its terminating dot leave in one write: two writes
# are the write-write-read pattern that Nagle's algorithm and delayed ACKs can stall.
_PLAIN_ADDRESS = re.compile(r"[!#-;=?-~]+@[-.0-9A-Za-z]+")  # printable ASCII, no <> or space


def wire_ready(message: bytes) -> bool:
    """True when the bytes need neither line-end repair nor dot-stuffing for DATA."""
    if isinstance(message, WireBytes):
        return True
    crlf = message.count(b"\r\n")
    return (
        message.endswith(b"\r\n")
        and not message.startswith(b".")
        and b"\n." not in message
        and message.count(b"\n") == crlf
        and message.count(b"\r") == crlf
    )


class _Exchange:
    """One message's MAIL, RCPT and DATA on an open connection; `stage` is where it is
    (and so where a failure happened). Refusals raise smtplib.SMTPResponseException."""

    def __init__(self, conn: smtplib.SMTP):
        self.conn = conn
        self.stage = Stage.MAIL_FROM

    def send(self, mail_from: str, rcpt: str, message: bytes) -> tuple[int, bytes]:
        conn = self.conn
        plain = _PLAIN_ADDRESS.fullmatch(mail_from) and _PLAIN_ADDRESS.fullmatch(rcpt)
        ready = wire_ready(message)
        if plain and ready and conn.has_extn("pipelining"):
            return self._pipelined(mail_from, rcpt, message)
        self.stage = Stage.MAIL_FROM
        if plain:
            conn.putcmd("mail", f"FROM:<{mail_from}>")
            code, resp = conn.getreply()
        else:
            code, resp = conn.mail(mail_from)
        _expect(code, resp, 250)
        self.stage = Stage.RCPT
        if plain:
            conn.putcmd("rcpt", f"TO:<{rcpt}>")
            code, resp = conn.getreply()
        else:
            code, resp = conn.rcpt(rcpt)
        _expect(code, resp, 250, 251)
        self.stage = Stage.DATA
        if not ready:
            code, resp = conn.data(message)
            _expect(code, resp, 250)
            return code, resp
        conn.putcmd("data")
        code, resp = conn.getreply()
        _expect(code, resp, 354)
        return self._content(message)

    def _pipelined(self, mail_from: str, rcpt: str, message: bytes) -> tuple[int, bytes]:
        conn = self.conn
        conn.send(f"MAIL FROM:<{mail_from}>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n".encode("ascii"))
        self.stage = Stage.MAIL_FROM
        code, resp = conn.getreply()
        if code != 250:
            self._settle(code, 2)
            raise smtplib.SMTPResponseException(code, resp)
        self.stage = Stage.RCPT
        code, resp = conn.getreply()
        if code not in (250, 251):
            self._settle(code, 1)
            raise smtplib.SMTPResponseException(code, resp)
        self.stage = Stage.DATA
        code, resp = conn.getreply()
        _expect(code, resp, 354)
        return self._content(message)

    def _settle(self, code: int, pending: int) -> None:
        """After a refusal inside a pipelined group, read the answers still owed (RCPT's,
        DATA's) so that the RSET that follows lines up. A server that said 354 to DATA
        anyway is hung up on: a transaction without its final dot is void (RFC 5321), so
        nothing at all can reach anyone. A 4xx drops the connection, so nothing is read."""
        if _drops(code):
            return
        try:
            for _ in range(pending):
                last, _text = self.conn.getreply()
            if last == 354:
                self.conn.close()
        except (OSError, smtplib.SMTPException):
            self.conn.close()  # the reset then finds no connection and drops it

    def _content(self, message: bytes) -> tuple[int, bytes]:
        self.conn.send(message + b".\r\n")  # one copy (~5 µs per 110 KB), one write
        code, resp = self.conn.getreply()
        _expect(code, resp, 250)
        return code, resp


def _expect(code: int, resp: bytes, *ok: int) -> None:
    if code not in ok:
        raise smtplib.SMTPResponseException(code, resp)
