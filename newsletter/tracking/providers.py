"""Delivery and bounce events pushed by sending services, made into the reports the bounce
intake applies (the same classification and suppression path as a DSN).

Two shapes are accepted, each authenticated with a secret of its own:

* **DirectMail style** (阿里云邮件推送 events as CloudEvents JSON, one object or a list):
  `{"id": "…", "type": "dm:Deliver:Fail", "data": {"rcpt": "a@b.cn", "err_code": "554",
  "err_msg": "…", "failed_type": "SmtpNxBox", "header": {"X-Notify-Message-ID": "…"}}}`;
  types `dm:Deliver:Fail`, `dm:Deliver:Succeed`, `dm:Feedback:FblReport`,
  `dm:Feedback:UnSubscribe`. Signed by the header `X-Webhook-Signature: sha256=<hex
  HMAC-SHA256 of the body with DIRECTMAIL_WEBHOOK_SECRET>`.
* **SendCloud style** (form fields): `event` (deliver, invalid, soft_bounce, report_spam,
  unsubscribe), `recipient`, `emailId`, `subStat`, `subStatDesc`, `message`, `userHeaders`,
  `timestamp`, `token`, `signature` = hex HMAC-SHA256 of `timestamp + token` with
  SENDCLOUD_WEBHOOK_KEY (SendCloud's APP KEY); a timestamp older than an hour is refused.

The delivery is found from our Message-ID or `X-Newsletter-Bounce` address when the event
carries it (custom headers echoed back), else from the recipient's latest delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass
from typing import NotRequired, TypedDict

from sqlalchemy.orm import Session

from newsletter.delivery.classify import classify_dsn
from newsletter.tracking.bounces import _MSGID_RE, _VERPISH_RE, RecipientStatus, Report
from newsletter.tracking.links import TrackingSettings

MAX_AGE_SECONDS = 3600


class EventError(ValueError):
    """Not an event we accept; `status` is the HTTP answer (400 malformed, 403 signature)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass
class ProviderEvent:
    provider: str
    kind: str  # bounce | complaint | unsubscribe | delivered
    recipient: str
    report: Report | None  # for bounce / complaint
    event_id: str


def _expect(secret: str, given: str, message: bytes) -> None:
    if not secret:
        raise EventError("this webhook is not configured", 404)
    expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, (given or "").strip().lower()):
        raise EventError("bad or missing signature", 403)


# Message-IDs and VERP-like addresses quoted in an event: where its delivery may be named.
_Refs = tuple[list[str], list[str]]


def _references(*texts: str) -> _Refs:
    blob = " ".join(t for t in texts if t)
    return _MSGID_RE.findall(blob), _VERPISH_RE.findall(blob)


def _bounce(
    provider: str,
    event_id: str,
    rcpt: str,
    status: str,
    diagnostic: str,
    refs: _Refs,
) -> ProviderEvent:
    action = "failed"
    recipient = RecipientStatus(
        rcpt, action, status, diagnostic[:400], classify_dsn(action, status, diagnostic)
    )  # the one classifier
    report = Report(
        "dsn",
        recipients=[recipient],
        message_ids=refs[0],
        addresses=refs[1],
        report_id=f"{provider}:{event_id}",
    )
    return ProviderEvent(provider, "bounce", rcpt, report, event_id)


def _complaint(provider: str, event_id: str, rcpt: str, refs: _Refs) -> ProviderEvent:
    report = Report(
        "arf",
        feedback_type="abuse",
        original_rcpt=rcpt,
        message_ids=refs[0],
        addresses=refs[1],
        report_id=f"{provider}:{event_id}",
    )
    return ProviderEvent(provider, "complaint", rcpt, report, event_id)


# --- DirectMail ---------------------------------------------------------------------------

# failed_type values that mean the mailbox or its domain does not exist.
_DM_GONE = {
    "smtpnxbox": "5.1.1",
    "smtpnxdomain": "5.1.2",
    "nxbox": "5.1.1",
    "nxdomain": "5.1.2",
    "invalidaddress": "5.1.3",
}


def directmail(body: bytes, signature: str, secret: str) -> list[ProviderEvent]:
    _expect(secret, signature.removeprefix("sha256="), body)
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise EventError(f"body is not JSON: {exc}") from exc
    items = payload if isinstance(payload, list) else [payload]
    if not items or len(items) > 1000:
        raise EventError("expected 1 to 1000 events")
    return [_directmail_one(n, item) for n, item in enumerate(items)]


