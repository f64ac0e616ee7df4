"""Open/click events: recorded to a Redis stream by the endpoints, flushed to the database.

The endpoints never touch the database: they append one entry to a Redis stream
(`XADD`, ~0.1 ms) carrying an event id made on the spot. `flush` reads the stream through a
consumer group: entries stay *pending* until the database commit that wrote them is done,
and only then are they acknowledged and deleted. A flush killed at any point loses nothing
(its pending entries are read again first by the next run) and counts nothing twice (the
event id is the primary key of `TrackedEvent`, written in the same transaction as the
DeliveryEvent). Readers who opted out meanwhile are dropped here, and clicks that came
within seconds of the message being accepted are flagged as scanners.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import re
import time
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import ResponseError
from redis.typing import StreamEntry, StreamRangeResponse
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter.delivery.models import Delivery, DeliveryEvent, EventKind
from newsletter.tracking.links import TrackingSettings
from newsletter.tracking.models import TrackedEvent
from subscribers.models import Subscriber

log = logging.getLogger(__name__)

GROUP = "flush"
CONSUMER = "flusher"  # one name: a restarted flush re-reads what its predecessor left pending
OPEN, CLICK = "o", "c"

# Link scanners, previewers, HTTP libraries. Not matched on purpose: GoogleImageProxy and
# YahooMailProxy fetch when the reader opens the message, and Outlook's "Microsoft Office"
# is the reader's own client.
_BOT_UA_RE = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|preview|scanner|scan/|python-|python/|curl/|wget|"
    r"go-http-client|java/|okhttp|libwww|httpclient|aiohttp|headless|phantomjs|barracuda|"
    r"mimecast|proofpoint|symantec|messagelabs|trendmicro|fortiguard|sophos|forcepoint|"
    r"ironport|safelinks|facebookexternalhit|whatsapp|skypeuripreview|google-safety|"
    r"linkcheck|urlscan|virustotal",
    re.IGNORECASE,
)
# Apple Mail Privacy Protection fetches every image through Apple's proxies right after
# delivery, with this bare User-Agent, from Apple's network (17.0.0.0/8 among others).
_APPLE_UA = "Mozilla/5.0"
_APPLE_NET = ipaddress.ip_network("17.0.0.0/8")


def classify_request(method: str, user_agent: str | None, remote_addr: str | None) -> str:
    """Why this request is not a person reading, or "" when it may well be one."""
    if method == "HEAD":
        return "head"
    ua = (user_agent or "").strip()
    if not ua:
        return "no-ua"
    if ua == _APPLE_UA or _in_apple_net(remote_addr):
        return "apple-mpp"
    if _BOT_UA_RE.search(ua):
        return "scanner-ua"
    return ""


def _in_apple_net(addr: str | None) -> bool:
    try:
        return addr is not None and ipaddress.ip_address(addr) in _APPLE_NET
    except ValueError:
        return False


def record(
    redis: Redis,
    key: str,
    kind: str,
    send_id: int,
    delivery_id: int,
    link_n: int = 0,
    bot: str = "",
) -> str:
    """Append one event to the stream; returns its id. The only work the endpoints do."""
    event_id = os.urandom(12).hex()
    redis.xadd(
        key,
        {
            "i": event_id,
            "k": kind,
            "s": send_id,
            "d": delivery_id,
            "n": link_n,
            "t": f"{time.time():.3f}",
            "b": bot,
        },
    )
    return event_id


@dataclass
class FlushResult:
    read: int = 0
    written: int = 0
    duplicates: int = 0
    dropped: int = 0  # malformed, unknown delivery, or the reader opted out

    def add(self, other: FlushResult) -> None:
        for k in self.__dict__:
            setattr(self, k, getattr(self, k) + getattr(other, k))


def _ensure_group(redis: Redis, key: str) -> None:
    try:
        redis.xgroup_create(key, GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def flush(
    session: Session,
    redis: Redis,
    settings: TrackingSettings,
    *,
    batch: int = 500,
    limit: int | None = None,
) -> FlushResult:
    """Move events from the stream into DeliveryEvent rows, `batch` at a time.

    Pending entries (left by a flush that died) come first, then new ones. Stops when the
    stream is drained or `limit` entries were read.
    """
    key = settings.events_key
    _ensure_group(redis, key)
    total = FlushResult()
    while limit is None or total.read < limit:
        count = batch if limit is None else min(batch, limit - total.read)
        entries = _read(redis, key, "0", count) or _read(redis, key, ">", count)
        if not entries:
            break
        total.add(_write(session, settings, entries))
        # Stream entries always carry an id; redis-py's StreamEntry type allows None.
        ids = [entry_id for entry_id, _ in entries if entry_id is not None]
        pipe = redis.pipeline(transaction=False)
        pipe.xack(key, GROUP, *ids)
        pipe.xdel(key, *ids)
        pipe.execute()
    return total


def _read(redis: Redis, key: str, start: str, count: int) -> StreamRangeResponse:
    reply = redis.xreadgroup(GROUP, CONSUMER, {key: start}, count=count)
    # The app speaks RESP2 (redis-py's default): the reply is [[stream, entries]], one stream.
    if not isinstance(reply, list):
        raise TypeError(f"XREADGROUP reply of a RESP3 client: {type(reply).__name__}")
    entries: StreamRangeResponse = reply[0][1] if reply and reply[0][1] else []
    return entries


@dataclass(frozen=True, slots=True)
class _Event:
    """One stream entry, read and checked."""

    key: str  # the event id made by the endpoint: TrackedEvent's primary key
    kind: EventKind
    send_id: int
    delivery_id: int
    link_n: int | None
    at: dt.datetime  # naive UTC, as the database keeps it
    bot: str


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _decode(fields: dict[bytes | str, bytes | str] | None) -> _Event | None:
    if not fields:  # an entry deleted while still pending comes back without fields
        return None
    try:
        f = {_text(k): _text(v) for k, v in fields.items()}
        kind = {OPEN: EventKind.OPENED, CLICK: EventKind.CLICKED}[f["k"]]
        event_id = f["i"]
        if not re.fullmatch(r"[0-9a-f]{8,64}", event_id):
            return None
        return _Event(
            key=event_id,
            kind=kind,
            send_id=int(f["s"]),
            delivery_id=int(f["d"]),
            link_n=int(f.get("n") or 0) or None,
            at=dt.datetime.fromtimestamp(float(f["t"]), dt.UTC).replace(tzinfo=None),
            bot=f.get("b", "")[:32],
        )
    except (KeyError, ValueError, UnicodeDecodeError, OverflowError, OSError):
        return None


def _write(session: Session, settings: TrackingSettings, entries: list[StreamEntry]) -> FlushResult:
    result = FlushResult(read=len(entries))
    events: list[_Event] = []
    for entry_id, fields in entries:
        event = _decode(fields)
        if event is None:
            log.warning("tracking: dropped malformed stream entry %s", entry_id)
            result.dropped += 1
        else:
            events.append(event)
    if not events:
        return result
    for attempt in range(2):
        try:
            written, duplicates, dropped = _insert(session, settings, events)
            break
        except IntegrityError:  # another flush wrote some of them concurrently: go again
            session.rollback()
            if attempt:
                raise
    result.written, result.duplicates = written, duplicates
    result.dropped += dropped
    return result


def _insert(
    session: Session, settings: TrackingSettings, events: list[_Event]
) -> tuple[int, int, int]:
    """Write the events not yet in the database: (written, duplicates, dropped)."""
    keys = [e.key for e in events]
    seen = set(session.scalars(select(TrackedEvent.key).where(TrackedEvent.key.in_(keys))))
    fresh: dict[str, _Event] = {}
    for e in events:
        if e.key not in seen:
            fresh.setdefault(e.key, e)
    duplicates = len(events) - len(fresh)
    ids = {e.delivery_id for e in fresh.values()}
    deliveries = (
        {
            row.id: row
            for row in session.execute(
                select(Delivery.id, Delivery.send_id, Delivery.sent_at, Subscriber.tracking_opt_out)
                .outerjoin(Subscriber, Subscriber.id == Delivery.subscriber_id)
                .where(Delivery.id.in_(ids))
            )
        }
        if ids
        else {}
    )
    pairs: list[tuple[_Event, DeliveryEvent, str]] = []
    dropped = 0
    for e in fresh.values():
        d = deliveries.get(e.delivery_id)
        if d is None or d.send_id != e.send_id or d.tracking_opt_out:
            dropped += 1  # gone, mismatched, or the reader asked not to be tracked
            continue
        bot = e.bot
        if (
            not bot
            and e.kind == EventKind.CLICKED
            and d.sent_at is not None
            and (e.at - d.sent_at).total_seconds() < settings.bot_click_seconds
        ):
            bot = "fast-click"  # no person clicks within seconds of the mail arriving
        detail = "; ".join(
            p for p in (f"link={e.link_n}" if e.link_n else "", f"bot={bot}" if bot else "") if p
        )
        event = DeliveryEvent(
            delivery_id=e.delivery_id, kind=e.kind, detail=detail, created_at=e.at
        )
        pairs.append((e, event, bot))
    session.add_all([event for _, event, _ in pairs])
    session.flush()  # assigns the DeliveryEvent ids
    session.add_all(
        [
            TrackedEvent(
                key=e.key,
                event_id=event.id,
                send_id=e.send_id,
                delivery_id=e.delivery_id,
                kind=e.kind,
                link_n=e.link_n,
                bot=bot,
                created_at=e.at,
            )
            for e, event, bot in pairs
        ]
    )
    session.commit()
    return len(pairs), duplicates, dropped


def pending_count(redis: Redis, settings: TrackingSettings) -> int:
    """Entries not yet flushed (new plus pending)."""
    try:
        return redis.xlen(settings.events_key)
    except ResponseError:
        return 0
