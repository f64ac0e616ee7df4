"""Reading bounce and complaint reports: pure functions of the raw message bytes.

* DSN (RFC 3464): `multipart/report; report-type=delivery-status` with a
  `message/delivery-status` part (one per-message block, then one block per recipient:
  Final-Recipient, Action, Status, Diagnostic-Code) and usually the original message or
  its headers (`message/rfc822`, `text/rfc822-headers`).
* ARF (RFC 5965): `multipart/report; report-type=feedback-report` with a
  `message/feedback-report` part (Feedback-Type, Original-Rcpt-To, ...) and the original
  message or its headers.

* Anything else that a big provider sends instead (Sina, Yahoo, Exchange, qmail, Postfix
  without a report, ...): `flufl.bounce`, Mailman's detectors, finds the failed recipients
  (`parse_nonstandard`, kind "nonstandard"); the original message is then found from any
  Message-ID or `X-Newsletter-Bounce` address quoted in the text.

Anything else raises `BounceParseError`: the callers log it and drop the message.
"""

from __future__ import annotations

import email
import re
from dataclasses import dataclass, field
from email.message import Message
from email.parser import HeaderParser
from email.utils import collapse_rfc2231_value

from newsletter.delivery.classify import Classification, Verdict, classify_detected, classify_dsn

# Reports are parsed with the email package's default policy, compat32 (the parsers' default,
# not passed): naming `email.policy` would load its header registry and content manager,
# ~0.3 MiB in every send worker, which imports this module for REF_HEADER (issue 16).

# What a report says about one recipient, as the intake and the reports name it
# (TrackedEvent.bounce): the classifier's verdict in a word.
HARD, SOFT, DELAY, MESSAGE, RELAY = "hard", "soft", "delay", "message", "relay"
KLASS = {
    Verdict.HARD_BOUNCE: HARD,
    Verdict.SOFT_BOUNCE: SOFT,
    Verdict.TRANSIENT: DELAY,
    Verdict.MESSAGE: MESSAGE,
    Verdict.RELAY: RELAY,
    Verdict.DELIVERED: None,
}

_MSGID_RE = re.compile(r"<[^<>\s]+@[^<>\s]+>")
# Every message we send names its delivery in this header (the signed VERP address), so a
# bounce that quotes the original headers is matched even when the envelope was fixed.
REF_HEADER = "X-Newsletter-Bounce"
_VERPISH_RE = re.compile(r"[\w.+-]+\+b[1-9][0-9]{0,11}-[0-9a-f]{10}@[\w.-]+", re.IGNORECASE)


class BounceParseError(ValueError):
    """The message is not a report we can read; the text says what was wrong."""


@dataclass
class RecipientStatus:
    recipient: str
    action: str
    status: str
    diagnostic: str
    classification: Classification  # from the one classifier (delivery/classify.py)

    @property
    def klass(self) -> str | None:
        """hard / soft / delay / message / relay, or None: not a failure (delivered)."""
        return KLASS[self.classification.verdict]


@dataclass
class Report:
    kind: str  # "dsn", "arf" or "nonstandard"
    recipients: list[RecipientStatus] = field(default_factory=list)
    feedback_type: str = ""  # ARF only
    original_rcpt: str = ""  # ARF Original-Rcpt-To
    message_ids: list[str] = field(default_factory=list)  # of the original message
    addresses: list[str] = field(default_factory=list)  # where a VERP address may be
    report_id: str = ""  # the report's own Message-ID, for dedup

    @property
    def worst(self) -> RecipientStatus | None:
        """The recipient status that matters most: hard, soft, message, relay, then delay."""
        order = {HARD: 0, SOFT: 1, MESSAGE: 2, RELAY: 3, DELAY: 4}
        failing = [(order[k], r) for r in self.recipients if (k := r.klass)]
        return min(failing, key=lambda pair: pair[0])[1] if failing else None


