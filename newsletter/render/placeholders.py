"""Per-recipient placeholders: the token syntax, and filling them in after rendering.

An edition is rendered once per send (MJML + premailer take milliseconds); each recipient's
copy is then made by substituting a handful of literal tokens. The syntax lives here only:
`{{name}}`, ASCII word characters, no spaces. MJML and premailer pass it through untouched,
including inside `href` attributes (tested in tests/render/test_placeholders.py).

Tokens in the rendered output, and the `values` keys `personalise` reads to fill them:

=================  ===============================  =====================================
token              filled from ``values[...]``      notes
=================  ===============================  =====================================
unsubscribe_url    ``unsubscribe_url`` (required)   http(s) URL; also in the text part
preferences_url    ``preferences_url`` (required)   http(s) URL; also in the text part
greeting           ``name`` (optional)              "尊敬的<name>：" or "尊敬的读者："
greeting_en        ``name`` (optional)              "Dear <name>," or "Dear reader,"
open_pixel         ``open_pixel_url`` (optional)    whole 1x1 ``<img>`` tag, or "" (HTML only)
=================  ===============================  =====================================

The greeting and the pixel are whole tokens rather than `{{name}}` inside fixed text so that
an empty value leaves no dangling punctuation or empty `<img src="">` behind.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from newsletter.render.edition import RenderedEdition

PLACEHOLDERS: dict[str, str] = {
    "unsubscribe_url": "one-click unsubscribe link of this recipient",
    "preferences_url": "preference-centre link of this recipient",
    "greeting": "salutation built from values['name']",
    "greeting_en": "the same salutation in English (the frame of readers who chose en)",
    "open_pixel": "1x1 open-tracking <img> built from values['open_pixel_url'], or nothing",
    "click_base": "signed click-redirect base of this recipient; tracked links are {{click_base}}/<n>",
}

REQUIRED_VALUES = ("unsubscribe_url", "preferences_url")
OPTIONAL_VALUES = ("name", "open_pixel_url", "click_base_url")

# html.escape(value, quote=True), written out: `import html` loads its entity table
# (html.entities, ~0.3 MiB) into every send worker, which escapes and never unescapes.


def escape(value: str) -> str:
    """`value` safe in HTML text and in a quoted attribute: what html.escape(value, quote=True)
    gives (tests/render/test_render_placeholders.py checks it)."""
    # Chained replace, as html.escape does: ~8x faster than str.translate on these short URLs.
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return value.replace('"', "&quot;").replace("'", "&#x27;")


_TOKEN_RE = re.compile(r"\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}")

# Content that happens to contain "{{" must not be mistaken for a token: the renderer inserts
# an invisible ZERO WIDTH SPACE between the braces of any "{{" coming from the document.
ZWSP = "\u200b"


def token(name: str) -> str:
    """The literal text standing for placeholder `name` in rendered output."""
    if name not in PLACEHOLDERS:
        raise KeyError(f"unknown placeholder {name!r}")
    return "{{" + name + "}}"


def defuse(text: str) -> str:
    """Break any "{{" in document text so that it can never be read as a token."""
    return text.replace("{{", "{" + ZWSP + "{") if "{{" in text else text


def split_tokens(template: str) -> list[str]:
    """Split into [literal, token-name, literal, token-name, ..., literal].

    Done once per edition so that `personalise` is a plain join (no regex per recipient).
    Unknown `{{word}}` sequences stay literal.
    """
    parts: list[str] = []
    last = 0
    for m in _TOKEN_RE.finditer(template):
        if m.group(1) not in PLACEHOLDERS:
            continue
        parts.append(template[last : m.start()])
        parts.append(m.group(1))
        last = m.end()
    parts.append(template[last:])
    return parts


def _fill(parts: list[str], subst: dict[str, str]) -> str:
    out = parts[:]
    for i in range(1, len(out), 2):
        out[i] = subst[out[i]]
    return "".join(out)


def _check_url(key: str, url: str, *, required: bool) -> str:
    if not url:
        if required:
            raise ValueError(f"placeholder value {key!r} is empty")
        return ""
    # str.split() without arguments cuts at exactly what str.isspace() calls white space,
    # in C (a generator over the characters cost ~0.3 ms per message).
    if not url.startswith(("https://", "http://")) or url.split(None, 1) != [url]:
        raise ValueError(f"placeholder value {key!r} is not an http(s) URL: {url!r}")
    return url


def substitutions(values: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Validate `values` and return the (html, text) replacement of every token."""
    unknown = set(values) - set(REQUIRED_VALUES) - set(OPTIONAL_VALUES)
    if unknown:
        raise ValueError(f"unknown placeholder values: {sorted(unknown)}")
    for key in REQUIRED_VALUES:
        if key not in values:
            raise KeyError(key)
    unsub = _check_url("unsubscribe_url", values["unsubscribe_url"], required=True)
    prefs = _check_url("preferences_url", values["preferences_url"], required=True)
    pixel = _check_url("open_pixel_url", values.get("open_pixel_url") or "", required=False)
    click = _check_url("click_base_url", values.get("click_base_url") or "", required=False)
    name = " ".join((values.get("name") or "").split())  # no newlines into a salutation
    greeting = f"尊敬的{name}：" if name else "尊敬的读者："
    greeting_en = f"Dear {name}," if name else "Dear reader,"
    html_subst = {
        "unsubscribe_url": escape(unsub),
        "preferences_url": escape(prefs),
        "greeting": escape(greeting),
        "greeting_en": escape(greeting_en),
        "open_pixel": (
            f'<img src="{escape(pixel)}" width="1" height="1" alt="" '
            'style="display:block;width:1px;height:1px;border:0;">'
            if pixel
            else ""
        ),
        "click_base": escape(click),
    }
    text_subst = {
        "unsubscribe_url": unsub,
        "preferences_url": prefs,
        "greeting": greeting,
        "greeting_en": greeting_en,
        "open_pixel": "",
        "click_base": click,
    }
    return html_subst, text_subst


def personalise(rendered: RenderedEdition, values: dict[str, str]) -> tuple[str, str]:
    """Return (html, text) of `rendered` for one recipient.

    `values`: ``unsubscribe_url`` and ``preferences_url`` (required, http(s) URLs), ``name``
    and ``open_pixel_url`` (optional; empty or missing removes the pixel cleanly). HTML gets
    attribute-safe escaped values, text gets them raw. Raises KeyError when a required value
    is missing, ValueError when one is empty/not a URL or an unknown key is given.
    """
    html_subst, text_subst = substitutions(values)
    html_parts, text_parts = rendered.token_parts
    return _fill(html_parts, html_subst), _fill(text_parts, text_subst)
