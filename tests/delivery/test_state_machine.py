"""A model-based test of the delivery state machine (hypothesis stateful): up to three
workers interleaved at message boundaries, each told what the server answers (accept,
defer, bounce) or that it dies (between messages, in DATA before or after the server took
the message); the clock jumps past leases, retry times and the sent marks' time bound;
the sweep runs at any moment. Each example draws SENT_MARK_EVERY (1: each mark as its
answer comes; 2 or 3: grouped marks, so a death can leave accepted marks unwritten).

The real deliver_batch, leases and recover run on the real database, each worker in a
thread of its own with its own session, which runs nothing more once its worker dies (as
after a SIGKILL); only SMTP and the clock are stand-ins. Properties: no delivery is
accepted twice by workers that lived to record it; a second copy (after a death in DATA
or with its mark unwritten) carries the same Message-ID; a reader gets more than one copy
only if a worker died with its mark unwritten, never more copies than deaths plus one; in
the end every delivery is final.
"""

from __future__ import annotations

import collections
import dataclasses
import queue
import threading

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from newsletter.delivery import pipeline
from newsletter.delivery.batch import deliver_batch, recover
from newsletter.delivery.classify import Stage
from newsletter.delivery.models import Delivery, DeliveryEvent, DeliveryState
from newsletter.delivery.transport import SmtpFailure
from newsletter.extensions import db
from subscribers.models import Subscriber, SubscriberStatus, Suppression
from tests.delivery.fakes import _MSGID, FakeClock, Killed, make_send, mortal, new_send, senders

LEASE = 10
ACTIONS = [
    "accept",
    "accept",
    "accept",
    "defer",
    "bounce",
    "die_between",
    "die_in_data",
    "die_after_data",
]


class Worker:
    """One worker in a thread; it parks before each message (in the rate limiter's place)
    until the machine says what happens to that message."""

    def __init__(self, name: str, engine, settings_, clock, send_id, ids, server):
        self.name, self.server = name, server
        self.commands: queue.Queue = queue.Queue()
        self.events: queue.Queue = queue.Queue()
        self.action = None
        self.alive, self.finished = True, False
        self.session = Session(engine)
        self.die = mortal(self.session)
        s = senders(self, clock, limiter=self)
        self.thread = threading.Thread(
            target=self._run, daemon=True, args=(engine, settings_, s, send_id, ids)
        )
        self.thread.start()
        self._wait()

    # the rate limiter's place: park until told; "wait" stands for time passing while it
    # waits there (it writes its pending marks first, as the real limiter has it do)
    def acquire(self, before_wait=None) -> None:
        while True:
            self.events.put("parked")
            self.action = self.commands.get()
            if self.action != "wait":
                break
            before_wait()
        if self.action == "die_between":
            self._killed()

    # the transport
    def send(self, mail_from: str, rcpt: str, message: bytes) -> str:
        msgid = _MSGID.search(message).group(1).decode()
        if self.action == "defer":
            raise SmtpFailure(Stage.RCPT, 451, "4.7.1 try again later")
        if self.action == "bounce":
            raise SmtpFailure(Stage.RCPT, 550, "5.1.1 user unknown")
        if self.action == "die_in_data":
            self._killed()
        self.server.append([rcpt, msgid, self])
        if self.action == "die_after_data":
            self._killed()
        return "250 ok"

    def _killed(self) -> None:
        self.alive = False
        self.die()  # from here on its session writes nothing: a dead process
        raise Killed()

    def _run(self, engine, settings_, s, send_id, ids) -> None:
        try:
            deliver_batch(self.session, settings_, s, send_id, ids)
        except Killed:
            assert not self.alive  # only a death raises it
        finally:
            self.session.close()  # a dead one's uncommitted work goes with it
            self.finished = True
            self.events.put("done")

    def _wait(self) -> None:
        self.events.get(timeout=60)

    def tell(self, action: str) -> None:
        self.commands.put(action)
        self._wait()

    @property
    def parked(self) -> bool:
        return not self.finished