def parse(raw: bytes) -> Report:
    """Read a DSN or an ARF report; BounceParseError for anything else."""
    if not raw or not raw.strip():
        raise BounceParseError("empty message")
    try:
        msg = email.message_from_bytes(raw)
    except Exception as exc:  # the parser is lenient; this is belt and braces
        raise BounceParseError(f"unreadable message: {exc}") from exc
    if msg.get_content_type() != "multipart/report" or not msg.is_multipart():
        raise BounceParseError(f"not a report: Content-Type {msg.get_content_type()}")
    # An RFC 2231 parameter comes back as a (charset, language, value) triple: collapse it.
    report_type = collapse_rfc2231_value(msg.get_param("report-type") or "").lower()
    parts = list(msg.walk())
    originals = [
        p
        for p in parts
        if p.get_content_type()
        in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers")
    ]
    original = _original_headers(originals[0]) if originals else None
    report_id = " ".join((msg.get("Message-ID") or "").split())[:200]
    outer_addrs = [
        msg.get(h, "")
        for h in ("To", "Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To")
    ]
    orig_addrs = (
        [original.get(h, "") for h in ("Return-Path", "Sender", "X-Envelope-From", REF_HEADER)]
        if original is not None
        else []
    )
    message_ids = _MSGID_RE.findall(original.get("Message-ID", "")) if original is not None else []

    if report_type == "delivery-status":
        status_part = next(
            (p for p in parts if p.get_content_type() == "message/delivery-status"), None
        )
        if status_part is None:
            raise BounceParseError("delivery-status report without a message/delivery-status part")
        recipients = _recipients(status_part)
        if not recipients:
            raise BounceParseError("delivery-status part names no recipient with an Action")
        return Report(
            "dsn",
            recipients=recipients,
            message_ids=message_ids,
            addresses=[a for a in outer_addrs + orig_addrs if a],
            report_id=report_id,
        )
    if report_type == "feedback-report":
        fb_part = next(
            (p for p in parts if p.get_content_type() == "message/feedback-report"), None
        )
        fields = _feedback_fields(fb_part) if fb_part is not None else None
        if not fields or not fields.get("feedback-type"):
            raise BounceParseError("feedback report without a Feedback-Type")
        rcpt = fields.get("original-rcpt-to", "")
        return Report(
            "arf",
            feedback_type=fields["feedback-type"].strip().lower()[:32],
            original_rcpt=_strip_addr(rcpt),
            message_ids=message_ids,
            addresses=[
                a for a in outer_addrs + orig_addrs + [fields.get("original-mail-from", "")] if a
            ],
            report_id=report_id,
        )
    raise BounceParseError(f"unknown report-type {report_type!r}")


def parse_any(raw: bytes) -> Report:
    """`parse`, and when the message is no RFC report, Mailman's detectors."""
    try:
        return parse(raw)
    except BounceParseError as exc:
        if not raw or not raw.strip():
            raise
        try:
            return parse_nonstandard(raw)
        except BounceParseError:
            raise exc from None


