"""A long-running process's start-up heap, moved out of the garbage collector's way.

A web worker holds ~123,000 objects once the app is built (Flask, SQLAlchemy, the models,
the catalogues), and a full collection visits every one of them: 77 ms on this 2-core
machine, with the GIL held, so each request of that process waits meanwhile (issue 16:
`bench/tracking.py --rate 2450`, tracking p99 21 ms and max 89 ms where the constant-answer
app, with a small heap, had a max of 48). Those objects live as long as the process, so
`gc.freeze()` moves them to the permanent generation and collections visit only what came
after. Called once, at the end of start-up: by the web server's app factory
(`webserver.served_app`) and by the worker. Not in `create_app` itself: a test process
builds hundreds of apps, and frozen objects are never freed.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    gc.collect()  # start-up's garbage is freed, not frozen with the rest
    gc.freeze()
