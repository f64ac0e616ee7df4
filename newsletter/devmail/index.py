"""The dev mailbox's listing without reading every message: the Maildir's file names and
mtimes are listed per request (one directory scan), and headers are parsed only for the
messages shown; a search reads headers too, but each file's once per process (cached by
name and mtime), so 3,500 messages stay fast."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import parsedate_to_datetime

HEADER_BYTES = 8 * 1024  # a message's headers end well before this
_cache: dict[tuple[str, float], Summary] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Entry:
    key: str  # the Maildir key (file name up to the ":2," info)
    path: str
    mtime: float


@dataclass(frozen=True)
class Summary:
    key: str
    mtime: float
    to: str
    sender: str
    subject: str
    date: object  # datetime | None

    def matches(self, words: list[str]) -> bool:
        hay = f"{self.to}\n{self.sender}\n{self.subject}".lower()
        return all(w in hay for w in words)


def entries(root: str) -> list[Entry]:
    """Every message, newest first: a scan of new/ and cur/, nothing read."""
    found: list[Entry] = []
    for sub in ("new", "cur"):
        try:
            with os.scandir(os.path.join(root, sub)) as it:
                for item in it:
                    if item.name.startswith(".") or not item.is_file():
                        continue
                    found.append(Entry(item.name.split(":", 1)[0], item.path, item.stat().st_mtime))
        except FileNotFoundError:
            continue
    found.sort(key=lambda e: (e.mtime, e.key), reverse=True)
    return found


def find(root: str, key: str) -> Entry | None:
    if not key or "/" in key or key.startswith("."):
        return None
    return next((e for e in entries(root) if e.key == key), None)


def summary(entry: Entry) -> Summary:
    cache_key = (entry.path, entry.mtime)
    with _lock:
        hit = _cache.get(cache_key)
    if hit is not None:
        return hit
    with open(entry.path, "rb") as f:
        head = f.read(HEADER_BYTES)
    # compat32 and decoding only the three headers shown: ~10x faster than policy.default
    msg = BytesHeaderParser(policy=compat32).parsebytes(
        head.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    )

    def header(name: str) -> str:
        raw = msg.get(name)
        if raw is None:
            return ""
        try:
            return str(make_header(decode_header(str(raw)))).replace("\n", " ")
        except Exception:  # noqa: BLE001  a malformed header is shown raw, never a 500
            return str(raw)

    try:
        date = parsedate_to_datetime(header("Date")) if header("Date") else None
    except (TypeError, ValueError):
        date = None
    result = Summary(entry.key, entry.mtime, header("To"), header("From"), header("Subject"), date)
    with _lock:
        if len(_cache) > 50_000:
            _cache.clear()
        _cache[cache_key] = result
    return result


@dataclass
class Page:
    items: list[Summary]
    total: int  # messages matching
    page: int
    pages: int


def page(root: str, number: int = 1, per_page: int = 50, query: str = "") -> Page:
    listed = entries(root)
    words = [w for w in query.lower().split() if w]
    if words:
        matching = [s for s in (summary(e) for e in listed) if s.matches(words)]
        total = len(matching)
        pages = max(1, -(-total // per_page))
        number = min(max(1, number), pages)
        return Page(matching[(number - 1) * per_page : number * per_page], total, number, pages)
    total = len(listed)
    pages = max(1, -(-total // per_page))
    number = min(max(1, number), pages)
    shown = listed[(number - 1) * per_page : number * per_page]
    return Page([summary(e) for e in shown], total, number, pages)
