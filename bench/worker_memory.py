"""Where a send worker's memory goes, import by import, in the worker's own order.

    APP_ENV=testing python bench/worker_memory.py [--flags '-OO']

One fresh process imports what `python -m newsletter.worker` imports, step by step, and
prints its VmRSS and RssAnon (from /proc/self/status) after each step with the difference
to the step before; then what the extras would add: the Flask app the worker no longer
builds (create_app(web=False)), DKIM (cryptography), the PostgreSQL driver. RssFile is the
rest (shared libraries, mostly shared between workers). The child runs with the worker's
interpreter flags (`newsletter.workerproc`: -OO); `--flags ''` measures without them.
Figures, not a test: run it on a quiet machine before relying on one. bench/send.py gives
the peak during a real send.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newsletter.workerproc import PYTHON_FLAGS  # noqa: E402

STEPS = [
    ("python", ""),
    ("newsletter (config, logscrub)", "import newsletter"),
    ("rq (and redis, its asyncio and cluster clients)", "import rq"),
    ("sqlalchemy.orm", "import sqlalchemy.orm"),
    ("the models (newsletter.import_models)", "newsletter.import_models()"),
    (
        "newsletter.delivery.jobs (pipeline, batch, store, transport)",
        "import newsletter.delivery.jobs",
    ),
    ("newsletter.worker", "import newsletter.worker"),
    (
        "the runtime (engine, session) and the mappers configured",
        "from newsletter import load_settings, runtime\n"
        "runtime.install(runtime.Runtime(load_settings()))\n"
        "import sqlalchemy.orm as o\no.configure_mappers()",
    ),
    ("relaycheck (a send's first batch)", "import newsletter.delivery.relaycheck"),
    ("-- extras: the Flask app (create_app(web=False))", "newsletter.create_app(web=False)"),
    ("-- extras: DKIM (cryptography)", "import newsletter.delivery.dkim"),
    ("-- extras: psycopg (PostgreSQL)", "import psycopg"),
]

CHILD = """
import sys
def status():
    d = {}
    for line in open("/proc/self/status"):
        k, _, v = line.partition(":")
        if k in ("VmRSS", "RssAnon"):
            d[k] = int(v.split()[0])
    return d
import newsletter  # noqa
for i, code in enumerate(STEPS):
    if i != 1:
        exec(code)
    s = status()
    print(i, s["VmRSS"], s["RssAnon"], flush=True)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description="a worker's memory, import by import")
    parser.add_argument(
        "--flags", default=" ".join(PYTHON_FLAGS), help="interpreter flags (the worker's)"
    )
    flags = shlex.split(parser.parse_args().flags)
    # `import newsletter` runs first in the child (the steps use it); its step is measured
    # by a separate child that stops there.
    env = {**os.environ, "APP_ENV": os.environ.get("APP_ENV", "testing")}
    rows = {}
    bare = _run("STEPS = ['']\n" + CHILD.replace("import newsletter  # noqa", ""), env, flags)
    rows[0] = bare[0]
    only_package = _run("STEPS = ['', '']\n" + CHILD, env, flags)
    rows[1] = only_package[1]
    codes = [code for _, code in STEPS]
    full = _run(f"STEPS = {codes!r}\n" + CHILD, env, flags)
    rows.update({i: v for i, v in full.items() if i >= 2})
    print(f"interpreter flags: {' '.join(flags) or '(none)'}")
    print(f"{'step':66s} {'VmRSS':>7s} {'+':>6s} {'RssAnon':>8s} {'+':>6s}  (MiB)")
    before = None
    for i, (label, _code) in enumerate(STEPS):
        rss, anon = rows[i]
        if before is None:
            print(f"{label:66s} {rss / 1024:7.1f} {'':6s} {anon / 1024:8.1f}")
        else:
            print(
                f"{label:66s} {rss / 1024:7.1f} {(rss - before[0]) / 1024:+6.1f} "
                f"{anon / 1024:8.1f} {(anon - before[1]) / 1024:+6.1f}"
            )
        before = (rss, anon)


def _run(code: str, env: dict, flags: list[str]) -> dict[int, tuple[int, int]]:
    out = subprocess.run(
        [sys.executable, *flags, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if out.returncode:
        raise SystemExit(out.stderr)
    rows = {}
    for line in out.stdout.splitlines():
        i, rss, anon = line.split()
        rows[int(i)] = (int(rss), int(anon))
    return rows


if __name__ == "__main__":
    main()
