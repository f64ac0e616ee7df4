"""The send pipeline: its settings, a send's batches, what every message of a send shares.

Delivering a batch and recovering what no worker holds live in batch.py.

listmonk's separation: this module talks to the database only through `lookups` and to
SMTP only through `transport`; queueing lives in `jobs` (the only rq import). Nothing here
knows about HTTP or Flask requests: functions take a session and plain settings.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.delivery import lookups
from newsletter.delivery.message import MessageTemplate
from newsletter.delivery.models import SendVariant
from newsletter.phrase import PhraseError
from newsletter.render import Edition, RenderedEdition
from newsletter.timeutil import utcnow
from newsletter.tracking import signing
from newsletter.tracking.links import TrackingSettings
from subscribers import tokens

log = logging.getLogger(__name__)


class SendError(PhraseError):
    """A send cannot be created or changed as asked; the message (a phrase) says why."""


@dataclass(frozen=True)
class PipelineSettings:
    secret_key: str
    base_url: str
    mail_from: str
    list_id: str
    batch_size: int = 200
    retry_base_seconds: float = 30.0
    retry_max_seconds: float = 3600.0
    retry_window_hours: float = 48.0
    lease_seconds: float = 120.0
    breaker_threshold: int = 10
    in_doubt_policy: str = "resend"  # resend (same Message-ID) | hold
    priority_grace_minutes: float = 10.0
    sent_mark_every: int = 20  # sent marks written in groups (delivery.marks); 1: each
    sent_mark_max_ms: float = 250.0
    unsubscribe_mailto: str = ""
    tracking: TrackingSettings | None = None

    def __post_init__(self) -> None:
        if self.in_doubt_policy not in ("resend", "hold"):
            raise ValueError(
                f"IN_DOUBT_POLICY must be resend or hold, not {self.in_doubt_policy!r}"
            )

    @property
    def resend_in_doubt(self) -> bool:
        return self.in_doubt_policy == "resend"

    @classmethod
    def from_config(cls, config) -> PipelineSettings:
        return cls(
            secret_key=config["SECRET_KEY"],
            base_url=config["BASE_URL"],
            mail_from=config["MAIL_FROM"],
            list_id=config["LIST_ID"],
            batch_size=config["BATCH_SIZE"],
            retry_base_seconds=config["RETRY_BASE_SECONDS"],
            retry_max_seconds=config["RETRY_MAX_SECONDS"],
            retry_window_hours=config["RETRY_WINDOW_HOURS"],
            lease_seconds=config["LEASE_SECONDS"],
            breaker_threshold=config["BREAKER_THRESHOLD"],
            in_doubt_policy=config["IN_DOUBT_POLICY"],
            priority_grace_minutes=config["PRIORITY_GRACE_MINUTES"],
            sent_mark_every=config["SENT_MARK_EVERY"],
            sent_mark_max_ms=config["SENT_MARK_MAX_MS"],
            unsubscribe_mailto=config["UNSUBSCRIBE_MAILTO"],
            tracking=TrackingSettings.from_config(config),
        )


def archive_url(settings: PipelineSettings, number: int) -> str:
    return f"{settings.base_url}/archive/{number}"


# Creating a send (recipients, variants, the approval and "never twice" rules) is the
# send service's job: newsletter/sends/service.py, above this module. The pipeline only
# delivers what is written.


def plan_batches(
    session: Session, settings: PipelineSettings, send_id: int
) -> Iterator[tuple[str, list[int]]]:
    """(edition, delivery ids) for every delivery a worker may take now: priority first."""
    now = utcnow()
    for edition in (Edition.PRIORITY, Edition.REGULAR):
        batch: list[int] = []
        for delivery_id in lookups.waiting_ids(
            session, send_id, edition.value, now, settings.resend_in_doubt
        ):
            batch.append(delivery_id)
            if len(batch) >= settings.batch_size:
                yield edition.value, batch
                batch = []
        if batch:
            yield edition.value, batch


# --- what every message of a send shares ----------------------------------------------


def subscriber_links(settings: PipelineSettings, subscriber_id: int | None) -> dict[str, str]:
    if subscriber_id is None:  # a test address: links that lead nowhere harmful
        return {
            "unsubscribe_url": f"{settings.base_url}/unsubscribe/test",
            "preferences_url": f"{settings.base_url}/preferences/test",
        }
    unsub = tokens.make_token(settings.secret_key, tokens.UNSUBSCRIBE, subscriber_id)
    prefs = tokens.make_token(settings.secret_key, tokens.PREFERENCES, subscriber_id)
    return {
        "unsubscribe_url": f"{settings.base_url}/unsubscribe/{unsub}",
        "preferences_url": f"{settings.base_url}/preferences/{prefs}",
    }


def unsubscribe_mailto(settings: PipelineSettings, subscriber_id: int | None) -> str:
    """The List-Unsubscribe mailto: its subject carries the reader's signed token, so the
    mailbox poller (tracking.mailbox) unsubscribes the right reader whoever writes.
    Asked for right after `subscriber_links`, it is that link's token (not made again)."""
    token = (
        tokens.make_token(settings.secret_key, tokens.UNSUBSCRIBE, subscriber_id)
        if subscriber_id is not None
        else "test"
    )
    return f"mailto:{settings.unsubscribe_mailto}?subject=unsubscribe%20{token}"


def verp_address(settings: PipelineSettings, template: MessageTemplate, delivery_id: int) -> str:
    """The envelope sender that names the delivery, signed so bounces cannot be forged."""
    sig = signing.verp_signature(settings.secret_key, delivery_id)
    local, _, domain = template.from_address.partition("@")
    return f"{local}+b{delivery_id}-{sig}@{domain or template.domain}"


class _Variants:
    """Per-process cache of a send's rendered variants and their message templates."""

    def __init__(self) -> None:
        self._cache: dict[int, dict[str, tuple[str, RenderedEdition, MessageTemplate]]] = {}

    def get(self, session: Session, settings: PipelineSettings, send_id: int, key: str):
        if key not in self._cache.get(send_id, {}):  # new send (or a reused id): load
            if len(self._cache) > 8:
                self._cache.clear()
            self._cache[send_id] = {
                v.key: _variant_entry(settings, v)
                for v in session.scalars(select(SendVariant).where(SendVariant.send_id == send_id))
            }
        return self._cache[send_id][key]


def _variant_entry(
    settings: PipelineSettings, v: SendVariant
) -> tuple[str, RenderedEdition, MessageTemplate]:
    rendered = RenderedEdition.from_stored(v.subject, v.html, v.text)
    html_parts, text_parts = rendered.token_parts
    # The fixed text between the placeholders: its base64 lines are made once per variant
    # and grid position, not per reader (delivery/b64.py).
    runs = (html_parts[0::2], text_parts[0::2])
    return (
        v.format,
        rendered,
        MessageTemplate(settings.mail_from, v.subject, settings.list_id, runs=runs),
    )


_variants = _Variants()
