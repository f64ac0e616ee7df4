"""Faults, for real: a worker SIGKILLed mid-batch, Redis restarted mid-send, an SMTP server
that defers, refuses and hangs up. Real worker processes, real Redis, real SMTP on loopback.
"""

from __future__ import annotations

import collections
import time

import pytest
from sqlalchemy import select

from newsletter.bulletin.service import import_issue
from newsletter.delivery.batch import CHECK_EVERY
from newsletter.delivery.models import Delivery, DeliveryState, Send, SendStatus
from newsletter.extensions import db
from subscribers.models import Subscriber, SubscriberStatus, Suppression, email_hash
from tests.conftest import approve_for_tests, kill_worker
from tests.delivery.support import (
    FaultyHandler,
    HoldingHandler,
    all_final,
    bulk_subscribers,
    state_counts,
    wait_until,
)


@pytest.fixture
def app_config(app_config):
    return {
        **app_config,
        "BATCH_SIZE": 100,
        "LEASE_SECONDS": 2,
        "RETRY_BASE_SECONDS": 0.2,
        "RETRY_MAX_SECONDS": 1,
        "RETRY_WINDOW_HOURS": 3 / 3600,
    }


def start_send(runner, *groups: str) -> int:
    args = ["send", "396"] + [a for g in groups for a in ("--group", g)]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    return db.session.scalar(select(Send.id).order_by(Send.id.desc()))


def arrivals(smtp) -> collections.Counter:
    return collections.Counter(r for m in smtp.received for r in m.rcpt_tos)


@pytest.mark.parametrize("every", [1, 20])
@pytest.mark.parametrize("smtp", [lambda: HoldingHandler(hold_at=700)], indirect=True)
def test_worker_killed_mid_batch_second_worker_finishes_once_but_for_the_unwritten_marks(
    app, runner, smtp, run_worker, sample_text, every
):
    """SENT_MARK_EVERY=1: each reader exactly once. Grouped (20): the marks the dead worker
    had not written yet (at most 19 here: its 700th message was never taken) are resent
    once each, with the Message-ID of their first copy; nobody else twice."""
    from tests.delivery.test_outages import message_ids

    app.config["SENT_MARK_EVERY"] = every
    approve_for_tests(import_issue(db.session, sample_text)[0])  # 责编/复核 before a send
    emails = bulk_subscribers(2000, "members")
    send_id = start_send(runner, "members")

    first = run_worker("--sweep-interval", "0.5", burst=False)
    # The 700th message is held inside its SMTP transaction: kill the worker right there.
    assert smtp.handler.holding.wait(timeout=120), "the first worker never got that far"
    kill_worker(first)  # SIGKILL to the worker and its scheduler process
    smtp.handler.release.set()
    before = state_counts(send_id)
    written = before.get(DeliveryState.SENT, 0)
    assert 699 - (every - 1) <= written <= 699
    assert before.get(DeliveryState.SENDING, 0) >= 1  # the dead worker's claims

    run_worker("--sweep-interval", "0.5", burst=False)  # its sweep reclaims the dead claims
    wait_until(lambda: all_final(send_id), 180, "every delivery final")

    counts = arrivals(smtp)
    assert len(counts) == 2000 and set(counts) == set(emails)
    twice = [a for a, n in counts.items() if n > 1]
    assert max(counts.values()) <= 2 and len(twice) == 699 - written, twice
    assert all(len(set(v)) == 1 for v in message_ids(smtp.received).values())
    assert state_counts(send_id) == {DeliveryState.SENT: 2000}
    # The last batch commits its deliveries, then marks the send done: wait for that too.
    wait_until(
        lambda: db.session.get(Send, send_id, populate_existing=True).status == SendStatus.DONE,
        30,
        "the send marked done",
    )


def test_redis_restarted_mid_send_the_worker_rides_it_out_and_finishes_without_resume(
    app, runner, smtp, run_worker, sample_text, own_redis, redis_app_config
):
    app.config.update(redis_app_config)
    port, procs, start_redis = own_redis
    approve_for_tests(import_issue(db.session, sample_text)[0])  # 责编/复核 before a send
    emails = bulk_subscribers(1500, "media")
    send_id = start_send(runner, "media")
    worker = run_worker(burst=False)
    wait_until(lambda: state_counts(send_id).get(DeliveryState.SENT, 0) >= 300, 60, "300 sent")
    procs[0].kill()  # Redis dies: every queued job is gone with it
    procs[0].wait()
    time.sleep(3)
    assert worker.poll() is None, "the worker must wait for Redis, not exit"
    procs.append(start_redis())  # an empty Redis on the same port
    # Nobody types `send resume`: the sweep sees a send with waiting deliveries and no job.
    wait_until(lambda: all_final(send_id), 120, "every delivery final")
    assert worker.poll() is None

    counts = arrivals(smtp)
    assert set(counts) == set(emails) and max(counts.values()) == 1
    assert state_counts(send_id) == {DeliveryState.SENT: 1500}


