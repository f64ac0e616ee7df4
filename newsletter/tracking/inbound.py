"""The inbound SMTP handler for the VERP bounce address (aiosmtpd).

    server = SinkServer(handler=BounceHandler(app), port=2525).start()   # or
    flask --app newsletter bounces serve --port 2525

RCPT is accepted only for genuine signed VERP addresses (and the configured feedback-loop
addresses, FEEDBACK_ADDRESSES, where ARF reports arrive): anything else gets 550, so the
server is no sink for junk. DATA is applied in a thread (the database is blocking); a
malformed report is acknowledged with 250 and dropped (a 5xx would only make the sender's
MTA bounce the bounce), a database failure answers 451 so the sender retries later.
A message over BOUNCE_MAX_BYTES is refused with 552 before it is buffered (a real DSN is a
few KB; the original message it returns is cut by the reporting MTA or not needed).
"""

from __future__ import annotations

import asyncio
import collections
import logging

from flask import Flask

from newsletter.extensions import db
from newsletter.tracking import signing
from newsletter.tracking.intake import IngestResult, ingest
from newsletter.tracking.links import TrackingSettings

log = logging.getLogger(__name__)
PARSERS = 2  # messages parsed at the same time; more wait their turn (CPU and memory bound)


class BounceHandler:
    def __init__(self, app: Flask, feedback_addresses: list[str] | None = None):
        self.app = app
        configured = app.config["FEEDBACK_ADDRESSES"]
        if isinstance(configured, str):
            configured = [a for a in configured.split(",") if a.strip()]
        self.feedback = {a.strip().lower() for a in [*configured, *(feedback_addresses or [])]}
        self.settings = TrackingSettings.from_config(app.config)
        # Bounded costs: aiosmtpd refuses a message over BOUNCE_MAX_BYTES while it arrives
        # (SinkServer reads this), and at most PARSERS messages are parsed at once.
        self.data_size_limit = app.config["BOUNCE_MAX_BYTES"]
        self._parsers: asyncio.Semaphore | None = None
        self.results: collections.deque[IngestResult] = collections.deque(maxlen=1000)
        # aiosmtpd's SinkServer reads `.received`; this handler keeps results instead
        self.received: list = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        addr = address.strip().lower()
        if signing.read_verp(self.settings.secret_key, addr) is None and addr not in self.feedback:
            return "550 5.1.1 No such bounce address"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        if len(raw) > self.data_size_limit:
            return "552 5.3.4 Message too big for the bounce intake"
        loop = asyncio.get_running_loop()
        if self._parsers is None:
            self._parsers = asyncio.Semaphore(PARSERS)
        try:
            async with self._parsers:
                result = await loop.run_in_executor(None, self._apply, raw, list(envelope.rcpt_tos))
        except Exception:
            log.exception("bounce intake failed; asking the sender to retry")
            return "451 4.3.0 Temporary failure, try again later"
        self.results.append(result)
        return "250 OK"

    def _apply(self, raw: bytes, rcpts: list[str]) -> IngestResult:
        with self.app.app_context():
            try:
                return ingest(db.session, raw, self.settings, envelope_rcpts=rcpts, source="smtp")
            except Exception:
                db.session.rollback()
                raise
            finally:
                db.session.remove()
