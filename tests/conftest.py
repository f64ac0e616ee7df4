"""Shared fixtures: the app on SQLite (and PostgreSQL when TEST_POSTGRES_URL is set),
a real Redis on 127.0.0.1, a real aiosmtpd server on a free loopback port, and real RQ
worker processes (`run_worker`) or the queues drained in the test's process (`run_jobs`,
tests/inprocess.py: for tests that need the mail sent, not a worker's life).

Database-backed tests take the `app` fixture, which is parametrised over the backends:
with TEST_POSTGRES_URL set (as `.ci/run` does) every such test runs on both.
The schema comes from the migrations (upgraded once per session and backend); each test
starts from empty tables.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest
from redis import Redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from newsletter import MIGRATIONS_DIR, create_app, workerproc
from newsletter.devsmtp import SinkServer
from newsletter.extensions import db
from tests.inprocess import run_jobs  # noqa: F401 - fixture
from tests.mta import postfix, postfix_bouncing, postfix_factory  # noqa: F401 - fixtures
from tests.passwords import nobodys_hash, password_hash

# The tests run in testing mode, explicitly: the app (and every worker, gunicorn or flask
# process a test starts, which inherit the environment) refuses production's unsafe defaults
# only in production, the mode it assumes when APP_ENV is not set.
os.environ["APP_ENV"] = "testing"

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "weekly-396.txt"
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL")

BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])


def _make_postgres_database() -> str:
    """A database of its own for this test session, dropped at the end."""
    url = make_url(POSTGRES_URL).set(drivername="postgresql+psycopg")
    name = f"nl_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def _drop_postgres_database(db_url: str) -> None:
    url = make_url(db_url)
    admin = create_engine(
        url.set(database=make_url(POSTGRES_URL).database), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request, tmp_path_factory):
    """A migrated, empty database per backend for the whole session."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    else:
        url = _make_postgres_database()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade(directory=MIGRATIONS_DIR, revision="heads")
        db.engine.dispose()
    yield url
    if request.param == "postgresql":
        _drop_postgres_database(url)


@pytest.fixture
def smtp():
    """A real SMTP server (aiosmtpd) on a free loopback port, keeping what it receives."""
    server = SinkServer().start()
    yield server
    server.stop()


@pytest.fixture
def queue_prefix(request):
    """Queue names of their own, so tests never see each other's jobs in the shared Redis."""
    prefix = f"nltest:{uuid.uuid4().hex[:10]}"
    yield prefix
    redis = Redis.from_url(REDIS_URL)
    keys = list(redis.scan_iter(f"*{prefix}*", count=1000))
    if keys:
        redis.delete(*keys)


@pytest.fixture
def app_config(database_url, smtp, queue_prefix, tmp_path):
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": REDIS_URL,
        "QUEUE_PREFIX": queue_prefix,
        "SMTP_HOST": smtp.host,
        "SMTP_PORT": smtp.port,
        "MAIL_FROM": "行业动态周报 <weekly@news.example.org>",
        "BASE_URL": "http://newsletter.test",
        "RETRY_BASE_SECONDS": 0.2,
        "DEV_MAILBOX_DIR": str(tmp_path / "mailbox"),
    }


@pytest.fixture
def app(app_config):
    app = create_app(app_config)

    @app.before_request
    def _forget_previous_request_state():
        # The tests keep one app context open (for db access), and Flask reuses it for the
        # test client's requests, so `g` would carry one client's login and CSRF token
        # into the next request; a real server has one app context per request.
        from flask import g

        g.pop("_login_user", None)
        g.pop("csrf_token", None)
        from flask_babel import refresh

        refresh()  # the locale and catalogue Flask-Babel cached for the previous request

    with app.app_context():
        _empty_tables()
        from subscribers.seed import seed_groups

        seed_groups(db.session)
        yield app
        db.session.remove()
        db.engine.dispose()


def _empty_tables() -> None:
    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(table.delete())
    db.session.commit()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def worker_env(app) -> dict[str, str]:
    """Environment for a worker process that talks to this test's database, Redis, SMTP."""
    c = app.config
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": c["SQLALCHEMY_DATABASE_URI"],
            "REDIS_URL": c["REDIS_URL"],
            "QUEUE_PREFIX": c["QUEUE_PREFIX"],
            "SMTP_HOST": c["SMTP_HOST"],
            "SMTP_PORT": str(c["SMTP_PORT"]),
            "SECRET_KEY": c["SECRET_KEY"],
            "MAIL_FROM": c["MAIL_FROM"],
            "BASE_URL": c["BASE_URL"],
        }
    )
    # Settings a test may tune (app_config or app.config) travel to the worker too.
    for key in (
        "RETRY_BASE_SECONDS",
        "RETRY_MAX_SECONDS",
        "RETRY_WINDOW_HOURS",
        "LEASE_SECONDS",
        "BREAKER_THRESHOLD",
        "IN_DOUBT_POLICY",
        "PRIORITY_GRACE_MINUTES",
        "SENT_MARK_EVERY",
        "SENT_MARK_MAX_MS",
        "SMTP_TIMEOUT",
        "SMTP_SECURITY",
        "SMTP_CA_FILE",
        "SMTP_USERNAME",
        "SMTP_PASSWORD",
        "SMTP_ENVELOPE",
        "RELAYS_FILE",
        "RELAY_CHECK_RCPT",
        "BATCH_SIZE",
        "RATE_PER_SECOND",
        "RATE_PER_HOUR",
        "DKIM_SELECTOR",
        "DKIM_DOMAIN",
        "DKIM_KEY_FILE",
        "UNSUBSCRIBE_MAILTO",
        "TRACKING_ENABLED",
        "REDIS_CA_FILE",
    ):
        if key in c and c[key] not in (None, ""):
            env[key] = str(c[key])
    return env


