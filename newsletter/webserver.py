"""The web server as shipped: granian serving `create_app()` (`served_app`) over WSGI, with its
options in this one place for the Procfile, the `newsletter-web` command, the tests that
start the app as production does and bench/tracking.py.

    python -m newsletter.webserver [--app TARGET] [granian options…]

Options given on the command line override these (granian takes the last of a repeated
option); so does granian's own environment variable for one of them (`GRANIAN_WORKERS=4`).

Why granian and not gunicorn (issue 16, bench/tracking.py, README "Tracking tail"): gunicorn
parses HTTP and hands every keep-alive request between its threads in Python, which cost
0.56–0.60 ms of CPU per tracking request against 0.20–0.35 ms here (HTTP in Rust), and its
gthread workers keep a connection on the process that accepted it, so with 16 connections
over 2 processes the slowest connection's mean latency was up to 3.2 × the fastest's. The
client and the server share the 2 cores, so the server's CPU per request is the latency.
"""

from __future__ import annotations

import os
import sys

APP = "newsletter.webserver:served_app"


def served_app():
    """`create_app()` for a server worker, its start-up heap then frozen (newsletter.heap)."""
    from newsletter import create_app
    from newsletter.heap import freeze_startup_heap

    app = create_app()
    freeze_startup_heap()
    return app


# (option, value, granian's environment variable for it). Measured choices in the README.
OPTIONS: list[tuple[str, str | None, str]] = [
    ("--interface", "wsgi", "GRANIAN_INTERFACE"),
    ("--factory", None, "GRANIAN_FACTORY"),  # create_app() in each worker
    ("--workers", "2", "GRANIAN_WORKERS"),  # one per core
    # Python threads per worker: a slow page (a PDF import, ~1.5 s) holds one while the
    # others answer; a request waits in Rust, not in a thread, for its turn.
    ("--blocking-threads", "4", "GRANIAN_BLOCKING_THREADS"),
    ("--runtime-threads", "1", "GRANIAN_RUNTIME_THREADS"),  # the Rust I/O side, per worker
    ("--no-ws", None, "GRANIAN_WEBSOCKETS"),  # WSGI has none
    # No access log: it cost ~0.1–0.2 ms of CPU per tracking request (a Python log record,
    # its token scrubbing, a write), up to half of the request (bench/tracking.py
    # --variant=--access-log). The proxy in front can log requests; pass --access-log (or
    # GRANIAN_LOG_ACCESS_ENABLED=true) for granian's own, scrubbed by logscrub.py.
    ("--no-access-log", None, "GRANIAN_LOG_ACCESS_ENABLED"),
    # A stop waits this long for a worker's requests, then kills it (gunicorn's graceful
    # timeout): a granian worker can deadlock while it stops (seen here under load, and
    # upstream issue 875), which without this leaves the server running after SIGTERM.
    ("--workers-kill-timeout", "10", "GRANIAN_WORKERS_KILL_TIMEOUT"),
    # No --respawn-failed-workers: with it a worker refusing unsafe settings is respawned
    # for ever; without it the server exits 1 with the `configuration: …` lines (a process
    # manager restarts it: the README's systemd unit has Restart=on-failure).
]


def command(argv: list[str]) -> list[str]:
    """granian's argv: our options (less those its environment sets), then `argv`."""
    app = APP
    rest = list(argv)
    if "--app" in rest:
        i = rest.index("--app")
        app = rest[i + 1]
        del rest[i : i + 2]
    cmd = [sys.executable, "-m", "granian"]
    for option, value, env in OPTIONS:
        if env in os.environ:
            continue
        cmd += [option] if value is None else [option, value]
    return [*cmd, *rest, app]


def main(argv: list[str] | None = None) -> None:
    cmd = command(sys.argv[1:] if argv is None else argv)
    os.execv(cmd[0], cmd)  # granian's own signal handling, pid and exit status


if __name__ == "__main__":
    main()