def test_deliveries_are_sent_once_by_live_workers_and_all_end_final(app):
    engine = db.engine
    make_send(5, group="media")  # the issue, approved, 5 readers; each example sends anew
    base = pipeline.PipelineSettings.from_config(app.config)
    model_settings = dataclasses.replace(
        base,
        lease_seconds=LEASE,
        retry_base_seconds=1,
        retry_max_seconds=4,
        retry_window_hours=60 / 3600,
        breaker_threshold=0,
        batch_size=5,
    )

    class Deliveries(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.clock = FakeClock()
            # A bounce in an earlier example suppressed its reader: every example starts whole.
            db.session.execute(delete(Suppression))
            db.session.execute(update(Subscriber).values(status=SubscriberStatus.ACTIVE))
            db.session.commit()
            self.send_id = new_send(model_settings, ["media"])
            self.ids = list(
                db.session.scalars(
                    select(Delivery.id)
                    .where(Delivery.send_id == self.send_id)
                    .order_by(Delivery.id)
                )
            )
            self.server: list = []  # [rcpt, message id, worker] per accepted message
            self.workers: list[Worker] = []

        def live(self) -> list[Worker]:
            return [w for w in self.workers if w.parked]

        @initialize(every=st.sampled_from([1, 2, 3]))
        def marks(self, every):
            self.settings = dataclasses.replace(
                model_settings, sent_mark_every=every, sent_mark_max_ms=250
            )
            self.start_worker(list(range(5)))  # one worker on the whole send from the start

        @rule(subset=st.lists(st.integers(0, 4), min_size=1, max_size=5, unique=True))
        def start_worker(self, subset):
            if len(self.live()) < 3:
                ids = sorted(self.ids[i] for i in subset)
                self.workers.append(
                    Worker(
                        f"w{len(self.workers)}",
                        engine,
                        self.settings,
                        self.clock,
                        self.send_id,
                        ids,
                        self.server,
                    )
                )

        @rule(which=st.integers(0, 2), action=st.sampled_from(ACTIONS))
        def step(self, which, action):
            live = self.live()
            if live:
                live[which % len(live)].tell(action)

        @rule(seconds=st.sampled_from([1, LEASE // 2 + 1, LEASE + 1]))
        def advance(self, seconds):
            for w in self.live():  # time passes while the live workers wait for the limiter
                w.tell("wait")
            self.clock.advance(seconds)

        @rule()
        def sweep(self):
            recover(db.session, self.settings, self.clock.now(), sends_with_jobs=set())

        @invariant()
        def nobody_twice_from_workers_that_lived(self):
            by_live = collections.Counter(r for r, _, w in self.server if w.alive)
            assert not [r for r, n in by_live.items() if n > 1], self.server

        def teardown(self):
            for w in self.live():  # live workers finish what they hold
                while w.parked:
                    w.tell("accept")
            for _ in range(40):
                db.session.rollback()
                states = dict(
                    db.session.execute(
                        select(Delivery.id, Delivery.state).where(Delivery.send_id == self.send_id)
                    ).all()
                )
                if all(s in DeliveryState.final() for s in states.values()):
                    break
                self.clock.advance(LEASE + 1)
                recover(db.session, self.settings, self.clock.now(), sends_with_jobs=set())
                w = Worker(
                    "final", engine, self.settings, self.clock, self.send_id, self.ids, self.server
                )
                while w.parked:
                    w.tell("accept")
            db.session.rollback()
            rows = db.session.scalars(select(Delivery).where(Delivery.send_id == self.send_id))
            final = {d.email: d for d in rows}
            assert all(d.state in DeliveryState.final() for d in final.values()), {
                e: d.state for e, d in final.items()
            }
            copies = collections.defaultdict(set)
            for rcpt, msgid, _ in self.server:
                copies[rcpt].add(msgid)
            assert all(len(ids) == 1 for ids in copies.values()), copies  # one Message-ID
            # More than one copy only where a worker died after the server took it (in DATA
            # or with its mark unwritten): every copy but one came from a dead worker.
            by_reader = collections.defaultdict(list)
            for rcpt, _, w in self.server:
                by_reader[rcpt].append(w.alive)
            for rcpt, alive in by_reader.items():
                assert alive.count(False) >= len(alive) - 1, (rcpt, alive, self.server)
            # ...and a second copy only ever went as an in-doubt resend (counted as such).
            doubted = set(
                db.session.scalars(
                    select(Delivery.email)
                    .join(DeliveryEvent, DeliveryEvent.delivery_id == Delivery.id)
                    .where(Delivery.send_id == self.send_id, DeliveryEvent.kind == "in_doubt")
                )
            )
            again = {r for r, alive in by_reader.items() if len(alive) > 1}
            assert again <= doubted, (again, doubted)
            for email, d in final.items():
                if d.state == DeliveryState.SENT:
                    assert email in copies and d.message_id in copies[email]

    run_state_machine_as_test(
        Deliveries,
        settings=settings(
            max_examples=40,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
