"""Redis with a password, and with TLS (rediss://), end to end: the web side enqueues, a real
worker process sends through it; without the password nothing gets in. Every Redis client
comes from one factory (extensions.redis_store)."""

from __future__ import annotations

import pytest
from redis.exceptions import AuthenticationError, ResponseError
from sqlalchemy import select

from newsletter.bulletin.service import import_issue
from newsletter.delivery import jobs
from newsletter.delivery.models import Delivery, DeliveryState
from newsletter.extensions import db, redis_store
from newsletter.tracking.jobs import redis_for
from tests.conftest import approve_for_tests
from tests.delivery.support import bulk_subscribers
from tests.security import private_redis


@pytest.fixture(params=["auth", "auth+tls"])
def secured_redis(request, tmp_path):
    server = private_redis.start(tmp_path, tls=request.param == "auth+tls")
    yield server
    server.stop()


def test_a_send_goes_through_a_password_protected_and_tls_redis(
    app, runner, smtp, run_worker, sample_text, secured_redis
):
    app.config["REDIS_URL"] = secured_redis.url
    app.config["REDIS_CA_FILE"] = secured_redis.ca_file or ""
    # Nobody gets in without the password.
    anonymous = secured_redis.url.replace(f":{private_redis.PASSWORD}@", "")
    with pytest.raises((AuthenticationError, ResponseError)):
        redis_store.client(
            {"REDIS_URL": anonymous, "REDIS_CA_FILE": app.config["REDIS_CA_FILE"]}
        ).ping()

    approve_for_tests(import_issue(db.session, sample_text)[0])
    emails = bulk_subscribers(30, "media")
    result = runner.invoke(args=["send", "396", "--group", "media"])
    assert result.exit_code == 0, result.output
    server_side = secured_redis.client()
    queued = sum(server_side.llen(f"rq:queue:{q}") for q in jobs.queue_names(app.config))
    assert queued >= 1  # the jobs wait in the secured Redis

    worker = run_worker()
    assert worker.wait(timeout=120) == 0, worker.stdout.read().decode()
    db.session.rollback()
    states = db.session.scalars(select(Delivery.state)).all()
    assert len(states) == 30 and set(states) == {DeliveryState.SENT}
    assert sorted(r for m in smtp.received for r in m.rcpt_tos) == sorted(emails)
    # The health check, the rate limiters and tracking use the same client.
    assert app.test_client().get("/health").status_code == 200
    assert redis_for(app) is redis_store.client(app.config) is jobs.redis_connection(app.config)
