"""Staff preview of an issue's editions (the test send itself is sends.testsend.send_test).

No HTTP here: the views call these with the app's config and show the results.
"""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.bulletin.document import IssueDoc
from newsletter.display import label
from newsletter.render import (
    GMAIL_CLIP_BYTES,
    SIZE_WARN_BYTES,
    Edition,
    RenderedEdition,
    personalise,
    render_edition,
)


@dataclass(frozen=True)
class EditionFigures:
    edition: Edition
    label: str
    subject: str
    html_bytes: int
    warnings: list[str]

    @property
    def level(self) -> str:
        """ "ok", "warn" (close to Gmail's clipping) or "over" (will be clipped)."""
        if self.html_bytes > GMAIL_CLIP_BYTES:
            return "over"
        return "warn" if self.html_bytes > SIZE_WARN_BYTES else "ok"

    @property
    def percent_of_limit(self) -> int:
        return round(100 * self.html_bytes / GMAIL_CLIP_BYTES)


def archive_url(base_url: str, number: int) -> str:
    return f"{base_url}/archive/{number}"


def render(doc: IssueDoc, edition: Edition, base_url: str) -> RenderedEdition:
    return render_edition(doc, edition, archive_url=archive_url(base_url, doc.number))


def render_all(doc: IssueDoc, base_url: str) -> dict[Edition, RenderedEdition]:
    return {edition: render(doc, edition, base_url) for edition in Edition}


def figures(rendered: dict[Edition, RenderedEdition]) -> list[EditionFigures]:
    """Subject, HTML size and the renderer's warnings of each rendered edition."""
    return [
        EditionFigures(e, label("edition", e), r.subject, r.html_bytes, list(r.warnings))
        for e, r in rendered.items()
    ]


def sample_copy(rendered: RenderedEdition, base_url: str) -> tuple[str, str]:
    """(html, text) as a reader would get them, with harmless links and no tracking pixel."""
    return personalise(
        rendered,
        {
            "unsubscribe_url": f"{base_url}/unsubscribe/preview",
            "preferences_url": f"{base_url}/preferences/preview",
            "name": "",
            "open_pixel_url": "",
        },
    )
