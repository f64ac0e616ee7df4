"""newsletter/phrase.py: a phrase said without a reader is its zh-CN message id; N_ is
both the mark for pybabel and that identity (one function, not two)."""

from __future__ import annotations

import inspect

from newsletter import phrase
from newsletter.phrase import N_, P, Phrase


def test_without_a_gettext_a_phrase_is_its_zh_cn_text():
    words = P(N_("共 %(n)s 封"), n=3000)
    assert words.text() == str(words) == "共 3,000 封"
    assert Phrase.from_json(words.to_json()) == words


def test_the_default_gettext_is_n_itself():
    assert inspect.signature(Phrase.text).parameters["gettext"].default is N_
    assert not hasattr(phrase, "_identity")