@pytest.fixture
def run_worker(app, tmp_path):
    """Run a real RQ worker process, started as the Procfile starts one (`workerproc`),
    against this test's services.

    Its output goes to a file (a pipe nobody reads could fill and stall the worker);
    `proc.stdout.read()` gives what it printed so far."""
    procs: list[subprocess.Popen] = []

    def start(*args: str, burst: bool = True, env: dict | None = None) -> subprocess.Popen:
        cmd = workerproc.command(*(["--burst"] if burst else []), *args)
        log = tmp_path / f"worker-{len(procs)}.log"
        with open(log, "wb") as out:
            # A session of its own: RQ's scheduler runs in a child process of the worker,
            # and killing the group takes both (killing only the worker orphans the child).
            proc = subprocess.Popen(
                cmd,
                env={**worker_env(app), **(env or {})},
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc.stdout = open(log, "rb")  # noqa: SIM115 - closed in the teardown below
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        kill_worker(proc)
        proc.stdout.close()


def kill_worker(proc: subprocess.Popen) -> None:
    """SIGKILL a worker started by `run_worker` with everything it started (a dead machine)."""
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


@pytest.fixture
def sample_text() -> bytes:
    return SAMPLE.read_bytes()


@pytest.fixture
def live_server(app):
    """The app served over HTTP on a free loopback port (for the browser tests)."""
    import threading

    from werkzeug.serving import make_server

    from newsletter.devsmtp import free_port

    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    thread.join(timeout=5)


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def screenshot_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def make_staff(app):
    """Create a staff account with the given roles; returns the user."""
    from newsletter.staff.models import StaffUser

    def make(*roles: str, email: str | None = None, password: str = "correct horse battery"):
        user = StaffUser(
            email=email or f"{'-'.join(roles) or 'staff'}-{uuid.uuid4().hex[:6]}@example.org",
            name="测试员工",
            roles=list(roles),
        )
        user.password_hash = password_hash(password)
        db.session.add(user)
        db.session.commit()
        return user

    return make


def csrf_token(client, path: str) -> str:
    """The CSRF token of the form on `path`, as a browser would read it."""
    import re

    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'type="hidden" name="csrf_token" value="([^"]+)"', html
    )
    assert match, f"no CSRF token on {path}"
    return match.group(1)


@pytest.fixture
def staff_client(app, make_staff):
    """A test client logged in (through the real login form) as staff holding `roles`."""

    def client_for(*roles: str):
        password = "correct horse battery"
        user = make_staff(*(roles or ("admin",)), password=password)
        client = app.test_client()
        response = client.post(
            "/staff/login",
            data={
                "csrf_token": csrf_token(client, "/staff/login"),
                "email": user.email,
                "password": password,
            },
        )
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return client_for


def approve_for_tests(issue_or_number):
    """Put an issue through the 责编/复核 approval (one editor submits, another person
    approves), as every non-test send needs. Returns the issue."""
    from sqlalchemy import select

    from newsletter.bulletin.models import Issue
    from newsletter.review import service
    from newsletter.review.models import WorkflowState
    from newsletter.staff.models import StaffUser

    issue = issue_or_number
    if not isinstance(issue, Issue):
        issue = db.session.scalar(select(Issue).where(Issue.number == int(issue_or_number)))
    if service.workflow_state(db.session, issue) == WorkflowState.APPROVED:
        return issue
    people = []
    for role in ("editor", "reviewer"):
        user = StaffUser(
            email=f"approve-{role}-{uuid.uuid4().hex[:8]}@example.org",
            name=f"测试{role}",
            roles=[role],
        )
        user.password_hash = nobodys_hash()  # nobody signs in as them
        db.session.add(user)
        people.append(user)
    db.session.commit()
    service.submit(db.session, issue, people[0], notify_people=False)  # no mail to count
    service.approve(db.session, issue, people[1], notify_people=False)
    return issue
