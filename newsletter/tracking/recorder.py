"""The endpoints' side of event recording: verify, append to memory, answer.

Measured (bench/tracking.py): one Redis round trip per pixel or click was most of the
request (0.3 ms on a quiet machine, several ms on a busy one) and put the endpoints at a
fraction of a constant-answer app. So a request only appends its event to this process's
buffer; a background thread hands the buffer to Redis every 50 ms (or at 200 events) in one
EVALSHA. The script applies the counting windows atomically for every process — at most one
open per delivery per minute and one click per link per second (readers' and robots'
events counted apart, so a prefetch does not hide the reader) — and appends the events it
keeps to the stream (`events.flush` takes them from there). Repeats are dropped there,
before the database.

What a killed web process had not yet handed over (≤ 50 ms of events) is lost; a stopping
one hands it over at exit. If Redis is down the buffer is kept (up to MAX_BUFFER events,
then the oldest are dropped, and both are logged) and retried.
"""

from __future__ import annotations

import atexit
import collections
import itertools
import logging
import os
import threading
import time

from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# One buffered event: id, kind ("o"/"c"), send, delivery, link number, time, bot reason.
# A plain tuple: `add` runs on every pixel and click.
_Pending = tuple[str, str, int, int, int, str, str]

INTERVAL = 0.05
BATCH = 200
MAX_BUFFER = 50_000
WINDOW_MS = {"o": 60_000, "c": 1_000}  # opens per delivery; clicks per delivery and link

# KEYS[1] the stream; KEYS[1 + j] the window key of event j; ARGV 7 fields per event.
_SCRIPT = """
local kept = 0
for j = 1, #KEYS - 1 do
  local a = (j - 1) * 8
  if redis.call('SET', KEYS[1 + j], '1', 'NX', 'PX', ARGV[a + 1]) then
    redis.call('XADD', KEYS[1], '*', 'i', ARGV[a + 2], 'k', ARGV[a + 3], 's', ARGV[a + 4],
               'd', ARGV[a + 5], 'n', ARGV[a + 6], 't', ARGV[a + 7], 'b', ARGV[a + 8])
    kept = kept + 1
  end
end
return kept
"""


class Recorder:
    """One per process and stream: `add` is all a request does."""

    def __init__(self, redis: Redis, stream_key: str):
        self.redis = redis
        self.stream_key = stream_key
        self.window_prefix = stream_key.rsplit(":", 1)[0] + ":window"
        self._script = redis.register_script(_SCRIPT)
        self._buffer: collections.deque[_Pending] = collections.deque()
        self._wake = threading.Event()
        self._lock = threading.Lock()  # one hand-over at a time
        self._pid: int | None = None  # the process whose thread runs; set by _start
        self._id_prefix = ""
        self._counter = itertools.count()
        atexit.register(self._push_at_exit)

    def add(self, kind: str, send_id: int, delivery_id: int, link_n: int, bot: str) -> None:
        if self._pid != os.getpid():  # first use in this (possibly forked) process
            self._start()
        # A random prefix per process and a counter: unique ids without a syscall each.
        event_id = f"{self._id_prefix}{next(self._counter):012x}"
        self._buffer.append(
            (event_id, kind, send_id, delivery_id, link_n, f"{time.time():.3f}", bot)
        )
        if len(self._buffer) >= BATCH:
            self._wake.set()

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._id_prefix = os.urandom(8).hex()
            self._counter = itertools.count()
            self._pid = os.getpid()
            threading.Thread(target=self._run, name="tracking-recorder", daemon=True).start()

    def _run(self) -> None:
        while True:
            self._wake.wait(INTERVAL)
            self._wake.clear()
            try:
                self.push()
            except RedisError as exc:
                log.warning("tracking: %d events wait for Redis: %s", len(self._buffer), exc)
                time.sleep(1)
            except Exception:  # the thread must survive anything
                log.exception("tracking recorder failed")

    def push(self) -> int:
        """Hand everything buffered to Redis now; returns how many events the windows kept."""
        kept = 0
        with self._lock:
            while self._buffer:
                batch = [self._buffer.popleft() for _ in range(min(BATCH, len(self._buffer)))]
                try:
                    kept += self._send(batch)
                except RedisError:
                    self._buffer.extendleft(reversed(batch))
                    overflow = len(self._buffer) - MAX_BUFFER
                    if overflow > 0:
                        for _ in range(overflow):
                            self._buffer.popleft()
                        log.error("tracking: Redis unavailable, %d events dropped", overflow)
                    raise
        return kept

    def _push_at_exit(self) -> None:
        try:
            self.push()
        except RedisError as exc:
            log.error("tracking: %d events not handed to Redis at exit: %s", len(self._buffer), exc)

    def _send(self, batch: list[_Pending]) -> int:
        keys: list[str] = [self.stream_key]
        args: list[int | str] = []
        for event_id, kind, send_id, delivery_id, link_n, at, bot in batch:
            who = "b" if bot else "h"
            keys.append(f"{self.window_prefix}:{kind}:{delivery_id}:{link_n}:{who}")
            args += [WINDOW_MS[kind], event_id, kind, send_id, delivery_id, link_n, at, bot]
        return int(self._script(keys=keys, args=args))


_recorders: dict[tuple[int, str], Recorder] = {}


def recorder_for(redis: Redis, stream_key: str) -> Recorder:
    key = (id(redis), stream_key)
    rec = _recorders.get(key)
    if rec is None:
        rec = _recorders[key] = Recorder(redis, stream_key)
    return rec


def push_all() -> None:
    """Hand over what this process holds (the flush calls it first: in a process that also
    serves the endpoints, e.g. the tests, nothing buffered is left behind)."""
    for rec in list(_recorders.values()):
        rec.push()
