"""The machinery: Jinja2 environments, MJML compilation and CSS inlining.

Everything expensive to set up (Jinja environments, the Premailer options object) is created
once per process and reused; none of it touches Flask or the database.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from pathlib import Path

import cssutils
import jinja2
from markupsafe import Markup
from mjml import mjml2html
from premailer import Premailer

from newsletter.render.markup import display_width
from newsletter.render.placeholders import defuse
from newsletter.resources import EMAIL_TEMPLATES

TEMPLATE_ENV_VAR = "NEWSLETTER_EMAIL_TEMPLATES"
DEFAULT_TEMPLATE_DIR = EMAIL_TEMPLATES  # templates/email/, packaged in a wheel

# cssutils complains about every vendor property MJML emits (-webkit-text-size-adjust...).
cssutils.log.setLevel(logging.CRITICAL)


def template_dir(override: str | os.PathLike | None = None) -> Path:
    """Argument, else $NEWSLETTER_EMAIL_TEMPLATES, else templates/email (newsletter.resources)."""
    chosen = override or os.environ.get(TEMPLATE_ENV_VAR) or DEFAULT_TEMPLATE_DIR
    return Path(chosen).resolve()


def _finalize(value):
    # Every {{ expr }} of document text passes here: a "{{" in it must not become a token.
    # Markup (our own HTML and the placeholder tokens) is trusted and left alone.
    if isinstance(value, str) and not isinstance(value, Markup):
        return defuse(value)
    return value


@functools.lru_cache(maxsize=8)
def environment(directory: Path) -> jinja2.Environment:
    """One Jinja environment per template folder, autoescaping everything but *.txt."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(directory)),
        autoescape=lambda name: name is None or not name.endswith(".txt"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_finalize,
    )
    # "要闻" -> "====": CJK characters take two columns in a monospace view
    env.filters["underline"] = lambda s, ch="=": ch * display_width(s)
    return env


def compile_mjml(source: str) -> str:
    """MJML -> HTML. `fonts={}`: MJML's default Google-Fonts <link> would otherwise make
    premailer fetch it over the network (and CJK web fonts are megabytes anyway)."""
    return mjml2html(source, fonts={}, disable_comments=True)


# Created once: options only; `transform(html)` takes the document per call.
_PREMAILER = Premailer(
    allow_network=False,  # never fetch <link> stylesheets
    keep_style_tags=False,  # keep only what cannot be inlined (@media, :hover)
    strip_important=False,  # MJML's responsive @media rules rely on !important
    remove_classes=False,  # the kept @media rules select by class
    disable_validation=True,  # do not drop vendor properties cssutils does not know
    cssutils_logging_level=logging.CRITICAL,
    exclude_pseudoclasses=True,
    disable_basic_attributes=["width", "height", "align", "bgcolor", "valign"],
)


# premailer serialises everything on one ~50 k-character line; SMTP limits lines to 998
# octets unless the part is QP/base64-encoded. A newline before a block-level tag renders as
# nothing (whitespace between blocks collapses), so it is a safe place to break.
_BLOCK_START_RE = re.compile(r"(?<=>)(?=<(?:table|tr|td|div|p|h[1-6]|ul|li|!--\[if)[\s>])")


def inline_css(html: str) -> str:
    # premailer keeps the doctype only if it matches lxml's spelling exactly; MJML writes
    # "<!doctype html>", and losing it would put browsers/webmail in quirks mode.
    if html[:15].lower() == "<!doctype html>":
        html = "<!DOCTYPE html>" + html[15:]
    out = _PREMAILER.transform(html, pretty_print=False)
    return _BLOCK_START_RE.sub("\n", out)
