"""Render one edition of an issue: IssueDoc -> subject, inlined HTML and plain text.

A pure function of its arguments (plus the template files): no Flask, no database. The
per-recipient parts are left as placeholder tokens (see `placeholders`), so one rendering
serves every recipient of that edition.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from enum import StrEnum

from markupsafe import Markup

from newsletter.bulletin.document import IssueDoc
from newsletter.render.markup import (
    Footnotes,
    SummaryMatcher,
    date_cn,
    inline_html,
    inline_text,
    paragraphs_of,
    squash,
    strip_bullet,
)
from newsletter.render.placeholders import split_tokens, token

# Gmail clips messages whose HTML is over ~102 KB ("[Message clipped]"), hiding the
# unsubscribe link. Warn with some room left for the per-recipient URLs and the pixel.
GMAIL_CLIP_BYTES = 102_000
SIZE_WARN_BYTES = 90_000

_BLANKS_RE = re.compile(r"\n[ \t]*(?:\n[ \t]*){3,}")

SUMMARY_SECTION = "摘要"
PRIORITY_MARK = "领导版"  # subject prefix 【领导版】 and masthead badge of the priority edition
FOOT_LABELS = ("编辑部", "责编", "复核")
DISCLAIMER_LABEL = "注"
FONT_STACK = ("-apple-system, 'PingFang SC', 'Hiragino Sans GB', 'Microsoft YaHei', "
              "'Noto Sans CJK SC', 'Source Han Sans SC', sans-serif")


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


def subject_for(doc: IssueDoc, edition: Edition) -> str:
    base = f"{doc.title} 第 {doc.number} 期（{date_cn(doc.date)}）"
    return f"【{PRIORITY_MARK}】{base}" if edition is Edition.PRIORITY else base


def _credit(value) -> str:
    return " ".join(value) if isinstance(value, (list, tuple)) else str(value)


def _intro(shown: int, total: int, filtered: bool) -> str:
    if filtered and shown < total:
        return f"按您的订阅偏好，本期为您精选 {shown} 条动态（全期共 {total} 条）。"
    return f"本期共收录 {total} 条行业动态。"


def _build_context(doc: IssueDoc, edition: Edition, archive_url: str,
                   keep: set[str] | None, warnings: list[str]) -> dict:
    """Everything the templates need, numbered and filtered, as plain dicts."""
    priority = edition is Edition.PRIORITY
    note = paragraphs_of(doc.editor_note) if priority else []
    footnotes = Footnotes()  # numbered in the text part's reading order: note, sections
    note_text = [inline_text(p, footnotes) for p in note]

    sections, titles, n = [], [], 0
    for s_idx, section in enumerate(doc.sections, 1):
        start = n + 1
        n += len(section.articles)  # numbered over the whole issue: stable under filtering
        titles += [(i, squash(a.title), section.name)
                   for i, a in enumerate(section.articles, start)]
        if keep is not None and section.name not in keep:
            continue
        arts = [{"n": i, "anchor": f"a-{i}", "title": a.title,
                 "paras_html": [inline_html(p) for p in a.paragraphs],
                 "paras_text": [inline_text(p, footnotes) for p in a.paragraphs]}
                for i, a in enumerate(section.articles, start)]
        sections.append({"name": section.name, "anchor": f"s-{s_idx}", "articles": arts})
    kept = {s["name"] for s in sections}

    summary, matcher = [], SummaryMatcher(titles)
    for item in doc.summary:
        text = strip_bullet(item)
        match = matcher.match(item)
        if match is None:
            warnings.append(f"摘要 item without a matching article: {text!r}")
        linked = match is not None and match[2] in kept
        summary.append({"text": text, "n": match[0] if linked else None,
                        "anchor": f"a-{match[0]}" if linked else None})

    credits = doc.credits or {}
    foot = [(k, _credit(credits[k])) for k in FOOT_LABELS if credits.get(k)]
    foot += [(k, _credit(v)) for k, v in credits.items()
             if k not in FOOT_LABELS and k != DISCLAIMER_LABEL and v]
    leaders = _credit(doc.distribution.get("报", "")) if doc.distribution else ""
    return {
        "subject": subject_for(doc, edition),
        "title": doc.title, "publisher": doc.publisher, "number": doc.number,
        "date_cn": date_cn(doc.date),
        "priority": priority, "mark": PRIORITY_MARK if priority else "",
        "leaders": leaders if priority else "",
        "note_html": [inline_html(p) for p in note],
        "note_text": note_text,
        "summary": summary,
        "intro": _intro(sum(len(s["articles"]) for s in sections), n, keep is not None),
        "preview": "；".join(i["text"] for i in summary)[:120],
        "sections": sections,
        "foot": foot,
        "disclaimer": _credit(credits.get(DISCLAIMER_LABEL, "")),
        "footnotes": footnotes,
        "archive_url": archive_url,
        "font_stack": FONT_STACK,
        # tokens are Markup so that neither autoescape nor `finalize` touches them
        "tok": {k: Markup(token(k)) for k in
                ("unsubscribe_url", "preferences_url", "greeting", "open_pixel")},
    }


def render_edition(doc: IssueDoc, edition: Edition, *, archive_url: str,
                   sections: list[str] | None = None,
                   template_dir: str | os.PathLike | None = None) -> RenderedEdition:
    """Render `edition` of `doc`.

    `archive_url`: the web copy ("在浏览器中查看"), an http(s) URL.
    `sections`: names of the sections to keep (a subscriber's interests); the 摘要 is
    always kept, its bullets link only to articles still present. None keeps everything.
    `template_dir`: defaults to $NEWSLETTER_EMAIL_TEMPLATES or <repo>/templates/email.
    """
    edition = Edition(edition)
    if not archive_url.startswith(("https://", "http://")):
        raise ValueError(f"archive_url must be an http(s) URL: {archive_url!r}")
    warnings: list[str] = []
    keep = None
    if sections is not None:
        keep = set(sections) - {SUMMARY_SECTION}
        unknown = keep - {s.name for s in doc.sections}
        if unknown:
            warnings.append(f"unknown sections ignored: {sorted(unknown)}")

    ctx = _build_context(doc, edition, archive_url, keep, warnings)
    # Imported here: MJML, premailer and cssutils (~25 MiB) stay out of processes that only
    # personalise stored renderings (the send workers).
    from newsletter.render import engine

    env = engine.environment(engine.template_dir(template_dir))
    mjml_source = env.get_template("bulletin.mjml").render(ctx)
    html = engine.inline_css(engine.compile_mjml(mjml_source))
    text = env.get_template("bulletin.txt").render(ctx)
    text = _BLANKS_RE.sub("\n\n\n", text).strip() + "\n"  # at most two blank lines

    rendered = RenderedEdition(subject=ctx["subject"], html=html, text=text,
                               warnings=warnings)
    size = rendered.html_bytes
    if size > GMAIL_CLIP_BYTES:
        warnings.append(f"HTML is {size / 1000:.1f} KB: over Gmail's ~102 KB clipping limit, "
                        "the end of the message (with the unsubscribe link) will be hidden")
    elif size > SIZE_WARN_BYTES:
        warnings.append(f"HTML is {size / 1000:.1f} KB: close to Gmail's ~102 KB clipping "
                        "limit")
    return rendered