def _directmail_one(n: int, item: object) -> ProviderEvent:
    if not isinstance(item, dict) or not isinstance(item.get("data"), dict):
        raise EventError(f"event {n}: needs an object with 'type' and 'data'")
    data, kind = item["data"], str(item.get("type") or item["data"].get("event") or "")
    rcpt = str(data.get("rcpt") or "").strip().lower()
    if "@" not in rcpt:
        raise EventError(f"event {n}: data.rcpt is not an address")
    event_id = str(item.get("id") or data.get("env_id") or "")[:100]
    if not event_id:
        raise EventError(f"event {n}: needs an id")
    header = data.get("header") if isinstance(data.get("header"), dict) else {}
    refs = _references(*(str(v) for v in header.values()), str(data.get("msg_id") or ""))
    if kind == "dm:Deliver:Fail":
        failed = str(data.get("failed_type") or "").lower()
        code = str(data.get("err_code") or "")
        status = (
            _DM_GONE.get(failed)
            or _status_in(str(data.get("err_msg") or ""))
            or (f"{code[0]}.0.0" if code[:1] in ("4", "5") else "5.0.0")
        )
        return _bounce(
            "directmail",
            event_id,
            rcpt,
            status,
            f"{code} {data.get('err_msg') or ''} ({data.get('failed_type') or '-'})",
            refs,
        )
    if kind == "dm:Feedback:FblReport":
        return _complaint("directmail", event_id, rcpt, refs)
    if kind == "dm:Feedback:UnSubscribe":
        return ProviderEvent("directmail", "unsubscribe", rcpt, None, event_id)
    if kind in ("dm:Deliver:Succeed", "dm:Trace:Open", "dm:Trace:Click", "dm:Feedback:Subscribe"):
        return ProviderEvent("directmail", "delivered", rcpt, None, event_id)
    raise EventError(f"event {n}: unknown type {kind!r}")


# --- SendCloud ----------------------------------------------------------------------------


def sendcloud(form: dict[str, str], key: str, now: float | None = None) -> ProviderEvent:
    timestamp, token = form.get("timestamp", ""), form.get("token", "")
    _expect(key, form.get("signature", ""), f"{timestamp}{token}".encode())
    try:
        sent = int(timestamp) / (1000 if len(timestamp) > 11 else 1)  # ms or s
    except ValueError as exc:
        raise EventError("timestamp is not a number") from exc
    if abs((now or time.time()) - sent) > MAX_AGE_SECONDS:
        raise EventError("timestamp too old: a replayed event?", 403)
    event = form.get("event", "")
    rcpt = (form.get("recipient") or "").strip().lower()
    if "@" not in rcpt:
        raise EventError("recipient is not an address")
    event_id = f"{form.get('emailId') or form.get('messageId') or ''}:{event}:{token}"[:200]
    refs = _references(
        form.get("userHeaders", ""), form.get("messageId", ""), form.get("message_id", "")
    )
    detail = f"{form.get('subStat', '')} {form.get('subStatDesc', '')} {form.get('message', '')}"
    if event == "invalid":  # SendCloud: the address does not exist / is invalid
        return _bounce("sendcloud", event_id, rcpt, "5.1.1", detail.strip(), refs)
    if event == "soft_bounce":  # refused by the receiving server: not the mailbox itself
        return _bounce(
            "sendcloud", event_id, rcpt, _status_in(detail) or "4.0.0", detail.strip(), refs
        )
    if event == "report_spam":
        return _complaint("sendcloud", event_id, rcpt, refs)
    if event == "unsubscribe":
        return ProviderEvent("sendcloud", "unsubscribe", rcpt, None, event_id)
    if event in ("deliver", "request", "open", "click", "route"):
        return ProviderEvent("sendcloud", "delivered", rcpt, None, event_id)
    raise EventError(f"unknown event {event!r}")


def _status_in(text: str) -> str | None:
    m = re.search(r"\b[45]\.\d{1,3}\.\d{1,3}\b", text)
    return m.group(0) if m else None


# --- applying an event ------------------------------------------------------------------


class Applied(TypedDict):
    """What `apply_event` did, as the webhook answers it (JSON)."""

    outcome: str  # dropped / ignored / unsubscribed, or the intake's outcome
    delivery_id: NotRequired[int | None]
    detail: NotRequired[str]
    suppressed: NotRequired[bool]


def apply_event(session: Session, settings: TrackingSettings, event: ProviderEvent) -> Applied:
    """The event through the bounce intake (or the unsubscribe service); idempotent."""
    from newsletter.tracking.intake import apply_report, find_delivery, latest_delivery_to

    delivery = None
    if event.report is not None:
        delivery = find_delivery(session, settings, event.report)
    delivery = delivery or latest_delivery_to(session, event.recipient)
    if delivery is None:
        return {"outcome": "dropped", "detail": "no delivery to this recipient"}
    if event.kind == "unsubscribe":
        from subscribers.service import unsubscribe_by_id

        done = delivery.subscriber_id is not None and unsubscribe_by_id(
            session, delivery.subscriber_id
        )
        return {"outcome": "unsubscribed" if done else "ignored", "delivery_id": delivery.id}
    if event.report is None:  # "delivered": only bounces and complaints carry a report
        return {"outcome": "ignored", "delivery_id": delivery.id}
    result = apply_report(session, settings, event.report, delivery, event.event_id.encode())
    return {
        "outcome": result.outcome,
        "delivery_id": result.delivery_id,
        "detail": result.detail,
        "suppressed": result.suppressed,
    }
