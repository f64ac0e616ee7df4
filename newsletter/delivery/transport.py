"""SMTP transport: one reusable connection, errors classified. The only smtplib import.

The transport knows nothing about sends or deliveries; it hands bytes to a server and
says whether a failure is worth retrying (`TransientError`) or not (`PermanentError`).
"""

from __future__ import annotations

import smtplib
import socket
from dataclasses import dataclass


class TransportError(Exception):
    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


class TransientError(TransportError):
    """4xx, timeouts, dropped connections: try again later."""


class PermanentError(TransportError):
    """5xx: this address will not take this message. `hard` means the address is bad."""

    def __init__(self, message: str, code: int | None = None, hard: bool = False):
        super().__init__(message, code)
        self.hard = hard


# Enhanced status codes (RFC 3463) that mean the mailbox itself is bad, not the message.
_HARD_CODES = {550, 551, 553}
_HARD_ENHANCED = ("5.1.", "5.2.1")


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 30.0

    @classmethod
    def from_config(cls, config) -> "SmtpSettings":
        return cls(
            host=config["SMTP_HOST"],
            port=config["SMTP_PORT"],
            username=config["SMTP_USERNAME"],
            password=config["SMTP_PASSWORD"],
            starttls=config["SMTP_STARTTLS"],
            timeout=config["SMTP_TIMEOUT"],
        )


def _decode(msg: bytes | str) -> str:
    return msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)


def classify(code: int, message: str) -> TransportError:
    text = f"{code} {message}"[:500]
    if 400 <= code < 500:
        return TransientError(text, code)
    hard = code in _HARD_CODES or any(message.startswith(p) for p in _HARD_ENHANCED)
    return PermanentError(text, code, hard=hard)


class SmtpTransport:
    """A lazily opened SMTP connection reused for many messages; reconnects when dropped."""

    def __init__(self, settings: SmtpSettings):
        self.settings = settings
        self._conn: smtplib.SMTP | None = None

    def __enter__(self) -> "SmtpTransport":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        try:
            conn = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            conn.ehlo()
            if s.starttls:
                conn.starttls()
                conn.ehlo()
            if s.username:
                conn.login(s.username, s.password or "")
        except smtplib.SMTPResponseException as exc:
            raise classify(exc.smtp_code, _decode(exc.smtp_error)) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientError(f"connect to {s.host}:{s.port} failed: {exc}") from exc
        return conn

    def send(self, mail_from: str, rcpt: str, message: bytes) -> str:
        """Hand one message to the server; returns the server's acceptance line.

        Raises TransientError or PermanentError; after a transient error the connection
        is dropped, so the next call starts clean.
        """
        if self._conn is None:
            self._conn = self._connect()
        conn = self._conn
        try:
            code, resp = conn.mail(mail_from)
            if code != 250:
                raise smtplib.SMTPResponseException(code, resp)
            code, resp = conn.rcpt(rcpt)
            if code not in (250, 251):
                raise smtplib.SMTPResponseException(code, resp)
            code, resp = conn.data(message)
            if code != 250:
                raise smtplib.SMTPResponseException(code, resp)
            return f"{code} {_decode(resp)}"[:500]
        except smtplib.SMTPServerDisconnected as exc:
            self._drop()
            raise TransientError(f"connection lost: {exc}") from exc
        except smtplib.SMTPResponseException as exc:
            error = classify(exc.smtp_code, _decode(exc.smtp_error))
            if exc.smtp_code == 421 or isinstance(error, TransientError):
                # 421 means the server is closing; for other 4xx a fresh session is safest.
                self._drop()
            else:
                self._reset()
            raise error from exc
        except (OSError, socket.timeout) as exc:
            self._drop()
            raise TransientError(f"connection error: {exc}") from exc

    def _reset(self) -> None:
        try:
            self._conn.rset()
        except (OSError, smtplib.SMTPException):
            self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except OSError:
                pass
            self._conn = None

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except (OSError, smtplib.SMTPException):
                self._conn.close()
            self._conn = None
