"""The MJML templates: compile cleanly, only known tags, zh-CN/colour-scheme head, overrides."""

from __future__ import annotations

import re
import shutil

import pytest

from newsletter.render import DEFAULT_TEMPLATE_DIR, TEMPLATE_ENV_VAR, Edition, render_edition
from newsletter.render.edition import FONT_STACK
from tests.render.render_support import ARCHIVE_URL

# The MJML 4 tags we use or may use; mjml-python accepts unknown tags silently.
KNOWN_TAGS = {
    "mjml",
    "mj-head",
    "mj-body",
    "mj-title",
    "mj-preview",
    "mj-raw",
    "mj-attributes",
    "mj-all",
    "mj-class",
    "mj-style",
    "mj-breakpoint",
    "mj-font",
    "mj-section",
    "mj-wrapper",
    "mj-column",
    "mj-group",
    "mj-text",
    "mj-divider",
    "mj-spacer",
    "mj-image",
    "mj-button",
    "mj-table",
    "mj-include",
}


def test_templates_use_only_known_mjml_tags():
    files = list(DEFAULT_TEMPLATE_DIR.rglob("*.mjml"))
    assert len(files) >= 5
    for f in files:
        tags = set(re.findall(r"</?(mj[a-z-]*)", f.read_text(encoding="utf-8")))
        assert tags <= KNOWN_TAGS, (f.name, tags - KNOWN_TAGS)


@pytest.mark.parametrize("edition", list(Edition))
def test_output_is_fully_compiled(big_doc, edition):
    r = render_edition(big_doc, edition, archive_url=ARCHIVE_URL)
    assert "<mj-" not in r.html and "</mj-" not in r.html and "mj-class" not in r.html
    assert r.html.startswith("<!DOCTYPE html>")
    assert '<html lang="zh-CN"' in r.html
    assert '<meta name="color-scheme" content="light dark">' in r.html
    assert '<meta name="supported-color-schemes" content="light dark">' in r.html
    assert "@media only screen and (min-width: 480px)" in r.html  # MJML's responsive rule
    assert "width: 100% !important" in r.html  # ...with its !important
    assert "prefers-color-scheme: dark" in r.html
    assert "<link" not in r.html and "googleapis" not in r.html  # no web fonts to fetch
    assert "'PingFang SC'" in FONT_STACK and "font-family:-apple-system" in r.html
    assert "max-width:660px" in r.html
    # inlined: paragraphs carry their own style, not only a class in <style>
    assert re.search(r'<p style="[^"]*text-align:justify', r.html)
    assert max(len(line.encode()) for line in r.html.split("\n")) <= 998


def test_template_dir_override_by_env_and_argument(sample_doc, tmp_path, monkeypatch):
    custom = tmp_path / "tpl"
    shutil.copytree(DEFAULT_TEMPLATE_DIR, custom)
    txt = custom / "bulletin.txt"
    txt.write_text("自定义模板 {{ title }}\n" + txt.read_text(encoding="utf-8"), encoding="utf-8")
    by_arg = render_edition(
        sample_doc, Edition.REGULAR, archive_url=ARCHIVE_URL, template_dir=custom
    )
    assert by_arg.text.startswith("自定义模板 行业动态周报")
    monkeypatch.setenv(TEMPLATE_ENV_VAR, str(custom))
    by_env = render_edition(sample_doc, Edition.REGULAR, archive_url=ARCHIVE_URL)
    assert by_env.text == by_arg.text
    monkeypatch.delenv(TEMPLATE_ENV_VAR)
    default = render_edition(sample_doc, Edition.REGULAR, archive_url=ARCHIVE_URL)
    assert not default.text.startswith("自定义模板")
