"""zh_CN is the msgid language; English comes from newsletter/translations. The compiled
catalogue is committed, so it must match its .po, and every string of the subscriber
pages must have an English translation with the same placeholders."""

from __future__ import annotations

import gettext
import re

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from sqlalchemy import select

from newsletter.extensions import db
from subscribers.models import Subscriber
from tests.conftest import ROOT
from tests.subscribers.conftest import form_token, mail_text, parse_mail

CATALOGUE = ROOT / "newsletter" / "translations" / "en" / "LC_MESSAGES"
KEYWORDS = {
    "_": None,
    "gettext": None,
    "_l": None,
    "lazy_gettext": None,
    "N_": None,
    "ngettext": (1, 2),
}
PLACEHOLDER = re.compile(r"%\(\w+\)s")


def english_po():
    with open(CATALOGUE / "messages.po", "rb") as f:
        return read_po(f, locale="en")


def subscriber_msgids() -> set[str]:
    """Every msgid in the subscriber code and templates, extracted as pybabel does."""
    ids: set[str] = set()
    for folder, method in (
        (ROOT / "subscribers", [("**.py", "python")]),
        (
            ROOT / "newsletter" / "templates" / "subscribers",
            [("**.html", "jinja2"), ("**.txt", "jinja2")],
        ),
    ):
        for _file, _line, message, _comments, _ctx in extract_from_dir(
            str(folder), method, keywords=KEYWORDS
        ):
            ids.add(message if isinstance(message, str) else message[0])
    return ids


def test_the_compiled_catalogue_matches_the_po():
    with open(CATALOGUE / "messages.mo", "rb") as f:
        compiled = gettext.GNUTranslations(f)._catalog
    # GNU catalogues key a message with a context (pgettext) as "context\x04msgid", and
    # each form of a plural message (ngettext) as (singular msgid, form index).
    po: dict = {}
    for m in english_po():
        if not (m.id and m.string):
            continue
        if m.pluralizable:
            po.update({(m.id[0], i): form for i, form in enumerate(m.string)})
        else:
            po[f"{m.context}\x04{m.id}" if m.context else m.id] = m.string
    assert {k: v for k, v in compiled.items() if k} == po, (
        "messages.mo is stale: run `pybabel compile -d newsletter/translations -l en`"
    )


def check_english(ids: set[str], at_least: int) -> None:
    """Every msgid has an English translation with the same placeholders."""
    po = english_po()
    assert len(ids) > at_least

    def forms(msgid: str) -> tuple[str, ...]:  # a plural message has one string per form
        string = po[msgid].string if msgid in po else ""
        return string if isinstance(string, tuple) else (string,)

    missing = sorted(i for i in ids if not all(forms(i)))
    assert not missing, (
        f"untranslated (run the steps in newsletter/translations/README.md): {missing}"
    )
    for msgid in ids:
        for form in forms(msgid):
            assert sorted(PLACEHOLDER.findall(msgid)) == sorted(PLACEHOLDER.findall(form)), msgid


def test_every_subscriber_page_string_has_english_with_the_same_placeholders():
    check_english(subscriber_msgids(), 150)


def test_pages_and_mail_follow_the_readers_language(client, smtp, run_jobs):
    page = client.get("/subscribe?lang=en").get_data(as_text=True)
    assert "Subscribe to the Industry Weekly" in page and "Sections you want" in page
    # The choice is remembered in a cookie, and the confirmation mail is in English too.
    response = client.post(
        "/subscribe",
        data={
            "csrf_token": form_token(page),
            "email": "en@example.org",
            "groups": ["media"],
            "sections": ["要闻"],
        },
    )
    assert response.status_code == 302
    assert "Check your inbox" in client.get("/subscribe/sent").get_data(as_text=True)
    assert db.session.scalar(select(Subscriber.locale)) == "en"
    run_jobs()
    message = parse_mail(smtp.received[0].data)
    assert message["Subject"] == "Please confirm your subscription to the Industry Weekly"
    assert "You will receive nothing until you confirm" in mail_text(smtp.received[0].data)
    # Chinese stays the default for everyone else.
    assert "订阅《行业动态周报》" in client.get("/subscribe?lang=zh_CN").get_data(as_text=True)