FLAKY = {
    "hard1@example.org": DeliveryState.FAILED,
    "perm1@example.org": DeliveryState.FAILED,
    "soft1@example.org": DeliveryState.SENT,
    "busy1@example.org": DeliveryState.SENT,
    "drop1@example.org": DeliveryState.SENT,
    "never1@example.org": DeliveryState.FAILED,
    "fine1@example.org": DeliveryState.SENT,
}


@pytest.mark.parametrize("smtp", [FaultyHandler], indirect=True)
def test_deferrals_refusals_and_dropped_connections_land_as_specified(
    app, runner, smtp, run_worker, sample_text
):
    from tests.delivery.test_send_end_to_end import add_readers

    approve_for_tests(import_issue(db.session, sample_text)[0])  # 责编/复核 before a send
    add_readers({address: ("", ["tech"]) for address in FLAKY})
    send_id = start_send(runner, "tech")
    run_worker("--sweep-interval", "0.2", burst=False)
    wait_until(lambda: all_final(send_id), 60, "every delivery final")

    db.session.rollback()
    rows = {d.email: d for d in db.session.scalars(select(Delivery))}
    assert {e: d.state for e, d in rows.items()} == FLAKY
    assert rows["soft1@example.org"].attempts == 3  # two 451s, then accepted
    assert rows["busy1@example.org"].attempts == 2  # 421 once
    assert rows["drop1@example.org"].attempts == 2  # dropped once
    assert rows["never1@example.org"].attempts >= 3  # retried for RETRY_WINDOW_HOURS
    assert "gave up after" in rows["never1@example.org"].last_error
    assert rows["hard1@example.org"].last_error.startswith("rcpt: 550 5.1.1")
    # A bad mailbox is suppressed; a refused message is not the address's fault.
    hashes = set(db.session.scalars(select(Suppression.email_hash)))
    assert email_hash("hard1@example.org") in hashes
    assert email_hash("perm1@example.org") not in hashes
    hard = db.session.scalar(select(Subscriber).where(Subscriber.email == "hard1@example.org"))
    assert hard.status == SubscriberStatus.BOUNCED
    # Accepted exactly once each, in spite of the retries.
    counts = arrivals(smtp)
    assert counts == {e: 1 for e, s in FLAKY.items() if s == DeliveryState.SENT}


def test_priority_edition_arrives_before_any_regular_one_with_two_workers(
    app, runner, smtp, run_worker, sample_text
):
    approve_for_tests(import_issue(db.session, sample_text)[0])  # 责编/复核 before a send
    app.config["BATCH_SIZE"] = 10
    leaders = bulk_subscribers(40, "leadership", prefix="leader")
    regulars = bulk_subscribers(400, "members", prefix="member")
    # A regular send is already running when the priority send is triggered.
    regular_send = start_send(runner, "members")
    run_worker(burst=False, env={"BATCH_SIZE": "10"})
    run_worker(burst=False, env={"BATCH_SIZE": "10"})
    wait_until(
        lambda: state_counts(regular_send).get(DeliveryState.SENT, 0) >= 50,
        60,
        "the regular send to be under way",
    )
    priority_send = start_send(runner, "leadership")
    wait_until(
        lambda: all_final(priority_send) and all_final(regular_send), 120, "both sends final"
    )

    order = [m.rcpt_tos[0] for m in smtp.received]
    assert sorted(order) == sorted(leaders + regulars)
    first_leader = min(order.index(a) for a in leaders)
    last_leader = max(order.index(a) for a in leaders)
    # Once the priority send starts, regular batches yield to it: a worker in the middle
    # of a regular batch finishes at most CHECK_EVERY more messages before it looks.
    between = [a for a in order[first_leader:last_leader] if a.startswith("member")]
    assert len(between) <= 2 * CHECK_EVERY, between
    assert order.index(regulars[-1]) > last_leader  # the regular send was not done yet


@pytest.mark.parametrize("workers", [1, 2])
def test_in_one_send_to_both_lists_every_priority_message_comes_first(
    app, runner, smtp, run_worker, sample_text, workers
):
    approve_for_tests(import_issue(db.session, sample_text)[0])  # 责编/复核 before a send
    leaders = bulk_subscribers(30, "leadership", prefix="leader")
    regulars = bulk_subscribers(300, "members", prefix="member")
    send_id = start_send(runner, "leadership", "members")
    for _ in range(workers):  # one worker alone must not block on itself either
        run_worker(burst=False, env={"BATCH_SIZE": "10"})
    wait_until(lambda: all_final(send_id), 120, "the send final")
    order = [m.rcpt_tos[0] for m in smtp.received]
    assert sorted(order) == sorted(leaders + regulars)
    assert set(order[:30]) == set(leaders)
