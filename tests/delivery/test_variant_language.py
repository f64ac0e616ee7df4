"""The pipeline renders one variant per frame language (issue 13): readers who chose
English get the English frame; the zh_CN key is unchanged."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from newsletter.bulletin.service import import_issue
from newsletter.delivery.models import Delivery, SendVariant
from newsletter.extensions import db
from newsletter.sends import service, writer
from tests.conftest import approve_for_tests
from tests.subscribers.conftest import make_subscriber  # noqa: F401


def test_english_readers_get_an_english_variant(app, sample_text, make_subscriber):
    import_issue(db.session, sample_text)
    approve_for_tests(396)
    zh = make_subscriber("zh@example.org", groups=("media",))
    en = make_subscriber("en@example.org", groups=("media",))
    en.locale = "en"
    db.session.commit()
    send = service.send_issue(db.session, current_app.config, 396, ["media"]).send
    variants = {
        v.key: v
        for v in db.session.scalars(select(SendVariant).where(SendVariant.send_id == send.id))
    }
    assert set(variants) == {"regular|html|*", "regular|html|*|en"}
    assert "In this issue" in variants["regular|html|*|en"].html
    assert "本期摘要" in variants["regular|html|*"].html
    keys = dict(
        db.session.execute(
            select(Delivery.email, Delivery.variant).where(Delivery.send_id == send.id)
        ).all()
    )
    assert keys == {zh.email: "regular|html|*", en.email: "regular|html|*|en"}
    assert writer.variant_key("regular", "text", ["要闻"], "en") == "regular|text|要闻|en"
    assert writer.variant_key("regular", "text", None) == "regular|text|*"
