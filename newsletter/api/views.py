"""The API blueprint with all its routes (registered by create_app)."""

from __future__ import annotations

from flask import jsonify

from newsletter.api import groups, resources, sends  # noqa: F401  (they add routes to bp)
from newsletter.api.core import bp
from newsletter.api.openapi import document


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3 document of this API (public: it holds no data)."""
    return jsonify(document())
