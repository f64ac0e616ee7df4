"""What a rendering is, apart from the rendering: the editions and `RenderedEdition`.

Light on purpose (no markupsafe, no templates): a send worker personalises stored renderings
and never renders, so it imports this and `placeholders`, not `edition` (issue 16: peak RSS
per worker).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from enum import StrEnum

from newsletter.render.placeholders import split_tokens


class Edition(StrEnum):
    REGULAR = "regular"
    PRIORITY = "priority"  # 报：协会领导 — carries the 编者按


@dataclass(frozen=True)
class RenderedEdition:
    """One rendered edition, shared by all its recipients: treat it as immutable.

    `html`/`text` contain the placeholder tokens; `personalise` fills them in.
    """

    subject: str
    html: str
    text: str
    html_bytes: int = -1
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.html_bytes < 0:
            object.__setattr__(self, "html_bytes", len(self.html.encode("utf-8")))

    @classmethod
    def from_stored(cls, subject: str, html: str, text: str) -> RenderedEdition:
        """Rebuild from what a SendVariant row keeps (subject, html, text)."""
        return cls(subject=subject, html=html, text=text)

    @functools.cached_property
    def token_parts(self) -> tuple[list[str], list[str]]:
        """html and text split around their tokens, computed once for all recipients."""
        return split_tokens(self.html), split_tokens(self.text)
