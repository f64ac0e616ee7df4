"""A delivery's message built ahead: while the server reads one message, the next is built.

Handing a message over is two waits on the server: its answers to MAIL, RCPT and DATA, then
its answer to the message itself, which comes only once the server has read ~110 KB and
queued it. The batch spent that second wait idle, then built and signed the next message
(~0.15 ms of CPU, ~0.6 with DKIM). Now the transport calls `Lookahead.step` between writing
a message and reading its answer, and the next delivery's message is built there.

Nothing is handed over or written ahead: building is personalising, encoding and signing,
and what was built is used only for the delivery it was built for, when the batch reaches
it (a batch that stops first, or sends another delivery next, drops it). What went wrong
while building (a header that fails validation, the database gone) is kept and raised when
the batch reaches that delivery, as if it had been built then; the message being answered
is never blamed for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from newsletter.delivery import store
from newsletter.delivery.pipeline import (
    PipelineSettings,
    _variants,
    subscriber_links,
    unsubscribe_mailto,
    verp_address,
)
from newsletter.delivery.senders import Senders
from newsletter.render import personalise
from newsletter.tracking.bounces import REF_HEADER
from newsletter.tracking.links import tracking_values


@dataclass(slots=True)
class Prepared:
    """One delivery's finished message and VERP address, or why it could not be built."""

    delivery_id: int
    verp: str = ""
    message: bytes = b""
    error: Exception | None = None


def prepare(
    session: Session, settings: PipelineSettings, senders: Senders, delivery: store.Claimed
) -> Prepared:
    """The delivery's message, personalised, built and (with DKIM) signed. A ValueError of
    the build (a header that failed validation) is returned in `error`, not raised."""
    fmt, rendered, template = _variants.get(session, settings, delivery.send_id, delivery.variant)
    links = subscriber_links(settings, delivery.subscriber_id)
    # Test addresses (no subscriber) are never tracked: they would count as readers.
    opted_out = delivery.subscriber_id is None or delivery.tracking_opt_out
    tracking = tracking_values(
        settings.tracking, delivery.send_id, delivery.id, opted_out=opted_out
    )
    html, text = personalise(rendered, {**links, "name": delivery.name, **tracking})
    unsubscribe = [links["unsubscribe_url"]]
    if settings.unsubscribe_mailto:
        unsubscribe.append(unsubscribe_mailto(settings, delivery.subscriber_id))
    verp = verp_address(settings, template, delivery.id)
    try:
        message = template.build(
            to_email=delivery.email,
            to_name=delivery.name,
            message_id=delivery.message_id,
            html=None if fmt == "text" else html,
            text=text,
            list_unsubscribe=unsubscribe,
            extra_headers={REF_HEADER: verp},  # names the delivery in bounces without VERP
        )
        if senders.signer is not None:
            message = senders.signer.sign(message)
    except ValueError as exc:
        return Prepared(delivery.id, verp, error=exc)
    return Prepared(delivery.id, verp, message)


class Lookahead:
    """The next delivery's message, built while the transport waits (`step`)."""

    def __init__(self, session: Session, settings: PipelineSettings, senders: Senders):
        self.session = session
        self.settings = settings
        self.senders = senders
        self._next: store.Claimed | None = None
        self._ready: Prepared | None = None

    def expect(self, delivery: store.Claimed | None) -> None:
        """The delivery the batch means to hand over after the current one (None: none)."""
        self._next = delivery

    def step(self) -> None:
        """Build the expected delivery's message now; never raises (see the module)."""
        nxt = self._next
        if nxt is None or (self._ready is not None and self._ready.delivery_id == nxt.id):
            return
        try:
            self._ready = prepare(self.session, self.settings, self.senders, nxt)
        except Exception as exc:  # raised where that delivery is handled, not here
            self._ready = Prepared(nxt.id, error=exc)

    def take(self, delivery: store.Claimed) -> Prepared | None:
        """What was built for `delivery`, if it was; whatever else was built is dropped."""
        ready, self._ready = self._ready, None
        return ready if ready is not None and ready.delivery_id == delivery.id else None
