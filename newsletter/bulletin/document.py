"""The bulletin as plain data: what the parser produces and the renderer consumes.

These dataclasses know nothing about the database or Flask, so parsing and rendering
can be tested on their own. `newsletter.bulletin.models` converts to and from them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass
class ArticleDoc:
    title: str
    paragraphs: list[str]

    def to_json(self) -> dict:
        return {"title": self.title, "paragraphs": list(self.paragraphs)}


@dataclass
class SectionDoc:
    name: str
    articles: list[ArticleDoc]

    def to_json(self) -> dict:
        return {"name": self.name, "articles": [a.to_json() for a in self.articles]}


@dataclass
class IssueDoc:
    """One weekly issue as the editors wrote it.

    `credits` keys are the labels of the bulletin's foot (编辑部, 责编, 复核, 注);
    `distribution` keys are 报 and 发, each a list of recipient descriptions.
    `editor_note` (编者按) appears only in the priority edition.
    """

    number: int
    date: dt.date
    title: str
    publisher: str
    summary: list[str]
    sections: list[SectionDoc]
    credits: dict = field(default_factory=dict)
    distribution: dict = field(default_factory=dict)
    editor_note: str | None = None

    @property
    def articles(self) -> list[ArticleDoc]:
        return [a for s in self.sections for a in s.articles]

    def to_json(self) -> dict:
        return {
            "number": self.number,
            "date": self.date.isoformat(),
            "title": self.title,
            "publisher": self.publisher,
            "summary": list(self.summary),
            "sections": [s.to_json() for s in self.sections],
            "credits": dict(self.credits),
            "distribution": {k: list(v) for k, v in self.distribution.items()},
        }

    @classmethod
    def from_json(cls, data: dict) -> "IssueDoc":
        return cls(
            number=int(data["number"]),
            date=dt.date.fromisoformat(data["date"]),
            title=data["title"],
            publisher=data["publisher"],
            summary=list(data.get("summary", [])),
            sections=[
                SectionDoc(s["name"], [ArticleDoc(a["title"], list(a["paragraphs"]))
                                       for a in s["articles"]])
                for s in data["sections"]
            ],
            credits=dict(data.get("credits", {})),
            distribution={k: list(v) for k, v in data.get("distribution", {}).items()},
            editor_note=data.get("editor_note"),
        )
