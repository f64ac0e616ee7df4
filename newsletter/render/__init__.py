"""Rendering of the bulletin into email: a pure function of an IssueDoc (no Flask, no DB).

    rendered = render_edition(doc, Edition.PRIORITY, archive_url="https://…/396")
    html, text = personalise(rendered, {"unsubscribe_url": …, "preferences_url": …,
                                        "name": "张三", "open_pixel_url": ""})

Render once per edition (and section filter); personalise once per recipient.
"""

from newsletter.render.edition import (
    GMAIL_CLIP_BYTES,
    PRIORITY_MARK,
    SIZE_WARN_BYTES,
    Edition,
    RenderedEdition,
    render_edition,
    subject_for,
)
from newsletter.render.placeholders import PLACEHOLDERS, personalise, token


def __getattr__(name: str):
    # The engine (MJML, premailer, cssutils) loads on first use, not with the package.
    if name in ("DEFAULT_TEMPLATE_DIR", "TEMPLATE_ENV_VAR"):
        from newsletter.render import engine

        return getattr(engine, name)
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
