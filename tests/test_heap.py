"""The start-up heap frozen (newsletter/heap.py) by the web server's app factory."""

from __future__ import annotations

import gc

from newsletter import webserver


def test_the_served_app_leaves_its_start_up_heap_out_of_collections(monkeypatch):
    monkeypatch.setenv("APP_ENV", "testing")
    gc.unfreeze()
    try:
        app = webserver.served_app()
        frozen = gc.get_freeze_count()
        assert app.name == "newsletter"
        # The app's objects (tens of thousands) are frozen; a full collection skips them.
        assert frozen > 20_000
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()  # this test process goes on building apps
