"""The constant-answer Flask app that bench/tracking.py compares the real endpoints with:
the same two URL shapes, a fixed GIF and a fixed redirect, no token check, no Redis."""

from __future__ import annotations

import base64

from flask import Flask, Response, redirect

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/t/o/<token>.gif")
    def open_pixel(token: str):
        return Response(PIXEL, mimetype="image/gif", headers={"Cache-Control": "no-store"})

    @app.get("/t/c/<token>/<int:n>")
    def click(token: str, n: int):
        return redirect("https://example.org/a/1", code=302)

    return app
