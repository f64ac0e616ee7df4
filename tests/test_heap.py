"""The start-up heap frozen (newsletter/heap.py) by the web server's app factory: in a
process of its own, as a granian worker builds it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT

CHILD = """
import gc, json
from newsletter import webserver
app = webserver.served_app()
# What a full collection still visits (the permanent generation is skipped).
print(json.dumps({"name": app.name, "frozen": gc.get_freeze_count(),
                  "visited": len(gc.get_objects())}))
"""


def test_the_served_app_leaves_its_start_up_heap_out_of_collections():
    env = {**os.environ, "APP_ENV": "testing"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.splitlines()[-1])
    assert got["name"] == "newsletter"
    # The app's ~100,000 objects are frozen; a collection visits only the few made since.
    assert got["frozen"] > 50_000
    assert got["visited"] < 2_000
