"""Everything for a local run in one process tree: `python -m newsletter.devserver`.

Embedded defaults: SQLite under instance/, the local Redis, an SMTP sink on 127.0.0.1:8025
that keeps mail in instance/mailbox (shown at /dev/mailbox), one RQ worker, the groups, a few
demo subscribers and the sample issue, served by the production web server
(newsletter/webserver.py). `scripts/run` installs what is needed and calls this.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

from newsletter import webserver, workerproc
from newsletter.config import DEVELOPMENT, INSTANCE_DIR, PROJECT_ROOT, instance_secret_key


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 5000)))
    parser.add_argument("--smtp-port", type=int, default=int(os.environ.get("SMTP_PORT", 8025)))
    args = parser.parse_args(argv)

    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    # Development, explicitly (the app assumes production otherwise); the key is random,
    # made once and kept in instance/secret_key, shared with the worker through the env.
    os.environ["APP_ENV"] = DEVELOPMENT
    os.environ.setdefault("SECRET_KEY", instance_secret_key())
    os.environ.setdefault("DEV_MAILBOX_DIR", str(INSTANCE_DIR / "mailbox"))
    os.environ.setdefault("SMTP_HOST", "127.0.0.1")
    os.environ["SMTP_PORT"] = str(args.smtp_port)
    os.environ.setdefault("BASE_URL", f"http://{args.host}:{args.port}")

    from flask_migrate import upgrade

    from newsletter import MIGRATIONS_DIR, create_app
    from newsletter.devsmtp import SinkServer
    from newsletter.extensions import db

    app = create_app()
    with app.app_context():
        upgrade(directory=MIGRATIONS_DIR, revision="heads")
        from newsletter.bulletin.service import load_sample
        from subscribers.seed import seed_demo_subscribers, seed_groups

        seed_groups(db.session)
        seed_demo_subscribers(db.session)
        sample = load_sample(db.session)
        _ensure_dev_staff()
        if sample is not None:
            _approve_sample(sample)
        db.engine.dispose()

    sink = SinkServer(args.smtp_port, os.environ["DEV_MAILBOX_DIR"]).start()
    # Its own process group (RQ's scheduler is a child of the worker), ended with us even
    # when we are stopped by a signal: a stray worker would keep taking the dev queues.
    worker = subprocess.Popen(workerproc.command(), cwd=PROJECT_ROOT, start_new_session=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(
        f"\n  行业动态周报 · 订阅服务 running at {os.environ['BASE_URL']}/\n"
        f"  staff sign-in: {os.environ['BASE_URL']}/staff/login (development only, password {DEV_PASSWORD}): "
        f"{', '.join(e for e, _, _ in DEV_STAFF)}\n"
        f"  SMTP sink on 127.0.0.1:{args.smtp_port} (mail shown at /dev/mailbox/)\n"
        f"  try: .venv/bin/flask --app newsletter send 396 --wait\n",
        flush=True,
    )
    # The web server as production runs it (newsletter/webserver.py), in development mode.
    web = subprocess.Popen(
        webserver.command(["--host", args.host, "--port", str(args.port)]),
        cwd=PROJECT_ROOT,
        start_new_session=True,
    )
    try:
        web.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for child in (web, worker):  # warm shutdowns: the current request or job finishes
            _stop_group(child)
        sink.stop()
        time.sleep(0.1)


def _stop_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# Development-only accounts (printed at start): an admin, and an editor and a reviewer so
# that the sample can go through the 责编/复核 approval the way staff would do it.
DEV_PASSWORD = "admin-dev-password"
DEV_STAFF = [
    ("admin@example.org", "开发管理员", ["editor", "reviewer", "sender", "admin"]),
    ("editor@example.org", "示例责编", ["editor"]),
    ("reviewer@example.org", "示例复核", ["reviewer"]),
]


def _ensure_dev_staff() -> None:
    from sqlalchemy import select

    from newsletter.extensions import db
    from newsletter.staff.models import StaffUser

    for email, name, roles in DEV_STAFF:
        if db.session.scalar(select(StaffUser).where(StaffUser.email == email)) is None:
            user = StaffUser(email=email, name=name, roles=roles)
            user.set_password(DEV_PASSWORD)
            db.session.add(user)
    db.session.commit()


def _approve_sample(issue) -> None:
    """Submit (by the dev editor) and approve (by the dev reviewer) the freshly loaded
    sample, so `send 396` works out of the box; a real issue goes through the pages."""
    from sqlalchemy import select

    from newsletter.extensions import db
    from newsletter.review import service as review
    from newsletter.staff.models import StaffUser

    editor, reviewer = (
        db.session.scalar(select(StaffUser).where(StaffUser.email == e))
        for e in ("editor@example.org", "reviewer@example.org")
    )
    assert editor is not None and reviewer is not None  # seeded just before
    try:
        review.submit(db.session, issue, editor, notify_people=False)
        review.approve(db.session, issue, reviewer, notify_people=False)
    except review.ReviewError:
        db.session.rollback()  # already in review or approved: leave it as staff left it


if __name__ == "__main__":
    main()
