"""Link rewriting, signed tokens and the VERP parser: pure functions, no I/O."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

import pytest

from newsletter.bulletin.parser import parse_issue
from newsletter.render import Edition, personalise, render_edition
from newsletter.tracking import signing
from newsletter.tracking.links import (
    TrackingSettings,
    click_base_url,
    open_pixel_url,
    rewrite_links,
    tracking_values,
)
from tests.tracking.conftest import verp_for
from tests.tracking.factory import ARTICLE_1_URL, ARTICLE_2_URL, linked_sample

CONFIG = {"SECRET_KEY": "k", "BASE_URL": "https://news.example.org/"}


@pytest.fixture(scope="module")
def rewritten(sample_text_module):
    doc = parse_issue(linked_sample(sample_text_module))
    links: list[dict] = []
    htmls = {}
    for edition in Edition:
        rendered = render_edition(doc, edition, archive_url="https://news.example.org/archive/396")
        htmls[edition], links = rewrite_links(rendered.html, links)
    return htmls, links


@pytest.fixture(scope="module")
def sample_text_module():
    from tests.conftest import SAMPLE

    return SAMPLE.read_bytes()


def test_external_links_become_numbered_click_links_with_their_article(rewritten):
    htmls, links = rewritten
    by_url = {(row["url"], row["article"]): row for row in links}
    assert [row["n"] for row in links] == [1, 2, 3]
    archive = by_url[("https://news.example.org/archive/396", None)]
    assert archive["label"] == "在浏览器中查看"
    first = by_url[(ARTICLE_1_URL, "a-1")]
    assert first["label"] == "全国宣传部长会议在京召开 蔡奇出席并讲话"
    second = by_url[(ARTICLE_2_URL, "a-4")]  # stored unescaped: &amp; -> &
    assert second["label"] == "国家网信办发布第三批深度合成服务算法备案信息"
    for html in htmls.values():
        hrefs = re.findall(r'href="([^"]*)"', html)
        external = [h for h in hrefs if h.startswith("http")]
        assert external == [], external  # every external link went through the table
        assert "{{click_base}}/1" in hrefs and "{{click_base}}/2" in hrefs
        assert "{{click_base}}/3" in hrefs
        assert "{{unsubscribe_url}}" in hrefs and "{{preferences_url}}" in hrefs
        assert "#toc" in hrefs and "#a-1" in hrefs  # in-page anchors untouched


def test_a_second_variant_reuses_the_numbers_of_the_first(rewritten):
    htmls, _ = rewritten
    regular = re.findall(r"\{\{click_base\}\}/(\d+)", htmls[Edition.REGULAR])
    priority = re.findall(r"\{\{click_base\}\}/(\d+)", htmls[Edition.PRIORITY])
    assert sorted(set(regular)) == sorted(set(priority)) == ["1", "2", "3"]


def test_rewrite_leaves_mailto_placeholders_anchors_and_odd_schemes():
    html = (
        '<a href="mailto:x@y.z">m</a><a href="#a-1">t</a><a href="{{unsubscribe_url}}">u</a>'
        "<a href=\"javascript:alert(1)\">j</a><a href='https://e.org/x?a=1&amp;b=2'>s</a>"
        '<a name="x">n</a><img src="https://e.org/i.png">'
    )
    out, links = rewrite_links(html)
    assert links == [{"n": 1, "url": "https://e.org/x?a=1&b=2", "article": None, "label": "s"}]
    assert "<a href='{{click_base}}/1'>s</a>" in out
    assert (
        out.replace("<a href='{{click_base}}/1'>", "<a href='https://e.org/x?a=1&amp;b=2'>") == html
    )


def test_personalised_links_point_at_the_signed_click_base(rewritten):
    htmls, _ = rewritten
    base = click_base_url(CONFIG, 12, 345)
    assert base.startswith("https://news.example.org/t/c/12.345.")
    from newsletter.render import RenderedEdition

    # what the renderer will do once `click_base` is a placeholder: fill it per recipient
    html = htmls[Edition.REGULAR].replace("{{click_base}}", base)
    html, _ = personalise(
        RenderedEdition.from_stored("s", html, "t {{unsubscribe_url}}"),
        {
            "unsubscribe_url": "https://u.example/1",
            "preferences_url": "https://p.example/1",
            "open_pixel_url": open_pixel_url(CONFIG, 12, 345),
        },
    )
    assert f'href="{base}/2"' in html
    assert re.search(r'<img src="https://news.example.org/t/o/12\.345\.[\w-]{16}\.gif"', html)


def test_tokens_round_trip_and_refuse_any_change():
    token = signing.delivery_token("k", 12, 345)
    assert signing.read_delivery_token("k", token) == (12, 345)
    send, delivery, sig = token.split(".")
    flipped = sig[:-1] + ("A" if sig[-1] != "A" else "B")
    for bad in (
        f"{send}.346.{sig}",
        f"13.{delivery}.{sig}",
        f"{send}.{delivery}.{flipped}",
        token + "x",
        "",
        "12.345",
        "0.0.AAAAAAAAAAAAAAAA",
        "../../etc",
        "١٢.٣٤٥." + sig,
        "12.345." + sig.upper(),
        "9" * 40 + ".1." + sig,
    ):
        assert signing.read_delivery_token("k", bad) is None, bad
    assert signing.read_delivery_token("other-key", token) is None
    anon = signing.send_token("k", 12)
    assert signing.read_send_token("k", anon) == 12
    assert signing.read_send_token("k", anon.replace("12.", "13.")) is None
    assert signing.read_delivery_token("k", anon) is None  # not interchangeable


def test_verp_parser_matches_the_pipeline_format():
    from newsletter.delivery.message import MessageTemplate
    from newsletter.delivery.pipeline import PipelineSettings, verp_address

    settings = PipelineSettings(
        secret_key="s3cret",
        base_url="https://x",
        mail_from="周报 <weekly@news.example.org>",
        list_id="l",
    )
    address = verp_address(settings, MessageTemplate(settings.mail_from, "s", "l"), 4711)
    assert address == verp_for("s3cret", 4711)
    assert signing.read_verp("s3cret", address) == 4711
    assert signing.read_verp("s3cret", f"<{address.upper()}>") == 4711
    assert signing.read_verp("s3cret", address.replace("b4711", "b4712")) is None
    assert signing.read_verp("other", address) is None
    for junk in ("", "weekly@news.example.org", "a+b-1@x", "+b1-zzzzzzzzzz@x", "\x00" * 50):
        assert signing.read_verp("s3cret", junk) is None


def test_global_switch_and_opt_out_change_the_urls():
    off = {**CONFIG, "TRACKING_ENABLED": False}
    assert open_pixel_url(off, 1, 2) == ""
    assert "/t/r/" in click_base_url(off, 1, 2)
    values = tracking_values(CONFIG, 1, 2, opted_out=True)
    assert values["open_pixel_url"] == ""
    assert values["click_base_url"].startswith("https://news.example.org/t/r/1.")
    assert "2" not in values["click_base_url"].split("/t/r/")[1].split(".")[0]
    on = tracking_values(CONFIG, 1, 2, opted_out=False)
    assert "/t/o/1.2." in on["open_pixel_url"] and "/t/c/1.2." in on["click_base_url"]
    assert TrackingSettings.from_config({**CONFIG, "TRACKING_ENABLED": "0"}).enabled is False


# --- the signatures are those of hmac.new, made with the key set up once ------------------

KEYS = ["k", "s3cret", "密钥-" + "x" * 40, "y" * 64, "z" * 65, "long" * 60]


def _old_sig(key: str, message: str) -> str:
    digest = hmac.new(key.encode(), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:16]


def test_signatures_equal_the_hmac_new_construction():
    for key in KEYS:
        for send_id in (1, 7, 396, 10**11):
            assert (
                signing.send_token(key, send_id)
                == f"{send_id}.{_old_sig(key, f'trk-anon:{send_id}')}"
            )
            for delivery_id in (*range(1, 400, 3), 65_536, 10**9, 999_999_999_999):
                expected = _old_sig(key, f"trk:{send_id}:{delivery_id}")
                token = signing.delivery_token(key, send_id, delivery_id)
                assert token == f"{send_id}.{delivery_id}.{expected}"
                assert signing.read_delivery_token(key, token) == (send_id, delivery_id)
        for delivery_id in (1, 2, 4711, 10**9, 999_999_999_999):
            old = hmac.new(key.encode(), str(delivery_id).encode(), hashlib.sha256).hexdigest()
            assert signing.verp_signature(key, delivery_id) == old[:10]
            assert signing.read_verp(key, verp_for(key, delivery_id)) == delivery_id


def test_tracking_values_are_the_two_urls_made_one_by_one():
    off = {**CONFIG, "TRACKING_ENABLED": False}
    for config in (CONFIG, off):
        for opted_out in (False, True):
            for send_id, delivery_id in ((1, 2), (396, 123_456)):
                assert tracking_values(config, send_id, delivery_id, opted_out=opted_out) == {
                    "open_pixel_url": ""
                    if opted_out
                    else open_pixel_url(config, send_id, delivery_id),
                    "click_base_url": click_base_url(
                        config, send_id, delivery_id, tracked=not opted_out
                    ),
                }
