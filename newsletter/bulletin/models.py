"""Database models of an issue: Issue, Section, Article, and conversion to/from IssueDoc."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import JSON, Date, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from newsletter.bulletin.document import ArticleDoc, IssueDoc, SectionDoc, check_size
from newsletter.orm import Model
from newsletter.timeutil import utcnow


class IssueStatus(StrEnum):
    DRAFT = "draft"
    SENDING = "sending"
    SENT = "sent"


class Issue(Model):
    __tablename__ = "issues"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    date: Mapped[dt.date] = mapped_column(Date)
    title: Mapped[str] = mapped_column(String(200))
    publisher: Mapped[str] = mapped_column(String(200))
    summary: Mapped[list] = mapped_column(JSON, default=list)
    credits: Mapped[dict] = mapped_column(JSON, default=dict)
    distribution: Mapped[dict] = mapped_column(JSON, default=dict)
    editor_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default=IssueStatus.DRAFT)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    sections: Mapped[list[Section]] = relationship(
        back_populates="issue", cascade="all, delete-orphan", order_by="Section.position"
    )

    def to_doc(self) -> IssueDoc:
        return IssueDoc(
            number=self.number,
            date=self.date,
            title=self.title,
            publisher=self.publisher,
            summary=list(self.summary or []),
            sections=[
                SectionDoc(s.name, [ArticleDoc(a.title, list(a.paragraphs)) for a in s.articles])
                for s in self.sections
            ],
            credits=dict(self.credits or {}),
            distribution=dict(self.distribution or {}),
            editor_note=self.editor_note,
        )

    def fill_from_doc(self, doc: IssueDoc) -> None:
        """Replace this issue's content with the document's (sections and articles anew).
        Every way of storing an issue passes here: IssueTooLarge over a size limit."""
        check_size(doc)
        self.number = doc.number
        self.date = doc.date
        self.title = doc.title
        self.publisher = doc.publisher
        self.summary = list(doc.summary)
        self.credits = dict(doc.credits)
        self.distribution = {k: list(v) for k, v in doc.distribution.items()}
        if doc.editor_note is not None:
            self.editor_note = doc.editor_note
        self.sections.clear()
        for s_pos, section in enumerate(doc.sections):
            row = Section(name=section.name, position=s_pos)
            row.articles = [
                Article(title=a.title, paragraphs=list(a.paragraphs), position=a_pos)
                for a_pos, a in enumerate(section.articles)
            ]
            self.sections.append(row)


class Section(Model):
    __tablename__ = "sections"

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(64))

    issue: Mapped[Issue] = relationship(back_populates="sections")
    articles: Mapped[list[Article]] = relationship(
        back_populates="section", cascade="all, delete-orphan", order_by="Article.position"
    )


class Article(Model):
    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(primary_key=True)
    section_id: Mapped[int] = mapped_column(
        ForeignKey("sections.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(500))
    paragraphs: Mapped[list] = mapped_column(JSON, default=list)

    section: Mapped[Section] = relationship(back_populates="articles")
