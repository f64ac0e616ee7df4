"""Rendering of the bulletin into email: a pure function of an IssueDoc (no Flask, no DB).

    rendered = render_edition(doc, Edition.PRIORITY, archive_url="https://…/396")
    html, text = personalise(rendered, {"unsubscribe_url": …, "preferences_url": …,
                                        "name": "张三", "open_pixel_url": ""})

Render once per edition (and section filter); personalise once per recipient.
"""

from typing import TYPE_CHECKING

from newsletter.render.placeholders import PLACEHOLDERS, personalise, token
from newsletter.render.rendered import Edition, RenderedEdition

if TYPE_CHECKING:
    from newsletter.render.edition import (
        GMAIL_CLIP_BYTES,
        PRIORITY_MARK,
        SIZE_WARN_BYTES,
        render_edition,
        subject_for,
    )
    from newsletter.render.engine import DEFAULT_TEMPLATE_DIR, TEMPLATE_ENV_VAR

# Rendering loads on first use, not with the package: a send worker only personalises stored
# renderings (Edition, RenderedEdition, personalise), so markupsafe, the frame and markup
# (~0.6 MiB) and the engine (MJML, premailer, cssutils) stay out of it (issue 16).
_LAZY = {
    "GMAIL_CLIP_BYTES": "edition",
    "PRIORITY_MARK": "edition",
    "SIZE_WARN_BYTES": "edition",
    "render_edition": "edition",
    "subject_for": "edition",
    "DEFAULT_TEMPLATE_DIR": "engine",
    "TEMPLATE_ENV_VAR": "engine",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"newsletter.render.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_TEMPLATE_DIR",
    "GMAIL_CLIP_BYTES",
    "PLACEHOLDERS",
    "PRIORITY_MARK",
    "SIZE_WARN_BYTES",
    "TEMPLATE_ENV_VAR",
    "Edition",
    "RenderedEdition",
    "personalise",
    "render_edition",
    "subject_for",
    "token",
]
