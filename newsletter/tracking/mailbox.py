"""The mailbox poller: bounces and unsubscribe mail read over IMAP or POP3.

With a fixed envelope sender (hosted relays demand one) bounces come back as mail to that
address, not to a VERP address we serve. `poll()` logs into that mailbox
(`BOUNCE_MAILBOX_URL`, e.g. `imaps://user:pass@host:993/INBOX` or `pop3s://user:pass@host`),
reads what is waiting and hands each message to:

* the bounce intake (`intake.ingest`: RFC 3464 DSNs, ARF complaints, and the non-standard
  bounces of big providers via flufl.bounce), matched to a delivery by the original
  Message-ID or our `X-Newsletter-Bounce` header, then the one suppression path;
* the unsubscribe path when the mail is written to the List-Unsubscribe `mailto:`
  (`UNSUBSCRIBE_MAILTO`): the signed token in its subject, or else the sender's address,
  names the subscriber, who is unsubscribed.

Then it files the message away: IMAP moves it to `BOUNCE_MAILBOX_FOLDER` (unmatched ones
flagged), POP3 deletes it — always after the database commit. A crash between the commit
and the move leaves the message in place; reading it again changes nothing, because every
intake outcome is idempotent (bounces and complaints are keyed by the report, an
unsubscribe twice is one). A message that failed on our side (the database) stays to be
read next time. TLS is always on and verified (`BOUNCE_MAILBOX_CA_FILE` for a private CA):
`imap://` and `pop3://` must upgrade with STARTTLS/STLS.
"""

from __future__ import annotations

import email
import email.header
import imaplib
import logging
import poplib
import re
import ssl
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from email import policy
from email.message import Message
from email.utils import getaddresses, parseaddr
from typing import Protocol, Self
from urllib.parse import unquote, urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.config import settle
from newsletter.tracking.intake import ingest
from newsletter.tracking.links import TrackingSettings

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"imaps": 993, "imap": 143, "pop3s": 995, "pop3": 110}
# "unsubscribe <token>" in the subject (what our List-Unsubscribe mailto pre-fills).
_TOKEN_RE = re.compile(r"(?:unsubscribe|退订)\s+([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-.]+)", re.I)


class MailboxError(Exception):
    """The mailbox cannot be read as configured; the message says what to change."""


@dataclass(frozen=True)
class MailboxUrl:
    scheme: str
    host: str
    port: int
    username: str
    password: str
    folder: str = "INBOX"

    @property
    def imap(self) -> bool:
        return self.scheme.startswith("imap")

    def __str__(self) -> str:  # never the password
        return f"{self.scheme}://{self.username}@{self.host}:{self.port}/{self.folder}"


