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

# KEYS[1] the stream; KEYS[1 + j] the window key of event j. ARGV[1], ARGV[2]: the open and
# click windows (ms); ARGV[3]: the events, "id,kind,send,delivery,link,time,bot" each, joined
# by spaces (no field holds a comma or a space; bot may be empty). One string, not 7 arguments
# an event: redis-py packs each argument in Python while holding the GIL, 2.2 ms for 200
# events against ~0.3 ms now (bench/tracking.py: the requests of that process wait meanwhile).
_SCRIPT = """
local kept, j = 0, 1
for id, k, s, d, n, t, b in string.gmatch(ARGV[3],
    "([^, ]+),([^, ]+),([^, ]+),([^, ]+),([^, ]+),([^, ]+),([^, ]*)") do
  j = j + 1
  local window = (k == 'o') and ARGV[1] or ARGV[2]
  if redis.call('SET', KEYS[j], '1', 'NX', 'PX', window) then
    redis.call('XADD', KEYS[1], '*', 'i', id, 'k', k, 's', s, 'd', d, 'n', n, 't', t, 'b', b)
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
        prefix = self.window_prefix
        keys = [self.stream_key]
        keys += [f"{prefix}:{e[1]}:{e[3]}:{e[4]}:{'b' if e[6] else 'h'}" for e in batch]
        events = " ".join([f"{e[0]},{e[1]},{e[2]},{e[3]},{e[4]},{e[5]},{e[6]}" for e in batch])
        return int(self._script(keys=keys, args=[WINDOW_MS["o"], WINDOW_MS["c"], events]))


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
