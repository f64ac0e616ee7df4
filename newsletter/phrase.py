"""Words said by code that knows no reader (delivery, services, workers), kept as data.

A `Phrase` is a message id (the zh-CN text, marked with `N_` so pybabel extracts it) and
its parameters; a parameter may itself be a phrase, or a tuple of phrases said one after
another ("1 天 2 小时"). The web layer says it in the reader's language
(`phrase.text(flask_babel.gettext)`); the CLI, the logs and the staff mails say it in
zh-CN (`phrase.text()`). No Flask here: delivery must not know of requests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Union

Param = Union[str, int, "Phrase", tuple["Phrase", ...]]


def N_(message: str) -> str:
    """Marks a message id for pybabel; translated later, where the reader is known. Also
    the "translation" into zh-CN, the source language (`Phrase.text` without a gettext)."""
    return message


def NC_(context: str, message: str) -> str:
    """N_ with a context (pgettext's): for a word that is translated differently elsewhere."""
    return message


@dataclass(frozen=True, eq=True)
class Phrase:
    msgid: str
    params: dict[str, Param] = field(default_factory=dict, hash=False)

    def text(self, gettext: Callable[[str], str] = N_) -> str:
        """The sentence in the language of `gettext` (zh-CN without one)."""
        if not self.msgid:
            return ""  # gettext("") is the catalogue's header, not an empty sentence
        values = {k: _say(v, gettext) for k, v in self.params.items()}
        return gettext(self.msgid) % values if values else gettext(self.msgid)

    def __str__(self) -> str:
        return self.text()

    def to_json(self) -> dict:
        """Data to store (a paused send's reason): {"id": msgid, "params": {...}}."""
        return {"id": self.msgid, "params": {k: _json(v) for k, v in self.params.items()}}

    @classmethod
    def from_json(cls, data: dict) -> Phrase:
        return cls(data["id"], {k: _unjson(v) for k, v in (data.get("params") or {}).items()})


class PhraseError(ValueError):
    """An error whose message is a phrase: `str(exc)` is its zh-CN text (CLI, API, logs),
    `exc.phrase` the words a page says in its reader's language. Given a plain string, the
    phrase is that string (someone's own words, or words not yet marked)."""

    def __init__(self, message: str | Phrase = "", *args: object) -> None:
        self.phrase = message if isinstance(message, Phrase) else Phrase(message)
        super().__init__(str(message), *args)


def _say(value: Param, gettext: Callable[[str], str]) -> str:
    if isinstance(value, Phrase):
        return value.text(gettext)
    if isinstance(value, tuple):
        return " ".join(p.text(gettext) for p in value)
    if isinstance(value, int):
        return f"{value:,}"
    return value


def _json(value: Param) -> object:
    if isinstance(value, Phrase):
        return value.to_json()
    if isinstance(value, tuple):
        return [p.to_json() for p in value]
    return value


def _unjson(value) -> Param:
    if isinstance(value, dict):
        return Phrase.from_json(value)
    if isinstance(value, list):
        return tuple(Phrase.from_json(v) for v in value)
    return value


def P(msgid: str | Phrase, **params: Param) -> Phrase:
    """Phrase(msgid, params), shorter at the call site: P(N_("共 %(n)s 封"), n=3).
    A phrase given as the message id is itself (callers that wrap a reason in P() whether
    it is a message id or already a phrase: the classifier's are phrases)."""
    if isinstance(msgid, Phrase):
        return Phrase(msgid.msgid, {**msgid.params, **params})
    return Phrase(msgid, params)
