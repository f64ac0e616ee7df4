"""The send worker runs without Flask (issue 16): a real worker process sends a real send
and, when it exits, has loaded none of the web stack, the render engine or the CLI; what
needs the app (a scheduled send starting: it renders) still works in it, the app built then.

What it has loaded is read from the worker process itself (its sys.modules at exit), not
from a memory figure: the figures are bench/send.py's."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time

from sqlalchemy import func, select

from newsletter.bulletin.service import import_issue
from newsletter.delivery import jobs
from newsletter.delivery.models import Delivery, DeliveryState
from newsletter.extensions import db
from newsletter.sends import service
from newsletter.timeutil import utcnow
from tests.conftest import ROOT, approve_for_tests, worker_env
from tests.delivery.test_send_end_to_end import add_readers

# Packages a send worker has no use for: pages, forms, templates, translations, the render
# engine (renderings are stored when the send is created), migrations, the command line.
NOT_IN_A_WORKER = (
    "flask",
    "werkzeug",
    "jinja2",
    "click",
    "flask_sqlalchemy",
    "flask_login",
    "flask_wtf",
    "wtforms",
    "flask_babel",
    "babel",
    "flask_migrate",
    "alembic",
    "mjml",
    "premailer",
    "lxml",
    "cssutils",
    # Rendering itself: a worker personalises stored renderings (newsletter.render.rendered,
    # .placeholders), it never renders; and bounce parsing needs no email.policy (issue 16:
    # each of these was resident in every worker, ~0.9 MiB together).
    "markupsafe",
    "newsletter.render.edition",
    "newsletter.render.frame",
    "newsletter.render.markup",
    "email.policy",
    "html",  # its entity table: link rewriting (at send creation) unescapes, a worker does not
    "tomllib",  # read only with a RELAYS_FILE
)

# The worker's own entry point, reporting its modules when it exits (a name covers the
# modules under it).
WORKER = """
import atexit, json, sys
atexit.register(lambda: print("MODULES " + json.dumps(sorted(
    name for name in sys.modules
    if any(name == n or name.startswith(n + ".") for n in NAMES)))))
from newsletter.worker import main
main(["--burst"])
"""


def test_a_worker_sends_without_flask_or_the_render_engine(app, runner, smtp, sample_text):
    approve_for_tests(import_issue(db.session, sample_text)[0])
    add_readers()
    result = runner.invoke(args=["send", "396"])
    assert result.exit_code == 0, result.output

    code = f"NAMES = {NOT_IN_A_WORKER!r}\n{WORKER}"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=worker_env(app),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr

    db.session.rollback()
    sent = db.session.scalar(
        select(func.count()).select_from(Delivery).where(Delivery.state == DeliveryState.SENT)
    )
    assert sent == 4 and len(smtp.received) == 4  # it did send: one per active reader
    line = next(x for x in proc.stdout.splitlines() if x.startswith("MODULES "))
    assert json.loads(line.removeprefix("MODULES ")) == []


def sent_count() -> int:
    db.session.rollback()
    return db.session.scalar(
        select(func.count()).select_from(Delivery).where(Delivery.state == DeliveryState.SENT)
    )


def test_the_sweep_of_a_worker_starts_a_scheduled_send_whose_job_redis_lost(
    app, smtp, run_worker, sample_text
):
    from rq.registry import ScheduledJobRegistry

    approve_for_tests(import_issue(db.session, sample_text)[0])
    add_readers()
    groups = ["leadership", "members", "media", "universities"]
    at = utcnow() + dt.timedelta(seconds=1)
    service.send_issue(db.session, app.config, 396, groups, scheduled_at=at)
    registry = ScheduledJobRegistry(queue=jobs.queue_for(app.config, "priority"))
    lost = registry.get_job_ids()
    assert lost  # RQ had it; now Redis loses it
    for job_id in lost:
        registry.remove(job_id, delete_job=True)

    worker = run_worker("--sweep-interval", "0.3", burst=False)
    deadline = time.monotonic() + 90
    while sent_count() < 4 and time.monotonic() < deadline and worker.poll() is None:
        time.sleep(0.3)
    assert sent_count() == 4, worker.stdout.read().decode()
    assert sorted(r for m in smtp.received for r in m.rcpt_tos) == sorted(
        {"leader@example.org", "both@example.org", "media@example.com", "uni@example.edu"}
    )