def parse_nonstandard(raw: bytes) -> Report:
    """A provider's own bounce format, read by flufl.bounce; BounceParseError if none fits."""
    from flufl.bounce import all_failures

    msg = email.message_from_bytes(raw)
    if (msg.get("Auto-Submitted") or "").lower().startswith("auto-replied"):
        raise BounceParseError("an auto-reply, not a bounce")
    try:
        temporary, permanent = all_failures(msg)
    except Exception as exc:  # a detector choking on odd input: not a bounce we can read
        raise BounceParseError(f"bounce detectors failed: {exc}") from exc
    recipients = []
    # flufl.bounce declares bytes, but some of its detectors (postfix, microsoft, groupwise,
    # ...) add str: decode before sorting, since bytes and str do not compare.
    found_by_klass: tuple[tuple[str, frozenset[bytes | str]], ...] = (
        (HARD, permanent),
        (SOFT, temporary - permanent),
    )
    for klass, found in found_by_klass:
        for addr in sorted({_strip_addr(_text(a)) for a in found}):
            if "@" in addr:
                diagnostic = (
                    f"non-standard bounce ({'permanent' if klass == HARD else 'temporary'})"
                )
                recipients.append(
                    RecipientStatus(
                        addr,
                        "failed",
                        "5.0.0" if klass == HARD else "4.0.0",
                        diagnostic,
                        classify_detected(klass == HARD, diagnostic),
                    )
                )
    if not recipients:
        raise BounceParseError("no bounce detector recognised the message")
    text = raw.decode("utf-8", "replace")
    for part in msg.walk():  # quoted originals may be base64 or quoted-printable
        body = _decoded_body(part)
        if body:
            text += "\n" + body.decode("utf-8", "replace")
    own_id = " ".join((msg.get("Message-ID") or "").split())
    ids = [m for m in dict.fromkeys(_MSGID_RE.findall(text)) if m != own_id]
    return Report(
        "nonstandard",
        recipients=recipients,
        message_ids=ids[:50],
        addresses=list(dict.fromkeys(_VERPISH_RE.findall(text)))[:20],
        report_id=own_id[:200],
    )


def _original_headers(part: Message) -> Message | None:
    payload = part.get_payload()
    if isinstance(payload, list):  # message/rfc822: already parsed
        return payload[0] if payload and isinstance(payload[0], Message) else None
    if isinstance(payload, str):  # text/rfc822-headers: parse the text
        try:
            body = _decoded_body(part)
            return HeaderParser().parsestr(body.decode("utf-8", "replace"))
        except (ValueError, LookupError, TypeError):
            return None
    return None


def _decoded_body(part: Message) -> bytes:
    """A leaf part's body with its transfer encoding undone; b"" for a multipart."""
    body = part.get_payload(decode=True)
    # decode=True gives bytes for a leaf part, None for a multipart one.
    return body if isinstance(body, bytes) else b""


def _recipients(part: Message) -> list[RecipientStatus]:
    payload = part.get_payload()
    blocks: list[Message]
    if isinstance(payload, str):  # unusual encodings leave the blocks as text
        blocks = _blocks_from_text(_decoded_body(part))
    elif isinstance(payload, list):
        blocks = [b for b in payload if isinstance(b, Message)]
    else:
        blocks = []
    out = []
    for block in blocks[1:] if len(blocks) > 1 else blocks:  # first: per-message fields
        action = " ".join((block.get("Action") or "").split())
        recipient = _strip_addr(
            block.get("Final-Recipient") or block.get("Original-Recipient") or ""
        )
        if not action or not recipient:
            continue
        status = " ".join((block.get("Status") or "").split())[:32]
        diagnostic = " ".join((block.get("Diagnostic-Code") or "").split())[:400]
        out.append(
            RecipientStatus(
                recipient,
                action.lower(),
                status,
                diagnostic,
                classify_dsn(action, status, diagnostic),
            )
        )
    return out


def _blocks_from_text(body: bytes) -> list[Message]:
    text = body.decode("utf-8", "replace").replace("\r\n", "\n")
    return [HeaderParser().parsestr(chunk) for chunk in re.split(r"\n\s*\n", text) if chunk.strip()]


def _feedback_fields(part: Message) -> dict[str, str]:
    payload = part.get_payload()
    block = payload[0] if isinstance(payload, list) and payload else None
    if block is None and isinstance(payload, str):
        block = HeaderParser().parsestr(payload.lstrip())
    if not isinstance(block, Message):
        return {}
    return {k.lower(): " ".join(str(v).split()) for k, v in block.items()}


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _strip_addr(value: str) -> str:
    """'rfc822; a@b.c' or '<a@b.c>' -> 'a@b.c' (lower-cased)."""
    value = value.split(";", 1)[1] if ";" in value else value
    return value.strip().strip("<>").strip().lower()[:320]
