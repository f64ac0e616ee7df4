"""Render one edition of an issue: IssueDoc -> subject, inlined HTML and plain text.

A pure function of its arguments (plus the template files): no Flask, no database. The
per-recipient parts are left as placeholder tokens (see `placeholders`), so one rendering
serves every recipient of that edition.
"""

from __future__ import annotations

import os
import re
from typing import Any

from markupsafe import Markup

from newsletter.bulletin.document import IssueDoc
from newsletter.render import frame
from newsletter.render.markup import (
    Footnotes,
    SummaryMatcher,
    inline_html,
    inline_text,
    paragraphs_of,
    squash,
    strip_bullet,
)
from newsletter.render.placeholders import token
from newsletter.render.rendered import Edition, RenderedEdition

# Gmail clips messages whose HTML is over ~102 KB ("[Message clipped]"), hiding the
# unsubscribe link. Warn with some room left for the per-recipient URLs and the pixel.
GMAIL_CLIP_BYTES = 102_000
SIZE_WARN_BYTES = 90_000

_BLANKS_RE = re.compile(r"\n[ \t]*(?:\n[ \t]*){3,}")

SUMMARY_SECTION = "摘要"
PRIORITY_MARK = "领导版"  # subject prefix 【领导版】 and masthead badge of the priority edition
FOOT_LABELS = ("编辑部", "责编", "复核")
DISCLAIMER_LABEL = "注"
FONT_STACK = (
    "-apple-system, 'PingFang SC', 'Hiragino Sans GB', 'Microsoft YaHei', "
    "'Noto Sans CJK SC', 'Source Han Sans SC', sans-serif"
)


def subject_for(doc: IssueDoc, edition: Edition, language: str = frame.DEFAULT) -> str:
    w = frame.words(language)
    base = w["subject"].format(
        title=doc.title, n=doc.number, date=frame.date_text(doc.date, language)
    )
    return f"【{w['priority']}】{base}" if edition is Edition.PRIORITY else base


def _credit(value) -> str:
    return " ".join(value) if isinstance(value, (list, tuple)) else str(value)


def _intro(shown: int, total: int, filtered: bool, w: dict[str, str]) -> str:
    if filtered and shown < total:
        return w["intro_some"].format(shown=shown, total=total)
    return w["intro_all"].format(total=total)


