"""Crashes and outages with real parts: a worker SIGKILLed inside DATA, a PostgreSQL cluster
of the test's own stopped for 30 s mid-send, transactional mail across a Redis restart."""

from __future__ import annotations

import asyncio
import collections
import email
import json
import subprocess
import sys
import threading
import time
import zlib
from email import policy

import pytest
from redis import Redis
from sqlalchemy import select

from newsletter import MIGRATIONS_DIR
from newsletter.bulletin.service import import_issue
from newsletter.delivery.models import DeliveryEvent, DeliveryState, OutboxMessage, OutboxState
from newsletter.devsmtp import SinkHandler
from newsletter.extensions import db
from tests.conftest import ROOT, approve_for_tests, kill_worker, worker_env
from tests.delivery.support import all_final, bulk_subscribers, state_counts, wait_until
from tests.delivery.test_faults import start_send
from tests.pgcluster import PgCluster


class AcceptThenHang(SinkHandler):
    """Stores every message; for the `hold_at`-th it stores it and then does not answer
    until `release` is set: the server has the message, the worker never hears so."""

    def __init__(self, hold_at: int):
        super().__init__()
        self.hold_at, self.count = hold_at, 0
        self.holding, self.release = threading.Event(), threading.Event()

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        answer = await super().handle_DATA(server, session, envelope)
        if self.count == self.hold_at:
            self.holding.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
        return answer


def message_ids(received) -> dict[str, list[str]]:
    out = collections.defaultdict(list)
    for m in received:
        msg = email.message_from_bytes(m.data, policy=policy.default)
        out[m.rcpt_tos[0]].append(msg["Message-ID"])
    return out


@pytest.mark.parametrize("every", [1, 20])
@pytest.mark.parametrize("smtp", [lambda: AcceptThenHang(hold_at=150)], indirect=True)
def test_worker_killed_in_data_is_resent_at_most_once_with_the_same_message_id(
    app, runner, smtp, run_worker, sample_text, every
):
    """SENT_MARK_EVERY=1: only the message in DATA goes twice. Grouped (20): it and the
    marks its worker had not written yet, at most 20, each twice with one Message-ID."""
    app.config.update(LEASE_SECONDS=2, BATCH_SIZE=100, SENT_MARK_EVERY=every)
    approve_for_tests(import_issue(db.session, sample_text)[0])
    emails = bulk_subscribers(300, "members")
    send_id = start_send(runner, "members")
    first = run_worker("--sweep-interval", "0.5", burst=False)
    assert smtp.handler.holding.wait(timeout=120), "the worker never got that far"
    kill_worker(first)  # the server has message 150; its sender died before the answer
    smtp.handler.release.set()
    run_worker("--sweep-interval", "0.5", burst=False)
    wait_until(lambda: all_final(send_id), 120, "every delivery final")

    ids = message_ids(smtp.received)
    assert set(ids) == set(emails)
    twice = {r: v for r, v in ids.items() if len(v) > 1}
    assert 1 <= len(twice) <= every, twice  # the ones in doubt, and nobody else
    assert all(len(v) == 2 and v[0] == v[1] for v in twice.values())  # folded by clients
    assert state_counts(send_id) == {DeliveryState.SENT: 300}
    kinds = db.session.scalars(select(DeliveryEvent.kind)).all()
    assert len(twice) <= kinds.count("in_doubt") <= every


@pytest.fixture
def own_postgres():
    """A PostgreSQL cluster of this test's own that the test may stop and start."""
    cluster = PgCluster()
    yield cluster.url, cluster.start, cluster.stop
    cluster.destroy()


@pytest.fixture
def app_config(app_config, request):
    if "own_postgres" not in request.fixturenames:
        return app_config
    url = request.getfixturevalue("own_postgres")[0]
    from flask_migrate import upgrade

    from newsletter import create_app

    migrating = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with migrating.app_context():
        upgrade(directory=MIGRATIONS_DIR, revision="heads")
        db.engine.dispose()
    return {**app_config, "SQLALCHEMY_DATABASE_URI": url}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the cluster is its own
def test_postgresql_stopped_30s_mid_send_and_the_send_finishes_by_itself(
    own_postgres, app, smtp, run_worker, sample_text
):
    _, start_pg, stop_pg = own_postgres
    app.config.update(RATE_PER_SECOND=100, LEASE_SECONDS=5, BATCH_SIZE=100)
    approve_for_tests(import_issue(db.session, sample_text)[0])
    emails = bulk_subscribers(2000, "members")
    db.session.remove()
    waiting = subprocess.Popen(  # `send N --wait` rides the outage out too
        [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "newsletter",
            "send",
            "396",
            "--group",
            "members",
            "--wait",
            "--timeout",
            "300",
        ],
        cwd=ROOT,
        env=worker_env(app),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    run_worker("--sweep-interval", "0.5", burst=False)
    wait_until(lambda: len(smtp.received) >= 400, 120, "400 messages out")
    db.session.remove()
    db.engine.dispose()
    stop_pg()
    during = len(smtp.received)
    time.sleep(30)
    start_pg()
    out, _ = waiting.communicate(timeout=240)
    assert waiting.returncode == 0, out
    counts = json.loads(out.strip().splitlines()[-1])
    assert counts == {DeliveryState.SENT: 2000}
    arrived = collections.Counter(r for m in smtp.received for r in m.rcpt_tos)
    assert set(arrived) == set(emails)
    assert sum(n - 1 for n in arrived.values()) <= 1  # at most the one in flight
    assert during < 2000  # it really was mid-send


def test_transactional_mail_survives_a_redis_restart_and_jobs_carry_only_ids(
    app, smtp, run_worker, own_redis, redis_app_config
):
    from newsletter.delivery.jobs import enqueue_transactional, queue_for

    app.config.update(redis_app_config)
    port, procs, start_redis = own_redis
    job_id = enqueue_transactional(
        "reader@example.org",
        "请确认您的订阅",
        "请点击：http://newsletter.test/confirm/SECRET-TOKEN",
    )
    raw = Redis(port=port).hgetall(f"rq:job:{job_id}")
    payload = zlib.decompress(raw[b"data"])
    assert json.loads(payload)  # JSON, not a pickle
    assert b"reader@example.org" not in payload and b"SECRET-TOKEN" not in payload
    procs[0].kill()  # Redis dies with the job in it
    procs[0].wait()
    procs.append(start_redis())  # empty
    assert len(queue_for(app.config, "priority")) == 0
    run_worker("--sweep-interval", "0.5", burst=False)
    wait_until(lambda: smtp.received, 90, "the confirmation mail (the sweep sends the row)")
    assert [m.rcpt_tos for m in smtp.received] == [["reader@example.org"]]
    db.session.rollback()
    assert db.session.scalars(select(OutboxMessage.state)).all() == [OutboxState.SENT]
