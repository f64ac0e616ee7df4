"""The personalised sample in headless Chromium: no horizontal scroll, readable, screenshots.

Screenshots go to <repo>/test-artifacts/email-{375,800}.png (and a dark-mode phone one) for
a person to look at.
"""

from __future__ import annotations

import pytest

from newsletter.render import Edition, personalise, render_edition
from tests.render.render_support import ARCHIVE_URL, REPO, VALUES

ARTIFACTS = REPO / "test-artifacts"

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width,scheme", [(375, "light"), (800, "light"), (375, "dark")])
def test_layout_in_chromium(browser, big_doc, width, scheme):
    r = render_edition(big_doc, Edition.PRIORITY, archive_url=ARCHIVE_URL)
    # no pixel: set_content would try to fetch it
    html, _ = personalise(r, {**VALUES, "open_pixel_url": ""})
    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
    try:
        page.route("**/*", lambda route: route.abort())  # offline: nothing may be fetched
        page.set_content(html, wait_until="load")
        assert page.evaluate("document.compatMode") == "CSS1Compat"  # not quirks mode
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= width
        body = page.inner_text("body")
        for s in (
            "行业动态周报",
            "中国网络视听协会",
            "第 396 期",
            "本期摘要",
            "编者按",
            "董昕就任国家广播电视总局副局长",
            "尊敬的张三：",
            "退订",
            "管理订阅偏好",
            "在浏览器中查看",
            "责编：余力 何紫薇 张轩豪 若斯",
        ):
            assert s in body, s
        font_px = page.evaluate(
            "parseFloat(getComputedStyle(document.querySelector('.sec p')).fontSize)"
        )
        assert font_px >= 15
        ARTIFACTS.mkdir(exist_ok=True)
        name = f"email-{width}.png" if scheme == "light" else f"email-{width}-{scheme}.png"
        page.screenshot(path=str(ARTIFACTS / name), full_page=True)
    finally:
        page.close()