def _build_context(
    doc: IssueDoc,
    edition: Edition,
    archive_url: str,
    keep: set[str] | None,
    warnings: list[str],
    language: str = frame.DEFAULT,
) -> dict:
    """Everything the templates need, numbered and filtered, as plain dicts.

    Anchors (`a-<n>`) follow the whole issue's numbering, as the web archive's do; the
    numbers a reader sees count the articles of this variant, 1, 2, 3… without gaps."""
    w = frame.words(language)
    priority = edition is Edition.PRIORITY
    note = paragraphs_of(doc.editor_note) if priority else []
    footnotes = Footnotes()  # numbered in the text part's reading order: note, sections
    note_text = [inline_text(p, footnotes) for p in note]

    sections: list[dict[str, Any]] = []
    titles, n = [], 0
    for s_idx, section in enumerate(doc.sections, 1):
        start = n + 1
        n += len(section.articles)  # numbered over the whole issue: stable under filtering
        titles += [
            (i, squash(a.title), section.name) for i, a in enumerate(section.articles, start)
        ]
        if keep is not None and section.name not in keep:
            continue
        arts = [
            {
                "n": 0,
                "anchor": f"a-{i}",
                "title": a.title,
                "paras_html": [inline_html(p) for p in a.paragraphs],
                "paras_text": [inline_text(p, footnotes) for p in a.paragraphs],
            }
            for i, a in enumerate(section.articles, start)
        ]
        sections.append({"name": section.name, "anchor": f"s-{s_idx}", "articles": arts})
    kept = {s["name"] for s in sections}
    shown_no: dict[int, int] = {}  # issue-wide number -> the number this reader sees
    for art in (a for s in sections for a in s["articles"]):
        art["n"] = len(shown_no) + 1
        shown_no[int(art["anchor"][2:])] = art["n"]

    summary: list[dict[str, Any]] = []
    matcher = SummaryMatcher(titles)
    for item in doc.summary:
        text = strip_bullet(item)
        match = matcher.match(item)
        if match is None:
            warnings.append(f"摘要 item without a matching article: {text!r}")
        linked = match if match is not None and match[2] in kept else None
        if keep is not None and linked is None:
            continue  # a reader who chose sections sees only their sections' headlines
        summary.append(
            {
                "text": text,
                "n": shown_no[linked[0]] if linked else None,
                "anchor": f"a-{linked[0]}" if linked else None,
            }
        )

    credits = doc.credits or {}
    foot = [
        (frame.foot_label(k, language), _credit(credits[k])) for k in FOOT_LABELS if credits.get(k)
    ]
    foot += [
        (frame.foot_label(k, language), _credit(v))
        for k, v in credits.items()
        if k not in FOOT_LABELS and k != DISCLAIMER_LABEL and v
    ]
    leaders = _credit(doc.distribution.get("报", "")) if doc.distribution else ""
    return {
        "subject": subject_for(doc, edition, language),
        "title": doc.title,
        "publisher": doc.publisher,
        "number": doc.number,
        "date_cn": frame.date_text(doc.date, language),
        "lang": "en" if frame.language_of(language) == "en" else "zh-CN",
        "w": w,
        "issue_no": w["issue_no"].format(n=doc.number),
        "why": w["why"].format(publisher=doc.publisher, title=doc.title),
        "disclaimer_label": frame.foot_label(DISCLAIMER_LABEL, language),
        "priority": priority,
        "mark": w["priority"] if priority else "",
        "leaders": leaders if priority else "",
        "note_html": [inline_html(p) for p in note],
        "note_text": note_text,
        "summary": summary,
        "intro": _intro(sum(len(s["articles"]) for s in sections), n, keep is not None, w),
        "preview": "；".join(i["text"] for i in summary)[:120],
        "sections": sections,
        "foot": foot,
        "disclaimer": _credit(credits.get(DISCLAIMER_LABEL, "")),
        "footnotes": footnotes,
        "archive_url": archive_url,
        "font_stack": FONT_STACK,
        # tokens are Markup so that neither autoescape nor `finalize` touches them
        "tok": {
            k: Markup(token(k))
            for k in ("unsubscribe_url", "preferences_url", "greeting", "open_pixel")
        }
        | {
            "greeting": Markup(
                token("greeting_en" if frame.language_of(language) == "en" else "greeting")
            )
        },
    }


def render_edition(
    doc: IssueDoc,
    edition: Edition,
    *,
    archive_url: str,
    sections: list[str] | None = None,
    language: str = frame.DEFAULT,
    template_dir: str | os.PathLike | None = None,
) -> RenderedEdition:
    """Render `edition` of `doc`.

    `archive_url`: the web copy ("在浏览器中查看"), an http(s) URL.
    `sections`: names of the sections to keep (a subscriber's interests); the 摘要 is
    always kept, its bullets link only to articles still present. None keeps everything.
    `language`: the frame's language (zh_CN, or en for readers who chose English).
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

    ctx = _build_context(doc, edition, archive_url, keep, warnings, language)
    # Imported here: MJML, premailer and cssutils (~25 MiB) stay out of processes that only
    # personalise stored renderings (the send workers).
    from newsletter.render import engine

    env = engine.environment(engine.template_dir(template_dir))
    mjml_source = env.get_template("bulletin.mjml").render(ctx)
    html = engine.inline_css(engine.compile_mjml(mjml_source))
    text = env.get_template("bulletin.txt").render(ctx)
    text = _BLANKS_RE.sub("\n\n\n", text).strip() + "\n"  # at most two blank lines

    rendered = RenderedEdition(subject=ctx["subject"], html=html, text=text, warnings=warnings)
    size = rendered.html_bytes
    if size > GMAIL_CLIP_BYTES:
        warnings.append(
            f"HTML is {size / 1000:.1f} KB: over Gmail's ~102 KB clipping limit, "
            "the end of the message (with the unsubscribe link) will be hidden"
        )
    elif size > SIZE_WARN_BYTES:
        warnings.append(f"HTML is {size / 1000:.1f} KB: close to Gmail's ~102 KB clipping limit")
    return rendered