def parse_url(url: str) -> MailboxUrl:
    """`imaps://user:pass@host[:port][/FOLDER]` or `pop3s://…` (imap/pop3 upgrade with TLS)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise MailboxError(f"mailbox URL is malformed: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise MailboxError(
            f"mailbox URL scheme must be one of {', '.join(DEFAULT_PORTS)}, "
            f"not {scheme or '(none)'!r}"
        )
    if not parts.hostname or not parts.username:
        raise MailboxError("mailbox URL needs a user and a host: scheme://user:pass@host")
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    return MailboxUrl(
        scheme,
        parts.hostname,
        port or DEFAULT_PORTS[scheme],
        unquote(parts.username),
        unquote(parts.password or ""),
        folder,
    )


@dataclass(frozen=True)
class MailboxSettings:
    url: MailboxUrl
    ca_file: str = ""
    done_folder: str = "Processed"
    limit: int = 500
    timeout: float = 30.0
    unsubscribe_address: str = ""
    max_bytes: int = 2 * 1024 * 1024  # BOUNCE_MAX_BYTES: bigger messages are not parsed

    @classmethod
    def from_config(cls, config: Mapping[str, object], url: str | None = None) -> MailboxSettings:
        config = settle(config)
        raw = url if url is not None else config["BOUNCE_MAILBOX_URL"]
        if not raw:
            raise MailboxError("BOUNCE_MAILBOX_URL is not set")
        return cls(
            parse_url(raw),
            ca_file=config["BOUNCE_MAILBOX_CA_FILE"],
            done_folder=config["BOUNCE_MAILBOX_FOLDER"] or "Processed",
            limit=config["BOUNCE_POLL_LIMIT"],
            timeout=config["SMTP_TIMEOUT"],
            unsubscribe_address=parseaddr(config["UNSUBSCRIBE_MAILTO"])[1].lower(),
            max_bytes=config["BOUNCE_MAX_BYTES"],
        )


def tls_context(ca_file: str = "") -> ssl.SSLContext:
    """Verified TLS (host name and chain), trusting `ca_file` when given."""
    try:
        return ssl.create_default_context(cafile=ca_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise MailboxError(f"cannot read the CA file {ca_file!r}: {exc}") from exc


# --- the two protocols ----------------------------------------------------------------


class Mailbox(Protocol):
    """What `poll` needs of a mailbox, opened by `with`: its messages, and filing one away."""

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...

    def messages(self) -> Iterator[tuple[str, bytes]]:
        """(id, raw message) of each waiting message, up to the poll limit."""
        ...

    def file(self, uid: str, matched: bool) -> None:
        """Done with this message: move it away (IMAP) or delete it (POP3)."""
        ...


class ImapBox:
    """IMAP: read the folder, move what was handled to the done folder."""

    def __init__(self, settings: MailboxSettings):
        self.s = settings
        self.conn: imaplib.IMAP4 | None = None
        self._has_move = False

    @property
    def _conn(self) -> imaplib.IMAP4:
        if self.conn is None:
            raise RuntimeError("the IMAP box is used outside its `with` block")
        return self.conn

    def __enter__(self) -> ImapBox:
        u, ctx = self.s.url, tls_context(self.s.ca_file)
        if u.scheme == "imaps":
            self.conn = imaplib.IMAP4_SSL(u.host, u.port, ssl_context=ctx, timeout=self.s.timeout)
        else:
            self.conn = imaplib.IMAP4(u.host, u.port, timeout=self.s.timeout)
            self.conn.starttls(ssl_context=ctx)  # refused or unverified: no login in clear
        self.conn.login(u.username, u.password)
        self._has_move = "MOVE" in self.conn.capabilities
        typ, data = self.conn.select(_quote(u.folder))
        if typ != "OK":
            raise MailboxError(f"IMAP folder {u.folder!r}: {_text(data)}")
        self.conn.create(_quote(self.s.done_folder))  # NO when it exists: fine
        return self

    def messages(self) -> Iterator[tuple[str, bytes]]:
        typ, data = self._conn.uid("SEARCH", "UNDELETED")
        found = data[0] if typ == "OK" and data else None
        uids = found.decode().split() if isinstance(found, bytes) else []
        for uid in uids[: self.s.limit]:
            typ, parts = self._conn.uid("FETCH", uid, "(BODY.PEEK[])")
            # A fetched body comes as a (b"1 (UID 7 BODY[] {n}", body) pair among the lines.
            raw = next((p[1] for p in parts or [] if isinstance(p, tuple)), None)
            if typ == "OK" and raw:
                yield uid, raw

    def file(self, uid: str, matched: bool) -> None:
        if not matched:
            self._conn.uid("STORE", uid, "+FLAGS", "(\\Flagged)")
        folder = _quote(self.s.done_folder)
        if self._has_move:
            typ, data = self._conn.uid("MOVE", uid, folder)
        else:
            typ, data = self._conn.uid("COPY", uid, folder)
            if typ == "OK":
                self._conn.uid("STORE", uid, "+FLAGS", "(\\Deleted)")
        if typ != "OK":
            raise MailboxError(
                f"cannot file message {uid} into {self.s.done_folder!r}: {_text(data)}"
            )

    def __exit__(self, *exc: object) -> None:
        if self.conn is None:
            return
        try:
            if not self._has_move:
                self.conn.expunge()
            self.conn.logout()
        except (imaplib.IMAP4.error, OSError):
            pass


class Pop3Box:
    """POP3: read every message, delete the handled ones (applied at QUIT)."""

    def __init__(self, settings: MailboxSettings):
        self.s = settings
        self.conn: poplib.POP3 | None = None

    @property
    def _conn(self) -> poplib.POP3:
        if self.conn is None:
            raise RuntimeError("the POP3 box is used outside its `with` block")
        return self.conn

    def __enter__(self) -> Pop3Box:
        u, ctx = self.s.url, tls_context(self.s.ca_file)
        if u.scheme == "pop3s":
            self.conn = poplib.POP3_SSL(u.host, u.port, context=ctx, timeout=self.s.timeout)
        else:
            self.conn = poplib.POP3(u.host, u.port, timeout=self.s.timeout)
            self.conn.stls(context=ctx)
        self.conn.user(u.username)
        self.conn.pass_(u.password)
        return self

    def messages(self) -> Iterator[tuple[str, bytes]]:
        _, listing, _ = self._conn.list()
        for line in listing[: self.s.limit]:
            number = line.split()[0].decode()
            _, lines, _ = self._conn.retr(number)
            yield number, b"\r\n".join(lines) + b"\r\n"

    def file(self, number: str, matched: bool) -> None:
        self._conn.dele(number)

    def __exit__(self, *exc: object) -> None:
        if self.conn is None:
            return
        try:
            self.conn.quit()  # the deletions take effect only now
        except (poplib.error_proto, OSError):
            pass


def open_mailbox(settings: MailboxSettings) -> Mailbox:
    return ImapBox(settings) if settings.url.imap else Pop3Box(settings)


# --- what one message means --------------------------------------------------------------


def handle_message(
    session: Session, raw: bytes, tracking: TrackingSettings, unsubscribe_address: str = ""
) -> str:
    """Apply one message from the mailbox; returns the outcome (idempotent)."""
    msg = email.message_from_bytes(raw, policy=policy.compat32)
    if _is_unsubscribe_request(msg, tracking, unsubscribe_address):
        return unsubscribe_from_mail(session, msg, tracking)
    return ingest(session, raw, tracking, source="mailbox").outcome


def _is_unsubscribe_request(msg: Message, tracking: TrackingSettings, address: str) -> bool:
    if msg.get_content_type() == "multipart/report":
        return False
    sender = parseaddr(msg.get("From", ""))[1].lower()
    if sender.split("@")[0] in {"mailer-daemon", "postmaster", ""}:
        return False
    if address and address in _recipients(msg):
        return True
    return _subject_token(msg, tracking) is not None


def _recipients(msg: Message) -> set[str]:
    values = [
        str(v)
        for h in ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To")
        for v in msg.get_all(h, [])
    ]
    return {a.lower() for _, a in getaddresses(values) if a}


def _subject_token(msg: Message, tracking: TrackingSettings) -> int | None:
    from subscribers import tokens

    subject = str(email.header.make_header(email.header.decode_header(msg.get("Subject", ""))))
    for token in _TOKEN_RE.findall(subject):
        try:
            return tokens.read_token(tracking.secret_key, tokens.UNSUBSCRIBE, token)
        except tokens.TokenError:
            continue
    return None


def unsubscribe_from_mail(session: Session, msg: Message, tracking: TrackingSettings) -> str:
    """The token in the subject names the subscriber; without one, the From address does."""
    from subscribers.models import Subscriber
    from subscribers.service import unsubscribe_by_id

    if (msg.get("Auto-Submitted") or "no").strip().lower() != "no":
        return "ignored"  # a vacation reply, not a person asking
    subscriber_id = _subject_token(msg, tracking)
    if subscriber_id is None:
        sender = parseaddr(msg.get("From", ""))[1].strip().lower()
        subscriber_id = session.scalar(select(Subscriber.id).where(Subscriber.email == sender))
    if subscriber_id is None or not unsubscribe_by_id(session, subscriber_id):
        log.warning("mailbox: unsubscribe mail from an unknown sender dropped")
        return "dropped"
    return "unsubscribed"


# --- one poll -------------------------------------------------------------------------


def poll(session: Session, settings: MailboxSettings, tracking: TrackingSettings) -> dict[str, int]:
    """Read the mailbox once; returns the outcome counts (and `errors`: left for next time)."""
    counts: Counter[str] = Counter()
    try:
        with open_mailbox(settings) as box:
            for uid, raw in box.messages():
                if len(raw) > settings.max_bytes:  # the same cap as every bounce intake edge
                    log.warning(
                        "mailbox: message %s of %d bytes not parsed (BOUNCE_MAX_BYTES)",
                        uid,
                        len(raw),
                    )
                    counts["too_large"] += 1
                    box.file(uid, matched=False)
                    continue
                try:
                    outcome = handle_message(session, raw, tracking, settings.unsubscribe_address)
                except Exception:  # our side failed (the database): keep the mail for later
                    session.rollback()
                    log.exception("mailbox: message %s kept for the next poll", uid)
                    counts["errors"] += 1
                    continue
                counts[outcome] += 1
                box.file(uid, matched=outcome not in {"dropped"})
    except ssl.SSLCertVerificationError as exc:
        raise MailboxError(
            f"{settings.url}: certificate not trusted ({exc.verify_message}); "
            f"set BOUNCE_MAILBOX_CA_FILE for a private CA"
        ) from exc
    except (imaplib.IMAP4.error, poplib.error_proto) as exc:
        raise MailboxError(f"{settings.url}: {_text([exc.args[0] if exc.args else exc])}") from exc
    except OSError as exc:
        raise MailboxError(f"{settings.url}: cannot connect: {exc}") from exc
    return dict(counts)


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(data: object) -> str:
    """A server's answer (bytes, or a list of them) as a short line for an error message."""
    items = data if isinstance(data, (list, tuple)) else [data]
    return " ".join(
        d.decode("utf-8", "replace") if isinstance(d, bytes) else str(d)
        for d in items
        if d is not None
    )[:300]
