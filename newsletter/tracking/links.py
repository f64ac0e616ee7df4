"""What the send pipeline calls: the open-pixel URL, the click base, and link rewriting.

At send creation every rendered variant goes through `rewrite_links` once: each external
http(s) href becomes `{{click_base}}/<n>` and the (n -> url) table is stored as
`TrackedLink` rows of the send (`store_links`). Per recipient the pipeline fills
`{{click_base}}` with `click_base_url(...)`, a URL signed for that delivery. The redirect
endpoint looks `n` up in the stored table: the target never comes from the request, so
there is no open redirect, and an altered token or number is refused.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.config import settle
from newsletter.tracking import signing
from newsletter.tracking.models import TrackedLink

CLICK_TOKEN = "{{click_base}}"


@dataclass(frozen=True)
class TrackingSettings:
    secret_key: str
    base_url: str
    enabled: bool = True
    events_key: str = "newsletter:tracking:events"
    soft_bounce_weeks: int = 3
    bot_click_seconds: float = 2.0
    webhook_secret: str = ""

    @classmethod
    def from_config(cls, config) -> TrackingSettings:
        config = settle(config)
        return cls(
            secret_key=config["SECRET_KEY"],
            base_url=config["BASE_URL"].rstrip("/"),
            enabled=config["TRACKING_ENABLED"],
            events_key=f"{config['QUEUE_PREFIX']}:tracking:events",
            soft_bounce_weeks=config["SOFT_BOUNCE_WEEKS"],
            bot_click_seconds=config["BOT_CLICK_SECONDS"],
            webhook_secret=config["BOUNCE_WEBHOOK_SECRET"],
        )


def _settings(config) -> TrackingSettings:
    return config if isinstance(config, TrackingSettings) else TrackingSettings.from_config(config)


# --- per-recipient URLs ---------------------------------------------------------------


def open_pixel_url(config, send_id: int, delivery_id: int) -> str:
    """The signed pixel URL of one delivery; "" when tracking is off globally."""
    s = _settings(config)
    if not s.enabled:
        return ""
    return _pixel(s, signing.delivery_token(s.secret_key, send_id, delivery_id))


def _pixel(s: TrackingSettings, token: str) -> str:
    return f"{s.base_url}/t/o/{token}.gif"


def _click(s: TrackingSettings, token: str) -> str:
    return f"{s.base_url}/t/c/{token}"


def click_base_url(config, send_id: int, delivery_id: int, *, tracked: bool = True) -> str:
    """What `{{click_base}}` becomes for one delivery (links are `<base>/<n>`).

    Tracked: signed for the delivery, clicks are recorded. Untracked (the reader opted out,
    or tracking is off globally): signed for the send only, so the redirect still works
    but cannot tell who clicked, and nothing is recorded.
    """
    s = _settings(config)
    if s.enabled and tracked:
        return _click(s, signing.delivery_token(s.secret_key, send_id, delivery_id))
    return f"{s.base_url}/t/r/{signing.send_token(s.secret_key, send_id)}"


def tracking_values(config, send_id: int, delivery_id: int, *, opted_out: bool) -> dict:
    """The two placeholder values of one recipient, privacy switches applied."""
    s = _settings(config)
    if s.enabled and not opted_out:  # both carry the same token: signed once
        token = signing.delivery_token(s.secret_key, send_id, delivery_id)
        return {"open_pixel_url": _pixel(s, token), "click_base_url": _click(s, token)}
    return {
        "open_pixel_url": "" if opted_out else open_pixel_url(s, send_id, delivery_id),
        "click_base_url": click_base_url(s, send_id, delivery_id, tracked=not opted_out),
    }


# --- rewriting a rendered variant ------------------------------------------------------

_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)\b([^>]*)>")
_HREF_RE = re.compile(r"""(\shref\s*=\s*)(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
_ID_RE = re.compile(r"""\sid\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_CLASS_RE = re.compile(r"""\sclass\s*=\s*["']([^"']*)["']""", re.IGNORECASE)
_ARTICLE_ID_RE = re.compile(r"^a-\d+$")
_STRIP_TAGS_RE = re.compile(r"<[^>]*>")


def _trackable(url: str) -> bool:
    return (
        url.lower().startswith(("http://", "https://"))
        and "{{" not in url
        and not any(c.isspace() or ord(c) < 32 for c in url)
    )


def _unescape(text: str) -> str:
    # Imported here: html's entity table (~0.3 MiB) is for rewriting links when a send is
    # created, not for the send worker, which imports this module for TrackingSettings.
    import html

    return html.unescape(text)


def _text_until(html: str, start: int, closing: str) -> str:
    end = html.find(closing, start)
    if end < 0:
        return ""
    text = _unescape(_STRIP_TAGS_RE.sub("", html[start:end]))
    return " ".join(text.split())[:300]


def rewrite_links(html: str, links: list[dict] | None = None) -> tuple[str, list[dict]]:
    """Replace external http(s) hrefs with `{{click_base}}/<n>`; return (html, link table).

    Pass the table of a previous variant of the same send as `links` to keep its numbers:
    the same (url, article) gets the same n, new ones continue the numbering. Left alone:
    placeholders (unsubscribe/preferences), mailto:, in-page #anchors, anything not http(s).
    Each table row: {"n", "url", "article" (anchor like "a-5", or None), "label"}.
    """
    table = [dict(row) for row in (links or [])]
    known = {(row["url"], row["article"]): row["n"] for row in table}
    next_n = max((row["n"] for row in table), default=0) + 1
    out: list[str] = []
    last = 0
    article: str | None = None
    title = ""
    for m in _TAG_RE.finditer(html):
        closing, name, attrs = m.group(1), m.group(2).lower(), m.group(3)
        if closing:
            if name == "td":  # an mj-text block ends: no article spans it
                article = None
            continue
        ident = _ID_RE.search(attrs)
        css = _CLASS_RE.search(attrs)
        if ident and _ARTICLE_ID_RE.match(ident.group(1)):
            article, title = ident.group(1), _text_until(html, m.end(), f"</{name}>")
        elif (ident and not _ARTICLE_ID_RE.match(ident.group(1))) or (
            css and "back" in css.group(1).split()
        ):
            article = None  # a section heading, the table of contents, "返回目录"
        if name != "a":
            continue
        href = _HREF_RE.search(attrs)
        if not href:
            continue
        raw = href.group(2) if href.group(2) is not None else href.group(3)
        url = _unescape(raw)
        if not _trackable(url):
            continue
        key = (url, article)
        if key not in known:
            label = title if article else _text_until(html, m.end(), "</a>")
            known[key] = next_n
            table.append({"n": next_n, "url": url, "article": article, "label": label})
            next_n += 1
        quote = '"' if href.group(2) is not None else "'"
        new_attrs = (
            attrs[: href.start()] + f"{href.group(1)}{quote}{CLICK_TOKEN}/{known[key]}"
            f"{quote}" + attrs[href.end() :]
        )
        out.append(html[last : m.start()])
        out.append(f"<{name}{new_attrs}>")
        last = m.end()
    out.append(html[last:])
    return "".join(out), table


def store_links(session: Session, send_id: int, links: list[dict]) -> None:
    """Write the send's link table (in the caller's transaction: create_send commits)."""
    for row in links:
        session.add(
            TrackedLink(
                send_id=send_id,
                n=row["n"],
                url=row["url"],
                article=row["article"],
                label=(row.get("label") or "")[:300],
            )
        )


class LinkCache:
    """Per-process cache of link tables: they never change once the send is written, so a
    click costs one database read per send and process, then none."""

    def __init__(self, size: int = 256) -> None:
        self._tables: OrderedDict[int, dict[int, str]] = OrderedDict()
        self._size = size

    def cached(self, send_id: int, n: int) -> str | None:
        """The target if this send's table is already here and names a trackable link."""
        table = self._tables.get(send_id)
        url = table.get(n) if table is not None else None
        return url if url and _trackable(url) else None

    def url(self, session: Session, send_id: int, n: int) -> str | None:
        table = self._tables.get(send_id)
        if table is None:
            table = dict(
                session.execute(
                    select(TrackedLink.n, TrackedLink.url).where(TrackedLink.send_id == send_id)
                ).all()
            )
            if not table:
                return None  # do not cache: the send may not exist yet in this process' view
            self._tables[send_id] = table
            if len(self._tables) > self._size:
                self._tables.popitem(last=False)
        else:
            self._tables.move_to_end(send_id)
        url = table.get(n)
        return url if url and _trackable(url) else None
